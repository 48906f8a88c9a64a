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
	counted bool   // holds a unit of the request budget
	slot    bool   // holds a slot
	cuts    uint64 // the mailbox's cuts when it took its slot
	refused bool   // answered 429: its body was not taken in
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
		if t.bytes > 0 && !t.refused {
			p.bytes.add(now, t.bytes)
		}
		nudge(p.budgetQ) // its wake-up time may be known now
	}
	p.mu.Unlock()
}

// Answered adapts the mailbox to an answer's status. retryAfter is Graph's
// Retry-After when the client will wait it out (0 otherwise); overBytes
// says a 429 was for the byte budget (IncomingBytes), not the concurrency.
//
// A 429's body bytes leave the byte budget's window at Done: the mailbox
// refused them (graphtest charges a refused body nothing; no page says how
// Outlook counts it), and counting them would put this client's estimate
// ever further ahead of Graph's while it is being throttled.
func (t *Ticket) Answered(status int, retryAfter time.Duration, overBytes bool) {
	p := t.p
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	lim := &p.l.lim
	if status != http.StatusTooManyRequests {
		if p.limit < lim.Concurrency {
			if p.calm++; p.calm >= p.growAfter {
				p.limit++
				p.calm = 0
				nudge(p.slotQ)
			}
		}
		if p.byteCap < lim.Bytes {
			if p.calmBytes++; p.calmBytes >= growAfter {
				p.byteCap = min(p.byteCap+lim.Bytes/8, lim.Bytes)
				p.calmBytes = 0
				nudge(p.budgetQ)
			}
		}
		return
	}
	p.calm, p.calmBytes = 0, 0
	t.refused = true
	if retryAfter > 0 {
		p.holdUntil = max(p.holdUntil, p.now()+int64(min(retryAfter, lim.MaxHold)))
	}
	// Sent under the current caps: cut the one Graph named. Sent before
	// the last cut: that cut already answered this crowd.
	if t.cuts != p.cuts {
		return
	}
	p.cuts++
	if overBytes {
		p.byteCap = max(lim.Bytes/8, p.byteCap/2)
		return
	}
	p.limit = max(1, p.limit/2)
	p.growAfter = min(2*p.growAfter, maxGrowAfter)
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
