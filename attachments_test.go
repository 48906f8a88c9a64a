package eventattach

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Against graphtest, which holds real state: an event is reachable only by
// the routes of its own calendar, group and mailbox.
func TestEveryRouteAgainstGraphtest(t *testing.T) {
	srv := graphtest.NewServer(nil)
	t.Cleanup(srv.Close)
	me, adele, grp := srv.Me(), srv.User("adele@contoso.com"), srv.Group("g-team")
	for _, m := range []*graphtest.Mailbox{me, adele} {
		m.AddEvent("ev-default")
		m.AddCalendar("cal-1").AddEvent("ev-cal")
		m.CalendarGroup().AddCalendar("cal-dg").AddEvent("ev-dg")
		m.AddCalendarGroup("grp-1").AddCalendar("cal-g").AddEvent("ev-g")
	}
	grp.AddEvent("ev-group")
	c := newTestClient(t, srv.URL(), srv.Credential())
	ctx := context.Background()

	cases := []struct {
		a        Attachments
		mailbox  string
		event    string
		wantPath string
	}{
		{c.Me().Events("ev-default").Attachments(), "me", "ev-default", "/me/events/ev-default/attachments"},
		{c.Me().Calendar().Events("ev-default").Attachments(), "me", "ev-default", "/me/calendar/events/ev-default/attachments"},
		{c.Me().Calendars("cal-1").Events("ev-cal").Attachments(), "me", "ev-cal", "/me/calendars/cal-1/events/ev-cal/attachments"},
		{c.Me().CalendarGroup().Calendars("cal-dg").Events("ev-dg").Attachments(), "me", "ev-dg", "/me/calendargroup/calendars/cal-dg/events/ev-dg/attachments"},
		{c.Me().CalendarGroups("grp-1").Calendars("cal-g").Events("ev-g").Attachments(), "me", "ev-g", "/me/calendarGroups/grp-1/calendars/cal-g/events/ev-g/attachments"},
		{c.Users("adele@contoso.com").Events("ev-default").Attachments(), "adele@contoso.com", "ev-default", "/users/adele@contoso.com/events/ev-default/attachments"},
		{c.Users("adele@contoso.com").Calendar().Events("ev-default").Attachments(), "adele@contoso.com", "ev-default", ""},
		{c.Users("adele@contoso.com").Calendars("cal-1").Events("ev-cal").Attachments(), "adele@contoso.com", "ev-cal", ""},
		{c.Users("adele@contoso.com").CalendarGroup().Calendars("cal-dg").Events("ev-dg").Attachments(), "adele@contoso.com", "ev-dg", ""},
		{c.Users("adele@contoso.com").CalendarGroups("grp-1").Calendars("cal-g").Events("ev-g").Attachments(), "adele@contoso.com", "ev-g", ""},
		{c.Groups("g-team").Events("ev-group").Attachments(), "g-team", "ev-group", "/groups/g-team/events/ev-group/attachments"},
		{c.Groups("g-team").Calendar().Events("ev-group").Attachments(), "g-team", "ev-group", "/groups/g-team/calendar/events/ev-group/attachments"},
	}
	for i, tc := range cases {
		t.Run(tc.a.Path(), func(t *testing.T) {
			if tc.wantPath != "" {
				assert.Equal(t, tc.wantPath, tc.a.Path())
			}
			name := fmt.Sprintf("route-%02d.txt", i)
			before := len(srv.Attachments(tc.mailbox, tc.event))
			got, err := tc.a.AddFile(ctx, &FileAttachment{Name: name, ContentBytes: []byte(name)})
			require.NoError(t, err)
			stored := srv.Attachments(tc.mailbox, tc.event)
			require.Len(t, stored, before+1)
			assert.Equal(t, got.ID, stored[before].ID)
			assert.Equal(t, []byte(name), stored[before].Content)
		})
	}

	// An event is not found through another calendar's route.
	_, err := c.Me().Calendars("cal-1").Events("ev-default").Attachments().List(ctx)
	require.ErrorIs(t, err, ErrNotFound)
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "ErrorItemNotFound", ge.Code)
	assert.NotEmpty(t, ge.RequestID)
	_, err = c.Users("nobody@contoso.com").Events("ev-default").Attachments().List(ctx)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestListAcrossThreePages(t *testing.T) {
	srv := graphtest.NewServer(&graphtest.Options{PageSize: 4})
	t.Cleanup(srv.Close)
	srv.Me().AddEvent("e1")
	c := newTestClient(t, srv.URL(), srv.Credential())
	a := c.Me().Events("e1").Attachments()
	ctx := context.Background()
	want := map[string]string{}
	for i := range 6 {
		name := fmt.Sprintf("file-%d.txt", i)
		_, err := a.AddFile(ctx, &FileAttachment{Name: name, ContentBytes: []byte(strings.Repeat("x", i+1))})
		require.NoError(t, err)
		want[name] = "file"
	}
	for i := range 4 {
		name := fmt.Sprintf("item-%d", i)
		_, err := a.AddItem(ctx, &ItemAttachment{Name: name, Item: &Contact{GivenName: name}})
		require.NoError(t, err)
		want[name] = "item"
	}
	srv.ResetRequests()
	all, err := a.List(ctx)
	require.NoError(t, err)
	got := map[string]string{}
	for _, att := range all {
		_, dup := got[att.AttachmentName()]
		assert.False(t, dup, "listed twice: %s", att.AttachmentName())
		switch v := att.(type) {
		case *FileAttachment:
			got[v.Name] = "file"
			assert.Nil(t, v.ContentBytes, "metadata only")
			assert.NotEmpty(t, v.ID)
			assert.False(t, v.LastModifiedDateTime.IsZero())
		case *ItemAttachment:
			got[v.Name] = "item"
		}
	}
	assert.Equal(t, want, got)
	reqs := srv.Requests()
	require.Len(t, reqs, 3, "three pages")
	for _, r := range reqs {
		assert.NotContains(t, r.RawQuery, "contentBytes")
	}
	assert.Contains(t, reqs[0].RawQuery, "$select=id,name")
}

func TestGetAndDelete(t *testing.T) {
	srv := newGraph(t, nil)
	c := newTestClient(t, srv.URL(), srv.Credential())
	a := c.Me().Events("e1").Attachments()
	ctx := context.Background()
	f, err := a.AddFile(ctx, &FileAttachment{Name: "menu.txt", ContentBytes: []byte("mac and cheese today")})
	require.NoError(t, err)
	i, err := a.AddItem(ctx, &ItemAttachment{Name: "Holiday event", Item: &Event{Subject: "Discuss gifts"}})
	require.NoError(t, err)

	got, err := a.Get(ctx, f.ID)
	require.NoError(t, err)
	require.IsType(t, &FileAttachment{}, got)
	assert.Equal(t, "mac and cheese today", string(got.(*FileAttachment).ContentBytes))
	assert.Equal(t, "text/plain", got.(*FileAttachment).ContentType)

	got, err = a.Get(ctx, i.ID)
	require.NoError(t, err)
	require.IsType(t, &ItemAttachment{}, got)
	assert.Equal(t, "Holiday event", got.AttachmentName())

	require.NoError(t, a.Delete(ctx, f.ID))
	err = a.Delete(ctx, f.ID)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = a.Get(ctx, f.ID)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Len(t, srv.Attachments("me", "e1"), 1)
}

// One busy mailbox does not hold up another, and the busy one never has
// more than Outlook's four requests in flight.
func TestBusyMailboxDoesNotBlockOthers(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 16)
	var (
		mu             sync.Mutex
		inFlight, peak int
	)
	srv := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/users/busy@contoso.com/") {
			mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			mu.Unlock()
			arrived <- struct{}{}
			<-release // held until the idle mailbox has been served
			mu.Lock()
			inFlight--
			mu.Unlock()
		}
		reply(200, `{"value":[]}`)(w, r)
	})
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := c.Users("busy@contoso.com").Events("e").Attachments().List(context.Background())
			assert.NoError(t, err)
		})
	}
	for range 4 {
		<-arrived // the busy mailbox's four slots are all taken
	}
	// A safety bound, not a measurement: a held-up call would hang.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Users("idle@contoso.com").Events("e").Attachments().List(ctx)
	require.NoError(t, err, "the idle mailbox was served while the busy one was full")
	close(release)
	wg.Wait()
	assert.Equal(t, 4, peak, "the busy mailbox never had more than 4 requests in flight")
}
