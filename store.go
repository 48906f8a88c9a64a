package eventattach

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Store keeps idempotency keys (AddOptions.Key, FileUpload.Key) where every
// process that adds attachments sees them, so that one key makes at most
// one attachment across processes, restarts and replicas. The SDK asks it
// for two things only: a lease on a key, held by one caller at a time for
// a TTL and renewed while the call runs, and the key's record, a small
// document the SDK writes while it holds the lease and anyone may read.
//
// Two implementations come with the SDK: DirStore, a directory on one
// host, and, in the module github.com/eventattach/eventattach/azblobstore,
// a container in Azure Blob Storage for replicas on many hosts.
//
// A record holds an upload session's URL, whose authtoken lets its holder
// write to the event: keep the store where you would keep a password.
//
// Implementations must be safe for concurrent use, and a Lease too (the
// SDK renews it from one goroutine while it saves from another).
type Store interface {
	// Acquire takes key's lease for at least ttl (a store may round ttl up
	// to its own minimum). While another holder's lease runs, it returns at
	// once an error for which errors.Is(err, ErrLeaseHeld) holds. Each call
	// is its own holder: two Acquires of one key in one process exclude
	// each other too.
	Acquire(ctx context.Context, key string, ttl time.Duration) (Lease, error)
	// Load returns the record last saved for key, or an error for which
	// errors.Is(err, ErrNoRecord) holds. It needs no lease.
	Load(ctx context.Context, key string) ([]byte, error)
	// String names the store in errors and logs, e.g. "directory store
	// /var/lib/app/keys"; it holds no secret.
	String() string
}

// Lease is a key held by one caller.
type Lease interface {
	// Renew extends the lease to its ttl from now. When the lease has been
	// taken by another holder or broken, it returns an error for which
	// errors.Is(err, ErrLeaseLost) holds.
	Renew(ctx context.Context) error
	// Save replaces the key's record, durably (it survives the process and
	// the host's crash once Save returns), only while this lease is held:
	// otherwise it writes nothing and returns ErrLeaseLost.
	Save(ctx context.Context, record []byte) error
	// Release gives the lease up at once; the record stays.
	Release(ctx context.Context) error
}

// The answers of a Store.
var (
	// ErrLeaseHeld: another holder has the key's lease.
	ErrLeaseHeld = errors.New("eventattach: the key's lease is held by another caller")
	// ErrLeaseLost: a lease this caller held has expired and been taken,
	// or was broken. A call whose lease is lost stops before it sends
	// anything more to Graph.
	ErrLeaseLost = errors.New("eventattach: the key's lease was lost")
	// ErrNoRecord: the store has no record of the key.
	ErrNoRecord = errors.New("eventattach: the store has no record of the key")
	// ErrStore: the store failed (it is down, refused access, or holds a
	// corrupt record); nothing was sent to Graph after the failure. The
	// *StoreError names the store, the key and what was being done.
	ErrStore = errors.New("eventattach: the idempotency store failed")
)

// StoreError is a Store's failure as a keyed call reports it. It answers
// errors.Is for whatever the store returned, and for ErrStore unless that
// was ErrLeaseLost.
type StoreError struct {
	Store string // the store's String()
	Op    string // e.g. "acquiring the lease", "saving the record"
	Key   string
	Err   error
}

func (e *StoreError) Error() string {
	if msg := e.Err.Error(); strings.Contains(msg, e.Store) {
		return "eventattach: " + msg // the store named itself already
	}
	return fmt.Sprintf("eventattach: %s: %s of key %q: %v", e.Store, e.Op, e.Key, e.Err)
}

func (e *StoreError) Unwrap() []error {
	if errors.Is(e.Err, ErrLeaseLost) {
		return []error{e.Err} // the store works; another holder has the key
	}
	return []error{ErrStore, e.Err}
}
