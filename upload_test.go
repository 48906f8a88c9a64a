package eventattach

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test content: byte p of a file is pattern[p % len(pattern)], a random
// block of a prime length, so a chunk sent twice or skipped changes the
// file's hash.
var uploadPattern = sync.OnceValue(func() []byte {
	b := make([]byte, 1<<20+7)
	rand.Read(b)
	return b
})

// patternReader yields size bytes of the pattern, copying (cheap even
// under -race), never holding the file.
type patternReader struct {
	pos, size int64
	read      atomic.Int64 // bytes handed out, for tests that check laziness
}

func newPattern(size int64) *patternReader { return &patternReader{size: size} }

func (r *patternReader) Read(p []byte) (int, error) {
	pat := uploadPattern()
	if r.pos >= r.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.size-r.pos)]
	n := 0
	for n < len(p) {
		c := copy(p[n:], pat[r.pos%int64(len(pat)):])
		n += c
		r.pos += int64(c)
	}
	r.read.Add(int64(n))
	return n, nil
}

// readOnly hides every method but Read, so Upload cannot seek or ask for a size.
type readOnly struct{ r io.Reader }

func (o *readOnly) Read(p []byte) (int, error) { return o.r.Read(p) }

// hashedContent is a non-seekable reader of size pattern bytes and the
// hash of what it handed out.
func hashedContent(size int64) (io.Reader, func() [32]byte) {
	h := sha256.New()
	r := &readOnly{io.TeeReader(newPattern(size), h)}
	return r, func() (s [32]byte) { copy(s[:], h.Sum(nil)); return s }
}

func newUploadServer(t *testing.T, opts *graphtest.Options, mod ...func(*ClientOptions)) (*graphtest.Server, *Client) {
	t.Helper()
	srv := graphtest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv, newTestClient(t, srv.URL(), srv.Credential(), mod...)
}

func uploadHost(srv *graphtest.Server) string {
	return strings.TrimPrefix(srv.UploadURLBase(), "http://")
}

// putRecord is one chunk PUT as graphtest received it.
type putRecord struct {
	from, to, total int64 // to inclusive
	status          int
	bodySize        int64
}

var contentRangeRE = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// uploadRequests returns the requests on the upload listener, checking
// what every one of them must carry, and the chunk PUTs among them.
func uploadRequests(t *testing.T, srv *graphtest.Server) ([]graphtest.Request, []putRecord) {
	t.Helper()
	var all []graphtest.Request
	var puts []putRecord
	for _, r := range srv.Requests() {
		if r.Host != uploadHost(srv) {
			continue
		}
		all = append(all, r)
		assert.Empty(t, r.Header.Get("Authorization"), "%s %s carried an Authorization header", r.Method, r.Path)
		assert.NotEmpty(t, url.Values(mustQuery(t, r.RawQuery)).Get("authtoken"), "the upload URL's query was not used as given")
		if r.Method != http.MethodPut {
			continue
		}
		assert.Equal(t, "application/octet-stream", r.Header.Get("Content-Type"))
		m := contentRangeRE.FindStringSubmatch(r.Header.Get("Content-Range"))
		require.NotNil(t, m, "Content-Range %q", r.Header.Get("Content-Range"))
		p := putRecord{status: r.Status, bodySize: r.BodySize}
		p.from, _ = strconv.ParseInt(m[1], 10, 64)
		p.to, _ = strconv.ParseInt(m[2], 10, 64)
		p.total, _ = strconv.ParseInt(m[3], 10, 64)
		assert.Equal(t, strconv.FormatInt(p.to-p.from+1, 10), r.Header.Get("Content-Length"))
		assert.LessOrEqual(t, p.to-p.from+1, int64(4<<20))
		puts = append(puts, p)
	}
	return all, puts
}

func mustQuery(t *testing.T, raw string) url.Values {
	q, err := url.ParseQuery(raw)
	require.NoError(t, err)
	return q
}

// checkRanges asserts the PUTs cover [0, size) in order: none sends a byte
// again once the server acknowledged it (in a 200 or 201), none jumps past a
// byte never sent, and the last byte was sent.
func checkRanges(t *testing.T, puts []putRecord, size int64) {
	t.Helper()
	var acked, sent int64 // bytes acknowledged by a PUT's answer; bytes sent at all
	for i, p := range puts {
		assert.Equal(t, size, p.total)
		assert.GreaterOrEqual(t, p.from, acked, "PUT %d (bytes %d-%d) resends bytes acknowledged before", i, p.from, p.to)
		assert.LessOrEqual(t, p.from, sent, "PUT %d (bytes %d-%d) skips bytes from %d", i, p.from, p.to, sent)
		if p.status == http.StatusOK || p.status == http.StatusCreated {
			acked = max(acked, p.to+1)
		}
		sent = max(sent, p.to+1)
	}
	assert.Equal(t, size, sent, "the last byte was never sent")
}

func storedSum(t *testing.T, srv *graphtest.Server, mailbox, event string) (graphtest.StoredAttachment, [32]byte) {
	t.Helper()
	atts := srv.Attachments(mailbox, event)
	require.Len(t, atts, 1)
	a := atts[0]
	sum := sha256.Sum256(a.Content)
	a.Content = nil
	return a, sum
}

func TestUploadStreamsLargeFiles(t *testing.T) {
	sizes := []struct {
		name string
		size int64
	}{
		{"10MiB", 10 << 20},
		{"150MiB", MaxUploadSize},
	}
	for _, tc := range sizes {
		t.Run(tc.name, func(t *testing.T) {
			if tc.size > 100<<20 && testing.Short() {
				t.Skip("-short: the 150 MiB upload")
			}
			t.Parallel()
			// 150 MiB in one go is over Outlook's upload budget of 150 MB per
			// 5 minutes (it is throttled in TestUploadWaitsOutTheByteBudget).
			// The client's pacing by that budget is off too.
			srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1, UploadByteLimit: -1},
				func(o *ClientOptions) { o.MailboxByteBudget = -1 })
			srv.Me().AddEvent("e1")
			content, sum := hashedContent(tc.size)
			var calls []int64
			att, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
				Name: "big.bin", ContentType: "application/octet-stream", Content: content, Size: tc.size,
				Progress: func(sent, total int64) {
					assert.Equal(t, tc.size, total)
					calls = append(calls, sent)
				},
			})
			require.NoError(t, err)

			stored, storedHash := storedSum(t, srv, "me", "e1")
			assert.Equal(t, sum(), storedHash, "stored bytes differ from the content")
			assert.Equal(t, stored.ID, att.ID)
			assert.Equal(t, "big.bin", att.Name)
			assert.Equal(t, stored.Size, att.Size, "the size Graph reports (not the byte count)")
			assert.Equal(t, "application/octet-stream", att.ContentType)
			assert.Nil(t, att.ContentBytes)

			_, puts := uploadRequests(t, srv)
			checkRanges(t, puts, tc.size)
			chunks := (tc.size + DefaultChunkSize - 1) / DefaultChunkSize
			require.Len(t, puts, int(chunks))
			for _, p := range puts[:len(puts)-1] {
				assert.Equal(t, int64(DefaultChunkSize), p.to-p.from+1)
			}
			require.Len(t, calls, int(chunks))
			for i, s := range calls {
				assert.Equal(t, min(int64(i+1)*DefaultChunkSize, tc.size), s)
			}
		})
	}
}

// failOn injects f into srv once Progress has been called n times, i.e. on
// the PUT of chunk n+1 (0-based n).
func failOn(srv *graphtest.Server, n int, f graphtest.Fault) func(int64, int64) {
	calls := 0
	return func(int64, int64) {
		calls++
		if calls == n {
			srv.Inject(f)
		}
	}
}

func TestUploadResumesFailedChunks(t *testing.T) {
	// Three chunks: 0-1310719, 1310720-2621439, 2621440-3452927.
	const size, chunk = MaxAddSize + 300<<10, 4 * ChunkSizeUnit
	put := func(kind graphtest.FaultKind, status int) graphtest.Fault {
		return graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: kind, Status: status}
	}
	cases := []struct {
		name      string
		fault     graphtest.Fault
		onChunk   int // 0-based
		timeout   time.Duration
		wantPUTs  int
		wantGETs  int
		sameTwice bool // the failed range is sent again (the server did not keep it)
	}{
		{name: "503", fault: put(graphtest.FaultStatus, 503), onChunk: 1, wantPUTs: 4, wantGETs: 0, sameTwice: true},
		{name: "429 Retry-After 0", fault: graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultStatus, Status: 429, RetryAfter: "0"}, onChunk: 1, wantPUTs: 4, sameTwice: true},
		{name: "500", fault: put(graphtest.FaultStatus, 500), onChunk: 1, wantPUTs: 4, wantGETs: 1, sameTwice: true},
		{name: "reset before store", fault: put(graphtest.FaultResetBeforeStore, 0), onChunk: 1, wantPUTs: 4, wantGETs: 1, sameTwice: true},
		{name: "reset after store", fault: put(graphtest.FaultResetAfterStore, 0), onChunk: 1, wantPUTs: 3, wantGETs: 1},
		{name: "504 after store", fault: put(graphtest.FaultStatusAfterStore, 504), onChunk: 1, wantPUTs: 3, wantGETs: 1},
		{name: "truncated answer", fault: put(graphtest.FaultTruncateAfterStore, 0), onChunk: 1, wantPUTs: 3, wantGETs: 1},
		{name: "timeout", fault: graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultLatency, Latency: 600 * time.Millisecond},
			onChunk: 1, timeout: 150 * time.Millisecond, wantPUTs: 4, wantGETs: 1, sameTwice: true},
		{name: "reset after store on the first chunk", fault: put(graphtest.FaultResetAfterStore, 0), onChunk: 0, wantPUTs: 3, wantGETs: 1},
		{name: "reset after store on the final chunk", fault: put(graphtest.FaultResetAfterStore, 0), onChunk: 2, wantPUTs: 3, wantGETs: 1},
		{name: "reset before store on the final chunk", fault: put(graphtest.FaultResetBeforeStore, 0), onChunk: 2, wantPUTs: 4, wantGETs: 1, sameTwice: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1})
			srv.User("adele").AddEvent("e1")
			content, sum := hashedContent(size)
			progress := failOn(srv, tc.onChunk, tc.fault)
			if tc.onChunk == 0 {
				srv.Inject(tc.fault)
			}
			att, err := c.Users("adele").Events("e1").Attachments().Upload(context.Background(), FileUpload{
				Name: "report.pdf", Content: content, Size: size, ChunkSize: chunk, Progress: progress, ChunkTimeout: tc.timeout,
			})
			require.NoError(t, err)
			stored, storedHash := storedSum(t, srv, "adele", "e1")
			assert.Equal(t, sum(), storedHash)
			assert.Equal(t, stored.ID, att.ID)
			assert.Equal(t, "application/pdf", att.ContentType) // Graph's pick, read back

			reqs, puts := uploadRequests(t, srv)
			checkRanges(t, puts, size)
			assert.Len(t, puts, tc.wantPUTs, "%+v", puts)
			gets := 0
			for _, r := range reqs {
				if r.Method == http.MethodGet {
					gets++
				}
			}
			assert.Equal(t, tc.wantGETs, gets, "status queries")
			failed := puts[tc.onChunk]
			if tc.sameTwice {
				assert.Equal(t, failed.from, puts[tc.onChunk+1].from, "the failed chunk is sent again from its start")
				assert.Equal(t, failed.to, puts[tc.onChunk+1].to)
			} else if tc.onChunk+1 < len(puts) {
				assert.Equal(t, failed.to+1, puts[tc.onChunk+1].from, "the stored chunk is not sent again")
			}
			assert.Equal(t, 1, srv.FaultsInjected()[tc.fault.Kind])
		})
	}
}

func TestUploadGivesUpAndDeletesTheSession(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil, func(o *ClientOptions) { o.Retry.MaxRetries = 2 })
	srv.Me().AddEvent("e1")
	srv.Inject(graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultStatus, Status: 503, Times: -1})
	_, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{Name: "a.bin", Content: newPattern(4 << 20), Size: 4 << 20})
	require.Error(t, err)
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, 503, ge.StatusCode)
	assert.Contains(t, err.Error(), "after 3 attempts")

	reqs, puts := uploadRequests(t, srv)
	assert.Len(t, puts, 3, "MaxRetries 2: three attempts at the chunk")
	assert.Equal(t, http.MethodDelete, reqs[len(reqs)-1].Method, "the session is deleted")
	assert.Equal(t, http.StatusNoContent, reqs[len(reqs)-1].Status)
	assert.Empty(t, srv.Attachments("me", "e1"))
}

func TestUploadRetryAfterLongerThanMaxDelay(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil, func(o *ClientOptions) { o.Retry.MaxDelay = time.Second })
	srv.Me().AddEvent("e1")
	srv.Inject(graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultStatus, Status: 429, RetryAfter: "30"})
	_, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{Name: "a.bin", Content: newPattern(4 << 20), Size: 4 << 20})
	require.ErrorIs(t, err, ErrThrottled)
	assert.Contains(t, err.Error(), "Retry-After 30s", "given up at once, not waited")
}

func TestUploadCancelDeletesTheSession(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	content := newPattern(10 << 20)
	_, err := c.Me().Events("e1").Attachments().Upload(ctx, FileUpload{
		Name: "a.bin", Content: &readOnly{content}, Size: 10 << 20,
		Progress: func(sent, _ int64) { cancel() },
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "stopped after 3932160 of 10485760 bytes")
	assert.Equal(t, int64(DefaultChunkSize), content.read.Load(), "content is read chunk by chunk, not ahead")

	reqs, puts := uploadRequests(t, srv)
	require.Len(t, puts, 1)
	del := reqs[len(reqs)-1]
	require.Equal(t, http.MethodDelete, del.Method)
	assert.Equal(t, http.StatusNoContent, del.Status)
	assert.Empty(t, srv.Attachments("me", "e1"))

	// The session is gone: its URL answers 404.
	resp, err := http.Get(srv.UploadURLBase() + del.Path + "?" + del.RawQuery)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestUploadCancelDuringAChunk(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	srv.Inject(graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultLatency, Latency: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Me().Events("e1").Attachments().Upload(ctx, FileUpload{Name: "a.bin", Content: newPattern(4 << 20), Size: 4 << 20})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	reqs, _ := uploadRequests(t, srv)
	assert.Equal(t, http.MethodDelete, reqs[len(reqs)-1].Method)
}

func TestUploadSessionRoute(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddCalendarGroup("g").AddCalendar("c").AddEvent("e")
	srv.User("u1").AddEvent("e2")
	srv.User("u1").AddCalendar("c3").AddEvent("e3")
	srv.Me().CalendarGroup().AddCalendar("c4").AddEvent("e4")
	cases := []struct {
		name     string
		a        Attachments
		mailbox  string
		event    string
		wantPath string
	}{
		{"me/calendarGroups", c.Me().CalendarGroups("g").Calendars("c").Events("e").Attachments(), "me", "e", "/v1.0/me/events/e/attachments/createUploadSession"},
		{"users/calendar", c.Users("u1").Calendar().Events("e2").Attachments(), "u1", "e2", "/v1.0/users/u1/events/e2/attachments/createUploadSession"},
		{"users/calendars", c.Users("u1").Calendars("c3").Events("e3").Attachments(), "u1", "e3", "/v1.0/users/u1/events/e3/attachments/createUploadSession"},
		{"me/calendargroup", c.Me().CalendarGroup().Calendars("c4").Events("e4").Attachments(), "me", "e4", "/v1.0/me/events/e4/attachments/createUploadSession"},
	}
	for _, tc := range cases {
		srv.ResetRequests()
		content, sum := hashedContent(MaxAddSize) // exactly 3 MiB: a session
		att, err := tc.a.Upload(context.Background(), FileUpload{Name: tc.name + ".bin", Content: content, Size: MaxAddSize, ChunkSize: 5 * ChunkSizeUnit})
		require.NoError(t, err, tc.name)
		_, got := storedSum(t, srv, tc.mailbox, tc.event)
		assert.Equal(t, sum(), got, tc.name)
		assert.Equal(t, tc.name+".bin", att.Name)

		reqs := srv.Requests()
		require.NotEmpty(t, reqs)
		assert.Equal(t, http.MethodPost, reqs[0].Method, tc.name)
		assert.Equal(t, tc.wantPath, reqs[0].Path, tc.name)
		var body map[string]map[string]any
		require.NoError(t, json.Unmarshal(reqs[0].Body, &body))
		assert.Equal(t, map[string]any{"attachmentType": "file", "name": tc.name + ".bin", "size": float64(MaxAddSize), "isInline": false}, body["AttachmentItem"])
		// The metadata is read back on the route the caller built.
		last := reqs[len(reqs)-1]
		assert.Equal(t, http.MethodGet, last.Method)
		assert.Equal(t, "/v1.0"+tc.a.Path()+"/"+url.PathEscape(att.ID), last.Path, tc.name)
		_, puts := uploadRequests(t, srv)
		checkRanges(t, puts, MaxAddSize)
		assert.Len(t, puts, 2) // 1600 KiB + 1472 KiB
	}
}

func TestUploadGroupEventNeedsNoSession(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Group("grp").AddEvent("e1")
	content := newPattern(MaxAddSize + 1)
	_, err := c.Groups("grp").Events("e1").Attachments().Upload(context.Background(), FileUpload{Name: "a.bin", Content: content, Size: MaxAddSize + 1})
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Contains(t, err.Error(), "group events")
	assert.Empty(t, srv.Requests())
	assert.Zero(t, content.read.Load())

	// Under MaxAddSize a group event takes the file in one POST.
	att, err := c.Groups("grp").Calendar().Events("e1").Attachments().Upload(context.Background(), FileUpload{Name: "small.txt", Content: newPattern(1000), Size: 1000})
	require.NoError(t, err)
	assert.Equal(t, srv.Attachments("grp", "e1")[0].ID, att.ID)
}

func TestUploadPascalCaseAnswers(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, &graphtest.Options{PascalCaseUploads: true, MaxBodyRecorded: -1})
	srv.Me().AddEvent("e1")
	const size = MaxAddSize + 300<<10
	content, sum := hashedContent(size)
	progress := failOn(srv, 1, graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultResetAfterStore})
	_, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{Name: "a.bin", Content: content, Size: size, ChunkSize: 4 * ChunkSizeUnit, Progress: progress})
	require.NoError(t, err)
	_, got := storedSum(t, srv, "me", "e1")
	assert.Equal(t, sum(), got)
	_, puts := uploadRequests(t, srv)
	checkRanges(t, puts, size)
	assert.Len(t, puts, 3)
}

func TestSessionAnswerDecodesAnyCase(t *testing.T) {
	for _, body := range []string{
		`{"expirationDateTime":"2026-01-01T00:00:00Z","nextExpectedRanges":["7-"]}`,
		`{"ExpirationDateTime":"2026-01-01T00:00:00Z","NextExpectedRanges":["7-"]}`,
		`{"EXPIRATIONDATETIME":"2026-01-01T00:00:00Z","nextexpectedranges":["7-"]}`,
	} {
		var s sessionJSON
		require.NoError(t, json.Unmarshal([]byte(body), &s))
		assert.Equal(t, []string{"7-"}, s.NextExpectedRanges, body)
		assert.Equal(t, "2026-01-01T00:00:00Z", s.ExpirationDateTime, body)
	}
}

func TestUploadValidation(t *testing.T) {
	srv := newScripted(t, reply(500, ""))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	a := c.Me().Events("e1").Attachments()
	cases := []struct {
		name string
		f    FileUpload
		want error
	}{
		{"nil content", FileUpload{Name: "a", Size: 1}, ErrInvalidInput},
		{"negative size", FileUpload{Name: "a", Content: newPattern(0), Size: -1}, ErrInvalidInput},
		{"too large", FileUpload{Name: "a", Content: newPattern(0), Size: MaxUploadSize + 1}, ErrTooLarge},
		{"no name", FileUpload{Content: newPattern(1), Size: 1}, ErrInvalidInput},
		{"chunk 4 MiB", FileUpload{Name: "a", Content: newPattern(1), Size: 1, ChunkSize: 4 << 20}, ErrInvalidInput},
		{"chunk 16 * 320 KiB", FileUpload{Name: "a", Content: newPattern(1), Size: 1, ChunkSize: 16 * ChunkSizeUnit}, ErrInvalidInput},
		{"negative chunk", FileUpload{Name: "a", Content: newPattern(1), Size: 1, ChunkSize: -ChunkSizeUnit}, ErrInvalidInput},
	}
	for _, tc := range cases {
		_, err := a.Upload(context.Background(), tc.f)
		assert.ErrorIs(t, err, tc.want, tc.name)
	}
	_, err := c.Me().Events("..").Attachments().Upload(context.Background(), FileUpload{Name: "a", Content: newPattern(1), Size: 1})
	assert.ErrorIs(t, err, ErrInvalidInput)
	assert.Empty(t, srv.requests(), "nothing is sent for invalid input")
}

func TestUploadContentOfTheWrongSize(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1})
	srv.Me().AddEvent("e1")
	a := c.Me().Events("e1").Attachments()
	ctx := context.Background()

	// Small files: nothing is sent.
	_, err := a.Upload(ctx, FileUpload{Name: "short.txt", Content: newPattern(10), Size: 11})
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Contains(t, err.Error(), "ended after 10 bytes, but Size is 11")
	_, err = a.Upload(ctx, FileUpload{Name: "long.txt", Content: newPattern(12), Size: 11})
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Contains(t, err.Error(), "more than Size (11) bytes")
	assert.Empty(t, srv.Requests())

	// Sessions: the session is deleted and the final chunk never sent.
	_, err = a.Upload(ctx, FileUpload{Name: "short.bin", Content: &readOnly{newPattern(5 << 20)}, Size: 8 << 20})
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Contains(t, err.Error(), "ended after 5242880 bytes, but Size is 8388608")
	reqs, puts := uploadRequests(t, srv)
	assert.Len(t, puts, 1)
	assert.Equal(t, http.MethodDelete, reqs[len(reqs)-1].Method)

	srv.ResetRequests()
	_, err = a.Upload(ctx, FileUpload{Name: "long.bin", Content: &readOnly{newPattern(8<<20 + 1)}, Size: 8 << 20})
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Contains(t, err.Error(), "more than Size (8388608) bytes")
	reqs, puts = uploadRequests(t, srv)
	assert.Len(t, puts, 2, "the final chunk is not sent")
	assert.Equal(t, http.MethodDelete, reqs[len(reqs)-1].Method)
	assert.Empty(t, srv.Attachments("me", "e1"))

	// A read error is returned as it is.
	boom := errors.New("disk on fire")
	_, err = a.Upload(ctx, FileUpload{Name: "err.bin", Content: io.MultiReader(newPattern(4<<20), iotestErrReader{boom}), Size: 8 << 20})
	require.ErrorIs(t, err, boom)
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestUploadSmallFileUsesOnePOST(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	const size = 512 << 10
	content, sum := hashedContent(size)
	var sent []int64
	att, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
		Name: "menu.txt", ContentType: "text/plain", Content: content, Size: size, IsInline: true, ContentID: "cid1",
		Progress: func(s, _ int64) { sent = append(sent, s) },
	})
	require.NoError(t, err)
	stored, got := storedSum(t, srv, "me", "e1")
	assert.Equal(t, sum(), got)
	assert.Equal(t, stored.ID, att.ID)
	assert.True(t, stored.IsInline)
	assert.Equal(t, "cid1", stored.ContentID)
	assert.Nil(t, att.ContentBytes)
	assert.Equal(t, []int64{size}, sent)
	var posts []string
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost {
			posts = append(posts, r.Path)
		}
	}
	assert.Equal(t, []string{"/v1.0/me/events/e1/attachments"}, posts)
}

func TestUploadSwitchesToASessionAtMaxAddFileSize(t *testing.T) {
	srv := newScripted(t, reply(201, created201), reply(500, graphErr("generalException", "stop here")))
	c := newTestClient(t, srv.URL+"/v1.0", nil, func(o *ClientOptions) { o.Retry.MaxRetries = -1 })
	a := c.Me().Events("e1").Attachments()
	_, err := a.Upload(context.Background(), FileUpload{Name: "menu.txt", Content: newPattern(MaxAddFileSize - 1), Size: MaxAddFileSize - 1})
	require.NoError(t, err)
	_, err = a.Upload(context.Background(), FileUpload{Name: "menu.txt", Content: newPattern(MaxAddFileSize), Size: MaxAddFileSize})
	require.Error(t, err)
	reqs := srv.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "/v1.0/me/events/e1/attachments", reqs[0].EscapedPath)
	assert.Equal(t, "/v1.0/me/events/e1/attachments/createUploadSession", reqs[1].EscapedPath)
}

func TestUploadNeverLeaksTheAuthtoken(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	put := func(k graphtest.FaultKind, status, times int) graphtest.Fault {
		return graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: k, Status: status, Times: times}
	}
	const size = MaxAddSize // two chunks of ChunkSize 1600 KiB
	cases := []struct {
		name    string
		faults  []graphtest.Fault
		content io.Reader
		cancel  bool
		wantErr bool
	}{
		{name: "success through a reset and a 503", faults: []graphtest.Fault{put(graphtest.FaultResetAfterStore, 0, 1), put(graphtest.FaultStatus, 503, 1)}},
		{name: "resets until retries run out", faults: []graphtest.Fault{put(graphtest.FaultResetBeforeStore, 0, -1)}, wantErr: true},
		{name: "500 until retries run out", faults: []graphtest.Fault{put(graphtest.FaultStatus, 500, -1)}, wantErr: true},
		{name: "400", faults: []graphtest.Fault{put(graphtest.FaultStatus, 400, 1)}, wantErr: true},
		{name: "404 on a fresh session and on the next", faults: []graphtest.Fault{put(graphtest.FaultStatus, 404, 2)}, wantErr: true},
		{name: "401", faults: []graphtest.Fault{put(graphtest.FaultStatus, 401, 1)}, wantErr: true},
		{name: "status query fails", faults: []graphtest.Fault{put(graphtest.FaultResetBeforeStore, 0, 1), {Method: http.MethodGet, Path: "AttachmentSessions", Kind: graphtest.FaultResetBeforeStore, Times: -1}}, wantErr: true},
		{name: "cancel", cancel: true, wantErr: true},
		{name: "short content", content: newPattern(size - 1), wantErr: true},
		{name: "long content", content: newPattern(size + 1), wantErr: true},
	}
	var tokens []string
	var errs []error
	for _, tc := range cases {
		srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1}, func(o *ClientOptions) {
			o.Logger = logger
			o.Retry.MaxRetries = 1
		})
		srv.Me().AddEvent("e1")
		srv.Inject(tc.faults...)
		ctx, cancel := context.WithCancel(context.Background())
		f := FileUpload{Name: "a.bin", Content: tc.content, Size: size, ChunkSize: 5 * ChunkSizeUnit}
		if f.Content == nil {
			f.Content = newPattern(size)
		}
		if tc.cancel {
			f.Progress = func(int64, int64) { cancel() }
		}
		_, err := c.Me().Events("e1").Attachments().Upload(ctx, f)
		cancel()
		if tc.wantErr {
			require.Error(t, err, tc.name)
			t.Logf("%s: %v", tc.name, err)
			errs = append(errs, err)
		} else {
			require.NoError(t, err, tc.name)
		}
		for _, r := range srv.Requests() {
			if tok := mustQuery(t, r.RawQuery).Get("authtoken"); tok != "" {
				tokens = append(tokens, tok)
			}
		}
	}
	require.NotEmpty(t, tokens)
	out := logs.String()
	assert.Contains(t, out, `"method":"PUT"`)
	assert.Contains(t, out, `"method":"DELETE"`)
	assert.NotContains(t, out, "authtoken")
	for _, tok := range tokens {
		assert.NotContains(t, out, tok, "a log record carries the authtoken")
		for _, err := range errs {
			assert.NotContains(t, err.Error(), tok)
			assert.NotContains(t, fmt.Sprintf("%+v", err), tok)
			var ge *GraphError
			if errors.As(err, &ge) {
				assert.NotContains(t, string(ge.Body), tok)
			}
		}
	}
}

// fakeSession is a scripted Graph plus upload host for what graphtest does
// not do: a server that keeps only part of a chunk, odd answers, and a body
// sink for the memory benchmark. The upload handler keeps bytes strictly in
// order, hashing them (when hash is set) or discarding them.
type fakeSession struct {
	graph, upload *httptest.Server
	token         string
	sessionPath   string   // the upload URL's path and query before the authtoken
	uris          []string // RequestURI of each upload request

	mu    sync.Mutex
	size  int64
	have  int64
	sum   hash.Hash // nil: discard
	puts  []string  // Content-Range of each PUT, in order
	reqs  []string  // "METHOD" of each upload request, in order
	auth  int       // upload requests that carried Authorization
	gets  []string  // paths of the GETs Graph received
	onPut func(n int, body []byte, w http.ResponseWriter) (keep int, answered bool)
	// location is the final 201's Location; "" means an Outlook-shaped one
	// on the upload host.
	location string
	// early answers each PUT as if stored, before reading its body.
	early bool
	// ranges writes nextExpectedRanges for the bytes held; nil means "N-".
	ranges func(have, size int64) string
}

func newFakeSession(tb testing.TB, hashBytes bool) *fakeSession {
	tb.Helper()
	f := &fakeSession{token: "s3cr3t-upl0ad-t0ken", sessionPath: "/api/v2.0/Users('u')/Events('e')/AttachmentSessions('s')?"}
	if hashBytes {
		f.sum = sha256.New()
	}
	f.upload = httptest.NewServer(http.HandlerFunc(f.serveUpload))
	f.graph = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/createUploadSession"):
			var body createSessionJSON
			json.NewDecoder(r.Body).Decode(&body)
			f.mu.Lock()
			f.size, f.have = body.AttachmentItem.Size, 0
			f.mu.Unlock()
			reply(201, fmt.Sprintf(`{"uploadUrl":%q,"expirationDateTime":"2030-01-01T00:00:00Z","nextExpectedRanges":["0-"]}`,
				f.upload.URL+f.sessionPath+"authtoken="+f.token))(w, r)
		case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/attachments/"):
			f.mu.Lock()
			f.gets = append(f.gets, r.URL.Path)
			f.mu.Unlock()
			reply(200, `{"@odata.type":"#microsoft.graph.fileAttachment","id":"att'1","name":"f.bin","contentType":"application/x-test","size":1,"isInline":false}`)(w, r)
		default:
			reply(400, graphErr("BadRequest", "unexpected "+r.Method+" "+r.URL.Path))(w, r)
		}
	}))
	tb.Cleanup(f.graph.Close)
	tb.Cleanup(f.upload.Close)
	return f
}

func (f *fakeSession) status() string {
	if f.ranges != nil {
		return fmt.Sprintf(`{"ExpirationDateTime":"2030-01-01T00:00:00Z","nextExpectedRanges":[%s]}`, f.ranges(f.have, f.size))
	}
	return fmt.Sprintf(`{"expirationDateTime":"2030-01-01T00:00:00Z","nextExpectedRanges":["%d-"]}`, f.have)
}

func (f *fakeSession) serveUpload(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, r.Method)
	f.uris = append(f.uris, r.RequestURI)
	if r.Header.Get("Authorization") != "" {
		f.auth++
	}
	if r.URL.Query().Get("authtoken") != f.token {
		reply(401, graphErr("InvalidAuthenticationToken", "bad authtoken"))(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		reply(200, f.status())(w, r)
		return
	case http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
		return
	}
	cr := r.Header.Get("Content-Range")
	f.puts = append(f.puts, cr)
	m := contentRangeRE.FindStringSubmatch(cr)
	from, _ := strconv.ParseInt(m[1], 10, 64)
	if from != f.have {
		reply(416, graphErr("InvalidRange", "out of order"))(w, r)
		return
	}
	if f.early {
		to, _ := strconv.ParseInt(m[2], 10, 64)
		f.have = to + 1
		if f.have == f.size {
			w.Header().Set("Location", f.upload.URL+"/api/v2.0/Users('u')/Events('e')/Attachments('early')")
			w.WriteHeader(http.StatusCreated)
			return
		}
		reply(200, f.status())(w, r)
		return
	}
	var body []byte
	n := int64(0)
	if f.onPut != nil || f.sum != nil {
		body, _ = io.ReadAll(r.Body)
		n = int64(len(body))
	} else {
		n, _ = io.Copy(io.Discard, r.Body)
	}
	keep := int(n)
	if f.onPut != nil {
		var answered bool
		if keep, answered = f.onPut(len(f.puts), body, w); answered {
			f.store(body[:keep])
			return
		}
	}
	if body == nil {
		f.have += n // discarding
	} else {
		f.store(body[:keep])
	}
	if f.have == f.size {
		loc := f.location
		if loc == "" {
			loc = f.upload.URL + "/api/v2.0/Users('u')/Events('e')/Attachments('att%27%271')"
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusCreated)
		return
	}
	reply(200, f.status())(w, r)
}

func (f *fakeSession) graphGets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.gets)
}

func (f *fakeSession) store(b []byte) {
	if f.sum != nil {
		f.sum.Write(b)
	}
	f.have += int64(len(b))
}

func (f *fakeSession) client(tb testing.TB, mod ...func(*ClientOptions)) *Client {
	o := &ClientOptions{BaseURL: f.graph.URL + "/v1.0", Retry: RetryOptions{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Second}}
	for _, m := range mod {
		m(o)
	}
	c, err := NewClient(&countingCred{}, o)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// hijack closes the connection without an answer.
func hijack(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// A session that keeps only part of a chunk (graphtest's FaultPartialChunk)
// gets only the rest of it next, then aligned chunks again.
func TestUploadSendsOnlyTheRestOfAChunkTheSessionLacks(t *testing.T) {
	t.Parallel()
	const size = 2*DefaultChunkSize + 1000
	srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1})
	srv.Me().AddEvent("e1")
	content, sum := hashedContent(size)
	var sent []int64
	inject := failOn(srv, 1, graphtest.Fault{Method: http.MethodPut, Kind: graphtest.FaultPartialChunk, Keep: 100_000})
	_, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
		Name: "f.bin", Content: content, Size: size,
		Progress: func(s, total int64) { sent = append(sent, s); inject(s, total) },
	})
	require.NoError(t, err)
	_, storedHash := storedSum(t, srv, "me", "e1")
	assert.Equal(t, sum(), storedHash)
	_, puts := uploadRequests(t, srv)
	c1 := int64(DefaultChunkSize)
	var ranges []string
	for _, p := range puts {
		ranges = append(ranges, fmt.Sprintf("%d-%d", p.from, p.to))
	}
	assert.Equal(t, []string{
		fmt.Sprintf("0-%d", c1-1),
		fmt.Sprintf("%d-%d", c1, 2*c1-1),
		fmt.Sprintf("%d-%d", c1+100_000, 2*c1-1), // only the rest of the chunk
		fmt.Sprintf("%d-%d", 2*c1, size-1),       // then aligned chunks again
	}, ranges)
	assert.Equal(t, []int64{c1, c1 + 100_000, 2 * c1, size}, sent)
}

// The same when the connection is reset after the session kept a part: the
// session's status says where to go on from. (A scripted host: graphtest
// keeps all or nothing of a reset chunk.)
func TestUploadSendsOnlyTheRestOfAPartlyStoredChunk(t *testing.T) {
	const size = 2*DefaultChunkSize + 1000
	for _, tc := range []struct {
		name string
		put  func(n int, body []byte, w http.ResponseWriter) (int, bool)
	}{
		{"reset after keeping a part", func(n int, body []byte, w http.ResponseWriter) (int, bool) {
			if n == 2 {
				hijack(w)
				return 123_457, true
			}
			return len(body), false
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSession(t, true)
			f.onPut = tc.put
			c := f.client(t)
			content, sum := hashedContent(size)
			var sent []int64
			att, err := c.Users("u").Calendars("c").Events("e").Attachments().Upload(context.Background(), FileUpload{
				Name: "f.bin", Content: content, Size: size, Progress: func(s, _ int64) { sent = append(sent, s) },
			})
			require.NoError(t, err)
			assert.Equal(t, "att'1", att.ID)
			assert.Equal(t, sum(), [32]byte(f.sum.Sum(nil)))
			c1 := DefaultChunkSize
			kept := 123_457
			assert.Equal(t, []string{
				fmt.Sprintf("bytes 0-%d/%d", c1-1, size),
				fmt.Sprintf("bytes %d-%d/%d", c1, 2*c1-1, size),
				fmt.Sprintf("bytes %d-%d/%d", c1+kept, 2*c1-1, size), // only the rest of the chunk
				fmt.Sprintf("bytes %d-%d/%d", 2*c1, size-1, size),    // then aligned chunks again
			}, f.puts)
			assert.Equal(t, []int64{int64(c1), int64(c1 + kept), 2 * int64(c1), size}, sent)
			assert.Zero(t, f.auth)
		})
	}
}

func TestUploadUsesTheUploadURLAsGiven(t *testing.T) {
	f := newFakeSession(t, false)
	f.sessionPath = "/api/v2.0/Users('a%40b.com')/Events('AAMk%3D%3D')/AttachmentSessions('x%2Fy')?v=1&x=%2F&"
	want := f.sessionPath + "authtoken=" + f.token
	_, err := f.client(t).Me().Events("e").Attachments().Upload(context.Background(), FileUpload{Name: "f.bin", Content: newPattern(MaxAddSize), Size: MaxAddSize})
	require.NoError(t, err)
	require.NotEmpty(t, f.uris)
	for _, u := range f.uris {
		assert.Equal(t, want, u)
	}
}

func TestUploadRefusesAnInsecureUploadURL(t *testing.T) {
	srv := newScripted(t,
		reply(201, `{"uploadUrl":"http://upload.example.com/api/v2.0/x?authtoken=NOT-FOR-LOGS","nextExpectedRanges":["0-"]}`),
		reply(500, ""))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	_, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{Name: "f.bin", Content: newPattern(4 << 20), Size: 4 << 20})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "must be https")
	assert.NotContains(t, err.Error(), "NOT-FOR-LOGS")
	assert.Len(t, srv.requests(), 1, "nothing is sent to the upload URL")
}

func TestUploadRefusesAServerThatSkipsBytes(t *testing.T) {
	f := newFakeSession(t, false)
	f.onPut = func(n int, body []byte, w http.ResponseWriter) (int, bool) {
		reply(200, `{"NextExpectedRanges":["9000000-"]}`)(w, nil)
		return len(body), true
	}
	_, err := f.client(t).Me().Events("e").Attachments().Upload(context.Background(), FileUpload{Name: "f.bin", Content: newPattern(10 << 20), Size: 10 << 20})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expects byte 9000000, but only 3932160 were sent")
	assert.Equal(t, http.MethodDelete, f.reqs[len(f.reqs)-1])
}

func TestAttachmentIDFromLocation(t *testing.T) {
	for loc, want := range map[string]string{
		"https://outlook.office.com/api/v2.0/Users('a@b')/Events('e')/Attachments('AAMkAD%3D')":     "AAMkAD=",
		"https://outlook.office.com/api/v2.0/Users('a')/Messages('m')/Attachments('it''s')":         "it's",
		"http://127.0.0.1:1/v1.0/Users('me-0000')/Events('e1')/Attachments('AAMkA-_x%2Fy==')?x=1#f": "AAMkA-_x/y==",
		"https://host/attachments('lower')":                                                         "lower",
	} {
		got, ok := attachmentIDFromLocation(loc)
		assert.True(t, ok, loc)
		assert.Equal(t, want, got, loc)
	}
	for _, loc := range []string{"", "https://host/Attachments", "https://host/Attachments('')", "https://host/Attachments('x')/more", "https://host/Attachments('%zz')"} {
		_, ok := attachmentIDFromLocation(loc)
		assert.False(t, ok, loc)
	}
}

// The final chunk is stored but its answer is lost and the session is gone:
// the attachment is found by its bytes, not by a name and size that another
// writer's file shares (issue 12, case 6).
func TestUploadLostFinalAnswerFindsOurBytes(t *testing.T) {
	t.Parallel()
	const size = MaxAddSize
	var (
		other     *Client
		otherOnce sync.Once
	)
	// Another writer's file of the same name and size but other bytes lands
	// after ours, just before the SDK asks the session what happened.
	hook := func(o *ClientOptions) {
		o.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "AttachmentSessions") {
				otherOnce.Do(func() {
					_, err := other.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
						Name: "same.bin", Content: bytes.NewReader(bytes.Repeat([]byte{'x'}, size)), Size: size})
					require.NoError(t, err)
				})
			}
			return http.DefaultTransport.RoundTrip(r)
		})}
	}
	srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1}, hook)
	other = newTestClient(t, srv.URL(), srv.Credential())
	srv.Me().AddEvent("e1")
	a := c.Me().Events("e1").Attachments()

	srv.Inject(graphtest.Fault{Method: http.MethodPut, Kind: graphtest.FaultResetAfterStore})
	content, sum := hashedContent(size)
	got, err := a.Upload(context.Background(), FileUpload{Name: "same.bin", Content: content, Size: size})
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Equal(t, 2, len(stored), "ours and the other writer's: no duplicate, nothing lost")
	rc, err := a.Content(context.Background(), got.ID)
	require.NoError(t, err)
	h := sha256.New()
	_, err = io.Copy(h, rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, sum(), [32]byte(h.Sum(nil)), "the id returned holds this upload's bytes")
}

func TestContentStreamsTheBytes(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1})
	srv.Me().AddEvent("e1")
	a := c.Me().Events("e1").Attachments()
	content, sum := hashedContent(MaxAddSize)
	att, err := a.Upload(context.Background(), FileUpload{Name: "f.bin", Content: content, Size: MaxAddSize})
	require.NoError(t, err)

	rc, err := a.Content(context.Background(), att.ID)
	require.NoError(t, err)
	h := sha256.New()
	n, err := io.Copy(h, rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, int64(MaxAddSize), n)
	assert.Equal(t, sum(), [32]byte(h.Sum(nil)))
	last := srv.Requests()[len(srv.Requests())-1]
	assert.Equal(t, "/v1.0/me/events/e1/attachments/"+url.PathEscape(att.ID)+"/$value", last.Path)
	assert.Equal(t, "application/octet-stream, application/json", last.Header.Get("Accept"))

	_, err = a.Content(context.Background(), "nope")
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = a.Content(context.Background(), "")
	assert.ErrorIs(t, err, ErrInvalidInput)

	// A 503 before the body is retried; the mailbox slot is given back on Close.
	srv.Inject(graphtest.Fault{Method: http.MethodGet, Path: "$value", Kind: graphtest.FaultStatus, Status: 503})
	for range 6 { // more than the mailbox cap of 4: each Close frees its slot
		rc, err = a.Content(context.Background(), att.ID)
		require.NoError(t, err)
		b, err := io.ReadAll(io.LimitReader(rc, 10))
		require.NoError(t, err)
		assert.Len(t, b, 10)
		require.NoError(t, rc.Close())
	}
}

// Graph refuses a session under its floor
// (ErrorAttachmentSizeShouldNotBeLessThanMinimumSize): a file that fits one
// POST is sent that way instead, once.
func TestUploadBelowSessionFloorFallsBackToPost(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	content, sum := hashedContent(100 << 10)
	got, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{Name: "small.bin", Content: content, Size: 100 << 10, SessionThreshold: 1})
	require.NoError(t, err)
	var paths []string
	for _, r := range srv.Requests() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	assert.Equal(t, []string{"POST /v1.0/me/events/e1/attachments/createUploadSession", "POST /v1.0/me/events/e1/attachments"}, paths)
	stored := srv.Attachments("me", "e1")
	require.Equal(t, 1, len(stored))
	assert.Equal(t, got.ID, stored[0].ID)
	assert.Equal(t, sum(), sha256.Sum256(stored[0].Content))
}
