package graphtest

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequestBudget(t *testing.T) {
	clock := newFakeClock()
	s := newTestServer(t, &Options{RequestLimit: 3, Clock: clock.Now})
	s.Me().AddEvent("e")
	s.User("other").AddEvent("e")
	for range 3 {
		require.Equal(t, http.StatusOK, graph(t, s, "GET", "/me/events/e/attachments", nil).StatusCode)
		clock.Advance(time.Minute)
	}
	r := graph(t, s, "GET", "/me/events/e/attachments", nil)
	require.Equal(t, http.StatusTooManyRequests, r.StatusCode)
	assert.Equal(t, "ApplicationThrottled", r.errorCode(t))
	assert.Contains(t, string(r.body), "Application is over its MailboxRequests limit.")
	assert.Equal(t, "420", r.Header.Get("Retry-After"), "seconds until the first request leaves the 10-minute window")
	// Another mailbox has its own budget; a refused request was not counted.
	assert.Equal(t, http.StatusOK, graph(t, s, "GET", "/users/other/events/e/attachments", nil).StatusCode)
	clock.Advance(7 * time.Minute)
	assert.Equal(t, http.StatusOK, graph(t, s, "GET", "/me/events/e/attachments", nil).StatusCode)
	assert.Equal(t, http.StatusTooManyRequests, graph(t, s, "GET", "/me/events/e/attachments", nil).StatusCode)
}

func TestRequestBudgetDefault(t *testing.T) {
	s := newTestServer(t, nil)
	assert.Equal(t, 10_000, s.opts.RequestLimit)
	assert.Equal(t, 10*time.Minute, s.opts.RequestWindow)
	off := newTestServer(t, &Options{RequestLimit: -1})
	ok, _ := off.chargeRequestBudget(off.Me())
	assert.True(t, ok)
}

func TestByteBudgetRetryAfterSaysWhenThereIsRoom(t *testing.T) {
	clock := newFakeClock()
	s := newTestServer(t, &Options{UploadByteLimit: 1000, Clock: clock.Now})
	ok, _ := s.chargeIncoming(s.Me(), 600)
	require.True(t, ok)
	clock.Advance(100 * time.Second)
	ok, wait := s.chargeIncoming(s.Me(), 600)
	require.False(t, ok)
	assert.Equal(t, 200*time.Second, wait)
	assert.Equal(t, "200", s.retryAfter(wait))
	ok, _ = s.chargeIncoming(s.Me(), -1) // unknown length: the window is not full
	assert.True(t, ok)
}

func TestTimeScale(t *testing.T) {
	s := newTestServer(t, &Options{TimeScale: 60})
	assert.Equal(t, "0.017", s.retryAfter(0), `"1" of model time, in wall-clock seconds rounded up`)
	assert.Equal(t, "5", s.retryAfter(300*time.Second))
	given := newTestServer(t, &Options{TimeScale: 100, ThrottleRetryAfter: "0.249"})
	assert.Equal(t, "0.003", given.retryAfter(time.Minute), "a given value is model time too")
	real := newTestServer(t, &Options{ThrottleRetryAfter: "0.249"})
	assert.Equal(t, "0.249", real.retryAfter(time.Minute), "verbatim in real time")
	// The clock runs TimeScale times faster: a wall-clock second ago is a
	// model minute ago.
	start := time.Now().Add(-time.Second)
	assert.False(t, scaledClock(start, 60)().Before(start.Add(time.Minute)))
	assert.NotNil(t, s.opts.Clock)
}

func TestLatencyModel(t *testing.T) {
	m := DefaultLatency()
	assert.Equal(t, 150*time.Millisecond, m.For(false, 0))
	assert.Equal(t, 250*time.Millisecond, m.For(false, 1<<20))
	assert.Equal(t, 475*time.Millisecond, m.For(true, 3932160), "a 3.75 MiB chunk")
	draws := func(seed uint64) []time.Duration {
		var g latencyGen
		mm := *m
		mm.Seed = seed
		g.init(&mm)
		var out []time.Duration
		for range 20 {
			per, body := g.draw(true, 1<<20, 10)
			assert.InDelta(t, 0.1*float64(m.UploadPerRequest), float64(per), 0.25*0.1*float64(m.UploadPerRequest)+1, "±25 %, a tenth on the wall clock")
			out = append(out, per, body)
		}
		return out
	}
	assert.Equal(t, draws(7), draws(7), "a seed repeats")
	assert.NotEqual(t, draws(7), draws(8))
	var none latencyGen
	none.init(nil)
	per, body := none.draw(false, 1<<20, 1)
	assert.Zero(t, per+body)
}
