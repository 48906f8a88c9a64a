package eventattach

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every kind of request ends in bounded time, whatever the server does, even
// with a ctx that has no deadline (bounds.go). A scripted Graph answers every
// request normally but one kind, which it answers badly: never, with an
// endless body, or one byte at a time.

const (
	stallLimit   = time.Second           // StallTimeout
	attemptLimit = 2 * time.Second       // AttemptTimeout and ChunkTimeout
	trickleEvery = 50 * time.Millisecond // well under stallLimit: only the attempt limit ends it
)

type stallServer struct {
	*httptest.Server
	kind, mode string
	mu         sync.Mutex
	held       int64 // the upload's bytes
	resetOnce  bool  // the first PUT's answer is lost (to reach the status GET)
}

// kindOf names a request the way the table does.
func (s *stallServer) kindOf(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/upload/"):
		return r.Method + " session"
	case strings.HasSuffix(p, "/createUploadSession"):
		return "POST createUploadSession"
	case strings.HasSuffix(p, "/$value"):
		return "GET $value"
	case strings.HasSuffix(p, "/attachments"):
		return r.Method + " attachments"
	case strings.Contains(p, "/attachments/"):
		return r.Method + " attachment"
	}
	return r.Method + " event"
}

func (s *stallServer) misbehave(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if s.mode == "never answers" {
		<-r.Context().Done()
		return
	}
	// The success status of the request, then a body that never ends: JSON
	// whitespace, which a decoder keeps reading.
	status := http.StatusOK
	if r.Method == http.MethodPost {
		status = http.StatusCreated
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fl := w.(http.Flusher)
	chunk := []byte(strings.Repeat(" ", 32<<10))
	if s.mode == "one byte at a time" {
		chunk = chunk[:1]
	}
	for r.Context().Err() == nil {
		if _, err := w.Write(chunk); err != nil {
			return
		}
		fl.Flush()
		if s.mode == "one byte at a time" {
			select {
			case <-time.After(trickleEvery):
			case <-r.Context().Done():
			}
		}
	}
}

func (s *stallServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := s.kindOf(r)
	if kind == s.kind {
		s.misbehave(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	json200 := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	file := map[string]any{"@odata.type": "#microsoft.graph.fileAttachment", "id": "a1", "name": "a.txt", "contentBytes": "eA=="}
	switch kind {
	case "POST attachments":
		json200(201, file)
	case "GET attachments":
		json200(200, map[string]any{"value": []any{}})
	case "GET attachment":
		json200(200, file)
	case "GET $value":
		_, _ = w.Write([]byte("x"))
	case "DELETE attachment", "DELETE session":
		w.WriteHeader(204)
	case "GET event":
		json200(200, map[string]any{"subject": "s", "isOrganizer": true})
	case "PATCH event":
		json200(200, map[string]any{"subject": "s", "isOrganizer": true})
	case "POST createUploadSession":
		json200(201, map[string]any{"uploadUrl": s.URL + "/upload/s1?authtoken=secret-token", "expirationDateTime": "2099-01-01T00:00:00Z", "nextExpectedRanges": []string{"0-"}})
	case "PUT session":
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.kind == "DELETE session" {
			json200(400, map[string]any{"error": map[string]any{"code": "InvalidRequest", "message": "no"}})
			return
		}
		var first, last, total int64
		_, _ = fmt.Sscanf(r.Header.Get("Content-Range"), "bytes %d-%d/%d", &first, &last, &total)
		if first == s.held {
			s.held = last + 1
		}
		if s.kind == "GET session" && !s.resetOnce {
			s.resetOnce = true
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
			return
		}
		if s.held == total {
			w.Header().Set("Location", s.URL+"/upload/Attachments('a1')")
			w.WriteHeader(201)
			return
		}
		json200(200, map[string]any{"nextExpectedRanges": []string{strconv.FormatInt(s.held, 10)}})
	case "GET session":
		s.mu.Lock()
		defer s.mu.Unlock()
		json200(200, map[string]any{"nextExpectedRanges": []string{strconv.FormatInt(s.held, 10)}})
	default:
		http.Error(w, "unexpected "+kind+" "+string(body), 500)
	}
}

// stallCred is a credential that answers at once, or, stalled, never.
type stallCred struct{ stalled bool }

func (c stallCred) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if c.stalled {
		<-ctx.Done()
		return azcore.AccessToken{}, ctx.Err()
	}
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestStallEveryRequestKindEndsInItsBound(t *testing.T) {
	const uploadSize = MaxAddFileSize + 1
	calls := []struct {
		kind string // the request that misbehaves
		call func(context.Context, *Client) error
	}{
		{"POST attachments", func(ctx context.Context, c *Client) error {
			_, err := c.Me().Events("e1").Attachments().AddFile(ctx, &FileAttachment{Name: "a.txt", ContentBytes: []byte("x")})
			return err
		}},
		{"GET attachments", func(ctx context.Context, c *Client) error {
			_, err := c.Me().Events("e1").Attachments().List(ctx)
			return err
		}},
		{"GET attachment", func(ctx context.Context, c *Client) error {
			_, err := c.Me().Events("e1").Attachments().Get(ctx, "a1")
			return err
		}},
		{"GET $value", func(ctx context.Context, c *Client) error {
			body, err := c.Me().Events("e1").Attachments().Content(ctx, "a1")
			if err != nil {
				return err
			}
			defer body.Close()
			// A body that goes on is the caller's to stop reading.
			if _, err = io.ReadFull(body, make([]byte, 16)); err == nil {
				err = errReadSome
			}
			return err
		}},
		{"DELETE attachment", func(ctx context.Context, c *Client) error {
			return c.Me().Events("e1").Attachments().Delete(ctx, "a1")
		}},
		{"GET event", func(ctx context.Context, c *Client) error { return c.Me().Events("e1").SendUpdate(ctx) }},
		{"PATCH event", func(ctx context.Context, c *Client) error {
			return c.Me().Events("e1").SendUpdate(ctx, &SendUpdateOptions{Body: json.RawMessage(`{"subject":"s"}`)})
		}},
		{"POST createUploadSession", func(ctx context.Context, c *Client) error { return stallUpload(ctx, c, uploadSize) }},
		{"PUT session", func(ctx context.Context, c *Client) error { return stallUpload(ctx, c, uploadSize) }},
		{"GET session", func(ctx context.Context, c *Client) error { return stallUpload(ctx, c, uploadSize) }},
		{"DELETE session", func(ctx context.Context, c *Client) error { return stallUpload(ctx, c, uploadSize) }},
	}
	for _, mode := range []string{"never answers", "endless body", "one byte at a time"} {
		for _, tc := range calls {
			t.Run(mode+"/"+tc.kind, func(t *testing.T) {
				t.Parallel()
				s := &stallServer{kind: tc.kind, mode: mode}
				s.Server = httptest.NewServer(s)
				t.Cleanup(s.Close)
				c := newTestClient(t, s.URL+"/v1.0", stallCred{}, func(o *ClientOptions) {
					o.Retry.MaxRetries = -1
					o.AttemptTimeout, o.StallTimeout = attemptLimit, stallLimit
				})
				err := tc.call(context.Background(), c) // no deadline of the caller's
				if err == nil && tc.kind == "PATCH event" && mode != "never answers" {
					return // Graph answered 200: the update is done, whatever its body
				}
				require.Error(t, err)
				assert.NotErrorIs(t, err, context.DeadlineExceeded, "an internal limit never poses as the caller's deadline")
				assert.NotContains(t, err.Error(), "secret-token")
				method := strings.Fields(tc.kind)[0]
				var be *BoundError
				switch {
				case tc.kind == "GET $value" && mode != "never answers":
					// The call returned; the body is the caller's to stop.
					assert.ErrorIs(t, err, errReadSome)
				case tc.kind == "DELETE session":
					// The upload's own failure, with the DELETE's bound.
					assert.Contains(t, err.Error(), "deleting the upload session failed: ")
					assert.Regexp(t, `DELETE \S+ (stalled|timed out)`, err.Error())
				case mode == "endless body":
					// It ends at the answer's cap, the error body's cap, or the
					// attempt's limit: never with the caller's ctx.
					assert.NotErrorIs(t, err, context.Canceled)
				default:
					require.ErrorAs(t, err, &be, "%v", err)
					assert.Equal(t, method, be.Method)
					assert.Equal(t, mode == "never answers", be.Stalled, "%v", err)
					assert.Contains(t, err.Error(), method)
				}
				t.Logf("%v", err)
			})
		}
	}
	t.Run("the credential never answers", func(t *testing.T) {
		t.Parallel()
		c := newTestClient(t, "https://graph.microsoft.com/v1.0", stallCred{stalled: true}, func(o *ClientOptions) {
			o.AttemptTimeout = attemptLimit
		})
		_, err := c.Me().Events("e1").Attachments().List(context.Background())
		var be *BoundError
		require.ErrorAs(t, err, &be)
		assert.Contains(t, err.Error(), "GetToken timed out")
	})
}

var errReadSome = errors.New("read 16 bytes")

func stallUpload(ctx context.Context, c *Client, size int64) error {
	_, err := c.Me().Events("e1").Attachments().Upload(ctx, FileUpload{
		Name: "a.bin", Content: newPattern(size), Size: size, ChunkSize: 1 << 20, ChunkTimeout: attemptLimit,
	})
	return err
}
