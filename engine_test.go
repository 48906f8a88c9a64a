package eventattach

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The request engine's consequences a caller can see.

// A 401 for an expired token is sent again with a new token, and that is
// not a retry: it works with retries switched off.
func TestEngineTokenRefreshIsNotARetry(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil, func(o *ClientOptions) { o.Retry.MaxRetries = -1 })
	srv.Me().AddEvent("e1")
	a := c.Me().Events("e1").Attachments()
	_, err := a.List(context.Background()) // a token in the cache
	require.NoError(t, err)
	srv.ExpireTokens()
	srv.ResetRequests()
	_, err = a.AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("a")})
	require.NoError(t, err)
	var statuses []int
	for _, r := range srv.Requests() {
		statuses = append(statuses, r.Status)
	}
	assert.Equal(t, []int{401, 201}, statuses)
	assert.Len(t, srv.Attachments("me", "e1"), 1)
}

// One upload is one operation: every request of it, a retried chunk and the
// question to the session included, carries the same client-request-id,
// and the log's attempt numbers count the tries of each request.
func TestEngineOneClientRequestIDPerUpload(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1}, func(o *ClientOptions) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	srv.Me().AddEvent("e1")
	srv.Inject(
		graphtest.Fault{Method: http.MethodPut, Kind: graphtest.FaultStatus, Status: 503},       // retried by the engine
		graphtest.Fault{Method: http.MethodPut, Kind: graphtest.FaultResetAfterStore, Times: 1}, // reconciled through the session
	)
	const size = 2 * DefaultChunkSize
	_, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{Name: "f.bin", Content: newPattern(size), Size: size})
	require.NoError(t, err)
	ids := map[string]int{}
	methods := map[string]int{}
	for _, r := range srv.Requests() {
		ids[r.Header.Get("client-request-id")]++
		methods[r.Method]++
	}
	assert.Len(t, ids, 1, "one client-request-id for the whole upload: %v", ids)
	assert.Equal(t, 1, methods[http.MethodPost], "the session")
	assert.GreaterOrEqual(t, methods[http.MethodPut], 3, "two chunks and a retry")
	assert.GreaterOrEqual(t, methods[http.MethodGet], 2, "the session's status and the metadata")

	var attempts []int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			Msg     string `json:"msg"`
			Method  string `json:"method"`
			Attempt int    `json:"attempt"`
			Status  int    `json:"status"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec.Msg == "graph request" && rec.Method == http.MethodPut {
			attempts = append(attempts, rec.Attempt)
		}
	}
	assert.Equal(t, []int{1, 2}, attempts[:2], "the 503 and its retry are attempts 1 and 2 of one request")
}

// The wait before a retry grows with retries, not with the redirects a GET
// followed on the way: a 503 reached after six hops waits about BaseDelay.
func TestEngineWaitIgnoresRedirectHops(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		times []time.Time
		n     int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		i := n
		times = append(times, time.Now())
		mu.Unlock()
		switch {
		case i <= 6:
			http.Redirect(w, r, r.URL.Path+"?hop="+string(rune('0'+i)), http.StatusTemporaryRedirect)
		case i == 7:
			reply(503, graphErr("serviceNotAvailable", "busy"))(w, r)
		default:
			reply(200, `{"value":[]}`)(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL+"/v1.0", nil, func(o *ClientOptions) { o.Retry.BaseDelay = 100 * time.Millisecond })
	_, err := c.Me().Events("e1").Attachments().List(context.Background())
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, times, 8)
	wait := times[7].Sub(times[6])
	assert.Less(t, wait, time.Second, "the first retry waits BaseDelay ±50%%, whatever the hops (it waited %s)", wait)
	assert.GreaterOrEqual(t, wait, 50*time.Millisecond)
}

// A user's test of a fault path against graphtest is fast with no retry
// options: a loopback BaseURL starts the backoff at 1ms. (A production
// client keeps 500ms: TestNewClientOptions.)
func TestEngineLoopbackDefaultsKeepTestsFast(t *testing.T) {
	t.Parallel()
	srv := graphtest.NewServer(nil)
	t.Cleanup(srv.Close)
	srv.Me().AddEvent("e1")
	c, err := NewClient(srv.Credential(), &ClientOptions{BaseURL: srv.URL()})
	require.NoError(t, err)
	srv.Inject(graphtest.Fault{Method: http.MethodGet, Kind: graphtest.FaultStatus, Status: 500, Times: -1})
	_, err = c.Me().Events("e1").Attachments().List(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "after 5 attempts")
	// Four default waits from 500ms would be 7.5s; from 1ms they are 15ms.
	assert.Equal(t, loopbackBaseDelay, c.retry.BaseDelay)
}
