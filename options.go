package eventattach

import "sync"

// Per-method options. Each method takes them as a final variadic argument,
// so calls without them compile as they always did; nil or absent means the
// defaults, as in azure-sdk-for-go.

// AddOptions tunes AddFile, AddItem and Add.
type AddOptions struct {
	// IfAbsent makes the add idempotent, for jobs that may run twice (a
	// queue that delivers at least once, a process restarted mid-work): it
	// first reads the event (one metadata list, then the candidates'
	// content or item) and, when an attachment matching this one by the
	// package doc's Duplicate check exists already, whatever its age,
	// returns it instead of adding another. Adds with IfAbsent through one
	// Client to the same event and name run one at a time; two processes
	// adding the same attachment at the same instant can still both add.
	IfAbsent bool
	// Key is an idempotency key, e.g. the id of the task that adds this
	// attachment: one key makes at most one attachment, ever, across every
	// process sharing ClientOptions.Store (which a Key needs). A call whose
	// key already made its attachment returns it and sends nothing; one
	// whose key another call holds waits for that call; the same key with
	// other content, name, flags or event is ErrInvalidInput, nothing sent.
	// When the key's earlier holder died mid-call, the call waits until
	// that holder's last request is past ClientOptions.CommitLag and reads
	// the event first. A failing Store is ErrStore, and a key still busy
	// when ctx ends is ErrKeyBusy; neither sends anything.
	Key string
}

// GetOptions tunes Get.
type GetOptions struct {
	// ExpandItem reads an item attachment with its item: GET
	// {route}/attachments/{id}?$expand=microsoft.graph.itemattachment/item.
	// Graph's expanded item has an empty id. Without it, ItemAttachment.Item
	// is nil (Graph sends no item).
	ExpandItem bool
}

// ContentOptions tunes Content; it has no fields yet.
type ContentOptions struct{}

// ListOptions tunes List; it has no fields yet.
type ListOptions struct{}

// DeleteOptions tunes Delete; it has no fields yet.
type DeleteOptions struct{}

// last is the last non-nil option, or the zero value.
func last[T any](opts []*T) T {
	for i := len(opts) - 1; i >= 0; i-- {
		if opts[i] != nil {
			return *opts[i]
		}
	}
	var zero T
	return zero
}

func addOptions(opts []*AddOptions) AddOptions { return last(opts) }

// keyedLocks serialises IfAbsent adds of one attachment name to one event.
type keyedLocks struct {
	mu    sync.Mutex
	locks map[[3]string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int
}

// lock takes the lock of key and returns its release.
func (k *keyedLocks) lock(key ...string) func() {
	var id [3]string
	copy(id[:], key)
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[[3]string]*keyedLock{}
	}
	l := k.locks[id]
	if l == nil {
		l = &keyedLock{}
		k.locks[id] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, id)
		}
		k.mu.Unlock()
	}
}
