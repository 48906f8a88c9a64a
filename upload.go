package eventattach

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Upload: files under MaxAddFileSize go in one POST (AddFile); larger ones
// up to MaxUploadSize through an upload session on the event's documented
// session route (/me/events/{id} or /users/{id}/events/{id}). The uploader
// streams the content through one reused chunk buffer, PUTs each chunk to
// the pre-authenticated upload URL without the bearer token, and ends with
// the final chunk's 201; a failed or cancelled upload deletes its session.
// The upload URL's authtoken appears in no log record and no error.

const (
	// ChunkSizeUnit is the granularity of upload chunks. The multiple of
	// 320 KiB is OneDrive's rule, not documented for Outlook; Microsoft's
	// samples for Outlook keep it, and it costs nothing (GRAPH-FACTS.md,
	// Chunk sizes).
	ChunkSizeUnit = 320 << 10
	// DefaultChunkSize is the chunk size Upload uses when FileUpload.ChunkSize
	// is 0: 3,932,160 bytes, the largest multiple of ChunkSizeUnit under the
	// docs' 4 MB per PUT (read as 4,000,000 or as 4 MiB). What Outlook
	// answers to a larger PUT is not documented; Microsoft's .NET and Java
	// SDKs default to 5 MiB, over that guidance.
	DefaultChunkSize = 12 * ChunkSizeUnit

	maxChunkSize        = 4_000_000 // the docs' "4 MB" per PUT, read as the smaller of 4,000,000 and 4 MiB
	defaultChunkTimeout = 2 * time.Minute
	// cancelTimeout bounds the DELETE of an abandoned session, which runs
	// after the caller's ctx is done.
	cancelTimeout = 10 * time.Second
	// maxSessionAnswer caps how much of a chunk or status answer is read.
	maxSessionAnswer = 64 << 10
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
	// ChunkSize is the bytes per PUT of an upload session, up to 4 MB
	// (4,000,000; the docs' own example sends 2 MiB chunks, and Outlook
	// needs no multiple of 320 KiB). 0 means DefaultChunkSize (3.75 MiB). Upload holds one buffer
	// of this size.
	ChunkSize int
	// ChunkTimeout bounds each request to the upload URL (a stalled chunk
	// is then retried like a reset); 0 means 2 minutes.
	ChunkTimeout time.Duration
	// SessionThreshold is the size from which Upload opens an upload session
	// instead of one POST: 0 means MaxAddFileSize, and it may be lower (1 up
	// to MaxAddFileSize). Graph refuses sessions under its own floor (3 MB
	// documented) with ErrorAttachmentSizeShouldNotBeLessThanMinimumSize;
	// Upload then sends the file in one POST.
	SessionThreshold int64
	// Checkpoint, when set, receives the upload's state after its session
	// opens and after each chunk Graph acknowledges, on the goroutine that
	// called Upload; Client.ResumeUpload goes on from the last one, in this
	// process or another. With a Checkpoint, an upload stopped by ctx keeps
	// its session (until it expires) instead of deleting it. The state holds
	// a secret (see UploadState).
	Checkpoint func(UploadState)
	// IfAbsent makes the upload idempotent, as AddOptions.IfAbsent does for
	// AddFile: the event is read first and a matching attachment (same name,
	// flags and bytes) is returned instead of uploading again. It needs
	// Content to be an io.ReadSeeker: the content is read once to hash it,
	// then sought back.
	IfAbsent bool
	// Key is an idempotency key, as AddOptions.Key: one key makes at most
	// one attachment across every process sharing ClientOptions.Store. It
	// needs Content to be an io.ReadSeeker (the content is hashed first, to
	// bind the key to it). With a Key, the upload's checkpoints go to the
	// Store as well as to Checkpoint, and a call with the key in any
	// process goes on with the session a dead holder left.
	Key string
}

// codeBelowSessionMinimum is createUploadSession's answer for a file under
// Graph's floor for sessions (attachment-createuploadsession.md).
const codeBelowSessionMinimum = "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"

// Upload attaches a file of any size up to MaxUploadSize (150 MiB) to the
// event and returns the created attachment's metadata (no ContentBytes).
//
// Under f.SessionThreshold (MaxAddFileSize by default) it reads the content and
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
// result holds what the upload knows: id, name, content type, inline flag
// and content id; Size, Graph's figure, is not known).
//
// Errors before any request: f.Size over MaxUploadSize is ErrTooLarge; a nil
// Content, a negative Size, an empty Name, a bad ChunkSize or an invalid id
// is ErrInvalidInput, and so is an upload session on a group event (Graph
// documents sessions for user mailboxes only). Content that ends before Size
// bytes or goes on after them is ErrInvalidInput too, and nothing is created.
// Graph's answers are *GraphError.
func (a Attachments) Upload(ctx context.Context, f FileUpload) (_ *FileAttachment, err error) {
	defer a.traceOp(&ctx, "Upload").end(&err)
	defer a.r.inOp("Upload", "", &err)
	if err := checkUpload(&f); err != nil {
		return nil, err
	}
	if _, err := a.r.path(); err != nil {
		return nil, err
	}
	if f.Key != "" {
		return a.uploadKeyed(ctx, f)
	}
	return a.upload(ctx, f)
}

// upload is Upload of a checked FileUpload, without a key.
func (a Attachments) upload(ctx context.Context, f FileUpload) (*FileAttachment, error) {
	if f.IfAbsent {
		found, unlock, err := a.uploadedAlready(ctx, f)
		if err != nil || found != nil {
			return found, err
		}
		defer unlock()
	}
	if f.Size < f.SessionThreshold {
		return a.uploadSmall(ctx, f)
	}
	sessionURL, err := a.sessionURL()
	if err != nil {
		return nil, err
	}
	u := newUploader(a, f)
	att, err := u.run(ctx, sessionURL)
	var ge *GraphError
	if errors.As(err, &ge) && ge.Code == codeBelowSessionMinimum && u.url == "" && f.Size < MaxAddFileSize {
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
	case f.ChunkSize < 0 || f.ChunkSize > maxChunkSize:
		return invalidInput("ChunkSize %d must be between 1 and 4 MB (%d bytes)", f.ChunkSize, maxChunkSize)
	case f.ChunkTimeout < 0:
		return invalidInput("ChunkTimeout %s is negative", f.ChunkTimeout)
	case f.SessionThreshold < 0 || f.SessionThreshold > MaxAddFileSize:
		return invalidInput("SessionThreshold %d must be between 1 and MaxAddFileSize (%d), or 0 for MaxAddFileSize", f.SessionThreshold, MaxAddFileSize)
	}
	if f.SessionThreshold == 0 {
		f.SessionThreshold = MaxAddFileSize
	}
	if f.ChunkSize == 0 {
		f.ChunkSize = DefaultChunkSize
	}
	if f.ChunkTimeout == 0 {
		f.ChunkTimeout = defaultChunkTimeout
	}
	return nil
}

// uploadSmall reads content under MaxAddFileSize and posts it with AddFile.
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
		return "", invalidInput("upload sessions are not available for group events (Graph documents them for /me and /users only); files on group events must be under %d bytes", MaxAddFileSize)
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

// uploadedAlready is FileUpload.IfAbsent's look at the event: the content's
// hash (read once, then sought back), and the Duplicate check with no
// time window. It returns the attachment found, or the lock to hold while
// uploading.
func (a Attachments) uploadedAlready(ctx context.Context, f FileUpload) (*FileAttachment, func(), error) {
	rs, ok := f.Content.(io.ReadSeeker)
	if !ok {
		return nil, nil, invalidInput("FileUpload.IfAbsent needs Content to be an io.ReadSeeker (it is hashed first), not %T", f.Content)
	}
	pos, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, nil, fmt.Errorf("eventattach: Upload %q if absent: %w", f.Name, err)
	}
	h := newContentHash()
	n, err := io.CopyN(h, rs, f.Size)
	if err != nil {
		return nil, nil, contentError(err, n, f.Size)
	}
	if _, err := rs.Seek(pos, io.SeekStart); err != nil {
		return nil, nil, fmt.Errorf("eventattach: Upload %q if absent: %w", f.Name, err)
	}
	sent := sentFile(f.Name, f.ContentType, f.IsInline, f.ContentID)
	sent.size, sent.sum = f.Size, h.Sum(nil)
	found, unlock, err := a.ifAbsent(ctx, "Upload", sent)
	if found != nil {
		return found.(*FileAttachment), nil, nil
	}
	return nil, unlock, err
}

// ifAbsent is IfAbsent for every operation: with the event and name locked
// in this Client (adds with IfAbsent run one at a time per event and name),
// it runs the Duplicate check whatever the attachment's age. It returns the
// attachment found, or the unlock to call once the add is done.
func (a Attachments) ifAbsent(ctx context.Context, op string, sent *sentAttachment) (Attachment, func(), error) {
	unlock := a.r.c.once.lock(a.r.mailbox(), a.r.eventID(), sent.name)
	found, err := a.findSent(ctx, "", sent, time.Time{})
	switch {
	case err != nil:
		unlock()
		return nil, nil, fmt.Errorf("eventattach: %s %q if absent: reading the event: %w", op, sent.name, err)
	case found != nil:
		unlock()
		return found, nil, nil
	}
	return nil, unlock, nil
}
