package pace

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Ticket is what a request holds: its slot and reservations. The zero
// Ticket (an unpaced mailbox) holds nothing, and its methods do nothing.
type Ticket struct {
	p       *mailbox
	bytes   int64
	counted bool // holds a unit of the request budget
	slot    bool // holds a slot
	// Waits are the waits before the request could go (for traces).
	Waits []Wait
}

// cancel gives back the reservations of a ticket whose request was not
// sent.
func (t *Ticket) cancel() {
	if t.p == nil || !t.counted {
		return
	}
	t.p.unreserve(t.bytes)
	t.counted = false
}

// Done ends the request: its slot comes back, and what it counted enters
// the windows, from now. Call it once.
func (t Ticket) Done() {
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
		if p.l.lim.Requests > 0 {
			p.reqs.add(now, 1)
		}
		if t.bytes > 0 {
			p.bytes.add(now, t.bytes)
		}
		nudge(p.budgetQ) // its wake-up time may be known now
	}
	p.mu.Unlock()
}

// Answered adapts the mailbox to an answer's status. retryAfter is Graph's
// Retry-After when the client will wait it out (0 otherwise).
func (t Ticket) Answered(status int, retryAfter time.Duration) {
	p := t.p
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if status != http.StatusTooManyRequests {
		p.strikes = 0
		if p.limit < p.l.lim.Concurrency {
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
		p.holdUntil = max(p.holdUntil, p.now()+int64(min(retryAfter, p.l.lim.MaxHold)))
	}
	if p.strikes++; p.strikes >= 2 && p.limit > 1 {
		p.limit--
		p.strikes = 0
	}
}

// DoneWhenRead returns body wrapped to call Done when it is closed or its
// reading ends (at EOF or on an error), whichever comes first, once: a
// request is in flight until its answer has been read. For the zero Ticket
// it returns body itself.
func (t Ticket) DoneWhenRead(body io.ReadCloser) io.ReadCloser {
	if t.p == nil {
		return body
	}
	return &releasingBody{ReadCloser: body, t: t}
}

// releasingBody is DoneWhenRead's body.
type releasingBody struct {
	io.ReadCloser
	t    Ticket
	done atomic.Bool
}

func (b *releasingBody) release() {
	if b.done.CompareAndSwap(false, true) {
		b.t.Done()
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
