package graphtest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const fileBody = `{"@odata.type":"#microsoft.graph.fileAttachment","name":"a.txt","contentBytes":"aGk="}`

func TestAllRouteShapes(t *testing.T) {
	s := newTestServer(t, nil)
	alice := s.User("alice@contoso.com")
	grp := s.Group("g-1")

	// One event per place, in each owner that has it.
	s.Me().AddEvent("me-default")
	s.Me().AddCalendar("cal-1").AddEvent("me-cal1")
	s.Me().AddCalendarGroup("grp-1").AddCalendar("cal-2").AddEvent("me-grp1")
	alice.AddEvent("al-default")
	alice.AddCalendar("cal-1").AddEvent("al-cal1")
	alice.AddCalendarGroup("grp-1").AddCalendar("cal-2").AddEvent("al-grp1")
	grp.AddEvent("g-default")

	type tc struct {
		path, mailbox, event string
	}
	var cases []tc
	for _, o := range []struct{ prefix, mailbox, pfx string }{
		{"/me", "me", "me"},
		{"/users/alice@contoso.com", "alice@contoso.com", "al"},
		{"/users/ALICE@contoso.COM", "alice@contoso.com", "al"}, // UPNs are case-insensitive
	} {
		cases = append(cases,
			tc{o.prefix + "/events/" + o.pfx + "-default", o.mailbox, o.pfx + "-default"},
			tc{o.prefix + "/events/" + o.pfx + "-grp1", o.mailbox, o.pfx + "-grp1"}, // events/{id} finds any calendar
			tc{o.prefix + "/calendar/events/" + o.pfx + "-default", o.mailbox, o.pfx + "-default"},
			tc{o.prefix + "/calendars/cal-1/events/" + o.pfx + "-cal1", o.mailbox, o.pfx + "-cal1"},
			tc{o.prefix + "/calendargroup/calendars/cal-1/events/" + o.pfx + "-cal1", o.mailbox, o.pfx + "-cal1"},
			tc{o.prefix + "/calendarGroups/grp-1/calendars/cal-2/events/" + o.pfx + "-grp1", o.mailbox, o.pfx + "-grp1"},
			tc{o.prefix + "/calendargroups/grp-1/calendars/cal-2/events/" + o.pfx + "-grp1", o.mailbox, o.pfx + "-grp1"},
			// The default calendar and group have ids too.
			tc{o.prefix + "/calendars/" + url.PathEscape(DefaultCalendarID) + "/events/" + o.pfx + "-default", o.mailbox, o.pfx + "-default"},
			tc{o.prefix + "/calendarGroups/" + url.PathEscape(DefaultCalendarGroupID) + "/calendars/cal-1/events/" + o.pfx + "-cal1", o.mailbox, o.pfx + "-cal1"},
			tc{o.prefix + "/CALENDAR/EVENTS/" + o.pfx + "-default", o.mailbox, o.pfx + "-default"}, // fixed names are case-insensitive
		)
	}
	cases = append(cases,
		tc{"/users/me-0000/events/me-default", "me", "me-default"},
		tc{"/users/me@contoso.com/calendar/events/me-default", "me", "me-default"},
		tc{"/groups/g-1/events/g-default", "g-1", "g-default"},
		tc{"/groups/g-1/calendar/events/g-default", "g-1", "g-default"},
	)
	for _, c := range cases {
		before := len(s.Attachments(c.mailbox, c.event))
		r := graph(t, s, "POST", c.path+"/attachments", []byte(fileBody))
		require.Equal(t, http.StatusCreated, r.StatusCode, "%s: %s", c.path, r.body)
		assert.Len(t, s.Attachments(c.mailbox, c.event), before+1, c.path)
		l := graph(t, s, "GET", c.path+"/attachments", nil)
		require.Equal(t, http.StatusOK, l.StatusCode, "%s: %s", c.path, l.body)
	}
}

func TestRouteWrongCalendarIsNotFound(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("in-default")
	s.Me().AddCalendar("cal-1").AddEvent("in-cal1")
	s.Me().AddCalendarGroup("grp-1").AddCalendar("cal-2").AddEvent("in-grp1")
	for _, p := range []string{
		"/me/calendar/events/in-cal1",
		"/me/calendars/cal-1/events/in-default",
		"/me/calendars/cal-2/events/in-grp1", // cal-2 is not in the default group
		"/me/calendargroup/calendars/cal-2/events/in-grp1",
		"/me/calendarGroups/grp-1/calendars/cal-1/events/in-cal1",
		"/me/calendarGroups/grp-1/calendars/cal-2/events/in-cal1",
		"/me/calendarGroups/nope/calendars/cal-2/events/in-grp1",
		"/me/calendars/nope/events/in-cal1",
	} {
		r := graph(t, s, "POST", p+"/attachments", []byte(fileBody))
		assert.Equal(t, http.StatusNotFound, r.StatusCode, p)
		assert.Equal(t, "ErrorItemNotFound", r.errorCode(t), p)
	}
}

func TestRouteUnknownShapes(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	s.Group("g").AddEvent("e")
	for _, p := range []string{
		"/me/events/e/",
		"/me/events/e/attachments/",
		"/me/events//attachments",
		"/me//events/e/attachments",
		"/me/messages/e/attachments",
		"/me/calendar/e/attachments",
		"/me/calendars/events/e/attachments",
		"/me/events/e/attachments/a/b",
		"/users/events/e/attachments",
		"/groups/g/calendars/c/events/e/attachments",
		"/groups/g/calendargroup/calendars/c/events/e/attachments",
		"/me/events/e/attachments/./",
	} {
		r := graph(t, s, "GET", p, nil)
		assert.Equal(t, http.StatusBadRequest, r.StatusCode, p)
		assert.Equal(t, "BadRequest", r.errorCode(t), p)
	}
	// Other versions are not served.
	r := do(t, "GET", strings.TrimSuffix(s.URL(), "/v1.0")+"/beta/me/events/e/attachments", nil, "Authorization", "Bearer "+token(t, s))
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	// Methods.
	assert.Equal(t, http.StatusMethodNotAllowed, graph(t, s, "PATCH", "/me/events/e/attachments", []byte(`{}`)).StatusCode)
	assert.Equal(t, http.StatusMethodNotAllowed, graph(t, s, "PUT", "/me/events/e/attachments/x", []byte(`{}`)).StatusCode)
}

func TestRouteOddIDsAreOneSegment(t *testing.T) {
	s := newTestServer(t, nil)
	ids := []string{"a/b", "with space", "ünïcødé-日本", "AAMkAGI1AAAt9AHjAAA=", "..", ".", "a?b#c", "50%", "it's", "Events('x')"}
	for _, id := range ids {
		s.Me().AddEvent(id)
		s.Me().AddCalendar("cal/" + id).AddEvent("ev-" + id)
	}
	for _, id := range ids {
		p := "/me/events/" + url.PathEscape(id) + "/attachments"
		if id == "." || id == ".." {
			// PathEscape leaves dots alone, and a client must not send
			// bare dot segments; %2E keeps them one literal segment.
			p = "/me/events/" + strings.ReplaceAll(id, ".", "%2E") + "/attachments"
		}
		r := graph(t, s, "POST", p, []byte(fileBody))
		require.Equal(t, http.StatusCreated, r.StatusCode, "%q: %s", id, r.body)
		assert.Len(t, s.Attachments("me", id), 1, id)

		p = "/me/calendars/" + url.PathEscape("cal/"+id) + "/events/" + url.PathEscape("ev-"+id) + "/attachments"
		r = graph(t, s, "POST", p, []byte(fileBody))
		require.Equal(t, http.StatusCreated, r.StatusCode, "%q: %s", id, r.body)

		// The Location header leads back to the attachment.
		loc := r.Header.Get("Location")
		g := do(t, "GET", loc, nil, "Authorization", "Bearer "+token(t, s))
		require.Equal(t, http.StatusOK, g.StatusCode, "%s: %s", loc, g.body)
		assert.Equal(t, r.json(t)["id"], g.json(t)["id"])
	}
	// An unescaped '/' is two segments.
	r := graph(t, s, "POST", "/me/events/a/b/attachments", []byte(fileBody))
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
}

func TestUploadSessionOnlyOnDocumentedRoutes(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	s.Group("g").AddEvent("e")
	body := []byte(`{"AttachmentItem":{"attachmentType":"file","name":"big.bin","size":4194304}}`)
	for _, p := range []string{
		"/me/calendar/events/e/attachments/createUploadSession",
		"/me/calendars/" + url.PathEscape(DefaultCalendarID) + "/events/e/attachments/createUploadSession",
		"/groups/g/events/e/attachments/createUploadSession",
	} {
		r := graph(t, s, "POST", p, body)
		assert.Equal(t, http.StatusBadRequest, r.StatusCode, p)
		assert.Contains(t, string(r.body), "Resource not found for the segment 'createUploadSession'.", p)
	}
	for _, p := range []string{"/me/events/e/attachments/createUploadSession", "/users/me-0000/events/e/attachments/microsoft.graph.createUploadSession"} {
		r := graph(t, s, "POST", p, body)
		assert.Equal(t, http.StatusCreated, r.StatusCode, "%s: %s", p, r.body)
	}
}
