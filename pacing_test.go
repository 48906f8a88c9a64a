package eventattach

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The pacing rules (concurrency.go), each on a fake clock the test steps:
// nothing here sleeps, and a waiting request is observed through the
// pacer's hooks, not by timing.

// fakeClock is a clock whose time moves only by Advance. Timers report on
// timerSet when created, so a test knows a request is waiting for one.
type fakeClock struct {
	mu       sync.Mutex
	now      time.Time
	timers   []fakeTimer
	timerSet chan time.Duration
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), timerSet: make(chan time.Duration, 64)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), ch})
	c.mu.Unlock()
	c.timerSet <- d
	return ch, func() bool { return true }
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
		} else {
			t.ch <- c.now
		}
	}
	c.timers = kept
}

// testPacer is a pacer on a fake clock whose waits are announced on waiting.
func testPacer(t *testing.T, lim paceLimits) (*pacer, *fakeClock, chan struct{}) {
	t.Helper()
	clk := newFakeClock()
	if lim.requestWin == 0 {
		lim.requestWin = 10 * time.Minute
	}
	if lim.bytesWin == 0 {
		lim.bytesWin = 5 * time.Minute
	}
	if lim.maxHold == 0 {
		lim.maxHold = time.Minute
	}
	p := newPacer(lim, clk)
	waiting := make(chan struct{}, 64)
	p.onWait = func() { waiting <- struct{}{} }
	return p, clk, waiting
}

// goAcquire starts an acquire and returns where its ticket arrives.
func goAcquire(p *pacer, mailbox string, n int64) chan ticket {
	got := make(chan ticket, 1)
	go func() {
		t, err := p.acquire(context.Background(), mailbox, n, nil)
		if err == nil {
			got <- t
		}
	}()
	return got
}

func mustAcquire(t *testing.T, p *pacer, mailbox string, n int64) ticket {
	t.Helper()
	tk, err := p.acquire(context.Background(), mailbox, n, nil)
	require.NoError(t, err)
	return tk
}

func notYet(t *testing.T, got chan ticket, why string) {
	t.Helper()
	select {
	case <-got:
		t.Fatal("went early: " + why)
	default:
	}
}

func TestPaceConcurrencyWaitsForASlot(t *testing.T) {
	p, _, waiting := testPacer(t, paceLimits{concurrency: 2})
	a, b := mustAcquire(t, p, "users/u", 0), mustAcquire(t, p, "users/u", 0)
	got := goAcquire(p, "users/u", 0)
	<-waiting
	notYet(t, got, "both slots are held")
	a.done()
	c := <-got
	b.done()
	c.done()
}

func TestPaceByteBudgetWaitsForTheWindow(t *testing.T) {
	p, clk, waiting := testPacer(t, paceLimits{bytes: 100, bytesWin: time.Minute})
	first := mustAcquire(t, p, "users/u", 60)
	clk.Advance(10 * time.Second)
	first.done() // counted from its end: until 1m10s
	got := goAcquire(p, "users/u", 60)
	<-waiting
	assert.Equal(t, time.Minute, <-clk.timerSet, "a pacing wait until the first 60 bytes leave the window")
	clk.Advance(59 * time.Second)
	notYet(t, got, "60 + 60 bytes in one minute")
	clk.Advance(time.Second)
	(<-got).done()
}

func TestPaceBodyOverTheBudgetGoesAlone(t *testing.T) {
	p, clk, waiting := testPacer(t, paceLimits{bytes: 100, bytesWin: time.Minute})
	mustAcquire(t, p, "users/u", 10).done()
	got := goAcquire(p, "users/u", 500)
	<-waiting
	<-clk.timerSet
	notYet(t, got, "the window is not empty")
	clk.Advance(time.Minute)
	(<-got).done()
}

func TestPaceRequestBudget(t *testing.T) {
	p, clk, waiting := testPacer(t, paceLimits{requests: 3, requestWin: 10 * time.Minute})
	for range 3 {
		mustAcquire(t, p, "users/u", 0).done()
		clk.Advance(time.Minute)
	}
	got := goAcquire(p, "users/u", 0)
	<-waiting
	assert.Equal(t, 7*time.Minute, <-clk.timerSet, "until the first request is 10 minutes old")
	clk.Advance(7 * time.Minute)
	(<-got).done()
	// In flight counts too: three admitted, none ended, a fourth waits for
	// one to end (there is nothing to time).
	p2, _, waiting2 := testPacer(t, paceLimits{requests: 3})
	held := []ticket{mustAcquire(t, p2, "m", 0), mustAcquire(t, p2, "m", 0), mustAcquire(t, p2, "m", 0)}
	got = goAcquire(p2, "m", 0)
	<-waiting2
	notYet(t, got, "three requests in flight fill the budget")
	held[0].done() // enters the window; still three in 10 minutes
	notYet(t, got, "three requests in the window")
}

func TestPaceFirstComeFirstServed(t *testing.T) {
	// A small request that would fit does not overtake a bigger one waiting
	// for room: no request starves.
	p, clk, waiting := testPacer(t, paceLimits{bytes: 100, bytesWin: time.Minute})
	mustAcquire(t, p, "users/u", 90).done()
	big := goAcquire(p, "users/u", 50)
	<-waiting
	<-clk.timerSet
	small := goAcquire(p, "users/u", 5)
	<-waiting
	notYet(t, small, "it came after the waiting 50 bytes")
	clk.Advance(time.Minute)
	(<-big).done()
	(<-small).done()
}

func TestPaceOneMailboxNeverDelaysAnother(t *testing.T) {
	p, _, waiting := testPacer(t, paceLimits{concurrency: 1, requests: 1, bytes: 100})
	held := mustAcquire(t, p, "users/a", 100)
	blocked := goAcquire(p, "users/a", 10)
	<-waiting
	// users/b has all of its own budgets: no wait at all.
	b := mustAcquire(t, p, "users/b", 100)
	b.done()
	notYet(t, blocked, "users/a is full")
	held.done()
}

func TestPaceWaitHonoursCtxAndGivesBack(t *testing.T) {
	p, _, waiting := testPacer(t, paceLimits{bytes: 100, concurrency: 1})
	held := mustAcquire(t, p, "users/u", 50)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.acquire(ctx, "users/u", 50, nil)
		errc <- err
	}()
	<-waiting // its 50 bytes are reserved; it waits for the slot
	cancel()
	err := <-errc
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "a free request slot for mailbox users/u (1 of 1 in flight)")
	held.done()
	// The cancelled request's reservation was given back: 50 more fit.
	mustAcquire(t, p, "users/u", 50).done()
}

func TestPacePrepaidChunk(t *testing.T) {
	p, clk, waiting := testPacer(t, paceLimits{bytes: 100, bytesWin: time.Minute, requests: 2, concurrency: 4})
	paid, err := p.prepay(context.Background(), "users/u", 80)
	require.NoError(t, err)
	// The budgets are reserved: a second chunk waits (before its timeout
	// would start)...
	var second *prepaid
	done := make(chan struct{})
	go func() {
		second, _ = p.prepay(context.Background(), "users/u", 80)
		close(done)
	}()
	<-waiting
	// ...while the first attempt uses its reservation without waiting.
	tk, err := p.acquire(context.Background(), "users/u", 80, paid)
	require.NoError(t, err)
	paid.release() // used: nothing to give back
	tk.done()
	<-clk.timerSet
	clk.Advance(time.Minute)
	<-done
	second.release() // never sent: its reservation comes back
	mustAcquire(t, p, "users/u", 100).done()
}

func TestPaceAdaptsTo429s(t *testing.T) {
	p, clk, waiting := testPacer(t, paceLimits{concurrency: 4})
	tk := mustAcquire(t, p, "users/u", 0)
	box := tk.p
	// A 429 with a Retry-After the client waits out holds the mailbox.
	tk.answered(http.StatusTooManyRequests, 2*time.Second)
	tk.done()
	got := goAcquire(p, "users/u", 0)
	<-waiting
	assert.Equal(t, 2*time.Second, <-clk.timerSet)
	assert.Equal(t, 4, box.limit, "one 429 is not repeated")
	clk.Advance(2 * time.Second)
	tk = <-got
	// Every second 429 in a row takes a slot off...
	tk.answered(http.StatusTooManyRequests, 0)
	assert.Equal(t, 3, box.limit)
	tk.answered(http.StatusTooManyRequests, 0)
	tk.answered(http.StatusTooManyRequests, 0)
	assert.Equal(t, 2, box.limit)
	for range 10 {
		tk.answered(http.StatusTooManyRequests, 0)
	}
	assert.Equal(t, 1, box.limit, "never under one")
	// ...and growAfter answers without one give one back.
	for range growAfter - 1 {
		tk.answered(http.StatusCreated, 0)
	}
	assert.Equal(t, 1, box.limit)
	tk.answered(http.StatusCreated, 0)
	assert.Equal(t, 2, box.limit)
	for range 3 * growAfter {
		tk.answered(http.StatusOK, 0)
	}
	assert.Equal(t, 4, box.limit, "back to the cap, not over it")
	tk.done()
	// A 429 the client will not wait out holds nothing.
	tk = mustAcquire(t, p, "users/v", 0)
	tk.answered(http.StatusTooManyRequests, 0)
	tk.done()
	mustAcquire(t, p, "users/v", 0).done()
}

func TestPaceWindowKeepsFewEntries(t *testing.T) {
	w := window{span: time.Minute}
	for i := range 100_000 {
		w.add(int64(i)*int64(time.Millisecond), 1)
		w.prune(int64(i) * int64(time.Millisecond))
	}
	assert.LessOrEqual(t, len(w.ents)-w.head, windowSlices+1)
	assert.LessOrEqual(t, len(w.ents), 4*windowSlices)
	// Merging never counts an amount shorter than it was: the window holds
	// at least the last minute's 60,000.
	assert.GreaterOrEqual(t, w.sum, int64(60_000))
}

func TestPaceDefaults(t *testing.T) {
	l := resolvePace(ClientOptions{}, time.Minute)
	assert.Equal(t, paceLimits{concurrency: 4, requests: 10_000, requestWin: 10 * time.Minute,
		bytes: 150 << 20, bytesWin: 5 * time.Minute, maxHold: time.Minute}, l)
	off := resolvePace(ClientOptions{MailboxConcurrency: -1, MailboxRequestBudget: -1, MailboxByteBudget: -1}, time.Minute)
	assert.Nil(t, newPacer(off, nil), "nothing to pace")
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
	t.Logf("%d answers were 429 (how the cap moved is TestPaceAdaptsTo429s's)", throttled)
}
