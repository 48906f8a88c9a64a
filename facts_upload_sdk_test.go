package eventattach

// The SDK against the facts graphtest models since graphtest/facts_upload_test.go
// (upload host, error bodies, users and mailboxes, routes, chunk sizes).
// Each test asserts what a user of the SDK sees.

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// factsUpload is a FileUpload of size pattern bytes.
func factsUpload(name string, size int64) FileUpload {
	return FileUpload{Name: name, Content: newPattern(size), Size: size}
}

// TestFactsFreshSessionNotFoundOpensAnother: a chunk PUT right after
// createUploadSession can answer 404 ErrorItemNotFound while Exchange
// propagates the session; a new session fixed it for the user who saw it
// (Microsoft-Graph-SMTP-Relay PR#47). Upload opens one more session, once,
// whether the first session would have healed (one 404) or not.
func TestFactsFreshSessionNotFoundOpensAnother(t *testing.T) {
	t.Parallel()
	for _, puts := range []int{1, -1} {
		srv, c := newUploadServer(t, &graphtest.Options{FreshSessionNotFound: 1, FreshSessionNotFoundPUTs: puts})
		srv.Me().AddEvent("e")
		const size = 5 << 20
		_, err := c.Me().Events("e").Attachments().Upload(context.Background(), factsUpload("big.bin", size))
		require.NoError(t, err, "FreshSessionNotFoundPUTs=%d", puts)
		require.Len(t, srv.Attachments("me", "e"), 1)
		assert.Equal(t, 2, countGraph(srv, "POST"), "two sessions")
	}
	// Two fresh sessions in a row that answer 404: the error says so.
	srv, c := newUploadServer(t, &graphtest.Options{FreshSessionNotFound: 2, FreshSessionNotFoundPUTs: -1})
	srv.Me().AddEvent("e")
	_, err := c.Me().Events("e").Attachments().Upload(context.Background(), factsUpload("big.bin", 5<<20))
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Empty(t, srv.Attachments("me", "e"))
}

// TestFactsGatewayTimeoutWithEmptyMessageReads: a 504 UnknownError with an
// empty message and no Retry-After (microsoft-graph-docs#5288) reads as
// "graph: 504 Gateway Timeout: UnknownError [request-id=…]": the status
// says it all; fine as it is. GET is retried and gives it up after
// MaxRetries.
func TestFactsGatewayTimeoutWithEmptyMessageReads(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil, func(o *ClientOptions) { o.Retry.MaxRetries = 1 })
	srv.Me().AddEvent("e")
	srv.Inject(graphtest.Fault{Method: "GET", Times: -1, Status: http.StatusGatewayTimeout, Body: graphtest.FaultBodyUnknownError})
	_, err := c.Me().Events("e").Attachments().List(context.Background())
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, http.StatusGatewayTimeout, ge.StatusCode)
	assert.Equal(t, "UnknownError", ge.Code)
	assert.Equal(t, "", ge.Message)
	assert.NotEmpty(t, ge.RequestID)
	assert.Contains(t, err.Error(), "graph: 504 Gateway Timeout: UnknownError [request-id=")
	assert.Equal(t, 2, countGraph(srv, "GET"), "one retry")
}

// TestFactsEmptyBodyErrorReads: a 504 or 500 with no body at all reads
// "graph: 504 Gateway Timeout: (empty body) [request-id=…]" (the
// request-id from the header).
func TestFactsEmptyBodyErrorReads(t *testing.T) {
	t.Parallel()
	for _, st := range []int{http.StatusGatewayTimeout, http.StatusInternalServerError} {
		srv, c := newUploadServer(t, nil, func(o *ClientOptions) { o.Retry.MaxRetries = -1 })
		srv.Me().AddEvent("e")
		srv.Inject(graphtest.Fault{Method: "GET", Times: -1, Status: st, Body: graphtest.FaultBodyEmpty})
		_, err := c.Me().Events("e").Attachments().List(context.Background())
		var ge *GraphError
		require.ErrorAs(t, err, &ge)
		assert.Equal(t, st, ge.StatusCode)
		assert.Empty(t, ge.Code)
		assert.Empty(t, ge.Body)
		assert.NotEmpty(t, ge.RequestID, "from the request-id header")
		assert.Contains(t, err.Error(), ": (empty body) [request-id=")
	}
}

// TestFactsHTMLGatewayMessageReads: a 502 whose error.message is an Azure
// Application Gateway HTML page (microsoft-graph-docs#10791) reads as the
// page's title and the gateway's name; Body keeps the raw answer.
func TestFactsHTMLGatewayMessageReads(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil, func(o *ClientOptions) { o.Retry.MaxRetries = -1 })
	srv.Me().AddEvent("e")
	srv.Inject(graphtest.Fault{Method: "GET", Times: -1, Status: http.StatusBadGateway, Body: graphtest.FaultBodyHTMLGateway})
	_, err := c.Me().Events("e").Attachments().List(context.Background())
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "UnknownError", ge.Code)
	assert.Contains(t, err.Error(), `UnknownError: an HTML page titled "502 Bad Gateway" from Microsoft-Azure-Application-Gateway/v2 instead of Graph's error JSON [request-id=`)
	assert.NotContains(t, err.Error(), "<")
	assert.Contains(t, string(ge.Body), `\u003chtml\u003e`, "the raw body")
}

// TestFactsMailboxInfoStaleIsRetried: 503 MailboxInfoStale without
// innerError (microsoft-graph-explorer-v4#3143) is retried like any 503,
// also on a chunk PUT of the upload host; the upload completes.
func TestFactsMailboxInfoStaleIsRetried(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e")
	srv.Inject(
		graphtest.Fault{Method: "GET", Status: http.StatusServiceUnavailable, Code: "MailboxInfoStale", Body: graphtest.FaultBodyPlain},
		graphtest.Fault{Method: "PUT", Path: "/AttachmentSessions(", Status: http.StatusServiceUnavailable, Code: "MailboxInfoStale", Body: graphtest.FaultBodyPlain},
	)
	_, err := c.Me().Events("e").Attachments().List(context.Background())
	require.NoError(t, err)
	const size = 5 << 20
	att, err := c.Me().Events("e").Attachments().Upload(context.Background(), factsUpload("big.bin", size))
	require.NoError(t, err)
	require.NotNil(t, att)
	require.Len(t, srv.Attachments("me", "e"), 1)
}

// TestFactsChunkGatewayTimeoutIsReconciled: a 504 UnknownError with an
// empty message on a chunk PUT, before or after the chunk was stored,
// makes Upload ask the session (GET) and go on; no byte is sent twice
// once acknowledged.
func TestFactsChunkGatewayTimeoutIsReconciled(t *testing.T) {
	t.Parallel()
	for _, kind := range []graphtest.FaultKind{graphtest.FaultStatus, graphtest.FaultStatusAfterStore} {
		srv, c := newUploadServer(t, nil)
		srv.Me().AddEvent("e")
		srv.Inject(graphtest.Fault{Method: "PUT", Path: "/AttachmentSessions(", Kind: kind,
			Status: http.StatusGatewayTimeout, Body: graphtest.FaultBodyUnknownError})
		const size = 9 << 20
		_, err := c.Me().Events("e").Attachments().Upload(context.Background(), factsUpload("big.bin", size))
		require.NoError(t, err, "%v", kind)
		atts := srv.Attachments("me", "e")
		require.Len(t, atts, 1)
		assert.Len(t, atts[0].Content, size)
		_, puts := uploadRequests(t, srv)
		checkRanges(t, puts, size)
	}
}

// TestFactsDeleteInternalServerErrorIsRetried: DELETE of an attachment has
// answered 500 ErrorInternalServerError (microsoft-graph-explorer-v4#2943);
// Delete retries it and succeeds.
func TestFactsDeleteInternalServerErrorIsRetried(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e")
	a := c.Me().Events("e").Attachments()
	f, err := a.AddFile(context.Background(), &FileAttachment{Name: "menu.txt", ContentBytes: []byte("mac and cheese today")})
	require.NoError(t, err)
	srv.Inject(graphtest.Fault{Method: "DELETE", Status: http.StatusInternalServerError, Code: "ErrorInternalServerError", Body: graphtest.FaultBodyPlain})
	require.NoError(t, a.Delete(context.Background(), f.ID))
	assert.Empty(t, srv.Attachments("me", "e"))
}

// TestFactsDeleteLandedBehind500IsSuccess: when the DELETE that answered
// 500 had in fact deleted the attachment (a gateway failing after the
// backend succeeded), the retry answers 404: Delete reports success. A 404
// to a first attempt is still ErrNotFound.
func TestFactsDeleteLandedBehind500IsSuccess(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e")
	a := c.Me().Events("e").Attachments()
	f, err := a.AddFile(context.Background(), &FileAttachment{Name: "menu.txt", ContentBytes: []byte("mac and cheese today")})
	require.NoError(t, err)
	srv.Inject(graphtest.Fault{Method: "DELETE", Kind: graphtest.FaultStatusAfterStore, Status: http.StatusInternalServerError,
		Code: "ErrorInternalServerError", Body: graphtest.FaultBodyPlain})
	require.NoError(t, a.Delete(context.Background(), f.ID))
	assert.Empty(t, srv.Attachments("me", "e"), "it was deleted")
	assert.Equal(t, 2, countGraph(srv, "DELETE"))
	assert.ErrorIs(t, a.Delete(context.Background(), f.ID), ErrNotFound)
}

// TestFactsUnknownUserIsNotFound: an unknown user answers 404
// ErrorInvalidUser (microsoft-graph-docs#7909): errors.Is ErrNotFound, the
// code and Graph's message name the user. Fine.
func TestFactsUnknownUserIsNotFound(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	_, err := c.Users("nobody@contoso.com").Events("e").Attachments().List(context.Background())
	assert.ErrorIs(t, err, ErrNotFound)
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "ErrorInvalidUser", ge.Code)
	assert.Contains(t, err.Error(), "The requested user 'nobody@contoso.com' is invalid.")
	_, err = c.Users("nobody").Events("e").Attachments().Upload(context.Background(), factsUpload("big.bin", 5<<20))
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "ErrorInvalidUser", ge.Code)
	assert.Contains(t, err.Error(), "nobody@"+srv.TenantID())
}

// TestFactsUserWithoutMailboxIsErrNoMailbox: a user without a mailbox
// (unlicensed, guest, on-premises) answers 404 MailboxNotEnabledForRESTAPI:
// the error is ErrNoMailbox, and still ErrNotFound, so a caller can tell it
// from a wrong event id.
func TestFactsUserWithoutMailboxIsErrNoMailbox(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.UserWithoutMailbox("guest@fabrikam.com").AddEvent("e")
	_, err := c.Users("guest@fabrikam.com").Events("e").Attachments().AddFile(context.Background(),
		&FileAttachment{Name: "menu.txt", ContentBytes: []byte("mac and cheese today")})
	assert.ErrorIs(t, err, ErrNoMailbox)
	assert.ErrorIs(t, err, ErrNotFound)
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "MailboxNotEnabledForRESTAPI", ge.Code)
	_, err = c.Users("nobody@contoso.com").Events("e").Attachments().List(context.Background())
	assert.ErrorIs(t, err, ErrNotFound)
	assert.NotErrorIs(t, err, ErrNoMailbox, "an unknown user is not a user without a mailbox")
}

// TestFactsUploadUsesDocumentedSessionRoute: whatever route the event was
// addressed by, Upload opens its session on /me|users/{id}/events/{id}, the
// only documented routes (attachment-createuploadsession.md), and refuses
// group events before sending anything. Fine.
func TestFactsUploadUsesDocumentedSessionRoute(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("d")
	srv.Me().AddCalendar("cal").AddEvent("c")
	srv.Me().AddCalendarGroup("grp").AddCalendar("gcal").AddEvent("g")
	const size = 5 << 20
	for _, a := range []Attachments{
		c.Me().Calendar().Events("d").Attachments(),
		c.Me().Calendars("cal").Events("c").Attachments(),
		c.Me().CalendarGroups("grp").Calendars("gcal").Events("g").Attachments(),
	} {
		_, err := a.Upload(context.Background(), factsUpload("big.bin", size))
		require.NoError(t, err)
	}
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "/createUploadSession") {
			assert.Regexp(t, `^/v1\.0/me/events/[^/]+/attachments/createUploadSession$`, r.Path)
		}
	}
	_, err := c.Groups("team").Events("t").Attachments().Upload(context.Background(), factsUpload("big.bin", size))
	assert.ErrorIs(t, err, ErrInvalidInput)
}

// TestFactsChunkSizeNeedNotBe320KiB: Outlook's upload sessions take chunks
// of any size up to 4 MB (the 320 KiB rule is OneDrive's and SharePoint's;
// Microsoft's own JS sample for Outlook uses 1 MiB): a 1 MiB ChunkSize is
// sent as such.
func TestFactsChunkSizeNeedNotBe320KiB(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1})
	srv.Me().AddEvent("e")
	f := factsUpload("big.bin", 5<<20)
	f.ChunkSize = 1 << 20
	_, err := c.Me().Events("e").Attachments().Upload(context.Background(), f)
	require.NoError(t, err)
	_, puts := uploadRequests(t, srv)
	require.Len(t, puts, 5)
	assert.Equal(t, int64(1<<20), puts[0].bodySize)
}

// TestFactsChunksStayWithin4MiB: the SDK never sends a chunk over 4 MiB,
// the documented cap (what Outlook answers over it is unknown), and a
// larger ChunkSize is refused.
func TestFactsChunksStayWithin4MiB(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e")
	const size = 20 << 20
	_, err := c.Me().Events("e").Attachments().Upload(context.Background(), factsUpload("big.bin", size))
	require.NoError(t, err)
	_, puts := uploadRequests(t, srv) // asserts each PUT <= 4 MiB
	checkRanges(t, puts, size)
	f := factsUpload("big.bin", size)
	f.ChunkSize = 16 * ChunkSizeUnit // 5 MiB, the .NET and Java SDKs' default
	_, err = c.Me().Events("e").Attachments().Upload(context.Background(), f)
	assert.ErrorIs(t, err, ErrInvalidInput)
}

// TestFactsUploadHostErrorWithoutInnerErrorKeepsRequestID: the upload
// host's errors have no innerError; GraphError.RequestID then comes from the
// request-id header, and a 401's innerError (oAuthEventOperationId,
// requestId) does not confuse the parser.
func TestFactsUploadHostErrorWithoutInnerErrorKeepsRequestID(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, &graphtest.Options{MaxMessageSize: 4 << 20})
	srv.Me().AddEvent("e")
	_, err := c.Me().Events("e").Attachments().Upload(context.Background(), factsUpload("big.bin", 9<<20))
	assert.ErrorIs(t, err, ErrTooLarge)
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "ErrorMessageSizeExceeded", ge.Code)
	assert.NotContains(t, string(ge.Body), "innerError")
	assert.NotEmpty(t, ge.RequestID)
}

// countGraph counts the requests of a method on the Graph listener.
func countGraph(srv *graphtest.Server, method string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == method && r.Host != uploadHost(srv) {
			n++
		}
	}
	return n
}
