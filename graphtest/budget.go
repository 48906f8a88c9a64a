package graphtest

import (
	"net/http"
	"time"
)

// received is one request body charged to a mailbox's upload byte budget.
type received struct {
	at time.Time
	n  int64
}

// isUpload tells whether a method's body counts against the upload byte
// budget: PATCH, POST and PUT (includes/throttling-outlook.md).
func isUpload(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// chargeIncoming takes n body bytes from the mailbox's budget of
// Options.UploadByteLimit per Options.UploadByteWindow (sliding), or reports
// false, charging nothing, when they would go over it, with how long until
// they would fit.
//
// n < 0 is a body of unknown length (chunked): it is refused only when the
// window is full already, and charged later (chargeRead).
func (s *Server) chargeIncoming(mb *Mailbox, n int64) (bool, time.Duration) {
	if s.opts.UploadByteLimit < 0 || n == 0 {
		return true, 0
	}
	unknown := n < 0
	if unknown {
		n = 1
	}
	now := s.opts.Clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.incoming[mb]
	i := 0
	for i < len(log) && !log[i].at.After(now.Add(-s.opts.UploadByteWindow)) {
		i++
	}
	log = log[i:]
	var used int64
	for _, r := range log {
		used += r.n
	}
	if used+n > s.opts.UploadByteLimit {
		s.incoming[mb] = log
		// Room comes when enough of the oldest bytes leave the window (all
		// of them for a body over the whole budget).
		need, wait := used+n-s.opts.UploadByteLimit, time.Duration(0)
		for _, r := range log {
			need -= r.n
			wait = r.at.Add(s.opts.UploadByteWindow).Sub(now)
			if need <= 0 {
				break
			}
		}
		return false, wait
	}
	if unknown {
		s.incoming[mb] = log
	} else {
		s.incoming[mb] = append(log, received{now, n})
	}
	return true, 0
}

// chargeRequest charges a PATCH/POST/PUT body with a known length before it
// is handled; it answers the 429 itself and reports false when over budget.
// A body without Content-Length is refused when the window is full, else
// charged after it is read (chargeRead).
// A body the budget takes then takes the Latency model's time per MiB.
func (c *call) chargeRequest(mb *Mailbox) bool {
	if !isUpload(c.r.Method) || c.r.ContentLength == 0 {
		return true
	}
	// A body of unknown length passes unless the window is full already.
	ok, wait := c.s.chargeIncoming(mb, c.r.ContentLength)
	if ok {
		return c.bodyLatency <= 0 || sleepCtx(c.r.Context(), c.bodyLatency)
	}
	// Source: includes/throttling-outlook.md (150 MB per 5 minutes) and
	// alcionai/corso#3695 (the message).
	c.failRetry(http.StatusTooManyRequests, "ApplicationThrottled",
		"Application is over its IncomingBytes limit.", c.s.retryAfter(max(wait, time.Millisecond)))
	return false
}

// admit takes one of the mailbox's in-flight slots and counts the request
// against its request budget, or answers the 429 itself and reports false.
// The slot is given back when the answer starts, or by the caller's
// releaseSlot when the handler returns.
func (c *call) admit(mb *Mailbox) bool {
	s := c.s
	if !s.acquire(mb) {
		c.throttle()
		return false
	}
	c.slot = mb
	if ok, wait := s.chargeRequestBudget(mb); !ok {
		c.releaseSlot()
		// Source: includes/throttling-outlook.md (10,000 requests per 10
		// minutes); the message is not documented (see Options.RequestLimit).
		c.failRetry(http.StatusTooManyRequests, "ApplicationThrottled",
			"Application is over its MailboxRequests limit.", s.retryAfter(max(wait, time.Millisecond)))
		return false
	}
	return true
}

// chargeRequestBudget counts one request against the mailbox's budget of
// Options.RequestLimit per Options.RequestWindow (sliding), or reports
// false, counting nothing, with how long until there is room.
func (s *Server) chargeRequestBudget(mb *Mailbox) (bool, time.Duration) {
	if s.opts.RequestLimit < 0 {
		return true, 0
	}
	now := s.opts.Clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.requests[mb]
	cut := now.Add(-s.opts.RequestWindow)
	i := 0
	for i < len(log) && !log[i].After(cut) {
		i++
	}
	log = log[i:]
	if len(log) >= s.opts.RequestLimit {
		s.requests[mb] = log
		return false, log[len(log)-s.opts.RequestLimit].Add(s.opts.RequestWindow).Sub(now)
	}
	s.requests[mb] = append(log, now)
	return true, 0
}

// chargeRead charges the bytes of a body sent without Content-Length, once
// the handler has read it; they may push the window over the budget, which
// then throttles the next request.
func (c *call) chargeRead(mb *Mailbox) {
	if !isUpload(c.r.Method) || c.r.ContentLength >= 0 {
		return
	}
	if b, ok := c.r.Body.(*captureBody); ok && b.n > 0 {
		c.s.mu.Lock()
		c.s.incoming[mb] = append(c.s.incoming[mb], received{c.s.opts.Clock(), b.n})
		c.s.mu.Unlock()
	}
}
