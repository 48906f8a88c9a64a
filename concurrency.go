package eventattach

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// mailboxLimiter caps the requests in flight per mailbox, because Outlook
// answers 429 ApplicationThrottled beyond four concurrent requests to one
// mailbox. Waiting honours ctx; one busy mailbox does not hold up another.
// Mailboxes are told apart by the route's key (users/{id or UPN}, groups/{id},
// me), so one mailbox reached by two keys gets a cap for each.
type mailboxLimiter struct {
	limit int
	mu    sync.Mutex
	slots map[string]chan struct{}
}

func newMailboxLimiter(limit int) *mailboxLimiter {
	if limit <= 0 {
		return nil
	}
	return &mailboxLimiter{limit: limit, slots: make(map[string]chan struct{})}
}

// acquire waits for a slot of mailbox and returns its release func.
func (l *mailboxLimiter) acquire(ctx context.Context, mailbox string) (chan struct{}, error) {
	if l == nil || mailbox == "" {
		return nil, nil
	}
	l.mu.Lock()
	sem := l.slots[mailbox]
	if sem == nil {
		sem = make(chan struct{}, l.limit)
		l.slots[mailbox] = sem
	}
	l.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return sem, nil
	case <-ctx.Done():
		// Say what holds the slots: usually readers not yet closed.
		return nil, fmt.Errorf("eventattach: waiting for a free request slot for mailbox %s (%d of %d in flight): %w",
			mailbox, len(sem), cap(sem), ctx.Err())
	}
}

// releasingBody gives the mailbox slot back when the response body is closed
// or its reading ends (at EOF or on an error), whichever comes first: a
// request is in flight until its answer has been read.
type releasingBody struct {
	io.ReadCloser
	sem  chan struct{}
	done atomic.Bool
}

func (b *releasingBody) release() {
	if b.done.CompareAndSwap(false, true) {
		<-b.sem
	}
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.release()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
