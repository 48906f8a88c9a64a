package eventattach

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The request catalogue (REQUESTS.md) lists every request shape the SDK may
// send, each with a public source. TestRequestCatalogue drives every
// operation, its faulted paths too, against graphtest and fails on any
// request the catalogue does not hold and on any row no request used.

// catalogueRow is one row of REQUESTS.md's table.
type catalogueRow struct {
	id, method, host string
	path             string // the template, e.g. {event}/attachments/{id}
	query            string // exact (unescaped), "" for none, or a {…} placeholder
	body             *bodySpec
	bodyKind         string // "bytes", "fileAttachment", "itemAttachment", "" (JSON or none)
	headers          map[string]string
	pathRE           *regexp.Regexp
}

// bodySpec is a JSON object's keys: required, optional (key?) and nested.
type bodySpec struct {
	keys     map[string]bool // key -> required
	children map[string]*bodySpec
}

func readCatalogue(t *testing.T) []catalogueRow {
	t.Helper()
	raw, err := os.ReadFile("REQUESTS.md")
	require.NoError(t, err)
	_, table, ok := strings.Cut(string(raw), "<!-- catalogue:")
	require.True(t, ok, "REQUESTS.md has no catalogue marker")
	var rows []catalogueRow
	for _, line := range strings.Split(table, "\n")[1:] {
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 {
				break
			}
			continue
		}
		cells := splitCells(line)
		if len(cells) != 9 || cells[0] == "id" || strings.HasPrefix(cells[0], "---") {
			continue
		}
		r := catalogueRow{id: cells[0], method: cells[1], host: cells[2], path: unquote(cells[3]), query: unquote(cells[4]), headers: map[string]string{}}
		if r.query == "—" {
			r.query = ""
		}
		body := cells[5]
		switch {
		case body == "—":
		case strings.HasPrefix(body, "bytes"):
			r.bodyKind = "bytes"
		default:
			r.bodyKind, _, _ = strings.Cut(body, " ")
			if strings.HasPrefix(r.bodyKind, "`") {
				r.bodyKind = ""
			}
			spec := regexp.MustCompile("`(\\{[^`]*\\})`").FindStringSubmatch(body)
			require.NotNil(t, spec, "row %s: body %q has no `{keys}`", r.id, body)
			r.body = parseBodySpec(t, spec[1])
		}
		if cells[6] != "—" {
			for _, part := range splitHeaders(cells[6]) {
				k, v, ok := strings.Cut(part, ": ")
				require.True(t, ok, "row %s: header %q", r.id, part)
				r.headers[http.CanonicalHeaderKey(k)] = v
			}
		}
		r.pathRE = pathPattern(r.path)
		rows = append(rows, r)
	}
	require.NotEmpty(t, rows)
	return rows
}

func splitCells(line string) []string {
	line = strings.Trim(strings.TrimSpace(line), "|")
	var cells []string
	for _, c := range strings.Split(strings.ReplaceAll(line, `\|`, "\x00"), "|") {
		cells = append(cells, strings.ReplaceAll(strings.TrimSpace(c), "\x00", "|"))
	}
	return cells
}

func unquote(s string) string { return strings.ReplaceAll(strings.Trim(s, "`"), `\*`, "*") }

// splitHeaders splits "A: x, B: y, z" at the commas that start a new header.
func splitHeaders(s string) []string {
	s = strings.ReplaceAll(s, `\*`, "*")
	idx := regexp.MustCompile(`, [A-Z][A-Za-z-]+: `).FindAllStringIndex(s, -1)
	var out []string
	start := 0
	for _, m := range idx {
		out = append(out, s[start:m[0]])
		start = m[0] + 2
	}
	return append(out, s[start:])
}

// parseBodySpec reads "{a, b?, c: {d}}".
func parseBodySpec(t *testing.T, s string) *bodySpec {
	t.Helper()
	toks := regexp.MustCompile(`[{}:,]|[^{}:,\s]+`).FindAllString(s, -1)
	var parse func() *bodySpec
	parse = func() *bodySpec {
		require.Equal(t, "{", toks[0], "body spec %q", s)
		toks = toks[1:]
		spec := &bodySpec{keys: map[string]bool{}, children: map[string]*bodySpec{}}
		for toks[0] != "}" {
			key := toks[0]
			toks = toks[1:]
			optional := strings.HasSuffix(key, "?")
			key = strings.TrimSuffix(key, "?")
			spec.keys[key] = !optional
			if toks[0] == ":" {
				toks = toks[1:]
				spec.children[key] = parse()
			}
			if toks[0] == "," {
				toks = toks[1:]
			}
		}
		toks = toks[1:]
		return spec
	}
	return parse()
}

// check reports what in the JSON object o the spec does not hold.
func (b *bodySpec) check(o map[string]json.RawMessage) error {
	for k := range o {
		if _, ok := b.keys[k]; !ok {
			return fmt.Errorf("key %q is not in the catalogue", k)
		}
	}
	for k, required := range b.keys {
		v, ok := o[k]
		if !ok {
			if required {
				return fmt.Errorf("key %q is missing", k)
			}
			continue
		}
		if child := b.children[k]; child != nil {
			var inner map[string]json.RawMessage
			if err := json.Unmarshal(v, &inner); err != nil {
				return fmt.Errorf("key %q: %v", k, err)
			}
			if err := child.check(inner); err != nil {
				return fmt.Errorf("in %q: %w", k, err)
			}
		}
	}
	return nil
}

// eventRoute is every documented event route, after the version root.
const eventRoute = `(?:/me|/users/[^/]+|/groups/[^/]+)(?:/calendar|/calendars/[^/]+|/calendargroup/calendars/[^/]+|/calendarGroups/[^/]+/calendars/[^/]+)?/events/[^/]+`

func pathPattern(p string) *regexp.Regexp {
	if strings.HasPrefix(p, "{uploadUrl}") || strings.HasPrefix(p, "{nextLink}") {
		return nil
	}
	re := regexp.QuoteMeta(p)
	re = strings.ReplaceAll(re, `\{event\}`, eventRoute)
	re = strings.ReplaceAll(re, `\{mailbox\}`, `(?:/me|/users/[^/]+)`)
	re = strings.ReplaceAll(re, `\{id\}`, `[^/]+`)
	return regexp.MustCompile(`^/v1\.0` + re + `$`)
}

// sentHeaders are what any request may carry besides a row's own.
var sentHeaders = []string{"Accept", "Accept-Encoding", "User-Agent", "Client-Request-Id", "Content-Length", "Authorization"}

// matches says whether r is of the row's shape, and if not, why.
func (row catalogueRow) matches(r graphtest.Request, uploadHost string) error {
	if r.Method != row.method {
		return fmt.Errorf("method %s", r.Method)
	}
	onUpload := r.Host == uploadHost
	if onUpload != (row.host == "upload") {
		return fmt.Errorf("host %s", r.Host)
	}
	q, err := url.QueryUnescape(r.RawQuery)
	if err != nil {
		return err
	}
	switch row.path {
	case "{uploadUrl}":
		if !strings.Contains(r.RawQuery, "authtoken=") || !strings.Contains(r.Path, "/AttachmentSessions(") {
			return fmt.Errorf("not an upload URL: %s", r.Path)
		}
	case "{nextLink}":
		if !pathPattern("{event}/attachments").MatchString(r.Path) || !strings.Contains(q, "$skiptoken=") {
			return fmt.Errorf("not a nextLink: %s?%s", r.Path, q)
		}
	default:
		if !row.pathRE.MatchString(r.Path) {
			return fmt.Errorf("path %s", r.Path)
		}
		if q != row.query {
			return fmt.Errorf("query %q", q)
		}
	}
	// Headers: the row's own with their values, the common ones, no other.
	for k, v := range row.headers {
		got := r.Header.Get(k)
		if strings.Contains(v, "a-b/n") {
			if !regexp.MustCompile(`^bytes \d+-\d+/\d+$`).MatchString(got) {
				return fmt.Errorf("header %s: %q", k, got)
			}
		} else if got != v {
			return fmt.Errorf("header %s: %q", k, got)
		}
	}
	for k := range r.Header {
		if _, own := row.headers[k]; !own && !slices.Contains(sentHeaders, k) {
			return fmt.Errorf("header %s is not in the catalogue", k)
		}
	}
	auth := r.Header.Get("Authorization")
	if onUpload != (auth == "") || (!onUpload && !strings.HasPrefix(auth, "Bearer ")) {
		return fmt.Errorf("authorization %q", auth)
	}
	if r.Header.Get("Client-Request-Id") == "" {
		return fmt.Errorf("no client-request-id")
	}
	// Body.
	switch {
	case row.bodyKind == "bytes":
		if r.BodySize == 0 || r.BodySize > 4<<20 {
			return fmt.Errorf("chunk of %d bytes", r.BodySize)
		}
	case row.body == nil:
		if r.BodySize != 0 {
			return fmt.Errorf("a body of %d bytes", r.BodySize)
		}
	default:
		if int64(len(r.Body)) != r.BodySize {
			return fmt.Errorf("body not recorded whole")
		}
		var o map[string]json.RawMessage
		if err := json.Unmarshal(r.Body, &o); err != nil {
			return fmt.Errorf("body: %v", err)
		}
		if err := row.body.check(o); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		if row.bodyKind != "" && string(o["@odata.type"]) != `"#microsoft.graph.`+row.bodyKind+`"` {
			return fmt.Errorf("body @odata.type %s", o["@odata.type"])
		}
	}
	return nil
}

// catalogueRun is one scenario's graphtest and client.
type catalogueRun struct {
	srv *graphtest.Server
	c   *Client
}

func newCatalogueRun(t *testing.T, opts *graphtest.Options, mod ...func(*ClientOptions)) *catalogueRun {
	t.Helper()
	if opts == nil {
		opts = &graphtest.Options{}
	}
	opts.MaxBodyRecorded = 8 << 20
	srv := graphtest.NewServer(opts)
	t.Cleanup(srv.Close)
	mod = append(mod, func(o *ClientOptions) { o.Retry.BaseDelay = time.Millisecond })
	c := newTestClient(t, srv.URL(), srv.Credential(), mod...)
	srv.Me().AddEvent("e1")
	return &catalogueRun{srv: srv, c: c}
}

func (r *catalogueRun) atts() Attachments { return r.c.Me().Events("e1").Attachments() }

var catalogueScenarios = []struct {
	name   string
	opts   func() *graphtest.Options
	run    func(t *testing.T, r *catalogueRun)
	client func(*ClientOptions)
}{
	{"every route: AddFile, AddItem, Add, List, Get, Content, Delete", nil, func(t *testing.T, r *catalogueRun) {
		ctx := context.Background()
		adele := r.srv.User("adele@contoso.com")
		adele.AddEvent("e2")
		cal := adele.AddCalendar("c1")
		cal.AddEvent("e3")
		grp := adele.AddCalendarGroup("g1")
		grp.AddCalendar("c2").AddEvent("e4")
		r.srv.Group("team").AddEvent("e5")
		u := r.c.Users("adele@contoso.com")
		for _, a := range []Attachments{
			r.atts(), u.Events("e2").Attachments(), u.Calendar().Events("e2").Attachments(),
			u.Calendars("c1").Events("e3").Attachments(), u.CalendarGroups("g1").Calendars("c2").Events("e4").Attachments(),
			r.c.Groups("team").Events("e5").Attachments(),
		} {
			f, err := a.AddFile(ctx, &FileAttachment{Name: "a.txt", ContentType: "text/plain", ContentBytes: []byte("a"), IsInline: true, ContentID: "a@1"})
			require.NoError(t, err)
			_, err = a.Add(ctx, &FileAttachment{Name: "b.txt", ContentBytes: []byte("b")})
			require.NoError(t, err)
			it, err := a.AddItem(ctx, &ItemAttachment{Name: "meeting", Item: &Event{Subject: "Lunch", Body: &ItemBody{ContentType: "text", Content: "soup"}}})
			require.NoError(t, err)
			_, err = a.Add(ctx, &ItemAttachment{Name: "contact", Item: &Contact{GivenName: "Ada", Surname: "L"}})
			require.NoError(t, err)
			_, err = a.List(ctx)
			require.NoError(t, err)
			_, err = a.Get(ctx, f.ID)
			require.NoError(t, err)
			_, err = a.Get(ctx, it.ID, &GetOptions{ExpandItem: true})
			require.NoError(t, err)
			body, err := a.Content(ctx, f.ID)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, body)
			body.Close()
			require.NoError(t, a.Delete(ctx, f.ID))
		}
	}, nil},
	{"List follows nextLinks", func() *graphtest.Options { return &graphtest.Options{PageSize: 2} }, func(t *testing.T, r *catalogueRun) {
		for i := range 5 {
			_, err := r.atts().AddFile(context.Background(), &FileAttachment{Name: fmt.Sprintf("%d.txt", i), ContentBytes: []byte("x")})
			require.NoError(t, err)
		}
		got, err := r.atts().List(context.Background())
		require.NoError(t, err)
		require.Len(t, got, 5)
	}, nil},
	{"Upload: one POST, a session, a session from a calendar route", nil, func(t *testing.T, r *catalogueRun) {
		ctx := context.Background()
		_, err := r.atts().Upload(ctx, FileUpload{Name: "s.bin", Content: bytes.NewReader([]byte("small")), Size: 5})
		require.NoError(t, err)
		_, err = r.atts().Upload(ctx, FileUpload{Name: "l.bin", ContentType: "application/pdf", Content: newPattern(MaxAddFileSize + 1), Size: MaxAddFileSize + 1, IsInline: true, ContentID: "l@1"})
		require.NoError(t, err)
		r.srv.User("adele").AddCalendar("c1").AddEvent("e9")
		_, err = r.c.Users("adele").Calendars("c1").Events("e9").Attachments().Upload(ctx, FileUpload{Name: "l.bin", Content: newPattern(MaxAddFileSize), Size: MaxAddFileSize})
		require.NoError(t, err)
	}, nil},
	{"duplicate check after a 504 (file, item) and IfAbsent", nil, func(t *testing.T, r *catalogueRun) {
		ctx := context.Background()
		r.srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatusAfterStore, Status: 504, Times: 2})
		_, err := r.atts().AddFile(ctx, &FileAttachment{Name: "a.txt", ContentBytes: []byte("a")})
		require.NoError(t, err)
		_, err = r.atts().AddItem(ctx, &ItemAttachment{Name: "m", Item: &Message{Subject: "Hi"}})
		require.NoError(t, err)
		_, err = r.atts().AddFile(ctx, &FileAttachment{Name: "a.txt", ContentBytes: []byte("a")}, &AddOptions{IfAbsent: true})
		require.NoError(t, err)
		_, err = r.atts().Upload(ctx, FileUpload{Name: "u.bin", Content: bytes.NewReader(make([]byte, MaxAddFileSize+7)), Size: MaxAddFileSize + 7, IfAbsent: true})
		require.NoError(t, err)
		require.Len(t, r.srv.Attachments("me", "e1"), 3)
	}, nil},
	{"duplicate check when Graph refuses the cast form", func() *graphtest.Options { return &graphtest.Options{CastSelectUnsupported: true} }, func(t *testing.T, r *catalogueRun) {
		r.srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultResetAfterStore})
		_, err := r.atts().AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("a"), IsInline: true, ContentID: "a@1"})
		require.NoError(t, err)
		require.Len(t, r.srv.Attachments("me", "e1"), 1)
	}, nil},
	{"lost chunk answers, a lost final answer, a failed upload", nil, func(t *testing.T, r *catalogueRun) {
		ctx := context.Background()
		const size = 3 * ChunkSizeUnit * 4
		put := graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultResetAfterStore}
		_, err := r.atts().Upload(ctx, FileUpload{Name: "a.bin", Content: newPattern(size), Size: size, ChunkSize: 4 * ChunkSizeUnit, Progress: failOn(r.srv, 1, put)})
		require.NoError(t, err)
		_, err = r.atts().Upload(ctx, FileUpload{Name: "b.bin", Content: newPattern(size), Size: size, ChunkSize: 4 * ChunkSizeUnit, Progress: failOn(r.srv, 2, put)})
		require.NoError(t, err)
		r.srv.Inject(graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultStatus, Status: 400, Code: "InvalidRequest"})
		_, err = r.atts().Upload(ctx, FileUpload{Name: "c.bin", Content: newPattern(size), Size: size})
		require.Error(t, err)
	}, nil},
	{"lost chunk answers when the session will not answer GET", func() *graphtest.Options { return &graphtest.Options{UploadStatusUnsupported: true} }, func(t *testing.T, r *catalogueRun) {
		const size = 3 * ChunkSizeUnit * 4
		put := graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultResetAfterStore}
		_, err := r.atts().Upload(context.Background(), FileUpload{Name: "a.bin", Content: newPattern(size), Size: size, ChunkSize: 4 * ChunkSizeUnit, Progress: failOn(r.srv, 1, put)})
		require.NoError(t, err)
	}, nil},
	{"ResumeUpload in another client, and after the session expired", nil, func(t *testing.T, r *catalogueRun) {
		const size = 10 * ChunkSizeUnit
		for _, expire := range []bool{false, true} {
			var state UploadState
			ctx, cancel := context.WithCancel(context.Background())
			_, err := r.atts().Upload(ctx, FileUpload{Name: "r.bin", Content: newPattern(size), Size: size, ChunkSize: ChunkSizeUnit,
				Checkpoint: func(s UploadState) { state = s },
				Progress: func(sent, _ int64) {
					if sent >= size/2 {
						cancel()
					}
				}})
			cancel()
			require.ErrorIs(t, err, context.Canceled)
			if expire {
				state.Expires = time.Now().Add(-time.Minute)
			}
			c2 := newTestClient(t, r.srv.URL(), r.srv.Credential())
			_, err = c2.ResumeUpload(context.Background(), state, bytes.NewReader(patternBytes(size)), nil)
			require.NoError(t, err)
		}
	}, nil},
	{"SendUpdate, by default and with a body", nil, func(t *testing.T, r *catalogueRun) {
		ev := r.c.Me().Events("e1")
		require.NoError(t, ev.SendUpdate(context.Background()))
		require.NoError(t, ev.SendUpdate(context.Background(), &SendUpdateOptions{Body: json.RawMessage(`{"subject":"Moved"}`)}))
	}, nil},
	{"pacing: 429s waited out, concurrent adds, tokens expire", nil, func(t *testing.T, r *catalogueRun) {
		r.srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatus, Status: 429, Code: "ApplicationThrottled", RetryAfter: "0", Times: 2})
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				_, err := r.atts().AddFile(context.Background(), &FileAttachment{Name: fmt.Sprintf("%d.txt", i), ContentBytes: []byte("x")})
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		require.Len(t, r.srv.Attachments("me", "e1"), 6)
		r.srv.ExpireTokens()
		_, err := r.atts().List(context.Background())
		require.NoError(t, err)
	}, nil},
}

// patternBytes is newPattern's content, whole.
func patternBytes(n int64) []byte {
	b, _ := io.ReadAll(newPattern(n))
	return b
}

func TestRequestCatalogue(t *testing.T) {
	rows := readCatalogue(t)
	used := map[string]int{}
	var mu sync.Mutex
	for _, sc := range catalogueScenarios {
		t.Run(sc.name, func(t *testing.T) {
			var opts *graphtest.Options
			if sc.opts != nil {
				opts = sc.opts()
			}
			var mod []func(*ClientOptions)
			if sc.client != nil {
				mod = append(mod, sc.client)
			}
			r := newCatalogueRun(t, opts, mod...)
			sc.run(t, r)
			upload := strings.TrimPrefix(r.srv.UploadURLBase(), "http://")
			for _, req := range r.srv.Requests() {
				var why []string
				matched := ""
				for _, row := range rows {
					err := row.matches(req, upload)
					if err == nil {
						matched = row.id
						break
					}
					why = append(why, row.id+": "+err.Error())
				}
				if matched == "" {
					t.Errorf("%s %s?%s is in no row of REQUESTS.md:\n  %s", req.Method, req.Path, req.RawQuery, strings.Join(why, "\n  "))
					continue
				}
				mu.Lock()
				used[matched]++
				mu.Unlock()
			}
		})
	}
	for _, row := range rows {
		if used[row.id] == 0 {
			t.Errorf("REQUESTS.md row %s: no operation sent it (a stale row, or a path this test does not drive)", row.id)
		}
	}
	t.Logf("requests per row: %v", used)
}
