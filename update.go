package eventattach

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Attendees see an attachment only after an update. Graph's add-attachment
// page says: "If an organizer adds an attachment to a meeting event, the
// organizer can subsequently update the event to send the attachment and
// update the event for each attendee as well" (event-post-attachments.md);
// users who missed it saw the file on the organizer's event only
// (microsoft-graph-docs#1818, #10063, microsoft-graph-docs-contrib#4501).
// Which update is enough is not documented: event-update.md lists the
// properties a PATCH may set and says nothing of a PATCH that sets none.
// SendUpdate therefore sets a documented property to the value it already
// has.

// ErrNotOrganizer reports that SendUpdate was called on an attendee's copy
// of a meeting (Graph's isOrganizer is false): only the organizer's update
// reaches the attendees, and an attendee's copy is a separate event in the
// attendee's mailbox.
var ErrNotOrganizer = errors.New("eventattach: not the organizer's event")

// SendUpdateOptions tunes SendUpdate; nil or the zero value sends the
// default update.
type SendUpdateOptions struct {
	// Body, when not empty, is the JSON object PATCHed instead of the default
	// {"subject": …}, e.g. {"body":{"contentType":"text","content":"Agenda
	// attached."}} to change the invitation's text in the same update (on a
	// Teams meeting, keep the join details: event-update.md), or {} to send
	// no property at all (whether Graph then sends a meeting update is not
	// documented). SendUpdate then reads nothing first. It must be a JSON
	// object.
	Body json.RawMessage
}

// eventState is what SendUpdate reads of an event.
type eventState struct {
	Subject     json.RawMessage `json:"subject"`
	IsOrganizer *bool           `json:"isOrganizer"`
}

// SendUpdate sends the event's attendees a meeting update, which carries the
// organizer's current attachments to each attendee's copy of the event.
// Call it on the organizer's event after adding (or deleting) attachments;
// one call covers any number of them.
//
// By default it sends two requests:
//
//	GET   {route}/events/{id}?$select=subject,isOrganizer
//	PATCH {route}/events/{id}   {"subject": <the subject just read>}
//
// with Content-Type: application/json, so the event is left as it was
// (an absent subject is sent as ""). With SendUpdateOptions.Body it sends
// only the PATCH, with that body. Graph answers the PATCH 200 OK with the
// updated event (event-update.md).
//
// What Graph guarantees: an update by the organizer sends the attachment and
// updates the event for each attendee (event-post-attachments.md). It does
// not document which property the update must touch, nor whether a PATCH of
// {} counts; re-setting the subject is an ordinary update. Each call sends
// every attendee a meeting update (for a recurring series with separately
// updated occurrences, one per occurrence too: event-update.md), and a
// retry after a lost answer may send a second one. If the subject changes
// between the GET and the PATCH, the PATCH puts the old one back. Events in
// group calendars do not support attachments (resources/attachment.md).
//
// Errors: ErrNotOrganizer when the event is an attendee's copy (read before
// the PATCH, or from the PATCH's answer when Body is set; an attendee's
// PATCH changes only the attendee's copy); ErrInvalidInput for a bad id or
// a Body that is not a JSON object, before anything is sent; a *GraphError
// for an error answer (ErrNotFound for an unknown event).
func (e EventPath) SendUpdate(ctx context.Context, options ...*SendUpdateOptions) (err error) {
	defer e.r.inOp("SendUpdate", http.MethodPatch, &err)
	u, err := e.r.url()
	if err != nil {
		return err
	}
	opts := last(options)
	var body []byte
	if len(opts.Body) > 0 {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(opts.Body, &o); err != nil || o == nil {
			return invalidInput("SendUpdateOptions.Body must be a JSON object")
		}
		body = opts.Body
	} else {
		var st eventState
		err := e.r.c.do(ctx, &exchange{
			method:   http.MethodGet,
			url:      u + "?$select=subject,isOrganizer",
			mailbox:  e.r.mailbox(),
			okStatus: http.StatusOK,
			decode: func(resp *http.Response) error {
				return json.NewDecoder(newBoundedAnswer(resp)).Decode(&st)
			},
		})
		if err != nil {
			return err
		}
		if st.IsOrganizer != nil && !*st.IsOrganizer {
			return fmt.Errorf("%w: event %s is an attendee's copy; update the organizer's event", ErrNotOrganizer, e.r.eventID())
		}
		subject := st.Subject
		if len(subject) == 0 {
			subject = json.RawMessage(`""`)
		}
		body, _ = json.Marshal(map[string]json.RawMessage{"subject": subject})
	}
	var answer eventState
	err = e.r.c.do(ctx, &exchange{
		method:      http.MethodPatch,
		url:         u,
		mailbox:     e.r.mailbox(),
		body:        func() (io.Reader, error) { return bytes.NewReader(body), nil },
		bodyLen:     int64(len(body)),
		contentType: "application/json",
		okStatus:    http.StatusOK,
		decode: func(resp *http.Response) error {
			// The update is done once Graph answers 200: an answer that
			// cannot be read only leaves isOrganizer unknown.
			_ = json.NewDecoder(newBoundedAnswer(resp)).Decode(&answer)
			return nil
		},
	})
	if err != nil {
		return err
	}
	if answer.IsOrganizer != nil && !*answer.IsOrganizer {
		return fmt.Errorf("%w: event %s is an attendee's copy; its PATCH reached no one else", ErrNotOrganizer, e.r.eventID())
	}
	return nil
}
