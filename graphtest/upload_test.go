package graphtest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openSession creates an upload session for /me/events/e and returns its URL.
func openSession(t *testing.T, s *Server, size int) string {
	t.Helper()
	u, _ := openSessionFull(t, s, "/me/events/e", size)
	return u
}

// openSessionFull creates an upload session on an event path and returns
// its URL and the whole 201 answer.
func openSessionFull(t *testing.T, s *Server, eventPath string, size int) (string, map[string]any) {
	t.Helper()
	body := fmt.Sprintf(`{"AttachmentItem":{"attachmentType":"file","name":"big.bin","size":%d,"contentType":"application/zip","isInline":false,"contentId":null}}`, size)
	r := graph(t, s, "POST", eventPath+"/attachments/createUploadSession", []byte(body))
	require.Equal(t, http.StatusCreated, r.StatusCode, "%s", r.body)
	m := r.json(t)
	// GRAPH-FACTS.md, Upload sessions (up-1): 201 with @odata.context, uploadUrl, expirationDateTime, nextExpectedRanges ["0-"].
	assert.ElementsMatch(t, []string{"@odata.context", "expirationDateTime", "nextExpectedRanges", "uploadUrl"}, keys(m))
	assert.Equal(t, s.URL()+"/$metadata#microsoft.graph.uploadSession", m["@odata.context"])
	assert.Equal(t, []any{"0-"}, m["nextExpectedRanges"])
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$`, m["expirationDateTime"])
	return m["uploadUrl"].(string), m
}

// put sends one chunk of data starting at first.
func put(t *testing.T, u string, data []byte, first, total int, hdr ...string) reply {
	t.Helper()
	h := append([]string{
		"Content-Type", "application/octet-stream",
		"Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, first+len(data)-1, total),
	}, hdr...)
	return do(t, "PUT", u, data, h...)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestUploadURLShape(t *testing.T) {
	t.Parallel()
	for _, ver := range []string{"", "gv1.0", "gbeta"} {
		t.Run("version="+ver, func(t *testing.T) {
			s := newTestServer(t, &Options{UploadPathVersion: ver})
			s.Me().AddEvent("e")
			u := openSession(t, s, 3<<20)
			want := ver
			if want == "" {
				want = "v2.0"
			}
			// GRAPH-FACTS.md, Upload sessions (up-3): uploadUrl is https://outlook.office.com/api/v2.0/Users('{userId}@{tenantId}')/Events('{eventId}')/AttachmentSessions('{sessionId}')?authtoken=…
			assert.Regexp(t, "^"+regexp.QuoteMeta(s.UploadURLBase()+"/api/"+want+"/Users('me-0000@"+s.TenantID()+"')/Events('e')/AttachmentSessions('AAMkA")+
				`[A-Za-z0-9_=-]+'\)\?authtoken=[0-9a-f]+$`, u)
		})
	}
}

func TestUploadURLEscapesIDs(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	const id = "AAMk/it's+1="
	s.User("ad'ele").AddEvent(id)
	u, _ := openSessionFull(t, s, "/users/"+url.PathEscape("ad'ele")+"/events/"+url.PathEscape(id), 3<<20)
	// Quotes double inside keys and are escaped with '/'; the client uses the URL as is.
	assert.Contains(t, u, "/Users('ad%27%27ele@"+s.TenantID()+"')/Events('AAMk%2Fit%27%27s+1=')/AttachmentSessions('")
	data := randomBytes(3 << 20)
	r := put(t, u, data, 0, len(data))
	require.Equal(t, http.StatusCreated, r.StatusCode, "%s", r.body)
	assert.True(t, strings.HasPrefix(r.Header.Get("Location"), s.UploadURLBase()+"/api/v2.0/Users('ad%27%27ele@"+s.TenantID()+"')/Events('AAMk%2Fit%27%27s+1=')/Attachments('"), r.Header.Get("Location"))
	assert.Len(t, s.Attachments("ad'ele", id), 1)
}

// attachmentIDFrom takes the id out of a final chunk's Location.
func attachmentIDFrom(t *testing.T, loc string) string {
	t.Helper()
	i := strings.LastIndex(loc, "/Attachments('")
	require.True(t, i >= 0 && strings.HasSuffix(loc, "')"), loc)
	return strings.ReplaceAll(loc[i+len("/Attachments('"):len(loc)-2], "''", "'")
}

func TestUploadFullFlow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		opts    Options
		nextKey string
		ranges  func(next, size int) []any
	}{
		// GRAPH-FACTS.md, Upload sessions (up-9, up-11): mixed case, a single start offset without a dash.
		{"default", Options{}, "nextExpectedRanges", func(n, _ int) []any { return []any{fmt.Sprint(n)} }},
		// msgraph-sdk-dotnet#2092: fully PascalCase.
		{"pascal", Options{PascalCaseUploads: true}, "NextExpectedRanges", func(n, _ int) []any { return []any{fmt.Sprint(n)} }},
		{"open-ended", Options{UploadRanges: RangesOpenEnded}, "nextExpectedRanges", func(n, _ int) []any { return []any{fmt.Sprintf("%d-", n)} }},
		{"several", Options{UploadRanges: RangesSeveral}, "nextExpectedRanges", func(n, size int) []any {
			mid := n + (size-n)/2
			return []any{fmt.Sprintf("%d-%d", n, mid-1), fmt.Sprintf("%d-", mid)}
		}},
		{"gv1.0", Options{UploadPathVersion: "gv1.0"}, "nextExpectedRanges", func(n, _ int) []any { return []any{fmt.Sprint(n)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, &tc.opts)
			s.Me().AddEvent("AAMkE=")
			ver := tc.opts.UploadPathVersion
			if ver == "" {
				ver = "v2.0"
			}
			data := randomBytes(10 << 20)
			u, created := openSessionFull(t, s, "/me/events/AAMkE=", len(data))
			wantCtx := s.UploadURLBase() + "/api/" + ver + "/$metadata#Users('me-0000%40" + s.TenantID() + "')/Events('AAMkE%3D')/AttachmentSessions/$entity"
			var last reply
			for off := 0; off < len(data); off += MaxChunkSize {
				end := min(off+MaxChunkSize, len(data))
				last = put(t, u, data[off:end], off, len(data))
				if end < len(data) {
					require.Equal(t, http.StatusOK, last.StatusCode, "%s", last.body)
					m := last.json(t)
					assert.ElementsMatch(t, []string{"@odata.context", "ExpirationDateTime", tc.nextKey}, keys(m))
					assert.Equal(t, wantCtx, m["@odata.context"])
					// GRAPH-FACTS.md, Upload sessions (up-13): expirationDateTime does not move as chunks arrive.
					assert.Equal(t, created["expirationDateTime"], m["ExpirationDateTime"])
					assert.Equal(t, tc.ranges(end, len(data)), m[tc.nextKey])

					st := do(t, "GET", u, nil)
					require.Equal(t, http.StatusOK, st.StatusCode)
					assert.Equal(t, m, st.json(t))
				}
			}
			// GRAPH-FACTS.md, Upload sessions (up-14): the last PUT answers 201 with Content-Length: 0 and a Location on the upload host.
			require.Equal(t, http.StatusCreated, last.StatusCode, "%s", last.body)
			assert.Empty(t, last.body)
			assert.Equal(t, "0", last.Header.Get("Content-Length"))
			loc := last.Header.Get("Location")
			assert.True(t, strings.HasPrefix(loc, s.UploadURLBase()+"/api/"+ver+"/Users('me-0000@"+s.TenantID()+"')/Events('AAMkE=')/Attachments('AAMkA"), loc)
			id := attachmentIDFrom(t, loc)

			got := s.Attachments("me", "AAMkE=")
			require.Len(t, got, 1)
			assert.True(t, bytes.Equal(data, got[0].Content))
			assert.Equal(t, "big.bin", got[0].Name)
			assert.Equal(t, "application/zip", got[0].ContentType)
			assert.Equal(t, fileAttachmentSize(int64(len(data))), got[0].Size)
			assert.Equal(t, fileType, got[0].ODataType)
			assert.Equal(t, id, got[0].ID)

			// The session is over.
			assert.Equal(t, http.StatusNotFound, put(t, u, data[:1], 0, len(data)).StatusCode)
			// The id from the Location works on the Graph listener.
			g := graph(t, s, "GET", "/me/events/AAMkE=/attachments/"+url.PathEscape(id)+"?$select=name,size", nil)
			require.Equal(t, http.StatusOK, g.StatusCode, "%s", g.body)
			assert.Equal(t, "big.bin", g.json(t)["name"])
			assert.EqualValues(t, fileAttachmentSize(int64(len(data))), g.json(t)["size"])
		})
	}
}

func TestUploadRejectsBadChunks(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	const size = 9<<20 + 10
	data := randomBytes(size)
	u := openSession(t, s, size)
	require.Equal(t, http.StatusOK, put(t, u, data[:1000], 0, size).StatusCode)

	check := func(r reply, status int, code string) {
		t.Helper()
		assert.Equal(t, status, r.StatusCode, "%s", r.body)
		assert.Equal(t, code, r.errorCode(t))
	}
	// Overlap and gap.
	check(put(t, u, data[500:1500], 500, size), http.StatusRequestedRangeNotSatisfiable, "InvalidRange")
	check(put(t, u, data[1001:1500], 1001, size), http.StatusRequestedRangeNotSatisfiable, "InvalidRange")
	// Authorization on a pre-authenticated URL (GRAPH-FACTS.md, Upload sessions (up-7): 401 InvalidAudience).
	check(put(t, u, data[1000:2000], 1000, size, "Authorization", "Bearer "+token(t, s)), http.StatusUnauthorized, "InvalidAudienceForResource")
	// Wrong or missing authtoken.
	check(put(t, strings.Replace(u, "authtoken=", "authtoken=x", 1), data[1000:2000], 1000, size), http.StatusUnauthorized, "InvalidAuthenticationToken")
	check(put(t, u[:strings.Index(u, "?")], data[1000:2000], 1000, size), http.StatusUnauthorized, "InvalidAuthenticationToken")
	// Content-Range: missing, malformed, wrong total, past the end.
	for _, cr := range []string{"", "bytes 1000-1999", "bytes=1000-1999/" + fmt.Sprint(size), "bytes 1000-1999/*", "bytes 1000-1999/99999999", "bytes 1999-1000/" + fmt.Sprint(size)} {
		r := do(t, "PUT", u, data[1000:2000], "Content-Type", "application/octet-stream", "Content-Range", cr)
		check(r, http.StatusBadRequest, "InvalidContentRange")
	}
	// Content-Length differs from the range.
	check(do(t, "PUT", u, data[1000:2000], "Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("bytes 1000-2000/%d", size)),
		http.StatusBadRequest, "InvalidContentLength")
	// Chunked (no Content-Length).
	req, err := http.NewRequest("PUT", u, io.MultiReader(bytes.NewReader(data[1000:2000])))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("bytes 1000-1999/%d", size))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	// Wrong content type.
	check(do(t, "PUT", u, data[1000:2000], "Content-Type", "application/json", "Content-Range", fmt.Sprintf("bytes 1000-1999/%d", size)),
		http.StatusBadRequest, "InvalidContentType")
	// Too big a chunk.
	check(put(t, u, data[1000:1000+MaxChunkSize+1], 1000, size), http.StatusBadRequest, "BadRequest")

	// After all that, the session still expects byte 1000.
	st := do(t, "GET", u, nil)
	assert.Equal(t, []any{"1000"}, st.json(t)["nextExpectedRanges"])
	var last reply
	for off := 1000; off < size; off += MaxChunkSize {
		last = put(t, u, data[off:min(off+MaxChunkSize, size)], off, size)
	}
	require.Equal(t, http.StatusCreated, last.StatusCode)
	assert.True(t, bytes.Equal(data, s.Attachments("me", "e")[0].Content))
}

func TestUploadDeleteCancels(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	u := openSession(t, s, 3<<20)
	require.Equal(t, http.StatusOK, put(t, u, make([]byte, 10), 0, 3<<20).StatusCode)
	assert.Equal(t, http.StatusNoContent, do(t, "DELETE", u, nil).StatusCode)
	r := put(t, u, make([]byte, 10), 10, 3<<20)
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
	assert.Equal(t, "ErrorItemNotFound", r.errorCode(t))
	assert.Equal(t, http.StatusNotFound, do(t, "GET", u, nil).StatusCode)
	assert.Empty(t, s.Attachments("me", "e"))
}

// fakeClock is an Options.Clock that tests step by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestUploadSessionExpires(t *testing.T) {
	clock := newFakeClock()
	s := newTestServer(t, &Options{UploadSessionTTL: time.Hour, Clock: clock.Now})
	s.Me().AddEvent("e")
	u, created := openSessionFull(t, s, "/me/events/e", 3<<20)
	assert.Equal(t, "2024-05-01T13:00:00.0000000Z", created["expirationDateTime"])
	clock.Advance(time.Hour - time.Second)
	assert.Equal(t, http.StatusOK, put(t, u, make([]byte, 10), 0, 3<<20).StatusCode)
	clock.Advance(time.Second)
	r := put(t, u, make([]byte, 10), 10, 3<<20)
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
	assert.Contains(t, string(r.body), "expired")
}

func TestUploadSessionBody(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		// GRAPH-FACTS.md, Upload sessions (up-16): under the minimum (default 3,000,000 bytes, the docs' 3 MB).
		{`{"AttachmentItem":{"attachmentType":"file","name":"a","size":2999999}}`, 400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"},
		{`{"AttachmentItem":{"attachmentType":"file","name":"a","size":1}}`, 400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"},
		// GRAPH-FACTS.md, Upload sessions (up-17; microsoft-graph-docs-contrib#710): attachmentType item answers 405.
		{`{"AttachmentItem":{"attachmentType":"item","name":"flower","size":3483322}}`, 405, "ErrorAttachmentSessionIsSupportedOnlyForFileAttachments"},
		{`{"AttachmentItem":{"attachmentType":"reference","name":"a","size":4194304}}`, 405, "ErrorAttachmentSessionIsSupportedOnlyForFileAttachments"},
		{`{"AttachmentItem":{"attachmentType":"file","name":"a"}}`, 400, "ErrorInvalidRequest"},
		{`{"AttachmentItem":{"attachmentType":"file","name":"a","size":0}}`, 400, "ErrorInvalidRequest"},
		{`{"AttachmentItem":{"attachmentType":"folder","name":"a","size":4194304}}`, 400, "ErrorInvalidRequest"},
		{`{"AttachmentItem":{"name":"a","size":4194304}}`, 400, "ErrorInvalidRequest"},
		{`{"AttachmentItem":{"attachmentType":"file","size":4194304}}`, 400, "ErrorInvalidRequest"},
		{`{"AttachmentItem":{"attachmentType":"file","name":"a","size":4194304,"foo":1}}`, 400, "RequestBodyRead"},
		{`{"attachmentItem":{"attachmentType":"file","name":"a","size":4194304}}`, 400, "RequestBodyRead"},
		{`{"AttachmentItem":{"attachmentType":"file","name":"a","size":"4194304"}}`, 400, "RequestBodyRead"},
		{`{"AttachmentItem":{"attachmentType":"file","name":"a","size":4194304.5}}`, 400, "RequestBodyRead"},
		{`{"AttachmentItem":`, 400, "UnableToDeserializePostBody"},
		{`{}`, 400, "ErrorInvalidRequest"},
		{`{"AttachmentItem":{"attachmentType":"file","name":"a","size":157286401}}`, 413, "ErrorRequestEntityTooLarge"},
	} {
		r := graph(t, s, "POST", "/me/events/e/attachments/createUploadSession", []byte(tc.body))
		assert.Equal(t, tc.status, r.StatusCode, tc.body)
		assert.Equal(t, tc.code, r.errorCode(t), tc.body)
	}
	for _, size := range []int{3_000_000, 157286400} {
		r := graph(t, s, "POST", "/me/events/e/attachments/createUploadSession",
			[]byte(fmt.Sprintf(`{"AttachmentItem":{"attachmentType":"file","name":"a","size":%d}}`, size)))
		assert.Equal(t, http.StatusCreated, r.StatusCode, size)
	}
	// Unknown event.
	r := graph(t, s, "POST", "/me/events/nope/attachments/createUploadSession",
		[]byte(`{"AttachmentItem":{"attachmentType":"file","name":"a","size":4194304}}`))
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
}

func TestUploadMinimumOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts        Options
		size        int
		status      int
		wantMinimum bool
	}{
		{Options{}, 3_000_000 - 1, 400, true},
		{Options{}, 3 << 20, 201, false}, // the SDK opens sessions from 3 MiB
		{Options{MinUploadSize: 2 << 20}, 2<<20 - 1, 400, true},
		{Options{MinUploadSize: 2 << 20}, 2 << 20, 201, false},
		{Options{MinUploadSizeStatus: 422}, 1, 422, true},
		{Options{MinUploadSize: -1}, 1, 201, false},
	} {
		s := newTestServer(t, &tc.opts)
		s.Me().AddEvent("e")
		r := graph(t, s, "POST", "/me/events/e/attachments/createUploadSession",
			[]byte(fmt.Sprintf(`{"AttachmentItem":{"attachmentType":"file","name":"a","size":%d}}`, tc.size)))
		assert.Equal(t, tc.status, r.StatusCode, "%+v %d", tc.opts, tc.size)
		if tc.wantMinimum {
			assert.Equal(t, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize", r.errorCode(t))
		}
	}
}

func TestUploadAuthorizationHeader(t *testing.T) {
	t.Parallel()
	for code, msg := range map[string]string{
		"":                "The audience claim value is invalid for current resource.",
		"InvalidAudience": "The audience claim value is invalid 'aud'.",
	} {
		s := newTestServer(t, &Options{UploadAudienceErrorCode: code})
		s.Me().AddEvent("e")
		u := openSession(t, s, 3<<20)
		for _, m := range []string{"PUT", "GET", "DELETE"} {
			r := do(t, m, u, make([]byte, 10), "Content-Type", "application/octet-stream",
				"Content-Range", "bytes 0-9/3145728", "Authorization", "Bearer "+token(t, s))
			assert.Equal(t, http.StatusUnauthorized, r.StatusCode)
			want := code
			if want == "" {
				want = "InvalidAudienceForResource"
			}
			assert.Equal(t, want, r.errorCode(t))
			assert.Contains(t, string(r.body), msg)
		}
		// Nothing happened to the session.
		assert.Equal(t, []any{"0"}, do(t, "GET", u, nil).json(t)["nextExpectedRanges"])
	}
}

func TestUploadStatusUnsupported(t *testing.T) {
	s := newTestServer(t, &Options{UploadStatusUnsupported: true})
	s.Me().AddEvent("e")
	u := openSession(t, s, 3<<20)
	assert.Equal(t, http.StatusMethodNotAllowed, do(t, "GET", u, nil).StatusCode)
	assert.Equal(t, http.StatusOK, put(t, u, make([]byte, 10), 0, 3<<20).StatusCode)
	assert.Equal(t, http.StatusNoContent, do(t, "DELETE", u, nil).StatusCode)
}

func TestUploadMessageSizeExceeded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		want   int
	}{{0, 400}, {413, 413}} {
		s := newTestServer(t, &Options{MaxMessageSize: 6 << 20, MessageSizeExceededStatus: tc.status})
		s.Me().AddEvent("e")
		const size = 10 << 20
		data := randomBytes(size)
		u := openSession(t, s, size) // the session opens: the limit bites mid-upload
		require.Equal(t, http.StatusOK, put(t, u, data[:4<<20], 0, size).StatusCode)
		// The chunk whose end passes 6 MiB fails, and is not stored.
		r := put(t, u, data[4<<20:8<<20], 4<<20, size)
		assert.Equal(t, tc.want, r.StatusCode, "%s", r.body)
		assert.Equal(t, "ErrorMessageSizeExceeded", r.errorCode(t))
		assert.Contains(t, string(r.body), "The message exceeds the maximum supported size.")
		assert.Equal(t, []any{fmt.Sprint(4 << 20)}, do(t, "GET", u, nil).json(t)["nextExpectedRanges"])
		// A chunk ending exactly at the limit is fine.
		assert.Equal(t, http.StatusOK, put(t, u, data[4<<20:6<<20], 4<<20, size).StatusCode)
		assert.Empty(t, s.Attachments("me", "e"))
	}
}

func TestUploadByteBudget(t *testing.T) {
	clock := newFakeClock()
	s := newTestServer(t, &Options{UploadByteLimit: 8 << 20, UploadByteWindow: time.Minute, ThrottleRetryAfter: "0.249", Clock: clock.Now})
	s.Me().AddEvent("e")
	s.User("other").AddEvent("e")
	const size = 12 << 20
	data := randomBytes(size)
	u := openSession(t, s, size) // its ~100-byte POST counts too
	require.Equal(t, http.StatusOK, put(t, u, data[:4<<20], 0, size).StatusCode)
	clock.Advance(30 * time.Second)
	require.Equal(t, http.StatusOK, put(t, u, data[4<<20:7<<20], 4<<20, size).StatusCode)

	// 7 MiB and a POST used: another MiB does not fit.
	r := put(t, u, data[7<<20:8<<20], 7<<20, size)
	require.Equal(t, http.StatusTooManyRequests, r.StatusCode, "%s", r.body)
	assert.Equal(t, "ApplicationThrottled", r.errorCode(t))
	assert.Contains(t, string(r.body), "Application is over its IncomingBytes limit.")
	assert.Equal(t, "0.249", r.Header.Get("Retry-After")) // verbatim, decimals kept
	// POSTs on the Graph listener count against the same mailbox...
	p := graph(t, s, "POST", "/me/events/e/attachments", []byte(strings.Repeat(" ", 1<<20)+correctedFileBody))
	assert.Equal(t, http.StatusTooManyRequests, p.StatusCode)
	// ...but not against another mailbox, and GETs are free.
	assert.Equal(t, http.StatusCreated, graph(t, s, "POST", "/users/other/events/e/attachments", []byte(correctedFileBody)).StatusCode)
	assert.Equal(t, http.StatusOK, do(t, "GET", u, nil).StatusCode)

	// The first 4 MiB leave the sliding window after a minute.
	clock.Advance(30 * time.Second)
	assert.Equal(t, http.StatusOK, put(t, u, data[7<<20:11<<20], 7<<20, size).StatusCode)

	// A negative limit turns the budget off.
	s2 := newTestServer(t, &Options{UploadByteLimit: -1})
	s2.Me().AddEvent("e")
	u2 := openSession(t, s2, size)
	for off := 0; off < size; off += MaxChunkSize {
		assert.Less(t, put(t, u2, data[off:min(off+MaxChunkSize, size)], off, size).StatusCode, 300)
	}
}

func TestUploadByteBudgetDefault(t *testing.T) {
	s := newTestServer(t, nil)
	assert.EqualValues(t, 150<<20, s.opts.UploadByteLimit)
	assert.Equal(t, 5*time.Minute, s.opts.UploadByteWindow)
	ok, _ := s.chargeIncoming(s.Me(), 150<<20)
	assert.True(t, ok)
	ok, wait := s.chargeIncoming(s.Me(), 1)
	assert.False(t, ok)
	assert.InDelta(t, 5*time.Minute, wait, float64(time.Second), "room when the first bytes leave the window")
}

func TestUploadUnknownPaths(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	u := openSession(t, s, 3<<20)
	for _, bad := range []string{
		s.UploadURLBase() + "/",
		strings.Replace(u, "Events('e')", "Events('f')", 1),
		strings.Replace(u, "AttachmentSessions('", "AttachmentSessions('x", 1),
		strings.Replace(u, "/api/v2.0", "/api/v1.0", 1),
		strings.Replace(u, "/api/v2.0", "/api/gv1.0", 1),
		strings.Replace(u, "@"+s.TenantID(), "@"+s.TenantID()+"x", 1),
		strings.Replace(u, "@"+s.TenantID(), "", 1),
	} {
		assert.Equal(t, http.StatusNotFound, put(t, bad, []byte("x"), 0, 3<<20).StatusCode, bad)
	}
	assert.Equal(t, http.StatusMethodNotAllowed, do(t, "POST", u, []byte("x")).StatusCode)
}

// FaultPartialChunk: the session keeps part of a chunk and asks for the rest
// from the first byte it lacks.
func TestFaultPartialChunk(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	u := openSession(t, s, 3<<20)
	s.Inject(Fault{Method: "PUT", Kind: FaultPartialChunk, Keep: 100})
	r := put(t, u, make([]byte, 1000), 0, 3<<20)
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, []any{"100"}, r.json(t)["nextExpectedRanges"])
	// Half by default.
	s.Inject(Fault{Method: "PUT", Kind: FaultPartialChunk})
	r = put(t, u, make([]byte, 1000), 100, 3<<20)
	assert.Equal(t, []any{"600"}, r.json(t)["nextExpectedRanges"])
	assert.Equal(t, map[FaultKind]int{FaultPartialChunk: 2}, s.FaultsInjected())
	assert.Equal(t, "FaultPartialChunk", FaultPartialChunk.String())
}
