package eventattach

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/require"
)

// countingCred is a credential that counts GetToken calls.
type countingCred struct {
	calls  atomic.Int32
	token  string
	ttl    time.Duration
	err    error
	mu     sync.Mutex
	claims []string
}

func (c *countingCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	n := c.calls.Add(1)
	c.mu.Lock()
	c.claims = append(c.claims, o.Claims)
	c.mu.Unlock()
	if c.err != nil {
		return azcore.AccessToken{}, c.err
	}
	tok := c.token
	if tok == "" {
		tok = "tok-" + string(rune('a'+n-1))
	}
	ttl := c.ttl
	if ttl == 0 {
		ttl = time.Hour
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: time.Now().Add(ttl)}, nil
}

// received is one request as a scripted server saw it.
type received struct {
	Method, EscapedPath, RawQuery string
	Header                        http.Header
	Body                          []byte
}

// scripted is an httptest server answering each request with the next
// handler of its script (the last one repeats), recording what it received.
type scripted struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newScripted(t *testing.T, script ...http.HandlerFunc) *scripted {
	t.Helper()
	s := &scripted{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		i := len(s.reqs)
		s.reqs = append(s.reqs, received{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), body})
		s.mu.Unlock()
		script[min(i, len(script)-1)](w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scripted) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.reqs...)
}

// newTestClient returns a client for base with fast retries.
func newTestClient(t *testing.T, base string, cred azcore.TokenCredential, mod ...func(*ClientOptions)) *Client {
	t.Helper()
	if cred == nil {
		cred = &countingCred{}
	}
	o := &ClientOptions{BaseURL: base, Retry: RetryOptions{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Second}}
	for _, m := range mod {
		m(o)
	}
	c, err := NewClient(cred, o)
	require.NoError(t, err)
	return c
}

// reply writes status and a JSON body.
func reply(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		if body != "" && w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func graphErr(code, msg string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]any{"request-id": "rid-" + code, "client-request-id": "x", "date": "2026-11-23T00:00:00Z"}}})
	return string(b)
}

const created201 = `{"@odata.type":"#microsoft.graph.fileAttachment","id":"AAMkA1=","name":"menu.txt","contentType":"text/plain","size":20,"isInline":false,"contentBytes":"bWFjIGFuZCBjaGVlc2UgdG9kYXk="}`

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

func readFile(name string) ([]byte, error) { return os.ReadFile(name) }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// roundTripFunc is an http.RoundTripper of one function, for tests that act
// between a client's requests.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
