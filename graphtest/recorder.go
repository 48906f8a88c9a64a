package graphtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Canonical roots a Recorder writes transcripts against: the hosts of the
// project's testdata/graph transcripts, which the replay tests know.
const (
	RecordGraphRoot  = "https://graph.microsoft.com/v1.0"
	RecordUploadRoot = "https://outlook.office.com"
)

// MaxRecordedBody is the largest body a Recorder writes as it is; longer
// ones are trimmed (see Recorder).
const MaxRecordedBody = 64 << 10

// maxCapturedJSON is how much of a JSON body a Recorder keeps in memory, so
// that a long contentBytes can be replaced by a placeholder instead of cut.
const maxCapturedJSON = 8 << 20

// Recorder is an http.RoundTripper that records every exchange it carries
// and writes them as transcripts in the format of the project's
// testdata/graph/*.http files (testdata/README.md), one file per exchange,
// so that a run against Microsoft Graph (or graphtest) can join the replay
// tests.
//
// What it writes is scrubbed: bearer tokens, the authtoken of upload URLs,
// tenant and user ids, user principal names and email addresses are
// replaced by stable placeholders (the same value always by the same
// placeholder within one Recorder): "{token-N}", "{authtoken-N}", GUIDs
// 00000000-0000-0000-0001-00000000000N for user ids and
// 00000000-0000-0000-0002-00000000000N for tenant ids, "userN@example.com"
// for addresses (with its '@' written as the original's was: plain, %40,
// %2540 or \u0040), "User N" for the names of userN (a given UPN's
// "adele.vance" is Adele Vance, however written; a name beside an address
// in emailAddress is that address's user's). Ids, names and quotes doubled
// in OData keys (a quote written twice) are found too. User and tenant ids
// and names are replaced only where they are a whole token, never inside
// another id, a word or base64, so that a short id ("u1") leaves the
// transcript as it was otherwise and it still replays. Values the
// Recorder cannot recognise on its own (the user a run works on, a tenant
// id) are given with RedactUser, RedactTenant and Redact.
//
// Bodies over MaxRecordedBody are trimmed: a long contentBytes becomes the
// placeholder "<base64 of N bytes>" when the content is GeneratedContent,
// "<N characters of base64, not recorded>" otherwise; other bodies are cut,
// with a "# note:" saying how much was kept. Binary bodies (upload chunks, raw file content) are written
// as a "<…, not recorded>" placeholder, with their size.
//
// Graph requests are written against RecordGraphRoot and upload URLs
// against RecordUploadRoot; MapHost maps other roots (a graphtest server's,
// a national cloud's) onto them, and an upload host seen in an uploadUrl
// (outlook.office365.com, say) is mapped on its own, with a note.
//
// A Recorder is safe for concurrent use; exchanges are numbered in the order
// their requests started.
type Recorder struct {
	next http.RoundTripper

	mu        sync.Mutex
	label     string
	source    string
	exchanges []*recExchange
	explicit  []recSecret
	hosts     [][2]string
}

type recExchange struct {
	label     string
	method    string
	url       string
	reqHeader http.Header
	reqLen    int64
	reqBody   *capture
	status    int
	proto     string
	resHeader http.Header
	resBody   *capture
	err       error
}

type recSecret struct {
	value string
	kind  string // "user", "tenant", "secret"
}

// NewRecorder returns a Recorder sending requests through next
// (http.DefaultTransport when nil).
func NewRecorder(next http.RoundTripper) *Recorder {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Recorder{next: next}
}

// SetLabel names the exchanges that start from now on (a scenario, say):
// the label goes into their file names and a "# note:".
func (r *Recorder) SetLabel(label string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.label = label
}

// SetSource says where the exchanges come from, for the "# source:" line,
// e.g. "Microsoft Graph (a live tenant)" or "graphtest".
func (r *Recorder) SetSource(source string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.source = source
}

// RedactUser makes a user id or user principal name a placeholder wherever
// it appears.
func (r *Recorder) RedactUser(idOrUPN string) { r.redact(idOrUPN, "user") }

// RedactTenant makes a tenant id a placeholder wherever it appears.
func (r *Recorder) RedactTenant(id string) { r.redact(id, "tenant") }

// Redact makes any other secret value "{redacted-N}" wherever it appears.
func (r *Recorder) Redact(secret string) { r.redact(secret, "secret") }

func (r *Recorder) redact(v, kind string) {
	if v == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.explicit = append(r.explicit, recSecret{v, kind})
}

// MapHost writes URLs starting with from as starting with to instead, e.g.
// MapHost(srv.URL(), RecordGraphRoot).
func (r *Recorder) MapHost(from, to string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts = append(r.hosts, [2]string{strings.TrimSuffix(from, "/"), strings.TrimSuffix(to, "/")})
}

// Len is how many exchanges have been recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.exchanges)
}

// RoundTrip sends req through the next RoundTripper and records the
// exchange; the response body is recorded as the caller reads it.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	e := &recExchange{
		method:    req.Method,
		url:       req.URL.String(),
		reqHeader: req.Header.Clone(),
		reqLen:    req.ContentLength,
	}
	out := req
	if req.Body != nil && req.Body != http.NoBody {
		e.reqBody = newCapture(req.Header.Get("Content-Type"))
		out = req.Clone(req.Context())
		out.Body = &captureReader{rc: req.Body, c: e.reqBody}
		if e.reqBody.limit == maxCapturedJSON {
			// A JSON body is read whole first (up to maxCapturedJSON), so that
			// it is recorded whole even when the server answers before
			// reading it all; what may follow is only counted.
			head, err := io.ReadAll(io.LimitReader(req.Body, maxCapturedJSON))
			if err != nil {
				req.Body.Close()
				return nil, err
			}
			e.reqBody.head, e.reqBody.n, e.reqBody.limit = head, int64(len(head)), 0
			out.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(head), out.Body), req.Body}
		}
	}
	r.mu.Lock()
	e.label = r.label
	r.exchanges = append(r.exchanges, e)
	r.mu.Unlock()

	resp, err := r.next.RoundTrip(out)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		e.err = err
		return nil, err
	}
	e.status, e.proto, e.resHeader = resp.StatusCode, resp.Proto, resp.Header.Clone()
	e.resBody = newCapture(resp.Header.Get("Content-Type"))
	resp.Body = &captureReader{rc: resp.Body, c: e.resBody}
	return resp, nil
}

// capture keeps the first bytes of a body and counts them all.
type capture struct {
	mu    sync.Mutex
	limit int
	head  []byte
	n     int64
}

func newCapture(contentType string) *capture {
	limit := MaxRecordedBody + 1
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/json" {
		limit = maxCapturedJSON
	}
	return &capture{limit: limit}
}

func (c *capture) snapshot() ([]byte, int64) {
	if c == nil {
		return nil, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.head), c.n
}

type captureReader struct {
	rc io.ReadCloser
	c  *capture
}

func (cr *captureReader) Read(p []byte) (int, error) {
	n, err := cr.rc.Read(p)
	cr.c.mu.Lock()
	if room := cr.c.limit - len(cr.c.head); room > 0 {
		cr.c.head = append(cr.c.head, p[:min(n, room)]...)
	}
	cr.c.n += int64(n)
	cr.c.mu.Unlock()
	return n, err
}

func (cr *captureReader) Close() error { return cr.rc.Close() }

// WriteDir writes Transcripts into dir (created if needed) and returns the
// paths written.
func (r *Recorder) WriteDir(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, tr := range r.Transcripts() {
		p := filepath.Join(dir, tr.Name)
		if err := os.WriteFile(p, tr.Data, 0o644); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// view is one exchange as written: hosts mapped, secrets scrubbed.
type view struct {
	e         *recExchange
	name      string
	method    string
	url       string
	reqHeader http.Header
	reqBody   []byte // full capture, scrubbed (if text)
	reqN      int64
	reqWhole  bool // the capture holds the whole body
	resWhole  bool
	resHeader http.Header
	resBody   []byte
	resN      int64
	reqOut    []byte // as written
	resOut    []byte
	outNotes  []string
	notes     []string
	sdk       string
	differs   []string
	flow      []int
	expect    string
}

// Transcripts renders the exchanges recorded so far (those that got an
// answer; a request that failed in transport has nothing to replay), named
// e.g. "003-AddFile-post.http". Each one's fields are what its Data holds,
// as ParseTranscript reads them back.
func (r *Recorder) Transcripts() []*Transcript {
	r.mu.Lock()
	// Copies: a request still in flight may set its answer meanwhile.
	exs := make([]recExchange, len(r.exchanges))
	for i, e := range r.exchanges {
		exs[i] = *e
	}
	explicit := slices.Clone(r.explicit)
	hosts := slices.Clone(r.hosts)
	source := r.source
	r.mu.Unlock()
	if source == "" {
		source = "an HTTP client"
	}

	var vs []*view
	for i := range exs {
		e := &exs[i]
		if e.err != nil || e.status == 0 {
			continue
		}
		v := &view{e: e, method: e.method, url: e.url, reqHeader: e.reqHeader.Clone(), resHeader: e.resHeader.Clone()}
		v.reqBody, v.reqN = e.reqBody.snapshot()
		v.resBody, v.resN = e.resBody.snapshot()
		if e.reqBody == nil {
			v.reqN = 0
		}
		v.reqWhole, v.resWhole = int64(len(v.reqBody)) == v.reqN, int64(len(v.resBody)) == v.resN
		// A long contentBytes is replaced first: the file's bytes hold no
		// secret a scrubber could find, and scanning megabytes is slow.
		if v.reqWhole && len(v.reqBody) > MaxRecordedBody {
			v.reqBody, v.notes = placeContentBytes(v.reqBody, v.notes)
		}
		if v.resWhole && len(v.resBody) > MaxRecordedBody {
			v.resBody, v.notes = placeContentBytes(v.resBody, v.notes)
		}
		vs = append(vs, v)
	}

	// Upload hosts other than the canonical one, learnt from uploadUrl.
	for _, v := range vs {
		if u := jsonString(v.resBody, "uploadUrl"); u != "" {
			if p, err := url.Parse(mapHosts(u, hosts)); err == nil && p.Scheme+"://"+p.Host != RecordUploadRoot {
				origin := p.Scheme + "://" + p.Host
				if !slices.ContainsFunc(hosts, func(h [2]string) bool { return h[0] == origin }) {
					hosts = append(hosts, [2]string{origin, RecordUploadRoot})
					if p.Scheme == "https" {
						v.notes = append(v.notes, fmt.Sprintf("the upload host was %s; written as %s", origin, RecordUploadRoot))
					}
				}
			}
		}
	}
	for _, v := range vs {
		v.url = mapHosts(v.url, hosts)
		mapHeader(v.reqHeader, hosts)
		mapHeader(v.resHeader, hosts)
		if isText(v.reqBody) {
			v.reqBody = []byte(mapHosts(string(v.reqBody), hosts))
		}
		if isText(v.resBody) {
			v.resBody = []byte(mapHosts(string(v.resBody), hosts))
		}
	}

	sc := newScrubber(explicit)
	for _, v := range vs {
		sc.discover(v)
	}
	sc.prepare()
	for _, v := range vs {
		v.url = sc.scrub(v.url)
		scrubHeader(v.reqHeader, sc)
		scrubHeader(v.resHeader, sc)
		if isText(v.reqBody) {
			v.reqBody = []byte(sc.scrub(string(v.reqBody)))
		}
		if isText(v.resBody) {
			v.resBody = []byte(sc.scrub(string(v.resBody)))
		}
	}

	for _, v := range vs {
		var n1, n2 []string
		v.reqOut, n1 = trimBody(v.reqBody, v.reqWhole, v.reqN, v.reqHeader)
		v.resOut, n2 = trimBody(v.resBody, v.resWhole, v.resN, v.resHeader)
		v.outNotes = append(n1, n2...)
	}
	infer(vs)
	out := make([]*Transcript, len(vs))
	for i, v := range vs {
		v.name = fmt.Sprintf("%03d-%s-%s.http", i+1, slug(v.e.label), strings.ToLower(v.method))
	}
	stamp := time.Now().UTC().Format(time.RFC3339)
	for i, v := range vs {
		out[i] = render(v, vs, source, stamp)
	}
	return out
}

func mapHosts(s string, hosts [][2]string) string {
	for _, h := range hosts {
		s = strings.ReplaceAll(s, h[0], h[1])
	}
	return s
}

func mapHeader(h http.Header, hosts [][2]string) {
	for k, vs := range h {
		for i := range vs {
			vs[i] = mapHosts(vs[i], hosts)
		}
		h[k] = vs
	}
}

func scrubHeader(h http.Header, sc *scrubber) {
	for k, vs := range h {
		for i := range vs {
			vs[i] = sc.scrub(vs[i])
		}
		h[k] = vs
	}
}

// isText says whether a body can go into a transcript as it is: UTF-8,
// no NUL.
func isText(b []byte) bool { return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 }

func slug(s string) string {
	if s == "" {
		return "exchange"
	}
	return strings.Trim(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(s, "-"), "-")
}

// scrubber replaces secrets by stable placeholders.
type scrubber struct {
	order []string      // secrets, in discovery order
	reps  []replacement // from prepare

	place  map[string]string // lower-cased secret -> placeholder
	kinds  map[string]string // lower-cased secret -> its kind
	counts map[string]int
	emails map[string]string // lower-cased address -> placeholder's local part
}

func newScrubber(explicit []recSecret) *scrubber {
	sc := &scrubber{place: map[string]string{}, kinds: map[string]string{}, counts: map[string]int{}, emails: map[string]string{}}
	for _, s := range explicit {
		if s.kind == "user" && isEmail(s.value) {
			sc.email(s.value)
			// The name the address is made of: "adele.vance" is Adele Vance.
			k := emailKey(s.value)
			local, _, _ := strings.Cut(k, "@")
			sc.learnName(local, k, true)
			continue
		}
		sc.add(s.value, s.kind)
	}
	return sc
}

// isEmail says whether v is one address and nothing else.
func isEmail(v string) bool {
	loc := emailRE.FindStringIndex(v)
	return loc != nil && loc[0] == 0 && loc[1] == len(v)
}

// nameStop are the words a name part is not replaced as: the placeholders'
// own, and too common to be a name.
var nameStop = map[string]bool{"user": true, "users": true, "example": true, "admin": true, "test": true, "mail": true, "name": true}

// learnName makes a user's name a placeholder, "User N" after the address
// key's "userN@example.com": the whole name as it is written and the other
// way round ("Adele Vance", "Vance, Adele", "Adele.Vance"), and, wherever
// one is a JSON string of its own ("givenName":"Adele"), each part of 3
// letters or more. fromLocal: name is an address's local part, which is
// also replaced as a word of its own ("adele.vance" -> "userN").
func (sc *scrubber) learnName(name, key string, fromLocal bool) {
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, "@{}") || isEmail(name) {
		return
	}
	local := sc.localOf(key)
	n := strings.TrimPrefix(local, "user")
	display := "User " + n
	parts := strings.FieldsFunc(name, func(r rune) bool { return r == ' ' || r == '.' || r == '_' || r == ',' || r == '\t' })
	if fromLocal {
		if len(name) >= 3 && !nameStop[strings.ToLower(name)] {
			sc.addAs(name, local, "name", false)
		}
		if len(parts) < 2 {
			// A one-word local part ("adele") is the given name too.
			if len(name) >= 3 && !nameStop[strings.ToLower(name)] {
				sc.addAs(name, display, "namepart", false)
			}
			return
		}
	} else {
		sc.addAs(name, display, "name", false)
	}
	if len(parts) >= 2 {
		sc.addAs(strings.Join(parts, " "), display, "name", false)
		sc.addAs(parts[len(parts)-1]+", "+strings.Join(parts[:len(parts)-1], " "), display, "name", false)
		sc.addAs(parts[len(parts)-1]+" "+strings.Join(parts[:len(parts)-1], " "), display, "name", false)
		sc.addAs(strings.Join(parts, "."), display, "name", false)
	}
	for _, p := range parts {
		if len(p) >= 3 && !nameStop[strings.ToLower(p)] {
			sc.addAs(p, display, "namepart", true)
		}
	}
}

// addAs adds secret v with its placeholder p; jsonOnly: replaced only
// where it is a whole JSON string.
func (sc *scrubber) addAs(v, p, kind string, jsonOnly bool) {
	k := strings.ToLower(v)
	if v == "" || k == strings.ToLower(p) {
		return
	}
	if _, ok := sc.place[k]; ok {
		return
	}
	if jsonOnly {
		kind = "jsonpart"
	}
	sc.place[k], sc.kinds[k] = p, kind
	sc.order = append(sc.order, v)
}

var (
	bearerRE    = regexp.MustCompile(`(?i)^bearer\s+(\S+)`)
	authtokenRE = regexp.MustCompile(`(?i)authtoken=([^&"'\s<>\\]+)`)
	// Users('{userId}@{tenantId}') in upload URLs and @odata.context, with
	// the '@' plain or escaped; the tenant is what follows the last '@'.
	// An OData key doubles a quote in it: users('o''brien@contoso.com').
	usersAtRE = regexp.MustCompile(`(?i)users\('((?:[^']|'')+)(?:@|%40)([^'@%]+)'\)`)
	// users('{id}') without an '@'.
	usersIDRE = regexp.MustCompile(`(?i)users\('((?:[^'@%]|'')+)'\)`)
	// /users/{id}/ in a path.
	usersPathRE = regexp.MustCompile(`(?i)/users/([^/?#]+)`)
	// An address: its '@' plain, URL-escaped (once or twice) or JSON-escaped;
	// its local part may hold escapes (%2B) and quotes, single or doubled
	// (o'brien, o''brien in an OData key), never at its start.
	emailRE = regexp.MustCompile(`(?i)[a-z0-9_+-](?:[a-z0-9._+-]|%[0-9a-f]{2}|''?[a-z0-9_+-])*(?:@|%40|%2540|\\u0040)[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}`)
	jwtRE   = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)
)

func (sc *scrubber) add(v, kind string) {
	if v == "" || strings.HasPrefix(v, "{") || isPlaceholderGUID(v) {
		return
	}
	k := strings.ToLower(v)
	if _, ok := sc.place[k]; ok {
		return
	}
	sc.kinds[k] = kind
	sc.counts[kind]++
	n := sc.counts[kind]
	var p string
	switch kind {
	case "token", "authtoken":
		p = fmt.Sprintf("{%s-%d}", kind, n)
	case "user":
		p = fmt.Sprintf("00000000-0000-0000-0001-%012d", n)
	case "tenant":
		p = fmt.Sprintf("00000000-0000-0000-0002-%012d", n)
	default:
		p = fmt.Sprintf("{redacted-%d}", n)
	}
	sc.place[k] = p
	sc.order = append(sc.order, v)
}

func isPlaceholderGUID(v string) bool {
	return strings.HasPrefix(v, "00000000-0000-0000-000")
}

// atForms are the ways an address's '@' is written, longest first.
var atForms = []string{`\u0040`, "%2540", "%40", "@"}

// emailKey is an address as the scrubber knows it: lower-cased, its '@'
// and its escapes and doubled quotes undone.
func emailKey(addr string) string {
	k := strings.ToLower(addr)
	for _, at := range atForms {
		k = strings.Replace(k, at, "@", 1)
	}
	k = strings.ReplaceAll(k, "''", "'")
	if u, err := url.PathUnescape(k); err == nil {
		k = u
	}
	return k
}

// localOf is the placeholder's local part ("userN") of an address key.
func (sc *scrubber) localOf(k string) string {
	local, ok := sc.emails[k]
	if !ok {
		local = fmt.Sprintf("user%d", len(sc.emails)+1)
		sc.emails[k] = local
	}
	return local
}

func (sc *scrubber) email(addr string) string {
	at := "@"
	for _, f := range atForms {
		if strings.Contains(strings.ToLower(addr), strings.ToLower(f)) {
			at = f
			break
		}
	}
	k := emailKey(addr)
	if strings.HasSuffix(k, "@example.com") {
		return addr
	}
	return sc.localOf(k) + at + "example.com"
}

// scrubEmails replaces every address in s. A match that starts in the
// middle of an escape (%27adele%40…, \u0027adele@…) starts after it.
func (sc *scrubber) scrubEmails(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range emailRE.FindAllStringIndex(s, -1) {
		i, j := m[0], m[1]
		switch {
		case i >= 1 && s[i-1] == '%' && j-i > 2 && isHex(s[i]) && isHex(s[i+1]):
			i += 2
		case i >= 1 && s[i-1] == '\\' && j-i > 5 && (s[i] == 'u' || s[i] == 'U') && isHex(s[i+1]) && isHex(s[i+2]) && isHex(s[i+3]) && isHex(s[i+4]):
			i += 5
		}
		if !isEmail(s[i:j]) {
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(sc.email(s[i:j]))
		last = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// discover learns the secrets of one exchange: its bearer token, the
// authtokens and user and tenant ids in its URLs and bodies.
func (sc *scrubber) discover(v *view) {
	if m := bearerRE.FindStringSubmatch(v.reqHeader.Get("Authorization")); m != nil {
		sc.add(m[1], "token")
	}
	texts := []string{v.url, v.resHeader.Get("Location")}
	for _, b := range [][]byte{v.reqBody, v.resBody} {
		if isText(b) {
			texts = append(texts, string(b))
		}
	}
	for _, s := range texts {
		for _, m := range authtokenRE.FindAllStringSubmatch(s, -1) {
			sc.add(m[1], "authtoken")
			if u, err := url.QueryUnescape(m[1]); err == nil && u != m[1] {
				sc.add(u, "authtoken")
			}
		}
		for _, m := range usersAtRE.FindAllStringSubmatch(s, -1) {
			if strings.Contains(m[2], ".") {
				continue // users('adele@contoso.com'): an address
			}
			sc.add(m[2], "tenant")
			if !emailRE.MatchString(m[1]) {
				sc.add(strings.ReplaceAll(m[1], "''", "'"), "user")
			}
		}
		for _, m := range usersIDRE.FindAllStringSubmatch(s, -1) {
			sc.add(strings.ReplaceAll(m[1], "''", "'"), "user")
		}
	}
	for _, b := range [][]byte{v.reqBody, v.resBody} {
		var doc any
		if isText(b) && json.Unmarshal(b, &doc) == nil {
			sc.discoverNames(doc)
		}
	}
	for _, m := range usersPathRE.FindAllStringSubmatch(v.url, -1) {
		if id, err := url.PathUnescape(m[1]); err == nil && !emailRE.MatchString(id) {
			sc.add(id, "user")
		}
	}
}

// discoverNames learns the names beside addresses in a JSON document:
// emailAddress {"name","address"} (organizers, attendees) and users'
// displayName, givenName and surname beside their mail or
// userPrincipalName.
func (sc *scrubber) discoverNames(doc any) {
	switch d := doc.(type) {
	case []any:
		for _, x := range d {
			sc.discoverNames(x)
		}
	case map[string]any:
		addr := ""
		for _, k := range []string{"address", "mail", "userPrincipalName"} {
			if a, _ := d[k].(string); isEmail(a) {
				addr = a
				break
			}
		}
		if addr != "" {
			key := emailKey(addr)
			for _, k := range []string{"name", "displayName", "givenName", "surname"} {
				if n, _ := d[k].(string); n != "" {
					sc.learnName(n, key, false)
				}
			}
		}
		for _, x := range d {
			sc.discoverNames(x)
		}
	}
}

// replacement is one form of a secret (plain, path- or query-escaped,
// JSON-escaped, quotes doubled), matched case-insensitively: ids and
// addresses come back in other cases. A bounded one (a user or tenant id,
// a name) is replaced only where it is a whole token, so that a short id
// ("u1") is not cut out of other ids, words or base64; a jsonOnly one
// only where it is a whole JSON string.
type replacement struct {
	lower    string
	re       *regexp.Regexp
	with     string
	bounded  bool
	jsonOnly bool
}

// prepare compiles the replacements, longest secrets first.
func (sc *scrubber) prepare() {
	order := slices.Clone(sc.order)
	slices.SortStableFunc(order, func(a, b string) int { return len(b) - len(a) })
	sc.reps = nil
	for _, sec := range order {
		p := sc.place[strings.ToLower(sec)]
		kind := sc.kinds[strings.ToLower(sec)]
		forms := []string{sec, url.PathEscape(sec), url.QueryEscape(sec)}
		if b, err := json.Marshal(sec); err == nil {
			forms = append(forms, strings.Trim(string(b), `"`))
		}
		if strings.Contains(sec, "'") {
			// In an OData key (a Location, an @odata.context) a quote is doubled.
			d := strings.ReplaceAll(sec, "'", "''")
			forms = append(forms, d, url.PathEscape(d), strings.ReplaceAll(d, "'", "%27"))
		}
		seen := map[string]bool{}
		for _, f := range forms {
			if f == "" || seen[strings.ToLower(f)] {
				continue
			}
			seen[strings.ToLower(f)] = true
			bounded := kind == "user" || kind == "tenant" || kind == "name" || kind == "namepart"
			sc.reps = append(sc.reps, replacement{strings.ToLower(f), regexp.MustCompile(`(?i)` + regexp.QuoteMeta(f)), p, bounded, kind == "jsonpart"})
		}
	}
}

// scrub replaces the secrets of s: addresses first (an address's local part
// is a secret of its own too, which must not cut the address in two), then
// the others, then what is left that reads as a JWT.
func (sc *scrubber) scrub(s string) string {
	s = sc.scrubEmails(s)
	lower := strings.ToLower(s)
	for _, r := range sc.reps {
		if strings.Contains(lower, r.lower) {
			s = r.replace(s)
			lower = strings.ToLower(s)
		}
	}
	return jwtRE.ReplaceAllString(s, "{jwt}")
}

func (r replacement) replace(s string) string {
	if !r.bounded && !r.jsonOnly {
		return r.re.ReplaceAllLiteralString(s, r.with)
	}
	var b strings.Builder
	last := 0
	for _, m := range r.re.FindAllStringIndex(s, -1) {
		i, j := m[0], m[1]
		if r.jsonOnly {
			if i == 0 || j == len(s) || s[i-1] != '"' || s[j] != '"' || (i >= 2 && s[i-2] == '\\') {
				continue
			}
		} else if !tokenStart(s, i) || !tokenEnd(s, j) {
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(r.with)
		last = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// idByte is a byte that continues an id, a word or base64.
func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '+' || c >= 0x80
}

// tokenStart says whether a token may start at s[i]: not in the middle of
// an id, a word or base64, though right after an escape (%27, \u0027).
func tokenStart(s string, i int) bool {
	if i == 0 {
		return true
	}
	c := s[i-1]
	switch {
	case i >= 3 && s[i-3] == '%' && isHex(s[i-2]) && isHex(s[i-1]):
		return true
	case i >= 6 && s[i-6] == '\\' && s[i-5] == 'u' && isHex(s[i-4]) && isHex(s[i-3]) && isHex(s[i-2]) && isHex(s[i-1]):
		return true
	case c == '.':
		return i < 2 || !idByte(s[i-2])
	}
	return !idByte(c)
}

// tokenEnd says whether a token may end before s[j].
func tokenEnd(s string, j int) bool {
	if j == len(s) {
		return true
	}
	c := s[j]
	switch c {
	case '.':
		return j+1 == len(s) || !idByte(s[j+1])
	case '=':
		return false // base64's padding
	}
	return !idByte(c)
}

// jsonString is a top-level string property of a JSON body, or "".
func jsonString(body []byte, key string) string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	s, _ := m[key].(string)
	return s
}

// infer fills in the "# sdk:", "# flow:", "# sdk-differs:" and
// "# expect:" lines: which SDK call sends each request (as the replay
// tests know them), and which exchanges one upload goes through.
func infer(vs []*view) {
	sessions := map[string]int{} // uploadUrl -> index of its createUploadSession
	for i, v := range vs {
		if u := jsonString(v.resOut, "uploadUrl"); u != "" && v.e.status == http.StatusCreated {
			sessions[u] = i
			v.flow = []int{i}
		}
	}
	for i, v := range vs {
		if c, ok := sessions[v.url]; ok && (v.method == http.MethodPut || v.method == http.MethodDelete) {
			vs[c].flow = append(vs[c].flow, i)
		}
	}
	for i, v := range vs {
		if v.flow == nil || v.flow[0] != i {
			continue
		}
		args := uploadArgs(v, vs)
		failed := false
		for _, j := range v.flow {
			w := vs[j]
			w.flow, w.sdk, w.differs = v.flow, args, v.differs
			switch {
			case failed:
			case w.e.status >= 400:
				w.expect, failed = expectError(w), true
			case w.method == http.MethodPut && w.e.status == http.StatusCreated:
				if id, ok := locationID(w.resHeader.Get("Location")); ok {
					w.expect = "attachment id=" + id
				}
			}
		}
	}
	for _, v := range vs {
		if v.sdk != "" {
			continue
		}
		inferOne(v)
	}
}

// uploadArgs is the "# sdk:" line of a session's flow; it sets v.differs
// where the request is one the SDK would not send.
func uploadArgs(v *view, vs []*view) string {
	var in struct {
		AttachmentItem struct {
			AttachmentType string
			Size           int64
		}
	}
	json.Unmarshal(v.reqOut, &in)
	args := "Upload"
	if t := in.AttachmentItem.AttachmentType; t != "" && t != "file" {
		v.differs = append(v.differs, `AttachmentItem.attachmentType="file"`)
	}
	if s := in.AttachmentItem.Size; s > 0 && s < 3<<20 {
		// The SDK opens sessions from 3 MiB on (transcript 15 does the same).
		args += fmt.Sprintf(" size=%d", 3<<20)
		v.differs = append(v.differs, fmt.Sprintf("AttachmentItem.size=%d", 3<<20))
	}
	for _, j := range v.flow[min(1, len(v.flow)):] {
		if vs[j].method == http.MethodPut {
			if a, b, ok := contentRange(vs[j].reqHeader.Get("Content-Range")); ok {
				args += fmt.Sprintf(" chunkSize=%d", b-a+1)
			}
			break
		}
	}
	return args
}

func contentRange(v string) (int64, int64, bool) {
	var a, b, total int64
	if _, err := fmt.Sscanf(v, "bytes %d-%d/%d", &a, &b, &total); err != nil {
		return 0, 0, false
	}
	return a, b, true
}

// locationID is the id in a final chunk's Location: …/Attachments('{id}').
func locationID(loc string) (string, bool) {
	i := strings.LastIndex(strings.ToLower(loc), "attachments('")
	if i < 0 || !strings.HasSuffix(loc, "')") {
		return "", false
	}
	id := loc[i+len("attachments('") : len(loc)-2]
	if u, err := url.PathUnescape(id); err == nil {
		id = u
	}
	return strings.ReplaceAll(id, "''", "'"), !strings.ContainsAny(id, " \t")
}

var sentinelOfStatus = map[int]string{
	http.StatusNotFound:              "ErrNotFound",
	http.StatusUnauthorized:          "ErrUnauthorized",
	http.StatusForbidden:             "ErrForbidden",
	http.StatusTooManyRequests:       "ErrThrottled",
	http.StatusRequestEntityTooLarge: "ErrTooLarge",
}

func expectError(v *view) string {
	var body struct {
		Error struct{ Code string }
	}
	json.Unmarshal(v.resOut, &body)
	s := fmt.Sprintf("error status=%d", v.e.status)
	if c := body.Error.Code; c != "" && !strings.ContainsAny(c, " \t") {
		s += " code=" + c
	}
	if is := sentinelOfStatus[v.e.status]; is != "" {
		s += " is=" + is
	}
	return s
}

// inferOne sets the sdk line of an exchange outside an upload flow.
func inferOne(v *view) {
	p, err := url.Parse(v.url)
	if err != nil || !strings.HasPrefix(v.url, RecordGraphRoot+"/") {
		v.sdk = "none"
		v.notes = append(v.notes, "no SDK call sends this request (sent raw)")
		return
	}
	seg := strings.Split(strings.TrimSuffix(p.Path, "/"), "/")
	last := seg[len(seg)-1]
	collection := last == "attachments"
	item := len(seg) >= 2 && seg[len(seg)-2] == "attachments"
	value := last == "$value" && len(seg) >= 3 && seg[len(seg)-3] == "attachments"
	switch {
	case v.method == http.MethodPost && last == "createUploadSession":
		// A session whose answer was an error: no flow.
		v.sdk = uploadArgs(v, nil)
	case v.method == http.MethodPost && collection:
		v.sdk = inferPost(v)
	case v.method == http.MethodGet && collection:
		v.sdk = "List"
	case v.method == http.MethodGet && value:
		v.sdk = "Content"
	case v.method == http.MethodGet && item:
		v.sdk = "Get"
	case v.method == http.MethodDelete && item:
		v.sdk = "Delete"
	default:
		v.sdk = "none"
		v.notes = append(v.notes, "no SDK call sends this request (sent raw)")
		return
	}
	if v.sdk == "none" {
		return
	}
	switch {
	case v.e.status >= 400:
		v.expect = expectError(v)
	case v.method == http.MethodPost:
		v.expect = "attachment"
	case v.method == http.MethodDelete:
		v.expect = "nil"
	}
}

// inferPost tells AddFile from AddItem by the body's @odata.type; a body
// without one is an AddFile the SDK would send with it.
func inferPost(v *view) string {
	var m map[string]any
	if json.Unmarshal(v.reqOut, &m) != nil {
		v.notes = append(v.notes, "the request body is not JSON: no SDK call sends it (sent raw)")
		return "none"
	}
	t, _ := m["@odata.type"].(string)
	switch strings.TrimPrefix(strings.ToLower(t), "#") {
	case "microsoft.graph.itemattachment":
		return "AddItem"
	case "microsoft.graph.fileattachment", "":
		if t == "" {
			v.differs = append(v.differs, `@odata.type="#microsoft.graph.fileAttachment"`)
		}
		cb, _ := m["contentBytes"].(string)
		if strings.HasPrefix(cb, "<base64 of ") {
			return "AddFile contentSize=" + strings.TrimSuffix(strings.TrimPrefix(cb, "<base64 of "), " bytes>")
		}
		if strings.HasSuffix(cb, ", not recorded>") {
			v.notes = append(v.notes, "contentBytes was not recorded: no replay can send this request again")
			return "none"
		}
		if _, err := base64.StdEncoding.Strict().DecodeString(cb); err != nil {
			v.notes = append(v.notes, "contentBytes is not valid base64: no SDK call sends it (sent raw)")
			return "none"
		}
		return "AddFile"
	}
	return "none"
}

// render writes one transcript.
func render(v *view, vs []*view, source, stamp string) *Transcript {
	tr := &Transcript{Name: v.name, Meta: map[string][]string{}, Method: v.method, URL: v.url, RequestBody: v.reqOut,
		Proto: v.e.proto, Status: v.e.status, ResponseBody: v.resOut}
	line := func(k, val string) { tr.Meta[k] = append(tr.Meta[k], val) }
	scenario := ""
	if v.e.label != "" {
		scenario = ", scenario " + v.e.label
	}
	line("source", fmt.Sprintf("recorded by graphtest.Recorder from %s, %s%s", source, stamp, scenario))
	line("verbatim", "no (recorded exchange; bearer tokens, authtokens, tenant and user ids, user principal names and email addresses replaced by placeholders; bodies over 64 KiB trimmed, binary bodies not recorded)")
	line("status", "reported")
	line("keys", "exact")
	line("sdk", v.sdk)
	if len(v.flow) > 1 {
		var names []string
		for _, j := range v.flow {
			names = append(names, vs[j].name)
		}
		line("flow", strings.Join(names, " "))
	}
	for _, d := range v.differs {
		line("sdk-differs", d)
	}
	if v.expect != "" {
		line("expect", v.expect)
	}
	for _, n := range slices.Concat(v.notes, v.outNotes) {
		line("note", n)
	}
	if n := max(v.e.reqLen, v.reqN); n > 0 && v.reqHeader.Get("Content-Length") == "" {
		v.reqHeader.Set("Content-Length", strconv.FormatInt(n, 10))
	}
	// Content-Length: the written body's, if it is the whole body (scrubbed
	// maybe); none for a trimmed or placeholder body.
	if v.resHeader.Get("Content-Length") != "" {
		if v.resWhole && isText(v.resBody) && bytes.Equal(v.resOut, v.resBody) {
			v.resHeader.Set("Content-Length", strconv.Itoa(len(v.resOut)))
		} else {
			v.resHeader.Del("Content-Length")
		}
	}
	tr.RequestHeader, tr.ResponseHeader = writtenHeader(v.reqHeader), writtenHeader(v.resHeader)
	if tr.Proto == "" {
		tr.Proto = "HTTP/1.1"
	}
	if len(tr.RequestBody) == 0 {
		tr.RequestBody = nil
	}
	if len(tr.ResponseBody) == 0 {
		tr.ResponseBody = nil
	}
	tr.Data = tr.encode()
	return tr
}

// writtenHeader is h as a transcript holds it (and ParseTranscript reads
// it): without cookies, names in canonical form, values trimmed.
func writtenHeader(h http.Header) http.Header {
	out := http.Header{}
	for k, vs := range h {
		if ck := http.CanonicalHeaderKey(k); ck == "Set-Cookie" || ck == "Cookie" {
			continue
		}
		for _, val := range vs {
			out.Add(k, strings.TrimSpace(val))
		}
	}
	return out
}

// placeContentBytes replaces each long "contentBytes" string of a JSON
// body by a placeholder: "<base64 of N bytes>" when the bytes are the replay
// tests' generated file, "<N characters of base64, not recorded>" otherwise.
func placeContentBytes(body []byte, notes []string) ([]byte, []string) {
	const key = `"contentBytes"`
	var out []byte
	rest := body
	for {
		i := bytes.Index(rest, []byte(key))
		if i < 0 {
			break
		}
		j := i + len(key)
		for j < len(rest) && (rest[j] == ' ' || rest[j] == ':' || rest[j] == '\t' || rest[j] == '\n' || rest[j] == '\r') {
			j++
		}
		if j >= len(rest) || rest[j] != '"' {
			out, rest = append(out, rest[:j]...), rest[j:]
			continue
		}
		j++
		k := bytes.IndexByte(rest[j:], '"')
		if k < 1000 || bytes.IndexByte(rest[j:j+k], '\\') >= 0 {
			out, rest = append(out, rest[:j]...), rest[j:]
			continue
		}
		b64 := rest[j : j+k]
		placeholder := fmt.Sprintf("<%d characters of base64, not recorded>", len(b64))
		if raw, err := base64.StdEncoding.DecodeString(string(b64)); err == nil && isGenerated(raw) {
			placeholder = fmt.Sprintf("<base64 of %d bytes>", len(raw))
		}
		notes = append(notes, "contentBytes replaced by "+strconv.Quote(placeholder)+
			" (\"<base64 of N bytes>\": the N bytes of the replay tests' file, byte i = i mod 251)")
		out = append(append(out, rest[:j]...), placeholder...)
		rest = rest[j+k:]
	}
	return append(out, rest...), notes
}

// trimBody returns the body to write and the notes saying what changed.
func trimBody(body []byte, whole bool, n int64, h http.Header) ([]byte, []string) {
	if n == 0 {
		return nil, nil
	}
	if !isText(body) {
		what := fmt.Sprintf("<%d bytes of binary content, not recorded>", n)
		if a, b, ok := contentRange(h.Get("Content-Range")); ok {
			what = fmt.Sprintf("<bytes %d-%d of the file, in binary format, not recorded>", a, b)
		}
		return []byte(what), nil
	}
	var notes []string
	if len(body) > MaxRecordedBody || !whole {
		cut := min(len(body), MaxRecordedBody)
		for cut > 0 && cut < len(body) && !utf8.RuneStart(body[cut]) {
			cut--
		}
		notes = append(notes, fmt.Sprintf("body trimmed: the first %d of %d bytes", cut, n))
		body = body[:cut]
	}
	// A body line that reads as the response marker would end the request.
	if bytes.Contains(body, []byte("\n<<< response")) {
		body = bytes.ReplaceAll(body, []byte("\n<<< response"), []byte("\n<<<  response"))
		notes = append(notes, `a body line "<<< response" written as "<<<  response"`)
	}
	return body, notes
}

// isGenerated says whether b is GeneratedContent.
func isGenerated(b []byte) bool {
	for i, c := range b {
		if c != generatedByte(i) {
			return false
		}
	}
	return true
}
