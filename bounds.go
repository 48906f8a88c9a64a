package eventattach

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds: every attempt of every request ends in bounded time, even when
// ctx has no deadline. Two limits, both per attempt:
//
//   - the attempt limit: from sending the request to the end of reading its
//     answer (ClientOptions.AttemptTimeout; an upload chunk's is
//     FileUpload.ChunkTimeout). A Content body is the caller's to read: its
//     limit ends once the answer's headers are in.
//   - the stall limit: no byte sent or received for ClientOptions.StallTimeout,
//     from the first byte of the request to the last of the answer.
//
// An attempt that passes either ends with a *BoundError, which names the
// request and the limit, never the caller's deadline; the engine then
// treats it like a lost answer (retried, or reconciled when it may have
// landed).

const (
	defaultAttemptTimeout = 2 * time.Minute
	defaultStallTimeout   = 60 * time.Second
)

// BoundError is an attempt ended by the SDK's own limit: Stalled when no
// byte moved for Limit, otherwise the whole attempt took longer than Limit.
type BoundError struct {
	Method, Route string // the request, its query left out
	Stalled       bool
	Limit         time.Duration
	Option        string // the option that sets Limit
}

func (e *BoundError) Error() string {
	what := strings.TrimSpace(e.Method + " " + e.Route)
	if e.Stalled {
		return fmt.Sprintf("eventattach: %s stalled: no byte sent or received for %s (%s)", what, e.Limit, e.Option)
	}
	return fmt.Sprintf("eventattach: %s timed out: no complete answer within %s (%s)", what, e.Limit, e.Option)
}

// Timeout makes a BoundError a net.Error-style timeout.
func (e *BoundError) Timeout() bool { return true }

// watch bounds one attempt: kick records progress, handOver ends the
// attempt limit (the answer's body is the caller's to read), stop ends both
// and the attempt's context.
type watch struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	// One timer serves both limits: it fires at the earlier of the attempt's
	// end and a stall's, and a kick only records the time (no timer work on
	// every read).
	timer    *time.Timer
	lastKick atomic.Int64 // unix nanoseconds of the last progress
	deadline int64        // the attempt limit's end; 0: none (or handed over)
	mu       sync.Mutex
	armed    bool
	limitFor time.Duration
	stallFor time.Duration
	method   string
	url      string // the request's, its query a secret: errors show routeOf(url)
	option   string // the option that set limitFor
}

func newWatch(ctx context.Context, attempt, stall time.Duration, method, rawURL, option string) *watch {
	actx, cancel := context.WithCancelCause(ctx)
	return &watch{ctx: actx, cancel: cancel, limitFor: attempt, stallFor: stall, method: method, url: rawURL, option: option}
}

// routeOf is a URL without its query, for errors.
func routeOf(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Scheme + "://" + u.Host + u.EscapedPath()
	}
	return redact(rawURL)
}

// arm starts both limits: the request is admitted (pacing waits for a
// mailbox's slot or budget come before, and are no stall).
func (w *watch) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.armed { // a redirect's round trip: already running
		return
	}
	w.armed = true
	now := time.Now().UnixNano()
	w.lastKick.Store(now)
	if w.limitFor > 0 {
		w.deadline = now + int64(w.limitFor)
	}
	if d := w.next(now); d > 0 {
		w.timer = time.AfterFunc(d, w.check)
	}
}

// next is how long until the earlier limit, from now; 0 when none runs.
func (w *watch) next(now int64) time.Duration {
	var at int64
	if w.stallFor > 0 {
		at = w.lastKick.Load() + int64(w.stallFor)
	}
	if w.deadline > 0 && (at == 0 || w.deadline < at) {
		at = w.deadline
	}
	if at == 0 {
		return 0
	}
	return max(time.Duration(at-now), time.Nanosecond)
}

// check runs when the timer fires: a limit passed, or progress moved the
// stall's end and the timer goes again.
func (w *watch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer == nil {
		return // stopped
	}
	now := time.Now().UnixNano()
	switch {
	case w.deadline > 0 && now >= w.deadline:
		w.cancel(&BoundError{Method: w.method, Route: routeOf(w.url), Limit: w.limitFor, Option: w.option})
	case w.stallFor > 0 && now >= w.lastKick.Load()+int64(w.stallFor):
		w.cancel(&BoundError{Method: w.method, Route: routeOf(w.url), Stalled: true, Limit: w.stallFor, Option: "ClientOptions.StallTimeout"})
	default:
		if d := w.next(now); d > 0 {
			w.timer.Reset(d)
		}
	}
}

// kick is progress: a byte went out or came in.
func (w *watch) kick() {
	if w != nil {
		w.lastKick.Store(time.Now().UnixNano())
	}
}

// handOver ends the attempt limit: the body is now read at the caller's pace.
func (w *watch) handOver() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = 0
}

// stop ends the watch and the attempt's context.
func (w *watch) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.mu.Unlock()
	w.cancel(nil)
}

// bound is the BoundError that ended the attempt, or err as it is.
func (w *watch) bound(err error) error {
	if w == nil || err == nil {
		return err
	}
	if be, ok := context.Cause(w.ctx).(*BoundError); ok {
		return be
	}
	return err
}

// watchedReader kicks the watch on every read that moves bytes; closing it
// stops the watch when it owns it (a Content body).
type watchedReader struct {
	r      io.Reader
	w      *watch
	closer io.Closer
	owns   bool
	once   sync.Once
}

func (r *watchedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.w.kick()
	}
	return n, r.w.bound(err)
}

func (r *watchedReader) Close() error {
	var err error
	if r.closer != nil {
		err = r.closer.Close()
	}
	if r.owns {
		r.once.Do(r.w.stop)
	}
	return err
}

// authorization is the token cache's, bounded by AttemptTimeout: a
// credential that never answers ends the call with a *BoundError.
func (c *Client) authorization(ctx context.Context, claims string) (string, error) {
	if h, ok := c.tokens.cached(claims); ok {
		return h, nil
	}
	if c.attemptTimeout <= 0 {
		return c.tokens.authorization(ctx, claims)
	}
	be := &BoundError{Route: "the credential's GetToken", Limit: c.attemptTimeout, Option: "ClientOptions.AttemptTimeout"}
	tctx, cancel := context.WithTimeoutCause(ctx, c.attemptTimeout, be)
	defer cancel()
	h, err := c.tokens.authorization(tctx, claims)
	if err != nil && ctx.Err() == nil && context.Cause(tctx) == be {
		return "", fmt.Errorf("eventattach: getting a token: %w", be)
	}
	return h, err
}
