// Package jsonshape tells JSON values apart by kind and, for strings, by
// format. The tests that compare graphtest's answers with Graph's by shape
// rather than by value (graphtest's transcript test, the conformance
// report) share it, so both name the same formats alike.
package jsonshape

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Decode decodes the JSON in b into v with numbers as json.Number, the
// form Kind expects.
func Decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

var (
	offsetRE    = regexp.MustCompile(`^\d+$`)
	openRangeRE = regexp.MustCompile(`^\d+-$`)
	rangeRE     = regexp.MustCompile(`^\d+-\d+$`)
)

// Kind is the kind of a JSON value as Decode gives it ("null", "a number",
// "an object", ...), strings told apart by format: an offset "N", a range
// "N-" or "N-M" (an upload session's nextExpectedRanges), a URL, an RFC 3339
// date-time, or another string.
func Kind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		switch {
		case offsetRE.MatchString(v):
			return `an offset "N"`
		case openRangeRE.MatchString(v):
			return `a range "N-"`
		case rangeRE.MatchString(v):
			return `a range "N-M"`
		case strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://"):
			return "a URL"
		}
		if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return "an RFC 3339 date-time"
		}
		return "a string"
	}
	return fmt.Sprintf("%T", v)
}
