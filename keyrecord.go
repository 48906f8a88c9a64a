package eventattach

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// keyRecord is what the Store keeps for an idempotency key: what the key's
// first call adds, and how far it got. Only the lease's holder writes it.
type keyRecord struct {
	Key     string     `json:"key"`
	Request keyRequest `json:"request"`
	// QuietAfter is when every request a holder sent under this key has
	// either landed on Graph or never will: the last moment a holder could
	// send (its lease's end) plus the commit horizon. Zero: nothing sent.
	QuietAfter time.Time `json:"quietAfter,omitzero"`
	// Upload is the upload session's last checkpoint (a secret: its URL
	// carries the session's authtoken).
	Upload *UploadState `json:"upload,omitempty"`
	// Done is the attachment the key made: its calls return it and send
	// nothing.
	Done *keyDone `json:"done,omitempty"`
}

// keyRequest is what a keyed call adds; a key is bound to the first one.
type keyRequest struct {
	Route       string `json:"route"` // Attachments.Path()
	Kind        string `json:"kind"`  // the attachment's @odata.type
	Name        string `json:"name"`
	ContentType string `json:"contentType,omitempty"`
	IsInline    bool   `json:"isInline,omitempty"`
	ContentID   string `json:"contentId,omitempty"`
	Size        int64  `json:"size"`   // file bytes, or the item's JSON
	SHA256      string `json:"sha256"` // of the same bytes
}

// keyDone is the attachment a key made, as Graph answered it.
type keyDone struct {
	ID                   string    `json:"id"`
	Name                 string    `json:"name"`
	ContentType          string    `json:"contentType,omitempty"`
	Size                 int64     `json:"size,omitempty"`
	IsInline             bool      `json:"isInline,omitempty"`
	LastModifiedDateTime time.Time `json:"lastModifiedDateTime,omitzero"`
	ContentID            string    `json:"contentId,omitempty"`
}

func fileRequest(route, name, contentType string, isInline bool, contentID string, size int64, sum []byte) keyRequest {
	return keyRequest{Route: route, Kind: odataFileAttachment, Name: name, ContentType: contentType,
		IsInline: isInline, ContentID: contentID, Size: size, SHA256: hex.EncodeToString(sum)}
}

func itemRequest(route, name string, isInline bool, itemJSON []byte) keyRequest {
	sum := sha256.Sum256(itemJSON)
	return keyRequest{Route: route, Kind: odataItemAttachment, Name: name, IsInline: isInline,
		Size: int64(len(itemJSON)), SHA256: hex.EncodeToString(sum[:])}
}

// mismatch says how this call differs from the key's first one, or "".
func (r keyRequest) mismatch(first keyRequest) string {
	say := func(q keyRequest) string {
		return fmt.Sprintf("%q (%s, %d bytes, sha256 %.12s…, inline %t, content id %q, content type %q) to %s",
			q.Name, q.Kind, q.Size, q.SHA256, q.IsInline, q.ContentID, q.ContentType, q.Route)
	}
	if r == first {
		return ""
	}
	return "it was first used to add " + say(first) + "; this call adds " + say(r)
}

func doneFrom(att Attachment) *keyDone {
	name, contentType, _, mod := describe(att)
	d := &keyDone{ID: att.AttachmentID(), Name: name, ContentType: contentType, LastModifiedDateTime: mod, IsInline: inline(att)}
	switch a := att.(type) {
	case *FileAttachment:
		d.Size, d.ContentID = a.Size, a.ContentID
	case *ItemAttachment:
		d.Size = a.Size
	}
	return d
}

func (d *keyDone) file() *FileAttachment {
	return &FileAttachment{ID: d.ID, Name: d.Name, ContentType: d.ContentType, Size: d.Size, IsInline: d.IsInline,
		LastModifiedDateTime: d.LastModifiedDateTime, ContentID: d.ContentID}
}

func (d *keyDone) item() *ItemAttachment {
	return &ItemAttachment{ID: d.ID, Name: d.Name, ContentType: d.ContentType, Size: d.Size, IsInline: d.IsInline,
		LastModifiedDateTime: d.LastModifiedDateTime}
}

// decodeRecord reads a stored record; anything that is not a record of key
// is reported as corrupt, never guessed around. The error quotes no part
// of the record (it may hold an upload URL's authtoken).
func decodeRecord(b []byte, key string) (*keyRecord, error) {
	var rec keyRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		if se, ok := err.(*json.SyntaxError); ok {
			return nil, fmt.Errorf("the record is corrupt: not JSON (at byte %d of %d)", se.Offset, len(b))
		}
		return nil, fmt.Errorf("the record is corrupt: %d bytes that are not a key record", len(b))
	}
	switch {
	case rec.Key != key:
		return nil, fmt.Errorf("the record is corrupt: it belongs to another key (%d bytes)", len(rec.Key))
	case rec.Request.Route == "" || rec.Request.Name == "" || rec.Request.Kind == "" || len(rec.Request.SHA256) != 2*sha256.Size:
		return nil, fmt.Errorf("the record is corrupt: its request is incomplete")
	case rec.Done != nil && rec.Done.ID == "":
		return nil, fmt.Errorf("the record is corrupt: its attachment has no id")
	}
	return &rec, nil
}
