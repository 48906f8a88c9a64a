package graphtest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"
)

const (
	// MaxUploadSize is the largest attachment an upload session takes.
	MaxUploadSize = 150 << 20
	// MaxChunkSize is the largest chunk one PUT to an upload URL may carry.
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
}

func sessionTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// createUploadSession is POST /me|users/{id}/events/{id}/attachments/createUploadSession.
func (s *Server) createUploadSession(c *call, mb *Mailbox, ev *event) {
	it, bad := parseAttachmentItem(c.r)
	if bad != nil {
		c.fail(bad.status, bad.code, bad.msg)
		return
	}
	sid := make([]byte, 24)
	rand.Read(sid)
	tok := make([]byte, 24)
	rand.Read(tok)
	sess := &uploadSession{
		id:      base64.RawURLEncoding.EncodeToString(sid),
		token:   hex.EncodeToString(tok),
		mb:      mb,
		ev:      ev,
		expires: time.Now().Add(s.opts.UploadSessionTTL),
	}
	sess.name, sess.ctype, sess.contentID, sess.isInline, sess.size = it.name, it.ctype, it.contentID, it.isInline, it.size
	s.mu.Lock()
	s.sessions[sess.id] = sess
	s.mu.Unlock()

	uploadURL := s.UploadURLBase() + "/api/v2.0/" + quoteKey("Users", mb.id) + "/" + quoteKey("Events", ev.id) +
		"/" + quoteKey("AttachmentSessions", sess.id) + "?authtoken=" + sess.token
	c.writeJSON(http.StatusCreated, obj{
		{"@odata.context", s.URL() + "/$metadata#microsoft.graph.uploadSession"},
		{"uploadUrl", uploadURL},
		{"expirationDateTime", sessionTime(sess.expires)},
		{"nextExpectedRanges", []string{"0-"}},
	})
}

type attachmentItem struct {
	name, ctype, contentID string
	isInline               bool
	size                   int64
}

// parseAttachmentItem validates {"AttachmentItem":{...}} strictly.
func parseAttachmentItem(r *http.Request) (*attachmentItem, *badBody) {
	o, bad := readJSONObject(r)
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
	if at != "file" {
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
	if it.size < MaxAttachmentSize {
		return nil, bodyErr("ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
			"Attachment size must be at least %d bytes for an upload session; add smaller attachments with POST .../attachments.", MaxAttachmentSize)
	}
	if it.size > MaxUploadSize {
		return nil, &badBody{http.StatusRequestEntityTooLarge, "ErrorRequestEntityTooLarge",
			fmt.Sprintf("Attachment size must be at most %d bytes.", MaxUploadSize)}
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
		// The upload URL carries its own authtoken; a Graph token sent to
		// another host is a leak, and Outlook rejects it.
		c.fail(http.StatusUnauthorized, "InvalidAuthenticationToken",
			"Upload URLs are pre-authenticated: do not send an Authorization header.")
		return
	}
	sess := s.findSession(c)
	if sess == nil {
		return
	}
	if !s.acquire(sess.mb) {
		c.throttle()
		return
	}
	defer s.release(sess.mb)
	if !c.wait() {
		return
	}
	switch c.r.Method {
	case http.MethodPut:
		s.putChunk(c, sess)
	case http.MethodGet:
		sess.mu.Lock()
		defer sess.mu.Unlock()
		if sess.gone {
			c.fail(http.StatusNotFound, "ErrorItemNotFound", "The upload session does not exist.")
			return
		}
		c.writeJSON(http.StatusOK, s.sessionStatus(sess))
	case http.MethodDelete:
		s.endSession(sess)
		c.w.WriteHeader(http.StatusNoContent)
	default:
		c.methodNotAllowed()
	}
}

// findSession resolves /api/v2.0/Users('u')/Events('e')/AttachmentSessions('s')?authtoken=t,
// answering the error itself when it cannot.
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
	var uid, eid, sid string
	ok := true
	for _, step := range []struct {
		name string
		id   *string
	}{{"api", nil}, {"v2.0", nil}, {"Users", &uid}, {"Events", &eid}, {"AttachmentSessions", &sid}} {
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
	if sess == nil || sess.mb.id != uid || sess.ev.id != eid {
		return notFound("The upload session does not exist.")
	}
	tok := c.r.URL.Query().Get("authtoken")
	if subtle.ConstantTimeCompare([]byte(tok), []byte(sess.token)) != 1 {
		c.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", "The upload URL's authtoken is missing or wrong.")
		return nil
	}
	if !time.Now().Before(sess.expires) {
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
// sess.mu held.
func (s *Server) sessionStatus(sess *uploadSession) obj {
	exp, ranges := "expirationDateTime", "nextExpectedRanges"
	if s.opts.PascalCaseUploads {
		exp, ranges = "ExpirationDateTime", "NextExpectedRanges"
	}
	return obj{
		{exp, sessionTime(sess.expires)},
		{ranges, []string{strconv.Itoa(len(sess.buf)) + "-"}},
	}
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
	case last-first+1 > MaxChunkSize:
		c.fail(http.StatusBadRequest, "ErrorChunkTooLarge", fmt.Sprintf("A chunk may carry at most %d bytes.", MaxChunkSize))
	case c.r.ContentLength != last-first+1:
		c.fail(http.StatusBadRequest, "InvalidContentLength",
			fmt.Sprintf("Content-Length %d does not match Content-Range '%s'.", c.r.ContentLength, cr))
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
		Size:                 sess.size,
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
	sess.ev.atts = append(sess.ev.atts, a)
	s.mu.Unlock()
	c.w.Header().Set("Location", s.URL()+"/"+quoteKey("Users", sess.mb.id)+"/"+quoteKey("Events", sess.ev.id)+"/"+quoteKey("Attachments", a.ID))
	c.w.WriteHeader(http.StatusCreated)
}
