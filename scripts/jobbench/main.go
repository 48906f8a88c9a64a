// Command jobbench measures how a whole attachment job fares against
// Outlook's per-mailbox limits, as modelled by graphtest: the SDK, a plain
// net/http client that honours Retry-After, and (when built) msgraph-sdk-go.
// scripts/jobbench.sh runs it; see there for the job and the bound.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
)

const (
	event     = "AAMkEvt="
	chunkSize = eventattach.DefaultChunkSize
	// Outlook's limits per app and mailbox (GRAPH-FACTS), as graphtest
	// enforces them by default.
	concurrency = 4
	reqLimit    = 10_000
	reqWindow   = 10 * time.Minute
	byteLimit   = 150 << 20
	byteWindow  = 5 * time.Minute
)

type file struct {
	MB   int    `json:"mb"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	Seed uint64 `json:"seed"`
}

// spec is the job as msgraphjob reads it.
type spec struct {
	Graph     string   `json:"graph"`
	Token     string   `json:"token"`
	Workers   int      `json:"workers"`
	Mailboxes []string `json:"mailboxes"`
	Event     string   `json:"event"`
	Files     []file   `json:"files"`
}

func main() {
	n := flag.Int("n", 1600, "attachments")
	m := flag.Int("m", 4, "mailboxes")
	w := flag.Int("w", 32, "workers (worker i serves mailbox i mod m)")
	scale := flag.Float64("scale", 30, "graphtest TimeScale: model seconds per wall second")
	seed := flag.Uint64("seed", 1, "seed of the size mix")
	msgraph := flag.String("msgraph", "", "path of the built scripts/msgraphjob binary; empty skips msgraph-sdk-go")
	only := flag.String("only", "sdk,raw,msgraph", "clients to run")
	rss := flag.Bool("rss", false, "memory mode: -w workers upload 40 MiB files with the SDK against a graphtest in a child process; prints the client's peak RSS")
	serve := flag.Bool("serve", false, "internal: run a graphtest for -rss and print its address")
	procs := flag.String("procs", "", "process mode: comma list of K; for each, the sdk job split across K processes, each with its own Client on every mailbox")
	child := flag.Bool("child", false, "internal: run the sdk on the job spec read from stdin (-procs)")
	flag.Parse()
	switch {
	case *serve:
		serveChild(*m)
		return
	case *rss:
		rssMode(*w, *m)
		return
	case *child:
		sdkChild(*scale)
		return
	}
	if *w < *m {
		fail(errors.New("-w must be at least -m"))
	}
	files := mix(*n, *m, *seed)
	b := bound(files, *m, *w)
	if *procs != "" {
		procsMode(*procs, files, b, *m, *w, *scale)
		return
	}
	fmt.Printf("job: %d attachments (%s) across %d mailboxes, %d workers; graphtest default limits, DefaultLatency, TimeScale %g\n",
		*n, describe(files), *m, *w, *scale)
	fmt.Printf("bound: %s (mailbox %d: %s)\n", mins(b.total), b.mailbox, b.why)
	type result struct {
		name    string
		model   time.Duration
		t429    int
		failed  int64
		note    string
		skipped bool
	}
	var results []result
	run := func(name string, f func(srv *graphtest.Server) (int64, string)) {
		if !strings.Contains(*only, name) {
			return
		}
		srv := newServer(*m, *scale)
		start := time.Now()
		failed, note := f(srv)
		wall := time.Since(start)
		r := result{name: name, model: time.Duration(float64(wall) * *scale), failed: failed, note: note}
		for _, q := range srv.Requests() {
			if q.Status == http.StatusTooManyRequests {
				r.t429++
			}
		}
		if missing := check(srv, files, *m); missing > r.failed {
			// A client that said it succeeded must have stored every byte.
			r.failed = missing
			r.note += fmt.Sprintf("(%d files missing or wrong on the server)", missing)
		}
		srv.Close()
		fmt.Printf("%-8s %s (wall %s), ratio %.3f, 429s %d, failed %d %s\n", name, mins(r.model), wall.Round(time.Millisecond),
			ratio(r.model, b.total), r.t429, r.failed, note)
		results = append(results, r)
	}
	run("sdk", func(srv *graphtest.Server) (int64, string) { return runSDK(srv, files, *m, *w, *scale), tally() })
	run("raw", func(srv *graphtest.Server) (int64, string) { return runRaw(srv, files, *m, *w), tally() })
	if *msgraph != "" {
		run("msgraph", func(srv *graphtest.Server) (int64, string) { return runMsgraph(*msgraph, srv, files, *m, *w) })
	} else if strings.Contains(*only, "msgraph") {
		results = append(results, result{name: "msgraph", skipped: true})
	}

	fmt.Println()
	fmt.Println("| client | model time | ratio to bound | 429s | failed |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| bound | %s | 1.000 | – | – |\n", mins(b.total))
	sdkRatio, sdk429 := math.NaN(), -1
	for _, r := range results {
		if r.skipped {
			fmt.Println("| msgraph | not built | – | – | – |")
			continue
		}
		fmt.Printf("| %s | %s | %.3f | %d | %d |\n", r.name, mins(r.model), ratio(r.model, b.total), r.t429, r.failed)
		if r.name == "sdk" {
			sdkRatio, sdk429 = ratio(r.model, b.total), r.t429
		}
	}
	fmt.Printf("job: sdk/bound %.3f, 429s %d\n", sdkRatio, sdk429)
}

// mix draws the job: 80 % of sizes up to 200 KB, 15 % from 1 to 3 MB, 5 %
// from 5 to 40 MB (decimal units), spread round-robin over the mailboxes.
func mix(n, m int, seed uint64) []file {
	r := rand.New(rand.NewPCG(seed, 7))
	files := make([]file, n)
	for i := range files {
		var size int64
		switch p := r.Float64(); {
		case p < 0.80:
			size = 1_000 + r.Int64N(199_000)
		case p < 0.95:
			size = 1_000_000 + r.Int64N(2_000_000)
		default:
			size = 5_000_000 + r.Int64N(35_000_000)
		}
		files[i] = file{MB: i % m, Name: fmt.Sprintf("file-%05d.bin", i), Size: size, Seed: uint64(i)}
	}
	return files
}

func describe(files []file) string {
	var total int64
	var small, mid, big int
	for _, f := range files {
		total += f.Size
		switch {
		case f.Size <= 200_000:
			small++
		case f.Size <= 3_000_000:
			mid++
		default:
			big++
		}
	}
	return fmt.Sprintf("%d ≤ 200 KB, %d of 1–3 MB, %d of 5–40 MB; %.0f MB", small, mid, big, float64(total)/1e6)
}

// request is one request a file needs at the least: its body bytes and
// whether it goes to the upload host.
type request struct {
	body   int64
	upload bool
}

// plan is the requests any client must send for f: one POST under 3 MiB
// (the JSON's base64 content alone counted), else createUploadSession and
// one PUT per 3.75 MiB chunk.
func plan(f file) []request {
	if f.Size < eventattach.MaxAddFileSize {
		return []request{{body: 4 * ((f.Size + 2) / 3)}}
	}
	rs := []request{{body: 0}}
	for off := int64(0); off < f.Size; off += chunkSize {
		rs = append(rs, request{body: min(chunkSize, f.Size-off), upload: true})
	}
	return rs
}

type boundResult struct {
	total   time.Duration
	mailbox int
	why     string
}

// bound is the least time the limits allow, per mailbox, the job's being
// the largest:
//
//	latency: Σ model latency (DefaultLatency without jitter) of its requests
//	         / min(4 concurrent, its workers)
//	chain:   the longest file's requests one after the other
//	bytes:   (⌈B/150 MiB⌉ − 1) × 5 min + the remainder's per-MiB time / 4,
//	         B its request body bytes (sliding window: at most 150 MiB in
//	         any 5 minutes)
//	requests: (⌈R/10,000⌉ − 1) × 10 min, R its requests
func bound(files []file, m, w int) boundResult {
	lat := graphtest.DefaultLatency()
	var best boundResult
	for mb := 0; mb < m; mb++ {
		workers := w / m
		if mb < w%m {
			workers++
		}
		var sumLat, chain time.Duration
		var bytesTotal int64
		var reqs int
		for _, f := range files {
			if f.MB != mb {
				continue
			}
			var fileLat time.Duration
			for _, r := range plan(f) {
				d := lat.For(r.upload, r.body)
				sumLat += d
				fileLat += d
				bytesTotal += r.body
				reqs++
			}
			chain = max(chain, fileLat)
		}
		cands := []struct {
			d   time.Duration
			why string
		}{
			{sumLat / time.Duration(min(concurrency, workers)), fmt.Sprintf("latency: %s of requests over %d in flight", mins(sumLat), min(concurrency, workers))},
			{chain, "chain: the longest file's requests in a row"},
		}
		if k := (bytesTotal + byteLimit - 1) / byteLimit; k > 1 {
			rem := bytesTotal - (k-1)*byteLimit
			d := time.Duration(k-1)*byteWindow + time.Duration(float64(min(lat.PerMiB, lat.UploadPerMiB))*float64(rem)/(1<<20)/concurrency)
			cands = append(cands, struct {
				d   time.Duration
				why string
			}{d, fmt.Sprintf("bytes: %.1f MiB over 150 MiB per 5 min", float64(bytesTotal)/(1<<20))})
		}
		if k := (reqs + reqLimit - 1) / reqLimit; k > 1 {
			cands = append(cands, struct {
				d   time.Duration
				why string
			}{time.Duration(k-1) * reqWindow, fmt.Sprintf("requests: %d over 10,000 per 10 min", reqs)})
		}
		for _, c := range cands {
			if c.d > best.total {
				best = boundResult{c.d, mb, c.why}
			}
		}
	}
	return best
}

func newServer(m int, scale float64) *graphtest.Server {
	srv := graphtest.NewServer(&graphtest.Options{MaxBodyRecorded: -1, Latency: graphtest.DefaultLatency(), TimeScale: scale})
	for i := 0; i < m; i++ {
		srv.User(mailbox(i)).AddEvent(event)
	}
	return srv
}

// check counts the files the server does not hold exactly once with their
// exact bytes.
func check(srv *graphtest.Server, files []file, m int) int64 {
	stored := map[string][]graphtest.StoredAttachment{}
	for i := 0; i < m; i++ {
		for _, a := range srv.Attachments(mailbox(i), event) {
			stored[a.Name] = append(stored[a.Name], a)
		}
	}
	var bad int64
	for _, f := range files {
		got := stored[f.Name]
		if len(got) != 1 || int64(len(got[0].Content)) != f.Size || !samePattern(f, got[0].Content) {
			bad++
		}
	}
	return bad
}

func samePattern(f file, b []byte) bool {
	for i := range b {
		if b[i] != at(f.Seed, int64(i)) {
			return false
		}
	}
	return true
}

func mailbox(i int) string { return fmt.Sprintf("user%d@contoso.com", i) }

// work runs do for every file with w workers, worker i taking mailbox
// i mod m's files, and counts the failures.
func work(files []file, m, w int, do func(file) error) int64 {
	queues := make([]chan file, m)
	for i := range queues {
		queues[i] = make(chan file, len(files))
	}
	for _, f := range files {
		queues[f.MB] <- f
	}
	for _, q := range queues {
		close(q)
	}
	var failed atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		wg.Go(func() {
			for f := range queues[i%m] {
				if err := do(f); err != nil {
					failed.Add(1)
					once.Do(func() { fmt.Fprintln(os.Stderr, "first failure:", err) })
				}
			}
		})
	}
	wg.Wait()
	return failed.Load()
}

func runSDK(srv *graphtest.Server, files []file, m, w int, scale float64) int64 {
	return sdkJob(srv.Credential(), srv.URL(), files, m, w, scale)
}

func sdkJob(cred azcore.TokenCredential, graph string, files []file, m, w int, scale float64) int64 {
	c, err := eventattach.NewClient(cred, &eventattach.ClientOptions{
		BaseURL:    graph,
		HTTPClient: &http.Client{Transport: &why429{base: http.DefaultTransport.(*http.Transport).Clone()}},
		// Outlook's budgets (the defaults); only their windows run at the
		// server's TimeScale.
		MailboxRequestWindow: time.Duration(float64(reqWindow) / scale),
		MailboxByteWindow:    time.Duration(float64(byteWindow) / scale),
	})
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	return work(files, m, w, func(f file) error {
		_, err := c.Users(mailbox(f.MB)).Events(event).Attachments().Upload(ctx, eventattach.FileUpload{
			Name: f.Name, ContentType: "application/octet-stream", Content: newPattern(f), Size: f.Size,
		})
		return err
	})
}

// why429 tallies the messages of the 429s a client receives.
type why429 struct {
	base http.RoundTripper
}

var reasons sync.Map // message → *atomic.Int64

func (t *why429) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		json.Unmarshal(b, &e)
		n, _ := reasons.LoadOrStore(e.Error.Message, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}
	return resp, err
}

func tally() string {
	var parts []string
	reasons.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%q ×%d", k, v.(*atomic.Int64).Load()))
		reasons.Delete(k)
		return true
	})
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// pattern is a file's content, made as it is read.
type pattern struct {
	seed uint64
	off  int64
	size int64
}

func newPattern(f file) *pattern { return &pattern{seed: f.Seed, size: f.Size} }

func at(seed uint64, i int64) byte { return byte((uint64(i)*2654435761)>>13 + seed) }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.size-p.off))
	for i := 0; i < n; i++ {
		b[i] = at(p.seed, p.off+int64(i))
	}
	p.off += int64(n)
	return n, nil
}

// rawClient is the plain net/http client: the same requests as the SDK,
// every 429 and 503 sent again after its Retry-After (seconds, decimals
// allowed; 1 s when absent), nothing else.
type rawClient struct {
	hc    *http.Client
	graph string
	token string
}

func runRaw(srv *graphtest.Server, files []file, m, w int) int64 {
	tok, err := srv.Credential().GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		fail(err)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	rc := &rawClient{hc: &http.Client{Transport: &why429{base: t}}, graph: srv.URL(), token: tok.Token}
	return work(files, m, w, rc.attach)
}

func (rc *rawClient) do(method, url string, body []byte, hdr map[string]string, auth bool) (*http.Response, []byte, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequest(method, url, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if auth {
			req.Header.Set("Authorization", "Bearer "+rc.token)
		}
		resp, err := rc.hc.Do(req)
		if err != nil {
			return nil, nil, err
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, nil, err
		}
		if (resp.StatusCode == 429 || resp.StatusCode == 503) && attempt < 1000 {
			d := time.Second
			if s, err := strconv.ParseFloat(resp.Header.Get("Retry-After"), 64); err == nil {
				d = time.Duration(s * float64(time.Second))
			}
			time.Sleep(d)
			continue
		}
		return resp, out, nil
	}
}

func (rc *rawClient) attach(f file) error {
	base := rc.graph + "/users/" + mailbox(f.MB) + "/events/" + event + "/attachments"
	content := make([]byte, 0, min(f.Size, chunkSize))
	p := newPattern(f)
	if f.Size < eventattach.MaxAddFileSize {
		content = content[:f.Size]
		io.ReadFull(p, content)
		body, _ := json.Marshal(map[string]any{"@odata.type": "#microsoft.graph.fileAttachment", "name": f.Name,
			"contentType": "application/octet-stream", "contentBytes": base64.StdEncoding.EncodeToString(content)})
		resp, out, err := rc.do("POST", base, body, map[string]string{"Content-Type": "application/json"}, true)
		if err != nil {
			return err
		}
		if resp.StatusCode != 201 {
			return fmt.Errorf("POST: %d %s", resp.StatusCode, out)
		}
		return nil
	}
	body, _ := json.Marshal(map[string]any{"AttachmentItem": map[string]any{"attachmentType": "file", "name": f.Name, "size": f.Size}})
	resp, out, err := rc.do("POST", base+"/createUploadSession", body, map[string]string{"Content-Type": "application/json"}, true)
	if err != nil {
		return err
	}
	if resp.StatusCode != 201 {
		return fmt.Errorf("createUploadSession: %d %s", resp.StatusCode, out)
	}
	var sess struct {
		UploadURL string `json:"uploadUrl"`
	}
	if err := json.Unmarshal(out, &sess); err != nil {
		return err
	}
	for off := int64(0); off < f.Size; {
		n := min(chunkSize, f.Size-off)
		content = content[:n]
		io.ReadFull(p, content)
		resp, out, err := rc.do("PUT", sess.UploadURL, content, map[string]string{
			"Content-Type":  "application/octet-stream",
			"Content-Range": fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, f.Size),
		}, false)
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 && resp.StatusCode != 201 {
			return fmt.Errorf("PUT: %d %s", resp.StatusCode, out)
		}
		off += n
	}
	return nil
}

func runMsgraph(bin string, srv *graphtest.Server, files []file, m, w int) (int64, string) {
	tok, err := srv.Credential().GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		fail(err)
	}
	s := spec{Graph: srv.URL(), Token: tok.Token, Workers: w, Event: event, Files: files}
	for i := 0; i < m; i++ {
		s.Mailboxes = append(s.Mailboxes, mailbox(i))
	}
	in, _ := json.Marshal(s)
	cmd := exec.Command(bin)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return int64(len(files)), "(msgraphjob: " + err.Error() + ")"
	}
	var res struct {
		Failed int64  `json:"failed"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return int64(len(files)), "(msgraphjob output: " + err.Error() + ")"
	}
	if res.Error != "" {
		return res.Failed, "(first failure: " + firstLine(res.Error) + ")"
	}
	return res.Failed, ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// serveChild runs a graphtest for -rss (budgets off, no latency) and prints
// its Graph URL and a token on one line; it stops when stdin closes.
func serveChild(m int) {
	srv := graphtest.NewServer(&graphtest.Options{MaxBodyRecorded: -1, UploadByteLimit: -1})
	for i := 0; i < m; i++ {
		srv.User(mailbox(i)).AddEvent(event)
	}
	tok, err := srv.Credential().GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		fail(err)
	}
	fmt.Println(srv.URL(), tok.Token)
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

type staticToken string

func (t staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// rssMode uploads 2 files of 40 MiB per worker with the SDK to a graphtest
// in a child process, so that the peak RSS printed (VmHWM) is the client's.
func rssMode(w, m int) {
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	child := exec.Command(self, "-serve", "-m", strconv.Itoa(m))
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		fail(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		fail(err)
	}
	url, tok, _ := strings.Cut(strings.TrimSpace(line), " ")
	c, err := eventattach.NewClient(staticToken(tok), &eventattach.ClientOptions{BaseURL: url, MailboxByteBudget: -1})
	if err != nil {
		fail(err)
	}
	const size = 40 << 20
	var files []file
	for i := 0; i < 2*w; i++ {
		files = append(files, file{MB: i % m, Name: fmt.Sprintf("big-%03d.bin", i), Size: size, Seed: uint64(i)})
	}
	start := time.Now()
	failed := work(files, m, w, func(f file) error {
		_, err := c.Users(mailbox(f.MB)).Events(event).Attachments().Upload(context.Background(), eventattach.FileUpload{
			Name: f.Name, Content: newPattern(f), Size: f.Size,
		})
		return err
	})
	stdin.Close()
	child.Wait()
	hwm := vmHWM()
	limit := int64(w)*2*chunkSize + 32<<20
	fmt.Printf("rss: %d workers uploaded %d files of 40 MiB in %s (%d failed); client peak RSS (VmHWM) %.1f MiB, limit %d × 2 chunks + 32 MiB = %.1f MiB\n",
		w, len(files), time.Since(start).Round(time.Millisecond), failed, float64(hwm)/(1<<20), w, float64(limit)/(1<<20))
}

func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

func ratio(d, b time.Duration) float64 { return float64(d) / float64(b) }

func mins(d time.Duration) string {
	return fmt.Sprintf("%dm%04.1fs", int(d.Minutes()), math.Mod(d.Seconds(), 60))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "jobbench:", err)
	os.Exit(1)
}
