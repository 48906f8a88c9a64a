package graphtest

import (
	"fmt"
	"net/url"
	"strings"
)

type ownerKind int

const (
	ownerMe ownerKind = iota
	ownerUser
	ownerGroup
)

// locKind is how a route reaches its event.
type locKind int

const (
	locEvents               locKind = iota // {owner}/events/{e}: any calendar
	locCalendar                            // {owner}/calendar/events/{e}: the default calendar
	locCalendars                           // {owner}/calendars/{c}/events/{e}: default group
	locDefaultGroupCalendar                // {owner}/calendargroup/calendars/{c}/events/{e}
	locGroupCalendar                       // {owner}/calendarGroups/{g}/calendars/{c}/events/{e}
)

type targetKind int

const (
	targetCollection    targetKind = iota // .../attachments
	targetItem                            // .../attachments/{id}
	targetValue                           // .../attachments/{id}/$value
	targetUploadSession                   // .../attachments/createUploadSession
	targetEvent                           // .../events/{id} itself (event.go)
)

// route is a parsed Graph event or attachment URL.
type route struct {
	owner                        ownerKind
	ownerID                      string
	loc                          locKind
	groupID, calendarID, eventID string
	target                       targetKind
	attachmentID                 string
}

// segments splits an escaped path on '/' and unescapes each segment on its
// own, so an escaped '/' (%2F) stays inside its id. Unlike http.ServeMux it
// cleans nothing: "." or ".." are ids like any other.
func segments(escaped string) ([]string, error) {
	if !strings.HasPrefix(escaped, "/") {
		return nil, fmt.Errorf("the path must start with '/'")
	}
	raw := strings.Split(escaped[1:], "/")
	out := make([]string, len(raw))
	for i, r := range raw {
		u, err := url.PathUnescape(r)
		if err != nil {
			return nil, fmt.Errorf("invalid escape in segment '%s'", r)
		}
		out[i] = u
	}
	return out, nil
}

// segReader walks path segments. Fixed names match case-insensitively, and
// also in OData key form, e.g. "Events('id')", which is what the Location
// headers this server sends use.
type segReader struct {
	segs []string
	i    int
	key  *string // an id already read from a key-form segment
}

func (p *segReader) done() bool { return p.key == nil && p.i >= len(p.segs) }

// peek is the next segment, for error messages.
func (p *segReader) peek() string {
	if p.key != nil {
		return *p.key
	}
	if p.i < len(p.segs) {
		return p.segs[p.i]
	}
	return ""
}

// name consumes the next segment if it is one of names, returning which.
func (p *segReader) name(names ...string) (string, bool) {
	if p.key != nil || p.i >= len(p.segs) {
		return "", false
	}
	seg := p.segs[p.i]
	for _, n := range names {
		if strings.EqualFold(seg, n) {
			p.i++
			return n, true
		}
		if len(seg) > len(n)+1 && strings.EqualFold(seg[:len(n)+1], n+"(") && strings.HasSuffix(seg, ")") {
			if k, ok := unquoteKey(seg[len(n)+1 : len(seg)-1]); ok {
				p.i++
				p.key = &k
				return n, true
			}
		}
	}
	return "", false
}

// id consumes an id: a key read by name, or the next non-empty segment.
func (p *segReader) id() (string, bool) {
	if p.key != nil {
		k := *p.key
		p.key = nil
		return k, k != ""
	}
	if p.i >= len(p.segs) || p.segs[p.i] == "" {
		return "", false
	}
	p.i++
	return p.segs[p.i-1], true
}

// unquoteKey undoes OData key quoting: 'a”b' is a'b.
func unquoteKey(s string) (string, bool) {
	if len(s) < 2 || s[0] != '\'' || s[len(s)-1] != '\'' {
		return "", false
	}
	inner := s[1 : len(s)-1]
	if strings.Count(inner, "'")%2 != 0 || strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
		return "", false
	}
	return strings.ReplaceAll(inner, "''", "'"), true
}

// quoteKey writes name('id') with the id quoted and path-escaped.
func quoteKey(name, id string) string {
	return name + "('" + url.PathEscape(strings.ReplaceAll(id, "'", "''")) + "')"
}

// routeError is a path that names no resource: Graph answers 400 BadRequest.
type routeError struct{ msg string }

func (e *routeError) Error() string { return e.msg }

func segmentError(seg string) error {
	return &routeError{fmt.Sprintf("Resource not found for the segment '%s'.", seg)}
}

// parseRoute parses the escaped path of a Graph-listener request.
func parseRoute(escaped string) (*route, error) {
	segs, err := segments(escaped)
	if err != nil {
		return nil, &routeError{err.Error()}
	}
	p := &segReader{segs: segs}
	if _, ok := p.name("v1.0"); !ok {
		return nil, &routeError{fmt.Sprintf("Invalid version: %s", p.peek())}
	}
	rt := &route{}
	bad := func() (*route, error) { return nil, segmentError(p.peek()) }

	switch n, _ := p.name("me", "users", "groups"); n {
	case "me":
		rt.owner = ownerMe
	case "users", "groups":
		rt.owner = ownerUser
		if n == "groups" {
			rt.owner = ownerGroup
		}
		if rt.ownerID, _ = p.id(); rt.ownerID == "" {
			return bad()
		}
	default:
		return bad()
	}

	names := []string{"events", "calendar", "calendars", "calendargroup", "calendargroups"}
	if rt.owner == ownerGroup {
		names = names[:2] // groups have their default calendar only
	}
	n, ok := p.name(names...)
	if !ok {
		return bad()
	}
	switch n {
	case "events":
		rt.loc = locEvents
	case "calendar":
		rt.loc = locCalendar
		if _, ok := p.name("events"); !ok {
			return bad()
		}
	case "calendars":
		rt.loc = locCalendars
		if rt.calendarID, ok = p.id(); !ok {
			return bad()
		}
		if _, ok := p.name("events"); !ok {
			return bad()
		}
	case "calendargroup", "calendargroups":
		rt.loc = locDefaultGroupCalendar
		if n == "calendargroups" {
			rt.loc = locGroupCalendar
			if rt.groupID, ok = p.id(); !ok {
				return bad()
			}
		}
		if _, ok := p.name("calendars"); !ok {
			return bad()
		}
		if rt.calendarID, ok = p.id(); !ok {
			return bad()
		}
		if _, ok := p.name("events"); !ok {
			return bad()
		}
	}
	if rt.eventID, ok = p.id(); !ok {
		return bad()
	}
	if p.done() {
		rt.target = targetEvent
		return rt, nil
	}
	if _, ok := p.name("attachments"); !ok {
		return bad()
	}
	if p.done() {
		rt.target = targetCollection
		return rt, nil
	}
	if _, ok := p.name("createUploadSession", "microsoft.graph.createUploadSession"); ok {
		rt.target = targetUploadSession
	} else if rt.attachmentID, ok = p.id(); ok {
		rt.target = targetItem
		if _, ok := p.name("$value"); ok {
			rt.target = targetValue
		}
	} else {
		return bad()
	}
	if !p.done() {
		return bad()
	}
	return rt, nil
}
