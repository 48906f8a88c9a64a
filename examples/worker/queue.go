package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// task is one unit of work: attach a file to an event, or (Update) send
// the event's attendees the update that carries its attachments.
type task struct {
	// Key is the task's idempotency key (eventattach.FileUpload.Key): every
	// delivery of the task carries the same one.
	Key    string `json:"key"`
	User   string `json:"user"`
	Event  string `json:"event"`
	File   string `json:"file,omitempty"` // a path on disk; "" with Size: synthesised content
	Name   string `json:"name,omitempty"` // the attachment's name
	Size   int64  `json:"size,omitempty"` // synthesise this many bytes (queue tasks, -generate)
	Update bool   `json:"update,omitempty"`
}

func (t task) String() string {
	if t.Update {
		return "update " + t.User + "," + t.Event
	}
	return t.User + "," + t.Event + "," + t.Name
}

// delivery is a task as a queue hands it out: the same task may come in
// several deliveries, at once or after a worker died holding it.
type delivery struct {
	ID   string `json:"delivery"`
	Task task   `json:"task"`
}

// ack is what a worker tells the queue about a delivery.
type ack struct {
	OK           bool   `json:"ok"`
	AttachmentID string `json:"attachmentId,omitempty"`
	Error        string `json:"error,omitempty"`
}

// errQueueDone is the queue's answer once every task is done.
var errQueueDone = errors.New("queue: every task is done")

// httpQueue is the worker's side of a minimal HTTP queue with
// at-least-once delivery, the shape Service Bus, SQS or a Storage queue
// have:
//
//	POST {url}/take?worker=NAME      200 a delivery (JSON), 204 none now, 410 all done
//	POST {url}/ack?delivery=ID       the outcome (JSON ack); a failed one is delivered again
//
// A delivery not acknowledged in time is handed out again (to whoever
// takes next), even while its first worker still works on it. A task with
// "update": true asks for the event's update (SendUpdate): the queue puts
// it in once the event's files are in.
type httpQueue struct {
	base   string
	worker string
	hc     *http.Client
}

// take returns the next delivery, waiting (and asking again) while the
// queue has none for now.
func (q *httpQueue) take(ctx context.Context) (delivery, error) {
	wait := 50 * time.Millisecond
	for {
		var d delivery
		status, err := q.post(ctx, "/take?worker="+url.QueryEscape(q.worker), nil, &d)
		switch {
		case err != nil:
			return delivery{}, err
		case status == http.StatusOK:
			return d, nil
		case status == http.StatusGone:
			return delivery{}, errQueueDone
		case status != http.StatusNoContent:
			return delivery{}, fmt.Errorf("queue: take answered %d", status)
		}
		select {
		case <-ctx.Done():
			return delivery{}, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

func (q *httpQueue) ack(ctx context.Context, id string, a ack) error {
	status, err := q.post(ctx, "/ack?delivery="+url.QueryEscape(id), a, nil)
	if err == nil && status != http.StatusNoContent && status != http.StatusOK {
		err = fmt.Errorf("queue: ack answered %d", status)
	}
	return err
}

func (q *httpQueue) post(ctx context.Context, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.base+path, body)
	if err != nil {
		return 0, err
	}
	resp, err := q.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return 0, fmt.Errorf("queue: %w", err)
		}
	}
	return resp.StatusCode, nil
}
