package eventattach

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
)

// mailboxLimiter caps the requests in flight per mailbox, because Outlook
// answers 429 ApplicationThrottled beyond four concurrent requests to one
// mailbox. Waiting honours ctx; one busy mailbox does not hold up another.
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
		return nil, ctx.Err()
	}
}

// releasingBody gives the mailbox slot back when the response body is closed
// or read to the end, whichever comes first: a request is in flight until its
// answer has been read.
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
	if err == io.EOF {
		b.release()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
