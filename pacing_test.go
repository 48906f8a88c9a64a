package eventattach

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/eventattach/eventattach/internal/pace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Pacing through a Client. The pacing rules themselves are internal/pace's
// tests, on a fake clock; here are the options' defaults and, end to end
// against graphtest, what a Client's pacing does to Graph's answers.

func TestPaceDefaults(t *testing.T) {
	l := resolvePace(ClientOptions{}, time.Minute)
	assert.Equal(t, pace.Limits{Concurrency: 4, Requests: 10_000, RequestWindow: 10 * time.Minute,
		Bytes: 150 << 20, ByteWindow: 5 * time.Minute, MaxHold: time.Minute}, l)
	off := resolvePace(ClientOptions{MailboxConcurrency: -1, MailboxRequestBudget: -1, MailboxByteBudget: -1}, time.Minute)
	assert.Nil(t, pace.New(off, nil), "nothing to pace")
}

// Against graphtest with the budgets scaled down and its time sped up
// (TimeScale 1000: graphtest's 5 minutes are 300 ms), many goroutines on
// one mailbox are paced under all three limits: Graph never answers 429.
func TestPacingKeepsGraphFromThrottling(t *testing.T) {
	t.Parallel()
	const scale = 1000
	srv := graphtest.NewServer(&graphtest.Options{
		MaxBodyRecorded: -1, TimeScale: scale, Latency: graphtest.DefaultLatency(),
		UploadByteLimit: 2 << 20, RequestLimit: 40,
	})
	t.Cleanup(srv.Close)
	srv.User("u").AddEvent("e")
	c := newTestClient(t, srv.URL(), srv.Credential(), func(o *ClientOptions) {
		o.MailboxByteBudget, o.MailboxByteWindow = 2<<20, 5*time.Minute/scale
		o.MailboxRequestBudget, o.MailboxRequestWindow = 40, 10*time.Minute/scale
	})
	atts := c.Users("u").Events("e").Attachments()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			content := make([]byte, 120_000+i) // 160 KB of JSON each
			_, err := atts.AddFile(context.Background(), &FileAttachment{Name: "f" + string(rune('a'+i)), ContentBytes: content})
			assert.NoError(t, err)
		})
	}
	wg.Go(func() {
		// A session whose chunks wait for room in the byte budget.
		_, err := atts.Upload(context.Background(), FileUpload{Name: "big", Content: newPattern(3 << 20), Size: 3 << 20, ChunkSize: 4 * ChunkSizeUnit})
		assert.NoError(t, err)
	})
	wg.Wait()
	var statuses []int
	for _, r := range srv.Requests() {
		statuses = append(statuses, r.Status)
	}
	sort.Ints(statuses)
	assert.NotContains(t, statuses, http.StatusTooManyRequests)
	assert.Len(t, srv.Attachments("u", "e"), 17)
}

// When Graph's budget is smaller than the client thinks (another process
// uses the mailbox), the 429s it answers are waited out and everything
// lands.
func TestPacingAdaptsWhenGraphThrottlesAnyway(t *testing.T) {
	t.Parallel()
	srv := graphtest.NewServer(&graphtest.Options{MaxBodyRecorded: -1, MailboxConcurrency: 2, ThrottleRetryAfter: "0.01"})
	t.Cleanup(srv.Close)
	srv.User("u").AddEvent("e")
	c := newTestClient(t, srv.URL(), srv.Credential(), func(o *ClientOptions) { o.Retry.MaxRetries = 20 })
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			_, err := c.Users("u").Events("e").Attachments().AddFile(context.Background(), &FileAttachment{Name: "f" + string(rune('a'+i)), ContentBytes: []byte("x")})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Len(t, srv.Attachments("u", "e"), 24, "each file once")
	throttled := 0
	for _, r := range srv.Requests() {
		if r.Status == http.StatusTooManyRequests {
			throttled++
		}
	}
	t.Logf("%d answers were 429 (how the cap moved is internal/pace's TestPaceAdaptsTo429s)", throttled)
}

// Four Clients on one mailbox, as four processes of a job that know
// nothing of each other: each would keep Outlook's 4 requests in flight,
// 16 in all. The 429s of the first crowd cut each Client's concurrency, so
// the mailbox settles near its 4 slots: few 429s, and every file lands
// once on the default retries.
func TestPacingSharesAMailboxWithOtherClients(t *testing.T) {
	t.Parallel()
	srv := graphtest.NewServer(&graphtest.Options{MaxBodyRecorded: -1, TimeScale: 100, Latency: graphtest.DefaultLatency()})
	t.Cleanup(srv.Close)
	srv.User("u").AddEvent("e")
	const clients, workers, files = 4, 6, 30
	var wg sync.WaitGroup
	for c := range clients {
		client := newTestClient(t, srv.URL(), srv.Credential())
		atts := client.Users("u").Events("e").Attachments()
		next := make(chan int, files)
		for i := range files {
			next <- i
		}
		close(next)
		for range workers {
			wg.Go(func() {
				for i := range next {
					_, err := atts.AddFile(context.Background(), &FileAttachment{Name: fmt.Sprintf("c%d-%02d", c, i), ContentBytes: []byte("x")})
					assert.NoError(t, err)
				}
			})
		}
	}
	wg.Wait()
	assert.Len(t, srv.Attachments("u", "e"), clients*files, "each file once")
	throttled := 0
	for _, r := range srv.Requests() {
		if r.Status == http.StatusTooManyRequests {
			throttled++
		}
	}
	// Without the cuts: about 130, more than one per add.
	assert.LessOrEqual(t, throttled, clients*files/4, "429s for %d adds", clients*files)
	t.Logf("%d adds by %d clients, %d answers were 429", clients*files, clients, throttled)
}

// An IncomingBytes 429 cuts this client's byte budget for the mailbox, not
// its concurrency, and the error still carries Graph's message: the client
// reads the start of the 429's body to tell which limit it was and puts it
// back.
func TestPacingReadsWhichLimitA429Names(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "0.001")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"code":"ApplicationThrottled","message":"Application is over its IncomingBytes limit."}}`)
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL+"/v1.0", nil, func(o *ClientOptions) { o.Retry.MaxRetries = -1 })
	_, err := c.Users("u").Events("e").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("x")})
	require.ErrorIs(t, err, ErrThrottled)
	assert.Contains(t, err.Error(), "over its IncomingBytes limit")
	st := c.limiter.Stats("users/u")
	assert.Equal(t, int64(75<<20), st.Bytes, "the byte budget halved")
	assert.Equal(t, 4, st.Limit, "the concurrency untouched")
}
