package graphtest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The ids of the calendar group and calendar every user mailbox starts with.
// They are addressable like any other (e.g. /me/calendars/{DefaultCalendarID}).
const (
	DefaultCalendarGroupID = "AAMkADefaultCalendarGroup="
	DefaultCalendarID      = "AAMkADefaultCalendar="
)

// Mailbox is a user's or group's mailbox, for seeding events. Get one with
// Server.Me, Server.User or Server.Group.
type Mailbox struct {
	s         *Server
	id, upn   string
	isGroup   bool
	noMailbox bool // a user without an Exchange mailbox (UserWithoutMailbox)

	defaultGroup *CalendarGroup   // nil for group mailboxes
	groups       []*CalendarGroup // including defaultGroup
	calendar     *Calendar        // the default calendar
}

// CalendarGroup is a user's calendar group.
type CalendarGroup struct {
	mb   *Mailbox
	id   string
	cals []*Calendar
}

// Calendar holds events.
type Calendar struct {
	mb     *Mailbox
	group  *CalendarGroup // nil for a group mailbox's calendar
	id     string
	events []*event
}

type event struct {
	id   string
	cal  *Calendar
	atts []*attachment

	// Recurring series (series.go): kind is singleInstance for a plain
	// event; an occurrence's or exception's master is its series master.
	kind   eventKind
	master *event

	// Meetings (event.go): the organizer's event lists its attendees'
	// copies; a copy points back at the organizer's event.
	subject   string
	version   int      // counts updates, for changeKey and @odata.etag
	organizer *event   // nil on the organizer's own event
	attendees []*event // attendees' copies, on the organizer's event
}

// attachment is a stored attachment; contentLocation is not part of
// StoredAttachment because clients rarely set it.
type attachment struct {
	StoredAttachment
	contentLocation string
	origin          string // on an attendee's copy: the organizer's attachment id
}

func newMailbox(s *Server, id, upn string, isGroup bool) *Mailbox {
	m := &Mailbox{s: s, id: id, upn: upn, isGroup: isGroup}
	if isGroup {
		m.calendar = &Calendar{mb: m, id: DefaultCalendarID}
		return m
	}
	m.defaultGroup = &CalendarGroup{mb: m, id: DefaultCalendarGroupID}
	m.groups = []*CalendarGroup{m.defaultGroup}
	m.calendar = &Calendar{mb: m, group: m.defaultGroup, id: DefaultCalendarID}
	m.defaultGroup.cals = []*Calendar{m.calendar}
	return m
}

// Me is the signed-in user's mailbox (/me): id "me-0000", userPrincipalName
// "me@contoso.com".
func (s *Server) Me() *Mailbox { return s.me }

// User returns the user mailbox whose id or userPrincipalName (both
// compared case-insensitively, as Entra ID compares GUIDs and UPNs) is
// idOrUPN, creating it with that id if there is none.
// A created user's userPrincipalName is idOrUPN if it contains '@', else
// idOrUPN + "@contoso.com". User("me") is Me().
func (s *Server) User(idOrUPN string) *Mailbox {
	if idOrUPN == "me" {
		return s.me
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.findUserLocked(idOrUPN); m != nil {
		return m
	}
	upn := idOrUPN
	if !strings.Contains(upn, "@") {
		upn += "@contoso.com"
	}
	m := newMailbox(s, idOrUPN, upn, false)
	s.users = append(s.users, m)
	return m
}

// UserWithoutMailbox returns the user idOrUPN as User does, creating it if
// there is none, and takes away its Exchange mailbox: an unlicensed user, a
// guest, or a mailbox hosted on-premises. Every Graph route of that user
// (and of /me, for Me) then answers 404 MailboxNotEnabledForRESTAPI with
// Options.NoMailboxMessage; its events and attachments stay stored but out
// of reach.
// Source: GRAPH-FACTS.md, Mailboxes and users (mbx-1, mbx-2, mbx-3; KB 4462988 [doc]; MicrosoftDocs/azure-docs#85666, microsoft-graph-docs#8520 [user]).
func (s *Server) UserWithoutMailbox(idOrUPN string) *Mailbox {
	m := s.User(idOrUPN)
	s.mu.Lock()
	m.noMailbox = true
	s.mu.Unlock()
	return m
}

// Group returns the group mailbox with that id, creating it if there is none.
// A group mailbox has only its default calendar.
func (s *Server) Group(id string) *Mailbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.groups[id]; m != nil {
		return m
	}
	m := newMailbox(s, id, "", true)
	s.groups[id] = m
	return m
}

func (s *Server) findUserLocked(idOrUPN string) *Mailbox {
	for _, m := range s.users {
		// Ids and UPNs compare case-insensitively, as Graph's do: a GUID in
		// capitals, a UPN in any casing names the same user.
		if strings.EqualFold(m.id, idOrUPN) || strings.EqualFold(m.upn, idOrUPN) {
			return m
		}
	}
	return nil
}

// ID is the mailbox's user or group id.
func (m *Mailbox) ID() string { return m.id }

// UPN is the user's userPrincipalName ("" for a group).
func (m *Mailbox) UPN() string { return m.upn }

// Calendar is the mailbox's default calendar (id DefaultCalendarID).
func (m *Mailbox) Calendar() *Calendar { return m.calendar }

// CalendarGroup is the user's default calendar group (id
// DefaultCalendarGroupID); nil for a group mailbox.
func (m *Mailbox) CalendarGroup() *CalendarGroup { return m.defaultGroup }

// AddEvent adds an event to the default calendar.
func (m *Mailbox) AddEvent(id string) { m.calendar.AddEvent(id) }

// AddCalendar returns the calendar with that id in the default calendar
// group, adding it if there is none. It panics on a group mailbox, which has
// only its default calendar.
func (m *Mailbox) AddCalendar(id string) *Calendar {
	if m.isGroup {
		panic("graphtest: a group mailbox has only its default calendar")
	}
	return m.defaultGroup.AddCalendar(id)
}

// AddCalendarGroup returns the calendar group with that id, adding it if
// there is none. It panics on a group mailbox.
func (m *Mailbox) AddCalendarGroup(id string) *CalendarGroup {
	if m.isGroup {
		panic("graphtest: a group mailbox has no calendar groups")
	}
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if g := m.groupLocked(id); g != nil {
		return g
	}
	g := &CalendarGroup{mb: m, id: id}
	m.groups = append(m.groups, g)
	return g
}

// ID is the calendar group's id.
func (g *CalendarGroup) ID() string { return g.id }

// AddCalendar returns the calendar with that id in this group, adding it if
// there is none.
func (g *CalendarGroup) AddCalendar(id string) *Calendar {
	g.mb.s.mu.Lock()
	defer g.mb.s.mu.Unlock()
	if c := g.calendarLocked(id); c != nil {
		return c
	}
	c := &Calendar{mb: g.mb, group: g, id: id}
	g.cals = append(g.cals, c)
	return c
}

// ID is the calendar's id.
func (c *Calendar) ID() string { return c.id }

// AddEvent adds an event with that id to this calendar; adding it again is a
// no-op. Event ids are unique per mailbox, so it panics if another calendar
// of the mailbox has that event.
func (c *Calendar) AddEvent(id string) {
	c.mb.s.mu.Lock()
	defer c.mb.s.mu.Unlock()
	if e := c.mb.eventLocked(id); e != nil {
		if e.cal != c {
			panic(fmt.Sprintf("graphtest: event %q is already in calendar %q of mailbox %q", id, e.cal.id, c.mb.id))
		}
		return
	}
	c.events = append(c.events, &event{id: id, cal: c})
}

func (m *Mailbox) groupLocked(id string) *CalendarGroup {
	for _, g := range m.groups {
		if g.id == id {
			return g
		}
	}
	return nil
}

func (g *CalendarGroup) calendarLocked(id string) *Calendar {
	for _, c := range g.cals {
		if c.id == id {
			return c
		}
	}
	return nil
}

func (c *Calendar) eventLocked(id string) *event {
	for _, e := range c.events {
		if e.id == id {
			return e
		}
	}
	return nil
}

// eventLocked finds an event in any calendar of the mailbox.
func (m *Mailbox) eventLocked(id string) *event {
	if m.isGroup {
		return m.calendar.eventLocked(id)
	}
	for _, g := range m.groups {
		for _, c := range g.cals {
			if e := c.eventLocked(id); e != nil {
				return e
			}
		}
	}
	return nil
}

// StoredAttachment is an attachment as the server stored it.
type StoredAttachment struct {
	ID                   string
	ODataType            string // "#microsoft.graph.fileAttachment", "#microsoft.graph.itemAttachment" or "#microsoft.graph.referenceAttachment"
	Name                 string
	ContentType          string // "" when unset (always for items)
	ContentID            string
	Size                 int64 // as Graph reports it: more than the bytes (fileAttachmentSize)
	IsInline             bool
	LastModifiedDateTime time.Time
	Content              []byte          // file bytes (decoded); nil for items
	Item                 json.RawMessage // the item JSON as sent, for item attachments
}

// Attachments returns copies of an event's attachments in creation order.
// mailbox is a user id or userPrincipalName, a group id, or "me". It returns
// nil if there is no such mailbox or event. For an occurrence of a recurring
// series these are the ones stored on it (none until it becomes an
// exception), not the master's that reads of it may show.
func (s *Server) Attachments(mailbox, eventID string) []StoredAttachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m *Mailbox
	switch {
	case mailbox == "me":
		m = s.me
	case s.findUserLocked(mailbox) != nil:
		m = s.findUserLocked(mailbox)
	default:
		m = s.groups[mailbox]
	}
	if m == nil {
		return nil
	}
	e := m.eventLocked(eventID)
	if e == nil {
		return nil
	}
	out := make([]StoredAttachment, len(e.atts))
	for i, a := range e.atts {
		out[i] = a.StoredAttachment
		out[i].Content = slices.Clone(a.Content)
		out[i].Item = slices.Clone(a.Item)
	}
	return out
}
