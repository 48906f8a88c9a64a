package eventattach

import (
	"math/rand/v2"
	"net/http"
	"time"
)

// When is a request sent again? decide's table, applied by the engine's
// loop (send), for Graph calls and upload chunks alike:
//
//	attempt ended with                        GET, DELETE,       POST of an attachment,
//	                                          session POST       chunk PUT (mayLand)
//	success status                            stop               stop
//	no answer, request not written in full    retry              retry
//	429, 503 (Graph: not processed)           retry              retry
//	no answer after writing, a cut-off
//	answer, 408, 500, 502, 504, other 5xx     retry              reconcile
//	anything else (4xx, 501, 505)             stop               stop
//
// retry: wait (see waitBefore), then send the same request again.
// reconcile: the request may have landed, so it is never sent again before
// Graph's state is read: the event's attachments for a POST (the package
// doc's Duplicate check), the session's nextExpectedRanges for a chunk.
// Outside the table, in the loop's judge: a 401 for an expired token is
// sent once more with a new token (reauth, not a retry), and a chunk's 416
// is reconciled (the session expects other bytes).

// action is what the policy says to do after an attempt.
type action int

const (
	stop      action = iota // a success, or a failure no retry can fix
	retry                   // send again after the wait
	reconcile               // read Graph's state before anything else
	reauth                  // send again with a new token (not a retry)
)

func (a action) String() string { return [...]string{"stop", "retry", "reconcile", "reauth"}[a] }

// decide applies the table above. mayLand says the request creates
// something if Graph processes it (sending it twice could duplicate);
// status is Graph's answer, 0 when none came; err is the failure of the
// attempt (a transport error, or a success answer that could not be read);
// written says whether the request was written in full before err.
func decide(method string, mayLand bool, status int, err error, written bool) action {
	repeatable := !mayLand || method == http.MethodGet || method == http.MethodDelete
	orReconcile := retry
	if !repeatable {
		orReconcile = reconcile
	}
	switch {
	case err != nil && status == 0 && !written:
		return retry
	case err != nil:
		return orReconcile
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return retry
	case status == http.StatusRequestTimeout ||
		(status >= 500 && status != http.StatusNotImplemented && status != http.StatusHTTPVersionNotSupported):
		return orReconcile
	}
	return stop
}

// waitBefore is the wait before retry n (0 for the first retry): Graph's
// Retry-After when it sent one, else base·2ⁿ with jitter (×0.5 to ×1.5),
// never over max. It returns why not to wait at all instead when the
// Retry-After is longer than max or the wait would end past the deadline:
// then the last answer is the result.
func waitBefore(n int, retryAfter time.Duration, hasRetryAfter bool, base, max time.Duration, deadline, now time.Time) (time.Duration, string) {
	d := retryAfter
	if hasRetryAfter && d > max {
		return 0, "Retry-After " + d.String() + " is longer than RetryOptions.MaxDelay"
	}
	if !hasRetryAfter {
		d = base << min(n, 20)
		if d <= 0 || d > max {
			d = max
		}
		d = min(time.Duration(float64(d)*(0.5+rand.Float64())), max)
	}
	if !deadline.IsZero() && now.Add(d).After(deadline) {
		return 0, "the next wait (" + d.Round(time.Millisecond).String() + ") would outlast the context deadline"
	}
	return d, ""
}
