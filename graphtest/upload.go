package graphtest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// MaxUploadSize is the largest attachment an upload session takes.
	MaxUploadSize = 150 << 20
	// MaxChunkSize is the largest chunk one PUT to an upload URL may carry
	// by default (Options.MaxChunkSize): 4 MiB, the docs' "up to 4 MB".
	MaxChunkSize = 4 << 20
)

// uploadSession is an attachment upload in progress.
type uploadSession struct {
	id, token string
	mb        *Mailbox
	ev        *event
	name      string
	ctype     string
	contentID string
	isInline  bool
	size      int64
	expires   time.Time

	// mu serialises the session's requests, so a concurrent chunk sees the
	// offset the previous one left; it guards buf and gone.
	mu   sync.Mutex
	buf  []byte // allocated once at the declared size, so chunks never copy
	gone bool   // completed or cancelled
	// notFoundPUTs is how many more PUTs answer 404 as if the session had
	// not reached the mailbox yet (Options.FreshSessionNotFound); <0: all.
	notFoundPUTs int
}

func sessionTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// createUploadSession is POST /me|users/{id}/events/{id}/attachments/createUploadSession.
func (s *Server) createUploadSession(c *call, mb *Mailbox, ev *event) {
	it, bad := s.parseAttachmentItem(c.r)
	if bad != nil {
		c.failBody(bad)
		return
	}
	// Source: GRAPH-FACTS.md, Recurring events (recur-3 [unknown]:
	// Options.OccurrenceWrites).
	if s.refuseOccurrenceWrite(c, ev) {
		return
	}
	tok := make([]byte, 24)
	rand.Read(tok)
	sess := &uploadSession{
		id:      newAttachmentID(), // Outlook-looking, '=' and all (concepts/outlook-large-attachments.md)
		token:   hex.EncodeToString(tok),
		mb:      mb,
		ev:      ev,
		expires: s.opts.Clock().Add(s.opts.UploadSessionTTL),
	}
	sess.name, sess.ctype, sess.contentID, sess.isInline, sess.size = it.name, it.ctype, it.contentID, it.isInline, it.size
	s.mu.Lock()
	s.sessions[sess.id] = sess
	s.created++
	if n := s.opts.FreshSessionNotFound; n < 0 || s.created <= n {
		sess.notFoundPUTs = s.opts.FreshSessionNotFoundPUTs
	}
	s.mu.Unlock()

	// Source: GRAPH-FACTS.md, Upload sessions (up-1; attachment-createuploadsession.md).
	c.writeJSON(http.StatusCreated, obj{
		{"@odata.context", s.URL() + "/$metadata#microsoft.graph.uploadSession"},
		{"uploadUrl", s.outlookEventURL(sess.mb, sess.ev) + "/" + quoteKey("AttachmentSessions", sess.id) + "?authtoken=" + sess.token},
		{"expirationDateTime", sessionTime(sess.expires)},
		{"nextExpectedRanges", []string{"0-"}},
	})
}

// outlookUser is the user key of Outlook's URLs: "{userId}@{tenantId}".
func (s *Server) outlookUser(mb *Mailbox) string { return mb.id + "@" + s.tenant }

// outlookEventURL is the event on the upload listener, as Outlook's upload
// URLs and Location headers name it:
// http://{uploadhost}/api/v2.0/Users('{userId}@{tenantId}')/Events('{eventId}')
// (concepts/outlook-large-attachments.md; version per Options.UploadPathVersion).
func (s *Server) outlookEventURL(mb *Mailbox, ev *event) string {
	return s.UploadURLBase() + "/api/" + s.opts.UploadPathVersion + "/" +
		quoteKey("Users", s.outlookUser(mb)) + "/" + quoteKey("Events", ev.id)
}

type attachmentItem struct {
	name, ctype, contentID string
	isInline               bool
	size                   int64
}

// parseAttachmentItem validates {"AttachmentItem":{...}} strictly.
func (s *Server) parseAttachmentItem(r *http.Request) (*attachmentItem, *badBody) {
	o, bad := s.readJSONObject(r)
	if bad != nil {
		return nil, bad
	}
	if bad := o.onlyKnown("microsoft.graph.createUploadSession", "AttachmentItem"); bad != nil {
		return nil, bad
	}
	item, _, bad := o.object("AttachmentItem")
	if bad != nil {
		return nil, bad
	}
	if item == nil {
		return nil, bodyErr("ErrorInvalidRequest", "The AttachmentItem parameter is required.")
	}
	if bad := item.onlyKnown("microsoft.graph.attachmentItem", "attachmentType", "name", "size", "contentType", "isInline", "contentId"); bad != nil {
		return nil, bad
	}
	it := &attachmentItem{}
	at, _, bad := item.str("attachmentType")
	if bad != nil {
		return nil, bad
	}
	switch at {
	case "file":
	case "item", "reference":
		// Source: GRAPH-FACTS.md, Upload sessions (up-17; microsoft-graph-docs-contrib#710).
		return nil, &badBody{status: http.StatusMethodNotAllowed, code: "ErrorAttachmentSessionIsSupportedOnlyForFileAttachments",
			msg: "Unsupported Attachment type specified. Only File attachments can be uploaded using an Upload Session."}
	default:
		return nil, bodyErr("ErrorInvalidRequest", "attachmentType must be 'file', got '%s'.", at)
	}
	var ok bool
	if it.name, ok, bad = item.str("name"); bad != nil {
		return nil, bad
	} else if !ok || it.name == "" {
		return nil, bodyErr("ErrorInvalidRequest", "The attachment's name is required.")
	}
	if it.size, ok, bad = item.integer("size"); bad != nil {
		return nil, bad
	} else if !ok || it.size <= 0 {
		return nil, bodyErr("ErrorInvalidRequest", "The attachment's size is required and must be positive.")
	}
	if it.size < s.opts.MinUploadSize {
		// Source: GRAPH-FACTS.md, Upload sessions (up-16;
		// concepts/outlook-large-attachments.md); status and floor are options.
		return nil, &badBody{status: s.opts.MinUploadSizeStatus, code: "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
			msg: fmt.Sprintf("Attachment size must be at least %d bytes for an upload session; add smaller attachments with POST .../attachments.", s.opts.MinUploadSize)}
	}
	if it.size > MaxUploadSize {
		return nil, &badBody{status: http.StatusRequestEntityTooLarge, code: "ErrorRequestEntityTooLarge",
			msg: fmt.Sprintf("Attachment size must be at most %d bytes.", MaxUploadSize)}
	}
	if it.ctype, _, bad = item.str("contentType"); bad != nil {
		return nil, bad
	}
	if it.isInline, bad = item.boolean("isInline"); bad != nil {
		return nil, bad
	}
	if it.contentID, _, bad = item.str("contentId"); bad != nil {
		return nil, bad
	}
	return it, nil
}

// handleUpload serves the upload listener: the pre-authenticated upload
// URLs of sessions.
func (s *Server) handleUpload(c *call) {
	if c.r.Header.Get("Authorization") != "" {
		// Source: GRAPH-FACTS.md, Upload sessions (up-7;
		// msgraph-sdk-java-core#445, msgraph-sdk-java#409).
		c.fail(http.StatusUnauthorized, s.opts.UploadAudienceErrorCode, s.audienceMessage(c))
		return
	}
	sess := s.findSession(c)
	if sess == nil {
		return
	}
	if !c.admit(sess.mb) {
		return
	}
	defer c.releaseSlot()
	if !c.wait() || !c.chargeRequest(sess.mb) {
		return
	}
	defer c.chargeRead(sess.mb)
	switch c.r.Method {
	case http.MethodPut:
		s.putChunk(c, sess)
	case http.MethodGet:
		if s.opts.UploadStatusUnsupported {
			// Source: GRAPH-FACTS.md, Upload sessions (up-21 [unknown]): whether GET returns the session's status.
			c.methodNotAllowed()
			return
		}
		sess.mu.Lock()
		defer sess.mu.Unlock()
		if sess.gone {
			c.fail(http.StatusNotFound, "ErrorItemNotFound", "The upload session does not exist.")
			return
		}
		c.writeJSON(http.StatusOK, s.sessionStatus(sess))
	case http.MethodDelete:
		// Source: GRAPH-FACTS.md, Upload sessions (up-15; concepts/outlook-large-attachments.md).
		s.endSession(sess)
		c.w.WriteHeader(http.StatusNoContent)
	default:
		c.methodNotAllowed()
	}
}

// audienceMessage is the 401's message for the configured code, as users
// quoted it.
func (s *Server) audienceMessage(c *call) string {
	if s.opts.UploadAudienceErrorCode == "InvalidAudienceForResource" {
		// msgraph-sdk-java#409, msgraph-sdk-dotnet#2239.
		return "The audience claim value is invalid for current resource. Audience claim is 'https://graph.microsoft.com/', request url is '" +
			s.UploadURLBase() + "' and resource type is 'Exchange'."
	}
	return "The audience claim value is invalid 'aud'." // msgraph-sdk-java-core#445
}

// findSession resolves
// /api/{version}/Users('{userId}@{tenantId}')/Events('{eventId}')/AttachmentSessions('{sessionId}')?authtoken={token},
// answering the error itself when it cannot. Names match case-insensitively
// (users('…')/events('…') was seen too, msgraph-sdk-java-core#445).
func (s *Server) findSession(c *call) *uploadSession {
	notFound := func(msg string) *uploadSession {
		c.fail(http.StatusNotFound, "ErrorItemNotFound", msg)
		return nil
	}
	segs, err := segments(c.r.URL.EscapedPath())
	if err != nil {
		return notFound("The upload session does not exist.")
	}
	p := &segReader{segs: segs}
	var user, eid, sid string
	ok := true
	for _, step := range []struct {
		name string
		id   *string
	}{{"api", nil}, {s.opts.UploadPathVersion, nil}, {"Users", &user}, {"Events", &eid}, {"AttachmentSessions", &sid}} {
		if _, ok = p.name(step.name); !ok {
			break
		}
		if step.id != nil {
			if *step.id, ok = p.id(); !ok {
				break
			}
		}
	}
	if !ok || !p.done() {
		return notFound("The upload session does not exist.")
	}
	s.mu.Lock()
	sess := s.sessions[sid]
	s.mu.Unlock()
	if sess == nil || !strings.EqualFold(s.outlookUser(sess.mb), user) || sess.ev.id != eid {
		return notFound("The upload session does not exist.")
	}
	tok := c.r.URL.Query().Get("authtoken")
	if subtle.ConstantTimeCompare([]byte(tok), []byte(sess.token)) != 1 {
		c.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", "The upload URL's authtoken is missing or wrong.")
		return nil
	}
	if !s.opts.Clock().Before(sess.expires) {
		s.endSession(sess)
		return notFound("The upload session has expired.")
	}
	return sess
}

// endSession forgets a session (cancelled, expired or completed).
func (s *Server) endSession(sess *uploadSession) {
	s.mu.Lock()
	delete(s.sessions, sess.id)
	s.mu.Unlock()
	// Waits for a chunk in progress, so it cannot complete the upload
	// after the session is gone.
	sess.mu.Lock()
	sess.gone = true
	sess.mu.Unlock()
}

// sessionStatus is the answer to a non-final chunk or a GET; call with
// sess.mu held. Source: GRAPH-FACTS.md, Upload sessions (up-9, up-13;
// concepts/outlook-large-attachments.md): @odata.context on the
// upload host, "ExpirationDateTime" (fixed at creation), "nextExpectedRanges".
func (s *Server) sessionStatus(sess *uploadSession) obj {
	ranges := "nextExpectedRanges"
	if s.opts.PascalCaseUploads {
		ranges = "NextExpectedRanges" // msgraph-sdk-dotnet#2092
	}
	ctx := s.UploadURLBase() + "/api/" + s.opts.UploadPathVersion + "/$metadata#Users('" + contextEscape(s.outlookUser(sess.mb)) +
		"')/Events('" + contextEscape(sess.ev.id) + "')/AttachmentSessions/$entity"
	return obj{
		{"@odata.context", ctx},
		{"ExpirationDateTime", sessionTime(sess.expires)},
		{ranges, s.nextRanges(int64(len(sess.buf)), sess.size)},
	}
}

// nextRanges writes what the session still expects, from byte next of size,
// per Options.UploadRanges. Source: GRAPH-FACTS.md, Upload sessions
// (up-11; resources/uploadsession.md).
func (s *Server) nextRanges(next, size int64) []string {
	switch s.opts.UploadRanges {
	case RangesOpenEnded:
		return []string{fmt.Sprintf("%d-", next)}
	case RangesSeveral:
		if size-next < 2 {
			return []string{fmt.Sprintf("%d-", next)}
		}
		mid := next + (size-next)/2
		return []string{fmt.Sprintf("%d-%d", next, mid-1), fmt.Sprintf("%d-", mid)}
	}
	return []string{strconv.FormatInt(next, 10)}
}

var contentRangeRE = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// putChunk takes one chunk, strictly in order, and stores the attachment
// after the last one.
func (s *Server) putChunk(c *call, sess *uploadSession) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.gone {
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The upload session does not exist.")
		return
	}
	if sess.notFoundPUTs != 0 {
		// Source: GRAPH-FACTS.md, Upload sessions (up-20; ggpwnkthx/Microsoft-Graph-SMTP-Relay PR#47 [user]).
		// Exchange had not propagated the fresh session yet.
		if sess.notFoundPUTs > 0 {
			sess.notFoundPUTs--
		}
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	if mt, _, err := mime.ParseMediaType(c.r.Header.Get("Content-Type")); err != nil || mt != "application/octet-stream" {
		c.fail(http.StatusBadRequest, "InvalidContentType", "Chunks must be sent as Content-Type: application/octet-stream.")
		return
	}
	cr := c.r.Header.Get("Content-Range")
	m := contentRangeRE.FindStringSubmatch(cr)
	if m == nil {
		c.fail(http.StatusBadRequest, "InvalidContentRange", "Content-Range must be 'bytes first-last/total', got '"+cr+"'.")
		return
	}
	first, err1 := strconv.ParseInt(m[1], 10, 64)
	last, err2 := strconv.ParseInt(m[2], 10, 64)
	total, err3 := strconv.ParseInt(m[3], 10, 64)
	next := int64(len(sess.buf))
	switch {
	case err1 != nil || err2 != nil || err3 != nil:
		c.fail(http.StatusBadRequest, "InvalidContentRange", "Content-Range numbers are out of range.")
	case total != sess.size:
		c.fail(http.StatusBadRequest, "InvalidContentRange",
			fmt.Sprintf("Content-Range total %d differs from the session's declared size %d.", total, sess.size))
	case last < first || last >= total:
		c.fail(http.StatusBadRequest, "InvalidContentRange", "Content-Range '"+cr+"' is not a valid range of the file.")
	case first != next:
		c.fail(http.StatusRequestedRangeNotSatisfiable, "InvalidRange",
			fmt.Sprintf("The chunk starts at byte %d but the session expects byte %d next.", first, next))
	case s.opts.MaxChunkSize > 0 && last-first+1 > s.opts.MaxChunkSize:
		// Source: GRAPH-FACTS.md, Chunk sizes (chunk-1, chunk-4; attachment-createuploadsession.md [doc]; the answer over it [unknown]).
		// "Up to 4 MB each time"; the answer is Options.ChunkTooLarge.
		c.failBody(s.tooLargeAs(s.opts.ChunkTooLarge))
	case c.r.ContentLength != last-first+1:
		c.fail(http.StatusBadRequest, "InvalidContentLength",
			fmt.Sprintf("Content-Length %d does not match Content-Range '%s'.", c.r.ContentLength, cr))
	case s.opts.MaxMessageSize > 0 && last+1 > s.opts.MaxMessageSize:
		// Source: GRAPH-FACTS.md, Upload sessions (up-18;
		// microsoft-graph-docs-contrib#2561). The chunk is not stored.
		c.fail(s.opts.MessageSizeExceededStatus, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
	default:
		s.storeChunk(c, sess, last-first+1)
	}
}

func (s *Server) storeChunk(c *call, sess *uploadSession, n int64) {
	if sess.buf == nil {
		sess.buf = make([]byte, 0, sess.size)
	}
	l := int64(len(sess.buf))
	if _, err := io.ReadFull(c.r.Body, sess.buf[l:l+n]); err != nil {
		c.fail(http.StatusBadRequest, "InvalidContentLength", "The chunk body ended early: "+err.Error())
		return
	}
	if c.partial {
		// FaultPartialChunk: the session keeps a part and asks for the rest.
		keep := c.keep
		if keep <= 0 || keep >= n {
			keep = n / 2
		}
		sess.buf = sess.buf[:l+keep]
		c.writeJSON(http.StatusOK, s.sessionStatus(sess))
		return
	}
	sess.buf = sess.buf[:l+n]
	if l+n < sess.size {
		c.writeJSON(http.StatusOK, s.sessionStatus(sess))
		return
	}

	a := &attachment{StoredAttachment: StoredAttachment{
		ID:                   newAttachmentID(),
		ODataType:            fileType,
		Name:                 sess.name,
		ContentType:          sess.ctype,
		ContentID:            sess.contentID,
		Size:                 fileAttachmentSize(sess.size),
		IsInline:             sess.isInline,
		LastModifiedDateTime: now(),
		Content:              sess.buf,
	}}
	if a.ContentType == "" {
		a.ContentType = contentTypeFor(a.Name)
	}
	sess.gone = true
	s.mu.Lock()
	delete(s.sessions, sess.id)
	addAttachmentLocked(sess.ev, a)
	s.mu.Unlock()
	// The last PUT answers 201 Created with Content-Length: 0 and
	// Location …/Attachments('{attachmentId}').
	// Source: GRAPH-FACTS.md, Upload sessions (up-14; concepts/outlook-large-attachments.md).
	c.w.Header().Set("Location", s.outlookEventURL(sess.mb, sess.ev)+"/"+quoteKey("Attachments", a.ID))
	c.w.Header().Set("Content-Length", "0")
	c.w.WriteHeader(http.StatusCreated)
}
