package eventattach

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGraphErrorsByStatus(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		body     string
		headers  []string
		sentinel error
		code     string
		inLine   []string
	}{
		{"400", 400, graphErr("ErrorInvalidRequest", "The request is invalid."), nil, nil, "ErrorInvalidRequest", []string{"400", "ErrorInvalidRequest", "rid-ErrorInvalidRequest"}},
		{"401", 401, graphErr("InvalidAuthenticationToken", "Access token has expired."), nil, ErrUnauthorized, "InvalidAuthenticationToken", []string{"401"}},
		{"403", 403, graphErr("ErrorAccessDenied", "Access is denied."), nil, ErrForbidden, "ErrorAccessDenied", []string{"403", "Access is denied."}},
		{"404", 404, graphErr("ErrorItemNotFound", "The specified object was not found in the store."), nil, ErrNotFound, "ErrorItemNotFound", []string{"404", "ErrorItemNotFound"}},
		{"413", 413, graphErr("ErrorRequestEntityTooLarge", "too large"), nil, ErrTooLarge, "ErrorRequestEntityTooLarge", []string{"413"}},
		{"500 json", 500, graphErr("generalException", "boom"), nil, nil, "generalException", []string{"500", "generalException"}},
		{"500 html", 500, "<html><body>\n<h1>Internal error</h1>\n</body></html>", []string{"Content-Type", "text/html", "request-id", "hdr-rid"}, nil, "", []string{"500", "Internal error", "hdr-rid"}},
		{"500 empty", 500, "", []string{"request-id", "hdr-rid"}, nil, "", []string{"500", "(empty body)", "hdr-rid"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScripted(t, reply(tc.status, tc.body, tc.headers...))
			// POSTs are not re-sent on 500, so one attempt per case.
			c := newTestClient(t, srv.URL+"/v1.0", nil, func(o *ClientOptions) { o.Retry.MaxRetries = -1 })
			_, err := c.Me().Events("e").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a", ContentBytes: []byte("x")})
			require.Error(t, err)
			var ge *GraphError
			require.True(t, errors.As(err, &ge), "%T %v", err, err)
			assert.Equal(t, tc.status, ge.StatusCode)
			assert.Equal(t, tc.code, ge.Code)
			if tc.sentinel != nil {
				assert.ErrorIs(t, err, tc.sentinel)
			}
			for _, s := range []error{ErrNotFound, ErrUnauthorized, ErrForbidden, ErrTooLarge, ErrThrottled} {
				if s != tc.sentinel {
					assert.NotErrorIs(t, err, s)
				}
			}
			msg := err.Error()
			assert.NotContains(t, msg, "\n", "one line")
			for _, want := range tc.inLine {
				assert.Contains(t, msg, want)
			}
			sent := srv.requests()[0].Header.Get("client-request-id")
			assert.Equal(t, sent, ge.ClientRequestID)
			assert.Contains(t, msg, sent)
			assert.Equal(t, tc.body, string(ge.Body))
		})
	}
}

func TestThrottledExhausted(t *testing.T) {
	srv := newScripted(t, reply(429, graphErr("ApplicationThrottled", "Application is over its MailboxConcurrency limit."), "Retry-After", "0"))
	c := newTestClient(t, srv.URL+"/v1.0", nil, func(o *ClientOptions) { o.Retry.MaxRetries = 2 })
	_, err := c.Me().Events("e").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a", ContentBytes: []byte("x")})
	require.ErrorIs(t, err, ErrThrottled)
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "ApplicationThrottled", ge.Code)
	assert.Contains(t, string(ge.Body), "MailboxConcurrency", "the last error body is kept")
	assert.Contains(t, err.Error(), "after 3 attempts")
	assert.Len(t, srv.requests(), 3)
}

func TestErrorBodyCapped(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	srv := newScripted(t, reply(400, big, "Content-Type", "text/plain"))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	err := c.Me().Events("e").Attachments().Delete(context.Background(), "a")
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.Len(t, ge.Body, maxErrorBody)
	assert.Less(t, len(err.Error()), 600)
}

func TestParseGraphErrorNeverFails(t *testing.T) {
	for _, body := range []string{"", "null", "{", `{"error":null}`, `{"error":{"code":5}}`, "\x00\xff", `[]`} {
		ge := parseGraphError(502, http.Header{"Retry-After": {"7"}}, []byte(body), "cid")
		assert.Equal(t, 502, ge.StatusCode)
		assert.Equal(t, 7*time.Second, ge.RetryAfter)
		assert.NotContains(t, ge.Error(), "\n")
	}
}
