package eventattach_test

// Recorded runs: transcripts written by graphtest.Recorder (EVENTATTACH_RECORD)
// replayed like the documented ones: each against the SDK from a plain
// server (txRunSDK, the transcript test's own replay, for the calls it
// knows; a one-answer server for List, Get, Content and other items), and
// the whole run against graphtest (cfReplayGraphtest). Runs recorded from
// Graph go into testdata/graph/recorded/<run>/ as they are written.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
)

const cfRecordedDir = "testdata/graph/recorded"

// cfReplayDir replays every transcript of a recorded run against the SDK.
func cfReplayDir(t *testing.T, dir string) {
	all, xs := txLoad(t, dir)
	for i, x := range xs {
		t.Run(x.Name, func(t *testing.T) {
			op, _ := x.SDK()
			switch op {
			case "AddFile", "Upload", "Delete":
				txRunSDK(t, all, x)
			case "AddItem":
				if cfItemType(x) == "event" {
					txRunSDK(t, all, x) // it knows event items
				} else {
					cfReplayOne(t, xs, i, x)
				}
			case "List", "Get", "Content":
				cfReplayOne(t, xs, i, x)
			case "none":
				t.Skipf("no SDK call sends this request: %s", strings.Join(x.Meta["note"], "; "))
			default:
				t.Errorf("unknown sdk line %q", x.Get("sdk"))
			}
		})
	}
}

// cfItemType is the kind of item an AddItem request carries.
func cfItemType(x *graphtest.Transcript) string {
	var in struct {
		Item map[string]any
	}
	json.Unmarshal(x.RequestBody, &in)
	t, _ := in.Item["@odata.type"].(string)
	return strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(t), "#"), "microsoft.graph.")
}

// cfReplayOne serves x's answer to the SDK call its sdk line names (and
// pages it follows from the run's later exchanges), then checks the request
// and the outcome.
func cfReplayOne(t *testing.T, xs []*graphtest.Transcript, i int, x *graphtest.Transcript) {
	var mu sync.Mutex
	var first *txGot
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		var serve *graphtest.Transcript
		if first == nil {
			first = &txGot{method: r.Method, requestURI: r.RequestURI, path: r.URL.Path, header: r.Header.Clone(), body: body}
			serve = x
		} else {
			for _, y := range xs[i+1:] {
				if y.Method == r.Method && y.URL == graphtest.RecordGraphRoot+strings.TrimPrefix(r.URL.RequestURI(), "/v1.0") {
					serve = y
					break
				}
			}
		}
		if serve == nil {
			http.Error(w, `{"error":{"code":"NoTranscript","message":"no transcript for this request"}}`, http.StatusNotImplemented)
			return
		}
		out := bytes.ReplaceAll(serve.ResponseBody, []byte(graphtest.RecordGraphRoot), []byte(srvURL+"/v1.0"))
		for k, vs := range serve.ResponseHeader {
			if k != "Content-Length" {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(serve.Status)
		w.Write(out)
	}))
	defer srv.Close()
	srvURL = srv.URL
	client, err := eventattach.NewClient(txCred{}, &eventattach.ClientOptions{BaseURL: srv.URL + "/v1.0", Retry: eventattach.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user, ev, ok := cfUserEvent(x.URL)
	if !ok {
		t.Fatalf("%s: not an event's attachments URL", x.URL)
	}
	atts := client.Users(user).Events(ev).Attachments()
	if user == "me" {
		atts = client.Me().Events(ev).Attachments()
	}
	u, _ := url.Parse(x.URL)
	seg := strings.Split(strings.TrimSuffix(u.Path, "/$value"), "/")
	id := seg[len(seg)-1]

	op, _ := x.SDK()
	var res any
	switch op {
	case "List":
		res, err = atts.List(ctx)
	case "Get":
		res, err = atts.Get(ctx, id)
	case "Content":
		var rc io.ReadCloser
		if rc, err = atts.Content(ctx, id); err == nil {
			var b []byte
			b, err = io.ReadAll(rc)
			rc.Close()
			if err == nil && !strings.HasPrefix(string(x.ResponseBody), "<") && !bytes.Equal(b, x.ResponseBody) {
				t.Errorf("Content read %q, the answer held %q", cfCut(b), cfCut(x.ResponseBody))
			}
		}
	case "AddItem":
		res, err = atts.AddItem(ctx, &eventattach.ItemAttachment{Name: cfJSONName(x.RequestBody), Item: cfDecodeItem(t, x)})
	}
	mu.Lock()
	got := first
	mu.Unlock()
	if got == nil {
		t.Fatalf("the SDK sent no request; it returned %v, %v", txShow(res), err)
	}
	want, _ := url.Parse(x.URL)
	if got.method != x.Method || got.path != want.Path {
		t.Errorf("the SDK sent %s %s, the transcript %s %s", got.method, got.path, x.Method, want.Path)
	}
	if op == "AddItem" {
		txCheckRequest(t, x, *got, "", nil, -1)
	}
	if x.Get("expect") != "" {
		txCheckOutcome(t, x, res, err)
	} else if x.Status < 300 && err != nil {
		t.Errorf("the SDK returned %v for a %d", err, x.Status)
	}
}

func cfJSONName(b []byte) string {
	var v struct{ Name string }
	json.Unmarshal(b, &v)
	return v.Name
}

func cfDecodeItem(t *testing.T, x *graphtest.Transcript) eventattach.OutlookItem {
	var in struct{ Item json.RawMessage }
	json.Unmarshal(x.RequestBody, &in)
	var item eventattach.OutlookItem
	switch cfItemType(x) {
	case "message":
		item = new(eventattach.Message)
	case "contact":
		item = new(eventattach.Contact)
	default:
		item = new(eventattach.Event)
	}
	if err := json.Unmarshal(in.Item, item); err != nil {
		t.Fatalf("request item: %v", err)
	}
	return item
}

// cfSecretsOf is every secret a graphtest run used: the tokens its
// credential issued (as they reached the server), the authtokens of its
// upload URLs, the user's id and UPN, the tenant id, and extra.
func cfSecretsOf(srv *graphtest.Server, user string, extra []string) []string {
	mb := srv.User(user)
	secrets := append([]string{user, mb.ID(), mb.UPN(), srv.TenantID()}, extra...)
	for _, r := range srv.Requests() {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			secrets = append(secrets, tok)
		}
		if q, err := url.ParseQuery(r.RawQuery); err == nil && q.Get("authtoken") != "" {
			secrets = append(secrets, q.Get("authtoken"))
		}
	}
	slices.Sort(secrets)
	return slices.Compact(secrets)
}

var cfAnyEmailRE = regexp.MustCompile(`(?i)[a-z0-9._+-]+(?:@|%40)[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}`)

// cfCheckRecording checks that no secret of the run, in any form, and no
// email address but the placeholders' appears in any recorded file.
func cfCheckRecording(t *testing.T, dir string, secrets []string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.http"))
	if len(files) == 0 {
		t.Fatalf("nothing recorded in %s", dir)
	}
	tokens, authtokens := 0, 0
	for _, s := range secrets {
		switch {
		case strings.HasPrefix(s, "graphtest."):
			tokens++
		case len(s) > 20 && !strings.ContainsAny(s, "@-"):
			authtokens++
		}
	}
	if tokens == 0 || authtokens == 0 {
		t.Errorf("the run's secrets (%d) hold %d tokens and %d authtokens: the check would check little", len(secrets), tokens, authtokens)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		low := strings.ToLower(string(data))
		for _, s := range secrets {
			for _, form := range []string{s, url.PathEscape(s), url.QueryEscape(s)} {
				if form != "" && strings.Contains(low, strings.ToLower(form)) {
					t.Errorf("%s holds the secret %q", filepath.Base(f), form)
				}
			}
		}
		for _, m := range cfAnyEmailRE.FindAllString(string(data), -1) {
			if !strings.HasSuffix(strings.ToLower(strings.Replace(m, "%40", "@", 1)), "@example.com") {
				t.Errorf("%s holds the address %q", filepath.Base(f), m)
			}
		}
		if bytes.Contains(data, []byte("Bearer ")) && !regexp.MustCompile(`Bearer \{token-\d+\}`).Match(data) {
			t.Errorf("%s holds a bearer token that is not a placeholder", filepath.Base(f))
		}
	}
}

// TestConformanceRecorder records the suite's run against graphtest (its
// big upload at 8 MiB, to keep the replays short), checks the recording
// holds no secret, replays every transcript of it against the SDK, and the
// whole run against a fresh graphtest, which must answer alike.
func TestConformanceRecorder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := &cfConfig{user: cfDefaultUser, eventID: cfDefaultEvent, recordDir: dir, bigUpload: 8 << 20}
	var tg *cfTarget
	t.Run("run", func(t *testing.T) {
		tg = cfNewTarget(t, cfg)
		cfRunSuite(t, tg)
	})
	if t.Failed() {
		t.FailNow()
	}
	cfCheckRecording(t, dir, cfSecretsOf(tg.srv, cfg.user, nil))

	_, xs := txLoad(t, dir)
	ops := map[string]int{}
	for _, x := range xs {
		op, _ := x.SDK()
		ops[op]++
	}
	for _, op := range []string{"AddFile", "AddItem", "Upload", "Delete", "List", "Get", "Content", "none"} {
		if ops[op] == 0 {
			t.Errorf("no recorded exchange has sdk %s (%v)", op, ops)
		}
	}
	t.Run("sdk", func(t *testing.T) { cfReplayDir(t, dir) })
	t.Run("graphtest", func(t *testing.T) {
		for _, d := range cfReplayGraphtest(t, xs) {
			t.Errorf("%s %s: %s", d.file, d.request, strings.Join(d.what, "; "))
		}
	})
	// The runs recorded from Graph and kept in testdata/graph/recorded/<run>/
	// are replayed the same way: against the SDK, and against graphtest,
	// whose every difference from Graph fails (the tests follow Graph).
	dirs, _ := filepath.Glob(filepath.Join(cfRecordedDir, "*"))
	for _, d := range slices.DeleteFunc(dirs, func(d string) bool { st, err := os.Stat(d); return err != nil || !st.IsDir() }) {
		t.Run("recorded/"+filepath.Base(d), func(t *testing.T) {
			t.Run("sdk", func(t *testing.T) { cfReplayDir(t, d) })
			t.Run("graphtest", func(t *testing.T) {
				_, rx := txLoad(t, d)
				for _, diff := range cfReplayGraphtest(t, rx) {
					t.Errorf("%s %s: %s", diff.file, diff.request, strings.Join(diff.what, "; "))
				}
			})
		})
	}
}

// TestConformanceRecorderShortUserID records the suite's run for a user
// whose id is short ("u1") and an event whose id holds it: the Recorder
// replaces the user id where it is an id and nowhere else, so the event id
// is written as it was, the recording holds no secret, and it replays
// against the SDK and against graphtest.
func TestConformanceRecorderShortUserID(t *testing.T) {
	if raceEnabled {
		t.Skip("a second whole recorded run: text scrubbing, no concurrency; it runs in the plain go test of CI")
	}
	t.Parallel()
	const user, event = "u1", "AAMkAGu1AAAt9AHjU1A="
	dir := t.TempDir()
	cfg := &cfConfig{user: user, eventID: event, recordDir: dir, bigUpload: 8 << 20}
	var tg *cfTarget
	t.Run("run", func(t *testing.T) {
		tg = cfNewTarget(t, cfg)
		cfRunSuite(t, tg)
	})
	if t.Failed() {
		t.FailNow()
	}
	// The short id is checked as an id (below), not as a substring.
	secrets := slices.DeleteFunc(cfSecretsOf(tg.srv, user, nil), func(s string) bool { return len(s) < 4 })
	cfCheckRecording(t, dir, secrets)

	_, xs := txLoad(t, dir)
	idRE := regexp.MustCompile(`(?i)(/users/|users\(')u1\b`)
	onGraph := 0
	for _, x := range xs {
		if m := idRE.FindString(string(x.Data)); m != "" {
			t.Errorf("%s holds the user id: %q", x.Name, m)
		}
		if x.OnUploadHost() {
			continue
		}
		onGraph++
		// (ErrUnknownEvent asks for another event of the same start.)
		if !strings.Contains(x.URL, "/users/00000000-0000-0000-0001-000000000001/events/"+event[:8]) {
			t.Errorf("%s: URL %s, want the user's placeholder and the event id %s", x.Name, x.URL, event)
		}
	}
	if onGraph == 0 {
		t.Fatal("no Graph request recorded")
	}
	t.Run("sdk", func(t *testing.T) { cfReplayDir(t, dir) })
	t.Run("graphtest", func(t *testing.T) {
		for _, d := range cfReplayGraphtest(t, xs) {
			t.Errorf("%s %s: %s", d.file, d.request, strings.Join(d.what, "; "))
		}
	})
}
