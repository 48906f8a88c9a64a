// Worker is the reference background job: it takes tasks ("attach this
// file to that user's event") from a queue that delivers at least once, or
// from "user,event,file[,key]" lines, and attaches each file exactly once,
// however many processes run it, however often a task is delivered, and
// whichever of them is killed midway. It is what issue-sized jobs should
// copy:
//
//   - every task carries an idempotency key (its task id, the same on every
//     delivery) in FileUpload.Key, kept in a store every worker shares: a
//     directory for processes on one host (the default), a Blob Storage
//     container for replicas (-store blob:URL); one key makes at most one
//     attachment, and a second delivery waits for the first or returns its
//     attachment without sending anything to Graph;
//
//   - uploads of 3 MiB and more save their checkpoints in that store, so a
//     worker that takes over a dead one's task resumes its upload session;
//
//   - once an event's files are in, the event's organizer sends the update
//     that brings them to the attendees (SendUpdate), once per event;
//
//   - a progress line every -progress, and a summary line at the end.
//
//     go run .                                  # offline demo: 50 lines, 10 redelivered, against graphtest
//     go run . -faults                          # the same, with random Graph faults and late commits
//     go run . -in jobs.csv                     # file = a path on disk
//     go run . -generate 65536 < jobs.csv       # file = just a name; content is made up
//     go run . -queue http://127.0.0.1:8080 -store azurite:http://127.0.0.1:10000/devstoreaccount1/keys
//
// Input lines are "user,event,file[,key]" (user is an id or
// userPrincipalName; key defaults to the line itself; blank lines and #
// comments are skipped), from -in or stdin; when stdin is a terminal or
// empty (CI runs with </dev/null) it makes up the demo. With -queue it
// takes tasks from an HTTP queue instead (queue.go says the protocol:
// POST /take and /ack, at-least-once), and content is synthesised from
// each task's name and size.
//
// Graph: offline (no settings) an in-process graphtest emulator seeded with
// the input's users and events, checked at the end (every name on its
// event exactly once, with the bytes sent); -graph and -token (default
// EVENTATTACH_BASE_URL and EVENTATTACH_TOKEN, which the graphtest command
// prints) for an emulator in another process; GRAPH_USER, GRAPH_EVENT_ID
// and a DefaultAzureCredential's settings (AZURE_TENANT_ID, ...) for
// Microsoft Graph.
//
// SIGINT or SIGTERM stops it gracefully: tasks in flight finish (for up to
// -grace), no new one starts; a second signal quits at once. SIGKILL is
// safe too: another delivery of each task it held finishes the work.
//
// Exit status: 0 when every task is done (and, offline, the check passes),
// 1 when a task failed or the check did not pass, 2 for bad usage or input,
// 3 when stopped by a signal before every line was started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eventattach/eventattach"
)

type config struct {
	in, queue, store, graph, token, name string
	concurrency                          int
	generate                             int64
	faults, verbose, update              bool
	seed                                 int64
	grace, progress                      time.Duration
	leaseTTL, commitLag                  time.Duration
	attemptTimeout, chunkTimeout         time.Duration
	retryDelay                           time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.in, "in", "", "input file of user,event,file[,key] lines (default: stdin, or the demo)")
	flag.StringVar(&c.queue, "queue", "", "take tasks from this HTTP queue `URL` instead of lines")
	flag.StringVar(&c.store, "store", "", "idempotency store: dir:PATH, blob:CONTAINER_URL or azurite:CONTAINER_URL\n(default dir: in the user cache directory; the offline demo uses a fresh one)")
	flag.StringVar(&c.graph, "graph", os.Getenv("EVENTATTACH_BASE_URL"), "Graph version root of a graphtest emulator in another process")
	flag.StringVar(&c.token, "token", os.Getenv("EVENTATTACH_TOKEN"), "bearer token for -graph")
	flag.StringVar(&c.name, "name", fmt.Sprintf("worker-%d", os.Getpid()), "this worker's name in the queue and its output")
	flag.IntVar(&c.concurrency, "concurrency", 8, "tasks in flight at once (the SDK also caps 4 per mailbox)")
	flag.Int64Var(&c.generate, "generate", 0, "lines: synthesise this many bytes per line instead of reading the file")
	flag.BoolVar(&c.faults, "faults", false, "offline: random Graph faults, late commits included")
	flag.Int64Var(&c.seed, "seed", 1, "offline: seed of the random faults")
	flag.BoolVar(&c.update, "update", true, "lines: send each event's update once all its lines are done")
	flag.DurationVar(&c.grace, "grace", 30*time.Second, "after a signal, how long tasks in flight may take to finish")
	flag.DurationVar(&c.progress, "progress", 10*time.Second, "print a progress line this often (0: never)")
	flag.DurationVar(&c.leaseTTL, "lease-ttl", 0, "ClientOptions.LeaseTTL (0: the SDK's 30 s)")
	flag.DurationVar(&c.commitLag, "commit-lag", 0, "ClientOptions.CommitLag (0: the SDK's 3 min)")
	flag.DurationVar(&c.attemptTimeout, "attempt-timeout", 0, "ClientOptions.AttemptTimeout (0: the SDK's 2 min)")
	flag.DurationVar(&c.chunkTimeout, "chunk-timeout", 0, "FileUpload.ChunkTimeout (0: the SDK's default)")
	flag.DurationVar(&c.retryDelay, "retry-delay", 0, "RetryOptions.BaseDelay (0: the SDK's, or 20 ms against an emulator)")
	flag.BoolVar(&c.verbose, "v", false, "print every task, not only failures")
	flag.Parse()
	log.SetFlags(0)
	if c.concurrency < 1 {
		log.Println("-concurrency must be at least 1")
		os.Exit(2)
	}
	os.Exit(run(c))
}

func run(c config) int {
	// The first SIGINT/SIGTERM cancels ctx: no new task starts. Tasks in
	// flight run on work, which gets -grace more before it ends too.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work, cancelWork := context.WithCancel(context.Background())
	defer cancelWork()
	noticeOff := context.AfterFunc(ctx, func() {
		stop() // a second signal quits at once
		fmt.Printf("%s: signal: finishing the tasks in flight (up to %s), starting no new ones\n", c.name, c.grace)
		time.AfterFunc(c.grace, cancelWork)
	})
	defer noticeOff()

	g, err := connect(c)
	if err != nil {
		log.Println(err)
		return 2
	}
	defer g.close()

	var src source
	var lines *lineSource
	if c.queue != "" {
		src = &queueSource{httpQueue{base: c.queue, worker: c.name, hc: &http.Client{Timeout: 30 * time.Second}}}
	} else {
		tasks, demo, err := readTasks(c.in, g.online)
		if err != nil {
			log.Println(err)
			return 2
		}
		if demo && c.generate == 0 {
			c.generate = 16 << 10
		}
		for i := range tasks {
			if tasks[i].File == "" || c.generate > 0 {
				tasks[i].Size = c.generate
			}
		}
		if g.srv != nil {
			g.seed(tasks)
		}
		if err := g.openClient(ctx, c, demo); err != nil {
			log.Println(err)
			return 2
		}
		if demo {
			tasks = g.demoPrelude(ctx, tasks)
		}
		lines = &lineSource{tasks: tasks, results: make([]ack, len(tasks))}
		src = lines
	}
	if g.client == nil {
		if err := g.openClient(ctx, c, false); err != nil {
			log.Println(err)
			return 2
		}
	}

	w := &worker{client: g.client, chunkTimeout: c.chunkTimeout}
	start := time.Now()
	stopProgress := w.reportProgress(c.name, c.progress)
	var wg sync.WaitGroup
	for range c.concurrency {
		wg.Go(func() { w.loop(ctx, work, src, c.verbose) })
	}
	wg.Wait()
	stopProgress()

	ok := w.failed.Load() == 0 && !w.broken.Load()
	notStarted := 0
	if lines != nil {
		notStarted = lines.notStarted()
		if c.update && ctx.Err() == nil {
			ok = w.sendUpdates(work, lines) && ok
		}
	}
	fmt.Printf("%s: %d tasks in %s: done %d (attached, or found by key), failed %d, updates sent %d, not started %d\n",
		c.name, w.done.Load()+w.failed.Load()+int64(notStarted), time.Since(start).Round(time.Millisecond),
		w.done.Load(), w.failed.Load(), w.updates.Load(), notStarted)
	if lines != nil {
		lines.printNotStarted()
		if g.srv != nil {
			ok = g.verify(lines) && ok
		}
	}
	switch {
	case notStarted > 0 || (c.queue != "" && ctx.Err() != nil):
		return 3
	case !ok:
		return 1
	}
	return 0
}

// worker runs tasks on one Client.
type worker struct {
	client       *eventattach.Client
	chunkTimeout time.Duration

	done, failed, updates, inFlight atomic.Int64
	broken                          atomic.Bool // the source failed: tasks may be left
	mu                              sync.Mutex  // serialises output
}

// loop takes deliveries until the source has none left or ctx ends, and
// runs each on work (which outlives ctx by the grace period).
func (w *worker) loop(ctx, work context.Context, src source, verbose bool) {
	for {
		d, err := src.take(ctx)
		if err != nil {
			if !errors.Is(err, errQueueDone) && ctx.Err() == nil {
				w.broken.Store(true)
				w.say("take: %v", err)
			}
			return
		}
		w.inFlight.Add(1)
		a := w.run(work, d.Task)
		w.inFlight.Add(-1)
		switch {
		case !a.OK:
			w.failed.Add(1)
			w.say("failed  %s: %s", d.Task, a.Error)
		case verbose:
			w.say("done    %s %s", d.Task, a.AttachmentID)
		}
		if err := src.ack(work, d.ID, a); err != nil {
			w.say("ack %s: %v", d.Task, err)
		}
	}
}

// run does one task.
func (w *worker) run(ctx context.Context, t task) ack {
	ev := w.client.Users(t.User).Events(t.Event)
	if t.Update {
		if err := ev.SendUpdate(ctx); err != nil {
			return ack{Error: err.Error()}
		}
		w.updates.Add(1)
		w.done.Add(1)
		return ack{OK: true}
	}
	content, size, closeFile, err := open(t)
	if err != nil {
		return ack{Error: err.Error()}
	}
	defer closeFile()
	// One key, one attachment: a delivery whose key is already done gets
	// the first one's attachment and sends nothing; one whose key another
	// worker holds waits for it; one whose earlier holder died resumes its
	// upload session, or (a POST) reads the event first.
	att, err := ev.Attachments().Upload(ctx, eventattach.FileUpload{
		Name: t.Name, ContentType: contentType(t.Name), Content: content, Size: size,
		Key: t.Key, ChunkTimeout: w.chunkTimeout,
	})
	if err != nil {
		return ack{Error: err.Error()}
	}
	w.done.Add(1)
	return ack{OK: true, AttachmentID: att.ID}
}

// sendUpdates sends, once per event, the update that brings its files to
// the attendees, for every event whose lines are all done.
func (w *worker) sendUpdates(ctx context.Context, lines *lineSource) bool {
	ok := true
	for _, t := range lines.completeEvents() {
		if a := w.run(ctx, t); !a.OK {
			w.failed.Add(1)
			w.say("failed  %s: %s", t, a.Error)
			ok = false
		}
	}
	return ok
}

func (w *worker) say(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Printf(format+"\n", args...)
}

// reportProgress prints a line every interval until the returned func is
// called.
func (w *worker) reportProgress(name string, every time.Duration) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	t := time.NewTicker(every)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				w.say("%s: progress: done %d, failed %d, in flight %d", name, w.done.Load(), w.failed.Load(), w.inFlight.Load())
			}
		}
	})
	return func() { t.Stop(); close(quit); wg.Wait() }
}
