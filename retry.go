package eventattach

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The inputs of the retry policy (policy.go has the rule): the defaults of
// RetryOptions and Graph's Retry-After.

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
