// Package azblobstore is an eventattach.Store in a container of Azure Blob
// Storage, for replicas of one job on many hosts: every process that points
// at the same container shares the idempotency keys.
//
// Each key is one block blob named by the hex SHA-256 of the key (so no key,
// whatever its characters or length, can name another blob or leave the
// container). Its lease is the blob's lease; its record is the blob's
// content, written only under that lease.
//
// # Leases last 15 to 60 seconds
//
// Blob Storage grants leases of 15 to 60 seconds (or infinite ones, which
// this package never takes: a crashed holder would keep the key until
// someone broke it). Acquire rounds ttl up to whole seconds, then up to 15 s
// and down to 60 s. A caller asking for more than 60 s gets 60 s, and must
// renew within a minute. The eventattach SDK renews every third of
// ClientOptions.LeaseTTL (30 s by default): keep LeaseTTL at 180 s or less
// with this store. A LeaseTTL under 15 s works, but a key whose holder died
// is free only 15 s later.
//
// # Failures
//
// Errors name the store (String) and the key, and keep the cause (an
// *azcore.ResponseError from the service, or the transport's error), so
// errors.As still reaches it. They never hold a record's content: a record
// holds an upload session's URL, which is a secret.
//
// A store that cannot be reached fails quickly when the Store was made by
// NewFromURL with nil options: its client tries a request at most 3 times
// (MaxRetries 2, waits of 100 ms to 1 s) and each try for at most 30 s
// (a connection refused fails in well under a second). A Store from New
// uses the client's own policy (azcore's default retries 3 times with waits
// from 800 ms to 60 s).
//
// # Rights
//
// The credential needs to read, write and lease blobs in the container
// (the "Storage Blob Data Contributor" role on it). The container must
// exist: neither constructor creates it, so the credential needs no right
// on the account.
package azblobstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/google/uuid"

	"github.com/eventattach/eventattach"
)

// The bounds Blob Storage puts on a lease's duration.
const (
	MinTTL = 15 * time.Second
	MaxTTL = 60 * time.Second
)

// The retry policy NewFromURL uses when its options are nil.
const (
	defaultMaxRetries    = 2
	defaultRetryDelay    = 100 * time.Millisecond
	defaultMaxRetryDelay = time.Second
	defaultTryTimeout    = 30 * time.Second
)

// Store is an eventattach.Store in one blob container. It is safe for
// concurrent use.
type Store struct {
	client *container.Client
	name   string // "blob store " + the container's URL without its query
}

var _ eventattach.Store = (*Store)(nil)

// New returns a Store keeping its keys in client's container, which must
// exist (New makes no request; the first Acquire on a missing container
// fails with the service's ContainerNotFound). The client's own retry
// policy applies.
func New(client *container.Client) (*Store, error) {
	if client == nil {
		return nil, errors.New("azblobstore: New: nil container client")
	}
	return &Store{client: client, name: "blob store " + stripQuery(client.URL())}, nil
}

// NewFromURL returns a Store in the container at containerURL (e.g.
// https://ACCOUNT.blob.core.windows.net/CONTAINER), authenticated by cred
// (an azidentity credential). The container must exist. With nil opts the
// client retries little (see the package doc) so that a store that is down
// fails a call in seconds; pass opts to choose otherwise.
func NewFromURL(containerURL string, cred azcore.TokenCredential, opts *container.ClientOptions) (*Store, error) {
	if opts == nil {
		opts = &container.ClientOptions{ClientOptions: policy.ClientOptions{Retry: DefaultRetryOptions()}}
	}
	client, err := container.NewClient(containerURL, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("azblobstore: blob store %s: %w", stripQuery(containerURL), err)
	}
	return New(client)
}

// DefaultRetryOptions is the retry policy NewFromURL gives its client when
// its options are nil: 3 tries at most, waits of 100 ms to 1 s between
// them, 30 s at most for each try. Use it in your own container.ClientOptions
// for a Store made by New.
func DefaultRetryOptions() policy.RetryOptions {
	return policy.RetryOptions{
		MaxRetries:    defaultMaxRetries,
		RetryDelay:    defaultRetryDelay,
		MaxRetryDelay: defaultMaxRetryDelay,
		TryTimeout:    defaultTryTimeout,
	}
}

// String names the store: "blob store " and the container's URL without
// its query string (which may hold a SAS token).
func (s *Store) String() string { return s.name }

// BlobName is the name of the blob that holds key: the hex SHA-256 of key.
func BlobName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// leaseSeconds is ttl as a blob lease's duration: whole seconds, rounded up,
// then into [15, 60].
func leaseSeconds(ttl time.Duration) int32 {
	secs := math.Ceil(ttl.Seconds())
	switch {
	case secs < MinTTL.Seconds():
		secs = MinTTL.Seconds()
	case secs > MaxTTL.Seconds():
		secs = MaxTTL.Seconds()
	}
	return int32(secs)
}

// Acquire takes key's lease for ttl rounded to whole seconds in [15 s, 60 s]
// (see the package doc), creating the key's blob, empty, if it has none. A
// lease another holder has (in any process, this one too) makes it fail at
// once with an error for which errors.Is(err, eventattach.ErrLeaseHeld)
// holds, as does a lease being broken whose break period has not ended.
func (s *Store) Acquire(ctx context.Context, key string, ttl time.Duration) (eventattach.Lease, error) {
	const op = "acquiring the lease"
	bb := s.client.NewBlockBlobClient(BlobName(key))
	id := uuid.NewString()
	lc, err := lease.NewBlobClient(bb, &lease.BlobClientOptions{LeaseID: &id})
	if err != nil {
		return nil, s.fail(op, key, nil, err)
	}
	secs := leaseSeconds(ttl)
	_, err = lc.AcquireLease(ctx, secs, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		// The key's first Acquire: make its blob, empty, unless someone else
		// just did (If-None-Match: * never overwrites a record), then lease it.
		_, cerr := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(nil)), &blockblob.UploadOptions{
			AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}},
		})
		if cerr != nil && !exists(cerr) {
			return nil, s.fail("creating the blob", key, nil, cerr)
		}
		_, err = lc.AcquireLease(ctx, secs, nil)
	}
	if err != nil {
		if bloberror.HasCode(err, bloberror.LeaseAlreadyPresent, bloberror.LeaseIsBreakingAndCannotBeAcquired) {
			return nil, s.fail(op, key, eventattach.ErrLeaseHeld, err)
		}
		return nil, s.fail(op, key, nil, err)
	}
	return &Lease{store: s, key: key, blob: bb, lease: lc, id: id}, nil
}

// exists reports whether a create with If-None-Match: * failed because the
// blob exists (409 BlobAlreadyExists, 412 ConditionNotMet, or, when it is
// leased, 412 LeaseIdMissing).
func exists(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && (re.StatusCode == http.StatusConflict || re.StatusCode == http.StatusPreconditionFailed)
}

// Load returns key's record, read with no lease. A key that has no blob, or
// whose blob is still empty (Acquired, never Saved), has no record: the
// error then satisfies errors.Is(err, eventattach.ErrNoRecord). An empty
// record Saved is read as no record too.
func (s *Store) Load(ctx context.Context, key string) ([]byte, error) {
	const op = "loading the record"
	resp, err := s.client.NewBlockBlobClient(BlobName(key)).DownloadStream(ctx, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			return nil, s.fail(op, key, eventattach.ErrNoRecord, err)
		}
		return nil, s.fail(op, key, nil, err)
	}
	body := resp.NewRetryReader(ctx, nil)
	defer body.Close()
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, s.fail(op, key, nil, err)
	}
	if len(data) == 0 {
		return nil, s.fail(op, key, eventattach.ErrNoRecord, nil)
	}
	return data, nil
}

// Break breaks key's lease at once (a break period of 0), whoever holds it:
// the holder's next Renew or Save fails with eventattach.ErrLeaseLost, and
// the key can be Acquired again at once. The record stays. A key with no
// lease (or no blob) is left as it is, and Break returns nil. It is for
// operators and tests, when a holder is known to be gone.
func (s *Store) Break(ctx context.Context, key string) error {
	lc, err := lease.NewBlobClient(s.client.NewBlockBlobClient(BlobName(key)), nil)
	if err != nil {
		return s.fail("breaking the lease", key, nil, err)
	}
	_, err = lc.BreakLease(ctx, &lease.BlobBreakOptions{BreakPeriod: to.Ptr[int32](0)})
	if err != nil && !bloberror.HasCode(err, bloberror.LeaseNotPresentWithLeaseOperation, bloberror.BlobNotFound) {
		return s.fail("breaking the lease", key, nil, err)
	}
	return nil
}

// Lease is a key's blob lease, held by one Acquire. It is safe for
// concurrent use.
type Lease struct {
	store *Store
	key   string
	blob  *blockblob.Client
	lease *lease.BlobClient
	id    string
}

var _ eventattach.Lease = (*Lease)(nil)

// Renew extends the lease to its duration from now. A lease that was
// broken, released, or taken by another holder after it expired fails with
// an error for which errors.Is(err, eventattach.ErrLeaseLost) holds. (Blob
// Storage renews a lease that expired but that nobody took since.)
func (l *Lease) Renew(ctx context.Context) error {
	_, err := l.lease.RenewLease(ctx, nil)
	if err != nil {
		if lostOnLease(err) {
			return l.store.fail("renewing the lease", l.key, eventattach.ErrLeaseLost, err)
		}
		return l.store.fail("renewing the lease", l.key, nil, err)
	}
	return nil
}

// Save makes record the key's record, if the lease is still held (the
// write names the lease; Blob Storage refuses it otherwise). A lease lost
// (expired, broken, released, taken) writes nothing and fails with an
// error for which errors.Is(err, eventattach.ErrLeaseLost) holds. The blob
// is written in one request (Put Blob), so a reader sees the old record or
// the new one, never a part; Blob Storage has it durably once Save returns.
func (l *Lease) Save(ctx context.Context, record []byte) error {
	// One Put Blob: never a block list that a lost lease could leave half
	// staged.
	_, err := l.blob.Upload(ctx, streaming.NopCloser(bytes.NewReader(record)), &blockblob.UploadOptions{
		AccessConditions: &blob.AccessConditions{
			LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: &l.id},
		},
	})
	if err != nil {
		if lostOnBlob(err) {
			return l.store.fail("saving the record", l.key, eventattach.ErrLeaseLost, err)
		}
		return l.store.fail("saving the record", l.key, nil, err)
	}
	return nil
}

// Release gives the lease up at once; the record stays. A lease already
// lost (broken, taken, gone) leaves nothing to give up, and Release returns
// nil.
func (l *Lease) Release(ctx context.Context) error {
	_, err := l.lease.ReleaseLease(ctx, nil)
	if err != nil && !lostOnLease(err) {
		return l.store.fail("releasing the lease", l.key, nil, err)
	}
	return nil
}

// lostOnLease reports whether a lease operation (renew, release) failed
// because this lease is no longer the blob's.
func lostOnLease(err error) bool {
	if bloberror.HasCode(err,
		bloberror.LeaseIDMismatchWithLeaseOperation,
		bloberror.LeaseNotPresentWithLeaseOperation,
		bloberror.LeaseIsBrokenAndCannotBeRenewed,
		bloberror.LeaseLost,
		bloberror.BlobNotFound) {
		return true
	}
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusPreconditionFailed
}

// lostOnBlob reports whether a write under the lease failed because this
// lease is no longer the blob's. Save sets no condition but the lease, so
// any 412 is the lease's.
func lostOnBlob(err error) bool {
	if bloberror.HasCode(err,
		bloberror.LeaseIDMismatchWithBlobOperation,
		bloberror.LeaseNotPresentWithBlobOperation,
		bloberror.LeaseLost) {
		return true
	}
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusPreconditionFailed
}

// Error is a Store's failure: which store, what it was doing, to which key,
// and why. It answers errors.Is for Kind (eventattach.ErrLeaseHeld,
// ErrLeaseLost or ErrNoRecord, when it is one of those) and for Err.
type Error struct {
	Store string // the store's String()
	Op    string // e.g. "acquiring the lease"
	Key   string
	Kind  error // an eventattach sentinel, or nil
	Err   error // the service's or the transport's error, or nil
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("azblobstore: %s: %s of key %q", e.Store, e.Op, e.Key)
	var re *azcore.ResponseError
	switch {
	case e.Kind != nil && e.Err != nil && errors.As(e.Err, &re):
		// The sentinel says it; the service's code says why, in one line.
		return fmt.Sprintf("%s: %v (%d %s)", msg, e.Kind, re.StatusCode, re.ErrorCode)
	case e.Kind != nil && e.Err != nil:
		return fmt.Sprintf("%s: %v: %v", msg, e.Kind, e.Err)
	case e.Kind != nil:
		return fmt.Sprintf("%s: %v", msg, e.Kind)
	default:
		return fmt.Sprintf("%s: %v", msg, e.Err)
	}
}

// Unwrap returns Kind and Err (those that are set).
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func (s *Store) fail(op, key string, kind, err error) error {
	// A transport error names the request's URL, whose query may hold the
	// container URL's SAS token: drop the query. (An *azcore.ResponseError
	// prints no query.) The *url.Error is the request's own.
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = stripQuery(ue.URL)
	}
	return &Error{Store: s.name, Op: op, Key: key, Kind: kind, Err: err}
}

// stripQuery returns u without its query and fragment (a SAS token is a
// secret); a URL that does not parse is named by a placeholder.
func stripQuery(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable container URL)"
	}
	p.RawQuery, p.Fragment, p.User = "", "", nil
	return p.String()
}
