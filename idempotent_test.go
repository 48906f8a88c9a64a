package eventattach

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Add only once: IfAbsent reads the event first and returns what is there.

func TestAddFileIfAbsent(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	a := c.Me().Events("e1").Attachments()
	ctx := context.Background()
	first, err := a.AddFile(ctx, &FileAttachment{Name: "minutes.txt", ContentBytes: []byte("v1")}, &AddOptions{IfAbsent: true})
	require.NoError(t, err)
	again, err := a.AddFile(ctx, &FileAttachment{Name: "minutes.txt", ContentBytes: []byte("v1")}, &AddOptions{IfAbsent: true})
	require.NoError(t, err)
	assert.Equal(t, first.ID, again.ID, "the one already there")
	assert.Equal(t, []byte("v1"), again.ContentBytes)
	require.Equal(t, 1, len(srv.Attachments("me", "e1")))
	// Other bytes under the same name are another attachment.
	other, err := a.AddFile(ctx, &FileAttachment{Name: "minutes.txt", ContentBytes: []byte("v2")}, &AddOptions{IfAbsent: true})
	require.NoError(t, err)
	assert.NotEqual(t, first.ID, other.ID)
	// Without the option (or with nil options) it adds, as it always did.
	_, err = a.AddFile(ctx, &FileAttachment{Name: "minutes.txt", ContentBytes: []byte("v1")}, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, len(srv.Attachments("me", "e1")))
}

func TestAddItemIfAbsent(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	a := c.Me().Events("e1").Attachments()
	ctx := context.Background()
	item := func(subject string) *ItemAttachment {
		return &ItemAttachment{Name: "Kick-off", Item: &Event{Subject: subject}}
	}
	first, err := a.AddItem(ctx, item("Kick-off"), &AddOptions{IfAbsent: true})
	require.NoError(t, err)
	again, err := a.Add(ctx, item("Kick-off"), &AddOptions{IfAbsent: true})
	require.NoError(t, err)
	assert.Equal(t, first.ID, again.AttachmentID())
	_, err = a.AddItem(ctx, item("Another meeting"), &AddOptions{IfAbsent: true})
	require.NoError(t, err)
	assert.Equal(t, 2, len(srv.Attachments("me", "e1")))
}

func TestUploadIfAbsent(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	a := c.Me().Events("e1").Attachments()
	content := bytes.Repeat([]byte("recording "), MaxAddSize/10+1)
	first, err := a.Upload(context.Background(), FileUpload{Name: "r.bin", Content: bytes.NewReader(content), Size: int64(len(content)), IfAbsent: true})
	require.NoError(t, err)
	again, err := a.Upload(context.Background(), FileUpload{Name: "r.bin", Content: bytes.NewReader(content), Size: int64(len(content)), IfAbsent: true})
	require.NoError(t, err)
	assert.Equal(t, first.ID, again.ID)
	assert.Equal(t, 1, len(srv.Attachments("me", "e1")))
	// Content that cannot be hashed first and sent after is refused.
	_, err = a.Upload(context.Background(), FileUpload{Name: "r.bin", Content: io.MultiReader(bytes.NewReader(content)), Size: int64(len(content)), IfAbsent: true})
	require.ErrorIs(t, err, ErrInvalidInput)
}

// 500 jobs from a queue that delivers each one 1 to 3 times, some
// deliveries running while an earlier one of the same job still is, with
// random faults on both listeners; a delivery that fails is delivered
// again, as queues do. Every job's attachment ends up on its event exactly
// once, with its bytes.
func TestIdempotentRedelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the redelivery load test")
	}
	const (
		jobs     = 500
		workers  = 32
		events   = 20
		bigEvery = 20 // every 20th job uploads MaxAddSize bytes through a session
	)
	srv := graphtest.NewServer(&graphtest.Options{MaxBodyRecorded: -1, UploadByteLimit: -1})
	t.Cleanup(srv.Close)
	for e := range events {
		srv.User("worker@contoso.com").AddEvent(fmt.Sprintf("ev-%d", e))
	}
	fault := func(method, path string, k graphtest.FaultKind, status int) graphtest.Fault {
		return graphtest.Fault{Method: method, Path: path, Kind: k, Status: status, RetryAfter: "0"}
	}
	srv.RandomFaults(7,
		graphtest.FaultChance{Fault: fault("POST", "/attachments", graphtest.FaultStatusAfterStore, 504), P: 0.05},
		graphtest.FaultChance{Fault: fault("POST", "/attachments", graphtest.FaultResetAfterStore, 0), P: 0.05},
		graphtest.FaultChance{Fault: fault("POST", "/attachments", graphtest.FaultStatus, 503), P: 0.05},
		graphtest.FaultChance{Fault: fault("GET", "/attachments", graphtest.FaultStatus, 500), P: 0.03},
		graphtest.FaultChance{Fault: fault("PUT", "AttachmentSessions", graphtest.FaultResetAfterStore, 0), P: 0.05},
		graphtest.FaultChance{Fault: fault("PUT", "AttachmentSessions", graphtest.FaultStatus, 503), P: 0.05},
	)
	c := newTestClient(t, srv.URL(), srv.Credential())
	contentOf := func(j int) []byte {
		if j%bigEvery == 0 {
			return bytes.Repeat([]byte(fmt.Sprintf("job %03d|", j)), MaxAddSize/8)[:MaxAddSize]
		}
		return []byte(fmt.Sprintf("report of job %d", j))
	}
	deliver := func(j int) error {
		a := c.Users("worker@contoso.com").Events(fmt.Sprintf("ev-%d", j%events)).Attachments()
		name, content := fmt.Sprintf("job-%03d.txt", j), contentOf(j)
		if j%bigEvery == 0 {
			_, err := a.Upload(context.Background(), FileUpload{Name: name, Content: bytes.NewReader(content), Size: int64(len(content)), IfAbsent: true})
			return err
		}
		_, err := a.AddFile(context.Background(), &FileAttachment{Name: name, ContentBytes: content}, &AddOptions{IfAbsent: true})
		return err
	}
	// The queue: each job 1-3 times, shuffled, so a job's deliveries may run
	// at the same time on different workers.
	rng := rand.New(rand.NewPCG(14, 14))
	var queue []int
	for j := range jobs {
		for range 1 + rng.IntN(3) {
			queue = append(queue, j)
		}
	}
	rng.Shuffle(len(queue), func(a, b int) { queue[a], queue[b] = queue[b], queue[a] })
	ch := make(chan int, len(queue))
	for _, j := range queue {
		ch <- j
	}
	var (
		pending   sync.WaitGroup
		redeliver atomic.Int32
		unknown   atomic.Int32
	)
	pending.Add(len(queue))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range ch {
				if err := deliver(j); err != nil {
					if errors.Is(err, ErrOutcomeUnknown) {
						unknown.Add(1)
					}
					redeliver.Add(1)
					pending.Add(1)
					ch <- j // the queue delivers it again
				}
				pending.Done()
			}
		})
	}
	pending.Wait()
	close(ch)
	wg.Wait()

	stored := map[string]int{}
	wrong := 0
	for e := range events {
		for _, a := range srv.Attachments("worker@contoso.com", fmt.Sprintf("ev-%d", e)) {
			stored[a.Name]++
			var j int
			if _, err := fmt.Sscanf(a.Name, "job-%03d.txt", &j); err != nil || !bytes.Equal(a.Content, contentOf(j)) {
				wrong++
			}
		}
	}
	dups, lost := 0, 0
	for j := range jobs {
		switch n := stored[fmt.Sprintf("job-%03d.txt", j)]; {
		case n == 0:
			lost++
		case n > 1:
			dups += n - 1
		}
	}
	t.Logf("redelivery: jobs=%d deliveries=%d redelivered-after-failure=%d (unknown outcome %d) faults=%v duplicates=%d lost=%d wrong-bytes=%d",
		jobs, len(queue), redeliver.Load(), unknown.Load(), srv.FaultsInjected(), dups, lost, wrong)
	assert.Zero(t, dups, "duplicates")
	assert.Zero(t, lost, "lost")
	assert.Zero(t, wrong, "wrong bytes")
	assert.Greater(t, len(queue), jobs, "some jobs were delivered more than once")
}
