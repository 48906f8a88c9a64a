// Package pace keeps a client's requests to each mailbox under Outlook's
// limits before anything is sent.
//
// Outlook's limits per app and mailbox (GRAPH-FACTS, throttling) are 4
// concurrent requests, 10,000 requests per 10 minutes and 150 MB of request
// bodies (PATCH, POST, PUT) per 5 minutes; beyond them it answers 429
// ApplicationThrottled and the client sits out Retry-After. A Pacer keeps
// each mailbox under all three before anything is sent, so a job runs at
// what the limits allow instead of at what the 429s leave:
//
//   - concurrency: a request holds one of the mailbox's slots until its
//     answer is read (or closed);
//   - request budget: a request counts from when it is admitted; once its
//     answer is read it stays in the mailbox's sliding window for the
//     window's length;
//   - byte budget: a request's body bytes likewise (a chunk PUT reserves
//     its bytes before its ChunkTimeout starts: see Pacer.Prepay).
//
// Counting from the end of a request, not its start, is conservative: Graph
// counts a request when it arrives, which is earlier. Waiting honours ctx.
// When Graph answers 429 anyway (other processes on the mailbox, a budget
// spent before this client started), the mailbox adapts, as TCP does to
// loss: nothing more is sent to it until the Retry-After (when the client
// will wait for it), and the limit Graph names is cut: a concurrency 429
// halves the mailbox's concurrency (never under one), an IncomingBytes 429
// its byte budget (never under an eighth). The 429s of requests sent
// before a cut count as one. After enough answers without a 429 a slot and
// an eighth of the byte budget come back: growAfter answers at first, twice
// as many after each concurrency cut (up to maxGrowAfter). K processes
// that share a mailbox unknowingly so settle near its 4 slots and 150 MB
// between them, and probe for more ever more rarely.

// All of it is per mailbox: one mailbox's waits never hold up another's.
// Mailboxes are told apart by the route's key (users/{id or UPN},
// groups/{id}, me), so one mailbox reached by two keys is paced twice.
//
// A nil *Pacer paces nothing: its methods return at once, with a zero
// Ticket whose methods do nothing.
package pace

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Limits are a client's budgets per mailbox; a zero field is no limit.
type Limits struct {
	Concurrency   int           // requests in flight
	Requests      int           // requests per RequestWindow
	RequestWindow time.Duration // the request budget's sliding window
	Bytes         int64         // request body bytes per ByteWindow
	ByteWindow    time.Duration // the byte budget's sliding window
	MaxHold       time.Duration // the longest Retry-After a mailbox is held for
}

// Outlook's limits per app and mailbox.
const (
	DefaultConcurrency   = 4
	DefaultRequests      = 10_000
	DefaultRequestWindow = 10 * time.Minute
	DefaultBytes         = 150 << 20 // graphtest takes Outlook's "150 MB" as MiB too
	DefaultByteWindow    = 5 * time.Minute
)

// growAfter is how many answers without a 429 give a lowered mailbox one
// slot back at first; each cut doubles it, up to maxGrowAfter.
const (
	growAfter    = 32
	maxGrowAfter = 256
)

// Clock is a Pacer's time; tests step a fake one.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has passed, and a
	// function that stops the timer.
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Pacer holds the per-mailbox state of one client.
type Pacer struct {
	lim   Limits
	clk   Clock
	epoch time.Time
	mu    sync.Mutex
	boxes map[string]*mailbox
}

// New returns a Pacer for lim on clk (nil: the real clock), or nil when lim
// limits nothing.
func New(lim Limits, clk Clock) *Pacer {
	if lim.Concurrency <= 0 && lim.Requests <= 0 && lim.Bytes <= 0 {
		return nil
	}
	if clk == nil {
		clk = realClock{}
	}
	return &Pacer{lim: lim, clk: clk, epoch: clk.Now(), boxes: make(map[string]*mailbox)}
}

func (l *Pacer) box(name string) *mailbox {
	l.mu.Lock()
	p := l.boxes[name]
	if p == nil {
		p = &mailbox{l: l, name: name, limit: l.lim.Concurrency, byteCap: l.lim.Bytes, growAfter: growAfter}
		p.reqs.span = l.lim.RequestWindow
		p.bytes.span = l.lim.ByteWindow
		l.boxes[name] = p
	}
	l.mu.Unlock()
	return p
}

// Stats is a snapshot of one mailbox's pacing.
type Stats struct {
	InFlight int   // requests holding a slot
	Limit    int   // the concurrency cap now (0: none); lower than Limits.Concurrency after 429s
	Bytes    int64 // the byte budget now (0: none); lower than Limits.Bytes after IncomingBytes 429s
	Waiting  int   // requests waiting for room in the budgets or for a slot
}

// Stats returns mailbox's pacing now.
func (l *Pacer) Stats(mailbox string) Stats {
	if l == nil {
		return Stats{}
	}
	l.mu.Lock()
	p := l.boxes[mailbox]
	l.mu.Unlock()
	if p == nil {
		return Stats{Limit: l.lim.Concurrency, Bytes: l.lim.Bytes}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{InFlight: p.inFlight, Limit: p.limit, Bytes: p.byteCap, Waiting: len(p.budgetQ) + len(p.slotQ)}
}

// mailbox is one mailbox's state.
type mailbox struct {
	l    *Pacer
	name string

	mu           sync.Mutex
	inFlight     int
	limit        int   // the concurrency cap now: lim.Concurrency, lower after 429s
	byteCap      int64 // the byte budget now: lim.Bytes, lower after 429s
	pendingReqs  int   // admitted (or prepaid) and not yet ended
	pendingBytes int64
	reqs         window
	bytes        window
	holdUntil    int64  // no request starts before (ns since epoch), after a 429
	cuts         uint64 // times the cap was cut: a ticket admitted before the last cut does not cut again
	calm         int    // answers without a 429 since the concurrency cap last moved
	calmBytes    int    // answers without a 429 since the byte cap last moved
	growAfter    int    // calm answers that give a slot back: growAfter, doubled by each cut
	// Waiters, first come first served: budgetQ for room in the budgets,
	// slotQ for a slot (and the end of a hold). A request joins budgetQ
	// first, slotQ after; a prepaid one only slotQ, so nothing in slotQ
	// waits for what someone in budgetQ holds.
	budgetQ []*waiter
	slotQ   []*waiter
}

type waiter struct{ ch chan struct{} }

func (p *mailbox) now() int64 { return int64(p.l.clk.Now().Sub(p.l.epoch)) }

// budgetRoom says whether one more request carrying n body bytes fits both
// budgets now, and if not, when it may (0: not before something ends).
func (p *mailbox) budgetRoom(now, n int64) (bool, int64) {
	lim := &p.l.lim
	var at int64
	if lim.Requests > 0 {
		p.reqs.prune(now)
		if over := p.reqs.sum + int64(p.pendingReqs) + 1 - int64(lim.Requests); over > 0 {
			t, ok := p.reqs.freeAt(over)
			if !ok {
				return false, 0
			}
			at = t
		}
	}
	if lim.Bytes > 0 && n > 0 {
		p.bytes.prune(now)
		used := p.bytes.sum + p.pendingBytes
		over := used + n - p.byteCap
		if n > p.byteCap {
			over = used // bigger than the whole budget: it goes alone
		}
		if over > 0 {
			t, ok := p.bytes.freeAt(over)
			if !ok {
				return false, 0
			}
			at = max(at, t)
		}
	}
	return at == 0, at
}

// slotRoom says whether a request may take a slot now, and if not, when it
// may (0: not before a slot is given back).
func (p *mailbox) slotRoom(now int64) (bool, int64) {
	if now < p.holdUntil {
		return false, p.holdUntil
	}
	if p.limit > 0 && p.inFlight >= p.limit {
		return false, 0
	}
	return true, 0
}

// TooLong is a wait that would end past ctx's deadline: the request gives
// up at once rather than sleep until the deadline.
type TooLong struct {
	What string        // what it would wait for
	Wait time.Duration // how long
}

func (e *TooLong) Error() string {
	return fmt.Sprintf("eventattach: waiting for %s would take %s, past the context's deadline", e.What, e.Wait.Round(time.Millisecond))
}

// Wait is one wait of a request before it was sent, for traces.
type Wait struct {
	Reason string // "slot", "budget" or "429 hold"
	D      time.Duration
}

// wait queues on q until room says yes, then reserves with take, and
// returns how long that took. It returns ctx's error (wrapped in what) if
// ctx ends first, and a *TooLong at once when the time room names is past
// ctx's deadline.
func (p *mailbox) wait(ctx context.Context, q *[]*waiter, room func(now int64) (bool, int64), take func(), what func() string) (time.Duration, error) {
	w := &waiter{ch: make(chan struct{}, 1)}
	start := p.l.clk.Now()
	deadline, hasDeadline := ctx.Deadline()
	p.mu.Lock()
	*q = append(*q, w)
	for {
		var timer <-chan time.Time
		stop := func() bool { return false }
		if (*q)[0] == w {
			now := p.now()
			ok, at := room(now)
			if ok {
				take()
				*q = (*q)[1:]
				if len(*q) == 0 {
					*q = nil
				} else {
					nudge(*q)
				}
				p.mu.Unlock()
				return p.l.clk.Now().Sub(start), nil
			}
			if at > 0 && hasDeadline && time.Until(deadline) < time.Duration(at-now) {
				err := &TooLong{What: what(), Wait: time.Duration(at - now)}
				p.leave(q, w)
				p.mu.Unlock()
				return 0, err
			}
			if at > 0 {
				timer, stop = p.l.clk.NewTimer(time.Duration(at - now))
			}
		}
		p.mu.Unlock()
		select {
		case <-w.ch:
		case <-timer:
		case <-ctx.Done():
			stop()
			p.mu.Lock()
			msg := what()
			p.leave(q, w)
			p.mu.Unlock()
			return 0, fmt.Errorf("eventattach: waiting for %s: %w", msg, ctx.Err())
		}
		stop()
		p.mu.Lock()
	}
}

// leave takes w out of q, waking the next head if w was it.
func (p *mailbox) leave(q *[]*waiter, w *waiter) {
	for i, x := range *q {
		if x == w {
			*q = append((*q)[:i:i], (*q)[i+1:]...)
			if i == 0 && len(*q) > 0 {
				nudge(*q)
			}
			return
		}
	}
}

// nudge wakes the head of q to look again.
func nudge(q []*waiter) {
	if len(q) > 0 {
		select {
		case q[0].ch <- struct{}{}:
		default:
		}
	}
}

// Prepaid is a reservation made before the request, for its first attempt.
type Prepaid struct {
	p      *mailbox
	bytes  int64
	used   bool
	waited time.Duration // how long the reservation waited
}

// Prepay reserves one request and n body bytes of mailbox's budgets,
// waiting for room; the first attempt of the exchange that carries it uses
// them (in Acquire) instead of waiting where ChunkTimeout already runs.
// Release gives back what no attempt used. It returns nil when the mailbox
// has no budgets.
func (l *Pacer) Prepay(ctx context.Context, mailbox string, n int64) (*Prepaid, error) {
	if l == nil || mailbox == "" || (l.lim.Requests <= 0 && l.lim.Bytes <= 0) {
		return nil, nil
	}
	p := l.box(mailbox)
	d, err := p.reserve(ctx, n)
	if err != nil {
		return nil, err
	}
	return &Prepaid{p: p, bytes: n, waited: d}, nil
}

// Release gives back the reservation if no attempt used it.
func (pp *Prepaid) Release() {
	if pp == nil || pp.used {
		return
	}
	pp.used = true
	pp.p.unreserve(pp.bytes)
}

// unreserve gives back one request and n bytes reserved for a request
// that was not sent, and wakes the budget queue.
func (p *mailbox) unreserve(n int64) {
	p.mu.Lock()
	p.pendingReqs--
	p.pendingBytes -= n
	nudge(p.budgetQ)
	p.mu.Unlock()
}

// reserve waits for room for one request of n bytes and reserves it.
func (p *mailbox) reserve(ctx context.Context, n int64) (time.Duration, error) {
	lim := &p.l.lim
	if lim.Bytes <= 0 {
		n = 0
	}
	p.mu.Lock()
	if len(p.budgetQ) == 0 {
		if ok, _ := p.budgetRoom(p.now(), n); ok {
			p.pendingReqs++
			p.pendingBytes += n
			p.mu.Unlock()
			return 0, nil
		}
	}
	p.mu.Unlock()
	return p.reserveSlow(ctx, n)
}

func (p *mailbox) reserveSlow(ctx context.Context, n int64) (time.Duration, error) {
	lim := &p.l.lim
	return p.wait(ctx, &p.budgetQ, func(now int64) (bool, int64) { return p.budgetRoom(now, n) },
		func() { p.pendingReqs++; p.pendingBytes += n },
		func() string {
			return fmt.Sprintf("room in the budgets of mailbox %s (%d requests per %s and %d body bytes per %s; %d requests and %d bytes counted, %d more bytes wanted)",
				p.name, lim.Requests, lim.RequestWindow, p.byteCap, lim.ByteWindow, p.reqs.sum+int64(p.pendingReqs), p.bytes.sum+p.pendingBytes, n)
		})
}

// Acquire waits until a request of n body bytes to mailbox may go, and
// returns what it holds; paid, when set and unused, stands in for the
// budgets. A zero Ticket means the mailbox is not paced.
func (l *Pacer) Acquire(ctx context.Context, mailbox string, n int64, paid *Prepaid) (Ticket, error) {
	if l == nil || mailbox == "" {
		return Ticket{}, nil
	}
	p := l.box(mailbox)
	t := Ticket{p: p}
	if l.lim.Bytes > 0 {
		t.bytes = n
	}
	budgets := l.lim.Requests > 0 || l.lim.Bytes > 0
	if paid != nil && !paid.used && paid.p == p {
		paid.used = true
		t.bytes, t.counted = paid.bytes, true
		if paid.waited > 0 {
			t.Waits = append(t.Waits, Wait{Reason: "budget", D: paid.waited})
		}
		budgets = false
	}
	p.mu.Lock()
	if len(p.budgetQ) == 0 && len(p.slotQ) == 0 {
		now := p.now()
		okB := true
		if budgets {
			okB, _ = p.budgetRoom(now, t.bytes)
		}
		if okS, _ := p.slotRoom(now); okB && okS {
			if budgets {
				p.pendingReqs++
				p.pendingBytes += t.bytes
				t.counted = true
			}
			p.inFlight++
			t.slot, t.cuts = true, p.cuts
			p.mu.Unlock()
			return t, nil
		}
	}
	p.mu.Unlock()
	return p.acquireSlow(ctx, t, budgets)
}

func (p *mailbox) acquireSlow(ctx context.Context, t Ticket, budgets bool) (Ticket, error) {
	if budgets {
		d, err := p.reserve(ctx, t.bytes)
		if err != nil {
			return Ticket{}, err
		}
		if d > 0 {
			t.Waits = append(t.Waits, Wait{Reason: "budget", D: d})
		}
		t.counted = true
	}
	p.mu.Lock()
	reason := "slot"
	if p.now() < p.holdUntil {
		reason = "429 hold"
	}
	p.mu.Unlock()
	d, err := p.wait(ctx, &p.slotQ, p.slotRoom, func() { p.inFlight++; t.cuts = p.cuts }, func() string {
		if p.now() < p.holdUntil {
			return fmt.Sprintf("the end of Graph's Retry-After for mailbox %s (%d in flight)", p.name, p.inFlight)
		}
		return fmt.Sprintf("a free request slot for mailbox %s (%d of %d in flight)", p.name, p.inFlight, p.limit)
	})
	if err != nil {
		t.cancel()
		return Ticket{}, err
	}
	if d > 0 {
		t.Waits = append(t.Waits, Wait{Reason: reason, D: d})
	}
	t.slot = true
	return t, nil
}
