package eventattach

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Reconciling: when a request that may have created an attachment (a POST,
// or the last chunk of an upload) got no usable answer, the SDK reads the
// event before doing anything else. The rule for "this attachment is the
// one we sent" is written once, in the package documentation (Duplicate
// check); findSent is its only implementation.

// clockSlack widens the window of the duplicate check. The call's start is
// put on Graph's clock with the list answer's Date header, but Graph's
// front ends and the mailbox store that stamps lastModifiedDateTime have
// been seen tens of seconds apart; a window short of the skew would miss
// the attempt that landed and send it again.
const clockSlack = time.Minute

// sentAttachment is what a create sent, as Graph stores it.
type sentAttachment struct {
	odataType   string
	name        string // storedName of the name sent
	contentType string // "" when Graph picks one: any matches
	isInline    bool
	contentID   string
	size        int64       // file bytes
	sum         []byte      // contentSum of the file bytes; nil until known
	item        OutlookItem // the item sent, for item attachments
}

// The Duplicate check compares a candidate's bytes with what was sent by
// their length and a 64-bit hash: maphash, which runs at memory speed
// (a 100 MiB upload hashed with sha256 spent 40 % of its CPU there), seeded
// once per process; sums are only ever compared within the process that
// made them. Checkpoints keep their sha256 (UploadState.SHA256), which
// another process checks.
var contentSeed = maphash.MakeSeed()

func newContentHash() hash.Hash {
	h := new(maphash.Hash)
	h.SetSeed(contentSeed)
	return h
}

func contentSum(b []byte) []byte {
	h := newContentHash()
	h.Write(b)
	return h.Sum(nil)
}

func sentFile(name, contentType string, isInline bool, contentID string) *sentAttachment {
	return &sentAttachment{odataType: odataFileAttachment, name: storedName(name), contentType: contentType, isInline: isInline, contentID: contentID}
}

// findSent looks on the event for the attachment s describes, modified no
// earlier than start (this machine's clock, moved onto Graph's with the
// list answer's Date header, less clockSlack; a zero start means any time). Candidates of the same kind,
// name and inline flag are read back newest first: a file's content id and
// content type from its metadata and its bytes through $value (length and
// hash), an item's own fields through $expand. It returns nil, nil when
// there is no such attachment, and an error when it cannot tell.
func (a Attachments) findSent(ctx context.Context, requestID string, s *sentAttachment, start time.Time) (Attachment, error) {
	var cands []candidate
	collect := func(att Attachment) {
		name, _, kind, mod := describe(att)
		if kind == s.odataType && name == s.name && inline(att) == s.isInline {
			cands = append(cands, candidate{id: att.AttachmentID(), mod: mod, listed: att})
		}
	}
	contentIDListed := true
	serverNow, err := a.list(ctx, requestID, checkSelect, collect)
	if ge := (*GraphError)(nil); errors.As(err, &ge) && ge.StatusCode == http.StatusBadRequest {
		// Graph refused the cast form of contentId: list the base type's
		// properties, and read each candidate whole to learn its content id.
		cands, contentIDListed = nil, false
		serverNow, err = a.list(ctx, requestID, listSelect, collect)
	}
	if err != nil {
		return nil, err
	}
	if serverNow.IsZero() {
		serverNow = time.Now()
	}
	since := serverNow.Add(-time.Since(start)).Add(-clockSlack)
	if start.IsZero() {
		since = time.Time{} // IfAbsent: whatever its age
	}
	// Newest first: the attempt that landed is the latest of its name.
	slices.SortStableFunc(cands, func(x, y candidate) int { return y.mod.Compare(x.mod) })
	for _, c := range cands {
		if c.mod.Before(since) {
			break
		}
		var found Attachment
		var err error
		switch {
		case s.odataType == odataItemAttachment:
			found, err = a.sameItem(ctx, requestID, c.id, s)
		case contentIDListed:
			found, err = a.sameFile(ctx, requestID, c, s)
		default:
			found, err = a.sameWholeFile(ctx, requestID, c.id, s)
		}
		if err != nil {
			return nil, err
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, nil
}

// candidate is an attachment of the sent one's kind, name and inline flag,
// as the check's list described it.
type candidate struct {
	id     string
	mod    time.Time
	listed Attachment // a file's content id included, when the list selected it
}

func inline(att Attachment) bool {
	switch v := att.(type) {
	case *FileAttachment:
		return v.IsInline
	case *ItemAttachment:
		return v.IsInline
	case *ReferenceAttachment:
		return v.IsInline
	}
	return false
}

// sameContentType: "" sent means Graph picked one, and any matches.
func (s *sentAttachment) sameContentType(got string) bool {
	return s.contentType == "" || strings.EqualFold(got, s.contentType)
}

// sameFile compares a listed candidate's content id and content type, and
// when they match reads its bytes through $value.
func (a Attachments) sameFile(ctx context.Context, requestID string, c candidate, s *sentAttachment) (Attachment, error) {
	f, ok := c.listed.(*FileAttachment)
	if !ok || f.ContentID != s.contentID || !s.sameContentType(f.ContentType) {
		return nil, nil
	}
	same, err := a.contentMatches(ctx, requestID, c.id, s.size, s.sum)
	if err != nil || !same {
		return nil, err
	}
	return f, nil
}

// sameWholeFile reads the candidate whole (GET {route}/attachments/{id},
// contentBytes included): the fallback when Graph would not list content ids.
func (a Attachments) sameWholeFile(ctx context.Context, requestID, id string, s *sentAttachment) (Attachment, error) {
	got, err := a.get(ctx, requestID, id, "")
	if err != nil {
		return nil, err
	}
	f, ok := got.(*FileAttachment)
	if !ok || f.ContentID != s.contentID || !s.sameContentType(f.ContentType) ||
		int64(len(f.ContentBytes)) != s.size || !bytes.Equal(contentSum(f.ContentBytes), s.sum) {
		return nil, nil
	}
	f.ContentBytes = nil // metadata, as the listed path returns
	return f, nil
}

// sameItem reads the candidate with its item and compares the item's own
// fields with those sent.
func (a Attachments) sameItem(ctx context.Context, requestID, id string, s *sentAttachment) (Attachment, error) {
	got, err := a.get(ctx, requestID, id, "?$expand=microsoft.graph.itemattachment/item")
	if err != nil {
		return nil, err
	}
	it, ok := got.(*ItemAttachment)
	if !ok || !sameItemFields(s.item, it.Item) {
		return nil, nil
	}
	return it, nil
}

// sameItemFields compares what Graph keeps as sent: the item's type, its
// subject or names, and a text body. (Graph rewrites dates into its own
// format and may turn text into HTML, so those are not compared.)
func sameItemFields(sent, got OutlookItem) bool {
	switch s := sent.(type) {
	case *Event:
		g, ok := got.(*Event)
		return ok && g.Subject == s.Subject && sameBody(s.Body, g.Body)
	case *Message:
		g, ok := got.(*Message)
		return ok && g.Subject == s.Subject && sameBody(s.Body, g.Body)
	case *Contact:
		g, ok := got.(*Contact)
		return ok && g.GivenName == s.GivenName && g.Surname == s.Surname && (s.DisplayName == "" || g.DisplayName == s.DisplayName)
	}
	return false
}

func sameBody(sent, got *ItemBody) bool {
	if sent == nil || got == nil || !strings.EqualFold(sent.ContentType, got.ContentType) {
		return true // not sent, or converted by Graph: nothing to compare
	}
	return strings.TrimSpace(sent.Content) == strings.TrimSpace(got.Content)
}

// get reads one attachment: GET {route}/attachments/{id}{query}, its
// contentBytes decoded as the answer streams in (decodeAttachmentAnswer).
func (a Attachments) get(ctx context.Context, requestID, id, query string) (Attachment, error) {
	path, err := a.r.path(id)
	if err != nil {
		return nil, err
	}
	var out Attachment
	err = a.r.c.do(ctx, &exchange{
		method:    http.MethodGet,
		url:       a.r.c.base + path + query,
		mailbox:   a.r.mailbox(),
		requestID: requestID,
		okStatus:  http.StatusOK,
		decode: func(resp *http.Response) (err error) {
			out, err = decodeAttachmentAnswer(resp, maxGetAnswer)
			return err
		},
	})
	return out, err
}

// contentMatches reports whether the attachment id holds exactly size bytes
// whose contentSum is sum: GET {route}/attachments/{id}/$value, hashed as it
// streams (at most size+1 bytes are read). An answer cut off is a failed
// read, which the engine sends again like any GET.
func (a Attachments) contentMatches(ctx context.Context, requestID, id string, size int64, sum []byte) (bool, error) {
	path, err := a.r.path(id)
	if err != nil {
		return false, err
	}
	var same bool
	err = a.r.c.do(ctx, &exchange{
		method:    http.MethodGet,
		url:       a.r.c.base + path + "/$value",
		mailbox:   a.r.mailbox(),
		requestID: requestID,
		okStatus:  http.StatusOK,
		accept:    "application/octet-stream, application/json",
		decode: func(resp *http.Response) error {
			h := newContentHash()
			n, err := io.Copy(h, io.LimitReader(resp.Body, size+1))
			if err != nil {
				return err
			}
			if n <= size && resp.ContentLength > n {
				return io.ErrUnexpectedEOF
			}
			same = n == size && bytes.Equal(h.Sum(nil), sum)
			return nil
		},
	})
	return same, err
}

// storedName is name as Graph stores it: encoding/json (like Graph's own
// parser) replaces each byte that is not valid UTF-8 with U+FFFD, so a
// Latin-1 file name comes back changed.
func storedName(name string) string {
	if utf8.ValidString(name) {
		return name
	}
	raw, _ := json.Marshal(name)
	var out string
	_ = json.Unmarshal(raw, &out)
	return out
}

// ErrOutcomeUnknown is the error of a create whose request may have reached
// Graph (no answer, a 5xx, an answer cut off) when the SDK could not then
// find out whether the attachment was created: the check's own reads
// failed, or ctx ended first. The attachment may exist: do not send it
// again blindly. List the event's attachments and look for it (by the rule
// of the package's Duplicate check) before deciding to add it again.
var ErrOutcomeUnknown = errors.New("eventattach: outcome unknown: the attachment may have been created")

// unknownOutcome wraps the failure that left the outcome open and why the
// check could not settle it.
func unknownOutcome(what string, cause, check error) error {
	return fmt.Errorf("%w: %s: %w (checking the event failed: %v)", ErrOutcomeUnknown, what, cause, check)
}
