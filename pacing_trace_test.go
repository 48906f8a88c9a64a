package eventattach

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A wait for the mailbox's limits shows in the trace: the attempt's span
// carries a "pacing wait" event with its duration and reason.
func TestTracingShowsPacingWaits(t *testing.T) {
	arrived, release := make(chan struct{}, 2), make(chan struct{})
	srv := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		reply(201, created201)(w, r)
	})
	rec := &spanRecorder{}
	c := newTestClient(t, srv.URL+"/v1.0", nil, func(o *ClientOptions) {
		o.MailboxConcurrency = 1
		o.TracingProvider = rec.provider()
	})
	errs := make(chan error, 2)
	go func() { _, err := addSmall(c, context.Background()); errs <- err }()
	<-arrived
	go func() { _, err := addSmall(c, context.Background()); errs <- err }()
	for c.limiter.Stats("me").Waiting < 1 {
		runtime.Gosched()
	}
	close(release)
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)

	var waits []recEvent
	for _, s := range rec.all() {
		for _, e := range s.events {
			if e.name == "pacing wait" {
				waits = append(waits, e)
			}
		}
	}
	require.Len(t, waits, 1, "the second add waited for the slot")
	assert.Equal(t, "slot", waits[0].attrs["eventattach.wait_reason"])
	assert.GreaterOrEqual(t, waits[0].attrs["eventattach.wait_ms"], int64(0))
}

// A call behind a 429's hold, whose deadline comes before the hold ends,
// gives up at once with ErrThrottled instead of sleeping out its deadline.
func TestPacingHoldPastTheDeadlineGivesUpAtOnce(t *testing.T) {
	srv := newScripted(t, reply(429, graphErr("ApplicationThrottled", "wait"), "Retry-After", "30"), reply(201, created201), reply(201, created201))
	c := newTestClient(t, srv.URL+"/v1.0", nil, func(o *ClientOptions) { o.Retry.MaxRetries, o.Retry.MaxDelay = -1, time.Minute })
	// The first call gets the 429; with no retries left it returns, and the
	// mailbox is held for the Retry-After it would have waited out.
	_, err := addSmall(c, context.Background())
	require.ErrorIs(t, err, ErrThrottled)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = addSmall(c, ctx)
	require.ErrorIs(t, err, ErrThrottled)
	assert.Contains(t, err.Error(), "past the context's deadline")
	assert.NoError(t, ctx.Err(), "at once, not at the deadline")
	assert.Len(t, srv.requests(), 1, "nothing more was sent")
}
