package eventattach

import (
	"context"
	"io"
	"net/http"
)

// Content downloads an attachment's raw bytes as a stream: GET
// {route}/attachments/{id}/$value. For a file, its bytes; for an item
// attachment, the item as Graph renders it: MIME for a message, iCalendar
// for an event, vCard for a contact (attachment-get.md); a reference
// attachment has none (Graph answers 405). Nothing is buffered: the reader
// is the answer's body. The request counts against the mailbox's
// concurrency cap until the reader is closed, read to the end, or ctx ends
// (which closes it), whichever comes first; the caller should still close
// it. An unknown id is ErrNotFound and an empty id ErrInvalidInput.
func (a Attachments) Content(ctx context.Context, id string, _ ...*ContentOptions) (_ io.ReadCloser, err error) {
	defer a.traceOp(&ctx, "Content").end(&err)
	defer a.r.inOp("Content", http.MethodGet, &err, id, "$value")
	return a.content(ctx, "", id)
}

func (a Attachments) content(ctx context.Context, requestID, id string) (io.ReadCloser, error) {
	path, err := a.r.path(id)
	if err != nil {
		return nil, err
	}
	var body io.ReadCloser
	ex := &exchange{
		method:    http.MethodGet,
		url:       a.r.c.base + path + "/$value",
		mailbox:   a.r.mailbox(),
		requestID: requestID,
		okStatus:  http.StatusOK,
		keepBody:  true,
		// Raw bytes on success, Graph's JSON on an error.
		accept: "application/octet-stream, application/json",
		decode: func(resp *http.Response) error {
			if body != nil {
				body.Close() // an earlier attempt's body, should one ever be retried
			}
			body = closedWithCtx(ctx, resp.Body)
			return nil
		},
	}
	if err := a.r.c.do(ctx, ex); err != nil {
		if body != nil {
			body.Close()
		}
		return nil, err
	}
	return body, nil
}

// contentBody is closed when its ctx ends, so a reader nobody closes gives
// its mailbox slot back then rather than holding it for ever.
type contentBody struct {
	io.ReadCloser
	stop func() bool // unregisters the close on ctx end
}

func closedWithCtx(ctx context.Context, body io.ReadCloser) *contentBody {
	return &contentBody{ReadCloser: body, stop: context.AfterFunc(ctx, func() { body.Close() })}
}

func (b *contentBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.stop() // the answer has ended and its slot is back
	}
	return n, err
}

func (b *contentBody) Close() error {
	b.stop()
	return b.ReadCloser.Close()
}
