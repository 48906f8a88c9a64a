package graphtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Meetings. An event becomes a meeting once it has attendees: other
// mailboxes of the server, each holding its own copy of the event. Graph
// gives each mailbox's copy its own id and shares only iCalUId ("A unique
// identifier for an event across calendars", resources/event.md); here the
// copy's id is the one AddAttendee is given, the organizer's by default.
//
// What reaches the copies: an attachment the organizer adds reaches the
// attendees only when the organizer then updates the event
// (event-post-attachments.md, second paragraph; users who missed it:
// microsoft-graph-docs#1818, #10063, microsoft-graph-docs-contrib#4501). So
// adding or deleting an attachment changes the organizer's event alone, and
// the organizer's PATCH of the event gives every copy the organizer's
// attachments as they are then (and its subject): a second update adds
// nothing twice, and what the organizer deleted leaves the copies.

// Event is a seeded event, for making it a meeting. Get one with
// Mailbox.Event.
type Event struct {
	mb *Mailbox
	ev *event
}

// Event returns the mailbox's event with that id, in any of its calendars,
// or nil if there is none.
func (m *Mailbox) Event(id string) *Event {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	ev := m.eventLocked(id)
	if ev == nil {
		return nil
	}
	return &Event{mb: m, ev: ev}
}

// ID is the event's id in its mailbox.
func (e *Event) ID() string { return e.ev.id }

// Mailbox is the mailbox that holds this event (for an attendee's copy, the
// attendee's).
func (e *Event) Mailbox() *Mailbox { return e.mb }

// IsOrganizer reports whether this is the organizer's event rather than an
// attendee's copy (Graph's isOrganizer).
func (e *Event) IsOrganizer() bool {
	e.mb.s.mu.Lock()
	defer e.mb.s.mu.Unlock()
	return e.ev.organizer == nil
}

// SetSubject sets the event's subject; on the organizer's event it reaches
// the attendees' copies with the next update, like the attachments.
func (e *Event) SetSubject(subject string) {
	e.mb.s.mu.Lock()
	defer e.mb.s.mu.Unlock()
	e.ev.subject = subject
}

// AddAttendee makes attendee's mailbox an attendee of the organizer's event
// and returns the attendee's copy, put in the attendee's default calendar
// with id copyID ("" means this event's id). The copy starts with the
// organizer's attachments as they are now (seeding stands for an
// invitation sent now, which carries them); later ones reach it only with
// the organizer's next update. Adding
// the same attendee again returns the existing copy. It panics on an
// attendee's copy (only the organizer invites), on the organizer's own
// mailbox, and when the attendee's mailbox has another event with copyID.
func (e *Event) AddAttendee(attendee *Mailbox, copyID string) *Event {
	s := e.mb.s
	s.mu.Lock()
	defer s.mu.Unlock()
	org := e.ev
	if org.organizer != nil {
		panic(fmt.Sprintf("graphtest: event %q of mailbox %q is an attendee's copy; add attendees to the organizer's event", org.id, e.mb.id))
	}
	if attendee == e.mb {
		panic(fmt.Sprintf("graphtest: mailbox %q organizes event %q and cannot attend it", e.mb.id, org.id))
	}
	for _, cp := range org.attendees {
		if cp.cal.mb == attendee {
			return &Event{mb: attendee, ev: cp}
		}
	}
	if copyID == "" {
		copyID = org.id
	}
	if attendee.eventLocked(copyID) != nil {
		panic(fmt.Sprintf("graphtest: mailbox %q already has an event %q", attendee.id, copyID))
	}
	cp := &event{id: copyID, cal: attendee.calendar, organizer: org}
	attendee.calendar.events = append(attendee.calendar.events, cp)
	org.attendees = append(org.attendees, cp)
	syncCopyLocked(org, cp)
	return &Event{mb: attendee, ev: cp}
}

// Attendees returns the attendees' copies of the organizer's event, in the
// order they were added (nil on an attendee's copy).
func (e *Event) Attendees() []*Event {
	e.mb.s.mu.Lock()
	defer e.mb.s.mu.Unlock()
	out := make([]*Event, 0, len(e.ev.attendees))
	for _, cp := range e.ev.attendees {
		out = append(out, &Event{mb: cp.cal.mb, ev: cp})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// syncCopyLocked gives an attendee's copy the organizer's current subject
// and attachments. An attachment the copy already holds keeps its id; each
// new one gets a new id, as it is a new item in the attendee's mailbox (ids
// are per mailbox; only iCalUId is shared, resources/event.md).
func syncCopyLocked(org, cp *event) {
	cp.subject = org.subject
	atts := make([]*attachment, 0, len(org.atts))
	for _, a := range org.atts {
		i := slices.IndexFunc(cp.atts, func(c *attachment) bool { return c.origin == a.ID })
		if i >= 0 {
			atts = append(atts, cp.atts[i])
			continue
		}
		c := &attachment{StoredAttachment: a.StoredAttachment, contentLocation: a.contentLocation, origin: a.ID}
		c.ID = newAttachmentID()
		c.Content = slices.Clone(a.Content)
		c.Item = slices.Clone(a.Item)
		atts = append(atts, c)
	}
	cp.atts = atts
	cp.version++
}

// eventSelectable are the event properties GET's $select accepts here.
var eventSelectable = []string{"id", "subject", "isOrganizer", "hasAttachments", "iCalUId",
	"changeKey", "organizer", "attendees", "type", "seriesMasterId"}

// eventUpdatable are the properties a PATCH of an event may set
// (event-update.md, "Request body").
var eventUpdatable = []string{"attendees", "body", "categories", "end", "hideAttendees", "importance",
	"isAllDay", "isOnlineMeeting", "isReminderOn", "location", "locations", "onlineMeetingProvider",
	"recurrence", "reminderMinutesBeforeStart", "responseRequested", "sensitivity", "showAs", "start", "subject"}

// getEvent is GET .../events/{id}, with $select.
func (s *Server) getEvent(c *call, mb *Mailbox, ev *event) {
	q, ok := parseQuery(c, "$select")
	if !ok {
		return
	}
	var sel map[string]bool
	if q.Has("$select") {
		sel = map[string]bool{}
		for _, p := range strings.Split(q.Get("$select"), ",") {
			p = strings.TrimSpace(p)
			if !slices.Contains(eventSelectable, p) {
				c.fail(http.StatusBadRequest, "BadRequest", "Could not find a property named '"+p+"' on type 'microsoft.graph.event'.")
				return
			}
			sel[p] = true
		}
	}
	s.mu.Lock()
	o := s.eventJSON(mb, ev, sel)
	s.mu.Unlock()
	c.writeJSON(http.StatusOK, o)
}

// updateEvent is PATCH .../events/{id}. Source: event-update.md ("If
// successful, this method returns a 200 OK response code and updated event
// object in the response body"). The organizer's PATCH sends the meeting
// update: each attendee's copy gets the organizer's attachments
// (event-post-attachments.md). Two exceptions: a body with only attendees
// updates "only the attendees that have changed" (event-update.md), and
// here PATCH never changes who attends (seed that with AddAttendee), so it
// reaches no copy; and {} reaches none unless Options.EmptyUpdateSendsUpdate.
// A PATCH of an attendee's copy answers Options.AttendeeUpdateStatus and
// never reaches another mailbox.
// Source: GRAPH-FACTS.md, Updating the event (upd-1, upd-3, upd-4, upd-5).
func (s *Server) updateEvent(c *call, mb *Mailbox, ev *event) {
	if _, ok := parseQuery(c); !ok {
		return
	}
	o, bad := s.readJSONObject(c.r)
	if bad == nil {
		bad = o.onlyKnown("microsoft.graph.event", eventUpdatable...)
	}
	var subject string
	var hasSubject bool
	if bad == nil {
		subject, hasSubject, bad = o.str("subject")
		if _, present := o["subject"]; present {
			hasSubject = true // "subject": null clears it
		}
	}
	if bad != nil {
		c.failBody(bad)
		return
	}
	s.mu.Lock()
	isCopy := ev.organizer != nil
	s.mu.Unlock()
	if isCopy && s.opts.AttendeeUpdateStatus != 0 && s.opts.AttendeeUpdateStatus != http.StatusOK {
		c.fail(s.opts.AttendeeUpdateStatus, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		return
	}
	s.mu.Lock()
	if hasSubject {
		ev.subject = subject
	}
	ev.version++
	_, onlyAttendees := o["attendees"]
	onlyAttendees = onlyAttendees && len(o) == 1
	sends := !isCopy && !onlyAttendees && (len(o) > 0 || s.opts.EmptyUpdateSendsUpdate)
	if sends {
		// Source: event-post-attachments.md ("update the event to send the
		// attachment and update the event for each attendee as well").
		for _, cp := range ev.attendees {
			syncCopyLocked(ev, cp)
		}
	}
	resp := s.eventJSON(mb, ev, nil)
	s.mu.Unlock()
	c.writeJSON(http.StatusOK, resp)
}

// eventJSON is an event as Graph answers it, trimmed to the properties this
// server models; sel (nil: all) is $select.
func (s *Server) eventJSON(mb *Mailbox, ev *event, sel map[string]bool) obj {
	org := ev
	if ev.organizer != nil {
		org = ev.organizer
	}
	changeKey := base64.StdEncoding.EncodeToString([]byte("v" + strconv.Itoa(ev.version) + ":" + ev.id))
	o := obj{
		{"@odata.context", s.URL() + "/$metadata#" + ownerSegment(mb) + "/events/$entity"},
		{"@odata.etag", `W/"` + changeKey + `"`},
		{"id", ev.id},
	}
	add := func(k string, v any) {
		if sel == nil || sel[k] {
			o = append(o, kv{k, v})
		}
	}
	add("changeKey", changeKey)
	add("iCalUId", iCalUID(org))
	add("subject", ev.subject)
	add("hasAttachments", len(s.shownLocked(ev)) > 0)
	add("isOrganizer", ev.organizer == nil)
	add("organizer", obj{{"emailAddress", emailAddress(org.cal.mb)}})
	attendees := make([]obj, 0, len(org.attendees))
	for _, cp := range org.attendees {
		attendees = append(attendees, obj{
			{"type", "required"},
			{"status", obj{{"response", "none"}, {"time", "0001-01-01T00:00:00Z"}}},
			{"emailAddress", emailAddress(cp.cal.mb)},
		})
	}
	add("attendees", attendees)
	// type and seriesMasterId: resources/event.md (series.go).
	add("type", ev.kind.String())
	var master any
	if ev.master != nil {
		master = ev.master.id
	}
	add("seriesMasterId", master)
	return o
}

// iCalUID is the id the organizer's event and its copies share: a
// deterministic stand-in shaped like Outlook's (a fixed prefix, then hex).
func iCalUID(org *event) string {
	h := sha256.Sum256([]byte(org.cal.mb.id + "\x00" + org.id))
	return "040000008200E00074C5B7101A82E00800000000" + strings.ToUpper(hex.EncodeToString(h[:16]))
}

// emailAddress is a mailbox as an emailAddress resource.
func emailAddress(mb *Mailbox) obj {
	addr := mb.upn
	if addr == "" {
		addr = mb.id + "@contoso.com"
	}
	return obj{{"name", mb.id}, {"address", addr}}
}
