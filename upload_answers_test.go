package eventattach

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/eventattach/eventattach/graphtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Graph's answers to upload-session requests, as GRAPH-FACTS.md lists them,
// each scripted on a plain server: the SDK must take every documented shape.

func TestParseRangeShapes(t *testing.T) {
	const size = 1000
	for _, tc := range []struct {
		in       string
		from, to int64
		ok       bool
	}{
		{"209", 209, size, true}, // Outlook: a start offset alone (resources/uploadsession.md)
		{"0", 0, size, true},
		{"12-", 12, size, true},  // OneDrive style
		{"12-99", 12, 100, true}, // a closed range, end inclusive
		{" 5- ", 5, size, true},  // stray spaces
		{"999", 999, size, true}, // the last byte
		{"1000", 0, 0, false},    // past the end
		{"-5", 0, 0, false},      // no start
		{"5-4", 0, 0, false},     // end before start
		{"5-1000", 0, 0, false},  // end past the file
		{"x", 0, 0, false},       // not a number
		{"", 0, 0, false},        // empty
		{"1e3", 0, 0, false},     // not an integer
		{"209-x", 0, 0, false},   // garbage after the dash
		{"+5", 5, size, true},    // strconv's sign: harmless
		{"0005", 5, size, true},  // leading zeros
		{"12-12", 12, 13, true},  // one byte
		{"999-999", 999, 1000, true},
	} {
		from, to, err := parseRange(tc.in, size)
		if !tc.ok {
			assert.Error(t, err, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		assert.Equal(t, [2]int64{tc.from, tc.to}, [2]int64{from, to}, "%q", tc.in)
	}
}

// Each shape of nextExpectedRanges Graph is known to send, under the key
// casings seen (the docs' mixed case, China's PascalCase): the upload
// continues from the first byte the session lacks and lands whole.
func TestUploadTakesEveryRangeShape(t *testing.T) {
	const size = 3*DefaultChunkSize + 777
	for name, ranges := range map[string]func(have, size int64) string{
		"start only":   func(have, _ int64) string { return fmt.Sprintf("%q", fmt.Sprint(have)) },
		"open ended":   func(have, _ int64) string { return fmt.Sprintf("%q", fmt.Sprintf("%d-", have)) },
		"closed range": func(have, size int64) string { return fmt.Sprintf("%q", fmt.Sprintf("%d-%d", have, size-1)) },
		"several": func(have, size int64) string {
			mid := have + (size-have)/2
			return fmt.Sprintf("%q,%q", fmt.Sprintf("%d-", mid+1), fmt.Sprintf("%d-%d", have, mid))
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeSession(t, true)
			f.ranges = ranges
			content, sum := hashedContent(size)
			att, err := f.client(t).Me().Events("e").Attachments().Upload(context.Background(), FileUpload{Name: "f.bin", Content: content, Size: size})
			require.NoError(t, err)
			assert.Equal(t, "att'1", att.ID)
			assert.Equal(t, sum(), [32]byte(f.sum.Sum(nil)))
			assert.Len(t, f.puts, 4, "one PUT per chunk, none sent twice")
		})
	}
}

// The last chunk's 201 has an empty body and a Location on Outlook's host,
// under any of the API versions seen; the id comes from that URL.
func TestUploadReadsTheIDFromEveryLocationShape(t *testing.T) {
	for _, loc := range []string{
		"https://outlook.office.com/api/v2.0/Users('a1b2@c3d4')/Events('AAMkAGI=')/Attachments('AAMkAD%3D')",
		"https://outlook.office.com/api/gv1.0/Users('a1b2@c3d4')/Events('AAMkAGI=')/Attachments('AAMkAD%3D')",
		"https://outlook.office365.com/api/v2.0/Users('a1b2@c3d4')/Events('AAMkAGI=')/Attachments('AAMkAD%3D')",
		"https://outlook.office365.com/api/gbeta/users('a1b2@c3d4')/events('AAMkAGI=')/attachments('AAMkAD=')",
	} {
		t.Run(loc, func(t *testing.T) {
			f := newFakeSession(t, false)
			f.location = loc
			att, err := f.client(t).Me().Events("e").Attachments().Upload(context.Background(), FileUpload{Name: "f.bin", Content: newPattern(MaxAddSize), Size: MaxAddSize})
			require.NoError(t, err)
			// The metadata read goes to Graph for the id the Location named.
			assert.Equal(t, "att'1", att.ID, "the id of the GET the fake Graph answers")
			gets := f.graphGets()
			require.NotEmpty(t, gets)
			assert.Contains(t, gets[0], "/attachments/AAMkAD=")
		})
	}
}

// ErrorMessageSizeExceeded mid-upload (the mailbox's maximum message size):
// ErrTooLarge, saying after how many bytes and why; the session is deleted;
// nothing is retried.
func TestUploadMailboxMessageSizeExceeded(t *testing.T) {
	f := newFakeSession(t, false)
	f.onPut = func(n int, body []byte, w http.ResponseWriter) (int, bool) {
		if n == 2 {
			reply(400, graphErr("ErrorMessageSizeExceeded", "The message exceeds the maximum supported size."))(w, nil)
			return 0, true
		}
		return len(body), false
	}
	const size = 3 * DefaultChunkSize
	_, err := f.client(t).Me().Events("e").Attachments().Upload(context.Background(), FileUpload{Name: "big.bin", Content: newPattern(size), Size: size})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrTooLarge)
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "ErrorMessageSizeExceeded", ge.Code)
	assert.Contains(t, err.Error(), fmt.Sprintf("after %d of its %d bytes", DefaultChunkSize, size))
	assert.Contains(t, err.Error(), "maximum message size")
	assert.Len(t, f.puts, 2, "not retried")
	assert.Equal(t, http.MethodDelete, f.reqs[len(f.reqs)-1], "the session is deleted")
}

// A 401 from the upload host: the URL expired or is not Graph's. It is
// never retried, and never with a bearer token.
func TestUploadURLRefused401(t *testing.T) {
	f := newFakeSession(t, false)
	f.onPut = func(n int, _ []byte, w http.ResponseWriter) (int, bool) {
		reply(401, graphErr("InvalidAudience", "The audience claim value is invalid for current resource."))(w, nil)
		return 0, true
	}
	_, err := f.client(t).Me().Events("e").Attachments().Upload(context.Background(), FileUpload{Name: "f.bin", Content: newPattern(MaxAddSize), Size: MaxAddSize})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnauthorized)
	assert.Contains(t, err.Error(), "the upload URL refused the request")
	assert.NotContains(t, err.Error(), f.token)
	assert.Len(t, f.puts, 1, "not retried")
	assert.Zero(t, f.auth, "no bearer token on the upload host")
}

// A direct POST Graph refuses for its size is ErrTooLarge naming Upload:
// 400 "Maximum request length exceeded." (microsoft-graph-docs#85) or 413
// (msgraph-sdk-php#1047).
func TestAddFileRefusedAsTooLarge(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
	}{
		{400, graphErr("BadRequest", "Maximum request length exceeded.")},
		{413, graphErr("RequestEntityTooLarge", "")},
		{413, ""},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := newScripted(t, reply(tc.status, tc.body))
			c := newTestClient(t, srv.URL+"/v1.0", nil)
			_, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.bin", ContentBytes: make([]byte, 2<<20)})
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrTooLarge)
			assert.Contains(t, err.Error(), "Upload")
			assert.Len(t, srv.requests(), 1, "not retried")
		})
	}
	// Any other 400 is not a size problem.
	srv := newScripted(t, reply(400, graphErr("ErrorInvalidIdMalformed", "Id is malformed.")))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	_, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.bin", ContentBytes: []byte("x")})
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrTooLarge))
}

// A 40 MiB upload lands byte for byte against graphtest's defaults (Graph
// as documented) and against each other shape seen in the wild.
func TestUpload40MiBEveryGraphShape(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 40 MiB uploads")
	}
	const size = 40 << 20
	for name, opts := range map[string]graphtest.Options{
		"documented defaults": {},
		"PascalCase answers":  {PascalCaseUploads: true},
		"open-ended ranges":   {UploadRanges: graphtest.RangesOpenEnded},
		"several ranges":      {UploadRanges: graphtest.RangesSeveral},
		"gv1.0 upload path":   {UploadPathVersion: "gv1.0"},
		"gbeta upload path":   {UploadPathVersion: "gbeta"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts.MaxBodyRecorded = -1
			srv, c := newUploadServer(t, &opts)
			srv.Me().AddEvent("e1")
			content, sum := hashedContent(size)
			att, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{Name: "big.bin", Content: content, Size: size})
			require.NoError(t, err)
			stored := srv.Attachments("me", "e1")
			require.Equal(t, 1, len(stored))
			assert.Equal(t, stored[0].ID, att.ID)
			assert.Equal(t, sum(), sha256.Sum256(stored[0].Content), "sha256 of the stored bytes")
			_, puts := uploadRequests(t, srv)
			assert.Len(t, puts, (size+DefaultChunkSize-1)/DefaultChunkSize, "no chunk sent twice")
		})
	}
}

// Over the mailbox's upload budget (150 MB per 5 minutes, scaled down
// here), Graph answers 429 "…over its IncomingBytes limit." with a decimal
// Retry-After: the upload waits it out and lands.
func TestUploadWaitsOutTheByteBudget(t *testing.T) {
	t.Parallel()
	const size = 10 << 20
	srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1, UploadByteLimit: 6 << 20, UploadByteWindow: 300 * time.Millisecond, ThrottleRetryAfter: "0.249"})
	srv.Me().AddEvent("e1")
	content, sum := hashedContent(size)
	_, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{Name: "big.bin", Content: content, Size: size})
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Equal(t, 1, len(stored))
	assert.Equal(t, sum(), sha256.Sum256(stored[0].Content))
	throttled := 0
	for _, r := range srv.Requests() {
		if r.Status == http.StatusTooManyRequests {
			throttled++
		}
	}
	assert.Positive(t, throttled, "the budget was reached")
}

// The mailbox's maximum message size (an admin setting; 35 MB by default
// in Exchange Online) ends an upload mid-way: ErrTooLarge, session deleted.
func TestUploadOverMailboxMaximumAgainstGraphtest(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1, MaxMessageSize: 35_000_000})
	srv.Me().AddEvent("e1")
	_, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{Name: "big.bin", Content: newPattern(40 << 20), Size: 40 << 20})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), "maximum message size")
	reqs := srv.Requests()
	assert.Equal(t, http.MethodDelete, reqs[len(reqs)-1].Method)
	assert.Empty(t, srv.Attachments("me", "e1"))
}
