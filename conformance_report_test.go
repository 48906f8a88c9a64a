package eventattach_test

// The report after a live run: the run's recorded exchanges (as the
// transcripts hold them) are sent again, in order, to a fresh graphtest
// with its default options, and every answer is compared with Graph's by
// status, JSON keys and value formats — what the transcript tests compare.
// Each difference is the next fidelity work for graphtest, or a fact for
// GRAPH-FACTS.md; the probes' observations follow.

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
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/eventattach/eventattach/internal/jsonshape"
)

// cfDiff is where graphtest answered one recorded request differently.
type cfDiff struct {
	file    string
	request string
	what    []string
}

// cfReport renders the report of a live run.
func cfReport(t *testing.T, tg *cfTarget) string {
	t.Helper()
	xs := cfParseTranscripts(t, tg.rec.Transcripts())
	diffs := cfReplayGraphtest(t, xs)
	var b strings.Builder
	fmt.Fprintf(&b, "graphtest (default options) compared with %s: run %s, %s\n", tg.cfg.source, strings.TrimSuffix(tg.prefix, "-"), time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "%d exchanges replayed, %d answered differently.\n", len(xs), len(diffs))
	// The same differences on the same kind of request are listed once.
	type group struct {
		first cfDiff
		files []string
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, d := range diffs {
		method, _, _ := strings.Cut(d.request, " ")
		key := method + " " + strconv.FormatBool(strings.Contains(d.request, graphtest.RecordUploadRoot)) + " " + strings.Join(d.what, "\n")
		if g := byKey[key]; g != nil {
			g.files = append(g.files, d.file)
			continue
		}
		g := &group{first: d, files: []string{d.file}}
		byKey[key] = g
		groups = append(groups, g)
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "\n%s  %s\n", g.first.file, g.first.request)
		if len(g.files) > 1 {
			fmt.Fprintf(&b, "  (the same in %d exchanges: %s)\n", len(g.files), strings.Join(g.files, " "))
		}
		for _, w := range g.first.what {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
	}
	b.WriteString("\nObservations (GRAPH-FACTS [unknown] rows and sizes):\n")
	for _, o := range tg.observations() {
		fmt.Fprintf(&b, "  - %s\n", o)
	}
	return b.String()
}

// cfParseTranscripts reads rendered transcripts back from their bytes, as
// the transcript tests read the files.
func cfParseTranscripts(t *testing.T, trs []*graphtest.Transcript) []*graphtest.Transcript {
	t.Helper()
	var xs []*graphtest.Transcript
	for _, tr := range trs {
		x, err := graphtest.ParseTranscript(tr.Name, tr.Data)
		if err != nil {
			t.Fatalf("recorded transcript does not parse: %v\n%s", err, tr.Data)
		}
		xs = append(xs, x)
	}
	return xs
}

var cfEventRouteRE = regexp.MustCompile(`^/v1\.0/(?:users/([^/]+)|me)/events/([^/]+)(?:/|$)`)

// cfUserEvent is the user (or "me") and event a Graph URL names.
func cfUserEvent(raw string) (string, string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", false
	}
	m := cfEventRouteRE.FindStringSubmatch(u.EscapedPath())
	if m == nil {
		return "", "", false
	}
	user, _ := url.PathUnescape(m[1])
	ev, _ := url.PathUnescape(m[2])
	if user == "" {
		user = "me"
	}
	return user, ev, true
}

// cfReplayGraphtest sends xs, in order, to a new graphtest: the events
// that answered a success are seeded, attachment ids and upload URLs are
// mapped to graphtest's as they are created, chunk bodies are the replay
// tests' file again. It returns the differences.
func cfReplayGraphtest(t *testing.T, xs []*graphtest.Transcript) []cfDiff {
	t.Helper()
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	tok, err := srv.Credential().GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range xs {
		if user, ev, ok := cfUserEvent(x.URL); ok && !x.OnUploadHost() && x.Status < 300 {
			srv.User(user).AddEvent(ev)
		}
	}
	ids := map[string]string{}
	sessions := map[string]string{}
	contents := map[int64][]byte{}
	content := func(n int64) []byte {
		if contents[n] == nil {
			contents[n] = graphtest.GeneratedContent(n)
		}
		return contents[n]
	}
	var diffs []cfDiff
	for _, x := range xs {
		req := fmt.Sprintf("%s %s", x.Method, cfShortURL(x.URL))
		target := ""
		h := http.Header{}
		if x.OnUploadHost() {
			target = sessions[x.URL]
			if x.RequestHeader.Get("Authorization") != "" {
				h.Set("Authorization", "Bearer "+tok.Token)
			}
		} else if rest, ok := strings.CutPrefix(x.URL, graphtest.RecordGraphRoot); ok {
			target = srv.URL() + cfMapIDs(rest, ids)
			h.Set("Authorization", "Bearer "+tok.Token)
		}
		if target == "" {
			diffs = append(diffs, cfDiff{x.Name, req, []string{"not replayed: graphtest has no upload session for this URL (its createUploadSession failed)"}})
			continue
		}
		for _, k := range []string{"Content-Type", "Content-Range"} {
			if v := x.RequestHeader.Get(k); v != "" {
				h.Set(k, v)
			}
		}
		body := x.RequestBody
		if a, b, total, err := txContentRange(x.RequestHeader.Get("Content-Range")); err == nil {
			body = content(total)[a : b+1]
		} else if m := regexp.MustCompile(`<base64 of (\d+) bytes>`).FindSubmatch(body); m != nil {
			n, _ := strconv.ParseInt(string(m[1]), 10, 64)
			body = bytes.Replace(body, m[0], []byte(base64.StdEncoding.EncodeToString(content(n))), 1)
		}
		got, err := cfSend(x.Method, target, h, body)
		if err != nil {
			diffs = append(diffs, cfDiff{x.Name, req, []string{"graphtest did not answer: " + err.Error()}})
			continue
		}
		if what := cfCompare(x, got); len(what) > 0 {
			diffs = append(diffs, cfDiff{x.Name, req, what})
		}
		// What later requests refer to.
		if x.Status == http.StatusCreated && got.status == http.StatusCreated {
			var w, g struct{ ID, UploadURL string }
			json.Unmarshal(x.ResponseBody, &w)
			json.Unmarshal(got.body, &g)
			if w.ID != "" && g.ID != "" {
				ids[w.ID] = g.ID
			}
			if w.UploadURL != "" && g.UploadURL != "" {
				sessions[w.UploadURL] = g.UploadURL
			}
			if wl, ok := cfLocationID(x.ResponseHeader.Get("Location")); ok {
				if gl, ok := cfLocationID(got.header.Get("Location")); ok {
					ids[wl] = gl
				}
			}
		}
	}
	return diffs
}

// cfMapIDs replaces recorded attachment ids in a URL by graphtest's.
func cfMapIDs(u string, ids map[string]string) string {
	for w, g := range ids {
		u = strings.ReplaceAll(u, "/"+url.PathEscape(w), "/"+url.PathEscape(g))
		if url.PathEscape(w) != w {
			u = strings.ReplaceAll(u, "/"+w, "/"+url.PathEscape(g))
		}
	}
	return u
}

var cfLocationRE = regexp.MustCompile(`(?i)attachments\('([^']+)'\)$`)

func cfLocationID(loc string) (string, bool) {
	m := cfLocationRE.FindStringSubmatch(loc)
	if m == nil {
		return "", false
	}
	return m[1], true
}

func cfShortURL(u string) string {
	if i := strings.Index(u, "?authtoken="); i >= 0 {
		return u[:i] + "?authtoken=…"
	}
	return u
}

func cfSend(method, target string, h http.Header, body []byte) (*cfAnswer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, err
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &cfAnswer{resp.StatusCode, resp.Header, b}, nil
}

// cfCompare lists how got differs from the recorded answer: status,
// Content-Type, Location, JSON keys (case included) and value formats,
// error.code.
func cfCompare(x *graphtest.Transcript, got *cfAnswer) []string {
	var out []string
	if got.status != x.Status {
		out = append(out, fmt.Sprintf("status: Graph %d, graphtest %d", x.Status, got.status))
	}
	wantCT, _, _ := mime.ParseMediaType(x.ResponseHeader.Get("Content-Type"))
	gotCT, _, _ := mime.ParseMediaType(got.header.Get("Content-Type"))
	if len(x.ResponseBody) > 0 && len(got.body) > 0 && wantCT != gotCT {
		out = append(out, fmt.Sprintf("Content-Type: Graph %q, graphtest %q", wantCT, gotCT))
	}
	if (x.ResponseHeader.Get("Location") != "") != (got.header.Get("Location") != "") {
		out = append(out, fmt.Sprintf("Location: Graph %q, graphtest %q", x.ResponseHeader.Get("Location"), got.header.Get("Location")))
	}
	trimmed := slices.ContainsFunc(x.Meta["note"], func(n string) bool { return strings.HasPrefix(n, "body trimmed") })
	switch {
	case (x.Status < 400) != (got.status < 400):
		// A success and an error: their bodies say nothing of each other.
	case len(bytes.TrimSpace(x.ResponseBody)) == 0 && len(got.body) > 0:
		out = append(out, fmt.Sprintf("body: Graph none, graphtest %s", cfCut(got.body)))
	case len(bytes.TrimSpace(x.ResponseBody)) > 0 && len(got.body) == 0:
		out = append(out, "body: Graph sent one, graphtest none")
	case trimmed || wantCT != "application/json" || gotCT != "application/json":
	default:
		var w, g any
		if jsonshape.Decode(x.ResponseBody, &w) != nil {
			break
		}
		if err := jsonshape.Decode(got.body, &g); err != nil {
			out = append(out, "body: graphtest's is not JSON: "+cfCut(got.body))
			break
		}
		out = append(out, cfShapeDiff("", w, g)...)
		if wc, gc := cfErrCode(w), cfErrCode(g); wc != gc {
			out = append(out, fmt.Sprintf("error.code: Graph %q, graphtest %q", wc, gc))
		}
	}
	return out
}

func cfErrCode(v any) string {
	m, _ := v.(map[string]any)
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// cfShapeDiff compares JSON by keys (exact case; a key in another case is
// reported as such) and value formats. Under error.innerError only the
// presence is compared: its keys vary with Graph's backends.
func cfShapeDiff(at string, want, got any) []string {
	var out []string
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: Graph has an object, graphtest %s", cfAt(at), jsonshape.Kind(got))}
		}
		if strings.HasSuffix(strings.ToLower(at), "error.innererror") {
			return nil
		}
		fold := map[string]string{}
		for k := range g {
			fold[strings.ToLower(k)] = k
		}
		for _, k := range cfKeys(w) {
			gk, ok := g[k]
			if !ok {
				if other, ok := fold[strings.ToLower(k)]; ok {
					out = append(out, fmt.Sprintf("key %s: Graph writes it %s, graphtest %s", cfAt(at+"."+k), k, other))
					out = append(out, cfShapeDiff(at+"."+k, w[k], g[other])...)
				} else {
					out = append(out, fmt.Sprintf("key %s: Graph sends it (%s), graphtest does not", cfAt(at+"."+k), jsonshape.Kind(w[k])))
				}
				continue
			}
			out = append(out, cfShapeDiff(at+"."+k, w[k], gk)...)
		}
		wfold := map[string]bool{}
		for k := range w {
			wfold[strings.ToLower(k)] = true
		}
		for _, k := range cfKeys(g) {
			if !wfold[strings.ToLower(k)] {
				out = append(out, fmt.Sprintf("key %s: graphtest sends it (%s), Graph does not", cfAt(at+"."+k), jsonshape.Kind(g[k])))
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: Graph has an array, graphtest %s", cfAt(at), jsonshape.Kind(got))}
		}
		// A list's length depends on what the event held before the run;
		// other arrays' lengths are compared.
		if len(w) != len(g) && at != ".value" {
			out = append(out, fmt.Sprintf("%s: Graph has %d elements, graphtest %d", cfAt(at), len(w), len(g)))
		}
		for i, wv := range w {
			if gv := cfMatch(wv, g, i); gv != nil {
				out = append(out, cfShapeDiff(fmt.Sprintf("%s[%d]", at, i), wv, gv)...)
			}
		}
	default:
		if wc, gc := jsonshape.Kind(want), jsonshape.Kind(got); wc != gc {
			out = append(out, fmt.Sprintf("%s: Graph has %s %s, graphtest %s %s", cfAt(at), wc, cfCut(txShowJSON(want)), gc, cfCut(txShowJSON(got))))
		}
	}
	return out
}

// cfMatch is the element of g that corresponds to w (the i-th of its
// array): the one with the same name (none if no element has it: an
// attachment the event held before the run), else the i-th.
func cfMatch(w any, g []any, i int) any {
	if wm, ok := w.(map[string]any); ok {
		if name, ok := wm["name"].(string); ok {
			for _, gv := range g {
				if gm, ok := gv.(map[string]any); ok && gm["name"] == name {
					return gv
				}
			}
			return nil
		}
	}
	if i < len(g) {
		return g[i]
	}
	return nil
}

func cfAt(at string) string {
	if at == "" {
		return "(root)"
	}
	return strings.TrimPrefix(at, ".")
}

func txShowJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
