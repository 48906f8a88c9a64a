package graphtest

import (
	"fmt"
	"net/http"
)

// Recurring events. A series master holds the series' attachments. Its
// occurrences are views of the master until one is changed, which makes it
// an exception: its own item with its own attachments (Exchange's storage
// model, MS-OXOCAL 2.2.1.44.2 and 3.1.4.6.2). Graph documents nothing about
// attachments on occurrences, so what a read or a write of an occurrence
// does follows Options.OccurrenceHidesMasterAttachments and
// Options.OccurrenceWrites. Source: GRAPH-FACTS.md, Recurring events
// (recur-1 to recur-4, recur-6: [unknown] for Graph; MS-OXOCAL [doc]; NexJ [user]).

// eventKind is Graph's event type property.
type eventKind int

const (
	singleInstance eventKind = iota
	seriesMaster
	occurrence
	exception
)

func (k eventKind) String() string {
	return [...]string{"singleInstance", "seriesMaster", "occurrence", "exception"}[k]
}

// AddSeries adds a recurring series' master with that id to the default
// calendar and returns it; add its instances with Event.AddOccurrence and
// Event.AddException. Event ids are unique per mailbox: it panics if the
// mailbox has an event with that id.
func (m *Mailbox) AddSeries(masterID string) *Event { return m.calendar.AddSeries(masterID) }

// AddSeries adds a recurring series' master with that id to this calendar
// and returns it. It panics if the mailbox has an event with that id.
func (c *Calendar) AddSeries(masterID string) *Event {
	c.mb.s.mu.Lock()
	defer c.mb.s.mu.Unlock()
	ev := c.addLocked(masterID)
	ev.kind = seriesMaster
	return &Event{mb: c.mb, ev: ev}
}

// AddOccurrence adds an occurrence with that id to the series whose master
// e is, in the master's calendar. It panics if e is not a series master or
// the mailbox has an event with that id.
func (e *Event) AddOccurrence(id string) *Event { return e.addInstance(id, occurrence) }

// AddException adds an exception (an occurrence changed on its own) with
// that id to the series whose master e is. It starts with no attachments:
// the master's are not copied to it (MS-OXOCAL 3.1.4.6.2 copies recipients
// and overridden properties only). It panics like AddOccurrence.
func (e *Event) AddException(id string) *Event { return e.addInstance(id, exception) }

func (e *Event) addInstance(id string, kind eventKind) *Event {
	s := e.mb.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.ev.kind != seriesMaster {
		panic(fmt.Sprintf("graphtest: event %q of mailbox %q is not a series master", e.ev.id, e.mb.id))
	}
	ev := e.ev.cal.addLocked(id)
	ev.kind, ev.master = kind, e.ev
	return &Event{mb: e.mb, ev: ev}
}

// Type is the event's Graph type: "singleInstance", "seriesMaster",
// "occurrence" or "exception". An occurrence that got an attachment is an
// exception from then on (Options.OccurrenceWrites).
func (e *Event) Type() string {
	e.mb.s.mu.Lock()
	defer e.mb.s.mu.Unlock()
	return e.ev.kind.String()
}

// addLocked adds a new event to the calendar; it panics if the mailbox has
// one with that id.
func (c *Calendar) addLocked(id string) *event {
	if e := c.mb.eventLocked(id); e != nil {
		panic(fmt.Sprintf("graphtest: mailbox %q already has an event %q", c.mb.id, id))
	}
	ev := &event{id: id, cal: c}
	c.events = append(c.events, ev)
	return ev
}

// shownLocked is the attachment set reads of ev see: an occurrence shows
// its master's unless Options.OccurrenceHidesMasterAttachments; every other
// event (exceptions included) shows its own.
func (s *Server) shownLocked(ev *event) []*attachment {
	if ev.kind == occurrence && ev.master != nil {
		if s.opts.OccurrenceHidesMasterAttachments {
			return nil
		}
		return ev.master.atts
	}
	return ev.atts
}

// refuseOccurrenceWrite answers 400 when ev is an occurrence and
// Options.OccurrenceWrites is OccurrenceRefused; it reports whether it did.
func (s *Server) refuseOccurrenceWrite(c *call, ev *event) bool {
	s.mu.Lock()
	isOcc := ev.kind == occurrence
	s.mu.Unlock()
	if isOcc && s.opts.OccurrenceWrites == OccurrenceRefused {
		c.fail(http.StatusBadRequest, "ErrorInvalidRequest",
			"Attachments cannot be added to an occurrence of a recurring series; add them to the series master or to an exception.")
		return true
	}
	return false
}

// addAttachmentLocked stores a new attachment on ev. An occurrence becomes
// an exception first (Options.OccurrenceWrites; refusals are answered
// before), with no attachments of its own before this one.
func addAttachmentLocked(ev *event, a *attachment) {
	if ev.kind == occurrence {
		ev.kind = exception
		ev.version++
	}
	ev.atts = append(ev.atts, a)
}
