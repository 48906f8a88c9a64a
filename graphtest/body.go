package graphtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// maxJSONBody caps how much of a JSON request body is read: well above what
// a 3 MiB attachment takes in base64, so the 413 comes from the size check.
const maxJSONBody = 16 << 20

// badBody is a request body Graph cannot accept; code is the error code.
type badBody struct {
	status int
	code   string
	msg    string
}

func (e *badBody) Error() string { return e.msg }

func bodyErr(code, format string, a ...any) *badBody {
	return &badBody{http.StatusBadRequest, code, fmt.Sprintf(format, a...)}
}

// readJSONObject checks the Content-Type, reads the body and parses it as a
// single JSON object (nothing may follow it).
func readJSONObject(r *http.Request) (jsonObject, *badBody) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, bodyErr("BadRequest", "Content-Type must be application/json, got '%s'.", r.Header.Get("Content-Type"))
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return nil, bodyErr("RequestBodyRead", "Failed to read the request body: %v", err)
	}
	if len(data) > maxJSONBody {
		return nil, &badBody{http.StatusRequestEntityTooLarge, "ErrorRequestEntityTooLarge", "The request body is too large."}
	}
	return parseJSONObject(data)
}

// jsonObject is a parsed object whose values are still raw, so each can be
// type-checked on its own and unknown properties can be named.
type jsonObject map[string]json.RawMessage

func parseJSONObject(data []byte) (jsonObject, *badBody) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var o jsonObject
	if err := dec.Decode(&o); err != nil {
		return nil, bodyErr("RequestBodyRead", "Invalid JSON in the request body: %v", err)
	}
	if o == nil {
		return nil, bodyErr("RequestBodyRead", "The request body must be a JSON object.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, bodyErr("RequestBodyRead", "Invalid JSON in the request body: unexpected data after the object.")
	}
	return o, nil
}

// onlyKnown rejects properties outside allowed, as Graph does: OData
// property names are case-sensitive and unknown ones are errors.
func (o jsonObject) onlyKnown(typeName string, allowed ...string) *badBody {
	var unknown []string
	for k := range o {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return bodyErr("RequestBodyRead",
		"The property '%s' does not exist on type '%s'. Make sure to only use property names that are defined by the type or mark the type as open type.",
		unknown[0], typeName)
}

func isNull(raw json.RawMessage) bool { return raw == nil || string(raw) == "null" }

// str reads an optional string; null counts as absent.
func (o jsonObject) str(key string) (string, bool, *badBody) {
	raw := o[key]
	if isNull(raw) {
		return "", false, nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false, bodyErr("RequestBodyRead", "Cannot convert the literal '%s' to the expected type 'Edm.String' (property '%s').", raw, key)
	}
	return v, true, nil
}

// boolean reads an optional boolean; null counts as false.
func (o jsonObject) boolean(key string) (bool, *badBody) {
	raw := o[key]
	if isNull(raw) {
		return false, nil
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, bodyErr("RequestBodyRead", "Cannot convert the literal '%s' to the expected type 'Edm.Boolean' (property '%s').", raw, key)
	}
	return v, nil
}

// integer reads an optional Edm.Int64 (a JSON number without fraction).
func (o jsonObject) integer(key string) (int64, bool, *badBody) {
	raw := o[key]
	if isNull(raw) {
		return 0, false, nil
	}
	var v int64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false, bodyErr("RequestBodyRead", "Cannot convert the literal '%s' to the expected type 'Edm.Int64' (property '%s').", raw, key)
	}
	return v, true, nil
}

// object reads an optional nested object.
func (o jsonObject) object(key string) (jsonObject, json.RawMessage, *badBody) {
	raw := o[key]
	if isNull(raw) {
		return nil, nil, nil
	}
	var v jsonObject
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, nil, bodyErr("RequestBodyRead", "The property '%s' must be a JSON object.", key)
	}
	return v, raw, nil
}

// odataType reads @odata.type without its optional leading '#'.
func (o jsonObject) odataType() (string, *badBody) {
	t, _, err := o.str("@odata.type")
	return strings.TrimPrefix(t, "#"), err
}
