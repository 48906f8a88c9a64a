package eventattach

import (
	"context"
	"io"
	"net/http"
)

// Content streams a file attachment's raw bytes: GET
// {route}/attachments/{id}/$value. The caller must close the reader; until
// then the request counts against the mailbox's concurrency cap, and
// cancelling ctx stops the read. Nothing is buffered: the reader is the
// answer's body. An unknown id is ErrNotFound and an empty id
// ErrInvalidInput; an item attachment has no $value (Graph answers 400).
func (a Attachments) Content(ctx context.Context, id string) (io.ReadCloser, error) {
	path, err := a.r.path(id)
	if err != nil {
		return nil, err
	}
	var body io.ReadCloser
	cl := &call{
		method:   http.MethodGet,
		url:      a.r.c.base + path + "/$value",
		mailbox:  a.r.mailbox(),
		okStatus: http.StatusOK,
		keepBody: true,
		// Raw bytes on success, Graph's JSON on an error.
		accept: "application/octet-stream, application/json",
		decode: func(resp *http.Response) error {
			if body != nil {
				body.Close() // an earlier attempt's body, should one ever be retried
			}
			body = resp.Body
			return nil
		},
	}
	if err := a.r.c.do(ctx, cl); err != nil {
		if body != nil {
			body.Close()
		}
		return nil, err
	}
	return body, nil
}
