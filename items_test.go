package eventattach

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Items read back: Get with ExpandItem returns the item, and Content
// serves it as Graph renders it (MIME, iCalendar, vCard).
func TestItemsReadBack(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	a := c.Me().Events("e1").Attachments()
	ctx := context.Background()
	for _, tc := range []struct {
		item OutlookItem
		want string
	}{
		{&Event{Subject: "Kick-off"}, "BEGIN:VCALENDAR"},
		{&Message{Subject: "Minutes", Body: &ItemBody{ContentType: "text", Content: "Agreed."}}, "Subject: Minutes"},
		{&Contact{GivenName: "Adele", Surname: "Vance"}, "BEGIN:VCARD"},
	} {
		added, err := a.AddItem(ctx, &ItemAttachment{Name: "item", Item: tc.item})
		require.NoError(t, err)

		plain, err := a.Get(ctx, added.ID)
		require.NoError(t, err)
		assert.Nil(t, plain.(*ItemAttachment).Item, "Graph sends no item without $expand")

		got, err := a.Get(ctx, added.ID, &GetOptions{ExpandItem: true})
		require.NoError(t, err)
		assert.Equal(t, tc.item, got.(*ItemAttachment).Item)

		rc, err := a.Content(ctx, added.ID)
		require.NoError(t, err)
		raw, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		assert.Contains(t, string(raw), tc.want)
	}
	// Absent and nil options are the defaults.
	_, err := a.List(ctx, nil)
	require.NoError(t, err)
}
