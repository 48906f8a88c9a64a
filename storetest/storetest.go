// Package storetest checks that an eventattach.Store keeps the promises the
// SDK's idempotency keys rely on: a key's lease excludes every other
// holder until it is released, broken or expires; a record saved under
// the lease is what Load returns, and a holder that lost its lease saves
// nothing. A store that fails one of these can make two processes send
// the same attachment.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) eventattach.Store { return newStore(t) },
//			&storetest.Options{MinTTL: time.Second})
//	}
//
// Each subtest gets a fresh store from newStore and keys of its own.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventattach/eventattach"
)

// Options says what the store under test can do; nil means the defaults.
type Options struct {
	// MinTTL is the shortest lease the store honours (a store may round a
	// shorter one up): the expiry cases wait about twice this long. 0
	// means 1 second.
	MinTTL time.Duration
	// Break, when set, ends the key's lease as an operator would
	// (DirStore.Break, azblobstore's Store.Break); nil skips that case.
	Break func(t *testing.T, s eventattach.Store, key string)
	// Parallel runs the subtests in parallel (for stores whose expiry
	// cases wait long).
	Parallel bool
}

// Run runs the conformance subtests.
func Run(t *testing.T, newStore func(t *testing.T) eventattach.Store, opts *Options) {
	o := Options{MinTTL: time.Second}
	if opts != nil {
		o = *opts
		if o.MinTTL <= 0 {
			o.MinTTL = time.Second
		}
	}
	cases := []struct {
		name string
		fn   func(t *testing.T, s eventattach.Store, o Options)
	}{
		{"LoadUnknownKeyIsErrNoRecord", loadUnknown},
		{"SecondAcquireIsErrLeaseHeld", secondAcquire},
		{"SaveThenLoadReturnsTheBytes", saveLoad},
		{"ReleaseFreesTheKeyAndKeepsTheRecord", release},
		{"ExpiredLeaseIsTakenAndItsHolderSavesNothing", expiry},
		{"RenewKeepsTheLease", renew},
		{"BreakEndsTheLease", breakLease},
		{"HoldersExcludeEachOther", exclusion},
		{"CancelledContextAcquiresNothing", cancelled},
		{"OddKeysAreDistinct", oddKeys},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if o.Parallel {
				t.Parallel()
			}
			c.fn(t, newStore(t), o)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func mustAcquire(t *testing.T, s eventattach.Store, key string, ttl time.Duration) eventattach.Lease {
	t.Helper()
	l, err := s.Acquire(ctx(t), key, ttl)
	if err != nil {
		t.Fatalf("%s: Acquire(%q): %v", s, key, err)
	}
	return l
}

func wantIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v, want an error that is %v", what, err, target)
	}
}

// acquireWhenFree polls Acquire until the lease is free (its TTL passed),
// failing after deadline.
func acquireWhenFree(t *testing.T, s eventattach.Store, key string, ttl, deadline time.Duration) eventattach.Lease {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		l, err := s.Acquire(ctx(t), key, ttl)
		if err == nil {
			return l
		}
		if !errors.Is(err, eventattach.ErrLeaseHeld) {
			t.Fatalf("Acquire(%q): %v", key, err)
		}
		if time.Now().After(end) {
			t.Fatalf("Acquire(%q): still held %s later", key, deadline)
		}
		time.Sleep(ttl / 20) // a lease's expiry is a time: poll for it
	}
}

func loadUnknown(t *testing.T, s eventattach.Store, _ Options) {
	_, err := s.Load(ctx(t), "never-saved")
	wantIs(t, err, eventattach.ErrNoRecord, "Load of a key never saved")
}

func secondAcquire(t *testing.T, s eventattach.Store, o Options) {
	l := mustAcquire(t, s, "k", o.MinTTL*4)
	defer l.Release(ctx(t))
	_, err := s.Acquire(ctx(t), "k", o.MinTTL*4)
	wantIs(t, err, eventattach.ErrLeaseHeld, "a second Acquire of a held key")
	other := mustAcquire(t, s, "k2", o.MinTTL*4) // another key is independent
	other.Release(ctx(t))
}

func saveLoad(t *testing.T, s eventattach.Store, o Options) {
	l := mustAcquire(t, s, "k", o.MinTTL*4)
	defer l.Release(ctx(t))
	big := bytes.Repeat([]byte("0123456789abcdef\x00\xff\n"), 64<<10/19)
	for _, rec := range [][]byte{[]byte(`{"a":1}`), {0, 1, 2, 0xff, '\n'}, big, []byte("x")} {
		if err := l.Save(ctx(t), rec); err != nil {
			t.Fatalf("Save(%d bytes): %v", len(rec), err)
		}
		got, err := s.Load(ctx(t), "k")
		if err != nil || !bytes.Equal(got, rec) {
			t.Fatalf("Load after Save(%d bytes): %d bytes, %v; want the bytes saved", len(rec), len(got), err)
		}
	}
}

func release(t *testing.T, s eventattach.Store, o Options) {
	l := mustAcquire(t, s, "k", o.MinTTL*4)
	if err := l.Save(ctx(t), []byte("done")); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx(t)); err != nil {
		t.Fatal(err)
	}
	l2 := mustAcquire(t, s, "k", o.MinTTL*4) // at once, not after the TTL
	defer l2.Release(ctx(t))
	got, err := s.Load(ctx(t), "k")
	if err != nil || string(got) != "done" {
		t.Fatalf("Load after Release: %q, %v; want the record to stay", got, err)
	}
}

func expiry(t *testing.T, s eventattach.Store, o Options) {
	old := mustAcquire(t, s, "k", o.MinTTL)
	if err := old.Save(ctx(t), []byte("old")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l := acquireWhenFree(t, s, "k", o.MinTTL, 4*o.MinTTL+5*time.Second)
	defer l.Release(ctx(t))
	if waited := time.Since(start); waited < o.MinTTL/2 {
		t.Fatalf("the lease was free after %s; its TTL is %s", waited, o.MinTTL)
	}
	if err := l.Save(ctx(t), []byte("new")); err != nil {
		t.Fatal(err)
	}
	wantIs(t, old.Save(ctx(t), []byte("stale")), eventattach.ErrLeaseLost, "Save by a holder whose lease was taken")
	wantIs(t, old.Renew(ctx(t)), eventattach.ErrLeaseLost, "Renew by a holder whose lease was taken")
	got, err := s.Load(ctx(t), "k")
	if err != nil || string(got) != "new" {
		t.Fatalf("Load: %q, %v; want the new holder's record", got, err)
	}
}

func renew(t *testing.T, s eventattach.Store, o Options) {
	l := mustAcquire(t, s, "k", o.MinTTL)
	defer l.Release(ctx(t))
	for end := time.Now().Add(2 * o.MinTTL); time.Now().Before(end); {
		time.Sleep(o.MinTTL / 4) // renewing on a schedule is what is tested
		if err := l.Renew(ctx(t)); err != nil {
			t.Fatalf("Renew: %v", err)
		}
		_, err := s.Acquire(ctx(t), "k", o.MinTTL)
		wantIs(t, err, eventattach.ErrLeaseHeld, "Acquire of a renewed lease")
	}
	if err := l.Save(ctx(t), []byte("still mine")); err != nil {
		t.Fatalf("Save after renewals past the TTL: %v", err)
	}
}

func breakLease(t *testing.T, s eventattach.Store, o Options) {
	if o.Break == nil {
		t.Skip("the store has no Break")
	}
	l := mustAcquire(t, s, "k", o.MinTTL*4)
	o.Break(t, s, "k")
	wantIs(t, l.Save(ctx(t), []byte("x")), eventattach.ErrLeaseLost, "Save after Break")
	l2 := mustAcquire(t, s, "k", o.MinTTL*4)
	l2.Release(ctx(t))
}

// exclusion: holders that increment a counter record under the lease lose
// no increment.
func exclusion(t *testing.T, s eventattach.Store, o Options) {
	const holders, each = 4, 5
	var wg sync.WaitGroup
	for range holders {
		wg.Go(func() {
			for range each {
				var l eventattach.Lease
				for l == nil {
					var err error
					l, err = s.Acquire(ctx(t), "counter", o.MinTTL*4)
					if err != nil && !errors.Is(err, eventattach.ErrLeaseHeld) {
						t.Error(err)
						return
					}
				}
				n := 0
				if b, err := s.Load(ctx(t), "counter"); err == nil {
					n, _ = strconv.Atoi(string(b))
				} else if !errors.Is(err, eventattach.ErrNoRecord) {
					t.Error(err)
				}
				if err := l.Save(ctx(t), []byte(strconv.Itoa(n+1))); err != nil {
					t.Error(err)
				}
				if err := l.Release(ctx(t)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	b, err := s.Load(ctx(t), "counter")
	if err != nil || string(b) != strconv.Itoa(holders*each) {
		t.Fatalf("counter %q, %v; want %d: holders overlapped", b, err, holders*each)
	}
}

func cancelled(t *testing.T, s eventattach.Store, o Options) {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if l, err := s.Acquire(c, "k", o.MinTTL*4); err == nil {
		l.Release(ctx(t))
		t.Fatal("Acquire with a cancelled context succeeded")
	}
	l := mustAcquire(t, s, "k", o.MinTTL*4) // and left nothing held
	l.Release(ctx(t))
}

func oddKeys(t *testing.T, s eventattach.Store, o Options) {
	keys := []string{"a/b", "a_b", "../k", "..", "k\x00", "é", "e\u0301", " k", strings.Repeat("x", 300), strings.Repeat("x", 299) + "y"}
	for i, k := range keys {
		l := mustAcquire(t, s, k, o.MinTTL*4)
		if err := l.Save(ctx(t), []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("Save(%q): %v", k, err)
		}
		l.Release(ctx(t))
	}
	for i, k := range keys {
		got, err := s.Load(ctx(t), k)
		if err != nil || string(got) != fmt.Sprint(i) {
			t.Fatalf("Load(%q): %q, %v; want %d: keys collide", k, got, err, i)
		}
	}
}
