package eventattach

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Idempotency keys: one key makes at most one attachment, across every
// process that shares the Client's Store. A keyed call
//
//  1. takes the key's lease (while another call holds it, it waits, and
//     returns that call's attachment once it is recorded);
//  2. reads the key's record: a different request under the same key is
//     ErrInvalidInput; a recorded attachment is returned, nothing sent;
//  3. when an earlier holder may have sent something (the record has a
//     QuietAfter), waits until QuietAfter, when any request of that holder
//     has landed or never will, and only then reads the event (the package
//     doc's Duplicate check, or the upload's checkpoint);
//  4. records QuietAfter, sends (renewing the lease, and pushing QuietAfter
//     on, while it runs; a lost lease stops the call), and records the
//     attachment.
//
// In the common case, a first call, that is one Graph request for a file
// under MaxAddFileSize, and a later call with the same key costs none.

// Defaults of keyed calls (ClientOptions.LeaseTTL, ClientOptions.CommitLag).
const (
	defaultLeaseTTL = 30 * time.Second
	// defaultCommitLag is how long after a request's attempt ended on our
	// side Graph may still commit it. Graph's gateway answers 504 after
	// about 30 s, and the work behind a 504 has been seen to land later;
	// no page says how much later (GRAPH-FACTS.md, err-9 and err-19):
	// 3 minutes is six of the gateway's 30 s.
	defaultCommitLag = 3 * time.Minute
	keyPollFirst     = 50 * time.Millisecond
	keyPollMax       = time.Second
)

// ErrKeyBusy is returned when a keyed call's ctx ends (or its deadline
// comes before the wait would end) while another call holds the key, or
// while a request of an earlier holder, one that may have died, may still
// land on Graph. Nothing was sent; call again later.
var ErrKeyBusy = errors.New("eventattach: the idempotency key is busy")

// keyHold is a key this call holds: the lease, renewed in the background
// while the call runs, and the record, which only the holder writes.
type keyHold struct {
	c       *Client
	op, key string
	lease   Lease
	// horizon is this call's bound on one request (AttemptTimeout, or an
	// upload's ChunkTimeout) plus ClientOptions.CommitLag.
	horizon time.Duration
	cancel  context.CancelCauseFunc

	mu      sync.Mutex
	rec     keyRecord
	sending bool // QuietAfter is being kept ahead of the lease

	stop, stopped chan struct{}
}

// keyHoldKey carries a keyed call's *keyHold in its context, for guardWrite.
type keyHoldKey struct{}

// guardWrite, before a request that writes (anything but a GET) in a keyed
// call, proves the lease is still held by renewing it: a lost lease ends
// the call, which writes nothing more.
func guardWrite(ctx context.Context, method string) error {
	h, _ := ctx.Value(keyHoldKey{}).(*keyHold)
	if h == nil || method == http.MethodGet {
		return nil
	}
	if err := h.lease.Renew(ctx); err != nil {
		err = h.c.storeError("renewing the lease before a request", h.key, err)
		h.cancel(err)
		return err
	}
	return nil
}

// keyed runs send under key. send gets the context to send with (it ends
// when the lease is lost) and the upload checkpoint an earlier holder
// left, if any; check reads the event for the attachment when an earlier
// holder may have added it.
func (a Attachments) keyed(ctx context.Context, op, key string, req keyRequest, bound time.Duration,
	check func(context.Context) (Attachment, error),
	send func(context.Context, *keyHold, *UploadState) (Attachment, error)) (Attachment, error) {
	c := a.r.c
	if c.store == nil {
		return nil, invalidInput("%s with a Key needs ClientOptions.Store (NewDirStore keeps keys in a directory on one host)", op)
	}
	h, rec, err := c.holdKey(ctx, op, key, req, bound)
	if err != nil {
		return nil, err
	}
	if rec.Done != nil {
		return rec.Done.attachment(req.Kind), nil
	}
	ctx, h.cancel = context.WithCancelCause(ctx)
	ctx = context.WithValue(ctx, keyHoldKey{}, h)
	defer h.release(ctx)
	go h.keep(ctx)
	// lost prefers the store's failure, which ended ctx, to what it did
	// to the request in flight.
	lost := func(err error) error {
		if cause := context.Cause(ctx); errors.Is(cause, ErrLeaseLost) || errors.Is(cause, ErrStore) {
			return fmt.Errorf("eventattach: %s key %q stopped: %w", op, key, cause)
		}
		return err
	}
	if !rec.QuietAfter.IsZero() {
		// An earlier holder sent something and did not record the outcome.
		if err := c.waitKey(ctx, op, key, rec.QuietAfter, "an earlier call's request may still land on Graph"); err != nil {
			return nil, lost(err)
		}
		if rec.Upload == nil {
			found, err := check(ctx)
			if err != nil {
				return nil, lost(fmt.Errorf("eventattach: %s key %q: reading the event for an earlier call's attachment: %w", op, key, err))
			}
			if found != nil {
				h.finish(ctx, found)
				return found, nil
			}
		}
	}
	if err := h.startSending(ctx); err != nil {
		return nil, err
	}
	att, err := send(ctx, h, rec.Upload)
	if err != nil {
		return nil, lost(err)
	}
	h.finish(ctx, att)
	return att, nil
}

// holdKey takes key's lease, waiting while another call holds it. It
// returns the key's record (a new one when the store has none); when the
// record holds the attachment, the lease is already given back.
func (c *Client) holdKey(ctx context.Context, op, key string, req keyRequest, bound time.Duration) (*keyHold, *keyRecord, error) {
	poll := keyPollFirst
	for {
		lease, err := c.store.Acquire(ctx, key, c.leaseTTL)
		if err == nil {
			h := &keyHold{c: c, op: op, key: key, lease: lease, horizon: bound + c.commitLag,
				stop: make(chan struct{}), stopped: make(chan struct{})}
			rec, err := h.read(ctx, req)
			if err != nil || rec.Done != nil {
				h.giveBack(ctx)
				return nil, rec, err
			}
			h.rec = *rec
			return h, rec, nil
		}
		if !errors.Is(err, ErrLeaseHeld) {
			return nil, nil, c.storeError("acquiring the lease", key, err)
		}
		// Another call holds the key: its attachment may be recorded already.
		rec, err := c.loadRecord(ctx, key, req)
		if err != nil || (rec != nil && rec.Done != nil) {
			return nil, rec, err
		}
		if err := c.waitKey(ctx, op, key, time.Now().Add(poll), "another call holds it"); err != nil {
			return nil, nil, err
		}
		poll = min(2*poll, keyPollMax)
	}
}

// read loads the record under the lease, or starts a new one.
func (h *keyHold) read(ctx context.Context, req keyRequest) (*keyRecord, error) {
	rec, err := h.c.loadRecord(ctx, h.key, req)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		rec = &keyRecord{Key: h.key, Request: req}
	}
	return rec, nil
}

// loadRecord reads key's record: nil when there is none, ErrInvalidInput
// when it was made for another request, a *StoreError when it cannot be
// read or is corrupt.
func (c *Client) loadRecord(ctx context.Context, key string, req keyRequest) (*keyRecord, error) {
	b, err := c.store.Load(ctx, key)
	if errors.Is(err, ErrNoRecord) {
		return nil, nil
	}
	if err != nil {
		return nil, c.storeError("reading the record", key, err)
	}
	rec, err := decodeRecord(b, key)
	if err != nil {
		return nil, c.storeError("reading the record", key, err)
	}
	if m := req.mismatch(rec.Request); m != "" {
		return nil, invalidInput("idempotency key %q is bound to another attachment: %s", key, m)
	}
	return rec, nil
}

// waitKey waits until, unless ctx ends first or its deadline comes before
// until: then it is ErrKeyBusy, saying why.
func (c *Client) waitKey(ctx context.Context, op, key string, until time.Time, why string) error {
	d := time.Until(until)
	if dl, ok := ctx.Deadline(); ok && dl.Before(until) {
		return fmt.Errorf("%w: %s key %q: %s until %s, after this call's deadline", ErrKeyBusy, op, key, why, until.Format(time.RFC3339))
	}
	if err := sleep(ctx, d); err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrLeaseLost) || errors.Is(cause, ErrStore) {
			return cause
		}
		return fmt.Errorf("%w: %s key %q: %s: %w", ErrKeyBusy, op, key, why, err)
	}
	return nil
}

func (c *Client) storeError(op, key string, err error) error {
	return &StoreError{Store: c.store.String(), Op: op, Key: key, Err: err}
}

// waitOutCommitLag, in a keyed call, waits CommitLag before the event is
// read for a request that got no usable answer: until then the request may
// still land, and a check that looked too early would send it again.
func waitOutCommitLag(ctx context.Context) error {
	h, _ := ctx.Value(keyHoldKey{}).(*keyHold)
	if h == nil {
		return nil
	}
	if err := sleep(ctx, h.c.commitLag); err != nil {
		return fmt.Errorf("waiting ClientOptions.CommitLag (%s) for the request to land or not: %w", h.c.commitLag, err)
	}
	return nil
}

// keep renews the lease every third of its TTL, and while the call sends,
// pushes QuietAfter on with it. When either fails, the call's context ends
// with the cause, so the call sends nothing more.
func (h *keyHold) keep(ctx context.Context) {
	defer close(h.stopped)
	// Every third of the TTL, and at least every 20 s: a store may cap
	// its leases (Azure's blob leases end after 60 s at most).
	every := min(h.c.leaseTTL/3, 20*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), every)
		err := h.lease.Renew(rctx)
		if err == nil {
			err = h.save(rctx, "saving the record", func(r *keyRecord) bool { return h.sending })
		} else {
			err = h.c.storeError("renewing the lease", h.key, err)
		}
		cancel()
		if err != nil {
			h.cancel(err)
			return
		}
	}
}

// save changes the record with edit (which reports whether there is
// anything to save) and writes it, moving QuietAfter past the lease's end
// while the call sends.
func (h *keyHold) save(ctx context.Context, what string, edit func(*keyRecord) bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !edit(&h.rec) {
		return nil
	}
	if h.sending && h.rec.Done == nil {
		// Until the next renewal this holder may send up to the lease's
		// end; each request may land up to horizon after it is sent.
		h.rec.QuietAfter = time.Now().Add(h.c.leaseTTL + h.horizon)
	}
	b, err := json.Marshal(&h.rec)
	if err == nil {
		err = h.lease.Save(ctx, b)
	}
	if err != nil {
		return h.c.storeError(what, h.key, err)
	}
	return nil
}

// startSending records that this holder is about to send.
func (h *keyHold) startSending(ctx context.Context) error {
	return h.save(ctx, "recording the call before it sends", func(r *keyRecord) bool {
		h.sending = true
		return true
	})
}

// checkpoint records an upload's state; a failure stops the upload before
// its next chunk.
func (h *keyHold) checkpoint(ctx context.Context, s UploadState) {
	if err := h.save(ctx, "saving the upload's checkpoint", func(r *keyRecord) bool {
		r.Upload = &s
		return true
	}); err != nil {
		h.cancel(err)
	}
}

// finish records the attachment. When that fails the attachment is
// returned all the same: a later call with the key finds it on the event
// by the Duplicate check once QuietAfter has passed.
func (h *keyHold) finish(ctx context.Context, att Attachment) {
	err := h.save(context.WithoutCancel(ctx), "recording the attachment", func(r *keyRecord) bool {
		r.Done, r.Upload, r.QuietAfter = doneFrom(att), nil, time.Time{}
		h.sending = false
		return true
	})
	if err != nil && h.c.logger != nil {
		h.c.logger.Warn("eventattach: the attachment was added but its key's record was not saved; a later call with the key will find it on the event",
			"op", h.op, "key", h.key, "error", err.Error())
	}
}

// release stops the renewals and gives the lease back.
func (h *keyHold) release(ctx context.Context) {
	close(h.stop)
	<-h.stopped
	h.giveBack(ctx)
	h.cancel(nil)
}

func (h *keyHold) giveBack(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dedupeGrace)
	defer cancel()
	// A lease not given back expires by itself after its TTL.
	_ = h.lease.Release(rctx)
}

// checkFor is a keyed call's look at the event for what an earlier holder
// may have added: the Duplicate check, whatever the attachment's age.
func (a Attachments) checkFor(sent *sentAttachment) func(context.Context) (Attachment, error) {
	return func(ctx context.Context) (Attachment, error) {
		return a.findSent(ctx, "", sent, time.Time{})
	}
}

func (d *keyDone) attachment(kind string) Attachment {
	if kind == odataItemAttachment {
		return d.item()
	}
	return d.file()
}
