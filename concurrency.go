package eventattach

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Pacing: Outlook's limits per app and mailbox (GRAPH-FACTS, throttling) are
// 4 concurrent requests, 10,000 requests per 10 minutes and 150 MB of
// request bodies (PATCH, POST, PUT) per 5 minutes; beyond them it answers
// 429 ApplicationThrottled and the client sits out Retry-After. The pacer
// keeps each mailbox under all three before anything is sent, so a job
// runs at what the limits allow instead of at what the 429s leave:
//
//   - concurrency: a request holds one of the mailbox's slots until its
//     answer is read (or closed);
//   - request budget: a request counts from when it is admitted; once its
//     answer is read it stays in the mailbox's sliding window for the
//     window's length;
//   - byte budget: a request's body bytes likewise (a chunk PUT reserves
//     its bytes before its ChunkTimeout starts: see prepay).
//
// Counting from the end of a request, not its start, is conservative: Graph
// counts a request when it arrives, which is earlier. Waiting honours ctx.
// When Graph answers 429 anyway (another process on the mailbox, a budget
// spent before this client started), the mailbox adapts: nothing more is
// sent to it until the Retry-After (when the client will wait for it), and
// every second 429 in a row takes one slot off its concurrency, given back
// after growAfter answers without a 429.
//
// All of it is per mailbox: one mailbox's waits never hold up another's.
// Mailboxes are told apart by the route's key (users/{id or UPN},
// groups/{id}, me), so one mailbox reached by two keys is paced twice.

// paceLimits are a client's budgets per mailbox; a zero field is no limit.
type paceLimits struct {
	concurrency int
	requests    int
	requestWin  time.Duration
	bytes       int64
	bytesWin    time.Duration
	maxHold     time.Duration // the longest Retry-After a mailbox is held for
}

const (
	defaultRequestBudget = 10_000
	defaultRequestWindow = 10 * time.Minute
	defaultByteBudget    = 150 << 20 // graphtest takes Outlook's "150 MB" as MiB too
	defaultByteWindow    = 5 * time.Minute
	// growAfter is how many answers without a 429 give a lowered mailbox
	// one slot back.
	growAfter = 32
	// windowSlices: a window keeps at most about this many entries; requests
	// ending within 1/windowSlices of the window are kept as one entry,
	// stamped with the latest end (so never counted shorter than they are).
	windowSlices = 1024
)

// clock is the pacer's time; tests step a fake one.
type clock interface {
	Now() time.Time
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// pacer holds the per-mailbox state of one Client.
type pacer struct {
	lim    paceLimits
	clk    clock
	epoch  time.Time
	onWait func() // tests: called when a request starts waiting
	mu     sync.Mutex
	boxes  map[string]*mailboxPace
}

func newPacer(lim paceLimits, clk clock) *pacer {
	if lim.concurrency <= 0 && lim.requests <= 0 && lim.bytes <= 0 {
		return nil
	}
	if clk == nil {
		clk = realClock{}
	}
	return &pacer{lim: lim, clk: clk, epoch: clk.Now(), boxes: make(map[string]*mailboxPace)}
}

func (l *pacer) box(mailbox string) *mailboxPace {
	l.mu.Lock()
	p := l.boxes[mailbox]
	if p == nil {
		p = &mailboxPace{l: l, name: mailbox, limit: l.lim.concurrency}
		p.reqs.span = l.lim.requestWin
		p.bytes.span = l.lim.bytesWin
		l.boxes[mailbox] = p
	}
	l.mu.Unlock()
	return p
}

// mailboxPace is one mailbox's state.
type mailboxPace struct {
	l    *pacer
	name string

	mu           sync.Mutex
	inFlight     int
	limit        int // the concurrency cap now: lim.concurrency, lower after 429s
	pendingReqs  int // admitted (or prepaid) and not yet ended
	pendingBytes int64
	reqs         window
	bytes        window
	holdUntil    int64 // no request starts before (ns since epoch), after a 429
	strikes      int   // 429s in a row
	calm         int   // answers without a 429 since the cap last moved
	// Waiters, first come first served: budgetQ for room in the budgets,
	// slotQ for a slot (and the end of a hold). A request joins budgetQ
	// first, slotQ after; a prepaid one only slotQ, so nothing in slotQ
	// waits for what someone in budgetQ holds.
	budgetQ []*waiter
	slotQ   []*waiter
}

type waiter struct{ ch chan struct{} }

// window is a sliding window of amounts that ended at given times.
type window struct {
	span time.Duration
	ents []windowEntry
	head int
	sum  int64
}

type windowEntry struct {
	first, last int64 // ns since epoch: the entry's first and latest end
	n           int64
}

// prune drops what ended at least span before now.
func (w *window) prune(now int64) {
	cut := now - int64(w.span)
	for w.head < len(w.ents) && w.ents[w.head].last <= cut {
		w.sum -= w.ents[w.head].n
		w.head++
	}
	if w.head == len(w.ents) {
		w.ents, w.head = w.ents[:0], 0
	} else if w.head > 64 && w.head*2 > len(w.ents) {
		w.ents = w.ents[:copy(w.ents, w.ents[w.head:])]
		w.head = 0
	}
}

func (w *window) add(now, n int64) {
	w.sum += n
	if k := len(w.ents) - 1; k >= w.head && now-w.ents[k].first < int64(w.span)/windowSlices {
		w.ents[k].last = max(w.ents[k].last, now)
		w.ents[k].n += n
		return
	}
	w.ents = append(w.ents, windowEntry{first: now, last: now, n: n})
}

// freeAt is when at least need of the window's sum will have left it; ok
// is false when the window holds less than need.
func (w *window) freeAt(need int64) (int64, bool) {
	var freed int64
	for _, e := range w.ents[w.head:] {
		if freed += e.n; freed >= need {
			return e.last + int64(w.span), true
		}
	}
	return 0, false
}

func (p *mailboxPace) now() int64 { return int64(p.l.clk.Now().Sub(p.l.epoch)) }

// budgetRoom says whether one more request carrying n body bytes fits both
// budgets now, and if not, when it may (0: not before something ends).
func (p *mailboxPace) budgetRoom(now, n int64) (bool, int64) {
	lim := &p.l.lim
	var at int64
	if lim.requests > 0 {
		p.reqs.prune(now)
		if over := p.reqs.sum + int64(p.pendingReqs) + 1 - int64(lim.requests); over > 0 {
			t, ok := p.reqs.freeAt(over)
			if !ok {
				return false, 0
			}
			at = t
		}
	}
	if lim.bytes > 0 && n > 0 {
		p.bytes.prune(now)
		used := p.bytes.sum + p.pendingBytes
		over := used + n - lim.bytes
		if n > lim.bytes {
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
func (p *mailboxPace) slotRoom(now int64) (bool, int64) {
	if now < p.holdUntil {
		return false, p.holdUntil
	}
	if p.limit > 0 && p.inFlight >= p.limit {
		return false, 0
	}
	return true, 0
}

// wait queues on q until room says yes, then reserves with take. It
// returns ctx's error (wrapped in what) if ctx ends first.
func (p *mailboxPace) wait(ctx context.Context, q *[]*waiter, room func(now int64) (bool, int64), take func(), what func() string) error {
	w := &waiter{ch: make(chan struct{}, 1)}
	p.mu.Lock()
	*q = append(*q, w)
	if hook := p.l.onWait; hook != nil {
		hook()
	}
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
				return nil
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
			for i, x := range *q {
				if x == w {
					*q = append((*q)[:i:i], (*q)[i+1:]...)
					if i == 0 && len(*q) > 0 {
						nudge(*q)
					}
					break
				}
			}
			p.mu.Unlock()
			return fmt.Errorf("eventattach: waiting for %s: %w", msg, ctx.Err())
		}
		stop()
		p.mu.Lock()
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

// ticket is what a request holds: its slot and reservations.
type ticket struct {
	p       *mailboxPace
	bytes   int64
	counted bool // holds a unit of the request budget
	slot    bool // holds a slot
}

// prepaid is a reservation made before the request, for its first attempt.
type prepaid struct {
	p     *mailboxPace
	bytes int64
	used  bool
}

// prepay reserves one request and n body bytes of mailbox's budgets,
// waiting for room; the first attempt of the exchange that carries it uses
// them instead of waiting in RoundTrip (where ChunkTimeout already runs).
// release gives back what no attempt used.
func (l *pacer) prepay(ctx context.Context, mailbox string, n int64) (*prepaid, error) {
	if l == nil || mailbox == "" || (l.lim.requests <= 0 && l.lim.bytes <= 0) {
		return nil, nil
	}
	p := l.box(mailbox)
	if err := p.reserve(ctx, n); err != nil {
		return nil, err
	}
	return &prepaid{p: p, bytes: n}, nil
}

func (pp *prepaid) release() {
	if pp == nil || pp.used {
		return
	}
	pp.used = true
	p := pp.p
	p.mu.Lock()
	p.pendingReqs--
	p.pendingBytes -= pp.bytes
	nudge(p.budgetQ)
	p.mu.Unlock()
}

// reserve waits for room for one request of n bytes and reserves it.
func (p *mailboxPace) reserve(ctx context.Context, n int64) error {
	lim := &p.l.lim
	if lim.bytes <= 0 {
		n = 0
	}
	p.mu.Lock()
	if len(p.budgetQ) == 0 {
		if ok, _ := p.budgetRoom(p.now(), n); ok {
			p.pendingReqs++
			p.pendingBytes += n
			p.mu.Unlock()
			return nil
		}
	}
	p.mu.Unlock()
	return p.reserveSlow(ctx, n)
}

func (p *mailboxPace) reserveSlow(ctx context.Context, n int64) error {
	lim := &p.l.lim
	return p.wait(ctx, &p.budgetQ, func(now int64) (bool, int64) { return p.budgetRoom(now, n) },
		func() { p.pendingReqs++; p.pendingBytes += n },
		func() string {
			return fmt.Sprintf("room in the budgets of mailbox %s (%d requests per %s and %d body bytes per %s; %d requests and %d bytes counted, %d more bytes wanted)",
				p.name, lim.requests, lim.requestWin, lim.bytes, lim.bytesWin, p.reqs.sum+int64(p.pendingReqs), p.bytes.sum+p.pendingBytes, n)
		})
}

// acquire waits until a request of n body bytes to mailbox may go, and
// returns what it holds; paid, when set and unused, stands in for the
// budgets. A zero ticket means the mailbox is not paced.
func (l *pacer) acquire(ctx context.Context, mailbox string, n int64, paid *prepaid) (ticket, error) {
	if l == nil || mailbox == "" {
		return ticket{}, nil
	}
	p := l.box(mailbox)
	t := ticket{p: p}
	if l.lim.bytes > 0 {
		t.bytes = n
	}
	budgets := l.lim.requests > 0 || l.lim.bytes > 0
	if paid != nil && !paid.used && paid.p == p {
		paid.used = true
		t.bytes, t.counted = paid.bytes, true
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
			t.slot = true
			p.mu.Unlock()
			return t, nil
		}
	}
	p.mu.Unlock()
	return p.acquireSlow(ctx, t, budgets)
}

func (p *mailboxPace) acquireSlow(ctx context.Context, t ticket, budgets bool) (ticket, error) {
	if budgets {
		if err := p.reserve(ctx, t.bytes); err != nil {
			return ticket{}, err
		}
		t.counted = true
	}
	err := p.wait(ctx, &p.slotQ, p.slotRoom, func() { p.inFlight++ }, func() string {
		if p.now() < p.holdUntil {
			return fmt.Sprintf("the end of Graph's Retry-After for mailbox %s (%d in flight)", p.name, p.inFlight)
		}
		return fmt.Sprintf("a free request slot for mailbox %s (%d of %d in flight)", p.name, p.inFlight, p.limit)
	})
	if err != nil {
		t.cancel()
		return ticket{}, err
	}
	t.slot = true
	return t, nil
}

// cancel gives back the reservations of a ticket whose request was not
// sent.
func (t *ticket) cancel() {
	if t.p == nil || !t.counted {
		return
	}
	p := t.p
	p.mu.Lock()
	p.pendingReqs--
	p.pendingBytes -= t.bytes
	nudge(p.budgetQ)
	p.mu.Unlock()
	t.counted = false
}

// done ends the request: its slot comes back, and what it counted enters
// the windows, from now.
func (t ticket) done() {
	p := t.p
	if p == nil {
		return
	}
	p.mu.Lock()
	now := p.now()
	if t.slot {
		p.inFlight--
		nudge(p.slotQ)
	}
	if t.counted {
		p.pendingReqs--
		p.pendingBytes -= t.bytes
		if p.l.lim.requests > 0 {
			p.reqs.add(now, 1)
		}
		if t.bytes > 0 {
			p.bytes.add(now, t.bytes)
		}
		nudge(p.budgetQ) // its wake-up time may be known now
	}
	p.mu.Unlock()
}

// answered adapts the mailbox to an answer's status. retryAfter is Graph's
// Retry-After when the client will wait it out (0 otherwise).
func (t ticket) answered(status int, retryAfter time.Duration) {
	p := t.p
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if status != 429 {
		p.strikes = 0
		if p.limit < p.l.lim.concurrency {
			if p.calm++; p.calm >= growAfter {
				p.limit++
				p.calm = 0
				nudge(p.slotQ)
			}
		}
		return
	}
	p.calm = 0
	if retryAfter > 0 {
		p.holdUntil = max(p.holdUntil, p.now()+int64(min(retryAfter, p.l.lim.maxHold)))
	}
	if p.strikes++; p.strikes >= 2 && p.limit > 1 {
		p.limit--
		p.strikes = 0
	}
}

// releasingBody ends the request (ticket.done) when the response body is
// closed or its reading ends (at EOF or on an error), whichever comes
// first: a request is in flight until its answer has been read.
type releasingBody struct {
	io.ReadCloser
	t    ticket
	done atomic.Bool
}

func (b *releasingBody) release() {
	if b.done.CompareAndSwap(false, true) {
		b.t.done()
	}
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.release()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
