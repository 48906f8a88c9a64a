package eventattach

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/eventattach/eventattach/internal/pace"
)

// The uploader: the chunk loop of one upload, from the first byte (Upload)
// or a saved state (ResumeUpload) to the attachment.

// uploader is one upload session in progress. Every request it makes goes
// through the engine (send) with the upload's one client-request-id.
type uploader struct {
	a         Attachments
	c         *Client
	f         FileUpload
	mailbox   string
	started   time.Time
	requestID string

	sessionURL string   // createUploadSession's
	url        string   // the upload URL, used exactly as Graph gave it
	secrets    []string // its query values (and earlier sessions'), kept out of errors
	reopened   bool     // a second session was opened after a fresh one answered 404

	buf      []byte // one chunk, reused
	bufStart int64  // file offset of buf[0]
	bufLen   int    // bytes of buf holding content
	offset   int64  // the next byte the session expects
	sentLast bool   // a PUT carrying the final byte has been sent
	// bodies are closed by net/http when it is done reading a PUT's bytes
	// from buf, which may be after the answer arrived: buf is refilled only
	// once every one of them is closed.
	bodies []chan struct{}
	digest hash.Hash // contentSum of the content read so far (see hashed)
	// hashing is closed once digest has taken the chunk in buf: the hash
	// runs beside the chunk's PUT, both only reading buf.
	hashing chan struct{}

	// For checkpoints (FileUpload.Checkpoint, ResumeUpload).
	expires time.Time // the session's expirationDateTime
	acked   int64     // the highest byte count Graph acknowledged
	ackSum  hash.Hash // sha256 of the first acked bytes
}

func newUploader(a Attachments, f FileUpload) *uploader {
	return &uploader{a: a, c: a.r.c, f: f, mailbox: a.r.mailbox(), started: time.Now(), requestID: uuid.NewString()}
}

func (u *uploader) bufEnd() int64 { return u.bufStart + int64(u.bufLen) }

func (u *uploader) run(ctx context.Context, sessionURL string) (*FileAttachment, error) {
	if err := u.open(ctx, sessionURL); err != nil {
		return nil, err
	}
	return u.finish(ctx)
}

// finish runs send and settles how it ended: a cancel after the last chunk
// is checked, a cancel with checkpoints keeps the session, and any other
// failure deletes it.
func (u *uploader) finish(ctx context.Context) (*FileAttachment, error) {
	att, err := u.send(ctx)
	if err != nil && u.sentLast && ctx.Err() != nil {
		// ctx ended after the last chunk went out: it may have completed the
		// attachment. Look (for a few seconds of grace) before reporting a
		// failure the caller would retry into a duplicate.
		gctx, cancel := graceCtx(ctx)
		defer cancel()
		found, ferr := u.findCreated(gctx, err)
		switch {
		case ferr == nil:
			return found, nil
		case errors.Is(ferr, ErrOutcomeUnknown):
			return nil, ferr
		}
	}
	if err != nil && u.f.Checkpoint != nil && ctx.Err() != nil && !u.sentLast {
		// The caller saves checkpoints to resume: the session stays open.
		return nil, fmt.Errorf("eventattach: upload of %q stopped after %d of %d bytes; its session is kept for ResumeUpload until %s: %w",
			u.f.Name, u.acked, u.f.Size, u.expires.Format(time.RFC3339), ctx.Err())
	}
	if err != nil {
		return nil, u.abandon(ctx, err)
	}
	return att, nil
}

// send uploads the chunks and returns the created attachment: it PUTs the
// bytes the session lacks, a chunk at a time, until the final chunk's 201.
// Each PUT is one request of the engine, whose loop sends it again when it
// failed and whose reconcile (askSession) reads what the session holds
// when it may have landed. Only a fresh session's 404 opens another.
func (u *uploader) send(ctx context.Context) (*FileAttachment, error) {
	// A server that keeps taking a few bytes, or going back, would never
	// end: the whole upload has a budget of requests too.
	maxRetries := u.c.retry.MaxRetries
	budget := 4*(int(u.f.Size/int64(len(u.buf)))+1)*(maxRetries+1) + 16
	for sent := 0; ; sent++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if sent > budget {
			return nil, fmt.Errorf("eventattach: uploading %q: no end after %d requests to the upload URL (at byte %d of %d)", u.f.Name, sent, u.offset, u.f.Size)
		}
		if u.offset == u.bufEnd() && u.offset < u.f.Size {
			if err := u.fill(ctx); err != nil {
				return nil, err
			}
		}
		from, to := u.offset, u.bufEnd()
		// Pacing: the chunk's bytes wait for room in the mailbox's budgets
		// before its ChunkTimeout starts (internal/pace).
		paid, err := u.c.limiter.Prepay(ctx, u.mailbox, to-from)
		if err != nil {
			return nil, err
		}
		ch := u.put(ctx, from, to, paid)
		paid.Release()
		switch {
		case ch.err == nil && ch.location != "":
			u.moveTo(to)
			return u.created(ctx, ch.location)
		case ch.err == nil && ch.over:
			// The session is over without a 201 this upload read.
			return u.findCreated(ctx, ch.cause)
		case ch.err == nil:
			if err := u.advance(ctx, ch.ranges); err != nil {
				return nil, err
			}
		case ch.answer != nil && ch.answer.StatusCode == http.StatusNotFound && u.acked == 0 && u.bufStart == 0 && !u.reopened:
			// A session Exchange has not propagated yet can answer its
			// first chunk 404 (GRAPH-FACTS.md, Upload sessions). Nothing
			// landed: open one more session and start again from byte 0.
			u.log(ctx, slog.LevelWarn, "a new upload session answered 404; opening another", slog.String("error", u.scrubString(errString(ch.err))))
			u.reopened, u.sentLast = true, false
			if err := u.createSession(ctx); err != nil {
				return nil, err
			}
		case ch.answer != nil && ch.action == stop:
			return u.refused(ctx, ch)
		default:
			return nil, u.giveUp(ch.err)
		}
	}
}

// chunk is how a PUT of the upload URL ended.
type chunk struct {
	outcome
	ranges   []string // what the session expects next: a 200's answer, or the session's own account
	location string   // a 201's Location
	over     bool     // the session is over (gone, or expects nothing more) after the last chunk
	cause    error    // why over: the failure that made the engine ask
}

// put sends buf's bytes [from, to) of the file to the upload URL, without
// any Authorization header, each attempt bounded by FileUpload.ChunkTimeout.
func (u *uploader) put(ctx context.Context, from, to int64, paid *pace.Prepaid) chunk {
	var ch chunk
	defer u.c.traceChunk(&ctx, from, to, u.f.Size).end(&ch.err)
	if to == u.f.Size {
		u.sentLast = true
	}
	ex := &exchange{
		method:    http.MethodPut,
		url:       u.url,
		mailbox:   u.mailbox,
		requestID: u.requestID,
		body: func() (io.Reader, error) {
			done := make(chan struct{})
			u.bodies = append(u.bodies, done)
			return &chunkBody{Reader: bytes.NewReader(u.buf[from-u.bufStart : to-u.bufStart]), done: done}, nil
		},
		bodyLen:      to - from,
		contentType:  "application/octet-stream",
		contentRange: fmt.Sprintf("bytes %d-%d/%d", from, to-1, u.f.Size),
		decode: func(resp *http.Response) error {
			if resp.StatusCode == http.StatusCreated {
				ch.location = resp.Header.Get("Location")
				if ch.location == "" {
					ch.location = "-" // created, but no Location to read the id from
				}
				return nil
			}
			var sess sessionJSON
			if err := json.NewDecoder(io.LimitReader(resp.Body, maxSessionAnswer)).Decode(&sess); err != nil {
				return err
			}
			if next, err := parseFirst(sess.NextExpectedRanges, u.f.Size); err != nil || next == from {
				// Nothing of the chunk taken (or no account of it): as
				// unsure as a lost answer.
				return fmt.Errorf("eventattach: the upload session took none of bytes %d-%d", from, to-1)
			}
			ch.ranges = sess.NextExpectedRanges
			return nil
		},
		mayLand: true,
		upload:  true,
		paid:    paid,
		timeout: u.f.ChunkTimeout,
	}
	ex.reconcile = func(ctx context.Context, last *GraphError) (bool, error) {
		return u.askSession(ctx, from, to, last, &ch)
	}
	ch.outcome = u.c.send(ctx, ex, u.c.retry.MaxRetries)
	return ch
}

// askSession is a chunk's reconcile: it reads what the session holds after
// a PUT whose outcome is unknown. landed means the chunk need not be sent
// again (ch says what comes next); false sends it again.
func (u *uploader) askSession(ctx context.Context, from, to int64, last *GraphError, ch *chunk) (bool, error) {
	if ctx.Err() != nil {
		return false, nil // nothing more is sent; finish looks once more if it was the last chunk
	}
	u.log(ctx, slog.LevelWarn, "upload chunk's outcome unknown; asking the session what it holds",
		slog.Int64("from", from), slog.Int64("to", to-1))
	st := u.status(ctx)
	switch {
	case st.gone && u.sentLast:
		ch.over, ch.cause = true, errors.New("eventattach: the upload session is gone after its last chunk")
		return true, nil
	case st.unsupported && last != nil && last.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// No GET of the session is documented for Outlook
		// (GRAPH-FACTS.md, Upload sessions): a chunk sent again that the
		// session refuses as out of range is one it has.
		ch.ranges = []string{strconv.FormatInt(to, 10)}
		return true, nil
	case st.unsupported:
		return false, nil // without the session's word, send the chunk again
	case st.err != nil:
		return false, u.failed(st.err)
	case len(st.ranges) == 0 && u.sentLast:
		ch.over, ch.cause = true, errors.New("eventattach: the upload session expects no more bytes but sent no Location")
		return true, nil
	case len(st.ranges) == 0:
		return false, u.failed(errors.New("eventattach: the upload session answered without nextExpectedRanges"))
	}
	next, err := parseFirst(st.ranges, u.f.Size)
	if err != nil {
		return false, u.failed(err)
	}
	if next == from {
		return false, nil // it did not land: send it again
	}
	ch.ranges = st.ranges
	return true, nil
}

// refused explains a chunk Graph refused for good.
func (u *uploader) refused(ctx context.Context, ch chunk) (*FileAttachment, error) {
	ge := ch.answer
	switch {
	case ge.Code == codeMessageSizeExceeded:
		// The mailbox's maximum message size (35 MB by default in Exchange
		// Online, set by its admins) is reached mid-upload: no retry helps.
		return nil, fmt.Errorf("%w: the mailbox refused %q after %d of its %d bytes: it exceeds the mailbox's maximum message size (Exchange Online's default is 35 MB; an admin can raise it): %w",
			ErrTooLarge, u.f.Name, u.offset, u.f.Size, ch.err)
	case ge.StatusCode == http.StatusUnauthorized:
		// The upload URL carries its own authtoken and takes no bearer token:
		// a 401 means that URL expired or the request went to the wrong host.
		return nil, fmt.Errorf("eventattach: uploading %q: the upload URL refused the request (it expired, or it is not the URL Graph returned); start the upload again: %w", u.f.Name, ch.err)
	case ge.StatusCode == http.StatusNotFound && u.sentLast:
		return u.findCreated(ctx, ch.err)
	}
	return nil, u.failed(ch.err)
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
	u.hashed()
	u.bufStart, u.bufLen = u.bufEnd(), 0
	n := min(int64(len(u.buf)), u.f.Size-u.bufStart)
	got, err := readFull(ctx, u.f.Content, u.buf[:n])
	u.bufLen = got
	done := make(chan struct{})
	u.hashing = done
	go func(b []byte) {
		u.digest.Write(b)
		close(done)
	}(u.buf[:got])
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
func (u *uploader) advance(ctx context.Context, ranges []string) error {
	next, err := u.nextExpected(ranges)
	if err != nil {
		return err
	}
	if next < u.offset {
		u.log(ctx, slog.LevelWarn, "upload session went back; resending from its offset", slog.Int64("from", next), slog.Int64("had", u.offset))
	}
	if next > u.acked {
		// New bytes acknowledged: they are still in buf (fill runs only once
		// everything read was acknowledged).
		if u.ackSum != nil {
			u.ackSum.Write(u.buf[u.acked-u.bufStart : next-u.bufStart])
		}
		u.acked = next
		u.checkpoint()
	}
	u.moveTo(next)
	return nil
}

// hashed waits until digest has taken every chunk read.
func (u *uploader) hashed() {
	if u.hashing != nil {
		<-u.hashing
		u.hashing = nil
	}
}

// moveTo is the one place the offset moves: the next byte the session
// expects. Progress hears of every move.
func (u *uploader) moveTo(next int64) {
	moved := next != u.offset
	u.offset = next
	if moved {
		u.progress()
	}
}

func (u *uploader) progress() {
	if u.f.Progress != nil {
		u.f.Progress(u.offset, u.f.Size)
	}
}

func (u *uploader) giveUp(err error) error {
	if err == nil {
		err = errors.New("no answer")
	}
	return fmt.Errorf("eventattach: uploading %q: failed at byte %d of %d after %d retries: %w", u.f.Name, u.offset, u.f.Size, u.c.retry.MaxRetries, err)
}

// failed prefixes an error of the upload URL with the upload it ended.
func (u *uploader) failed(err error) error {
	return fmt.Errorf("eventattach: uploading %q: %w", u.f.Name, err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
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
	known := &FileAttachment{ID: id, Name: u.f.Name, ContentType: u.f.ContentType, IsInline: u.f.IsInline, ContentID: u.f.ContentID}
	// Only the set's base properties can be selected (GRAPH-FACTS.md,
	// Reading); the content id is the one this upload sent.
	got, err := u.a.get(ctx, u.requestID, id, "?$select="+listSelect)
	f, ok := got.(*FileAttachment)
	if err != nil || !ok || f.ID == "" {
		u.log(ctx, slog.LevelDebug, "reading the uploaded attachment's metadata failed; returning what the upload knows")
		return known, nil
	}
	f.ContentID = u.f.ContentID
	return f, nil
}

// findCreated looks for the attachment when the session ended without a
// readable 201 (the answer to the last chunk was lost), by the package
// doc's Duplicate check: this upload's name, flags and bytes (length and
// hash through $value). Graph's reported size is never compared: it is
// not the byte count.
func (u *uploader) findCreated(ctx context.Context, cause error) (*FileAttachment, error) {
	sent := sentFile(u.f.Name, u.f.ContentType, u.f.IsInline, u.f.ContentID)
	u.hashed()
	sent.size, sent.sum = u.f.Size, u.digest.Sum(nil)
	att, err := u.a.checkSent(ctx, u.requestID, sent, u.started)
	if err != nil {
		return nil, unknownOutcome(fmt.Sprintf("uploading %q: the last chunk was sent", u.f.Name), cause, err)
	}
	f, ok := att.(*FileAttachment)
	if !ok {
		return nil, fmt.Errorf("eventattach: the upload session ended but the attachment was not found: %w", cause)
	}
	u.moveTo(u.f.Size)
	return f, nil
}

func (u *uploader) scrubString(s string) string { return scrub(s, u.secrets) }

// scrub is the last guard on what Upload returns: no secret of the upload
// URL in an error's text.
func (u *uploader) scrub(err error) error { return scrubError(err, u.secrets) }

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
