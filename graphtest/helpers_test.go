package graphtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/require"
)

// newTestServer starts a server that the test closes.
func newTestServer(t *testing.T, opts *Options) *Server {
	t.Helper()
	s := NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

// token gets a valid bearer token from the server's credential.
func token(t *testing.T, s *Server) string {
	t.Helper()
	tok, err := s.Credential().GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	require.NoError(t, err)
	return tok.Token
}

// reply is a response with its body read.
type reply struct {
	*http.Response
	body []byte
}

// json decodes the body into a generic map.
func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// errorCode is error.code of a Graph error body.
func (r reply) errorCode(t *testing.T) string {
	t.Helper()
	m := r.json(t)
	e, ok := m["error"].(map[string]any)
	require.True(t, ok, "no error object in %s", r.body)
	return e["code"].(string)
}

// do sends a raw request; hdr alternates names and values.
func do(t *testing.T, method, url string, body []byte, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return reply{res, b}
}

// graph sends an authenticated request to a path under URL().
func graph(t *testing.T, s *Server, method, path string, body []byte, hdr ...string) reply {
	t.Helper()
	hdr = append([]string{"Authorization", "Bearer " + token(t, s)}, hdr...)
	if body != nil && method != http.MethodGet {
		hdr = append([]string{"Content-Type", "application/json"}, hdr...)
	}
	return do(t, method, s.URL()+path, body, hdr...)
}
