// Worker is a background job: it reads "user,event,file" lines and attaches
// each file to that user's event, several at a time, relying on the SDK's
// retries. It is safe to run again on the same input, and to run two copies
// of a line at once: each upload says IfAbsent, so an attachment already on
// the event (same name and bytes) is returned, not added again.
//
//	go run ./examples/worker                         # offline demo: 50 generated lines
//	go run ./examples/worker -faults                 # the same, with random Graph faults
//	go run ./examples/worker -in jobs.csv            # file = a path on disk
//	go run ./examples/worker -generate 65536 < jobs.csv  # file = just a name; content is made up
//
// Input: one "user,event,file" per line (user is an id or userPrincipalName;
// blank lines and lines starting with # are ignored), from -in or stdin. When
// stdin is a terminal or empty (CI runs with </dev/null) it makes up a demo
// input of 50 lines.
//
// SIGINT or SIGTERM stops it gracefully: the items in flight finish (for up to
// -grace), no new one starts, and the ones never started are printed so they
// can be fed in again. A second signal quits at once.
//
// Offline (no Azure settings) it runs against an in-process graphtest
// emulator seeded with the users and events of the input, and at the end
// checks the emulator's store: every event must hold every name exactly once.
// Against Graph, set GRAPH_USER, GRAPH_EVENT_ID and the settings of a
// DefaultAzureCredential source (AZURE_TENANT_ID, AZURE_CLIENT_ID, ...).
//
// Exit status: 0 when every line is done (and, offline, the check
// passes), 1 when a line failed or the check did not pass, 2 for bad usage or
// input, 3 when stopped by a signal before every line was started.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
)

type job struct {
	line              int
	user, event, file string
	name              string // the attachment's name: the file's base name
}

func (j job) String() string { return j.user + "," + j.event + "," + j.file }

type outcome int

const (
	notStarted outcome = iota
	done
	failed
)

type result struct {
	outcome outcome
	size    int64
	err     error
}

func main() {
	in := flag.String("in", "", "input file of user,event,file lines (default: stdin, or a demo input)")
	concurrency := flag.Int("concurrency", 8, "attachments in flight at once (the SDK also caps 4 per mailbox)")
	generate := flag.Int64("generate", 0, "synthesise this many bytes per line instead of reading the file")
	faults := flag.Bool("faults", false, "offline: make the emulator answer with random faults")
	seed := flag.Int64("seed", 1, "offline: seed of the random faults")
	grace := flag.Duration("grace", 30*time.Second, "after a signal, how long in-flight items may take to finish")
	verbose := flag.Bool("v", false, "print every item, not only skips and failures")
	flag.Parse()
	log.SetFlags(0)
	if *concurrency < 1 {
		log.Println("-concurrency must be at least 1")
		os.Exit(2)
	}

	// The first SIGINT/SIGTERM cancels ctx: no new item starts. In-flight
	// items run on work, which gets -grace more before it is cancelled too.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work, cancelWork := context.WithCancel(context.Background())
	defer cancelWork()

	online := os.Getenv("GRAPH_USER") != "" && os.Getenv("GRAPH_EVENT_ID") != "" &&
		(os.Getenv("AZURE_CLIENT_ID") != "" || os.Getenv("AZURE_TENANT_ID") != "")
	jobs, demo, err := readJobs(*in, online)
	if err != nil {
		log.Println(err)
		os.Exit(2)
	}
	if demo && *generate == 0 {
		*generate = 16 << 10
	}

	client, srv, err := connect(online, jobs, *faults, *seed)
	if err != nil {
		log.Fatal(err)
	}
	if srv != nil {
		defer srv.Close()
		if demo {
			// As if an earlier run had stopped after three lines: those are
			// found on the event, not attached again.
			for _, j := range jobs[:3] {
				if _, err := process(ctx, client, j, *generate); err != nil {
					log.Fatal(err)
				}
			}
			srv.ResetRequests()
			fmt.Println("offline: 3 lines pre-attached, as if by an earlier run")
		}
	}

	noticeOff := context.AfterFunc(ctx, func() {
		stop() // a second signal quits at once
		fmt.Printf("signal: finishing the items in flight (up to %s), starting no new ones\n", *grace)
		time.AfterFunc(*grace, cancelWork)
	})

	start := time.Now()
	results := make([]result, len(jobs))
	sem := make(chan struct{}, *concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex // serialises output
dispatch:
	for i, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break dispatch
		}
		if ctx.Err() != nil { // both were ready and select picked the slot
			<-sem
			break
		}
		results[i].outcome = failed // until it says otherwise; never left notStarted
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := process(work, client, j, *generate)
			results[i] = r
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				fmt.Printf("failed  line %d %s: %v\n", j.line, j, err)
			case *verbose:
				fmt.Printf("done    line %d %s (%d bytes)\n", j.line, j, r.size)
			}
		})
	}
	wg.Wait()
	noticeOff()

	var n [3]int
	var rest []job
	for i, r := range results {
		n[r.outcome]++
		if r.outcome == notStarted {
			rest = append(rest, jobs[i])
		}
	}
	fmt.Printf("%d lines in %s: done %d (attached, or found on the event already), failed %d, not started %d\n",
		len(jobs), time.Since(start).Round(time.Millisecond), n[done], n[failed], n[notStarted])
	if len(rest) > 0 {
		fmt.Println("not started (feed these lines in again):")
		for _, j := range rest {
			fmt.Println(j)
		}
	}
	ok := n[failed] == 0
	if srv != nil {
		ok = verify(srv, jobs, results) && ok
		if *faults {
			fmt.Printf("faults injected: %v\n", srv.FaultsInjected())
		}
	}
	switch {
	case len(rest) > 0:
		os.Exit(3)
	case !ok:
		os.Exit(1)
	}
}

// process attaches one line's file unless the event already holds it.
func process(ctx context.Context, client *eventattach.Client, j job, generate int64) (result, error) {
	atts := client.Users(j.user).Events(j.event).Attachments()
	var content io.ReadSeeker
	var size int64
	if generate > 0 {
		content, size = bytes.NewReader(synthesise(j.name, generate)), generate
	} else {
		f, err := os.Open(j.file)
		if err != nil {
			return result{outcome: failed, err: err}, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return result{outcome: failed, err: err}, err
		}
		content, size = f, st.Size()
	}
	contentType := mime.TypeByExtension(filepath.Ext(j.name))
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	// Upload takes any size up to 150 MiB: one POST under 3 MiB, an upload
	// session above. A POST that may have landed is checked, not repeated;
	// IfAbsent first looks for this very file (name and bytes) on the event.
	if _, err := atts.Upload(ctx, eventattach.FileUpload{Name: j.name, ContentType: contentType, Content: content, Size: size, IfAbsent: true}); err != nil {
		return result{outcome: failed, err: err}, err
	}
	return result{outcome: done, size: size}, nil
}

// synthesise makes size bytes of text content that depend on name.
func synthesise(name string, size int64) []byte {
	var b bytes.Buffer
	for i := 0; int64(b.Len()) < size; i++ {
		fmt.Fprintf(&b, "%s line %d\n", name, i)
	}
	return b.Bytes()[:size]
}

// readJobs reads the input: -in, else stdin, else (stdin a terminal or
// empty) a demo input. It reports whether the demo input was used.
func readJobs(path string, online bool) ([]job, bool, error) {
	var r io.Reader = os.Stdin
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, false, err
		}
		defer f.Close()
		r = f
	} else if st, err := os.Stdin.Stat(); err != nil || st.Mode()&os.ModeCharDevice != 0 {
		r = nil // a terminal (or /dev/null): nobody is piping lines in
	}
	var jobs []job
	if r != nil {
		sc := bufio.NewScanner(r)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			f := strings.Split(line, ",")
			if len(f) != 3 {
				return nil, false, fmt.Errorf("line %d: want user,event,file, got %q", n, line)
			}
			for i := range f {
				f[i] = strings.TrimSpace(f[i])
			}
			if f[0] == "" || f[1] == "" || filepath.Base(f[2]) == "." || filepath.Base(f[2]) == "/" {
				return nil, false, fmt.Errorf("line %d: empty user, event or file in %q", n, line)
			}
			jobs = append(jobs, job{line: n, user: f[0], event: f[1], file: f[2], name: filepath.Base(f[2])})
		}
		if err := sc.Err(); err != nil {
			return nil, false, err
		}
		if len(jobs) > 0 || path != "" {
			return jobs, false, nil
		}
	}
	// The demo: 5 users × 2 events × 5 files offline; 5 files on
	// GRAPH_USER's GRAPH_EVENT_ID against Graph.
	users, events, files := []string{"adele@contoso.com", "alex@contoso.com", "megan@contoso.com", "nestor@contoso.com", "patti@contoso.com"}, []string{"AAMkEvtPlanning=", "AAMkEvtReview="}, 5
	if online {
		users, events = []string{os.Getenv("GRAPH_USER")}, []string{os.Getenv("GRAPH_EVENT_ID")}
	}
	for _, u := range users {
		for _, e := range events {
			for f := 1; f <= files; f++ {
				name := fmt.Sprintf("worker-demo-%d.txt", f)
				jobs = append(jobs, job{line: len(jobs) + 1, user: u, event: e, file: name, name: name})
			}
		}
	}
	fmt.Printf("no input on stdin: using a demo input of %d lines\n", len(jobs))
	return jobs, true, nil
}

// verify checks the emulator's store: each event holds each name of a line
// that was done exactly once, with the content sent.
func verify(srv *graphtest.Server, jobs []job, results []result) bool {
	type key struct{ user, event string }
	counts := map[key]map[string]int{}
	dups, missing := 0, 0
	for i, j := range jobs {
		k := key{j.user, j.event}
		if counts[k] == nil {
			counts[k] = map[string]int{}
			for _, a := range srv.Attachments(j.user, j.event) {
				counts[k][a.Name]++
			}
		}
		if o := results[i].outcome; o == done && counts[k][j.name] == 0 {
			missing++
		}
	}
	for _, names := range counts {
		for _, c := range names {
			dups += max(0, c-1)
		}
	}
	fmt.Printf("check of the emulator's store: duplicates: %d, missing: %d\n", dups, missing)
	return dups == 0 && missing == 0
}

// connect returns a client for Microsoft Graph when online, and otherwise
// one for a graphtest emulator seeded with the input's users and events.
func connect(online bool, jobs []job, faults bool, seed int64) (*eventattach.Client, *graphtest.Server, error) {
	if online {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, nil, err
		}
		c, err := eventattach.NewClient(cred, nil)
		return c, nil, err
	}
	srv := graphtest.NewServer(nil)
	for _, j := range jobs {
		srv.User(j.user).AddEvent(j.event)
	}
	if faults {
		post := func(p float64, f graphtest.Fault) graphtest.FaultChance {
			f.Method, f.Path = "POST", "/attachments"
			return graphtest.FaultChance{Fault: f, P: p}
		}
		srv.RandomFaults(seed,
			post(0.10, graphtest.Fault{Kind: graphtest.FaultStatus, Status: 429, RetryAfter: "0"}),
			post(0.05, graphtest.Fault{Kind: graphtest.FaultResetAfterStore}),
			post(0.05, graphtest.Fault{Kind: graphtest.FaultStatusAfterStore, Status: 504}),
			post(0.02, graphtest.Fault{Kind: graphtest.FaultTruncateAfterStore}),
		)
	}
	// The emulator needs no patience: short backoff keeps the demo quick.
	c, err := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{
		BaseURL: srv.URL(),
		Retry:   eventattach.RetryOptions{BaseDelay: 20 * time.Millisecond},
	})
	fmt.Printf("offline: graphtest emulator at %s, %s\n", srv.URL(), map[bool]string{false: "no faults", true: "random faults on POSTs"}[faults])
	return c, srv, err
}
