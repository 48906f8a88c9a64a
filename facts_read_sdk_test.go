package eventattach

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The SDK against graphtest's read-side defaults (graphtest/facts_read_test.go):
// unpaged lists, @odata.mediaContentType, reference attachments, recurring
// series.

func TestSDKListAgainstAnUnpagedAnswer(t *testing.T) {
	srv := graphtest.NewServer(nil) // default: one page, no nextLink
	t.Cleanup(srv.Close)
	srv.Me().AddEvent("e")
	a := newTestClient(t, srv.URL(), srv.Credential()).Me().Events("e").Attachments()
	ctx := context.Background()
	for i := range 15 {
		_, err := a.AddFile(ctx, &FileAttachment{Name: fmt.Sprintf("f%02d.txt", i), ContentBytes: []byte("x")})
		require.NoError(t, err)
	}
	srv.ResetRequests()
	all, err := a.List(ctx)
	require.NoError(t, err)
	require.Len(t, all, 15)
	for i, att := range all {
		f, ok := att.(*FileAttachment)
		require.True(t, ok, "%T", att)
		assert.Equal(t, fmt.Sprintf("f%02d.txt", i), f.Name)
		assert.Equal(t, "text/plain", f.ContentType)
		assert.Empty(t, f.ContentBytes, "List is metadata only")
	}
	reqs := srv.Requests()
	require.Len(t, reqs, 1, "one GET, no nextLink to follow")
	assert.Equal(t, http.MethodGet, reqs[0].Method)
}

func TestSDKGetOfAReferenceAttachment(t *testing.T) {
	srv := graphtest.NewServer(nil)
	t.Cleanup(srv.Close)
	srv.Me().AddEvent("e")
	id := srv.Me().Event("e").AddReferenceAttachment("plan.docx", "https://contoso.sharepoint.com/plan.docx")
	a := newTestClient(t, srv.URL(), srv.Credential()).Me().Events("e").Attachments()
	ctx := context.Background()

	got, err := a.Get(ctx, id)
	require.NoError(t, err)
	ref, ok := got.(*ReferenceAttachment)
	require.True(t, ok, "%T", got)
	assert.Equal(t, id, ref.ID)
	assert.Equal(t, "plan.docx", ref.Name)
	assert.Empty(t, ref.SourceURL, "v1.0 does not show sourceUrl")
	assert.False(t, ref.LastModifiedDateTime.IsZero())

	all, err := a.List(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.IsType(t, &ReferenceAttachment{}, all[0])
}

func TestSDKContentOfAReferenceAttachmentIsAClearError(t *testing.T) {
	srv := graphtest.NewServer(nil)
	t.Cleanup(srv.Close)
	srv.Me().AddEvent("e")
	id := srv.Me().Event("e").AddReferenceAttachment("plan.docx", "https://contoso.sharepoint.com/plan.docx")
	a := newTestClient(t, srv.URL(), srv.Credential()).Me().Events("e").Attachments()

	rc, err := a.Content(context.Background(), id)
	if rc != nil {
		rc.Close()
	}
	require.Error(t, err)
	var ge *GraphError
	require.True(t, errors.As(err, &ge), "%v", err)
	assert.Equal(t, http.StatusMethodNotAllowed, ge.StatusCode)
	assert.Contains(t, ge.Message, "only supported for File Attachments and Item Attachments")
	assert.Contains(t, err.Error(), "405")
	assert.Len(t, srv.Requests(), 1, "a 405 is not retried")
}

func TestSDKOnARecurringSeries(t *testing.T) {
	srv := graphtest.NewServer(nil)
	t.Cleanup(srv.Close)
	m := srv.Me().AddSeries("m")
	m.AddOccurrence("o1")
	c := newTestClient(t, srv.URL(), srv.Credential())
	ctx := context.Background()
	_, err := c.Me().Events("m").Attachments().AddFile(ctx, &FileAttachment{Name: "agenda.txt", ContentBytes: []byte("agenda")})
	require.NoError(t, err)

	// An occurrence lists the master's attachment and streams its bytes.
	occ := c.Me().Events("o1").Attachments()
	all, err := occ.List(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
	rc, err := occ.Content(ctx, all[0].AttachmentID())
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	assert.Equal(t, "agenda", string(b))

	// Adding to the occurrence makes it an exception with its own only.
	_, err = occ.AddFile(ctx, &FileAttachment{Name: "mine.txt", ContentBytes: []byte("mine")})
	require.NoError(t, err)
	assert.Equal(t, "exception", srv.Me().Event("o1").Type())
	all, err = occ.List(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.Equal(t, "mine.txt", all[0].AttachmentName())
}
