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
// false, charging nothing, when they would go over it.
func (s *Server) chargeIncoming(mb *Mailbox, n int64) bool {
	if s.opts.UploadByteLimit < 0 || n <= 0 {
		return true
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
		return false
	}
	s.incoming[mb] = append(log, received{now, n})
	return true
}

// chargeRequest charges a PATCH/POST/PUT body with a known length before it
// is handled; it answers the 429 itself and reports false when over budget.
// A body without Content-Length is charged after it is read (chargeRead).
func (c *call) chargeRequest(mb *Mailbox) bool {
	if !isUpload(c.r.Method) || c.r.ContentLength <= 0 {
		return true
	}
	if c.s.chargeIncoming(mb, c.r.ContentLength) {
		return true
	}
	// Source: includes/throttling-outlook.md (150 MB per 5 minutes) and
	// alcionai/corso#3695 (the message).
	c.failRetry(http.StatusTooManyRequests, "ApplicationThrottled",
		"Application is over its IncomingBytes limit.", c.s.opts.ThrottleRetryAfter)
	return false
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
