package graphtest

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// meeting seeds adele's event E with bob as attendee (his copy: B) and
// returns the two event paths.
func meeting(t *testing.T, s *Server) (org, copyPath string) {
	t.Helper()
	s.User("adele").AddEvent("AAMkE=")
	ev := s.User("adele").Event("AAMkE=")
	require.NotNil(t, ev)
	cp := ev.AddAttendee(s.User("bob"), "AAMkB=")
	require.Equal(t, "AAMkB=", cp.ID())
	require.False(t, cp.IsOrganizer())
	require.True(t, ev.IsOrganizer())
	return "/users/adele/events/" + url.PathEscape("AAMkE="), "/users/bob/events/" + url.PathEscape("AAMkB=")
}

func addFile(t *testing.T, s *Server, eventPath, name, content string) string {
	t.Helper()
	body := `{"@odata.type":"#microsoft.graph.fileAttachment","name":"` + name + `","contentBytes":"` +
		base64.StdEncoding.EncodeToString([]byte(content)) + `"}`
	r := graph(t, s, "POST", eventPath+"/attachments", []byte(body))
	require.Equal(t, http.StatusCreated, r.StatusCode, "%s", r.body)
	return r.json(t)["id"].(string)
}

func TestAttendeeCopyGetsAttachmentsOnlyWithOrganizerUpdate(t *testing.T) {
	s := newTestServer(t, nil)
	org, cp := meeting(t, s)
	id := addFile(t, s, org, "agenda.txt", "mac and cheese today")

	assert.Empty(t, s.Attachments("bob", "AAMkB="), "an added attachment alone does not reach attendees")
	require.Len(t, s.Attachments("adele", "AAMkE="), 1)

	r := graph(t, s, "PATCH", org, []byte(`{"subject":"Lunch"}`))
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
	assert.Contains(t, r.Header.Get("Content-Type"), "application/json")
	m := r.json(t)
	assert.Equal(t, "AAMkE=", m["id"])
	assert.Equal(t, "Lunch", m["subject"])
	assert.Equal(t, true, m["isOrganizer"])
	assert.Equal(t, true, m["hasAttachments"])
	assert.NotEmpty(t, m["@odata.etag"])
	assert.Contains(t, m["@odata.context"], "/$metadata#users('adele')/events/$entity")

	got := s.Attachments("bob", "AAMkB=")
	require.Len(t, got, 1)
	assert.Equal(t, "agenda.txt", got[0].Name)
	assert.Equal(t, []byte("mac and cheese today"), got[0].Content)
	assert.NotEqual(t, id, got[0].ID, "the copy is another item, with its own id")
	copyAttID := got[0].ID

	// The attendee reads it through Graph like any attachment.
	v := graph(t, s, "GET", cp+"/attachments/"+url.PathEscape(copyAttID)+"/$value", nil)
	require.Equal(t, http.StatusOK, v.StatusCode)
	assert.Equal(t, "mac and cheese today", string(v.body))
	e := graph(t, s, "GET", cp, nil).json(t)
	assert.Equal(t, "Lunch", e["subject"])
	assert.Equal(t, false, e["isOrganizer"])
	assert.Equal(t, graph(t, s, "GET", org, nil).json(t)["iCalUId"], e["iCalUId"], "copies share iCalUId")

	// A second update duplicates nothing.
	require.Equal(t, http.StatusOK, graph(t, s, "PATCH", org, []byte(`{"subject":"Lunch"}`)).StatusCode)
	got = s.Attachments("bob", "AAMkB=")
	require.Len(t, got, 1)
	assert.Equal(t, copyAttID, got[0].ID)

	// A deletion reaches the copy with the next update too.
	require.Equal(t, http.StatusNoContent, graph(t, s, "DELETE", org+"/attachments/"+url.PathEscape(id), nil).StatusCode)
	assert.Len(t, s.Attachments("bob", "AAMkB="), 1)
	require.Equal(t, http.StatusOK, graph(t, s, "PATCH", org, []byte(`{"subject":"Lunch"}`)).StatusCode)
	assert.Empty(t, s.Attachments("bob", "AAMkB="))
}

func TestAttendeeUpdateReachesEveryAttendee(t *testing.T) {
	s := newTestServer(t, nil)
	org, _ := meeting(t, s)
	s.User("adele").Event("AAMkE=").AddAttendee(s.User("carol"), "") // same id as the organizer's
	addFile(t, s, org, "a.txt", "one")
	require.Equal(t, http.StatusOK, graph(t, s, "PATCH", org, []byte(`{"subject":"x"}`)).StatusCode)
	assert.Len(t, s.Attachments("bob", "AAMkB="), 1)
	assert.Len(t, s.Attachments("carol", "AAMkE="), 1)
	atts := graph(t, s, "GET", org+"?$select=attendees", nil).json(t)["attendees"].([]any)
	require.Len(t, atts, 2)
	assert.Equal(t, "bob@contoso.com", atts[0].(map[string]any)["emailAddress"].(map[string]any)["address"])
}

func TestAttendeeSeededLaterGetsCurrentAttachments(t *testing.T) {
	s := newTestServer(t, nil)
	s.User("adele").AddEvent("E")
	addFile(t, s, "/users/adele/events/E", "a.txt", "one")
	ev := s.User("adele").Event("E")
	ev.AddAttendee(s.User("bob"), "B")
	assert.Len(t, s.Attachments("bob", "B"), 1, "the invitation carries the event as it is")
	again := ev.AddAttendee(s.User("bob"), "other")
	assert.Equal(t, "B", again.ID(), "adding an attendee again returns the existing copy")
	assert.Len(t, ev.Attendees(), 1)
	assert.Nil(t, again.Attendees())
}

func TestAttendeeEmptyPatchSendsNoUpdateByDefault(t *testing.T) {
	for _, sends := range []bool{false, true} {
		s := newTestServer(t, &Options{EmptyUpdateSendsUpdate: sends})
		org, _ := meeting(t, s)
		addFile(t, s, org, "a.txt", "one")
		r := graph(t, s, "PATCH", org, []byte(`{}`))
		require.Equal(t, http.StatusOK, r.StatusCode)
		if sends {
			assert.Len(t, s.Attachments("bob", "AAMkB="), 1)
		} else {
			assert.Empty(t, s.Attachments("bob", "AAMkB="))
		}
	}
}

func TestAttendeeOnlyAttendeesPatchReachesNoCopy(t *testing.T) {
	s := newTestServer(t, nil)
	org, _ := meeting(t, s)
	addFile(t, s, org, "a.txt", "one")
	require.Equal(t, http.StatusOK, graph(t, s, "PATCH", org, []byte(`{"attendees":[]}`)).StatusCode)
	assert.Empty(t, s.Attachments("bob", "AAMkB="), "attendees alone updates only changed attendees")
	require.Equal(t, http.StatusOK, graph(t, s, "PATCH", org, []byte(`{"attendees":[],"showAs":"busy"}`)).StatusCode)
	assert.Len(t, s.Attachments("bob", "AAMkB="), 1)
}

func TestAttendeePatchOfOwnCopyStaysLocal(t *testing.T) {
	s := newTestServer(t, nil)
	org, cp := meeting(t, s)
	addFile(t, s, org, "a.txt", "one")
	r := graph(t, s, "PATCH", cp, []byte(`{"subject":"mine"}`))
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, false, r.json(t)["isOrganizer"])
	assert.Empty(t, s.Attachments("bob", "AAMkB="), "an attendee's PATCH sends no meeting update")
	assert.Equal(t, "", graph(t, s, "GET", org, nil).json(t)["subject"], "nor reaches the organizer")

	s = newTestServer(t, &Options{AttendeeUpdateStatus: http.StatusForbidden})
	_, cp = meeting(t, s)
	r = graph(t, s, "PATCH", cp, []byte(`{"subject":"mine"}`))
	assert.Equal(t, http.StatusForbidden, r.StatusCode)
	assert.Equal(t, "ErrorAccessDenied", r.errorCode(t))
}

func TestAttendeeEventRequestsAreStrict(t *testing.T) {
	s := newTestServer(t, nil)
	org, _ := meeting(t, s)
	r := graph(t, s, "PATCH", org, []byte(`{"subjekt":"x"}`))
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, "RequestBodyRead", r.errorCode(t))
	r = graph(t, s, "PATCH", org, []byte(`{"subject":1}`))
	assert.Equal(t, "RequestBodyRead", r.errorCode(t))
	r = graph(t, s, "PATCH", org, []byte(`[]`))
	assert.Equal(t, "UnableToDeserializePostBody", r.errorCode(t))
	r = do(t, "PATCH", s.URL()+org, []byte(`{}`), "Authorization", "Bearer "+token(t, s), "Content-Type", "text/plain")
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	r = graph(t, s, "GET", org+"?$select=nope", nil)
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, http.StatusMethodNotAllowed, graph(t, s, "DELETE", org, nil).StatusCode)
	assert.Equal(t, http.StatusNotFound, graph(t, s, "PATCH", "/users/adele/events/nope", []byte(`{}`)).StatusCode)

	m := graph(t, s, "GET", org+"?$select=subject,isOrganizer", nil).json(t)
	assert.ElementsMatch(t, []string{"@odata.context", "@odata.etag", "id", "subject", "isOrganizer"}, keys(m))
	// Every documented route reaches the event.
	s.User("adele").AddCalendar("cal").AddEvent("C")
	assert.Equal(t, http.StatusOK, graph(t, s, "GET", "/users/adele/calendars/cal/events/C", nil).StatusCode)
	assert.Equal(t, http.StatusOK, graph(t, s, "PATCH", "/users/adele/calendar/events/"+url.PathEscape("AAMkE="), []byte(`{"subject":"y"}`)).StatusCode)
}

func TestAttendeeSeedingPanics(t *testing.T) {
	s := newTestServer(t, nil)
	s.User("adele").AddEvent("E")
	ev := s.User("adele").Event("E")
	assert.Nil(t, s.User("adele").Event("none"))
	assert.Panics(t, func() { ev.AddAttendee(s.User("adele"), "X") })
	cp := ev.AddAttendee(s.User("bob"), "B")
	assert.Panics(t, func() { cp.AddAttendee(s.User("carol"), "C") })
	s.User("carol").AddEvent("taken")
	assert.Panics(t, func() { ev.AddAttendee(s.User("carol"), "taken") })
}
