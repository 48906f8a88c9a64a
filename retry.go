package eventattach

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The inputs of the retry policy (policy.go has the rule): the defaults of
// RetryOptions, Graph's Retry-After and its claims challenges.

const (
	defaultMaxRetries = 4
	defaultMaxDelay   = 60 * time.Second
	defaultBaseDelay  = 500 * time.Millisecond
	// loopbackBaseDelay is BaseDelay's default for a loopback BaseURL: a
	// test server, where waiting only slows the tests down.
	loopbackBaseDelay = time.Millisecond
)

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
