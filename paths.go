package eventattach

import (
	"net/url"
	"strings"
)

// The fluent route builder. Each node is a small immutable value bound to its
// client; a chain exists only where the seed pages document a route, so an
// undocumented route does not compile. Ids are checked when a request is
// about to be sent (an empty, "." or ".." id is ErrInvalidInput and nothing
// is sent) and each is escaped as exactly one path segment, so no id can
// change the shape of the URL.
//
// Adding a route: one method here, one row in the route table test.

type ownerKind uint8

const (
	ownerMe ownerKind = iota
	ownerUser
	ownerGroup
)

// segName is a fixed segment after the owner.
type segName uint8

const (
	segEvents segName = iota + 1
	segCalendar
	segCalendars
	segCalendarGroup
	segCalendarGroups
	segAttachments
)

var segNames = [...]string{
	segEvents: "events", segCalendar: "calendar", segCalendars: "calendars",
	segCalendarGroup: "calendargroup", segCalendarGroups: "calendarGroups", segAttachments: "attachments",
}

// route is what every node carries: the mailbox owner and the segments after
// it, in arrays so that a node is a small value (80 bytes) copied whole:
// chaining allocates nothing and the values stay immutable. The longest
// documented route, calendarGroups/{id}/calendars/{id}/events/{id}/attachments,
// has 4 fixed segments and 3 ids.
type route struct {
	c       *Client
	ownerID string
	ids     [3]string  // the ids after the owner, in order
	names   [4]segName // the fixed segments after the owner, names[:nNames]
	nNames  uint8
	nIDs    uint8
	owner   ownerKind
}

func (r route) with(name segName, id ...string) route {
	r.names[r.nNames] = name
	r.nNames++
	for _, s := range id {
		r.ids[r.nIDs] = s
		r.nIDs++
	}
	return r
}

// UserPath is /me or /users/{id | userPrincipalName}.
type UserPath struct{ r route }

// GroupPath is /groups/{id}. The current Graph docs list only user routes for
// adding attachments; events in group calendars may refuse attachments.
type GroupPath struct{ r route }

// CalendarGroupPath is a user's calendar group: /calendargroup (the default
// group) or /calendarGroups/{id}.
type CalendarGroupPath struct{ r route }

// CalendarPath is a calendar: /calendar (the default) or /calendars/{id}.
type CalendarPath struct{ r route }

// EventPath is an event in one of the calendars above.
type EventPath struct{ r route }

// Attachments is the attachments collection of an event,
// {route}/attachments: the operations (add, upload, list, get, content,
// delete) are its methods.
type Attachments struct{ r route }

// Me is the signed-in user's mailbox: /me. It needs a delegated credential;
// app-only credentials use Users.
func (c *Client) Me() UserPath { return UserPath{route{c: c, owner: ownerMe}} }

// Users is a user's mailbox by id or userPrincipalName: /users/{id}.
func (c *Client) Users(idOrUserPrincipalName string) UserPath {
	return UserPath{route{c: c, owner: ownerUser, ownerID: idOrUserPrincipalName}}
}

// Groups is a Microsoft 365 group's mailbox: /groups/{id}. These routes come
// from the older Graph page; the current docs warn that events in group
// calendars may refuse attachments, and upload sessions are not documented
// for them (Upload answers ErrInvalidInput from MaxAddFileSize on).
func (c *Client) Groups(id string) GroupPath {
	return GroupPath{route{c: c, owner: ownerGroup, ownerID: id}}
}

// Events is an event by id in any calendar of the mailbox: .../events/{id}.
func (u UserPath) Events(id string) EventPath { return EventPath{u.r.with(segEvents, id)} }

// Calendar is the user's default calendar: .../calendar.
func (u UserPath) Calendar() CalendarPath { return CalendarPath{u.r.with(segCalendar)} }

// Calendars is a calendar in the user's default calendar group: .../calendars/{id}.
func (u UserPath) Calendars(id string) CalendarPath { return CalendarPath{u.r.with(segCalendars, id)} }

// CalendarGroup is the user's default calendar group: .../calendargroup
// (documented by the older Graph page).
func (u UserPath) CalendarGroup() CalendarGroupPath {
	return CalendarGroupPath{u.r.with(segCalendarGroup)}
}

// CalendarGroups is one of the user's calendar groups: .../calendarGroups/{id}.
func (u UserPath) CalendarGroups(id string) CalendarGroupPath {
	return CalendarGroupPath{u.r.with(segCalendarGroups, id)}
}

// Events is an event of the group's calendar: /groups/{id}/events/{id}.
func (g GroupPath) Events(id string) EventPath { return EventPath{g.r.with(segEvents, id)} }

// Calendar is the group's calendar: /groups/{id}/calendar.
func (g GroupPath) Calendar() CalendarPath { return CalendarPath{g.r.with(segCalendar)} }

// Calendars is a calendar of the group: .../calendars/{id}.
func (g CalendarGroupPath) Calendars(id string) CalendarPath {
	return CalendarPath{g.r.with(segCalendars, id)}
}

// Events is an event of the calendar: .../events/{id}.
func (c CalendarPath) Events(id string) EventPath { return EventPath{c.r.with(segEvents, id)} }

// Attachments is the event's attachments collection: .../attachments.
func (e EventPath) Attachments() Attachments { return Attachments{e.r.with(segAttachments)} }

// Path returns the collection's path relative to the version root, each id
// escaped as one segment, e.g. "/me/calendarGroups/g1/calendars/c1/events/e1/attachments".
// It does not validate ids; operations do.
func (a Attachments) Path() string {
	p, _ := a.r.path()
	return p
}

// url is the version root plus path(extra...), built in one allocation.
func (r route) url(extra ...string) (string, error) { return r.build(r.c.base, extra) }

// path builds the escaped path and reports the first invalid id.
func (r route) path(extra ...string) (string, error) { return r.build("", extra) }

func (r route) build(base string, extra []string) (string, error) {
	var b strings.Builder
	b.Grow(len(base) + 96)
	b.WriteString(base)
	var err error
	check := func(kind, id string) {
		if err == nil {
			err = checkID(kind, id)
		}
		b.WriteByte('/')
		b.WriteString(url.PathEscape(id))
	}
	switch r.owner {
	case ownerMe:
		b.WriteString("/me")
	case ownerUser:
		b.WriteString("/users")
		check("user id", r.ownerID)
	case ownerGroup:
		b.WriteString("/groups")
		check("group id", r.ownerID)
	}
	k := 0
	for _, name := range r.names[:r.nNames] {
		b.WriteByte('/')
		b.WriteString(segNames[name])
		if hasID(name) && k < int(r.nIDs) {
			check(idKind(name), r.ids[k])
			k++
		}
	}
	for _, id := range extra {
		check("attachment id", id)
	}
	return b.String(), err
}

// hasID says whether a fixed segment is followed by an id.
func hasID(name segName) bool {
	return name == segEvents || name == segCalendars || name == segCalendarGroups
}

func idKind(name segName) string {
	switch name {
	case segEvents:
		return "event id"
	case segCalendars:
		return "calendar id"
	}
	return "calendar group id"
}

// checkID rejects the ids that would change a URL's shape once a server or
// proxy normalises it: "" (an empty segment), "." and "..".
func checkID(kind, id string) error {
	switch id {
	case "":
		return invalidInput("%s is empty", kind)
	case ".", "..":
		return invalidInput("%s %q is not allowed", kind, id)
	}
	return nil
}

// mailbox names the mailbox a route belongs to, for per-mailbox concurrency.
// User ids and UPNs are case-insensitive in Graph.
func (r route) mailbox() string {
	switch r.owner {
	case ownerUser:
		return "users/" + strings.ToLower(r.ownerID)
	case ownerGroup:
		return "groups/" + strings.ToLower(r.ownerID)
	}
	return "me"
}

// eventID returns the event id of an attachments route.
func (r route) eventID() string {
	k := 0
	for _, name := range r.names[:r.nNames] {
		if name == segEvents && k < int(r.nIDs) {
			return r.ids[k]
		}
		if hasID(name) {
			k++
		}
	}
	return ""
}

// URL templates: a route, or an exchange's URL, with its ids replaced,
// for span names and attributes (tracing.go).

// template is the route's shape with its ids replaced, e.g.
// "/users/{id}/calendars/{id}/events/{id}/attachments".
func (r route) template() string {
	var b strings.Builder
	switch r.owner {
	case ownerMe:
		b.WriteString("/me")
	case ownerUser:
		b.WriteString("/users/{id}")
	case ownerGroup:
		b.WriteString("/groups/{id}")
	}
	for _, name := range r.names[:r.nNames] {
		b.WriteByte('/')
		b.WriteString(segNames[name])
		if hasID(name) {
			b.WriteString("/{id}")
		}
	}
	return b.String()
}

// templateSegments are the fixed segments of Graph URLs this client sends
// (a nextLink may spell them in another case), and whether an id follows.
var templateSegments = map[string]bool{
	"me": false, "users": true, "groups": true, "events": true, "calendar": false,
	"calendars": true, "calendargroup": false, "calendargroups": true, "attachments": true,
	"createuploadsession": false, "$value": false,
}

// urlTemplate is the route template of an exchange's URL: its path below
// the version root with every id replaced (also OData's users('id') form),
// no query. An upload URL is "{uploadUrl}": the upload host's path is
// made of ids.
func (c *Client) urlTemplate(ex *exchange) string {
	if ex.upload {
		return "{uploadUrl}"
	}
	p, ok := strings.CutPrefix(ex.url, c.base)
	if !ok || (p != "" && p[0] != '/') {
		return "{url}"
	}
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	var b strings.Builder
	idNext := false
	for i, seg := range segs {
		b.WriteByte('/')
		name, key, isKey := strings.Cut(seg, "(")
		lower := strings.ToLower(name)
		takesID, known := templateSegments[lower]
		switch {
		case idNext:
			b.WriteString("{id}")
			idNext = false
		case !known:
			b.WriteString("{id}")
		case isKey && key != "":
			b.WriteString(lower + "({id})")
		default:
			b.WriteString(seg)
			// attachments/createUploadSession has no id in between.
			idNext = takesID && !(i+1 < len(segs) && strings.EqualFold(segs[i+1], "createUploadSession"))
		}
	}
	return b.String()
}
