package graphtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// graphJSON is the Content-Type Graph sends with its JSON success bodies.
const graphJSON = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"

// kv is one property of an obj.
type kv struct {
	k string
	v any
}

// obj is a JSON object that keeps its property order, so answers read like
// Graph's (whose examples list @odata.* first).
type obj []kv

// MarshalJSON writes the properties in order.
func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(p.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeJSON answers a Graph success body.
func (c *call) writeJSON(status int, v any) {
	writeJSONTo(c.w, status, graphJSON, v)
}

func writeJSONTo(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own values get here; a failure is a bug in graphtest.
		panic("graphtest: marshal: " + err.Error())
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
