package eventattach

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Size limits of the two ways to attach a file.
const (
	// MaxAddSize bounds what AddFile and AddItem send in one POST: content
	// must be under it (Graph: "under 3 MB"). For files the tighter
	// MaxAddFileSize applies.
	MaxAddSize = 3 << 20
	// MaxAddFileSize bounds a file's bytes in one POST: AddFile refuses
	// content of this size or more, and Upload sends it through an upload
	// session instead. Graph's limit is on the whole request (about 4 MiB
	// of JSON, the file base64-encoded): the largest file measured to go
	// through was 3,145,611 bytes (msgraph-sdk-java PR#52), and longer
	// names or content ids lower it. 3,000,000 bytes, the docs' own "under
	// 3 MB", leaves 145,611 bytes (194 KB of JSON) for them
	// (GRAPH-FACTS.md, Adding attachments).
	MaxAddFileSize = 3_000_000
	// MaxUploadSize is the largest file an upload session takes.
	MaxUploadSize = 150 << 20
	// maxRequestLength is Graph's limit on a POST's whole body.
	maxRequestLength = 4 << 20
)

// listSelect asks for metadata only: attachments' bytes can be large and are
// fetched one at a time with Get. It names only properties of the declared
// type of the attachments set (microsoft.graph.attachment): Graph refuses a
// fileAttachment property there with 400 RequestBroker--ParseUri
// (GRAPH-FACTS.md, Query options). The large-attachments doc reads an attachment
// back with these (outlook-large-attachments.md, step 4).
const listSelect = "id,name,contentType,size,isInline,lastModifiedDateTime"

// checkSelect adds a file's content id in OData's cast form, which the
// Duplicate check compares. Graph takes it in public code's lists; when it
// is refused (400), the check lists listSelect and reads each candidate
// whole instead (GRAPH-FACTS.md, Query options).
const checkSelect = listSelect + ",microsoft.graph.fileAttachment/contentId"

// AddFile attaches a file of under MaxAddFileSize bytes to the event:
// POST {route}/attachments with a #microsoft.graph.fileAttachment. It returns
// the created attachment as Graph answered it (201 Created; ContentBytes is
// f's content, which Graph echoes). Content of MaxAddFileSize or more, or a
// request body over Graph's 4 MiB, is ErrTooLarge before any request (use
// Upload); an empty name or an invalid id is ErrInvalidInput; Graph's errors
// are *GraphError.
//
// A POST that may have reached Graph is not sent again before the
// package doc's Duplicate check has looked for it; when that check cannot
// decide, the error is ErrOutcomeUnknown.
func (a Attachments) AddFile(ctx context.Context, f *FileAttachment, opts ...*AddOptions) (_ *FileAttachment, err error) {
	defer a.traceOp(&ctx, "AddFile").end(&err)
	defer a.r.inOp("AddFile", http.MethodPost, &err)
	if f == nil {
		return nil, invalidInput("file attachment is nil")
	}
	if f.Name == "" {
		return nil, invalidInput("file attachment needs a name")
	}
	if n := int64(len(f.ContentBytes)); n >= MaxAddFileSize {
		return nil, tooLarge("file content", n, MaxAddFileSize, "; Upload sends larger files through an upload session")
	}
	u, err := a.r.url()
	if err != nil {
		return nil, err
	}
	body, err := newFileBody(f)
	if err != nil {
		return nil, err
	}
	if n := body.len(); n > maxRequestLength {
		return nil, tooLarge("the request's JSON", n, maxRequestLength, "; Upload sends the file through an upload session")
	}
	sent := sentFile(f.Name, f.ContentType, f.IsInline, f.ContentID)
	sent.size, sent.sum = int64(len(f.ContentBytes)), contentSum(f.ContentBytes)
	o := addOptions(opts)
	post := func(ctx context.Context) (Attachment, error) {
		if o.IfAbsent {
			found, unlock, err := a.ifAbsent(ctx, "AddFile", sent)
			if err != nil || found != nil {
				return found, err
			}
			defer unlock()
		}
		out := new(FileAttachment)
		err := a.create(ctx, u, body.reader, body.len(), sent, func(resp *http.Response) error {
			return decodeCreatedFile(resp.Body, out)
		}, func(found Attachment) {
			*out = *found.(*FileAttachment)
		})
		if errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("eventattach: Graph refused the POST of %q (%d bytes of JSON) as too large; Upload sends it through an upload session instead: %w", f.Name, body.len(), err)
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	var att Attachment
	if o.Key != "" {
		sum := sha256.Sum256(f.ContentBytes)
		req := fileRequest(a.Path(), f.Name, f.ContentType, f.IsInline, f.ContentID, sent.size, sum[:])
		att, err = a.keyed(ctx, "AddFile", o.Key, req, a.r.c.attemptTimeout, a.checkFor(sent),
			func(ctx context.Context, _ *keyHold, _ *UploadState) (Attachment, error) { return post(ctx) })
	} else {
		att, err = post(ctx)
	}
	if err != nil {
		return nil, err
	}
	out := *att.(*FileAttachment)
	out.ContentBytes = f.ContentBytes
	return &out, nil
}

// AddItem attaches an Outlook item (an *Event, *Message or *Contact) to the
// event: POST {route}/attachments with a #microsoft.graph.itemAttachment. It
// returns the created attachment (201 Created; Graph does not echo the item,
// so Item is i.Item). An item whose JSON is MaxAddSize or more is ErrTooLarge; a
// nil item, an empty name or an invalid id is ErrInvalidInput; Graph's errors
// are *GraphError, and ErrOutcomeUnknown when a POST that may have landed
// could not be checked (see the package doc's Duplicate check).
func (a Attachments) AddItem(ctx context.Context, i *ItemAttachment, opts ...*AddOptions) (_ *ItemAttachment, err error) {
	defer a.traceOp(&ctx, "AddItem").end(&err)
	defer a.r.inOp("AddItem", http.MethodPost, &err)
	if i == nil {
		return nil, invalidInput("item attachment is nil")
	}
	if i.Name == "" {
		return nil, invalidInput("item attachment needs a name")
	}
	item, err := marshalItem(i.Item)
	if err != nil {
		return nil, err
	}
	if n := int64(len(item)); n >= MaxAddSize {
		return nil, tooLarge("the item's JSON", n, MaxAddSize, "; Graph takes larger items only as files")
	}
	path, err := a.r.path()
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(itemAttachmentJSON{ODataType: odataItemAttachment, Name: i.Name, ContentType: i.ContentType, IsInline: i.IsInline, Item: item})
	if err != nil {
		return nil, err
	}
	sent := &sentAttachment{odataType: odataItemAttachment, name: storedName(i.Name), isInline: i.IsInline, item: i.Item}
	o := addOptions(opts)
	post := func(ctx context.Context) (Attachment, error) {
		if o.IfAbsent {
			found, unlock, err := a.ifAbsent(ctx, "AddItem", sent)
			if err != nil || found != nil {
				return found, err
			}
			defer unlock()
		}
		out := new(ItemAttachment)
		body := func() (io.Reader, error) { return bytes.NewReader(payload), nil }
		err := a.create(ctx, a.r.c.base+path, body, int64(len(payload)), sent, func(resp *http.Response) error {
			if err := json.NewDecoder(newBoundedAnswer(resp)).Decode(out); err != nil {
				return fmt.Errorf("eventattach: decoding the created item attachment: %w", err)
			}
			if out.ID == "" {
				return fmt.Errorf("eventattach: the created item attachment has no id")
			}
			return nil
		}, func(found Attachment) {
			*out = *found.(*ItemAttachment)
		})
		if errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("eventattach: Graph refused the POST of item %q (%d bytes of JSON) as too large; items cannot go through upload sessions, so make it smaller: %w", i.Name, len(payload), err)
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	var att Attachment
	if o.Key != "" {
		req := itemRequest(a.Path(), i.Name, i.IsInline, payload)
		att, err = a.keyed(ctx, "AddItem", o.Key, req, a.r.c.attemptTimeout, a.checkFor(sent),
			func(ctx context.Context, _ *keyHold, _ *UploadState) (Attachment, error) { return post(ctx) })
	} else {
		att, err = post(ctx)
	}
	if err != nil {
		return nil, err
	}
	out := *att.(*ItemAttachment)
	out.Item = i.Item // Graph does not echo it
	return &out, nil
}

// Add attaches a *FileAttachment or an *ItemAttachment (see AddFile and
// AddItem) and returns the created attachment of the same type. A
// *ReferenceAttachment or nil is ErrInvalidInput: Graph creates reference
// attachments on events only in beta.
func (a Attachments) Add(ctx context.Context, att Attachment, opts ...*AddOptions) (Attachment, error) {
	switch v := att.(type) {
	case *FileAttachment:
		if v == nil {
			return nil, invalidInput("file attachment is nil")
		}
		return a.AddFile(ctx, v, opts...)
	case *ItemAttachment:
		if v == nil {
			return nil, invalidInput("item attachment is nil")
		}
		return a.AddItem(ctx, v, opts...)
	case nil:
		return nil, invalidInput("attachment is nil")
	}
	return nil, invalidInput("cannot create a %T on an event in Graph v1.0", att)
}

// List returns the event's attachments, metadata only (no content bytes):
// GET {route}/attachments?$select=..., following @odata.nextLink. Each is a
// *FileAttachment, *ItemAttachment or *ReferenceAttachment. Errors are
// *GraphError (ErrNotFound for an unknown event) or ErrInvalidInput.
//
// A nextLink is followed only on the Graph origin the client was built for
// (another one would receive the bearer token), only if no earlier page of
// this List had it (a loop), and for at most 10,000 pages (maxListPages);
// each of these ends List with an error naming the cause, as does a page
// whose answer is larger than 8 MiB (maxAnswerSize).
func (a Attachments) List(ctx context.Context, _ ...*ListOptions) (_ []Attachment, err error) {
	defer a.traceOp(&ctx, "List").end(&err)
	defer a.r.inOp("List", http.MethodGet, &err)
	var all []Attachment
	_, err = a.list(ctx, "", listSelect, func(att Attachment) { all = append(all, att) })
	return all, err
}

type listPage struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// maxListPages bounds how many pages List follows. How Graph pages event
// attachments is not documented; the cap stops a server whose every
// nextLink is new (a repeated one is caught at once).
const maxListPages = 10000

// list walks every page of GET {route}/attachments?$select={sel} and reports
// each attachment and the server's clock (from the Date header of the first
// page) for the dedupe check.
func (a Attachments) list(ctx context.Context, requestID, sel string, each func(Attachment)) (time.Time, error) {
	path, err := a.r.path()
	if err != nil {
		return time.Time{}, err
	}
	next := a.r.c.base + path + "?$select=" + sel
	seen := map[string]bool{}
	var serverNow time.Time
	for pages := 0; next != ""; pages++ {
		if pages == maxListPages {
			return serverNow, fmt.Errorf("eventattach: listing attachments: more than %d pages", maxListPages)
		}
		if seen[next] {
			// A→B→A would run to the page cap, returning each page again.
			return serverNow, fmt.Errorf("eventattach: listing attachments: @odata.nextLink %s points back to an earlier page", redact(next))
		}
		seen[next] = true
		if err := a.checkNextLink(next); err != nil {
			return serverNow, err
		}
		var page listPage
		ex := &exchange{
			method:    http.MethodGet,
			url:       next,
			mailbox:   a.r.mailbox(),
			requestID: requestID,
			okStatus:  http.StatusOK,
			decode: func(resp *http.Response) error {
				if serverNow.IsZero() {
					serverNow, _ = http.ParseTime(resp.Header.Get("Date"))
				}
				return json.NewDecoder(newBoundedAnswer(resp)).Decode(&page)
			},
		}
		if err := a.r.c.do(ctx, ex); err != nil {
			return serverNow, err
		}
		for _, raw := range page.Value {
			att, err := unmarshalAttachment(raw)
			if err != nil {
				return serverNow, fmt.Errorf("eventattach: listing attachments: %w", err)
			}
			each(att)
		}
		next = page.NextLink
	}
	return serverNow, nil
}

// checkNextLink refuses a nextLink that leaves the Graph origin: following it
// would send the bearer token elsewhere.
func (a Attachments) checkNextLink(link string) error {
	u, err := url.Parse(link)
	if err != nil || !a.r.c.sendsToken(u) {
		return fmt.Errorf("eventattach: refusing @odata.nextLink outside %s", a.r.c.baseHost)
	}
	return nil
}

// Get returns one attachment with its content: GET {route}/attachments/{id}
// (with GetOptions.ExpandItem, ?$expand=microsoft.graph.itemattachment/item,
// so an item attachment comes with its Item). The result is a
// *FileAttachment, *ItemAttachment or *ReferenceAttachment by its
// @odata.type. A file's contentBytes is base64-decoded as the answer
// arrives, without holding the encoded text: Get holds about the file's
// size (up to twice it when the answer has no Content-Length and no size
// before contentBytes). An unknown id is ErrNotFound; an empty id
// ErrInvalidInput; an answer longer than a MaxUploadSize file's (its base64
// and 1 MiB) is an error, read no further, as is contentBytes that is not
// base64 (a base64.CorruptInputError). To download a file without holding
// it whole, use Content.
func (a Attachments) Get(ctx context.Context, id string, opts ...*GetOptions) (_ Attachment, err error) {
	defer a.traceOp(&ctx, "Get").end(&err)
	defer a.r.inOp("Get", http.MethodGet, &err, id)
	query := ""
	if last(opts).ExpandItem {
		query = "?$expand=microsoft.graph.itemattachment/item"
	}
	return a.get(ctx, "", id, query)
}

// Delete removes an attachment: DELETE {route}/attachments/{id}. It returns
// nil on 204, ErrNotFound (as *GraphError) for an unknown id, and
// ErrInvalidInput for an empty id. A DELETE answered with a 5xx or no
// answer is retried, and a 404 to the retry is success: Graph has been seen
// to delete and then answer 500 (GRAPH-FACTS.md, Errors and throttling).
func (a Attachments) Delete(ctx context.Context, id string, _ ...*DeleteOptions) (err error) {
	defer a.traceOp(&ctx, "Delete").end(&err)
	defer a.r.inOp("Delete", http.MethodDelete, &err, id)
	path, err := a.r.path(id)
	if err != nil {
		return err
	}
	out := a.r.c.send(ctx, &exchange{
		method:   http.MethodDelete,
		url:      a.r.c.base + path,
		mailbox:  a.r.mailbox(),
		okStatus: http.StatusNoContent,
	}, a.r.c.retry.MaxRetries)
	if out.retries > 0 && out.answer != nil && out.answer.StatusCode == http.StatusNotFound {
		return nil // an earlier attempt deleted it
	}
	return out.err
}

// describe returns the fields the dedupe check compares.
func describe(att Attachment) (name, contentType, odataType string, modified time.Time) {
	switch v := att.(type) {
	case *FileAttachment:
		return v.Name, v.ContentType, odataFileAttachment, v.LastModifiedDateTime
	case *ItemAttachment:
		return v.Name, v.ContentType, odataItemAttachment, v.LastModifiedDateTime
	case *ReferenceAttachment:
		return v.Name, v.ContentType, odataReferenceAttachment, v.LastModifiedDateTime
	}
	return "", "", "", time.Time{}
}
