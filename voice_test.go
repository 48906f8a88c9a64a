package eventattach

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One voice: every error a method returns starts with "eventattach:", names
// the operation and the route (ids as sent, no query string), and still
// answers errors.Is.
func TestErrorsNameOperationAndRoute(t *testing.T) {
	t.Parallel()
	_, c := newUploadServer(t, nil)
	a := c.Users("adele@contoso.com").Events("no such event").Attachments()
	ctx := context.Background()
	route := "/users/adele@contoso.com/events/no%20such%20event/attachments"
	_, errAddFile := a.AddFile(ctx, &FileAttachment{Name: "a.txt", ContentBytes: []byte("a")})
	_, errAddItem := a.AddItem(ctx, &ItemAttachment{Name: "i", Item: &Event{Subject: "s"}})
	_, errList := a.List(ctx)
	_, errGet := a.Get(ctx, "att 1")
	_, errContent := a.Content(ctx, "att 1")
	errDelete := a.Delete(ctx, "att 1")
	_, errUpload := a.Upload(ctx, FileUpload{Name: "big.bin", Content: bytes.NewReader(make([]byte, MaxAddSize)), Size: MaxAddSize})
	errUpdate := c.Users("adele@contoso.com").Events("no such event").SendUpdate(ctx)
	for _, tc := range []struct {
		err    error
		prefix string
	}{
		{errAddFile, "eventattach: AddFile POST " + route + ": "},
		{errAddItem, "eventattach: AddItem POST " + route + ": "},
		{errList, "eventattach: List GET " + route + ": "},
		{errGet, "eventattach: Get GET " + route + "/att%201: "},
		{errContent, "eventattach: Content GET " + route + "/att%201/$value: "},
		{errDelete, "eventattach: Delete DELETE " + route + "/att%201: "},
		{errUpload, "eventattach: Upload " + route + ": "},
		{errUpdate, "eventattach: SendUpdate PATCH /users/adele@contoso.com/events/no%20such%20event: "},
	} {
		require.Error(t, tc.err, tc.prefix)
		assert.True(t, strings.HasPrefix(tc.err.Error(), tc.prefix), "%q\nwant prefix %q", tc.err, tc.prefix)
		assert.ErrorIs(t, tc.err, ErrNotFound)
		assert.NotContains(t, tc.err.Error(), "?$select")
		assert.Equal(t, 1, strings.Count(tc.err.Error(), "eventattach:"), "one voice, said once: %q", tc.err)
	}
	// Refused before sending: the same voice.
	_, err := c.Me().Events("").Attachments().AddFile(ctx, &FileAttachment{Name: "a"})
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.True(t, strings.HasPrefix(err.Error(), "eventattach: AddFile POST /me/events//attachments: "), "%q", err)
}
