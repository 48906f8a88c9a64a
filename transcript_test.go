package eventattach_test

// Transcript tests: the HTTP exchanges Microsoft documents (and a few that
// users reported, marked as such), kept in testdata/graph/*.http, replayed
// against the SDK. For each transcript a plain httptest server (not
// graphtest) answers with the transcript's response, and the test checks
// that the SDK sent the transcript's request and made of the answer what
// the transcript says it should. testdata/README.md describes the format.
//
// The tests follow Graph, not today's code: a failing subtest names a
// transcript the SDK does not handle yet.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
	"github.com/eventattach/eventattach/internal/jsonshape"
)

const (
	txDir = "testdata/graph"
	// txMaxChunk is Graph's advice for one PUT: "keep each byte range less
	// than 4 MB" (concepts/outlook-large-attachments.md, step 2).
	txMaxChunk = 4 << 20
)

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

// txFixedBody is x's request body with its "# fix:" lines applied.
func txFixedBody(t testing.TB, x *graphtest.Transcript) []byte {
	t.Helper()
	b, err := x.FixedRequestBody()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTranscriptFiles checks the transcripts themselves: every file parses,
// says where it comes from and what SDK call it exercises, its flows exist,
// its JSON bodies parse, and testdata/README.md lists it.
func TestTranscriptFiles(t *testing.T) {
	all, xs := txLoad(t, txDir)
	readme, err := os.ReadFile("testdata/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range xs {
		t.Run(x.Name, func(t *testing.T) {
			for _, k := range []string{"source", "verbatim", "sdk", "status", "keys"} {
				if x.Get(k) == "" {
					t.Errorf("no %q header line", k)
				}
			}
			if s := x.Get("status"); s != "documented" && s != "reported" && s != "assumed" {
				t.Errorf("status %q: want documented, reported or assumed", s)
			}
			if k := x.Get("keys"); k != "exact" && k != "superset" {
				t.Errorf("keys %q: want exact or superset", k)
			}
			for _, f := range x.Flow() {
				if all[f] == nil {
					t.Errorf("flow names %s, which does not exist", f)
				}
			}
			if !slices.Contains(x.Flow(), x.Name) {
				t.Errorf("its flow %v does not include it", x.Flow())
			}
			if cl := x.ResponseHeader.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(x.ResponseBody)) {
				t.Errorf("response Content-Length %s, body %d bytes", cl, len(x.ResponseBody))
			}
			if txIsJSON(x.ResponseHeader) && len(x.ResponseBody) > 0 && !json.Valid(x.ResponseBody) {
				t.Errorf("response body is not JSON")
			}
			if txIsJSON(x.RequestHeader) && !strings.Contains(x.Get("sdk"), "contentSize=") && !json.Valid(txFixedBody(t, x)) {
				t.Errorf("request body is not JSON")
			}
			if !bytes.Contains(readme, []byte(x.Name)) {
				t.Errorf("testdata/README.md does not list it")
			}
		})
	}
}

func txIsJSON(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "application/json"
}

// txCred is a static token credential: the SDK gets "transcript-token".
type txCred struct{}

func (txCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "transcript-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// txGot is a request the test servers received.
type txGot struct {
	upload     bool // on the upload server
	method     string
	requestURI string // exactly as sent
	path       string // decoded
	header     http.Header
	body       []byte
}

// txScript serves the exchanges of one flow, in order, from two servers:
// one stands for graph.microsoft.com, the other for outlook.office.com.
// A request that matches the next exchange (same host and method) gets
// that exchange's response; any other gets 501 and is recorded as
// unexpected.
type txScript struct {
	t      *testing.T
	steps  []*graphtest.Transcript
	graph  *httptest.Server
	upload *httptest.Server

	mu         sync.Mutex
	next       int
	got        map[int]txGot // step -> the request it answered
	unexpected []txGot
	uploadURL  string // the session's uploadUrl, rewritten to the upload server
	nextOffset int64  // the offset the last chunk answer reported
}

func txNewScript(t *testing.T, steps []*graphtest.Transcript) *txScript {
	s := &txScript{t: t, steps: steps, got: map[int]txGot{}}
	s.graph = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, false) }))
	s.upload = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, true) }))
	t.Cleanup(s.graph.Close)
	t.Cleanup(s.upload.Close)
	return s
}

// rewriteUpload points a URL of the documented upload host at the upload
// server. This is the only change made to a documented answer (besides the
// chunk offset, see serve): without it the SDK could not reach the session.
func (s *txScript) rewriteUpload(u string) string {
	if rest, ok := strings.CutPrefix(u, graphtest.RecordUploadRoot); ok {
		return s.upload.URL + rest
	}
	return u
}

func (s *txScript) serve(w http.ResponseWriter, r *http.Request, upload bool) {
	body, _ := io.ReadAll(r.Body)
	g := txGot{upload: upload, method: r.Method, requestURI: r.RequestURI, path: r.URL.Path, header: r.Header.Clone(), body: body}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next >= len(s.steps) || s.steps[s.next].OnUploadHost() != upload || s.steps[s.next].Method != r.Method {
		s.unexpected = append(s.unexpected, g)
		http.Error(w, `{"error":{"code":"NoTranscript","message":"no transcript for this request"}}`, http.StatusNotImplemented)
		return
	}
	step := s.next
	x := s.steps[step]
	s.next++
	s.got[step] = g

	out := x.ResponseBody
	// A session's uploadUrl: rewritten to the upload server (and kept, so
	// the chunks can be checked against it).
	var sess struct {
		UploadURL string `json:"uploadUrl"`
	}
	if txIsJSON(x.ResponseHeader) && json.Unmarshal(x.ResponseBody, &sess) == nil && sess.UploadURL != "" {
		s.uploadURL = s.rewriteUpload(sess.UploadURL)
		out = bytes.Replace(out, []byte(sess.UploadURL), []byte(s.uploadURL), 1)
	}
	// A chunk's 200: the documented next offset (2097152, the end of a
	// 2 MiB first chunk) is replaced by the offset after the SDK's chunk,
	// in the same format (a bare number). The SDK's chunks are multiples of
	// 320 KiB and cannot end where the docs' chunk does; answering the
	// documented offset would tell the SDK the server holds bytes it never
	// sent. See the Content-Range check in txCheckRequest.
	if x.Method == http.MethodPut && x.Status == http.StatusOK {
		_, docEnd, _, err1 := txContentRange(x.RequestHeader.Get("Content-Range"))
		_, sdkEnd, _, err2 := txContentRange(r.Header.Get("Content-Range"))
		if err1 == nil && err2 == nil {
			out = bytes.ReplaceAll(out, []byte(strconv.Quote(strconv.FormatInt(docEnd+1, 10))), []byte(strconv.Quote(strconv.FormatInt(sdkEnd+1, 10))))
			s.nextOffset = sdkEnd + 1
		}
	}
	for k, vs := range x.ResponseHeader {
		if k == "Content-Length" {
			continue // set below from the body served, which it equals (TestTranscriptFiles)
		}
		for _, v := range vs {
			if k == "Location" {
				v = s.rewriteUpload(v)
			}
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(x.Status)
	w.Write(out)
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

// TestTranscriptSDK replays each transcript against the SDK.
func TestTranscriptSDK(t *testing.T) {
	all, xs := txLoad(t, txDir)
	for _, x := range xs {
		t.Run(x.Name, func(t *testing.T) { txRunSDK(t, all, x) })
	}
}

func txRunSDK(t *testing.T, all map[string]*graphtest.Transcript, x *graphtest.Transcript) {
	var steps []*graphtest.Transcript
	for _, f := range x.Flow() {
		steps = append(steps, all[f])
	}
	me := slices.Index(x.Flow(), x.Name)
	s := txNewScript(t, steps)
	client, err := eventattach.NewClient(txCred{}, &eventattach.ClientOptions{
		BaseURL: s.graph.URL + "/v1.0",
		Retry:   eventattach.RetryOptions{MaxRetries: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The SDK call comes from the flow's first request: its route, and its
	// body for the arguments.
	first := steps[0]
	op, args := x.SDK()
	atts, attID := txRoute(t, client, first.URL)
	var content []byte
	var res any
	switch op {
	case "AddFile":
		var in struct {
			Name, ContentType, ContentID string
			IsInline                     bool
			ContentBytes                 string
		}
		body := txFixedBody(t, first)
		f := &eventattach.FileAttachment{}
		if n, ok := args["contentSize"]; ok {
			// The body is a placeholder: read its name, make the content.
			size, _ := strconv.ParseInt(n, 10, 64)
			content = graphtest.GeneratedContent(size)
			f.Name = regexp.MustCompile(`"name":"([^"]*)"`).FindStringSubmatch(string(body))[1]
			f.ContentBytes = content
		} else {
			if err := json.Unmarshal(body, &in); err != nil {
				t.Fatalf("request body: %v", err)
			}
			raw, err := base64.StdEncoding.DecodeString(in.ContentBytes)
			if err != nil {
				t.Fatalf("request contentBytes: %v", err)
			}
			*f = eventattach.FileAttachment{Name: in.Name, ContentType: in.ContentType, IsInline: in.IsInline, ContentID: in.ContentID, ContentBytes: raw}
		}
		res, err = atts.AddFile(ctx, f)
	case "AddItem":
		var in struct {
			Name string
			Item json.RawMessage
		}
		if err := json.Unmarshal(txFixedBody(t, first), &in); err != nil {
			t.Fatalf("request body: %v", err)
		}
		ev := new(eventattach.Event)
		if err := json.Unmarshal(in.Item, ev); err != nil {
			t.Fatalf("request item: %v", err)
		}
		res, err = atts.AddItem(ctx, &eventattach.ItemAttachment{Name: in.Name, Item: ev})
	case "Upload":
		var in struct {
			AttachmentItem struct {
				Name, ContentType string
				Size              int64
			}
		}
		if err := json.Unmarshal(txFixedBody(t, first), &in); err != nil {
			t.Fatalf("request body: %v", err)
		}
		size := in.AttachmentItem.Size
		if v, ok := args["size"]; ok {
			size, _ = strconv.ParseInt(v, 10, 64)
		}
		chunk, _ := strconv.Atoi(args["chunkSize"])
		content = graphtest.GeneratedContent(size)
		res, err = atts.Upload(ctx, eventattach.FileUpload{
			Name: in.AttachmentItem.Name, ContentType: in.AttachmentItem.ContentType,
			Content: bytes.NewReader(content), Size: size, ChunkSize: chunk,
		})
	case "Delete":
		err = atts.Delete(ctx, attID)
	default:
		t.Fatalf("unknown sdk operation %q", op)
	}

	s.mu.Lock()
	got, sent := s.got[me]
	var prevEnd int64 = -1
	for i := me - 1; i >= 0; i-- {
		if g, ok := s.got[i]; ok && g.method == http.MethodPut {
			_, prevEnd, _, _ = txContentRange(g.header.Get("Content-Range"))
			break
		}
	}
	uploadURL, unexpected, served := s.uploadURL, s.unexpected, s.next
	s.mu.Unlock()
	for _, u := range unexpected {
		t.Logf("request without a transcript (answered 501): %s %s", u.method, u.requestURI)
	}
	if r := x.Meta["sdk-refuses"]; len(r) > 0 {
		// Graph refuses this request, and the SDK knows it before sending.
		if sent || served > 0 {
			t.Fatalf("the SDK sent a request Graph refuses (%d steps served); want it refused before sending (%s)", served, r[0])
		}
		if r[0] != "is=ErrTooLarge" || !errors.Is(err, eventattach.ErrTooLarge) {
			t.Fatalf("the call returned %v; want an error that is %s", err, r[0])
		}
		return
	}
	if !sent {
		t.Fatalf("the SDK never sent this transcript's request (step %d of flow %v; %d steps served); the call returned %v, %v",
			me+1, x.Flow(), served, txShow(res), err)
	}
	txCheckRequest(t, x, got, uploadURL, content, prevEnd)
	if me+1 < len(steps) && served <= me+1 {
		// An intermediate answer the SDK did not go on from.
		t.Errorf("the SDK did not go on to step %d (%s) after this answer; the call returned %v, %v", me+2, x.Flow()[me+1], txShow(res), err)
	}
	txCheckOutcome(t, x, res, err)
}

// txExpandContent puts the bytes a "<base64 of N bytes>" placeholder stands
// for back into a recorded body.
func txExpandContent(body []byte) []byte {
	re := regexp.MustCompile(`<base64 of (\d+) bytes>`)
	return re.ReplaceAllFunc(body, func(m []byte) []byte {
		n, _ := strconv.ParseInt(string(re.FindSubmatch(m)[1]), 10, 64)
		return []byte(base64.StdEncoding.EncodeToString(graphtest.GeneratedContent(n)))
	})
}

func txShow(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// txRoute builds the SDK's Attachments for a documented URL, and returns
// the attachment id it names, if any.
func txRoute(t *testing.T, c *eventattach.Client, raw string) (eventattach.Attachments, string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("request URL %q: %v", raw, err)
	}
	seg := strings.Split(strings.TrimPrefix(u.Path, "/v1.0/"), "/")
	var ev eventattach.EventPath
	switch {
	case len(seg) >= 4 && seg[0] == "me" && seg[1] == "events" && seg[3] == "attachments":
		ev, seg = c.Me().Events(seg[2]), seg[4:]
	case len(seg) >= 5 && seg[0] == "users" && seg[2] == "events" && seg[4] == "attachments":
		ev, seg = c.Users(seg[1]).Events(seg[3]), seg[5:]
	default:
		t.Fatalf("request URL %q: not an event's attachments route this test knows", raw)
	}
	id := ""
	if len(seg) == 1 && seg[0] != "createUploadSession" {
		id = seg[0]
	}
	return ev.Attachments(), id
}

// txCheckRequest compares the request the SDK sent for x with x's request.
func txCheckRequest(t *testing.T, x *graphtest.Transcript, got txGot, uploadURL string, content []byte, prevEnd int64) {
	t.Helper()
	if got.method != x.Method {
		t.Errorf("method: SDK sent %s, transcript %s", got.method, x.Method)
	}
	if x.OnUploadHost() {
		// The upload URL is opaque: the SDK must use the session's uploadUrl
		// byte for byte (for 07, whose documented URL is a message's
		// session, that is the event session of its flow) and never send it
		// the bearer token.
		if !got.upload || uploadURL == "" || got.requestURI != strings.TrimPrefix(uploadURL, "http://"+hostOf(uploadURL)) {
			t.Errorf("request URI: SDK sent %s to the %s server, want the session's uploadUrl %s", got.requestURI, txServerName(got.upload), uploadURL)
		}
		if a := got.header.Get("Authorization"); a != "" {
			t.Errorf("Authorization: the SDK sent %q to the upload host; Graph's docs: \"Do not specify an Authorization request header\"", a)
		}
	} else {
		want, _ := url.Parse(x.URL)
		if got.upload || got.path != want.Path {
			t.Errorf("path: SDK sent %s to the %s server, transcript %s", got.path, txServerName(got.upload), want.Path)
		}
		if a := got.header.Get("Authorization"); a != "Bearer transcript-token" {
			t.Errorf("Authorization: SDK sent %q to Graph, want the bearer token", a)
		}
	}
	if ct := x.RequestHeader.Get("Content-Type"); ct != "" {
		want, _, _ := mime.ParseMediaType(ct)
		have, _, err := mime.ParseMediaType(got.header.Get("Content-Type"))
		if err != nil || !strings.EqualFold(have, want) {
			t.Errorf("Content-Type: SDK sent %q, transcript %q", got.header.Get("Content-Type"), ct)
		}
	}
	if cr := x.RequestHeader.Get("Content-Range"); cr != "" {
		txCheckRange(t, x, got, content, prevEnd)
	}
	if txIsJSON(x.RequestHeader) {
		txCheckJSONRequest(t, x, got, content)
	}
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}

func txServerName(upload bool) string {
	if upload {
		return "upload"
	}
	return "graph"
}

// txCheckRange checks a chunk. The SDK's chunk size differs from the docs'
// 2 MiB (see serve), so: the total must be the transcript's; the first
// byte must be where the session said to go on (the transcript's start for
// the first chunk, else right after the SDK's previous chunk, which the
// served 200 acknowledged); a final chunk (the transcript's ends at the
// last byte) must end there too, an intermediate one must stay under
// 4 MiB; and the body must be those bytes of the file, Content-Length
// their count.
func txCheckRange(t *testing.T, x *graphtest.Transcript, got txGot, content []byte, prevEnd int64) {
	t.Helper()
	wa, wb, wtotal, err := txContentRange(x.RequestHeader.Get("Content-Range"))
	if err != nil {
		t.Fatalf("transcript: %v", err)
	}
	a, b, total, err := txContentRange(got.header.Get("Content-Range"))
	if err != nil {
		t.Errorf("SDK: %v", err)
		return
	}
	wantStart := wa
	if prevEnd >= 0 {
		wantStart = prevEnd + 1
	}
	switch {
	case total != wtotal:
		t.Errorf("Content-Range total: SDK %d, transcript %d", total, wtotal)
	case a != wantStart:
		t.Errorf("Content-Range start: SDK %d, want %d (%s)", a, wantStart, got.header.Get("Content-Range"))
	case wb == wtotal-1 && b != wb:
		t.Errorf("Content-Range end: SDK %d, transcript's final chunk ends at %d", b, wb)
	case wb != wtotal-1 && (b-a+1 > txMaxChunk || b >= total-1):
		t.Errorf("Content-Range %s: an intermediate chunk of at most 4 MiB expected", got.header.Get("Content-Range"))
	}
	if cl := got.header.Get("Content-Length"); (cl != "" && cl != strconv.FormatInt(b-a+1, 10)) || int64(len(got.body)) != b-a+1 {
		t.Errorf("Content-Length %q and %d body bytes for %s", cl, len(got.body), got.header.Get("Content-Range"))
	}
	if int64(len(content)) == total && b < total && !bytes.Equal(got.body, content[a:b+1]) {
		t.Errorf("the chunk's body is not bytes %d-%d of the file", a, b)
	}
	if mt, _, _ := mime.ParseMediaType(got.header.Get("Content-Type")); mt != "application/octet-stream" {
		t.Errorf("chunk Content-Type %q, Graph wants application/octet-stream", got.header.Get("Content-Type"))
	}
}

// txCheckJSONRequest compares JSON bodies: every property of the
// transcript's request (after its "# fix:" lines, and with its
// "# sdk-differs:" lines applied: what the SDK sends instead) must be in
// the SDK's with an equal value. Extra properties the SDK sends are
// optional ones the docs' minimal example leaves out; they are logged.
func txCheckJSONRequest(t *testing.T, x *graphtest.Transcript, got txGot, content []byte) {
	t.Helper()
	want := txFixedBody(t, x)
	if _, args := x.SDK(); args["contentSize"] != "" {
		want = bytes.Replace(want, []byte("<base64 of "+args["contentSize"]+" bytes>"), []byte(base64.StdEncoding.EncodeToString(content)), 1)
	}
	var w, g any
	if err := jsonshape.Decode(want, &w); err != nil {
		t.Fatalf("transcript request body: %v", err)
	}
	if err := jsonshape.Decode(got.body, &g); err != nil {
		t.Errorf("SDK request body is not JSON: %v", err)
		return
	}
	for _, d := range x.Meta["sdk-differs"] {
		path, val, _ := strings.Cut(d, "=")
		var v any
		if err := jsonshape.Decode([]byte(val), &v); err != nil {
			t.Fatalf("sdk-differs %q: %v", d, err)
		}
		txSet(w, strings.Split(path, "."), v)
	}
	txSubset(t, "", w, g)
}

func txSet(v any, path []string, val any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	if len(path) == 1 {
		m[path[0]] = val
		return
	}
	txSet(m[path[0]], path[1:], val)
}

// txSubset reports properties of want missing from got or different in it.
// "@odata.type" values are compared without a leading '#': OData accepts
// both, and the docs' own item example uses the form without it.
func txSubset(t *testing.T, at string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("request JSON %s: SDK sent %s, want an object", txAt(at), txShow(got))
			return
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				t.Errorf("request JSON %s: the SDK does not send it (transcript: %s)", txAt(at+"."+k), txShow(wv))
				continue
			}
			if k == "@odata.type" {
				ws, _ := wv.(string)
				gs, _ := gv.(string)
				if strings.TrimPrefix(ws, "#") != strings.TrimPrefix(gs, "#") {
					t.Errorf("request JSON %s: SDK %q, transcript %q", txAt(at+"."+k), gs, ws)
				}
				continue
			}
			txSubset(t, at+"."+k, wv, gv)
		}
		for k, gv := range g {
			if _, ok := w[k]; !ok {
				t.Logf("request JSON %s: the SDK also sends %s (not in the transcript)", txAt(at+"."+k), txShow(gv))
			}
		}
	default:
		if txShow(want) != txShow(got) {
			t.Errorf("request JSON %s: SDK sent %s, transcript %s", txAt(at), txShow(got), txShow(want))
		}
	}
}

func txAt(at string) string {
	if at == "" {
		return "(root)"
	}
	return strings.TrimPrefix(at, ".")
}

// txCheckOutcome checks what the SDK returned against "# expect:".
func txCheckOutcome(t *testing.T, x *graphtest.Transcript, res any, err error) {
	t.Helper()
	kind, kv := x.Expect()
	if kind == "" {
		return // an intermediate exchange of a flow: the flow's last file says
	}
	switch kind {
	case "nil":
		if err != nil {
			t.Errorf("the SDK returned %v, want no error", err)
		}
	case "attachment":
		if err != nil {
			t.Fatalf("the SDK returned %v, want the created attachment", err)
		}
		txCheckAttachment(t, x, res, kv)
	case "error":
		txCheckError(t, err, kv)
	default:
		t.Fatalf("unknown expect %q", x.Get("expect"))
	}
}

// txCheckAttachment compares the returned attachment with the answer: for
// a POST, its typed fields with the 201 body; for an upload, the id from
// the final 201's Location.
func txCheckAttachment(t *testing.T, x *graphtest.Transcript, res any, kv map[string]string) {
	t.Helper()
	if id, ok := kv["id"]; ok {
		f, _ := res.(*eventattach.FileAttachment)
		if f == nil || f.ID != id {
			t.Errorf("the SDK returned %s, want the attachment %q named by the final chunk's Location", txShow(res), id)
		}
		return
	}
	var w struct {
		ID, Name             string
		ContentType          *string
		Size                 int64
		IsInline             bool
		LastModifiedDateTime time.Time
		ContentID            *string
		ContentBytes         []byte
	}
	if err := json.Unmarshal(txExpandContent(x.ResponseBody), &w); err != nil {
		t.Fatalf("transcript response: %v", err)
	}
	type common struct {
		ID, Name, ContentType string
		Size                  int64
		IsInline              bool
		Modified              time.Time
	}
	want := common{w.ID, w.Name, "", w.Size, w.IsInline, w.LastModifiedDateTime}
	if w.ContentType != nil {
		want.ContentType = *w.ContentType
	}
	var have common
	switch a := res.(type) {
	case *eventattach.FileAttachment:
		have = common{a.ID, a.Name, a.ContentType, a.Size, a.IsInline, a.LastModifiedDateTime}
		if !bytes.Equal(a.ContentBytes, w.ContentBytes) {
			t.Errorf("ContentBytes: SDK %q, answer %q", a.ContentBytes, w.ContentBytes)
		}
		if w.ContentID == nil && a.ContentID != "" {
			t.Errorf("ContentID: SDK %q, answer null", a.ContentID)
		}
	case *eventattach.ItemAttachment:
		have = common{a.ID, a.Name, a.ContentType, a.Size, a.IsInline, a.LastModifiedDateTime}
	default:
		t.Fatalf("the SDK returned %T", res)
	}
	if !have.Modified.Equal(want.Modified) {
		t.Errorf("LastModifiedDateTime: SDK %s, answer %s", have.Modified, want.Modified)
	}
	have.Modified, want.Modified = time.Time{}, time.Time{}
	if have != want {
		t.Errorf("attachment: SDK %+v, answer %+v", have, want)
	}
}

var txSentinels = map[string]error{
	"ErrNotFound":     eventattach.ErrNotFound,
	"ErrTooLarge":     eventattach.ErrTooLarge,
	"ErrThrottled":    eventattach.ErrThrottled,
	"ErrUnauthorized": eventattach.ErrUnauthorized,
	"ErrForbidden":    eventattach.ErrForbidden,
}

func txCheckError(t *testing.T, err error, kv map[string]string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the SDK returned no error, want %v", kv)
	}
	var ge *eventattach.GraphError
	if !errors.As(err, &ge) {
		t.Fatalf("the SDK returned %v, want a *GraphError", err)
	}
	if s := kv["status"]; s != "" && strconv.Itoa(ge.StatusCode) != s {
		t.Errorf("GraphError.StatusCode %d, want %s (%v)", ge.StatusCode, s, err)
	}
	if c := kv["code"]; c != "" && ge.Code != c {
		t.Errorf("GraphError.Code %q, want %q (%v)", ge.Code, c, err)
	}
	if name := kv["is"]; name != "" && !errors.Is(err, txSentinels[name]) {
		t.Errorf("errors.Is(err, %s) is false for %v", name, err)
	}
	if ra := kv["retry-after"]; ra != "" {
		d, perr := time.ParseDuration(ra)
		if perr != nil {
			t.Fatalf("bad retry-after %q", ra)
		}
		if ge.RetryAfter != d {
			t.Errorf("GraphError.RetryAfter %s, want %s from the Retry-After header", ge.RetryAfter, d)
		}
	}
}
