package eventattach

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Upload sessions: files from MaxAddSize up to MaxUploadSize go to Graph in
// chunks. The session is opened on the event's documented session route
// (/me/events/{id} or /users/{id}/events/{id}, whatever route built the
// event), the chunks are PUT in order to the pre-authenticated upload URL
// Graph returns, and the last one answers 201 with the attachment's id.
//
// What this file guarantees, and msgraph-sdk-go's LargeFileUploadTask does
// not: ctx is honoured everywhere and a cancelled or failed upload deletes
// its session; any io.Reader works and is streamed through one reused chunk
// buffer (nothing the size of the file is held); the bearer token never goes
// to the upload host; a failed chunk is retried with backoff, resuming from
// the server's nextExpectedRanges, so no byte is sent twice once the server
// has it and none is skipped; and the upload URL's authtoken appears in no
// log record and no error.

const (
	// ChunkSizeUnit is the granularity of upload chunks: Graph wants every
	// chunk but the last to be a multiple of 320 KiB.
	ChunkSizeUnit = 320 << 10
	// DefaultChunkSize is the chunk size Upload uses when FileUpload.ChunkSize
	// is 0: 3.75 MiB, the largest multiple of ChunkSizeUnit under Graph's
	// 4 MiB cap on one PUT.
	DefaultChunkSize = 12 * ChunkSizeUnit

	maxChunkSize        = 4 << 20
	defaultChunkTimeout = 2 * time.Minute
	// cancelTimeout bounds the DELETE of an abandoned session, which runs
	// after the caller's ctx is done.
	cancelTimeout = 10 * time.Second
	// maxSessionAnswer caps how much of a chunk or status answer is read.
	maxSessionAnswer = 64 << 10
	// uploadSelect is what Upload reads back about the created attachment.
	uploadSelect = "id,name,contentType,size,isInline,lastModifiedDateTime,contentId"
)

// FileUpload describes a file for Upload.
type FileUpload struct {
	Name        string
	ContentType string // "" lets Graph pick one from the name
	// Content is read exactly once, in order, as chunks are sent; any
	// io.Reader works (it need not seek). It must yield exactly Size bytes.
	Content   io.Reader
	Size      int64 // required, exact
	IsInline  bool
	ContentID string
	// Progress, when set, is called after each chunk with the bytes Graph
	// has acknowledged so far, on the goroutine that called Upload.
	Progress func(sent, total int64)
	// ChunkSize is the bytes per PUT of an upload session: a positive
	// multiple of ChunkSizeUnit (320 KiB) up to 4 MiB. 0 means
	// DefaultChunkSize (3.75 MiB). Upload holds one buffer of this size.
	ChunkSize int
	// ChunkTimeout bounds each request to the upload URL (a stalled chunk
	// is then retried like a reset); 0 means 2 minutes.
	ChunkTimeout time.Duration
	// SessionThreshold is the size from which Upload opens an upload session
	// instead of one POST: 0 means MaxAddSize, and it may be lower (1 up to
	// MaxAddSize). Graph refuses sessions under its own floor (3 MB
	// documented) with ErrorAttachmentSizeShouldNotBeLessThanMinimumSize;
	// Upload then sends the file in one POST.
	SessionThreshold int64
}

// codeBelowSessionMinimum is createUploadSession's answer for a file under
// Graph's floor for sessions (attachment-createuploadsession.md).
const codeBelowSessionMinimum = "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"

// Upload attaches a file of any size up to MaxUploadSize (150 MiB) to the
// event and returns the created attachment's metadata (no ContentBytes).
//
// Under f.SessionThreshold (MaxAddSize by default) it reads the content and
// POSTs it like AddFile. From there on it opens an upload session, POST
// {/me|/users/{id}}/events/{id}/attachments/createUploadSession, and PUTs
// the content in chunks of f.ChunkSize to the upload URL Graph returns,
// without the bearer token (the URL is pre-authenticated). A chunk that fails
// (429, 5xx, a reset, a timeout) is retried with backoff up to the client's
// RetryOptions.MaxRetries times, resuming from what the session reports it
// holds. When ctx is done or the upload fails, the session is deleted and
// the cause returned (errors.Is(err, context.Canceled) holds after a cancel).
// The final chunk's Location names the attachment, whose metadata is then
// read with GET {route}/attachments/{id}?$select=... (if that read fails, the
// result holds what the upload knows: id, name, size, type).
//
// Errors before any request: f.Size over MaxUploadSize is ErrTooLarge; a nil
// Content, a negative Size, an empty Name, a bad ChunkSize or an invalid id
// is ErrInvalidInput, and so is an upload session on a group event (Graph
// documents sessions for user mailboxes only). Content that ends before Size
// bytes or goes on after them is ErrInvalidInput too, and nothing is created.
// Graph's answers are *GraphError.
func (a Attachments) Upload(ctx context.Context, f FileUpload) (*FileAttachment, error) {
	if err := checkUpload(&f); err != nil {
		return nil, err
	}
	if _, err := a.r.path(); err != nil {
		return nil, err
	}
	if f.Size < f.SessionThreshold {
		return a.uploadSmall(ctx, f)
	}
	sessionURL, err := a.sessionURL()
	if err != nil {
		return nil, err
	}
	u := &uploader{
		a:       a,
		c:       a.r.c,
		f:       f,
		mailbox: a.r.mailbox(),
		started: time.Now(),
	}
	att, err := u.run(ctx, sessionURL)
	var ge *GraphError
	if errors.As(err, &ge) && ge.Code == codeBelowSessionMinimum && u.url == "" && f.Size < MaxAddSize {
		// Graph's floor for sessions (3 MB documented, 2 MiB measured) is
		// above this file, which fits one POST: nothing was created yet.
		return a.uploadSmall(ctx, f)
	}
	if err != nil {
		return nil, u.scrub(err)
	}
	return att, nil
}

// checkUpload validates f and fills in the defaults.
func checkUpload(f *FileUpload) error {
	switch {
	case f.Content == nil:
		return invalidInput("upload content is nil")
	case f.Size < 0:
		return invalidInput("upload size %d is negative", f.Size)
	case f.Size > MaxUploadSize:
		return tooLarge("the file", f.Size, MaxUploadSize, "")
	case f.Name == "":
		return invalidInput("upload needs a name")
	case f.ChunkSize < 0 || f.ChunkSize > maxChunkSize || f.ChunkSize%ChunkSizeUnit != 0:
		return invalidInput("ChunkSize %d must be a positive multiple of 320 KiB (%d bytes) up to 4 MiB", f.ChunkSize, ChunkSizeUnit)
	case f.ChunkTimeout < 0:
		return invalidInput("ChunkTimeout %s is negative", f.ChunkTimeout)
	case f.SessionThreshold < 0 || f.SessionThreshold > MaxAddSize:
		return invalidInput("SessionThreshold %d must be between 1 and MaxAddSize (%d), or 0 for MaxAddSize", f.SessionThreshold, MaxAddSize)
	}
	if f.SessionThreshold == 0 {
		f.SessionThreshold = MaxAddSize
	}
	if f.ChunkSize == 0 {
		f.ChunkSize = DefaultChunkSize
	}
	if f.ChunkTimeout == 0 {
		f.ChunkTimeout = defaultChunkTimeout
	}
	return nil
}

// uploadSmall reads content under MaxAddSize and posts it with AddFile.
func (a Attachments) uploadSmall(ctx context.Context, f FileUpload) (*FileAttachment, error) {
	buf := make([]byte, f.Size)
	if n, err := readFull(ctx, f.Content, buf); err != nil {
		return nil, contentError(err, int64(n), f.Size)
	}
	if err := checkContentEnd(ctx, f.Content, f.Size); err != nil {
		return nil, err
	}
	out, err := a.AddFile(ctx, &FileAttachment{Name: f.Name, ContentType: f.ContentType, IsInline: f.IsInline, ContentID: f.ContentID, ContentBytes: buf})
	if err != nil {
		return nil, err
	}
	out.ContentBytes = nil
	if f.Progress != nil {
		f.Progress(f.Size, f.Size)
	}
	return out, nil
}

// readFull is io.ReadFull that gives up when ctx ends: a Content reader
// that blocks (a pipe, a stalled network stream) must not hold an upload,
// and its session, past the caller's deadline. The abandoned read goes on
// in the background into buf, which the caller then drops.
func readFull(ctx context.Context, r io.Reader, buf []byte) (int, error) {
	if ctx.Done() == nil {
		return io.ReadFull(r, buf)
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := io.ReadFull(r, buf)
		done <- result{n, err}
	}()
	select {
	case res := <-done:
		return res.n, res.err
	case <-ctx.Done():
		return 0, fmt.Errorf("eventattach: reading upload content: %w", ctx.Err())
	}
}

// contentError explains a read of FileUpload.Content that stopped early.
func contentError(err error, got, size int64) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return invalidInput("upload content ended after %d bytes, but Size is %d", got, size)
	}
	return fmt.Errorf("eventattach: reading upload content at byte %d: %w", got, err)
}

// checkContentEnd makes sure the content has nothing after its Size bytes.
func checkContentEnd(ctx context.Context, r io.Reader, size int64) error {
	var one [1]byte
	switch _, err := readFull(ctx, r, one[:]); {
	case err == nil:
		return invalidInput("upload content has more than Size (%d) bytes", size)
	case errors.Is(err, io.EOF):
		return nil
	default:
		return fmt.Errorf("eventattach: reading upload content at byte %d: %w", size, err)
	}
}

// sessionURL is the documented createUploadSession route of the event's
// mailbox: /me/events/{id}/... or /users/{id}/events/{id}/..., whichever
// calendar or calendar group the event was reached through.
func (a Attachments) sessionURL() (string, error) {
	if a.r.owner == ownerGroup {
		return "", invalidInput("upload sessions are not available for group events (Graph documents them for /me and /users only); files on group events must be under %d bytes", MaxAddSize)
	}
	r := route{c: a.r.c, owner: a.r.owner, ownerID: a.r.ownerID}.with(segEvents, a.r.eventID()).with(segAttachments)
	p, err := r.path()
	if err != nil {
		return "", err
	}
	return a.r.c.base + p + "/createUploadSession", nil
}

// Wire shapes of the session.

type createSessionJSON struct {
	AttachmentItem attachmentItemJSON `json:"AttachmentItem"`
}

type attachmentItemJSON struct {
	AttachmentType string `json:"attachmentType"`
	Name           string `json:"name"`
	Size           int64  `json:"size"`
	ContentType    string `json:"contentType,omitempty"`
	IsInline       bool   `json:"isInline"`
	ContentID      string `json:"contentId,omitempty"`
}

// sessionJSON is the createUploadSession answer, a chunk's 200 and the
// session's status. encoding/json matches names case-insensitively, so the
// PascalCase answers of some clouds decode too.
type sessionJSON struct {
	UploadURL          string   `json:"uploadUrl"`
	ExpirationDateTime string   `json:"expirationDateTime"`
	NextExpectedRanges []string `json:"nextExpectedRanges"`
}

// uploader is one upload session in progress.
type uploader struct {
	a       Attachments
	c       *Client
	f       FileUpload
	mailbox string
	started time.Time

	url     string       // the upload URL, used exactly as Graph gave it
	secrets []string     // its query values, kept out of errors
	hc      *http.Client // the client's transport, never following redirects

	buf      []byte // one chunk, reused
	bufStart int64  // file offset of buf[0]
	bufLen   int    // bytes of buf holding content
	offset   int64  // the next byte the session expects
	sentLast bool   // a PUT carrying the final byte has been sent
	// bodies are closed by net/http when it is done reading a PUT's bytes
	// from buf, which may be after the answer arrived: buf is refilled only
	// once every one of them is closed.
	bodies []chan struct{}
	digest hash.Hash // sha256 of the content read so far
}

func (u *uploader) bufEnd() int64 { return u.bufStart + int64(u.bufLen) }

func (u *uploader) run(ctx context.Context, sessionURL string) (*FileAttachment, error) {
	if err := u.open(ctx, sessionURL); err != nil {
		return nil, err
	}
	att, err := u.send(ctx)
	if err != nil && u.sentLast && ctx.Err() != nil {
		// ctx ended after the last chunk went out: it may have completed the
		// attachment. Look (for a few seconds of grace) before reporting a
		// failure the caller would retry into a duplicate.
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dedupeGrace)
		defer cancel()
		found, ferr := u.findCreated(gctx, err)
		switch {
		case ferr == nil:
			return found, nil
		case errors.Is(ferr, ErrOutcomeUnknown):
			return nil, ferr
		}
	}
	if err != nil {
		return nil, u.abandon(ctx, err)
	}
	return att, nil
}

// open creates the session. A POST that may have landed is simply sent
// again: an orphaned session holds nothing and expires on its own.
func (u *uploader) open(ctx context.Context, sessionURL string) error {
	payload, err := json.Marshal(createSessionJSON{attachmentItemJSON{
		AttachmentType: "file", Name: u.f.Name, Size: u.f.Size,
		ContentType: u.f.ContentType, IsInline: u.f.IsInline, ContentID: u.f.ContentID,
	}})
	if err != nil {
		return err
	}
	var sess sessionJSON
	cl := &call{
		method:      http.MethodPost,
		url:         sessionURL,
		mailbox:     u.mailbox,
		body:        func() (io.Reader, error) { return bytes.NewReader(payload), nil },
		bodyLen:     int64(len(payload)),
		contentType: "application/json",
		okStatus:    http.StatusCreated,
		decode: func(resp *http.Response) error {
			if err := json.NewDecoder(io.LimitReader(resp.Body, maxSessionAnswer)).Decode(&sess); err != nil {
				return fmt.Errorf("eventattach: decoding the upload session: %w", err)
			}
			return nil
		},
		dedupe: func(context.Context) (bool, error) { return false, nil },
	}
	if err := u.c.do(ctx, cl); err != nil {
		return err
	}
	if err := u.setURL(sess.UploadURL); err != nil {
		return err
	}
	u.buf = make([]byte, min(int64(u.f.ChunkSize), u.f.Size))
	u.digest = sha256.New()
	if len(sess.NextExpectedRanges) > 0 {
		next, _, err := u.nextExpected(sess.NextExpectedRanges)
		if err != nil {
			return u.abandon(ctx, err)
		}
		u.offset = next
	}
	u.log(ctx, slog.LevelDebug, "upload session opened", slog.Int64("size", u.f.Size), slog.Int("chunkSize", len(u.buf)))
	return nil
}

// setURL checks the upload URL: https, or http on loopback when the client
// itself talks to a loopback server (graphtest). Its query values are
// secrets from now on.
func (u *uploader) setURL(raw string) error {
	if raw == "" {
		return errors.New("eventattach: the upload session has no uploadUrl")
	}
	p, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("eventattach: the upload URL %s does not parse", redact(raw))
	}
	for _, vs := range p.Query() {
		for _, v := range vs {
			if len(v) >= 4 {
				u.secrets = append(u.secrets, v, url.QueryEscape(v))
			}
		}
	}
	if p.RawQuery != "" {
		u.secrets = append(u.secrets, p.RawQuery)
	}
	switch {
	case p.Host == "" || p.User != nil:
		return fmt.Errorf("eventattach: refusing upload URL %s: it needs a host and no user info", redact(raw))
	case p.Scheme == "https":
	case p.Scheme == "http" && u.c.loopback && isLoopback(p.Hostname()):
	default:
		return fmt.Errorf("eventattach: refusing upload URL %s: it must be https", redact(raw))
	}
	u.url = raw
	hc := *u.c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u.hc = &hc
	return nil
}

// chunkResult is how one attempt at the upload URL ended.
type chunkResult int

const (
	resAcked   chunkResult = iota // 200 with nextExpectedRanges
	resCreated                    // 201: the attachment exists
	resRetry                      // 429 or 503: not processed, send again after the wait
	resUnsure                     // reset, timeout, other 5xx, 416, odd answer: ask the session
	resGone                       // 404: the session is over (done, expired or deleted)
	resFatal                      // anything else
)

// attempt is one request to the upload URL and what came of it.
type attempt struct {
	res        chunkResult
	sess       sessionJSON
	location   string
	retryAfter time.Duration
	hasRA      bool
	err        error
}

// send uploads the chunks and returns the created attachment.
func (u *uploader) send(ctx context.Context) (*FileAttachment, error) {
	maxRetries := u.c.retry.MaxRetries
	// A server that keeps taking a few bytes, or going back, would reset
	// the per-chunk count forever: the whole upload has a budget too.
	chunks := int(u.f.Size/int64(len(u.buf))) + 1
	budget := 4*chunks*(maxRetries+1) + 16
	failures := 0
	unsure := false
	var last attempt
	for requests := 0; ; requests++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if failures > maxRetries {
			return nil, u.giveUp(failures, last.err)
		}
		if requests > budget {
			return nil, fmt.Errorf("eventattach: uploading %q: no end after %d requests to the upload URL (at byte %d of %d)", u.f.Name, requests, u.offset, u.f.Size)
		}
		if failures > 0 {
			if err := u.wait(ctx, failures, last); err != nil {
				return nil, err
			}
		}
		if unsure {
			// The last chunk may or may not have landed: the session knows.
			st := u.request(ctx, http.MethodGet, 0, 0)
			switch st.res {
			case resAcked:
				unsure = false
				if len(st.sess.NextExpectedRanges) == 0 && u.sentLast {
					// Nothing more expected: the final chunk completed it.
					return u.findCreated(ctx, errors.New("eventattach: the upload session expects no more bytes but sent no Location"))
				}
				if err := u.advance(ctx, st.sess.NextExpectedRanges, &failures); err != nil {
					return nil, err
				}
			case resGone:
				if u.sentLast {
					return u.findCreated(ctx, st.err)
				}
				return nil, u.failed(st.err)
			case resFatal:
				return nil, u.failed(st.err)
			default:
				failures++
				last = st
			}
			continue
		}
		if u.offset == u.bufEnd() && u.offset < u.f.Size {
			if err := u.fill(ctx); err != nil {
				return nil, err
			}
		}
		from, to := u.offset, u.bufEnd()
		at := u.request(ctx, http.MethodPut, from, to)
		if to == u.f.Size {
			u.sentLast = true
		}
		switch at.res {
		case resCreated:
			if to != u.f.Size {
				return nil, fmt.Errorf("eventattach: the upload session completed at byte %d of %d", to, u.f.Size)
			}
			u.offset = to
			u.progress()
			return u.created(ctx, at.location)
		case resAcked:
			if err := u.advance(ctx, at.sess.NextExpectedRanges, &failures); err != nil {
				if len(at.sess.NextExpectedRanges) == 0 {
					// A 200 without ranges: ask the session instead.
					failures++
					unsure, last = true, attempt{err: err}
					continue
				}
				return nil, err
			}
			if u.offset == from {
				failures++
				last = attempt{err: fmt.Errorf("eventattach: the upload session took none of bytes %d-%d", from, to-1)}
			}
		case resRetry:
			failures++
			last = at
		case resUnsure:
			failures++
			unsure, last = true, at
			u.log(ctx, slog.LevelWarn, "upload chunk failed; asking the session what it holds",
				slog.Int64("from", from), slog.Int64("to", to-1), slog.String("error", u.scrubString(at.err.Error())))
		case resGone:
			if u.sentLast && to == u.f.Size {
				return u.findCreated(ctx, at.err)
			}
			return nil, u.failed(at.err)
		default:
			return nil, u.failed(at.err)
		}
	}
}

// fill reads the next chunk of content into the buffer, once no earlier PUT
// can still be reading it; after the last one it checks that the content
// ends there.
func (u *uploader) fill(ctx context.Context) error {
	for _, done := range u.bodies {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	u.bodies = u.bodies[:0]
	u.bufStart, u.bufLen = u.bufEnd(), 0
	n := min(int64(len(u.buf)), u.f.Size-u.bufStart)
	got, err := readFull(ctx, u.f.Content, u.buf[:n])
	u.bufLen = got
	u.digest.Write(u.buf[:got])
	if err != nil {
		return contentError(err, u.bufStart+int64(got), u.f.Size)
	}
	if u.bufEnd() == u.f.Size {
		return checkContentEnd(ctx, u.f.Content, u.f.Size)
	}
	return nil
}

// advance moves the offset to where the session's ranges say it expects
// the next byte, and reports progress.
func (u *uploader) advance(ctx context.Context, ranges []string, failures *int) error {
	next, _, err := u.nextExpected(ranges)
	if err != nil {
		return err
	}
	if next < u.offset {
		u.log(ctx, slog.LevelWarn, "upload session went back; resending from its offset", slog.Int64("from", next), slog.Int64("had", u.offset))
	}
	if next > u.offset {
		*failures = 0
	}
	moved := next != u.offset
	u.offset = next
	if moved {
		u.progress()
	}
	return nil
}

// nextExpected reads the first missing byte from nextExpectedRanges (the
// lowest start of its entries, see parseRange) and checks it is a byte Upload can send: not one it has already
// dropped from its buffer, nor one it has not sent yet.
func (u *uploader) nextExpected(ranges []string) (int64, int64, error) {
	if len(ranges) == 0 {
		return 0, 0, errors.New("eventattach: the upload session answered without nextExpectedRanges")
	}
	start, end := int64(-1), int64(-1)
	for _, r := range ranges {
		a, b, err := parseRange(r, u.f.Size)
		if err != nil {
			return 0, 0, err
		}
		if start < 0 || a < start {
			start, end = a, b
		}
	}
	switch {
	case start > u.bufEnd():
		return 0, 0, fmt.Errorf("eventattach: the upload session expects byte %d, but only %d were sent", start, u.bufEnd())
	case start < u.bufStart:
		return 0, 0, fmt.Errorf("eventattach: the upload session lost bytes it had acknowledged: it expects byte %d, and Content cannot go back before byte %d", start, u.bufStart)
	}
	return start, end, nil
}

// parseRange reads one entry of nextExpectedRanges for a file of size bytes:
// "N" (from N to the end: what Outlook sends, resources/uploadsession.md),
// "N-" (the same, as OneDrive writes it) or "N-M" (bytes N to M inclusive).
// It returns the half-open range [a, b).
func parseRange(r string, size int64) (int64, int64, error) {
	as, bs, _ := strings.Cut(strings.TrimSpace(r), "-")
	a, err := strconv.ParseInt(as, 10, 64)
	if err != nil || a < 0 || a >= size {
		return 0, 0, fmt.Errorf("eventattach: the upload session sent an invalid range %q", r)
	}
	if bs == "" {
		return a, size, nil
	}
	b, err := strconv.ParseInt(bs, 10, 64)
	if err != nil || b < a || b >= size {
		return 0, 0, fmt.Errorf("eventattach: the upload session sent an invalid range %q", r)
	}
	return a, b + 1, nil
}

func (u *uploader) progress() {
	if u.f.Progress != nil {
		u.f.Progress(u.offset, u.f.Size)
	}
}

// wait sleeps before the next attempt: Retry-After when the server sent one
// (a longer one than RetryOptions.MaxDelay ends the upload), else backoff.
func (u *uploader) wait(ctx context.Context, failures int, last attempt) error {
	d := backoff(u.c.retry.BaseDelay, u.c.retry.MaxDelay, failures-1)
	if last.hasRA {
		if last.retryAfter > u.c.retry.MaxDelay {
			return fmt.Errorf("eventattach: upload not retried: Retry-After %s is longer than RetryOptions.MaxDelay: %w", last.retryAfter, last.err)
		}
		d = last.retryAfter
	}
	if dl, ok := ctx.Deadline(); ok && time.Now().Add(d).After(dl) {
		return fmt.Errorf("eventattach: upload not retried: the next wait (%s) would outlast the context deadline: %w", d.Round(time.Millisecond), last.err)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (u *uploader) giveUp(failures int, err error) error {
	if err == nil {
		err = errors.New("no answer")
	}
	return fmt.Errorf("eventattach: uploading %q: failed at byte %d of %d after %d attempts: %w", u.f.Name, u.offset, u.f.Size, failures, err)
}

// failed prefixes an error of the upload URL with the upload it ended.
func (u *uploader) failed(err error) error {
	return fmt.Errorf("eventattach: uploading %q: %w", u.f.Name, err)
}

// origin is the upload URL's scheme://host, all errors show of it.
func (u *uploader) origin() string {
	if p, err := url.Parse(u.url); err == nil {
		return "upload URL " + p.Scheme + "://" + p.Host
	}
	return "upload URL"
}

// request sends one PUT of buf's bytes [from, to) of the file, or a GET or
// DELETE of the session, to the upload URL without any Authorization
// header, and classifies the answer.
func (u *uploader) request(ctx context.Context, method string, from, to int64) attempt {
	var body io.Reader
	if method == http.MethodPut {
		done := make(chan struct{})
		u.bodies = append(u.bodies, done)
		body = &chunkBody{Reader: bytes.NewReader(u.buf[from-u.bufStart : to-u.bufStart]), done: done}
	}
	ctx, cancel := context.WithTimeout(ctx, u.f.ChunkTimeout)
	defer cancel()
	cl := &call{c: u.c, method: method, url: u.url, mailbox: u.mailbox, noAuth: true, clientRequestID: uuid.NewString()}
	req, err := http.NewRequestWithContext(context.WithValue(ctx, callKey{}, cl), method, u.url, body)
	if err != nil {
		if c, ok := body.(io.Closer); ok {
			c.Close()
		}
		return attempt{res: resFatal, err: fmt.Errorf("eventattach: building a request to the upload URL: %w", stripURL(err))}
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("client-request-id", cl.clientRequestID)
	if method == http.MethodPut {
		req.ContentLength = to - from
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to-1, u.f.Size))
	} else if method == http.MethodGet {
		req.Header.Set("Accept", "application/json")
	}
	what := method + " " + u.origin()
	if method == http.MethodPut {
		what = fmt.Sprintf("PUT bytes %d-%d/%d to %s", from, to-1, u.f.Size, u.origin())
	}
	resp, err := u.hc.Do(req)
	if err != nil {
		// A reset, a refused connection or a timeout of this attempt. The
		// url.Error is unwrapped: it repeats the URL, query included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return attempt{res: resUnsure, err: fmt.Errorf("%s: %w", what, err)}
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxSessionAnswer))
	switch st := resp.StatusCode; {
	case st == http.StatusCreated && method == http.MethodPut:
		return attempt{res: resCreated, location: resp.Header.Get("Location")}
	case st >= 200 && st < 300:
		if method != http.MethodGet && method != http.MethodPut {
			return attempt{res: resAcked}
		}
		var sess sessionJSON
		if rerr == nil {
			rerr = json.Unmarshal(raw, &sess)
		}
		if rerr != nil {
			// Cut off or garbled: the chunk may have landed.
			return attempt{res: resUnsure, err: fmt.Errorf("%s: reading the answer: %w", what, rerr)}
		}
		return attempt{res: resAcked, sess: sess, err: fmt.Errorf("%s: answered %d", what, st)}
	}
	ge := parseGraphError(resp.StatusCode, resp.Header, raw, cl.clientRequestID)
	u.scrubGraphError(ge)
	at := attempt{err: fmt.Errorf("%s: %w", what, ge), retryAfter: ge.RetryAfter, hasRA: resp.Header.Get("Retry-After") != ""}
	switch st := resp.StatusCode; {
	case ge.Code == codeMessageSizeExceeded:
		// The mailbox's maximum message size (35 MB by default in Exchange
		// Online, set by its admins) is reached mid-upload: no retry helps.
		at.res = resFatal
		at.err = fmt.Errorf("%w: the mailbox refused the file after %d of its %d bytes: it exceeds the mailbox's maximum message size (Exchange Online's default is 35 MB; an admin can raise it): %s: %w",
			ErrTooLarge, from, u.f.Size, what, ge)
	case st == http.StatusUnauthorized:
		// The upload URL carries its own authtoken and takes no bearer token:
		// a 401 means that URL expired or the request went to the wrong host.
		at.res = resFatal
		at.err = fmt.Errorf("%s: the upload URL refused the request (it expired, or it is not the URL Graph returned); start the upload again: %w", what, ge)
	case st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable:
		at.res = resRetry
	case st == http.StatusRequestedRangeNotSatisfiable || st == http.StatusRequestTimeout ||
		(st >= 500 && st != http.StatusNotImplemented && st != http.StatusHTTPVersionNotSupported):
		at.res = resUnsure
	case st == http.StatusNotFound:
		at.res = resGone
	default:
		at.res = resFatal
	}
	return at
}

// chunkBody is a PUT's body over the shared buffer; net/http closes it when
// it has stopped reading, which fill waits for.
type chunkBody struct {
	*bytes.Reader
	done chan struct{}
	once sync.Once
}

func (b *chunkBody) Close() error {
	b.once.Do(func() { close(b.done) })
	return nil
}

// created builds the result from the final 201: the id from its Location,
// the metadata from a GET of the attachment on the caller's route (what the
// upload knows when that fails: the attachment exists either way).
func (u *uploader) created(ctx context.Context, location string) (*FileAttachment, error) {
	id, ok := attachmentIDFromLocation(location)
	if !ok {
		// No usable Location: find the attachment the way a lost 201 is found.
		return u.findCreated(ctx, errors.New("eventattach: the final chunk's answer has no Location naming the attachment"))
	}
	known := &FileAttachment{ID: id, Name: u.f.Name, ContentType: u.f.ContentType, Size: u.f.Size, IsInline: u.f.IsInline, ContentID: u.f.ContentID}
	path, err := u.a.r.path(id)
	if err != nil {
		return known, nil
	}
	var got FileAttachment
	err = u.c.do(ctx, &call{
		method:   http.MethodGet,
		url:      u.c.base + path + "?$select=" + uploadSelect,
		mailbox:  u.mailbox,
		okStatus: http.StatusOK,
		decode: func(resp *http.Response) error {
			return json.NewDecoder(io.LimitReader(resp.Body, maxSessionAnswer)).Decode(&got)
		},
	})
	if err != nil || got.ID == "" {
		u.log(ctx, slog.LevelDebug, "reading the uploaded attachment's metadata failed; returning what the upload knows")
		return known, nil
	}
	return &got, nil
}

// findCreated looks for the attachment when the session ended without a
// readable 201 (the answer to the last chunk was lost), by the package
// doc's Duplicate check: this upload's name, flags and bytes (length and
// sha256 through $value). Graph's reported size is never compared: it is
// not the byte count.
func (u *uploader) findCreated(ctx context.Context, cause error) (*FileAttachment, error) {
	sent := sentFile(u.f.Name, u.f.ContentType, u.f.IsInline, u.f.ContentID)
	sent.size, sent.sum = u.f.Size, u.digest.Sum(nil)
	att, err := u.a.findSent(ctx, sent, u.started)
	if err != nil {
		return nil, unknownOutcome(fmt.Sprintf("uploading %q: the last chunk was sent", u.f.Name), cause, err)
	}
	f, ok := att.(*FileAttachment)
	if !ok {
		return nil, fmt.Errorf("eventattach: the upload session ended but the attachment was not found: %w", cause)
	}
	u.offset = u.f.Size
	u.progress()
	return f, nil
}

// attachmentIDFromLocation reads the id from a Location ending in
// Attachments('{id}'), undoing path escaping and OData quote doubling.
func attachmentIDFromLocation(loc string) (string, bool) {
	if i := strings.IndexAny(loc, "?#"); i >= 0 {
		loc = loc[:i]
	}
	const key = "attachments('"
	i := strings.LastIndex(strings.ToLower(loc), key)
	if i < 0 || !strings.HasSuffix(loc, "')") {
		return "", false
	}
	raw := loc[i+len(key) : len(loc)-2]
	id, err := url.PathUnescape(raw)
	if err != nil || id == "" {
		return "", false
	}
	return strings.ReplaceAll(id, "''", "'"), true
}

// abandon deletes the session (with a short deadline of its own, since ctx
// may be done) and returns cause, noting a failed delete.
func (u *uploader) abandon(ctx context.Context, cause error) error {
	if ctx.Err() != nil && errors.Is(cause, ctx.Err()) {
		cause = fmt.Errorf("eventattach: upload of %q stopped after %d of %d bytes: %w", u.f.Name, u.offset, u.f.Size, ctx.Err())
	}
	if u.url == "" {
		return cause
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	for n := 1; ; n++ {
		at := u.request(dctx, http.MethodDelete, 0, 0)
		switch {
		case at.res == resAcked || at.res == resGone:
			u.log(ctx, slog.LevelDebug, "upload session deleted")
			return cause
		case (at.res == resRetry || at.res == resUnsure) && n < 3 && u.wait(dctx, n, at) == nil:
			continue
		}
		u.log(ctx, slog.LevelWarn, "deleting the upload session failed", slog.String("error", u.scrubString(at.err.Error())))
		return fmt.Errorf("%w (deleting the upload session failed: %v)", cause, at.err)
	}
}

// scrubGraphError removes the upload URL's secrets from every field of an
// error the upload host answered: it may echo its authtoken anywhere.
func (u *uploader) scrubGraphError(ge *GraphError) {
	for _, s := range u.secrets {
		for _, f := range []*string{&ge.Code, &ge.Message, &ge.RequestID, &ge.ClientRequestID} {
			*f = strings.ReplaceAll(*f, s, "…")
		}
		ge.Body = bytes.ReplaceAll(ge.Body, []byte(s), []byte("…"))
	}
}

func (u *uploader) scrubString(s string) string {
	for _, sec := range u.secrets {
		s = strings.ReplaceAll(s, sec, "…")
	}
	return s
}

// scrub is the last guard: an error whose text carries a secret of the
// upload URL is replaced by one with the secret cut out (still unwrapping to
// the original for errors.Is and errors.As).
func (u *uploader) scrub(err error) error {
	msg := err.Error()
	clean := u.scrubString(msg)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (u *uploader) log(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if u.c.logger == nil {
		return
	}
	attrs = append(attrs, slog.String("name", u.f.Name))
	if u.url != "" {
		attrs = append(attrs, slog.Int64("offset", u.offset))
	}
	u.c.logger.LogAttrs(ctx, level, msg, attrs...)
}
