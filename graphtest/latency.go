package graphtest

import (
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// Latency is a model of how long Graph takes to answer: a time per request
// and a time per MiB of request body, for each listener, each multiplied by
// a factor drawn from [1-Jitter, 1+Jitter] by a generator seeded with Seed
// (so a run repeats, though with concurrent requests which request gets
// which draw follows their order of arrival). The per-request time runs
// while the request holds one of its mailbox's concurrency slots, before
// it is handled, and the per-MiB time once the budgets have taken the body;
// a 429 takes the per-request time only. Times are model time: Options.TimeScale
// shortens them on the wall clock.
//
// Microsoft documents no latency: DefaultLatency's values are assumptions,
// stated there.
type Latency struct {
	PerRequest time.Duration // a request on the Graph listener
	PerMiB     time.Duration // per MiB of its body (Content-Length)
	// UploadPerRequest and UploadPerMiB are the same on the upload listener.
	UploadPerRequest time.Duration
	UploadPerMiB     time.Duration
	Jitter           float64 // 0 to 1
	Seed             uint64
}

// DefaultLatency returns the model scripts/jobbench.sh runs against by
// default: 150 ms per Graph request and 100 ms per MiB of its body (10 MiB/s
// per request), 100 ms per upload PUT and 100 ms per MiB, ±25 % jitter,
// seed 1. These are assumptions (no source documents Graph's latency),
// chosen in the range users report for small Graph writes.
func DefaultLatency() *Latency {
	return &Latency{
		PerRequest: 150 * time.Millisecond, PerMiB: 100 * time.Millisecond,
		UploadPerRequest: 100 * time.Millisecond, UploadPerMiB: 100 * time.Millisecond,
		Jitter: 0.25, Seed: 1,
	}
}

// For reports the model's time for one request of n body bytes, without
// jitter.
func (l *Latency) For(upload bool, n int64) time.Duration {
	per, perMiB := l.PerRequest, l.PerMiB
	if upload {
		per, perMiB = l.UploadPerRequest, l.UploadPerMiB
	}
	return per + time.Duration(float64(perMiB)*float64(max(n, 0))/(1<<20))
}

// latencyGen draws a server's latencies.
type latencyGen struct {
	mu  sync.Mutex
	m   *Latency
	rng *rand.Rand
}

func (g *latencyGen) init(m *Latency) {
	if m == nil {
		return
	}
	c := *m
	g.m = &c
	g.rng = rand.New(rand.NewPCG(c.Seed, 0x5851f42d4c957f2d))
}

// draw returns the wall-clock delays of one request of n body bytes (n < 0:
// unknown, counted as none): per request, and for its body.
func (g *latencyGen) draw(upload bool, n int64, scale float64) (time.Duration, time.Duration) {
	m := g.m
	if m == nil {
		return 0, 0
	}
	f := 1.0
	if m.Jitter > 0 {
		g.mu.Lock()
		f = 1 + m.Jitter*(2*g.rng.Float64()-1)
		g.mu.Unlock()
	}
	per := m.For(upload, 0)
	body := m.For(upload, n) - per
	return time.Duration(float64(per) * f / scale), time.Duration(float64(body) * f / scale)
}

// scaledClock is a clock that starts at start and runs scale times faster
// than the wall clock.
func scaledClock(start time.Time, scale float64) func() time.Time {
	return func() time.Time {
		return start.Add(time.Duration(float64(time.Since(start)) * scale))
	}
}

// retryAfter is the Retry-After of a 429 the server decides on: wait (model
// time) is when the budget that refused the request has room again, 0 for
// the concurrency limit. Options.ThrottleRetryAfter, when given, is sent
// instead, as it is when the server runs in real time; otherwise the
// concurrency limit sends "1" and a budget the seconds until it has room,
// rounded up (how long Outlook asks for is not documented). With a
// TimeScale the seconds are model time divided by the scale, rounded up to
// the millisecond.
func (s *Server) retryAfter(wait time.Duration) string {
	scale := s.opts.TimeScale
	if s.raFixed || wait <= 0 {
		v := s.opts.ThrottleRetryAfter
		if scale == 1 {
			return v
		}
		sec, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return v
		}
		return scaledSeconds(sec / scale)
	}
	sec := math.Ceil(wait.Seconds())
	if scale == 1 {
		return strconv.FormatFloat(sec, 'f', -1, 64)
	}
	return scaledSeconds(sec / scale)
}

func scaledSeconds(sec float64) string {
	return strconv.FormatFloat(math.Ceil(sec*1000)/1000, 'f', -1, 64)
}
