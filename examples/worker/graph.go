package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
)

// errNoQueue: a queue's tasks name users and events an in-process
// emulator was never seeded with.
var errNoQueue = errors.New("-queue needs a Graph in another process (-graph, -token) or Microsoft Graph's settings")

// graph is where the worker sends: Microsoft Graph, a graphtest emulator
// in another process (-graph), or one in this process (srv, offline).
type graph struct {
	online  bool // Microsoft Graph
	srv     *graphtest.Server
	cred    azcore.TokenCredential
	base    string // "" for Graph's default
	client  *eventattach.Client
	cleanup []func()
}

func connect(c config) (*graph, error) {
	g := &graph{}
	switch {
	case c.graph != "":
		if c.token == "" {
			return nil, fmt.Errorf("-graph needs -token (or EVENTATTACH_TOKEN), as the graphtest command prints it")
		}
		g.cred, g.base = staticToken(c.token), c.graph
	case os.Getenv("GRAPH_USER") != "" && os.Getenv("GRAPH_EVENT_ID") != "" &&
		(os.Getenv("AZURE_CLIENT_ID") != "" || os.Getenv("AZURE_TENANT_ID") != ""):
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, err
		}
		g.online, g.cred = true, cred
	case c.queue != "":
		return nil, errNoQueue
	default:
		g.srv = graphtest.NewServer(nil)
		g.cleanup = append(g.cleanup, g.srv.Close)
		g.cred, g.base = g.srv.Credential(), g.srv.URL()
		if c.faults {
			injectFaults(g.srv, c.seed)
		}
		fmt.Printf("offline: graphtest emulator at %s, %s\n", g.srv.URL(), map[bool]string{false: "no faults", true: "random faults and late commits on POSTs"}[c.faults])
	}
	return g, nil
}

// injectFaults makes the emulator fail some POSTs: throttled, lost before
// or after the attachment is stored, and late commits (stored a second
// after the client gave up on the request).
func injectFaults(srv *graphtest.Server, seed int64) {
	post := func(p float64, f graphtest.Fault) graphtest.FaultChance {
		f.Method, f.Path = "POST", "/attachments"
		return graphtest.FaultChance{Fault: f, P: p}
	}
	srv.RandomFaults(seed,
		post(0.10, graphtest.Fault{Kind: graphtest.FaultStatus, Status: 429, RetryAfter: "0"}),
		post(0.05, graphtest.Fault{Kind: graphtest.FaultResetAfterStore}),
		post(0.05, graphtest.Fault{Kind: graphtest.FaultStatusAfterStore, Status: 504}),
		post(0.02, graphtest.Fault{Kind: graphtest.FaultTruncateAfterStore}),
		post(0.03, graphtest.Fault{Kind: graphtest.FaultLateCommit, Latency: time.Second}),
	)
}

// openClient makes the Client: keys in the -store store, and the -lease-ttl,
// -commit-lag and timeout flags.
func (g *graph) openClient(ctx context.Context, c config, demo bool) error {
	spec := c.store
	switch {
	case spec != "":
	case g.srv != nil:
		// The emulator forgets everything when it ends; a store that
		// remembered its attachments would point at ones that are gone.
		dir, err := os.MkdirTemp("", "eventattach-worker-keys")
		if err != nil {
			return err
		}
		g.cleanup = append(g.cleanup, func() { os.RemoveAll(dir) })
		spec = "dir:" + dir
	default:
		spec = "dir:" + defaultStoreDir()
	}
	store, err := openStore(ctx, spec)
	if err != nil {
		return err
	}
	opts := &eventattach.ClientOptions{
		BaseURL: g.base, Store: store, LeaseTTL: c.leaseTTL, CommitLag: c.commitLag,
		AttemptTimeout: c.attemptTimeout, Retry: eventattach.RetryOptions{BaseDelay: c.retryDelay},
	}
	if g.srv != nil || c.graph != "" {
		if opts.Retry.BaseDelay == 0 {
			opts.Retry.BaseDelay = 20 * time.Millisecond // an emulator needs no patience
		}
		if c.faults && opts.CommitLag == 0 && opts.AttemptTimeout == 0 {
			// The emulator's late commits land a second after the client
			// gives up; Graph's need the defaults (the README's Running on
			// many workers).
			opts.AttemptTimeout, opts.CommitLag = 2*time.Second, 3*time.Second
		}
	}
	g.client, err = eventattach.NewClient(g.cred, opts)
	if err == nil && demo {
		fmt.Printf("keys in %s\n", store)
	}
	return err
}

// seed creates the input's users and events on the in-process emulator.
func (g *graph) seed(tasks []task) {
	for _, t := range tasks {
		g.srv.User(t.User).AddEvent(t.Event)
	}
}

// demoPrelude runs the demo's first three lines, as if an earlier run had
// stopped after them: the run that follows finds them by key and sends
// nothing for them.
func (g *graph) demoPrelude(ctx context.Context, tasks []task) []task {
	if g.srv == nil {
		return tasks
	}
	w := &worker{client: g.client}
	for _, t := range tasks[:3] {
		if a := w.run(ctx, t); !a.OK {
			fmt.Printf("demo prelude: %s: %s\n", t, a.Error)
		}
	}
	g.srv.ResetRequests()
	fmt.Println("offline: 3 lines attached before, as if by an earlier run")
	return tasks
}

// verify checks the emulator's store: every done line's name is on its
// event exactly once, with the line's bytes.
func (g *graph) verify(lines *lineSource) bool {
	type name struct{ user, event, name string }
	seen := map[name]bool{}
	dups, missing, wrong, files := 0, 0, 0, 0
	for i, t := range lines.tasks {
		k := name{t.User, t.Event, t.Name}
		if i >= lines.next || !lines.results[i].OK || seen[k] {
			continue
		}
		seen[k] = true
		files++
		want, _, closeFile, err := open(t)
		if err != nil {
			wrong++
			continue
		}
		var wantBytes bytes.Buffer
		_, _ = wantBytes.ReadFrom(want)
		closeFile()
		n := 0
		for _, a := range g.srv.Attachments(t.User, t.Event) {
			if a.Name == t.Name {
				n++
				if !bytes.Equal(a.Content, wantBytes.Bytes()) {
					wrong++
				}
			}
		}
		switch {
		case n == 0:
			missing++
		case n > 1:
			dups += n - 1
		}
	}
	reqs := len(g.srv.Requests())
	fmt.Printf("check of the emulator's store: %d files, duplicates %d, missing %d, wrong %d; %d Graph requests (%.2f per line)\n",
		files, dups, missing, wrong, reqs, float64(reqs)/float64(max(1, len(lines.tasks))))
	return dups == 0 && missing == 0 && wrong == 0
}

func (g *graph) close() {
	for i := len(g.cleanup) - 1; i >= 0; i-- {
		g.cleanup[i]()
	}
}

// staticToken is a credential holding one token: EVENTATTACH_TOKEN, which
// the graphtest command prints for its emulator.
type staticToken string

func (t staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}
