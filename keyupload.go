package eventattach

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
)

// uploadKeyed is Upload with FileUpload.Key: the content is hashed first
// (sha256 binds the key to it; the Duplicate check's own hash comes in the
// same pass), then uploaded under the key. Each checkpoint goes to the
// store, and an earlier holder's checkpoint is resumed.
func (a Attachments) uploadKeyed(ctx context.Context, f FileUpload) (*FileAttachment, error) {
	rs, ok := f.Content.(io.ReadSeeker)
	if !ok {
		return nil, invalidInput("FileUpload.Key needs Content to be an io.ReadSeeker (it is hashed first, to bind the key to it), not %T", f.Content)
	}
	pos, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("eventattach: Upload %q with a key: %w", f.Name, err)
	}
	sha, digest := sha256.New(), newContentHash()
	if n, err := io.CopyN(io.MultiWriter(sha, digest), rs, f.Size); err != nil {
		return nil, contentError(err, n, f.Size)
	}
	if _, err := rs.Seek(pos, io.SeekStart); err != nil {
		return nil, fmt.Errorf("eventattach: Upload %q with a key: %w", f.Name, err)
	}
	sent := sentFile(f.Name, f.ContentType, f.IsInline, f.ContentID)
	sent.size, sent.sum = f.Size, digest.Sum(nil)
	req := fileRequest(a.Path(), f.Name, f.ContentType, f.IsInline, f.ContentID, f.Size, sha.Sum(nil))
	bound := max(a.r.c.attemptTimeout, f.ChunkTimeout)
	att, err := a.keyed(ctx, "Upload", f.Key, req, bound, a.checkFor(sent),
		func(ctx context.Context, h *keyHold, saved *UploadState) (Attachment, error) {
			callers := f.Checkpoint
			checkpoint := func(s UploadState) {
				h.checkpoint(ctx, s)
				if callers != nil {
					callers(s)
				}
			}
			if saved != nil {
				// An earlier holder's session: go on from its checkpoint.
				content := io.ReadSeeker(&offsetReadSeeker{rs: rs, start: pos, size: f.Size})
				return a.r.c.ResumeUpload(ctx, *saved, content, &ResumeOptions{
					Progress: f.Progress, Checkpoint: checkpoint, ChunkTimeout: f.ChunkTimeout})
			}
			f.Checkpoint, f.Key = checkpoint, ""
			return a.upload(ctx, f)
		})
	if err != nil {
		return nil, err
	}
	return att.(*FileAttachment), nil
}

// offsetReadSeeker is the file that starts at start in rs, as ResumeUpload
// reads content: from its byte 0 to size.
type offsetReadSeeker struct {
	rs          io.ReadSeeker
	start, size int64
}

func (o *offsetReadSeeker) Read(p []byte) (int, error) { return o.rs.Read(p) }

func (o *offsetReadSeeker) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = o.start + offset
	case io.SeekEnd:
		abs = o.start + o.size + offset
	default:
		n, err := o.rs.Seek(offset, io.SeekCurrent)
		return n - o.start, err
	}
	n, err := o.rs.Seek(abs, io.SeekStart)
	return n - o.start, err
}
