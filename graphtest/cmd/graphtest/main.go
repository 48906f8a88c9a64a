// Command graphtest runs the graphtest Microsoft Graph emulator as its own
// process, for code that is not a Go test: a client in another language or
// process, a script that kills a client and starts it again
// (scripts/resume-largefile.sh), or a service run against it by hand.
//
//	go run github.com/eventattach/eventattach/graphtest/cmd/graphtest \
//	    -users adele@contoso.com,bob@contoso.com -events AAMkAGI1AAAt9AHjAAA=
//
// On start it prints to stdout, one per line, shell assignments a script
// can eval:
//
//	EVENTATTACH_BASE_URL=http://127.0.0.1:PORT/v1.0   the Graph version root
//	EVENTATTACH_UPLOAD_URL_BASE=http://127.0.0.1:PORT2 the upload host (uploadUrls point there)
//	EVENTATTACH_TOKEN=graphtest.…                      a bearer token valid while the process runs
//	GRAPH_USER=adele@contoso.com                       the first user with an event
//	GRAPH_EVENT_ID=AAMkAGI1AAAt9AHjAAA=                that user's first event
//
// and on stderr how a client gets its token: the emulator takes only the
// tokens it issued, so give an eventattach.Client a static
// azcore.TokenCredential whose GetToken returns EVENTATTACH_TOKEN, with
// ClientOptions.BaseURL set to EVENTATTACH_BASE_URL (examples/largefile's
// staticToken does that). Upload URLs carry their own authtoken, as
// Outlook's do.
//
// On SIGTERM or SIGINT it prints what it holds and received, then exits 0:
//
//	ATTACHMENTS=n       attachments on the seeded events (-events), in all
//	SHA256=h1,h2,…      sha256 of each one's bytes, in that order
//	PUT_BYTES=n         chunk bytes PUT to the upload listener, in all
//	REQUESTS=n          requests received on both listeners
//	FAULTS=n            faults injected (-faults), in all; stderr has them by kind
//
// Flags:
//
//	-addr host:port          Graph listener (default 127.0.0.1:0, a random port)
//	-upload-addr host:port   upload listener, always its own port (default 127.0.0.1:0)
//	-users a,b               users (ids or userPrincipalNames) to create
//	-events e1,u:e2          events: a bare id is created for every -users user,
//	                         user:event for that user only (created if need be)
//	-attendees [org:]ev:att  make att (created if need be) an attendee of org's
//	                         event ev (org defaults to the first of -users); the
//	                         attendee's copy has the same id
//	-no-mailbox a,b          users without an Exchange mailbox (404 MailboxNotEnabledForRESTAPI)
//	-mailbox-concurrency n   requests in flight per mailbox (0: Outlook's 4, -1: off)
//	-upload-byte-limit n     body bytes per mailbox per 5 minutes (0: 150 MiB, -1: off)
//	-request-limit n         requests per mailbox per 10 minutes (0: 10,000, -1: off)
//	-latency model           "default" (graphtest.DefaultLatency), a duration
//	                         per request on both listeners ("150ms"), or
//	                         request=D,mib=D,upload=D,upload-mib=D,jitter=F
//	-time-scale f            run the server's time (windows, session
//	                         lifetimes, latency) f times faster than the wall clock
//	-faults spec             random faults, METHOD:KIND:P[:PATH],… (see below)
//	-seed n                  seed of -faults and of -latency's jitter (default 1)
//	-chunk-latency d         wall-clock time added to every request on the
//	                         upload listener, so an upload takes a while (it
//	                         adds to -latency's upload time, and its jitter)
//
// A -faults entry draws a fault with probability P (the Ps sum to at most
// 1) for requests of METHOD (GET, POST, PUT, PATCH, DELETE, or * for any)
// whose escaped path contains PATH, with graphtest.Server.RandomFaults.
// KIND is one of: a status (503: answered without storing; 429 carries
// Retry-After 1), STATUS-after-store (stored, then the error),
// reset-before-store, reset-after-store, truncate-after-store,
// partial-chunk, latency=D, slow-body=D and late-commit=D (no answer; the
// request is stored D after the client gave up on it). For example
//
//	-faults PUT:503:0.05,POST:504-after-store:0.02,PUT:reset-after-store:0.01:AttachmentSessions
package main

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventattach/eventattach/graphtest"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	err := run(os.Args[1:], os.Stdout, os.Stderr, sig)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "graphtest:", err)
		os.Exit(2)
	}
}

// seeded is one event made from -events, whose attachments the summary
// counts.
type seeded struct{ user, event string }

// config is what the flags say.
type config struct {
	opts      graphtest.Options
	users     []string
	events    []seeded
	attendees []attendee
	noMailbox []string
	faults    []graphtest.FaultChance
	seed      int64
	chunkLat  time.Duration
}

type attendee struct{ organizer, event, attendee string }

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("graphtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: graphtest [flags]\n\nRuns the graphtest Graph emulator until SIGTERM or SIGINT; prints EVENTATTACH_BASE_URL,\nEVENTATTACH_UPLOAD_URL_BASE, EVENTATTACH_TOKEN, GRAPH_USER and GRAPH_EVENT_ID on start and\nATTACHMENTS, SHA256, PUT_BYTES, REQUESTS and FAULTS on exit (go doc for details).\n\nFlags:")
		fs.PrintDefaults()
	}
	var (
		c                                   config
		users, events, attendees, noMailbox string
		latency, faults                     string
	)
	fs.StringVar(&c.opts.Addr, "addr", "127.0.0.1:0", "`host:port` of the Graph listener")
	fs.StringVar(&c.opts.UploadAddr, "upload-addr", "127.0.0.1:0", "`host:port` of the upload listener (always a port of its own)")
	fs.StringVar(&users, "users", "adele@contoso.com", "comma list of users (ids or userPrincipalNames) to create")
	fs.StringVar(&events, "events", "AAMkAGI1AAAt9AHjAAA=", "comma list of event ids created for every user, or user:event pairs")
	fs.StringVar(&attendees, "attendees", "", "comma list of [organizer:]event:attendee; the attendee gets a copy with the same id (organizer: the first user)")
	fs.StringVar(&noMailbox, "no-mailbox", "", "comma list of users without a mailbox (404 MailboxNotEnabledForRESTAPI)")
	fs.IntVar(&c.opts.MailboxConcurrency, "mailbox-concurrency", 0, "requests in flight per mailbox (0: Outlook's 4, -1: unlimited)")
	fs.Int64Var(&c.opts.UploadByteLimit, "upload-byte-limit", 0, "request body bytes per mailbox per 5 minutes (0: 150 MiB, -1: off)")
	fs.IntVar(&c.opts.RequestLimit, "request-limit", 0, "requests per mailbox per 10 minutes (0: 10,000, -1: off)")
	fs.StringVar(&latency, "latency", "", "latency `model`: \"default\", a duration per request (\"150ms\"), or request=D,mib=D,upload=D,upload-mib=D,jitter=F (\"\": none)")
	fs.Float64Var(&c.opts.TimeScale, "time-scale", 0, "run the server's time `f` times faster than the wall clock (0 or 1: real time)")
	fs.StringVar(&faults, "faults", "", "random faults, comma list of METHOD:KIND:P[:PATH], e.g. PUT:503:0.05,POST:504-after-store:0.02;\nMETHOD: GET, POST, PUT, PATCH, DELETE or *; KIND: a status (503), STATUS-after-store,\nreset-before-store, reset-after-store, truncate-after-store, partial-chunk, latency=D, slow-body=D, late-commit=D;\nP: probability per request (all P sum to at most 1); PATH: a substring of the path")
	fs.Int64Var(&c.seed, "seed", 1, "seed of -faults and of the -latency jitter")
	fs.DurationVar(&c.chunkLat, "chunk-latency", 0, "wall-clock latency added to every request on the upload listener (chunk PUTs)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.users = splitList(users)
	for _, e := range splitList(events) {
		u, ev, pair := strings.Cut(e, ":")
		switch {
		case !pair:
			if len(c.users) == 0 {
				return nil, fmt.Errorf("-events %q: a bare event id needs -users", e)
			}
			for _, u := range c.users {
				c.events = append(c.events, seeded{u, e})
			}
		case u == "" || ev == "" || strings.Contains(ev, ":"):
			return nil, fmt.Errorf("-events %q: want an event id or user:event", e)
		default:
			c.events = append(c.events, seeded{u, ev})
		}
	}
	for _, a := range splitList(attendees) {
		p := strings.Split(a, ":")
		if len(p) == 2 && len(c.users) > 0 {
			p = append([]string{c.users[0]}, p...)
		}
		if len(p) != 3 || slices.Contains(p, "") {
			return nil, fmt.Errorf("-attendees %q: want organizer:event:attendee (or event:attendee with -users)", a)
		}
		if !slices.Contains(c.events, seeded{p[0], p[1]}) {
			return nil, fmt.Errorf("-attendees %q: %s has no event %s in -events", a, p[0], p[1])
		}
		if p[2] == p[0] {
			return nil, fmt.Errorf("-attendees %q: the organizer cannot attend", a)
		}
		if slices.Contains(c.events, seeded{p[2], p[1]}) {
			return nil, fmt.Errorf("-attendees %q: %s already has an event %s; give it another with user:event pairs", a, p[2], p[1])
		}
		c.attendees = append(c.attendees, attendee{p[0], p[1], p[2]})
	}
	c.noMailbox = splitList(noMailbox)
	var err error
	if c.opts.Latency, err = parseLatency(latency, uint64(c.seed)); err != nil {
		return nil, fmt.Errorf("-latency: %w", err)
	}
	if c.faults, err = parseFaults(faults); err != nil {
		return nil, fmt.Errorf("-faults: %w", err)
	}
	if c.chunkLat < 0 || c.opts.TimeScale < 0 {
		return nil, errors.New("-chunk-latency and -time-scale must not be negative")
	}
	if c.chunkLat > 0 {
		// The Latency model's time is model time: scale it back to the
		// wall clock's.
		if c.opts.Latency == nil {
			c.opts.Latency = &graphtest.Latency{}
		}
		scale := c.opts.TimeScale
		if scale == 0 {
			scale = 1
		}
		c.opts.Latency.UploadPerRequest += time.Duration(float64(c.chunkLat) * scale)
	}
	// Bodies are not kept: the summary needs sizes only, and a long run
	// would hold every chunk.
	c.opts.MaxBodyRecorded = -1
	return &c, nil
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// parseLatency reads -latency: "", "default", a duration, or key=value
// pairs.
func parseLatency(s string, seed uint64) (*graphtest.Latency, error) {
	switch s {
	case "":
		return nil, nil
	case "default":
		l := graphtest.DefaultLatency()
		l.Seed = seed
		return l, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return nil, fmt.Errorf("%q is negative", s)
		}
		return &graphtest.Latency{PerRequest: d, UploadPerRequest: d, Seed: seed}, nil
	}
	l := &graphtest.Latency{Seed: seed}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want \"default\", a duration, or request=D,mib=D,upload=D,upload-mib=D,jitter=F", s)
		}
		if k == "jitter" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				return nil, fmt.Errorf("jitter %q: want a number from 0 to 1", v)
			}
			l.Jitter = f
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%s %q: want a duration such as 150ms", k, v)
		}
		switch k {
		case "request":
			l.PerRequest = d
		case "mib":
			l.PerMiB = d
		case "upload":
			l.UploadPerRequest = d
		case "upload-mib":
			l.UploadPerMiB = d
		default:
			return nil, fmt.Errorf("unknown key %q (request, mib, upload, upload-mib, jitter)", k)
		}
	}
	return l, nil
}

var faultKinds = map[string]graphtest.FaultKind{
	"reset":                graphtest.FaultResetBeforeStore,
	"reset-before-store":   graphtest.FaultResetBeforeStore,
	"reset-after-store":    graphtest.FaultResetAfterStore,
	"truncate-after-store": graphtest.FaultTruncateAfterStore,
	"partial-chunk":        graphtest.FaultPartialChunk,
	"late-commit":          graphtest.FaultLateCommit, // -latency-style: late-commit=D below
}

// parseFaults reads -faults: comma-separated METHOD:KIND:P[:PATH].
func parseFaults(s string) ([]graphtest.FaultChance, error) {
	var out []graphtest.FaultChance
	sum := 0.0
	for _, e := range splitList(s) {
		p := strings.Split(e, ":")
		if len(p) < 3 || len(p) > 4 {
			return nil, fmt.Errorf("%q: want METHOD:KIND:P[:PATH], e.g. PUT:503:0.05", e)
		}
		var f graphtest.Fault
		switch m := strings.ToUpper(p[0]); m {
		case "*", "ANY":
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			f.Method = m
		default:
			return nil, fmt.Errorf("%q: method %q is not GET, POST, PUT, PATCH, DELETE or *", e, p[0])
		}
		if err := parseKind(p[1], &f); err != nil {
			return nil, fmt.Errorf("%q: %w", e, err)
		}
		prob, err := strconv.ParseFloat(p[2], 64)
		if err != nil || !(prob > 0 && prob <= 1) {
			return nil, fmt.Errorf("%q: probability %q is not a number in (0, 1]", e, p[2])
		}
		if len(p) == 4 {
			f.Path = p[3]
		}
		if sum += prob; sum > 1+1e-9 {
			return nil, fmt.Errorf("the probabilities sum to %g, more than 1", sum)
		}
		out = append(out, graphtest.FaultChance{Fault: f, P: prob})
	}
	return out, nil
}

func parseKind(k string, f *graphtest.Fault) error {
	const kinds = "a status (503), STATUS-after-store, reset-before-store, reset-after-store, truncate-after-store, partial-chunk, latency=D, slow-body=D or late-commit=D"
	if kind, ok := faultKinds[k]; ok {
		f.Kind = kind
		return nil
	}
	if name, d, ok := strings.Cut(k, "="); ok {
		lat, err := time.ParseDuration(d)
		if err != nil || lat <= 0 {
			return fmt.Errorf("%s: %q is not a positive duration", name, d)
		}
		switch name {
		case "latency":
			f.Kind = graphtest.FaultLatency
		case "slow-body":
			f.Kind = graphtest.FaultSlowBody
		case "late-commit":
			f.Kind = graphtest.FaultLateCommit
		default:
			return fmt.Errorf("unknown kind %q: want %s", k, kinds)
		}
		f.Latency = lat
		return nil
	}
	st, after := strings.CutSuffix(k, "-after-store")
	code, err := strconv.Atoi(st)
	if err != nil {
		return fmt.Errorf("unknown kind %q: want %s", k, kinds)
	}
	if code < 400 || code > 599 {
		return fmt.Errorf("status %d is not an error status (400 to 599)", code)
	}
	f.Kind, f.Status = graphtest.FaultStatus, code
	if after {
		f.Kind = graphtest.FaultStatusAfterStore
	}
	if code == http.StatusTooManyRequests {
		f.RetryAfter = "1" // Graph's 429s carry one
	}
	return nil
}

// run serves until sig; it prints the assignments to stdout on start and
// the summary on sig.
func run(args []string, stdout, stderr io.Writer, sig <-chan os.Signal) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	srv, err := start(c)
	if err != nil {
		return err
	}
	defer srv.Close()

	tok := srv.Credential().IssueToken(0)
	var user, event string
	if len(c.events) > 0 {
		user, event = c.events[0].user, c.events[0].event
	} else if len(c.users) > 0 {
		user = c.users[0]
	}
	for _, kv := range [][2]string{
		{"EVENTATTACH_BASE_URL", srv.URL()},
		{"EVENTATTACH_UPLOAD_URL_BASE", srv.UploadURLBase()},
		{"EVENTATTACH_TOKEN", tok.Token},
		{"GRAPH_USER", user},
		{"GRAPH_EVENT_ID", event},
	} {
		fmt.Fprintf(stdout, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	fmt.Fprintf(stderr, "graphtest: Graph at %s, uploads at %s; %d user(s), %d event(s). "+
		"A client authenticates with EVENTATTACH_TOKEN: give eventattach.NewClient a static azcore.TokenCredential "+
		"returning it, with ClientOptions{BaseURL: EVENTATTACH_BASE_URL}. SIGTERM or Ctrl-C prints a summary and exits.\n",
		srv.URL(), srv.UploadURLBase(), len(c.users), len(c.events))

	<-sig
	summary(srv, c, stdout, stderr)
	return nil
}

// start makes the server and seeds it. NewServer panics when it cannot
// listen: that becomes an error.
func start(c *config) (srv *graphtest.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	srv = graphtest.NewServer(&c.opts)
	for _, u := range c.users {
		srv.User(u)
	}
	for _, e := range c.events {
		srv.User(e.user).AddEvent(e.event)
	}
	for _, a := range c.attendees {
		srv.User(a.organizer).Event(a.event).AddAttendee(srv.User(a.attendee), "")
	}
	for _, u := range c.noMailbox {
		srv.UserWithoutMailbox(u)
	}
	if len(c.faults) > 0 {
		srv.RandomFaults(c.seed, c.faults...)
	}
	return srv, nil
}

func summary(srv *graphtest.Server, c *config, stdout, stderr io.Writer) {
	var n int
	var sums []string
	for _, e := range c.events {
		for _, a := range srv.Attachments(e.user, e.event) {
			n++
			sums = append(sums, fmt.Sprintf("%x", sha256.Sum256(a.Content)))
		}
	}
	upload := strings.TrimPrefix(srv.UploadURLBase(), "http://")
	var put int64
	reqs := srv.Requests()
	for _, r := range reqs {
		if r.Method == http.MethodPut && r.Host == upload {
			put += r.BodySize
		}
	}
	faults, byKind := 0, srv.FaultsInjected()
	var kinds []string
	for k, v := range byKind {
		faults += v
		kinds = append(kinds, fmt.Sprintf("%v=%d", k, v))
	}
	sort.Strings(kinds)
	fmt.Fprintf(stdout, "ATTACHMENTS=%d\nSHA256=%s\nPUT_BYTES=%d\nREQUESTS=%d\nFAULTS=%d\n", n, strings.Join(sums, ","), put, len(reqs), faults)
	if faults > 0 {
		fmt.Fprintf(stderr, "graphtest: faults injected: %s\n", strings.Join(kinds, " "))
	}
}

// shellQuote leaves s bare when a shell reads it as is, else single-quotes
// it.
func shellQuote(s string) string {
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
