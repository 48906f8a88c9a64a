package eventattach

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// meetingServer seeds adele's meeting "AAMkE=" (subject "Planning") with bob
// as attendee, whose copy is "AAMkB=".
func meetingServer(t *testing.T, opts *graphtest.Options) (*graphtest.Server, *Client) {
	t.Helper()
	srv := graphtest.NewServer(opts)
	t.Cleanup(srv.Close)
	srv.User("adele@contoso.com").AddEvent("AAMkE=")
	ev := srv.User("adele@contoso.com").Event("AAMkE=")
	ev.SetSubject("Planning")
	ev.AddAttendee(srv.User("bob@contoso.com"), "AAMkB=")
	return srv, newTestClient(t, srv.URL(), srv.Credential())
}

func TestSendUpdateGivesAttendeesTheFile(t *testing.T) {
	srv, c := meetingServer(t, nil)
	ctx := context.Background()
	event := c.Users("adele@contoso.com").Events("AAMkE=")
	data := []byte("mac and cheese today")
	_, err := event.Attachments().AddFile(ctx, &FileAttachment{Name: "menu.txt", ContentType: "text/plain", ContentBytes: data})
	require.NoError(t, err)

	// Before the update the attendee sees nothing, through Graph or the store.
	bobs := c.Users("bob@contoso.com").Events("AAMkB=").Attachments()
	list, err := bobs.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, list)
	assert.Empty(t, srv.Attachments("bob@contoso.com", "AAMkB="))

	start := len(srv.Requests())
	require.NoError(t, event.SendUpdate(ctx, nil))

	// Exactly what was sent: a GET of subject and isOrganizer, then a PATCH
	// setting the subject to what it was.
	reqs := srv.Requests()[start:]
	require.Len(t, reqs, 2)
	assert.Equal(t, "GET", reqs[0].Method)
	assert.Equal(t, "/v1.0/users/adele@contoso.com/events/AAMkE=", reqs[0].Path)
	assert.Equal(t, "$select=subject,isOrganizer", reqs[0].RawQuery)
	assert.Equal(t, "PATCH", reqs[1].Method)
	assert.Equal(t, reqs[0].Path, reqs[1].Path)
	assert.Equal(t, "application/json", reqs[1].Header.Get("Content-Type"))
	assert.JSONEq(t, `{"subject":"Planning"}`, string(reqs[1].Body))
	assert.Equal(t, http.StatusOK, reqs[1].Status)

	// After it the attendee's copy holds the file, same bytes.
	got := srv.Attachments("bob@contoso.com", "AAMkB=")
	require.Len(t, got, 1)
	assert.Equal(t, "menu.txt", got[0].Name)
	assert.Equal(t, data, got[0].Content)
	list, err = bobs.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	att, err := bobs.Get(ctx, list[0].(*FileAttachment).ID)
	require.NoError(t, err)
	assert.Equal(t, data, att.(*FileAttachment).ContentBytes)

	// A second update duplicates nothing.
	require.NoError(t, event.SendUpdate(ctx, nil))
	assert.Len(t, srv.Attachments("bob@contoso.com", "AAMkB="), 1)
	// The second PATCH, too, sent the subject back as it was.
	var subject struct{ Subject string }
	require.NoError(t, json.Unmarshal(srv.Requests()[len(srv.Requests())-1].Body, &subject))
	assert.Equal(t, "Planning", subject.Subject)
}

func TestSendUpdateAttendeeCannotSend(t *testing.T) {
	srv, c := meetingServer(t, nil)
	ctx := context.Background()
	_, err := c.Users("adele@contoso.com").Events("AAMkE=").Attachments().AddFile(ctx,
		&FileAttachment{Name: "menu.txt", ContentBytes: []byte("x")})
	require.NoError(t, err)

	start := len(srv.Requests())
	err = c.Users("bob@contoso.com").Events("AAMkB=").SendUpdate(ctx, nil)
	require.ErrorIs(t, err, ErrNotOrganizer)
	reqs := srv.Requests()[start:]
	require.Len(t, reqs, 1, "the GET shows an attendee's copy: no PATCH is sent")
	assert.Equal(t, "GET", reqs[0].Method)

	// With a Body the PATCH goes out; the answer's isOrganizer tells.
	err = c.Users("bob@contoso.com").Events("AAMkB=").SendUpdate(ctx,
		&SendUpdateOptions{Body: json.RawMessage(`{"isReminderOn":false}`)})
	require.ErrorIs(t, err, ErrNotOrganizer)
	assert.Empty(t, srv.Attachments("bob@contoso.com", "AAMkB="), "an attendee's update reaches no one")
}

func TestSendUpdateAttendeePatchRefused(t *testing.T) {
	_, c := meetingServer(t, &graphtest.Options{AttendeeUpdateStatus: http.StatusForbidden})
	err := c.Users("bob@contoso.com").Events("AAMkB=").SendUpdate(context.Background(),
		&SendUpdateOptions{Body: json.RawMessage(`{"isReminderOn":false}`)})
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.ErrorIs(t, err, ErrForbidden)
	assert.Equal(t, "ErrorAccessDenied", ge.Code)
}

func TestSendUpdateBodyOption(t *testing.T) {
	ctx := context.Background()
	for _, emptySends := range []bool{false, true} {
		srv, c := meetingServer(t, &graphtest.Options{EmptyUpdateSendsUpdate: emptySends})
		event := c.Users("adele@contoso.com").Events("AAMkE=")
		_, err := event.Attachments().AddFile(ctx, &FileAttachment{Name: "a.txt", ContentBytes: []byte("a")})
		require.NoError(t, err)

		start := len(srv.Requests())
		require.NoError(t, event.SendUpdate(ctx, &SendUpdateOptions{Body: json.RawMessage(`{}`)}))
		reqs := srv.Requests()[start:]
		require.Len(t, reqs, 1, "with a Body nothing is read first")
		assert.Equal(t, "{}", string(reqs[0].Body))
		// Whether {} is an update is not documented: graphtest's option decides.
		if emptySends {
			assert.Len(t, srv.Attachments("bob@contoso.com", "AAMkB="), 1)
		} else {
			assert.Empty(t, srv.Attachments("bob@contoso.com", "AAMkB="))
		}

		body := `{"body":{"contentType":"text","content":"Menu attached."}}`
		require.NoError(t, event.SendUpdate(ctx, &SendUpdateOptions{Body: json.RawMessage(body)}))
		assert.Len(t, srv.Attachments("bob@contoso.com", "AAMkB="), 1)
	}
}

func TestSendUpdateInvalidInputAndErrors(t *testing.T) {
	srv, c := meetingServer(t, nil)
	ctx := context.Background()
	start := len(srv.Requests())
	for _, b := range []string{`[]`, `"x"`, `null`, `{`, ``} {
		err := c.Users("adele@contoso.com").Events("AAMkE=").SendUpdate(ctx, &SendUpdateOptions{Body: json.RawMessage(b)})
		if b == `` {
			// An empty Body is the default update.
			require.NoError(t, err)
			continue
		}
		assert.ErrorIs(t, err, ErrInvalidInput, b)
	}
	assert.ErrorIs(t, c.Users("adele@contoso.com").Events("").SendUpdate(ctx, nil), ErrInvalidInput)
	assert.Len(t, srv.Requests()[start:], 2, "only the default update was sent")

	err := c.Users("adele@contoso.com").Events("nope").SendUpdate(ctx, nil)
	var ge *GraphError
	require.True(t, errors.As(err, &ge), "%v", err)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestSendUpdateAnswerScripted(t *testing.T) {
	// Graph's documented 200 (event-update.md) with isOrganizer absent, as
	// in the docs' truncated example: success. A 5xx before it is retried
	// (PATCH sets values: sending it again changes nothing more).
	s := newScripted(t,
		reply(http.StatusOK, `{"subject":"Plan","isOrganizer":true}`),
		reply(http.StatusBadGateway, graphErr("BadGateway", "x")),
		reply(http.StatusOK, `{"originalStartTimeZone":"x","reminderMinutesBeforeStart":99,"isReminderOn":true}`),
	)
	c := newTestClient(t, s.URL+"/v1.0", nil)
	require.NoError(t, c.Me().Calendars("c1").Events("e1").SendUpdate(context.Background(), nil))
	reqs := s.requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, "/v1.0/me/calendars/c1/events/e1", reqs[0].EscapedPath)
	assert.Equal(t, "PATCH", reqs[2].Method)
	assert.JSONEq(t, `{"subject":"Plan"}`, string(reqs[2].Body))
	assert.Equal(t, reqs[1].Header.Get("Client-Request-Id"), reqs[2].Header.Get("Client-Request-Id"))

	// An absent subject goes back as "".
	s = newScripted(t, reply(http.StatusOK, `{"isOrganizer":true}`), reply(http.StatusOK, `{}`))
	c = newTestClient(t, s.URL+"/v1.0", nil)
	require.NoError(t, c.Users("u").Events("e").SendUpdate(context.Background(), nil))
	assert.JSONEq(t, `{"subject":""}`, string(s.requests()[1].Body))
}
