package eventattach

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The whole retry rule, row by row.
func TestPolicyTable(t *testing.T) {
	reset := errors.New("connection reset")
	for _, tc := range []struct {
		method  string
		mayLand bool
		status  int
		err     error
		written bool
		want    action
	}{
		// Success and plain refusals: stop.
		{"POST", true, 201, nil, true, stop},
		{"GET", false, 200, nil, true, stop},
		{"DELETE", false, 204, nil, true, stop},
		{"POST", true, 400, nil, true, stop},
		{"POST", true, 404, nil, true, stop},
		{"GET", false, 403, nil, true, stop},
		{"PUT", true, 416, nil, true, stop},
		{"POST", true, 501, nil, true, stop},
		{"GET", false, 505, nil, true, stop},
		// Not processed: retried, whatever the method.
		{"POST", true, 429, nil, true, retry},
		{"POST", true, 503, nil, true, retry},
		{"PUT", true, 429, nil, true, retry},
		{"POST", true, 0, reset, false, retry},
		{"PUT", true, 0, io.ErrUnexpectedEOF, false, retry},
		// May have been processed: a repeatable request is retried...
		{"GET", false, 500, nil, true, retry},
		{"GET", false, 504, nil, true, retry},
		{"DELETE", false, 502, nil, true, retry},
		{"GET", false, 0, reset, true, retry},
		{"GET", false, 200, io.ErrUnexpectedEOF, true, retry},
		{"POST", false, 504, nil, true, retry}, // createUploadSession: an orphaned session holds nothing
		{"POST", false, 0, reset, true, retry},
		// ...one that may have landed is reconciled first.
		{"POST", true, 500, nil, true, reconcile},
		{"POST", true, 502, nil, true, reconcile},
		{"POST", true, 504, nil, true, reconcile},
		{"POST", true, 408, nil, true, reconcile},
		{"POST", true, 0, reset, true, reconcile},
		{"POST", true, 201, io.ErrUnexpectedEOF, true, reconcile}, // a cut-off 201
		{"PUT", true, 500, nil, true, reconcile},
		{"PUT", true, 0, reset, true, reconcile},
		{"PUT", true, 200, errors.New("garbled answer"), true, reconcile},
	} {
		name := fmt.Sprintf("%s mayLand=%v %d err=%v written=%v", tc.method, tc.mayLand, tc.status, tc.err, tc.written)
		assert.Equal(t, tc.want, decide(tc.method, tc.mayLand, tc.status, tc.err, tc.written), name)
	}
}

func TestPolicyWait(t *testing.T) {
	now := time.Now()
	const base, max = 100 * time.Millisecond, 10 * time.Second
	// Retry-After wins, decimals included.
	d, why := waitBefore(3, 249*time.Millisecond, true, base, max, time.Time{}, now)
	assert.Equal(t, 249*time.Millisecond, d)
	assert.Empty(t, why)
	// Backoff doubles per retry, with jitter of ±50 %.
	for n, want := range []time.Duration{base, 2 * base, 4 * base, 8 * base} {
		for range 20 {
			d, why := waitBefore(n, 0, false, base, max, time.Time{}, now)
			assert.Empty(t, why)
			assert.GreaterOrEqual(t, d, want/2, "retry %d", n)
			assert.Less(t, d, want*3/2, "retry %d", n)
		}
	}
	// Never over MaxDelay; a huge n does not overflow.
	d, _ = waitBefore(200, 0, false, base, max, time.Time{}, now)
	assert.LessOrEqual(t, d, max)
	assert.Positive(t, d)
	// A Retry-After over MaxDelay, or a wait past the deadline: no retry.
	_, why = waitBefore(0, time.Hour, true, base, max, time.Time{}, now)
	assert.Contains(t, why, "longer than RetryOptions.MaxDelay")
	_, why = waitBefore(0, 2*time.Second, true, base, max, now.Add(time.Second), now)
	assert.Contains(t, why, "outlast the context deadline")
	d, why = waitBefore(0, 0, true, base, max, now.Add(time.Second), now)
	assert.Zero(t, d)
	assert.Empty(t, why)
}
