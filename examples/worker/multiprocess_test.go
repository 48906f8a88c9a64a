package main

// TestMultiProcess runs the worker as real processes, as a deployment does:
// four of them on one queue that delivers every task one to three times at
// once, SIGKILLs with immediate restarts, and a Graph (graphtest, in this
// process) that fails requests at random and commits some a while after
// the client gave up on them. It then reads the emulator's store: every
// task's attachment exactly once, with its bytes.
//
//	go test -run MultiProcess -v .                     # the directory store
//	AZURITE_BLOB_URL=... go test -run MultiProcess .   # and the blob store on Azurite
//
// The children are this test binary, re-executed with
// EVENTATTACH_WORKER_CHILD=1: TestMain then runs the worker's main.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventattach/eventattach/graphtest"
)

func TestMain(m *testing.M) {
	if os.Getenv("EVENTATTACH_WORKER_CHILD") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// multiprocess is one run's shape.
type multiprocess struct {
	tasks, workers, kills int
	store                 string        // -store
	leaseTTL              time.Duration // -lease-ttl: the store's shortest lease
}

const (
	// A late commit lands lateCommit after the client gave up on its
	// request; the workers' CommitLag covers it with a margin.
	lateCommit     = time.Second
	commitLag      = 2 * time.Second
	attemptTimeout = 3 * time.Second
)

func TestMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	t.Run("dir", func(t *testing.T) {
		runMultiProcess(t, multiprocess{tasks: 520, workers: 4, kills: 4, store: "dir:" + t.TempDir(), leaseTTL: 2 * time.Second})
	})
	t.Run("blob", func(t *testing.T) {
		u := strings.TrimRight(os.Getenv("AZURITE_BLOB_URL"), "/")
		if u == "" {
			t.Skip("AZURITE_BLOB_URL is not set: start Azurite with scripts/azurite.sh start (.ci/run does)")
		}
		// Blob leases last 15 to 60 s.
		runMultiProcess(t, multiprocess{tasks: 520, workers: 4, kills: 3, store: "azurite:" + u + "/mp" + randomHex(t, 8), leaseTTL: 15 * time.Second})
	})
}

func runMultiProcess(t *testing.T, mp multiprocess) {
	mailboxes := []string{"adele@contoso.com", "alex@contoso.com", "megan@contoso.com"}
	events := []string{"AAMkEvtKickoff=", "AAMkEvtReview="}
	rng := mrand.New(mrand.NewPCG(21, uint64(mp.tasks)))

	srv := graphtest.NewServer(nil)
	closed := false
	defer func() {
		if !closed {
			srv.Close()
		}
	}()
	for _, m := range mailboxes {
		for _, e := range events {
			srv.User(m).AddEvent(e)
		}
	}
	srv.RandomFaults(21, graphFaults()...)

	// The tasks: mostly small files (one POST each), every 40th one of
	// 4 to 5 MiB (an upload session of two chunks).
	tasks := make([]task, mp.tasks)
	want := make([][32]byte, mp.tasks)
	for i := range tasks {
		size := int64(1+rng.IntN(64)) << 10
		if i%40 == 39 {
			size = 4<<20 + rng.Int64N(1<<20)
		}
		m := mailboxes[i%len(mailboxes)]
		e := events[(i/len(mailboxes))%len(events)]
		tasks[i] = task{Key: fmt.Sprintf("task-%04d", i), User: m, Event: e, Name: fmt.Sprintf("task-%04d.txt", i), Size: size}
		want[i] = sha256.Sum256(synthesise(tasks[i].Name, size))
	}
	q := newTestQueue(tasks, rng, mp.kills)
	qs := httptest.NewServer(q)
	defer qs.Close()

	// The workers, restarted at once when killed.
	dir := t.TempDir()
	token := srv.Credential().IssueToken(time.Hour).Token
	start := func(name string) *exec.Cmd {
		log, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-queue", qs.URL, "-graph", srv.URL(), "-token", token,
			"-store", mp.store, "-name", name, "-concurrency", "6", "-progress", "0",
			"-lease-ttl", mp.leaseTTL.String(), "-commit-lag", commitLag.String(),
			"-attempt-timeout", attemptTimeout.String(), "-chunk-timeout", attemptTimeout.String())
		cmd.Env = append(os.Environ(), "EVENTATTACH_WORKER_CHILD=1")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		log.Close()
		return cmd
	}
	var (
		mu      sync.Mutex
		running = map[string]*exec.Cmd{}
		names   []string
		exits   = map[string]string{}
		exited  = map[string]chan struct{}{} // closed once the process has exited
	)
	var wg sync.WaitGroup
	launch := func(name string) {
		cmd := start(name)
		gone := make(chan struct{})
		mu.Lock()
		running[name], exited[name] = cmd, gone
		names = append(names, name)
		mu.Unlock()
		wg.Go(func() {
			err := cmd.Wait()
			mu.Lock()
			defer mu.Unlock()
			defer close(gone)
			exits[name] = fmt.Sprint(err)
			if err == nil {
				exits[name] = "exit 0"
			}
		})
	}
	for i := range mp.workers {
		launch(fmt.Sprintf("w%d", i))
	}

	// Each milestone (a share of the tasks done) kills the next worker
	// with SIGKILL, hands its deliveries out again, as a queue does when
	// their locks expire, and starts a new one in its place.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	kills := 0
	for k := range mp.kills {
		select {
		case <-q.milestones:
		case <-q.finished:
		case <-ctx.Done():
		}
		if ctx.Err() != nil || isClosed(q.finished) {
			break
		}
		victim := fmt.Sprintf("w%d", k%mp.workers)
		mu.Lock()
		for _, n := range names { // the newest process in that slot
			if strings.HasPrefix(n, victim) {
				victim = n
			}
		}
		cmd, gone := running[victim], exited[victim]
		mu.Unlock()
		held := q.outstanding(victim)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-gone
		q.requeue(victim)
		kills++
		t.Logf("SIGKILLed %s holding %d deliveries; restarting it", victim, held)
		launch(fmt.Sprintf("%s-%d", victim, k+1))
	}

	select {
	case <-q.finished:
	case <-ctx.Done():
		t.Errorf("the queue did not finish in time: %s", q.status())
	}
	if !isClosed(q.finished) { // the workers would wait for tasks forever
		mu.Lock()
		for _, cmd := range running {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
		mu.Unlock()
	}
	cancel()
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(time.Minute):
		mu.Lock()
		for _, cmd := range running {
			_ = cmd.Process.Kill()
		}
		mu.Unlock()
		<-waited
		t.Error("workers did not exit once the queue was done")
	}

	// Every request is in; Close waits for the late commits still pending.
	requests := len(srv.Requests())
	srv.Close()
	closed = true

	dups, lost, wrong := 0, 0, 0
	byName := map[string][]graphtest.StoredAttachment{}
	for _, m := range mailboxes {
		for _, e := range events {
			for _, a := range srv.Attachments(m, e) {
				byName[m+"/"+e+"/"+a.Name] = append(byName[m+"/"+e+"/"+a.Name], a)
			}
		}
	}
	for i, tk := range tasks {
		got := byName[tk.User+"/"+tk.Event+"/"+tk.Name]
		switch {
		case len(got) == 0:
			lost++
			t.Errorf("task %s: no attachment", tk.Key)
			continue
		case len(got) > 1:
			dups += len(got) - 1
			t.Errorf("task %s: %d attachments", tk.Key, len(got))
		}
		if sha256.Sum256(got[0].Content) != want[i] || got[0].ID != q.attachmentID(i) {
			wrong++
			t.Errorf("task %s: stored %s (%d bytes), acknowledged %s, or not the task's bytes", tk.Key, got[0].ID, len(got[0].Content), q.attachmentID(i))
		}
	}
	extra := 0
	for _, as := range byName {
		extra += len(as)
	}
	if extra -= mp.tasks - lost + dups; extra != 0 {
		t.Errorf("%d attachments of no task", extra)
	}
	if kills < 3 {
		t.Errorf("%d SIGKILLs; want at least 3", kills)
	}
	perTask := float64(requests) / float64(mp.tasks)
	if perTask > 1.3 {
		t.Errorf("%.2f Graph requests per task; want at most 1.3", perTask)
	}
	for _, n := range names {
		if e := exits[n]; e != "exit 0" && e != "signal: killed" {
			t.Errorf("worker %s: %s; want exit 0 once the queue is done", n, e)
		}
	}
	if t.Failed() {
		mu.Lock()
		for _, n := range names {
			b, _ := os.ReadFile(filepath.Join(dir, n+".log"))
			t.Logf("%s (%s):\n%s", n, exits[n], tail(b, 15))
		}
		mu.Unlock()
	}
	t.Logf("queue: %s; faults injected: %v; workers: %v", q.status(), srv.FaultsInjected(), exits)
	fmt.Printf("multiprocess: %d tasks, %d duplicates, %d lost, %d wrong, %.2f graph requests per task\n",
		mp.tasks, dups+extra, lost, wrong, perTask)
}

// graphFaults are the random faults: lost and failed answers before and
// after the request is stored, throttling, and late commits (a request
// stored lateCommit after the client gave up on it, inside its CommitLag).
func graphFaults() []graphtest.FaultChance {
	on := func(method, path string, p float64, f graphtest.Fault) graphtest.FaultChance {
		f.Method, f.Path = method, path
		return graphtest.FaultChance{Fault: f, P: p}
	}
	return []graphtest.FaultChance{
		on("POST", "/attachments", 0.02, graphtest.Fault{Kind: graphtest.FaultStatus, Status: 503}),
		on("POST", "/attachments", 0.01, graphtest.Fault{Kind: graphtest.FaultStatus, Status: 429, RetryAfter: "1"}),
		on("POST", "/attachments", 0.01, graphtest.Fault{Kind: graphtest.FaultStatusAfterStore, Status: 504}),
		on("POST", "/attachments", 0.01, graphtest.Fault{Kind: graphtest.FaultResetAfterStore}),
		on("POST", "/attachments", 0.01, graphtest.Fault{Kind: graphtest.FaultLateCommit, Latency: lateCommit}),
		on("PUT", "", 0.02, graphtest.Fault{Kind: graphtest.FaultStatus, Status: 503}),
		on("PUT", "", 0.02, graphtest.Fault{Kind: graphtest.FaultLateCommit, Latency: lateCommit}),
	}
}

// testQueue is an HTTP queue with at-least-once delivery (the protocol of
// the worker's httpQueue): every task is put in one to three times in a
// row, so its copies go out at once to different workers; a failed
// delivery goes back in; a killed worker's deliveries go back in
// (requeue). Once every task's attachment is in, each event gets an
// update task.
type testQueue struct {
	mu          sync.Mutex
	tasks       []task
	pending     []int            // task indexes (len(tasks)+e: event e's update)
	out         map[string]taken // delivery id → what and who
	done        []bool
	attachments []string
	doneFiles   int
	updates     []task
	updatesDone int
	deliveries  int
	failures    int
	conflicts   int // an ack naming another attachment than the task's first
	n           int
	milestones  chan struct{}
	kills       int
	finished    chan struct{}
}

type taken struct {
	task   int
	worker string
}

func newTestQueue(tasks []task, rng *mrand.Rand, kills int) *testQueue {
	q := &testQueue{tasks: tasks, out: map[string]taken{}, done: make([]bool, len(tasks)),
		attachments: make([]string, len(tasks)), milestones: make(chan struct{}, kills),
		kills: kills, finished: make(chan struct{})}
	for _, i := range rng.Perm(len(tasks)) {
		for range 1 + rng.IntN(3) {
			q.pending = append(q.pending, i)
		}
	}
	return q
}

func (q *testQueue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch r.URL.Path {
	case "/take":
		if isClosed(q.finished) {
			w.WriteHeader(http.StatusGone)
			return
		}
		if len(q.pending) == 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		i := q.pending[0]
		q.pending = q.pending[1:]
		q.n++
		id := fmt.Sprintf("d%d", q.n)
		q.out[id] = taken{task: i, worker: r.URL.Query().Get("worker")}
		q.deliveries++
		_ = json.NewEncoder(w).Encode(delivery{ID: id, Task: q.taskAt(i)})
	case "/ack":
		id := r.URL.Query().Get("delivery")
		tk, ok := q.out[id]
		if !ok { // requeued after its worker was killed: a late ack is void
			w.WriteHeader(http.StatusNoContent)
			return
		}
		delete(q.out, id)
		var a ack
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil || !a.OK {
			q.failures++
			q.pending = append(q.pending, tk.task)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		q.complete(tk.task, a.AttachmentID)
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

func (q *testQueue) taskAt(i int) task {
	if i < len(q.tasks) {
		return q.tasks[i]
	}
	return q.updates[i-len(q.tasks)]
}

// complete records a done task; the caller holds mu.
func (q *testQueue) complete(i int, attachmentID string) {
	if i >= len(q.tasks) {
		q.updatesDone++
	} else if q.done[i] {
		if q.attachments[i] != attachmentID {
			q.conflicts++
		}
	} else {
		q.done[i], q.attachments[i] = true, attachmentID
		q.doneFiles++
		// Milestones at 1/(kills+1), 2/(kills+1), … of the tasks.
		if q.kills > 0 && q.doneFiles%(len(q.tasks)/(q.kills+1)) == 0 && len(q.milestones) < cap(q.milestones) {
			q.milestones <- struct{}{}
		}
		q.queueUpdate(q.tasks[i])
	}
	if len(q.pending) == 0 && len(q.out) == 0 && q.doneFiles == len(q.tasks) && q.updatesDone == len(q.updates) {
		close(q.finished)
	}
}

// queueUpdate puts in the update of t's event once all its tasks are done.
func (q *testQueue) queueUpdate(t task) {
	for i, o := range q.tasks {
		if o.User == t.User && o.Event == t.Event && !q.done[i] {
			return
		}
	}
	q.updates = append(q.updates, task{Key: "update/" + t.User + "/" + t.Event, User: t.User, Event: t.Event, Update: true})
	q.pending = append(q.pending, len(q.tasks)+len(q.updates)-1)
}

// requeue hands a dead worker's deliveries out again.
func (q *testQueue) requeue(worker string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for id, tk := range q.out {
		if tk.worker == worker {
			delete(q.out, id)
			q.pending = append([]int{tk.task}, q.pending...)
		}
	}
}

func (q *testQueue) outstanding(worker string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, tk := range q.out {
		if tk.worker == worker {
			n++
		}
	}
	return n
}

func (q *testQueue) attachmentID(i int) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.attachments[i]
}

func (q *testQueue) status() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return fmt.Sprintf("%d/%d tasks done, %d/%d updates, %d deliveries, %d failed, %d pending, %d out, %d acks naming another attachment",
		q.doneFiles, len(q.tasks), q.updatesDone, len(q.updates), q.deliveries, q.failures, len(q.pending), len(q.out), q.conflicts)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func tail(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-n):], []byte("\n")))
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
