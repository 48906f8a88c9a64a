package eventattach

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// create POSTs an attachment to url. The engine never sends it twice
// blindly: when the POST may have landed, its reconcile reads the event (the
// package doc's Duplicate check) and the POST goes again only if the
// attachment is not there. decode reads the 201; found receives an
// attachment the check found instead.
func (a Attachments) create(ctx context.Context, url string, body func() (io.Reader, error), bodyLen int64,
	sent *sentAttachment, decode func(*http.Response) error, found func(Attachment)) error {
	start := time.Now()
	ex := &exchange{
		method: http.MethodPost, url: url, mailbox: a.r.mailbox(),
		body: body, bodyLen: bodyLen, contentType: "application/json",
		okStatus: http.StatusCreated, decode: decode, mayLand: true,
	}
	ex.reconcile = func(ctx context.Context, last *GraphError) (bool, error) {
		lookCtx, cancel := graceCtx(ctx)
		defer cancel()
		att, err := a.checkSent(lookCtx, ex.requestID, sent, start)
		switch {
		case err != nil:
			var cause error = errors.New("no answer")
			if last != nil {
				cause = last
			}
			return false, unknownOutcome(fmt.Sprintf("%s %s", ex.method, redact(ex.url)), cause, err)
		case att != nil:
			found(att)
			return true, nil
		}
		return false, nil
	}
	return a.r.c.do(ctx, ex)
}

// graceCtx is ctx, or, when ctx is already done, a context that gives the
// check a few seconds: an answer that may hold a success is not left open.
func graceCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), dedupeGrace)
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dedupeGrace bounds the last dedupe check of a call whose ctx is already
// done: long enough for one list, short enough not to hold up a shutdown.
const dedupeGrace = 5 * time.Second
