package eventattach

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
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
	ctx      context.Context
	cancel   context.CancelCauseFunc
	mu       sync.Mutex
	armed    bool
	stall    *time.Timer
	limit    *time.Timer
	limitFor time.Duration
	stallFor time.Duration
	limitErr error
	stallErr error
}

func newWatch(ctx context.Context, attempt, stall time.Duration, onLimit, onStall *BoundError) *watch {
	actx, cancel := context.WithCancelCause(ctx)
	return &watch{ctx: actx, cancel: cancel, limitFor: attempt, stallFor: stall, limitErr: onLimit, stallErr: onStall}
}

// arm starts both limits: the request is admitted (pacing waits for a
// mailbox's slot or budget come before, and are no stall).
func (w *watch) arm() {
	w.mu.Lock()
	if w.armed { // a redirect's round trip: already running
		w.mu.Unlock()
		return
	}
	w.armed = true
	if w.limitFor > 0 {
		w.limit = time.AfterFunc(w.limitFor, func() { w.cancel(w.limitErr) })
	}
	w.mu.Unlock()
	w.kick()
}

// kick is progress: a byte went out or came in.
func (w *watch) kick() {
	if w == nil || w.stallFor <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.armed {
		return
	}
	if w.stall == nil {
		w.stall = time.AfterFunc(w.stallFor, func() { w.cancel(w.stallErr) })
		return
	}
	w.stall.Reset(w.stallFor)
}

func (w *watch) handOver() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.limit != nil {
		w.limit.Stop()
	}
}

func (w *watch) stop() {
	if w == nil {
		return
	}
	w.handOver()
	w.mu.Lock()
	if w.stall != nil {
		w.stall.Stop()
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
