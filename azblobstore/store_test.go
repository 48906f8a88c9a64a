package azblobstore

// These tests run against a real Blob Storage emulator, Azurite, whose blob
// endpoint AZURITE_BLOB_URL names (http://127.0.0.1:PORT/devstoreaccount1).
// .ci/run starts it; by hand:
//
//	eval "$(scripts/azurite.sh start)"; export AZURITE_BLOB_URL
//	(cd azblobstore && go test -race ./...)
//	scripts/azurite.sh stop

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
)

// Azurite's development account and its published key.
const (
	devAccount = "devstoreaccount1"
	devKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

func azuriteURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("AZURITE_BLOB_URL")
	if u == "" {
		t.Fatal("AZURITE_BLOB_URL is not set: these tests need Azurite. Start it with\n" +
			"\teval \"$(scripts/azurite.sh start)\"; export AZURITE_BLOB_URL\n" +
			"from the repository's root (.ci/run does), and stop it with scripts/azurite.sh stop")
	}
	return strings.TrimRight(u, "/")
}

func sharedKeyClient(t *testing.T, containerURL string, opts *container.ClientOptions) *container.Client {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(devAccount, devKey)
	if err != nil {
		t.Fatal(err)
	}
	if opts == nil {
		opts = &container.ClientOptions{ClientOptions: policy.ClientOptions{Retry: DefaultRetryOptions()}}
	}
	c, err := container.NewClientWithSharedKeyCredential(containerURL, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newStore makes a container of its own for the test, deleted after it,
// and a Store in it.
func newStore(t *testing.T) *Store {
	t.Helper()
	name := "t" + strings.ToLower(randHex(t, 12))
	c := sharedKeyClient(t, azuriteURL(t)+"/"+name, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, nil); err != nil {
		t.Fatalf("creating container %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.Delete(ctx, nil); err != nil {
			t.Logf("deleting container %s: %v", name, err)
		}
	})
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// another is a second Store on s's container, as another replica has.
func another(t *testing.T, s *Store) *Store {
	t.Helper()
	s2, err := New(sharedKeyClient(t, s.client.URL(), nil))
	if err != nil {
		t.Fatal(err)
	}
	return s2
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func acquire(t *testing.T, s eventattach.Store, key string) eventattach.Lease {
	t.Helper()
	l, err := s.Acquire(ctxT(t), key, 15*time.Second)
	if err != nil {
		t.Fatalf("Acquire(%q): %v", key, err)
	}
	return l
}

func wantLoad(t *testing.T, s eventattach.Store, key string, want []byte) {
	t.Helper()
	got, err := s.Load(ctxT(t), key)
	if want == nil {
		if !errors.Is(err, eventattach.ErrNoRecord) {
			t.Fatalf("Load(%q) = %d bytes, %v; want ErrNoRecord", key, len(got), err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Load(%q) = %d bytes, want the %d saved", key, len(got), len(want))
	}
}

func TestLeaseSeconds(t *testing.T) {
	for ttl, want := range map[time.Duration]int32{
		0:                       15,
		time.Second:             15,
		15 * time.Second:        15,
		15*time.Second + 1:      16,
		30 * time.Second:        30,
		59*time.Second + 999999: 60,
		60 * time.Second:        60,
		10 * time.Minute:        60,
		-time.Second:            15,
	} {
		if got := leaseSeconds(ttl); got != want {
			t.Errorf("leaseSeconds(%v) = %d, want %d", ttl, got, want)
		}
	}
}

func TestString(t *testing.T) {
	c := sharedKeyClient(t, "https://acct.blob.core.windows.net/keys?sv=2024&sig=SECRETSIG", nil)
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "blob store https://acct.blob.core.windows.net/keys"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestLoadUnknown(t *testing.T) {
	s := newStore(t)
	_, err := s.Load(ctxT(t), "never-seen")
	if !errors.Is(err, eventattach.ErrNoRecord) {
		t.Fatalf("Load of an unknown key: %v, want ErrNoRecord", err)
	}
	if !strings.Contains(err.Error(), s.String()) || !strings.Contains(err.Error(), "never-seen") {
		t.Errorf("error %q names neither the store nor the key", err)
	}
	// Acquired, never saved: still no record.
	l := acquire(t, s, "k")
	wantLoad(t, s, "k", nil)
	if err := l.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	wantLoad(t, s, "k", nil)
}

func TestAcquireTwiceHeld(t *testing.T) {
	s := newStore(t)
	l := acquire(t, s, "k")
	defer l.Release(context.Background())

	for name, st := range map[string]*Store{"same Store": s, "another Store": another(t, s)} {
		start := time.Now()
		l2, err := st.Acquire(ctxT(t), "k", 15*time.Second)
		if !errors.Is(err, eventattach.ErrLeaseHeld) {
			t.Fatalf("%s: second Acquire = %v, %v; want ErrLeaseHeld", name, l2, err)
		}
		if errors.Is(err, eventattach.ErrLeaseLost) || errors.Is(err, eventattach.ErrNoRecord) {
			t.Errorf("%s: %v answers for another sentinel too", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: ErrLeaseHeld took %v; want at once", name, d)
		}
		if !strings.Contains(err.Error(), s.String()) || !strings.Contains(err.Error(), `"k"`) {
			t.Errorf("%s: error %q names neither the store nor the key", name, err)
		}
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.ErrorCode != "LeaseAlreadyPresent" {
			t.Errorf("%s: cause not kept: %#v", name, err)
		}
	}
	// Another key is free.
	acquire(t, s, "other").Release(context.Background())
}

func TestSaveLoadRoundTrip(t *testing.T) {
	s := newStore(t)
	rec := make([]byte, 200<<10)
	if _, err := rand.Read(rec); err != nil {
		t.Fatal(err)
	}
	l := acquire(t, s, "k")
	if err := l.Save(ctxT(t), rec); err != nil {
		t.Fatal(err)
	}
	// Anyone reads it, with no lease, while the lease is held.
	wantLoad(t, s, "k", rec)
	wantLoad(t, another(t, s), "k", rec)

	// Renew from one goroutine while saving from another (the SDK does).
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 3 {
			if err := l.Renew(ctxT(t)); err != nil {
				t.Error(err)
			}
		}
	}()
	rec2 := append([]byte("\x00\xff second record \n"), rec[:1000]...)
	for range 3 {
		if err := l.Save(ctxT(t), rec2); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	wantLoad(t, s, "k", rec2)

	if err := l.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	wantLoad(t, s, "k", rec2) // the record stays
	// A later holder's Acquire keeps it too.
	l = acquire(t, another(t, s), "k")
	wantLoad(t, s, "k", rec2)
	l.Release(context.Background())
}

func TestSaveAfterRelease(t *testing.T) {
	s := newStore(t)
	l := acquire(t, s, "k")
	if err := l.Save(ctxT(t), []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	secret := []byte("https://outlook.office.com/api/upload?authtoken=SECRET-TOKEN")
	err := l.Save(ctxT(t), secret)
	if !errors.Is(err, eventattach.ErrLeaseLost) {
		t.Fatalf("Save after Release: %v, want ErrLeaseLost", err)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error holds the record: %q", err)
	}
	wantLoad(t, s, "k", []byte("first"))
	if err := l.Renew(ctxT(t)); !errors.Is(err, eventattach.ErrLeaseLost) {
		t.Errorf("Renew after Release: %v, want ErrLeaseLost", err)
	}
	if err := l.Release(ctxT(t)); err != nil {
		t.Errorf("second Release: %v", err)
	}

	// A key Acquired and released before any Save: the Save writes nothing.
	l = acquire(t, s, "fresh")
	if err := l.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := l.Save(ctxT(t), secret); !errors.Is(err, eventattach.ErrLeaseLost) {
		t.Fatalf("Save after Release: %v, want ErrLeaseLost", err)
	}
	wantLoad(t, s, "fresh", nil)

	// Released, then taken by another: the old lease's Save still fails.
	l2 := acquire(t, s, "k")
	defer l2.Release(context.Background())
	if err := l.Save(ctxT(t), secret); !errors.Is(err, eventattach.ErrLeaseLost) {
		t.Fatalf("Save of a lease another holds now: %v, want ErrLeaseLost", err)
	}
	wantLoad(t, s, "k", []byte("first"))
}

func TestReleaseThenAcquireAtOnce(t *testing.T) {
	s := newStore(t)
	s2 := another(t, s)
	for i := range 3 {
		l := acquire(t, s, "k")
		if err := l.Release(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		l2 := acquire(t, s2, "k")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("round %d: Acquire after Release took %v", i, d)
		}
		if err := l2.Save(ctxT(t), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := l2.Release(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	wantLoad(t, s, "k", []byte{2})
}

// TestRenewBeyondTTL holds a 15 s lease for 20 s by renewing it at 10 s.
// It is the only test that waits for the service's clock.
func TestRenewBeyondTTL(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 20 s")
	}
	t.Parallel()
	s := newStore(t)
	l := acquire(t, s, "k")
	time.Sleep(10 * time.Second)
	if err := l.Renew(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second) // 20 s since Acquire: past the first term
	if _, err := another(t, s).Acquire(ctxT(t), "k", 15*time.Second); !errors.Is(err, eventattach.ErrLeaseHeld) {
		t.Fatalf("Acquire 20 s into a renewed 15 s lease: %v, want ErrLeaseHeld", err)
	}
	if err := l.Save(ctxT(t), []byte("late")); err != nil {
		t.Fatalf("Save 20 s into a renewed 15 s lease: %v", err)
	}
	wantLoad(t, s, "k", []byte("late"))
	if err := l.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestBreak(t *testing.T) {
	s := newStore(t)
	l := acquire(t, s, "k")
	if err := l.Save(ctxT(t), []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := another(t, s).Break(ctxT(t), "k"); err != nil {
		t.Fatal(err)
	}
	if err := l.Renew(ctxT(t)); !errors.Is(err, eventattach.ErrLeaseLost) {
		t.Fatalf("Renew after Break: %v, want ErrLeaseLost", err)
	}
	if err := l.Save(ctxT(t), []byte("after")); !errors.Is(err, eventattach.ErrLeaseLost) {
		t.Fatalf("Save after Break: %v, want ErrLeaseLost", err)
	}
	wantLoad(t, s, "k", []byte("before"))

	// Broken with period 0: free at once.
	l2 := acquire(t, s, "k")
	if err := l.Save(ctxT(t), []byte("after")); !errors.Is(err, eventattach.ErrLeaseLost) {
		t.Fatalf("Save of a broken lease, retaken: %v, want ErrLeaseLost", err)
	}
	if err := l2.Save(ctxT(t), []byte("new holder")); err != nil {
		t.Fatal(err)
	}
	wantLoad(t, s, "k", []byte("new holder"))
	if err := l.Release(ctxT(t)); err != nil {
		t.Errorf("Release of a broken lease: %v", err)
	}
	if err := l2.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	// Nothing to break: no lease, no blob.
	if err := s.Break(ctxT(t), "k"); err != nil {
		t.Errorf("Break of a released key: %v", err)
	}
	if err := s.Break(ctxT(t), "never-seen"); err != nil {
		t.Errorf("Break of an unknown key: %v", err)
	}
}

func TestConcurrentAcquireOneWinner(t *testing.T) {
	s := newStore(t)
	for _, round := range []string{"new key", "existing key"} {
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []eventattach.Lease
			held    int
		)
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := another(t, s).Acquire(ctxT(t), "k", 15*time.Second)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, l)
				case errors.Is(err, eventattach.ErrLeaseHeld):
					held++
				default:
					t.Errorf("%s: Acquire: %v", round, err)
				}
			}()
		}
		wg.Wait()
		if len(winners) != 1 || held != 9 {
			t.Fatalf("%s: %d winners, %d ErrLeaseHeld; want 1 and 9", round, len(winners), held)
		}
		if err := winners[0].Save(ctxT(t), []byte(round)); err != nil {
			t.Fatal(err)
		}
		if err := winners[0].Release(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		wantLoad(t, s, "k", []byte(round))
	}
}

func TestArbitraryKeys(t *testing.T) {
	s := newStore(t)
	keys := []string{"a/b", "a", "b", "../x", "..", "/", "", "ünï", "a%2Fb", "a b?c#d", "\x00", strings.Repeat("k", 500), strings.Repeat("é", 500)}
	for i, k := range keys {
		l := acquire(t, s, k)
		if err := l.Save(ctxT(t), []byte(fmt.Sprintf("record %d", i))); err != nil {
			t.Fatalf("Save(%q): %v", k, err)
		}
		if err := l.Release(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range keys {
		wantLoad(t, s, k, []byte(fmt.Sprintf("record %d", i)))
	}
	// One blob per key, each named by 64 hex digits, in the container.
	pager := s.client.NewListBlobsFlatPager(nil)
	names := map[string]bool{}
	for pager.More() {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			names[*b.Name] = true
		}
	}
	if len(names) != len(keys) {
		t.Errorf("%d blobs for %d keys: %v", len(names), len(keys), names)
	}
	for _, k := range keys {
		if !names[BlobName(k)] {
			t.Errorf("no blob %s for key %q", BlobName(k), k)
		}
	}
}

// deadURL is a loopback port nothing listens on.
func deadURL(t *testing.T, scheme string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return scheme + "://" + addr + "/" + devAccount + "/keys"
}

func checkDown(t *testing.T, s *Store) {
	t.Helper()
	start := time.Now()
	_, err := s.Acquire(context.Background(), "k", 15*time.Second)
	d := time.Since(start)
	if err == nil {
		t.Fatal("Acquire on a store that is down succeeded")
	}
	t.Logf("after %v: %v", d, err)
	if d > 5*time.Second {
		t.Errorf("Acquire on a store that is down took %v, want < 5 s", d)
	}
	if errors.Is(err, eventattach.ErrLeaseHeld) || errors.Is(err, eventattach.ErrLeaseLost) || errors.Is(err, eventattach.ErrNoRecord) {
		t.Errorf("a store that is down answers for a sentinel: %v", err)
	}
	if !strings.Contains(err.Error(), s.String()) || !strings.Contains(err.Error(), `"k"`) {
		t.Errorf("error %q names neither the store %q nor the key", err, s)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error holds the SAS: %q", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("cause not kept: %#v", err)
	}
	if _, err := s.Load(context.Background(), "k"); err == nil || errors.Is(err, eventattach.ErrNoRecord) {
		t.Errorf("Load on a store that is down: %v, want a failure that is not ErrNoRecord", err)
	}
}

func TestStoreDown(t *testing.T) {
	s, err := New(sharedKeyClient(t, deadURL(t, "http"), nil))
	if err != nil {
		t.Fatal(err)
	}
	checkDown(t, s)
}

type fakeToken struct{}

func (fakeToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// NewFromURL with nil options gets the small retry policy.
func TestStoreDownNewFromURL(t *testing.T) {
	s, err := NewFromURL(deadURL(t, "https")+"?sig=SECRET", fakeToken{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.String(), "SECRET") {
		t.Errorf("String() = %q holds the SAS", s)
	}
	checkDown(t, s)
}

// A keyed call whose Store is down fails with eventattach.ErrStore, naming
// the store, and sends nothing to Graph.
func TestSDKStoreDown(t *testing.T) {
	s, err := New(sharedKeyClient(t, deadURL(t, "http"), nil))
	if err != nil {
		t.Fatal(err)
	}
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.Me().AddEvent("e1")
	c, err := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL(), Store: s})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = c.Me().Events("e1").Attachments().AddFile(ctx,
		&eventattach.FileAttachment{Name: "a", ContentBytes: []byte("x")}, &eventattach.AddOptions{Key: "k"})
	t.Logf("after %v: %v", time.Since(start), err)
	if !errors.Is(err, eventattach.ErrStore) {
		t.Fatalf("AddFile with a Store that is down: %v, want ErrStore", err)
	}
	if !strings.Contains(err.Error(), s.String()) {
		t.Errorf("error %q does not name the store %q", err, s)
	}
	if errors.Is(err, eventattach.ErrLeaseHeld) {
		t.Errorf("a store that is down reads as a held lease: %v", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests reached Graph, want 0", n)
	}
}

// Two clients (two replicas) adding with one key through one container
// make one attachment; the second sends nothing to Graph.
func TestSDKKeyAcrossClients(t *testing.T) {
	s := newStore(t)
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.Me().AddEvent("e1")
	var ids []string
	for i := range 2 {
		c, err := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL(), Store: another(t, s)})
		if err != nil {
			t.Fatal(err)
		}
		before := len(srv.Requests())
		att, err := c.Me().Events("e1").Attachments().AddFile(ctxT(t),
			&eventattach.FileAttachment{Name: "a.txt", ContentBytes: []byte("hello")}, &eventattach.AddOptions{Key: "task-1"})
		if err != nil {
			t.Fatalf("client %d: AddFile: %v", i, err)
		}
		ids = append(ids, att.ID)
		if n := len(srv.Requests()) - before; i == 1 && n != 0 {
			t.Errorf("the second client sent %d requests to Graph, want 0", n)
		}
	}
	if ids[0] != ids[1] {
		t.Errorf("one key made two attachments: %q and %q", ids[0], ids[1])
	}
	// The record is there, and the lease was given back.
	if _, err := s.Load(ctxT(t), "task-1"); err != nil {
		t.Fatal(err)
	}
	acquire(t, s, "task-1").Release(context.Background())
}

func TestMissingContainer(t *testing.T) {
	s, err := New(sharedKeyClient(t, azuriteURL(t)+"/nosuchcontainer"+randHex(t, 4), nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Acquire(ctxT(t), "k", 15*time.Second)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.ErrorCode != "ContainerNotFound" || errors.Is(err, eventattach.ErrLeaseHeld) {
		t.Fatalf("Acquire in a missing container: %v, want ContainerNotFound", err)
	}
	if _, err := s.Load(ctxT(t), "k"); errors.Is(err, eventattach.ErrNoRecord) || err == nil {
		t.Errorf("Load in a missing container: %v, want a failure that is not ErrNoRecord", err)
	}
}
