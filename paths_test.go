package eventattach

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// routeCases lists every route shape of the two seed pages.
func routeCases(c *Client) []struct {
	name string
	a    Attachments
	want string
} {
	return []struct {
		name string
		a    Attachments
		want string
	}{
		{"me/events", c.Me().Events("e1").Attachments(), "/me/events/e1/attachments"},
		{"users/events", c.Users("u1").Events("e1").Attachments(), "/users/u1/events/e1/attachments"},
		{"me/calendar", c.Me().Calendar().Events("e1").Attachments(), "/me/calendar/events/e1/attachments"},
		{"users/calendar", c.Users("u1").Calendar().Events("e1").Attachments(), "/users/u1/calendar/events/e1/attachments"},
		{"me/calendars", c.Me().Calendars("c1").Events("e1").Attachments(), "/me/calendars/c1/events/e1/attachments"},
		{"users/calendars", c.Users("u1").Calendars("c1").Events("e1").Attachments(), "/users/u1/calendars/c1/events/e1/attachments"},
		{"me/calendarGroups", c.Me().CalendarGroups("g1").Calendars("c1").Events("e1").Attachments(), "/me/calendarGroups/g1/calendars/c1/events/e1/attachments"},
		{"users/calendarGroups", c.Users("u1").CalendarGroups("g1").Calendars("c1").Events("e1").Attachments(), "/users/u1/calendarGroups/g1/calendars/c1/events/e1/attachments"},
		{"me/calendargroup", c.Me().CalendarGroup().Calendars("c1").Events("e1").Attachments(), "/me/calendargroup/calendars/c1/events/e1/attachments"},
		{"users/calendargroup", c.Users("u1").CalendarGroup().Calendars("c1").Events("e1").Attachments(), "/users/u1/calendargroup/calendars/c1/events/e1/attachments"},
		{"groups/events", c.Groups("grp").Events("e1").Attachments(), "/groups/grp/events/e1/attachments"},
		{"groups/calendar", c.Groups("grp").Calendar().Events("e1").Attachments(), "/groups/grp/calendar/events/e1/attachments"},
		{"upn", c.Users("adele@contoso.com").Events("e1").Attachments(), "/users/adele@contoso.com/events/e1/attachments"},
		{"seed event id", c.Me().Events("AAMkAGI1AAAt9AHjAAA=").Attachments(), "/me/events/AAMkAGI1AAAt9AHjAAA=/attachments"},
	}
}

func TestRoutesPathAndWire(t *testing.T) {
	srv := newScripted(t, reply(201, created201))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	for _, tc := range routeCases(c) {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.a.Path())
			_, err := tc.a.AddFile(context.Background(), &FileAttachment{Name: "menu.txt", ContentBytes: []byte("x")})
			require.NoError(t, err)
			reqs := srv.requests()
			last := reqs[len(reqs)-1]
			assert.Equal(t, "POST", last.Method)
			assert.Equal(t, "/v1.0"+tc.want, last.EscapedPath)
		})
	}
}

func TestOddIDsAreOneSegment(t *testing.T) {
	srv := newScripted(t, reply(201, created201))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	for _, id := range []string{"a/../b?c#d", "with space", "ünïcødé-日本", "AAMk==", "%2e%2e", "a;b,c", "a+b&c", "..a", "x/"} {
		t.Run(id, func(t *testing.T) {
			a := c.Users(id).Calendars(id).Events(id).Attachments()
			_, err := a.AddFile(context.Background(), &FileAttachment{Name: "n", ContentBytes: []byte("x")})
			require.NoError(t, err)
			reqs := srv.requests()
			got := reqs[len(reqs)-1].EscapedPath
			segs := strings.Split(strings.TrimPrefix(got, "/v1.0/"), "/")
			require.Len(t, segs, 7, "path %q", got)
			for _, i := range []int{1, 3, 5} {
				dec, err := url.PathUnescape(segs[i])
				require.NoError(t, err)
				assert.Equal(t, id, dec)
			}
			assert.Empty(t, reqs[len(reqs)-1].RawQuery)
		})
	}
}

func TestInvalidIDsSendNothing(t *testing.T) {
	srv := newScripted(t, reply(201, created201))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	ctx := context.Background()
	file := &FileAttachment{Name: "n", ContentBytes: []byte("x")}
	cases := map[string]func() error{
		"empty event":    func() error { _, err := c.Me().Events("").Attachments().AddFile(ctx, file); return err },
		"dot event":      func() error { _, err := c.Me().Events(".").Attachments().AddFile(ctx, file); return err },
		"dotdot user":    func() error { _, err := c.Users("..").Events("e").Attachments().AddFile(ctx, file); return err },
		"empty calendar": func() error { _, err := c.Me().Calendars("").Events("e").Attachments().List(ctx); return err },
		"empty group":    func() error { _, err := c.Groups("").Events("e").Attachments().List(ctx); return err },
		"empty calendargroup": func() error {
			_, err := c.Me().CalendarGroups("").Calendars("c").Events("e").Attachments().List(ctx)
			return err
		},
		"empty attachment": func() error { _, err := c.Me().Events("e").Attachments().Get(ctx, ""); return err },
		"dot attachment":   func() error { return c.Me().Events("e").Attachments().Delete(ctx, ".") },
		"nil file":         func() error { _, err := c.Me().Events("e").Attachments().AddFile(ctx, nil); return err },
		"nil item":         func() error { _, err := c.Me().Events("e").Attachments().AddItem(ctx, nil); return err },
		"item without item": func() error {
			_, err := c.Me().Events("e").Attachments().AddItem(ctx, &ItemAttachment{Name: "x"})
			return err
		},
		"nil attachment": func() error { _, err := c.Me().Events("e").Attachments().Add(ctx, nil); return err },
		"reference": func() error {
			_, err := c.Me().Events("e").Attachments().Add(ctx, &ReferenceAttachment{Name: "x"})
			return err
		},
		"no name": func() error { _, err := c.Me().Events("e").Attachments().AddFile(ctx, &FileAttachment{}); return err },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			err := f()
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalidInput), "%v", err)
		})
	}
	assert.Empty(t, srv.requests(), "nothing may be sent for invalid input")
}

func TestTooLargeSendsNothing(t *testing.T) {
	srv := newScripted(t, reply(201, created201))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	_, err := c.Me().Events("e").Attachments().AddFile(context.Background(), &FileAttachment{Name: "big.bin", ContentBytes: make([]byte, MaxAddSize+1)})
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), "3145729")
	assert.Contains(t, err.Error(), "3000000")
	assert.Contains(t, err.Error(), "Upload")
	big := &Event{Subject: "s", Body: &ItemBody{ContentType: "text", Content: strings.Repeat("x", MaxAddSize)}}
	_, err = c.Me().Events("e").Attachments().AddItem(context.Background(), &ItemAttachment{Name: "big", Item: big})
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Empty(t, srv.requests())
}

func TestPathNodesAreImmutable(t *testing.T) {
	c := newTestClient(t, "https://graph.microsoft.com/v1.0", nil)
	cal := c.Me().Calendars("c1")
	a := cal.Events("e1").Attachments()
	b := cal.Events("e2").Attachments()
	assert.Equal(t, "/me/calendars/c1/events/e1/attachments", a.Path())
	assert.Equal(t, "/me/calendars/c1/events/e2/attachments", b.Path())
}

// Graph takes files "under 3 MB": exactly MaxAddFileSize is refused too.
func TestExactlyMaxAddFileSizeRefused(t *testing.T) {
	srv := newScripted(t, reply(201, created201))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	_, err := c.Me().Events("e").Attachments().AddFile(context.Background(), &FileAttachment{Name: "big.bin", ContentBytes: make([]byte, MaxAddFileSize)})
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), "must be under 3000000 bytes (3 MB)")
	assert.Empty(t, srv.requests())
	_, err = c.Me().Events("e").Attachments().AddFile(context.Background(), &FileAttachment{Name: "ok.bin", ContentBytes: make([]byte, MaxAddFileSize-1)})
	require.NoError(t, err)
}

// Only documented chains compile: each node offers exactly the next steps
// the seed pages list (e.g. no GroupPath.CalendarGroups, no Calendar().Calendars).
func TestNodesOfferOnlyDocumentedSteps(t *testing.T) {
	methods := func(v any) []string {
		typ := reflect.TypeOf(v)
		var names []string
		for i := range typ.NumMethod() {
			names = append(names, typ.Method(i).Name)
		}
		return names
	}
	assert.Equal(t, []string{"Calendar", "CalendarGroup", "CalendarGroups", "Calendars", "Events"}, methods(UserPath{}))
	assert.Equal(t, []string{"Calendar", "Events"}, methods(GroupPath{}))
	assert.Equal(t, []string{"Calendars"}, methods(CalendarGroupPath{}))
	assert.Equal(t, []string{"Events"}, methods(CalendarPath{}))
	assert.Equal(t, []string{"Attachments", "SendUpdate"}, methods(EventPath{}))
	assert.Equal(t, []string{"Add", "AddFile", "AddItem", "Content", "Delete", "Get", "List", "Path", "ResumeUpload", "Upload"}, methods(Attachments{}))
}
