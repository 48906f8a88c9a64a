package eventattach

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The retry policy, plugged into go-retryablehttp as CheckRetry, Backoff and
// PrepareRetry. The rule that matters: a request that may have reached Graph
// is never blindly sent again.
//
//   - Surely not processed: 429, 503, a 401 with an expired token (retried
//     once with a new token), or a connection error before the request was
//     written. These are retried.
//   - Maybe processed: 504 and other 5xx, a connection error after the
//     request was written, a success answer that was cut off or undecodable.
//     GET and DELETE are retried. A POST is retried only after its dedupe
//     check (see attachments.go) finds that the attachment did not land; if
//     it did, that attachment is the result.
//
// Waits honour Retry-After (seconds or an HTTP date), otherwise exponential
// backoff with jitter, each capped by RetryOptions.MaxDelay. A wait longer
// than MaxDelay, or one that would end after the ctx deadline, is not slept:
// the last answer is returned at once as a *GraphError with RetryAfter set.

const (
	defaultMaxRetries = 4
	defaultMaxDelay   = 60 * time.Second
	defaultBaseDelay  = 500 * time.Millisecond
)

// errDeduped stops go-retryablehttp once the dedupe check found the attachment.
var errDeduped = errors.New("eventattach: attachment found by dedupe check")

// parseRetryAfter reads Retry-After as delta-seconds, with a fraction as
// Graph has sent ("0.249", GRAPH-FACTS: throttling), or an HTTP date. A
// fraction is rounded up to the millisecond, so the wait is never shorter
// than asked; anything over a day is capped there.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && v[0] >= '0' && v[0] <= '9' {
		if math.IsNaN(s) || s < 0 {
			return 0, false
		}
		ms := math.Ceil(min(s, float64(24*time.Hour/time.Second)) * 1000)
		return time.Duration(ms) * time.Millisecond, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// backoff is the exponential wait with jitter for retry n (0-based):
// base·2ⁿ scaled by a random factor in [0.5, 1.5), capped by max.
func backoff(base, max time.Duration, n int) time.Duration {
	d := base << min(n, 20)
	if d <= 0 || d > max {
		d = max
	}
	d = time.Duration(float64(d) * (0.5 + rand.Float64()))
	return min(d, max)
}

// checkRetry is go-retryablehttp's CheckRetry for one call.
func (cl *call) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	cl.needDedupe = false
	if err != nil && !cl.idempotent() && cl.dedupe != nil && (resp != nil || cl.wrote.Load()) {
		// Whatever happens next, this attempt may have landed.
		cl.maybeLanded = true
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		var ce *credentialError
		if errors.As(err, &ce) {
			return false, err
		}
		if resp != nil || (cl.wrote.Load() && !cl.idempotent()) {
			// The request reached Graph: a cut-off success, or a connection
			// lost after the request was written.
			cl.lastTransportErr = err
			return cl.retryMaybeProcessed(ctx, err)
		}
		cl.lastTransportErr = err
		return cl.retryAfter(ctx, 0, false, err)
	}
	if cl.ok(resp.StatusCode) {
		return false, nil
	}
	ge := cl.keepError(resp)
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized:
		claims := claimsFrom(resp.Header)
		if cl.reauthed || cl.noAuth || (ge.Code != "InvalidAuthenticationToken" && claims == "") {
			return false, nil
		}
		// An expired token or a CAE claims challenge: one fresh token, once.
		cl.reauthed = true
		cl.c.tokens.invalidate(cl.authHeader)
		cl.claims = claims
		cl.rc.RetryWaitMin = 0 // the wait backoffHook hands to go-retryablehttp
		return true, nil
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return cl.retryAfter(ctx, ge.RetryAfter, resp.Header.Get("Retry-After") != "", nil)
	case code >= 500 && code != http.StatusNotImplemented && code != http.StatusHTTPVersionNotSupported:
		if cl.idempotent() {
			return cl.retryAfter(ctx, ge.RetryAfter, resp.Header.Get("Retry-After") != "", nil)
		}
		return cl.retryMaybeProcessed(ctx, nil)
	}
	return false, nil
}

// retryMaybeProcessed retries a request that may have been processed: GET and
// DELETE freely, a POST only through its dedupe check (run in prepareRetry,
// after the wait, so a slow backend has time to finish what it started).
func (cl *call) retryMaybeProcessed(ctx context.Context, err error) (bool, error) {
	if cl.idempotent() {
		return cl.retryAfter(ctx, 0, false, err)
	}
	if cl.dedupe == nil {
		return false, err
	}
	cl.maybeLanded = true
	ok, rerr := cl.retryAfter(ctx, 0, false, err)
	cl.needDedupe = ok
	return ok, rerr
}

// retryAfter sets the wait before the next attempt, or refuses to retry when
// the wait is longer than MaxDelay or would outlast ctx.
func (cl *call) retryAfter(ctx context.Context, ra time.Duration, hasRA bool, err error) (bool, error) {
	wait := ra
	if !hasRA {
		wait = backoff(cl.c.retry.BaseDelay, cl.c.retry.MaxDelay, cl.attempts-1)
	} else if ra > cl.c.retry.MaxDelay {
		cl.gaveUp = "Retry-After " + ra.String() + " is longer than RetryOptions.MaxDelay"
		return false, err
	}
	if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl) {
		cl.gaveUp = "the next wait (" + wait.Round(time.Millisecond).String() + ") would outlast the context deadline"
		return false, err
	}
	cl.rc.RetryWaitMin = wait // the wait backoffHook hands to go-retryablehttp
	return true, nil
}

// prepareRetry runs after the wait and before the next attempt: the place for
// the dedupe check of a POST that may have landed.
func (cl *call) prepareRetry(req *http.Request) error {
	if !cl.needDedupe {
		return nil
	}
	cl.needDedupe = false
	found, err := cl.dedupe(cl.userCtx)
	if err != nil {
		cl.checkErr = err
		return err
	}
	if found {
		cl.deduped = true
		return errDeduped
	}
	cl.maybeLanded = false
	return nil
}

// claimsFrom extracts the claims challenge of a CAE 401 (WWW-Authenticate:
// Bearer ..., error="insufficient_claims", claims="<base64>"), passed to the
// credential as Graph requires.
func claimsFrom(h http.Header) string {
	for _, v := range h.Values("WWW-Authenticate") {
		i := strings.Index(v, `claims="`)
		if i < 0 {
			continue
		}
		rest := v[i+len(`claims="`):]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			return decodeClaims(rest[:j])
		}
	}
	return ""
}

// dedupeGrace bounds the last dedupe check of a call whose ctx is already
// done: long enough for one list, short enough not to hold up a shutdown.
const dedupeGrace = 5 * time.Second
