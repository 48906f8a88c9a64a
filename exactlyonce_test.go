package eventattach

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Never lose, never duplicate: the cases of issue 12 where Graph, the
// network or another writer misbehaves. Each test names the case.

// hooked returns a client option whose transport runs before(r) ahead of
// each request and after(r, resp, err) behind it.
func hooked(before func(*http.Request), after func(*http.Request, *http.Response, error) (*http.Response, error)) func(*ClientOptions) {
	return func(o *ClientOptions) {
		o.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if before != nil {
				before(r)
			}
			resp, err := http.DefaultTransport.RoundTrip(r)
			if after != nil {
				return after(r, resp, err)
			}
			return resp, err
		})}
	}
}

func isListing(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/attachments")
}

// Case 1: a Latin-1 file name is stored with U+FFFD by Graph; the duplicate
// check compares the name as stored, so a POST that landed is not sent again.
func TestExactlyOnceNameNotUTF8(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	a := c.Me().Events("e1").Attachments()
	name := "r\xe9sum\xe9.txt" // Latin-1
	srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatusAfterStore, Status: 504})
	got, err := a.AddFile(context.Background(), &FileAttachment{Name: name, ContentBytes: []byte("cv")})
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Equal(t, 1, len(stored), "one copy")
	assert.Equal(t, stored[0].ID, got.ID)
	assert.Equal(t, "r\ufffdsum\ufffd.txt", stored[0].Name)

	// The same through an upload session whose last answer is lost.
	srv.Inject(graphtest.Fault{Method: http.MethodPut, Kind: graphtest.FaultResetAfterStore})
	up, err := a.Upload(context.Background(), FileUpload{Name: name, Content: newPattern(MaxAddSize), Size: MaxAddSize})
	require.NoError(t, err)
	require.Equal(t, 2, len(srv.Attachments("me", "e1")))
	assert.Equal(t, srv.Attachments("me", "e1")[1].ID, up.ID)
}

// Case 2: A's POST is refused (504, nothing stored); meanwhile B adds an
// item of the same name. A's check must not take B's item for its own.
func TestExactlyOnceAddItemIsNotAnotherWritersItem(t *testing.T) {
	t.Parallel()
	var (
		other *Client
		once  sync.Once
	)
	srv, c := newUploadServer(t, nil, hooked(func(r *http.Request) {
		if isListing(r) {
			once.Do(func() {
				_, err := other.Me().Events("e1").Attachments().AddItem(context.Background(), &ItemAttachment{Name: "Agenda", Item: &Event{Subject: "B's meeting"}})
				require.NoError(t, err)
			})
		}
	}, nil))
	other = newTestClient(t, srv.URL(), srv.Credential())
	srv.Me().AddEvent("e1")
	srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatus, Status: 504})
	got, err := c.Me().Events("e1").Attachments().AddItem(context.Background(), &ItemAttachment{Name: "Agenda", Item: &Event{Subject: "A's meeting"}})
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Equal(t, 2, len(stored), "A's item and B's")
	assert.Equal(t, stored[1].ID, got.ID, "A gets its own item, created by its retry")
	assert.Contains(t, string(stored[1].Item), "A's meeting")
}

// Case 2, the other way: A's POST landed (504 after storing); the check
// reads the item back and recognises it.
func TestExactlyOnceAddItemLandedIsFound(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatusAfterStore, Status: 504})
	got, err := c.Me().Events("e1").Attachments().AddItem(context.Background(), &ItemAttachment{Name: "Agenda", Item: &Message{Subject: "Minutes"}})
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Equal(t, 1, len(stored))
	assert.Equal(t, stored[0].ID, got.ID)
}

// Case 3: an inline file with another ContentID is not ours; the one found
// comes back with its ContentID.
func TestExactlyOnceInlineContentID(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	a := c.Me().Events("e1").Attachments()
	logo := []byte("\x89PNG logo")
	_, err := a.AddFile(context.Background(), &FileAttachment{Name: "logo.png", ContentType: "image/png", IsInline: true, ContentID: "other@x", ContentBytes: logo})
	require.NoError(t, err)

	srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatus, Status: 504})
	got, err := a.AddFile(context.Background(), &FileAttachment{Name: "logo.png", ContentType: "image/png", IsInline: true, ContentID: "mine@x", ContentBytes: logo})
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Equal(t, 2, len(stored), "the other ContentID was not taken for ours")
	assert.Equal(t, stored[1].ID, got.ID)

	srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatusAfterStore, Status: 504})
	got, err = a.AddFile(context.Background(), &FileAttachment{Name: "logo.png", ContentType: "image/png", IsInline: true, ContentID: "third@x", ContentBytes: logo})
	require.NoError(t, err)
	require.Equal(t, 3, len(srv.Attachments("me", "e1")))
	assert.Equal(t, "third@x", got.ContentID, "the attachment found carries its ContentID")
	assert.True(t, got.IsInline)
}

// Case 4: Graph's clocks disagree: the answer's Date is 30 s ahead of or
// behind the lastModifiedDateTime the store wrote. The attempt that landed
// is still found, and another writer's file is still not taken.
func TestExactlyOnceClockSkew(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{-30 * time.Second, 30 * time.Second} {
		t.Run(skew.String(), func(t *testing.T) {
			t.Parallel()
			srv, c := newUploadServer(t, nil, hooked(nil, func(r *http.Request, resp *http.Response, err error) (*http.Response, error) {
				if err == nil {
					resp.Header.Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
				}
				return resp, err
			}))
			srv.Me().AddEvent("e1")
			a := c.Me().Events("e1").Attachments()
			_, err := a.AddFile(context.Background(), &FileAttachment{Name: "x.txt", ContentBytes: []byte("someone else's")})
			require.NoError(t, err)
			srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatusAfterStore, Status: 504})
			got, err := a.AddFile(context.Background(), &FileAttachment{Name: "x.txt", ContentBytes: []byte("ours")})
			require.NoError(t, err)
			stored := srv.Attachments("me", "e1")
			require.Equal(t, 2, len(stored), "no second copy of ours")
			assert.Equal(t, stored[1].ID, got.ID)
		})
	}
}

// Case 5: ctx ends after the last chunk was stored, before its answer: the
// upload looks (with a few seconds of grace) and returns the attachment.
func TestExactlyOnceUploadCancelledAfterLastChunk(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, c := newUploadServer(t, nil, hooked(nil, func(r *http.Request, resp *http.Response, err error) (*http.Response, error) {
		if r.Method == http.MethodPut && err == nil && resp.StatusCode == http.StatusCreated {
			resp.Body.Close()
			cancel() // the caller gives up just as the answer would arrive
			return nil, context.Canceled
		}
		return resp, err
	}))
	srv.Me().AddEvent("e1")
	content, sum := hashedContent(MaxAddSize)
	got, err := c.Me().Events("e1").Attachments().Upload(ctx, FileUpload{Name: "f.bin", Content: content, Size: MaxAddSize})
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Equal(t, 1, len(stored))
	assert.Equal(t, stored[0].ID, got.ID)
	assert.Equal(t, sum(), sha256.Sum256(stored[0].Content))
}

// Case 7: the check cannot decide (every read of the event fails): the
// error is ErrOutcomeUnknown, never a plain failure, and counts the POSTs.
func TestExactlyOnceCheckCannotDecide(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil, func(o *ClientOptions) { o.Retry.MaxRetries = 1 })
	srv.Me().AddEvent("e1")
	srv.Inject(
		graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatusAfterStore, Status: 504},
		graphtest.Fault{Method: http.MethodGet, Kind: graphtest.FaultStatus, Status: 500, Times: -1},
	)
	_, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("a")})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
	posts := 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost {
			posts++
		}
	}
	assert.Equal(t, 1, posts, "nothing re-sent while the outcome is unknown")
	assert.Contains(t, err.Error(), "graph: 504")
	assert.Equal(t, 1, len(srv.Attachments("me", "e1")))
}

// Case 7, the reads of the check are retried: its $value read cut off twice
// still finds the attachment that landed.
func TestExactlyOnceCheckReadsAreRetried(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	srv.Inject(
		graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatusAfterStore, Status: 504},
		graphtest.Fault{Method: http.MethodGet, Path: "$value", Kind: graphtest.FaultTruncateAfterStore, Times: 2},
	)
	content := bytes.Repeat([]byte("abc"), 1000)
	got, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: content})
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Equal(t, 1, len(stored))
	assert.Equal(t, stored[0].ID, got.ID)
}

// Case 9: an upload host that answers before reading a chunk's body (as a
// proxy may): the buffer is not refilled while net/http may still be
// sending from it. The race detector is the check (go test -race).
func TestExactlyOnceUploadBufferNotRefilledWhileSending(t *testing.T) {
	f := newFakeSession(t, false)
	f.early = true
	const size = 4 * DefaultChunkSize
	att, err := f.client(t).Me().Events("e").Attachments().Upload(context.Background(), FileUpload{Name: "f.bin", Content: newPattern(size), Size: size})
	require.NoError(t, err)
	assert.NotEmpty(t, att.ID)
	assert.Len(t, f.puts, 4)
}

// Case 10: an upload host that echoes the authtoken in a header, an error
// body and a malformed answer: no field of the error and no log record
// carries it.
func TestExactlyOnceAuthtokenEchoedNowhere(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(tok string, w http.ResponseWriter)
	}{
		{"in the request-id header and error code", func(tok string, w http.ResponseWriter) {
			w.Header().Set("request-id", "rid-"+tok)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":{"code":"Bad-%s","message":"token %s refused","innerError":{"request-id":"%s","client-request-id":"%s"}}}`, tok, tok, tok, tok)
		}},
		{"in a malformed answer", func(tok string, w http.ResponseWriter) {
			w.Header().Set("request-id", tok)
			w.WriteHeader(200)
			fmt.Fprintf(w, `{"nextExpectedRanges": ["%s`, tok)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			f := newFakeSession(t, false)
			f.onPut = func(n int, body []byte, w http.ResponseWriter) (int, bool) {
				tc.answer(f.token, w)
				return 0, true
			}
			c := f.client(t, func(o *ClientOptions) {
				o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				o.Retry.MaxRetries = 1
			})
			_, err := c.Me().Events("e").Attachments().Upload(context.Background(), FileUpload{Name: "f.bin", Content: newPattern(MaxAddSize), Size: MaxAddSize})
			require.Error(t, err)
			assert.NotContains(t, err.Error(), f.token)
			assert.NotContains(t, fmt.Sprintf("%+v", err), f.token)
			var ge *GraphError
			if errors.As(err, &ge) {
				assert.NotContains(t, fmt.Sprintf("%#v", *ge), f.token, "a field of the GraphError")
				assert.NotContains(t, string(ge.Body), f.token)
			}
			assert.NotEmpty(t, logs.String())
			assert.NotContains(t, logs.String(), f.token, "a log record")
		})
	}
}

// Case 13: a Content reader that blocks: the upload ends when ctx does,
// although the read never returns, and its session is deleted.
func TestExactlyOnceBlockingContentHonoursCtx(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	blocked := make(chan struct{})
	content := &blockingReader{data: make([]byte, DefaultChunkSize), blocked: blocked, release: make(chan struct{})}
	t.Cleanup(func() { close(content.release) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Me().Events("e1").Attachments().Upload(ctx, FileUpload{Name: "f.bin", Content: content, Size: 2 * DefaultChunkSize})
		done <- err
	}()
	<-blocked // the first chunk was read; the reader now blocks in Read
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second): // a bound, not a measurement
		t.Fatal("Upload still blocked in Content 10 s after its ctx ended")
	}
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	reqs := srv.Requests()
	assert.Equal(t, http.MethodDelete, reqs[len(reqs)-1].Method, "the session is deleted")
	assert.Empty(t, srv.Attachments("me", "e1"))
}

// blockingReader yields data, then blocks in Read until release is closed.
type blockingReader struct {
	data     []byte
	blocked  chan struct{}
	release  chan struct{}
	signaled bool
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	if !r.signaled {
		r.signaled = true
		close(r.blocked)
	}
	<-r.release
	return 0, io.EOF
}
