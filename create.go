package eventattach

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// create POSTs an attachment to url and never sends it twice blindly: when
// the POST may have landed (the policy's reconcile), it waits the backoff
// (a slow backend may still be finishing it), reads the event (findSent),
// and sends again only if the attachment is not there. decode reads the
// 201; found receives an attachment the check found instead.
func (a Attachments) create(ctx context.Context, url string, body func() (io.Reader, error), bodyLen int64,
	sent *sentAttachment, decode func(*http.Response) error, found func(Attachment)) error {
	c := a.r.c
	ex := &exchange{
		method: http.MethodPost, url: url, mailbox: a.r.mailbox(),
		body: body, bodyLen: bodyLen, contentType: "application/json",
		okStatus: http.StatusCreated, decode: decode, mayLand: true,
	}
	start := time.Now()
	left := c.retry.MaxRetries
	for {
		out := c.send(ctx, ex, left)
		left -= out.retries
		if out.err == nil || out.action != reconcile {
			return out.err
		}
		// It may have landed: nothing is sent before the event is read.
		canRetry := left > 0 && ctx.Err() == nil
		if canRetry {
			d, why := waitBefore(c.retry.MaxRetries-left, 0, false, c.retry.BaseDelay, c.retry.MaxDelay, deadlineOf(ctx), time.Now())
			c.traceWait(ctx, d, why)
			canRetry = why == "" && sleep(ctx, d) == nil
		}
		lookCtx, cancel := graceCtx(ctx)
		att, err := a.checkSent(lookCtx, ex.requestID, sent, start)
		cancel()
		switch {
		case err != nil:
			return unknownOutcome(fmt.Sprintf("%s %s", ex.method, redact(ex.url)), out.err, err)
		case att != nil:
			found(att)
			return nil
		case !canRetry:
			return out.err // Graph has not got it: a plain failure
		}
		left-- // sending again is a retry
	}
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
