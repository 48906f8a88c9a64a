package eventattach

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The upload session: opening it, asking it what it holds, reading its
// answers (nextExpectedRanges, the final Location) and deleting it.

// open creates the session and the chunk buffer.
func (u *uploader) open(ctx context.Context, sessionURL string) error {
	u.sessionURL = sessionURL
	u.buf = make([]byte, min(int64(u.f.ChunkSize), u.f.Size))
	u.digest = newContentHash()
	if u.f.Checkpoint != nil {
		u.ackSum = sha256.New() // the checkpoints' SHA256 of the acknowledged bytes
	}
	return u.createSession(ctx)
}

// createSession is POST createUploadSession. Sending it twice is harmless
// (an orphaned session holds nothing and expires on its own), so the engine
// retries it like a GET.
func (u *uploader) createSession(ctx context.Context) error {
	payload, err := json.Marshal(createSessionJSON{AttachmentItem: attachmentItemJSON{
		AttachmentType: "file", Name: u.f.Name, Size: u.f.Size,
		ContentType: u.f.ContentType, IsInline: u.f.IsInline, ContentID: u.f.ContentID,
	}})
	if err != nil {
		return err
	}
	var sess sessionJSON
	err = u.c.do(ctx, &exchange{
		method:      http.MethodPost,
		url:         u.sessionURL,
		mailbox:     u.mailbox,
		requestID:   u.requestID,
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
	})
	if err != nil {
		return err
	}
	if err := u.setURL(sess.UploadURL); err != nil {
		return err
	}
	u.expires, _ = time.Parse(time.RFC3339Nano, sess.ExpirationDateTime)
	// A new session starts where it says (["0-"]), a replaced one too.
	u.offset = 0
	if len(sess.NextExpectedRanges) > 0 {
		next, err := u.nextExpected(sess.NextExpectedRanges)
		if err != nil {
			return u.abandon(ctx, err)
		}
		u.offset = next
	}
	u.log(ctx, slog.LevelDebug, "upload session opened", slog.Int64("size", u.f.Size), slog.Int("chunkSize", len(u.buf)))
	u.checkpoint()
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
	u.secrets = append(u.secrets, secretsOf(raw)...)
	switch {
	case p.Host == "" || p.User != nil:
		return fmt.Errorf("eventattach: refusing upload URL %s: it needs a host and no user info", redact(raw))
	case p.Scheme == "https":
	case p.Scheme == "http" && u.c.loopback && isLoopback(p.Hostname()):
	default:
		return fmt.Errorf("eventattach: refusing upload URL %s: it must be https", redact(raw))
	}
	u.url = raw
	return nil
}

// sessionStatus is what GET of the upload URL said.
type sessionStatus struct {
	ranges      []string
	gone        bool // 404: the session is over (completed, expired or deleted)
	unsupported bool // 400, 405 or 501: the upload host does not answer GET
	err         error
}

// status asks the session which bytes it still needs.
func (u *uploader) status(ctx context.Context) sessionStatus {
	var sess sessionJSON
	out := u.c.send(ctx, &exchange{
		method:    http.MethodGet,
		url:       u.url,
		mailbox:   u.mailbox,
		requestID: u.requestID,
		okStatus:  http.StatusOK,
		decode: func(resp *http.Response) error {
			return json.NewDecoder(io.LimitReader(resp.Body, maxSessionAnswer)).Decode(&sess)
		},
		upload:  true,
		timeout: u.f.ChunkTimeout,
	}, u.c.retry.MaxRetries)
	switch {
	case out.err == nil:
		return sessionStatus{ranges: sess.NextExpectedRanges}
	case out.answer != nil && out.answer.StatusCode == http.StatusNotFound:
		return sessionStatus{gone: true, err: out.err}
	case out.answer != nil && slices.Contains([]int{http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusNotImplemented}, out.answer.StatusCode):
		return sessionStatus{unsupported: true, err: out.err}
	}
	return sessionStatus{err: out.err}
}

// nextExpected reads the first missing byte from nextExpectedRanges (the
// lowest start of its entries, see parseRange) and checks it is a byte
// Upload can send: not one it has already dropped from its buffer, nor one
// it has not sent yet.
func (u *uploader) nextExpected(ranges []string) (int64, error) {
	if len(ranges) == 0 {
		return 0, errors.New("eventattach: the upload session answered without nextExpectedRanges")
	}
	start, err := parseFirst(ranges, u.f.Size)
	if err != nil {
		return 0, err
	}
	switch {
	case start > u.bufEnd():
		return 0, fmt.Errorf("eventattach: the upload session expects byte %d, but only %d were sent", start, u.bufEnd())
	case start < u.bufStart:
		return 0, fmt.Errorf("eventattach: the upload session lost bytes it had acknowledged: it expects byte %d, and Content cannot go back before byte %d", start, u.bufStart)
	}
	return start, nil
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

// parseFirst is the first byte a session lacks, from its ranges.
func parseFirst(ranges []string, size int64) (int64, error) {
	first := int64(-1)
	for _, r := range ranges {
		a, _, err := parseRange(r, size)
		if err != nil {
			return 0, err
		}
		if first < 0 || a < first {
			first = a
		}
	}
	return first, nil
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
	out := u.c.send(dctx, &exchange{
		method: http.MethodDelete, url: u.url, mailbox: u.mailbox, requestID: u.requestID, upload: true,
		timeout: u.f.ChunkTimeout,
	}, u.c.retry.MaxRetries)
	if out.err == nil || (out.answer != nil && out.answer.StatusCode == http.StatusNotFound) {
		u.log(ctx, slog.LevelDebug, "upload session deleted")
		return cause
	}
	u.log(ctx, slog.LevelWarn, "deleting the upload session failed", slog.String("error", u.scrubString(out.err.Error())))
	return fmt.Errorf("%w (deleting the upload session failed: %v)", cause, out.err)
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
