package pace

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The pacing rules, each on a fake clock the test steps: nothing here
// sleeps. A waiting request is observed through the API (Stats.Waiting),
// and a wait for a time through the fake clock's timers, never by timing.

// fakeClock is a Clock whose time moves only by Advance. Timers report on
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

// testPacer is a Pacer on a fake clock, with windows and a hold cap filled
// in where lim leaves them zero.
func testPacer(t *testing.T, lim Limits) (*Pacer, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	if lim.RequestWindow == 0 {
		lim.RequestWindow = 10 * time.Minute
	}
	if lim.ByteWindow == 0 {
		lim.ByteWindow = 5 * time.Minute
	}
	if lim.MaxHold == 0 {
		lim.MaxHold = time.Minute
	}
	p := New(lim, clk)
	require.NotNil(t, p)
	return p, clk
}

// awaitWaiting returns once n requests to mailbox are waiting, as Stats
// reports them.
func awaitWaiting(p *Pacer, mailbox string, n int) {
	for p.Stats(mailbox).Waiting < n {
		runtime.Gosched()
	}
}

// goAcquire starts an Acquire and returns where its ticket arrives.
func goAcquire(p *Pacer, mailbox string, n int64) chan Ticket {
	got := make(chan Ticket, 1)
	go func() {
		t, err := p.Acquire(context.Background(), mailbox, n, nil)
		if err == nil {
			got <- t
		}
	}()
	return got
}

func mustAcquire(t *testing.T, p *Pacer, mailbox string, n int64) Ticket {
	t.Helper()
	tk, err := p.Acquire(context.Background(), mailbox, n, nil)
	require.NoError(t, err)
	return tk
}

func notYet(t *testing.T, got chan Ticket, why string) {
	t.Helper()
	select {
	case <-got:
		t.Fatal("went early: " + why)
	default:
	}
}

func TestPaceConcurrencyWaitsForASlot(t *testing.T) {
	p, _ := testPacer(t, Limits{Concurrency: 2})
	a, b := mustAcquire(t, p, "users/u", 0), mustAcquire(t, p, "users/u", 0)
	got := goAcquire(p, "users/u", 0)
	awaitWaiting(p, "users/u", 1)
	assert.Equal(t, Stats{InFlight: 2, Limit: 2, Waiting: 1}, p.Stats("users/u"))
	notYet(t, got, "both slots are held")
	a.Done()
	c := <-got
	b.Done()
	c.Done()
	assert.Equal(t, Stats{Limit: 2}, p.Stats("users/u"))
}

func TestPaceByteBudgetWaitsForTheWindow(t *testing.T) {
	p, clk := testPacer(t, Limits{Bytes: 100, ByteWindow: time.Minute})
	first := mustAcquire(t, p, "users/u", 60)
	clk.Advance(10 * time.Second)
	first.Done() // counted from its end: until 1m10s
	got := goAcquire(p, "users/u", 60)
	assert.Equal(t, time.Minute, <-clk.timerSet, "a pacing wait until the first 60 bytes leave the window")
	assert.Equal(t, 1, p.Stats("users/u").Waiting)
	clk.Advance(59 * time.Second)
	notYet(t, got, "60 + 60 bytes in one minute")
	clk.Advance(time.Second)
	(<-got).Done()
}

func TestPaceBodyOverTheBudgetGoesAlone(t *testing.T) {
	p, clk := testPacer(t, Limits{Bytes: 100, ByteWindow: time.Minute})
	mustAcquire(t, p, "users/u", 10).Done()
	got := goAcquire(p, "users/u", 500)
	<-clk.timerSet
	notYet(t, got, "the window is not empty")
	clk.Advance(time.Minute)
	(<-got).Done()
}

func TestPaceRequestBudget(t *testing.T) {
	p, clk := testPacer(t, Limits{Requests: 3, RequestWindow: 10 * time.Minute})
	for range 3 {
		mustAcquire(t, p, "users/u", 0).Done()
		clk.Advance(time.Minute)
	}
	got := goAcquire(p, "users/u", 0)
	assert.Equal(t, 7*time.Minute, <-clk.timerSet, "until the first request is 10 minutes old")
	clk.Advance(7 * time.Minute)
	(<-got).Done()
	// In flight counts too: three admitted, none ended, a fourth waits for
	// one to end (there is nothing to time).
	p2, _ := testPacer(t, Limits{Requests: 3})
	held := []Ticket{mustAcquire(t, p2, "m", 0), mustAcquire(t, p2, "m", 0), mustAcquire(t, p2, "m", 0)}
	got = goAcquire(p2, "m", 0)
	awaitWaiting(p2, "m", 1)
	notYet(t, got, "three requests in flight fill the budget")
	held[0].Done() // enters the window; still three in 10 minutes
	notYet(t, got, "three requests in the window")
}

func TestPaceFirstComeFirstServed(t *testing.T) {
	// A small request that would fit does not overtake a bigger one waiting
	// for room: no request starves.
	p, clk := testPacer(t, Limits{Bytes: 100, ByteWindow: time.Minute})
	mustAcquire(t, p, "users/u", 90).Done()
	big := goAcquire(p, "users/u", 50)
	<-clk.timerSet
	small := goAcquire(p, "users/u", 5)
	awaitWaiting(p, "users/u", 2)
	notYet(t, small, "it came after the waiting 50 bytes")
	clk.Advance(time.Minute)
	(<-big).Done()
	(<-small).Done()
}

func TestPaceOneMailboxNeverDelaysAnother(t *testing.T) {
	p, _ := testPacer(t, Limits{Concurrency: 1, Requests: 1, Bytes: 100})
	held := mustAcquire(t, p, "users/a", 100)
	blocked := goAcquire(p, "users/a", 10)
	awaitWaiting(p, "users/a", 1)
	// users/b has all of its own budgets: no wait at all.
	assert.Equal(t, 0, p.Stats("users/b").Waiting)
	b := mustAcquire(t, p, "users/b", 100)
	b.Done()
	notYet(t, blocked, "users/a is full")
	held.Done()
}

func TestPaceWaitHonoursCtxAndGivesBack(t *testing.T) {
	p, _ := testPacer(t, Limits{Bytes: 100, Concurrency: 1})
	held := mustAcquire(t, p, "users/u", 50)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Acquire(ctx, "users/u", 50, nil)
		errc <- err
	}()
	awaitWaiting(p, "users/u", 1) // its 50 bytes are reserved; it waits for the slot
	cancel()
	err := <-errc
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "eventattach: waiting for a free request slot for mailbox users/u (1 of 1 in flight): context canceled", err.Error())
	assert.Equal(t, 0, p.Stats("users/u").Waiting)
	held.Done()
	// The cancelled request's reservation was given back: 50 more fit.
	mustAcquire(t, p, "users/u", 50).Done()
}

func TestPaceBudgetWaitSaysWhatIsCounted(t *testing.T) {
	p, clk := testPacer(t, Limits{Requests: 5, Bytes: 100, ByteWindow: time.Minute})
	mustAcquire(t, p, "users/u", 90).Done()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Prepay(ctx, "users/u", 20)
		errc <- err
	}()
	<-clk.timerSet
	cancel()
	err := <-errc
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "eventattach: waiting for room in the budgets of mailbox users/u (5 requests per 10m0s and 100 body bytes per 1m0s; 1 requests and 90 bytes counted, 20 more bytes wanted): context canceled", err.Error())
}

func TestPacePrepaidChunk(t *testing.T) {
	p, clk := testPacer(t, Limits{Bytes: 100, ByteWindow: time.Minute, Requests: 2, Concurrency: 4})
	paid, err := p.Prepay(context.Background(), "users/u", 80)
	require.NoError(t, err)
	// The budgets are reserved: a second chunk waits (before its timeout
	// would start)...
	var second *Prepaid
	done := make(chan struct{})
	go func() {
		second, _ = p.Prepay(context.Background(), "users/u", 80)
		close(done)
	}()
	awaitWaiting(p, "users/u", 1)
	// ...while the first attempt uses its reservation without waiting.
	tk, err := p.Acquire(context.Background(), "users/u", 80, paid)
	require.NoError(t, err)
	paid.Release() // used: nothing to give back
	tk.Done()
	<-clk.timerSet
	clk.Advance(time.Minute)
	<-done
	second.Release() // never sent: its reservation comes back
	mustAcquire(t, p, "users/u", 100).Done()
}

func TestPaceAdaptsTo429s(t *testing.T) {
	p, clk := testPacer(t, Limits{Concurrency: 4})
	limit := func() int { return p.Stats("users/u").Limit }
	early := mustAcquire(t, p, "users/u", 0) // sent before any cut
	tk := mustAcquire(t, p, "users/u", 0)
	// A 429 with a Retry-After the client waits out holds the mailbox, and
	// halves its concurrency.
	tk.Answered(http.StatusTooManyRequests, 2*time.Second, false)
	tk.Done()
	assert.Equal(t, 2, limit())
	// A 429 of a request sent before that cut is the same crowd: no cut.
	early.Answered(http.StatusTooManyRequests, 0, false)
	early.Done()
	assert.Equal(t, 2, limit(), "429s of requests sent under the old cap count once")
	got := goAcquire(p, "users/u", 0)
	assert.Equal(t, 2*time.Second, <-clk.timerSet)
	clk.Advance(2 * time.Second)
	tk = <-got
	tk.Answered(http.StatusTooManyRequests, 0, false)
	tk.Done()
	assert.Equal(t, 1, limit())
	tk = mustAcquire(t, p, "users/u", 0)
	tk.Answered(http.StatusTooManyRequests, 0, false)
	assert.Equal(t, 1, limit(), "never under one")
	// Three cuts: a slot comes back after 8 × growAfter answers without
	// a 429, the next after as many again, up to the cap.
	for range 8*growAfter - 1 {
		tk.Answered(http.StatusCreated, 0, false)
	}
	assert.Equal(t, 1, limit())
	tk.Answered(http.StatusCreated, 0, false)
	assert.Equal(t, 2, limit())
	for range 3 * 8 * growAfter {
		tk.Answered(http.StatusOK, 0, false)
	}
	assert.Equal(t, 4, limit(), "back to the cap, not over it")
	tk.Done()
	// A 429 the client will not wait out holds nothing.
	tk = mustAcquire(t, p, "users/v", 0)
	tk.Answered(http.StatusTooManyRequests, 0, false)
	tk.Done()
	mustAcquire(t, p, "users/v", 0).Done()
}

func TestPaceByteBudgetAdaptsToIncomingBytes429s(t *testing.T) {
	p, _ := testPacer(t, Limits{Concurrency: 4, Bytes: 800, ByteWindow: time.Minute})
	stats := func() Stats { return p.Stats("users/u") }
	// An IncomingBytes 429 halves the byte budget, not the concurrency.
	tk := mustAcquire(t, p, "users/u", 100)
	tk.Answered(http.StatusTooManyRequests, 0, true)
	tk.Done()
	assert.Equal(t, Stats{Limit: 4, Bytes: 400}, stats())
	// The budget is what this client may send now; the refused 100 bytes
	// do not count, so 400 go at once and the next byte waits.
	mustAcquire(t, p, "users/u", 400).Done()
	calm := mustAcquire(t, p, "users/u", 0) // answers below, while a request waits
	got := goAcquire(p, "users/u", 1)
	awaitWaiting(p, "users/u", 1)
	// Never under an eighth.
	for range 5 {
		tk := mustAcquire(t, p, "users/v", 1)
		tk.Answered(http.StatusTooManyRequests, 0, true)
		tk.Done()
	}
	assert.Equal(t, int64(100), p.Stats("users/v").Bytes)
	// growAfter answers without a 429 give an eighth back, and the waiter
	// its room.
	for range growAfter {
		calm.Answered(http.StatusOK, 0, false)
	}
	calm.Done()
	assert.Equal(t, int64(500), stats().Bytes)
	(<-got).Done()
}

// closeCounter is a body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestPaceDoneWhenRead(t *testing.T) {
	p, _ := testPacer(t, Limits{Concurrency: 1})
	inFlight := func() int { return p.Stats("users/u").InFlight }

	// Reading to the end gives the slot back, once; Close afterwards does
	// not give it back twice.
	body := &closeCounter{Reader: strings.NewReader("hello")}
	r := mustAcquire(t, p, "users/u", 0).DoneWhenRead(body)
	assert.Equal(t, 1, inFlight())
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(b))
	assert.Equal(t, 0, inFlight())
	require.NoError(t, r.Close())
	assert.Equal(t, 1, body.closed)
	tk := mustAcquire(t, p, "users/u", 0) // the one slot is free again
	assert.Equal(t, 1, inFlight())

	// Close without reading gives it back too, and so does a read error.
	require.NoError(t, tk.DoneWhenRead(&closeCounter{Reader: strings.NewReader("x")}).Close())
	assert.Equal(t, 0, inFlight())
	r = mustAcquire(t, p, "users/u", 0).DoneWhenRead(&closeCounter{Reader: errReader{}})
	_, err = r.Read(make([]byte, 1))
	require.Error(t, err)
	assert.Equal(t, 0, inFlight())

	// The zero Ticket wraps nothing.
	assert.Same(t, body, Ticket{}.DoneWhenRead(body))
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("reset") }

func TestPaceNilPacesNothing(t *testing.T) {
	assert.Nil(t, New(Limits{MaxHold: time.Minute, RequestWindow: time.Minute}, nil), "nothing to pace")
	var p *Pacer
	tk, err := p.Acquire(context.Background(), "users/u", 10, nil)
	require.NoError(t, err)
	assert.Equal(t, Ticket{}, tk)
	tk.Answered(http.StatusTooManyRequests, time.Second, false)
	tk.Done()
	paid, err := p.Prepay(context.Background(), "users/u", 10)
	require.NoError(t, err)
	assert.Nil(t, paid)
	paid.Release()
	assert.Equal(t, Stats{}, p.Stats("users/u"))
	// A request with no mailbox is not paced either.
	q := New(Limits{Concurrency: 1}, nil)
	tk, err = q.Acquire(context.Background(), "", 0, nil)
	require.NoError(t, err)
	assert.Equal(t, Ticket{}, tk)
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

// A request behind a 429's hold whose ctx ends first gives up at once,
// saying how long the wait would be, instead of sleeping to its deadline.
func TestPaceHoldPastTheDeadlineGivesUpAtOnce(t *testing.T) {
	p, _ := testPacer(t, Limits{Concurrency: 4})
	tk := mustAcquire(t, p, "users/u", 0)
	tk.Answered(http.StatusTooManyRequests, 30*time.Second, false)
	tk.Done()
	// The fake clock never moves: only a wait known to pass the deadline
	// can end this call before its ctx does.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.Acquire(ctx, "users/u", 0, nil)
	var tl *TooLong
	require.ErrorAs(t, err, &tl)
	assert.Equal(t, 30*time.Second, tl.Wait)
	assert.Contains(t, err.Error(), "Retry-After")
	assert.NoError(t, ctx.Err(), "at once, not at the deadline")
	assert.Equal(t, 0, p.Stats("users/u").Waiting, "it left the queue")
}
