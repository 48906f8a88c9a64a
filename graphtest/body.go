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

// maxJSONBody is the most Options.MaxRequestLength can be (a negative
// value selects it): a cap on what the server reads.
const maxJSONBody = 16 << 20

// badBody is a request body Graph cannot accept; code is the error code.
// empty answers the status with no body at all.
type badBody struct {
	status int
	code   string
	msg    string
	empty  bool
}

func (e *badBody) Error() string { return e.msg }

func bodyErr(code, format string, a ...any) *badBody {
	return &badBody{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, a...)}
}

// failBody answers a badBody.
func (c *call) failBody(b *badBody) {
	if b.empty {
		c.wait()
		c.w.Header().Set("Content-Length", "0")
		c.w.WriteHeader(b.status)
		return
	}
	c.fail(b.status, b.code, b.msg)
}

// tooLarge is the answer to a body over Options.MaxRequestLength, per
// Options.RequestTooLarge: the limit is on the whole request (about 4 MiB
// of JSON).
// Source: GRAPH-FACTS.md, Adding attachments (add-3, add-4, add-5).
func (s *Server) tooLarge() *badBody { return s.tooLargeAs(s.opts.RequestTooLarge) }

// tooLargeAs is the answer to a too-large body in the given style.
func (s *Server) tooLargeAs(style TooLargeStyle) *badBody {
	switch style {
	case TooLargeEntityTooLarge:
		return &badBody{status: http.StatusRequestEntityTooLarge, code: "ErrorRequestEntityTooLarge", msg: "The request body is too large."} // msgraph-sdk-php#1047
	case TooLargeEmpty500:
		return &badBody{status: http.StatusInternalServerError, empty: true} // msgraph-sdk-javascript#260
	}
	return bodyErr("BadRequest", "Maximum request length exceeded.") // microsoft-graph-docs#85
}

// readJSONObject checks the body's size and Content-Type, reads it and
// parses it as a single JSON object (nothing may follow it).
func (s *Server) readJSONObject(r *http.Request) (jsonObject, *badBody) {
	limit := s.opts.MaxRequestLength
	if r.ContentLength > limit {
		return nil, s.tooLarge()
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, bodyErr("BadRequest", "Content-Type must be application/json, got '%s'.", r.Header.Get("Content-Type"))
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, bodyErr("UnableToDeserializePostBody", "were unable to deserialize ")
	}
	if int64(len(data)) > limit {
		return nil, s.tooLarge()
	}
	return parseJSONObject(data)
}

// jsonObject is a parsed object whose values are still raw, so each can be
// type-checked on its own and unknown properties can be named.
type jsonObject map[string]json.RawMessage

func parseJSONObject(data []byte) (jsonObject, *badBody) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var o jsonObject
	// Source: GRAPH-FACTS.md, Adding attachments (add-8; msgraph-sdk-python#667):
	// 400 UnableToDeserializePostBody; the message is Outlook's, verbatim
	// (GNOME/evolution-ews src/Microsoft365/camel/camel-m365-folder.c).
	if err := dec.Decode(&o); err != nil || o == nil {
		return nil, bodyErr("UnableToDeserializePostBody", "were unable to deserialize ")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, bodyErr("UnableToDeserializePostBody", "were unable to deserialize ")
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
