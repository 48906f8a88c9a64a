package graphtest_test

// Transcript tests of graphtest: the exchanges Graph documents (and a few
// users reported), kept in ../testdata/graph/*.http, sent to a graphtest
// server. graphtest's answer must have the transcript's status, the same
// JSON keys and the same kinds of values (a string id, a numeric size,
// RFC 3339 dates, "N"-shaped offsets, ...), not the same values. The
// format and the rules are in ../testdata/README.md; the same files drive
// the SDK's tests in ../transcript_test.go; both read them with
// graphtest.ParseTranscript.
//
// The tests follow Graph, not today's emulator: a failing subtest names a
// transcript graphtest does not reproduce yet.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/eventattach/eventattach/internal/jsonshape"
)

const txDir = "../testdata/graph"

// txLoad reads the transcripts of dir: by name, and in file order.
func txLoad(t testing.TB, dir string) (map[string]*graphtest.Transcript, []*graphtest.Transcript) {
	t.Helper()
	xs, err := graphtest.ReadTranscripts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(xs) == 0 {
		t.Fatalf("no transcripts in %s", dir)
	}
	all := map[string]*graphtest.Transcript{}
	for _, x := range xs {
		all[x.Name] = x
	}
	return all, xs
}

// TestTranscriptGraphtest sends each transcript's request to graphtest.
func TestTranscriptGraphtest(t *testing.T) {
	all, xs := txLoad(t, txDir)
	for _, x := range xs {
		t.Run(x.Name, func(t *testing.T) { txRunGraphtest(t, all, x) })
	}
}

// txAnswer is what graphtest answered.
type txAnswer struct {
	status int
	header http.Header
	body   []byte
}

// txReplayer sends requests to one graphtest server.
type txReplayer struct {
	t         *testing.T
	srv       *graphtest.Server
	token     string
	uploadURL string // the session's, from graphtest's createUploadSession answer
}

func txRunGraphtest(t *testing.T, all map[string]*graphtest.Transcript, x *graphtest.Transcript) {
	_, exp := x.Expect()
	opts := &graphtest.Options{}
	// "# graphtest: Key=Value": the option that makes graphtest answer as in
	// this transcript, where the behaviour is an option (not documented).
	for _, o := range x.Meta["graphtest"] {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "MaxMessageSize":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("graphtest option %q: %v", o, err)
			}
			opts.MaxMessageSize = n
		case "UploadAudienceErrorCode":
			opts.UploadAudienceErrorCode = v
		case "MalformedID":
			// Real ids are long base64 strings; the transcript's "285" is not.
			opts.MalformedID = func(id string) bool { return len(id) < 8 }
		default:
			t.Fatalf("unknown graphtest option %q", o)
		}
	}
	naturalThrottle := x.Status == http.StatusTooManyRequests && exp["code"] == "ApplicationThrottled"
	if naturalThrottle {
		// Outlook's MailboxConcurrency throttle, reached for real: one slow
		// request in flight, one more arrives.
		opts.MailboxConcurrency = 1
		opts.ThrottleRetryAfter = x.ResponseHeader.Get("Retry-After")
	}
	srv := graphtest.NewServer(opts)
	t.Cleanup(srv.Close)
	tok, err := srv.Credential().GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	r := &txReplayer{t: t, srv: srv, token: tok.Token}

	var got txAnswer
	switch {
	case exp["code"] == "ErrorMessageSizeExceeded":
		got = r.messageSizeExceeded()
	case len(x.Flow()) > 1:
		// The flow up to this exchange, without the other failures in it
		// (07 cancels 03's session; 13 and 14 are other ways the flow ends).
		for _, f := range x.Flow() {
			step := all[f]
			if _, e := step.Expect(); f != x.Name && e["code"] != "" {
				continue
			}
			if !step.OnUploadHost() {
				r.seed(step) // the session's event
			}
			got = r.send(step)
			if f == x.Name {
				break
			}
			if got.status >= 300 {
				t.Fatalf("%s, before this exchange, answered %d: %s", f, got.status, got.body)
			}
		}
	case naturalThrottle:
		got = r.throttled(x)
	case x.Status == http.StatusTooManyRequests:
		// Graph's generic throttle (concepts/throttling.md) has no cause
		// graphtest models: it is injected, so this checks the shape of
		// graphtest's 429 (body keys, Retry-After passed on as given).
		r.seed(x)
		srv.Inject(graphtest.Fault{Method: x.Method, Path: "/attachments", Kind: graphtest.FaultStatus,
			Status: x.Status, Code: exp["code"], RetryAfter: x.ResponseHeader.Get("Retry-After")})
		got = r.send(x)
	case x.Method == http.MethodDelete:
		got = r.deleteAttachment(all, x)
	default:
		r.seed(x)
		got = r.send(x)
	}
	txCompare(t, x, got)
}

// txEventID is the event id in a Graph URL (/me/events/{id}/...).
func txEventID(raw string) string {
	seg := strings.Split(strings.TrimPrefix(raw, graphtest.RecordGraphRoot+"/"), "/")
	if len(seg) >= 3 && seg[0] == "me" && seg[1] == "events" {
		return seg[2]
	}
	return ""
}

// seed adds the request's event to /me, unless the transcript is about an
// event that does not exist or an id Graph cannot parse.
func (r *txReplayer) seed(x *graphtest.Transcript) {
	_, exp := x.Expect()
	if exp["code"] == "ErrorItemNotFound" || exp["code"] == "ErrorInvalidIdMalformed" {
		return
	}
	if id := txEventID(x.URL); id != "" {
		r.srv.Me().AddEvent(id)
	}
}

// send sends x's request to graphtest: Graph-host requests to its Graph
// listener with its token (the docs leave the required Authorization header
// out of their examples), upload-host requests to the session's uploadUrl
// with the transcript's headers (13 sends a bearer token: graphtest's), a
// chunk's body being the file's bytes of its Content-Range.
func (r *txReplayer) send(x *graphtest.Transcript) txAnswer {
	r.t.Helper()
	var target string
	body, err := x.FixedRequestBody()
	if err != nil {
		r.t.Fatal(err)
	}
	h := http.Header{}
	if rest, ok := strings.CutPrefix(x.URL, graphtest.RecordGraphRoot); ok {
		target = r.srv.URL() + rest
		h.Set("Authorization", "Bearer "+r.token)
	} else {
		if r.uploadURL == "" {
			r.t.Fatalf("%s: no upload session to send it to", x.Name)
		}
		target = r.uploadURL
		if x.RequestHeader.Get("Authorization") != "" {
			h.Set("Authorization", "Bearer "+r.token)
		}
	}
	for _, k := range []string{"Content-Type", "Content-Range"} {
		if v := x.RequestHeader.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	if cr := x.RequestHeader.Get("Content-Range"); cr != "" {
		a, b, total, err := txContentRange(cr)
		if err != nil {
			r.t.Fatalf("%s: %v", x.Name, err)
		}
		body = graphtest.GeneratedContent(total)[a : b+1]
	}
	if _, args := x.SDK(); args["contentSize"] != "" {
		n, _ := strconv.ParseInt(args["contentSize"], 10, 64)
		body = bytes.Replace(body, []byte("<base64 of "+args["contentSize"]+" bytes>"), []byte(base64.StdEncoding.EncodeToString(graphtest.GeneratedContent(n))), 1)
	}
	got := r.do(x.Method, target, h, body)
	var sess struct {
		UploadURL string `json:"uploadUrl"`
	}
	if json.Unmarshal(got.body, &sess) == nil && sess.UploadURL != "" {
		r.uploadURL = sess.UploadURL
	}
	return got
}

func (r *txReplayer) do(method, target string, h http.Header, body []byte) txAnswer {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return txAnswer{resp.StatusCode, resp.Header, b}
}

// throttled sends x's request twice at once to a mailbox that allows one
// request in flight (the first is held by an injected latency) and returns
// the second's answer.
func (r *txReplayer) throttled(x *graphtest.Transcript) txAnswer {
	r.seed(x)
	r.srv.Inject(graphtest.Fault{Method: x.Method, Path: "/attachments", Kind: graphtest.FaultLatency, Latency: 500 * time.Millisecond})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.send(x)
	}()
	for deadline := time.Now().Add(5 * time.Second); len(r.srv.Requests()) == 0; {
		if time.Now().After(deadline) {
			r.t.Fatal("the first request never arrived")
		}
		runtime.Gosched()
	}
	got := r.send(x)
	wg.Wait()
	return got
}

// deleteAttachment adds the seed's file attachment to an event and deletes
// it: the docs' DELETE has "{id}" placeholders for the event and the
// attachment.
func (r *txReplayer) deleteAttachment(all map[string]*graphtest.Transcript, x *graphtest.Transcript) txAnswer {
	add := all["01-add-file-attachment.http"]
	const ev = "AAMkAGI1AAAt9AHjAAA="
	r.srv.Me().AddEvent(ev)
	created := r.send(add)
	var a struct{ ID string }
	if created.status != http.StatusCreated || json.Unmarshal(created.body, &a) != nil || a.ID == "" {
		r.t.Fatalf("adding the attachment to delete: %d %s", created.status, created.body)
	}
	path := strings.Replace(strings.TrimPrefix(x.URL, graphtest.RecordGraphRoot), "{id}", url.PathEscape(ev), 1)
	path = strings.Replace(path, "{id}", url.PathEscape(a.ID), 1)
	h := http.Header{"Authorization": {"Bearer " + r.token}}
	return r.do(x.Method, r.srv.URL()+path, h, nil)
}

// messageSizeExceeded uploads a 43 MiB file, as in the report (it failed
// after 39 MB), to a mailbox with Exchange Online's default 35 MB maximum
// message size, and returns the first answer that is not a success: Graph
// refuses the file at some point, at the latest on the chunk that crosses
// the limit.
func (r *txReplayer) messageSizeExceeded() txAnswer {
	const ev, size, chunk = "AAMkADU5CCmSAAA=", 43 << 20, 4 << 20
	r.srv.Me().AddEvent(ev)
	h := http.Header{"Authorization": {"Bearer " + r.token}, "Content-Type": {"application/json"}}
	body := fmt.Sprintf(`{"AttachmentItem":{"attachmentType":"file","name":"big.bin","size":%d}}`, size)
	got := r.do(http.MethodPost, r.srv.URL()+"/me/events/"+ev+"/attachments/createUploadSession", h, []byte(body))
	var sess struct {
		UploadURL string `json:"uploadUrl"`
	}
	if got.status != http.StatusCreated || json.Unmarshal(got.body, &sess) != nil {
		return got
	}
	content := graphtest.GeneratedContent(size)
	for a := 0; a < size; a += chunk {
		b := min(a+chunk, size) - 1
		h := http.Header{"Content-Type": {"application/octet-stream"}, "Content-Range": {fmt.Sprintf("bytes %d-%d/%d", a, b, size)}}
		got = r.do(http.MethodPut, sess.UploadURL, h, content[a:b+1])
		if got.status != http.StatusOK {
			return got
		}
	}
	return got
}

// txContentRange reads "bytes a-b/total".
func txContentRange(v string) (a, b, total int64, err error) {
	m := regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`).FindStringSubmatch(v)
	if m == nil {
		return 0, 0, 0, fmt.Errorf("Content-Range %q is not bytes a-b/total", v)
	}
	a, _ = strconv.ParseInt(m[1], 10, 64)
	b, _ = strconv.ParseInt(m[2], 10, 64)
	total, _ = strconv.ParseInt(m[3], 10, 64)
	return a, b, total, nil
}

var (
	txRetryAfterRE = regexp.MustCompile(`^\d+(\.\d+)?$`)
	txLocationRE   = regexp.MustCompile(`(?i)/attachments\('[^']+'\)$`)
)

// txCompare checks graphtest's answer against the transcript's.
func txCompare(t *testing.T, x *graphtest.Transcript, got txAnswer) {
	t.Helper()
	switch {
	case x.Status >= 400 && got.status < 400:
		t.Errorf("status: graphtest %d, transcript %d: graphtest accepted what Graph refuses (graphtest's body: %s)", got.status, x.Status, txCut(got.body))
		return // its success body says nothing about the error's shape
	case x.Get("status") != "assumed" && got.status != x.Status:
		t.Errorf("status: graphtest %d, transcript %d (graphtest's body: %s)", got.status, x.Status, txCut(got.body))
	}
	if ct := x.ResponseHeader.Get("Content-Type"); ct != "" && len(x.ResponseBody) > 0 {
		want, _, _ := mime.ParseMediaType(ct)
		have, _, err := mime.ParseMediaType(got.header.Get("Content-Type"))
		if err != nil || have != want {
			t.Errorf("Content-Type: graphtest %q, transcript %q", got.header.Get("Content-Type"), ct)
		}
	}
	if x.ResponseHeader.Get("Location") != "" {
		loc := got.header.Get("Location")
		if u, err := url.Parse(loc); err != nil || !u.IsAbs() || !txLocationRE.MatchString(loc) {
			t.Errorf("Location: graphtest %q, want an absolute URL ending in Attachments('{id}') like %q", loc, x.ResponseHeader.Get("Location"))
		}
	}
	if ra := x.ResponseHeader.Get("Retry-After"); ra != "" {
		if v := got.header.Get("Retry-After"); !txRetryAfterRE.MatchString(v) {
			t.Errorf("Retry-After: graphtest %q, want seconds like the transcript's %q", v, ra)
		}
	}
	if len(bytes.TrimSpace(x.ResponseBody)) == 0 {
		if len(got.body) != 0 {
			t.Errorf("body: graphtest sent %q, transcript none", got.body)
		}
		return
	}
	var want, have any
	if err := jsonshape.Decode(x.ResponseBody, &want); err != nil {
		t.Fatalf("transcript body: %v", err)
	}
	if err := jsonshape.Decode(got.body, &have); err != nil {
		t.Errorf("body: graphtest's is not JSON (%v): %q", err, got.body)
		return
	}
	txShape(t, "", want, have, x.Get("keys") == "exact", x.OnUploadHost())
	// The error code is Graph's contract (concepts/errors.md: code against
	// code): it must match, unlike the other values.
	if wc := txErrorCode(want); wc != "" && txErrorCode(have) != wc {
		t.Errorf("error.code: graphtest %q, transcript %q", txErrorCode(have), wc)
	}
}

func txErrorCode(v any) string {
	m, _ := v.(map[string]any)
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// txShape compares JSON by keys and value kinds. exact: the same key set
// (else graphtest may have more); ci: keys compared case-insensitively (the
// upload host's answers, whose casing Graph itself mixes). An error's
// innerError must be there when the transcript has one, but its keys are
// not compared: they vary with the backend (request-id or requestId,
// oAuthEventcV, ...) and the year (client-request-id came later).
func txShape(t *testing.T, at string, want, got any, exact, ci bool) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: graphtest has %s, transcript an object", txAt(at), jsonshape.Kind(got))
			return
		}
		norm := func(k string) string {
			if ci {
				return strings.ToLower(k)
			}
			return k
		}
		gk := map[string]string{}
		for k := range g {
			gk[norm(k)] = k
		}
		wk := map[string]bool{}
		for k, wv := range w {
			wk[norm(k)] = true
			real, ok := gk[norm(k)]
			if !ok {
				t.Errorf("%s: graphtest does not send it (transcript: %s)", txAt(at+"."+k), txShow(wv))
				continue
			}
			if strings.EqualFold(k, "innerError") && strings.HasSuffix(at, "error") {
				continue
			}
			txShape(t, at+"."+k, wv, g[real], exact, ci)
		}
		if exact {
			var extra []string
			for k := range g {
				if !wk[norm(k)] {
					extra = append(extra, k)
				}
			}
			slices.Sort(extra)
			if len(extra) > 0 {
				t.Errorf("%s: graphtest also sends %v, which the transcript does not have", txAt(at), extra)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			t.Errorf("%s: graphtest has %s, transcript an array", txAt(at), jsonshape.Kind(got))
			return
		}
		if len(w) > 0 && len(g) == 0 {
			t.Errorf("%s: graphtest's array is empty, transcript %s", txAt(at), txShow(w))
		}
		for i, gv := range g {
			if len(w) > 0 {
				txShape(t, fmt.Sprintf("%s[%d]", at, i), w[min(i, len(w)-1)], gv, exact, ci)
			}
		}
	default:
		if wc, gc := jsonshape.Kind(want), jsonshape.Kind(got); wc != gc {
			t.Errorf("%s: graphtest has %s %s, transcript %s %s", txAt(at), gc, txShow(got), wc, txShow(want))
		}
	}
}

func txShow(v any) string {
	b, _ := json.Marshal(v)
	return txCut(b)
}

// txCut keeps failure messages readable when a body holds megabytes.
func txCut(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + fmt.Sprintf("… (%d bytes)", len(b))
	}
	return string(b)
}

func txAt(at string) string {
	if at == "" {
		return "(root)"
	}
	return strings.TrimPrefix(at, ".")
}
