package graphtest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openSession creates an upload session for /me/events/e and returns its URL.
func openSession(t *testing.T, s *Server, size int) string {
	t.Helper()
	body := fmt.Sprintf(`{"AttachmentItem":{"attachmentType":"file","name":"big.bin","size":%d,"contentType":"application/zip","isInline":false,"contentId":null}}`, size)
	r := graph(t, s, "POST", "/me/events/e/attachments/createUploadSession", []byte(body))
	require.Equal(t, http.StatusCreated, r.StatusCode, "%s", r.body)
	m := r.json(t)
	assert.ElementsMatch(t, []string{"@odata.context", "uploadUrl", "expirationDateTime", "nextExpectedRanges"}, keys(m))
	assert.Equal(t, []any{"0-"}, m["nextExpectedRanges"])
	u := m["uploadUrl"].(string)
	assert.True(t, strings.HasPrefix(u, s.UploadURLBase()+"/api/v2.0/Users('me-0000')/Events('e')/AttachmentSessions('"), u)
	assert.Contains(t, u, "?authtoken=")
	return u
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

func TestUploadFullFlow(t *testing.T) {
	t.Parallel()
	for _, pascal := range []bool{false, true} {
		t.Run(fmt.Sprint("pascal=", pascal), func(t *testing.T) {
			s := newTestServer(t, &Options{PascalCaseUploads: pascal})
			s.Me().AddEvent("e")
			data := randomBytes(10 << 20)
			u := openSession(t, s, len(data))
			nextKey, expKey := "nextExpectedRanges", "expirationDateTime"
			if pascal {
				nextKey, expKey = "NextExpectedRanges", "ExpirationDateTime"
			}
			var last reply
			for off := 0; off < len(data); off += MaxChunkSize {
				end := min(off+MaxChunkSize, len(data))
				last = put(t, u, data[off:end], off, len(data))
				if end < len(data) {
					require.Equal(t, http.StatusOK, last.StatusCode, "%s", last.body)
					m := last.json(t)
					assert.ElementsMatch(t, []string{nextKey, expKey}, keys(m))
					assert.Equal(t, []any{fmt.Sprintf("%d-", end)}, m[nextKey])

					st := do(t, "GET", u, nil)
					require.Equal(t, http.StatusOK, st.StatusCode)
					assert.Equal(t, []any{fmt.Sprintf("%d-", end)}, st.json(t)[nextKey])
				}
			}
			require.Equal(t, http.StatusCreated, last.StatusCode, "%s", last.body)
			assert.Empty(t, last.body)
			loc := last.Header.Get("Location")
			assert.True(t, strings.HasPrefix(loc, s.URL()+"/Users('me-0000')/Events('e')/Attachments('AAMkA"), loc)

			got := s.Attachments("me", "e")
			require.Len(t, got, 1)
			assert.True(t, bytes.Equal(data, got[0].Content))
			assert.Equal(t, "big.bin", got[0].Name)
			assert.Equal(t, "application/zip", got[0].ContentType)
			assert.EqualValues(t, len(data), got[0].Size)
			assert.Equal(t, fileType, got[0].ODataType)
			assert.Contains(t, loc, got[0].ID)

			// The session is over.
			assert.Equal(t, http.StatusNotFound, put(t, u, data[:1], 0, len(data)).StatusCode)
			// The Location is readable on the Graph listener.
			g := do(t, "GET", loc+"?$select=name,size", nil, "Authorization", "Bearer "+token(t, s))
			require.Equal(t, http.StatusOK, g.StatusCode, "%s", g.body)
			assert.Equal(t, "big.bin", g.json(t)["name"])
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
	// Authorization on a pre-authenticated URL.
	check(put(t, u, data[1000:2000], 1000, size, "Authorization", "Bearer "+token(t, s)), http.StatusUnauthorized, "InvalidAuthenticationToken")
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
	check(put(t, u, data[1000:1000+MaxChunkSize+1], 1000, size), http.StatusBadRequest, "ErrorChunkTooLarge")

	// After all that, the session still expects byte 1000.
	st := do(t, "GET", u, nil)
	assert.Equal(t, []any{"1000-"}, st.json(t)["nextExpectedRanges"])
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

func TestUploadSessionExpires(t *testing.T) {
	s := newTestServer(t, &Options{UploadSessionTTL: 50 * time.Millisecond})
	s.Me().AddEvent("e")
	u := openSession(t, s, 3<<20)
	time.Sleep(80 * time.Millisecond)
	r := put(t, u, make([]byte, 10), 0, 3<<20)
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
	assert.Contains(t, string(r.body), "expired")
}

func TestUploadSessionBody(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	for body, code := range map[string]string{
		`{"AttachmentItem":{"attachmentType":"file","name":"a","size":3145727}}`:         "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
		`{"AttachmentItem":{"attachmentType":"file","name":"a","size":1}}`:               "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
		`{"AttachmentItem":{"attachmentType":"file","name":"a"}}`:                        "ErrorInvalidRequest",
		`{"AttachmentItem":{"attachmentType":"file","name":"a","size":0}}`:               "ErrorInvalidRequest",
		`{"AttachmentItem":{"attachmentType":"item","name":"a","size":4194304}}`:         "ErrorInvalidRequest",
		`{"AttachmentItem":{"name":"a","size":4194304}}`:                                 "ErrorInvalidRequest",
		`{"AttachmentItem":{"attachmentType":"file","size":4194304}}`:                    "ErrorInvalidRequest",
		`{"AttachmentItem":{"attachmentType":"file","name":"a","size":4194304,"foo":1}}`: "RequestBodyRead",
		`{"attachmentItem":{"attachmentType":"file","name":"a","size":4194304}}`:         "RequestBodyRead",
		`{"AttachmentItem":{"attachmentType":"file","name":"a","size":"4194304"}}`:       "RequestBodyRead",
		`{"AttachmentItem":{"attachmentType":"file","name":"a","size":4194304.5}}`:       "RequestBodyRead",
		`{}`: "ErrorInvalidRequest",
	} {
		r := graph(t, s, "POST", "/me/events/e/attachments/createUploadSession", []byte(body))
		assert.Equal(t, http.StatusBadRequest, r.StatusCode, body)
		assert.Equal(t, code, r.errorCode(t), body)
	}
	r := graph(t, s, "POST", "/me/events/e/attachments/createUploadSession",
		[]byte(`{"AttachmentItem":{"attachmentType":"file","name":"a","size":157286401}}`))
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.StatusCode)
	r = graph(t, s, "POST", "/me/events/e/attachments/createUploadSession",
		[]byte(`{"AttachmentItem":{"attachmentType":"file","name":"a","size":157286400}}`))
	assert.Equal(t, http.StatusCreated, r.StatusCode)
	// Unknown event.
	r = graph(t, s, "POST", "/me/events/nope/attachments/createUploadSession",
		[]byte(`{"AttachmentItem":{"attachmentType":"file","name":"a","size":4194304}}`))
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
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
	} {
		assert.Equal(t, http.StatusNotFound, put(t, bad, []byte("x"), 0, 3<<20).StatusCode, bad)
	}
	assert.Equal(t, http.StatusMethodNotAllowed, do(t, "POST", u, []byte("x")).StatusCode)
}
