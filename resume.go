package eventattach

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// UploadState is a checkpoint of an upload session: what another process
// needs, with the same content, to go on where this one stopped
// (Client.ResumeUpload). FileUpload.Checkpoint receives one after the
// session opens and after each chunk Graph acknowledges; save it anywhere
// (encoding/json writes it as it is).
//
// It holds a secret: UploadURL carries the session's authtoken, and
// whoever has it can write this attachment to the event until the session
// expires. Keep the state where you would keep a password. String, and so
// the fmt verbs, hide the authtoken; encoding/json does not.
type UploadState struct {
	UploadURL   string    `json:"uploadUrl"`
	Expires     time.Time `json:"expires"` // the session's expirationDateTime
	Started     time.Time `json:"started"` // when the upload began: the duplicate check's window
	User        string    `json:"user"`    // the user's id or UPN; "" for /me
	EventID     string    `json:"eventId"`
	Name        string    `json:"name"`
	ContentType string    `json:"contentType,omitempty"`
	IsInline    bool      `json:"isInline,omitempty"`
	ContentID   string    `json:"contentId,omitempty"`
	Size        int64     `json:"size"`
	ChunkSize   int       `json:"chunkSize"`
	Acked       int64     `json:"acked"`  // bytes Graph has acknowledged
	SHA256      string    `json:"sha256"` // hex sha256 of the first Acked bytes
}

// String describes the state without the upload URL's authtoken.
func (s UploadState) String() string {
	return fmt.Sprintf("eventattach.UploadState{%q %d of %d bytes acknowledged, session %s until %s}",
		s.Name, s.Acked, s.Size, redact(s.UploadURL), s.Expires.Format(time.RFC3339))
}

// GoString hides the authtoken from %#v too.
func (s UploadState) GoString() string { return s.String() }

// state is the uploader's checkpoint.
func (u *uploader) state() UploadState {
	user := ""
	if u.a.r.owner == ownerUser {
		user = u.a.r.ownerID
	}
	var sum [sha256.Size]byte
	return UploadState{
		UploadURL: u.url, Expires: u.expires, Started: u.started,
		User: user, EventID: u.a.r.eventID(),
		Name: u.f.Name, ContentType: u.f.ContentType, IsInline: u.f.IsInline, ContentID: u.f.ContentID,
		Size: u.f.Size, ChunkSize: u.f.ChunkSize,
		Acked: u.acked, SHA256: hex.EncodeToString(u.ackSum.Sum(sum[:0])),
	}
}

func (u *uploader) checkpoint() {
	if u.f.Checkpoint != nil && u.url != "" {
		u.f.Checkpoint(u.state())
	}
}

// ResumeOptions tunes ResumeUpload; nil means defaults.
type ResumeOptions struct {
	Progress     func(sent, total int64) // as FileUpload.Progress
	Checkpoint   func(UploadState)       // as FileUpload.Checkpoint
	ChunkTimeout time.Duration           // as FileUpload.ChunkTimeout
}

// ResumeUpload goes on with an upload another process (or an earlier call)
// stopped, from nothing but its last UploadState and the same content, and
// returns the attachment as Upload does.
//
// It first checks that content is the file that was being sent: Size bytes
// whose first Acked bytes have the saved sha256; anything else is
// ErrInvalidInput and nothing is sent. It then asks the session (GET of the
// upload URL) which byte it lacks and sends from there. When the session
// has expired or is gone, it first looks for the attachment (the last chunk
// may have landed: the package doc's Duplicate check, whatever its age),
// and, when it is not there, starts a new session for the whole file.
func (c *Client) ResumeUpload(ctx context.Context, state UploadState, content io.ReadSeeker, opts *ResumeOptions) (_ *FileAttachment, err error) {
	var a Attachments
	if state.User == "" {
		a = c.Me().Events(state.EventID).Attachments()
	} else {
		a = c.Users(state.User).Events(state.EventID).Attachments()
	}
	defer func() {
		if err != nil {
			err = &opError{op: "ResumeUpload", route: a.Path() + " (upload of " + strconv.Quote(state.Name) + ")", err: err}
		}
	}()
	// An id that would change the URL's shape: refused before anything is sent.
	if _, err := a.r.path(); err != nil {
		return nil, err
	}
	var o ResumeOptions
	if opts != nil {
		o = *opts
	}
	if content == nil {
		return nil, invalidInput("resume content is nil")
	}
	if state.UploadURL == "" || state.EventID == "" || state.Name == "" || state.Size <= 0 || state.Acked < 0 || state.Acked > state.Size {
		return nil, invalidInput("the upload state is incomplete: %v", state)
	}
	f := FileUpload{
		Name: state.Name, ContentType: state.ContentType, IsInline: state.IsInline, ContentID: state.ContentID,
		Content: content, Size: state.Size, ChunkSize: state.ChunkSize,
		Progress: o.Progress, Checkpoint: o.Checkpoint, ChunkTimeout: o.ChunkTimeout,
	}
	if err := checkUpload(&f); err != nil {
		return nil, err
	}
	if err := sameContent(content, state); err != nil {
		return nil, err
	}
	u := newUploader(a, f)
	// The duplicate check looks at any age: state.Started comes from the
	// clock of whichever machine began the upload, and a candidate must
	// match this file's name and bytes anyway.
	u.started = time.Time{}
	if err := u.setURL(state.UploadURL); err != nil {
		return nil, err
	}
	u.expires = state.Expires
	next := int64(-1)
	if time.Now().Before(state.Expires) {
		st := u.status(ctx)
		switch {
		case st.err == nil && len(st.ranges) > 0:
			n, err := parseFirst(st.ranges, state.Size)
			if err != nil {
				return nil, err
			}
			next = n
		case st.gone || st.err == nil:
			// Gone (or nothing more expected): fall through to the check.
		case errors.Is(st.err, ctx.Err()) && ctx.Err() != nil:
			return nil, st.err
		default:
			var ge *GraphError
			if !errors.As(st.err, &ge) || ge.StatusCode == http.StatusUnauthorized || ge.StatusCode >= 500 {
				return nil, fmt.Errorf("eventattach: ResumeUpload %q: asking the session what it holds: %w", state.Name, st.err)
			}
			// The session will not say (GET unsupported): go on from what
			// was acknowledged.
			next = state.Acked
		}
	}
	if next < 0 {
		// Expired or gone: the attachment may exist (the last chunk landed),
		// else the whole file goes again in a new session.
		if found, err := u.foundWhole(ctx, content); found != nil || err != nil {
			return found, err
		}
		if _, err := content.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("eventattach: ResumeUpload %q: rewinding the content: %w", state.Name, err)
		}
		return a.Upload(ctx, f)
	}
	if err := u.skipTo(content, next); err != nil {
		return nil, err
	}
	att, err := u.sendFrom(ctx)
	if err != nil {
		return nil, u.scrub(err)
	}
	return att, nil
}

// sameContent checks content against the state: its size, and the sha256
// of the bytes Graph acknowledged.
func sameContent(content io.ReadSeeker, state UploadState) error {
	end, err := content.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("eventattach: ResumeUpload %q: sizing the content: %w", state.Name, err)
	}
	if end != state.Size {
		return invalidInput("the content has %d bytes but the saved upload of %q has %d: not the same file", end, state.Name, state.Size)
	}
	if _, err := content.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("eventattach: ResumeUpload %q: rewinding the content: %w", state.Name, err)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, content, state.Acked); err != nil {
		return fmt.Errorf("eventattach: ResumeUpload %q: reading the content: %w", state.Name, err)
	}
	want, err := hex.DecodeString(state.SHA256)
	if err != nil || !bytes.Equal(h.Sum(nil), want) {
		return invalidInput("the content's first %d bytes differ from the saved upload of %q: not the same file", state.Acked, state.Name)
	}
	return nil
}

// skipTo reads content from its start to byte next, hashing it (the
// duplicate check needs the whole file's hash), and sets the uploader
// there.
func (u *uploader) skipTo(content io.ReadSeeker, next int64) error {
	if _, err := content.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("eventattach: ResumeUpload %q: rewinding the content: %w", u.f.Name, err)
	}
	u.digest, u.ackSum = newContentHash(), sha256.New()
	if _, err := io.CopyN(io.MultiWriter(u.digest, u.ackSum), content, next); err != nil {
		return fmt.Errorf("eventattach: ResumeUpload %q: reading the content: %w", u.f.Name, err)
	}
	u.buf = make([]byte, min(int64(u.f.ChunkSize), u.f.Size))
	u.bufStart, u.bufLen, u.offset, u.acked = next, 0, next, next
	return nil
}

// foundWhole runs the duplicate check for the whole content.
func (u *uploader) foundWhole(ctx context.Context, content io.ReadSeeker) (*FileAttachment, error) {
	if err := u.skipTo(content, u.f.Size); err != nil {
		return nil, err
	}
	u.sentLast = true
	f, err := u.findCreated(ctx, errors.New("eventattach: the upload session is gone"))
	if errors.Is(err, ErrOutcomeUnknown) {
		return nil, err
	}
	return f, nil
}

// sendFrom runs the chunk loop from where skipTo left the uploader, with
// run's handling of a cancel and of a failure.
func (u *uploader) sendFrom(ctx context.Context) (*FileAttachment, error) {
	u.progress()
	return u.finish(ctx)
}

// ResumeUpload goes on with the upload state describes, as
// Client.ResumeUpload does, once it has checked that state is an upload of
// f to this event: the mailbox, the event id, and f's name, size, content
// type, inline flag and content id must all be state's, else it is
// ErrInvalidInput and nothing is sent (a state saved for another task
// never lands its file on this one's event). f.Content must be an
// io.ReadSeeker holding the whole file; f's Progress, Checkpoint and
// ChunkTimeout apply. With f.Key the key's record decides instead: this is
// Upload, which resumes the checkpoint the store holds for the key.
func (a Attachments) ResumeUpload(ctx context.Context, state UploadState, f FileUpload) (*FileAttachment, error) {
	if _, err := a.r.path(); err != nil {
		return nil, err
	}
	if err := checkUpload(&f); err != nil {
		return nil, err
	}
	user := ""
	switch a.r.owner {
	case ownerUser:
		user = a.r.ownerID
	case ownerGroup:
		return nil, invalidInput("ResumeUpload: upload sessions are for user mailboxes, not a group's events")
	}
	want := UploadState{User: user, EventID: a.r.eventID(), Name: f.Name, Size: f.Size, ContentType: f.ContentType, IsInline: f.IsInline, ContentID: f.ContentID}
	got := UploadState{User: state.User, EventID: state.EventID, Name: state.Name, Size: state.Size, ContentType: state.ContentType, IsInline: state.IsInline, ContentID: state.ContentID}
	if got != want {
		return nil, invalidInput("ResumeUpload: the saved upload is not this one: it sends %q (%d bytes) to event %q of mailbox %q; this call sends %q (%d bytes) to event %q of mailbox %q (or their content type, inline flag or content id differ)",
			state.Name, state.Size, state.EventID, mailboxName(state.User), f.Name, f.Size, want.EventID, mailboxName(user))
	}
	if f.Key != "" {
		return a.Upload(ctx, f)
	}
	rs, ok := f.Content.(io.ReadSeeker)
	if !ok {
		return nil, invalidInput("ResumeUpload needs Content to be an io.ReadSeeker, not %T", f.Content)
	}
	return a.r.c.ResumeUpload(ctx, state, rs, &ResumeOptions{Progress: f.Progress, Checkpoint: f.Checkpoint, ChunkTimeout: f.ChunkTimeout})
}

func mailboxName(user string) string {
	if user == "" {
		return "me"
	}
	return user
}
