package eventattach

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Graph refuses a fileAttachment property in $select on the attachments set
// with 400 RequestBroker--ParseUri (GRAPH-FACTS.md, Query options). These tests
// run against graphtest, which refuses it the same way.

// selects returns the $select of every GET the server answered, and fails
// on any request Graph would have refused.
func selects(t *testing.T, srv *graphtest.Server) []string {
	t.Helper()
	var out []string
	for _, r := range srv.Requests() {
		q, err := url.ParseQuery(r.RawQuery)
		require.NoError(t, err)
		if r.Method == http.MethodGet && q.Has("$select") {
			out = append(out, q.Get("$select"))
		}
	}
	return out
}

func noRefusals(t *testing.T, srv *graphtest.Server) {
	t.Helper()
	for _, r := range srv.Requests() {
		assert.NotEqual(t, http.StatusBadRequest, r.Status, "%s %s?%s was refused", r.Method, r.Path, r.RawQuery)
	}
}

func TestUploadReadsBackOnlyTheSetsProperties(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	const size = 3_500_000
	att, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
		Name: "logo.png", ContentType: "image/png", Content: newPattern(size), Size: size, IsInline: true, ContentID: "logo@1",
	})
	require.NoError(t, err)
	noRefusals(t, srv)
	assert.Equal(t, []string{listSelect}, selects(t, srv))
	// The metadata came from Graph's answer, the content id from the upload.
	assert.False(t, att.LastModifiedDateTime.IsZero(), "read back from Graph")
	assert.Equal(t, "logo@1", att.ContentID)
	assert.True(t, att.IsInline)
}

func TestDuplicateCheckListsContentIDsInCastForm(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatusAfterStore, Status: 504})
	att, err := c.Me().Events("e1").Attachments().AddFile(context.Background(),
		&FileAttachment{Name: "logo.png", ContentBytes: []byte("png"), IsInline: true, ContentID: "logo@1"})
	require.NoError(t, err)
	noRefusals(t, srv)
	assert.Equal(t, []string{checkSelect}, selects(t, srv))
	assert.Len(t, srv.Attachments("me", "e1"), 1, "found, not sent again")
	assert.Equal(t, "logo@1", att.ContentID)
}

// When Graph refuses the cast form too, the check lists the base properties
// and reads each candidate whole: the attachment is still found once.
func TestDuplicateCheckWithoutCastFormReadsCandidatesWhole(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, &graphtest.Options{CastSelectUnsupported: true})
	srv.Me().AddEvent("e1")
	srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatusAfterStore, Status: 504})
	att, err := c.Me().Events("e1").Attachments().AddFile(context.Background(),
		&FileAttachment{Name: "logo.png", ContentBytes: []byte("png"), IsInline: true, ContentID: "logo@1"})
	require.NoError(t, err)
	assert.Len(t, srv.Attachments("me", "e1"), 1, "found, not sent again")
	assert.Equal(t, "logo@1", att.ContentID)
	assert.Equal(t, []string{checkSelect, listSelect}, selects(t, srv))
	var wholeReads int
	for _, r := range srv.Requests() {
		if r.Method == http.MethodGet && r.RawQuery == "" && strings.Contains(r.Path, "/attachments/") {
			wholeReads++
		}
	}
	assert.Equal(t, 1, wholeReads)
}

// The same name and bytes under another content id is another attachment
// (an inline image the body refers to by its cid), with or without the
// cast form.
func TestIfAbsentTellsContentIDsApart(t *testing.T) {
	t.Parallel()
	for _, castRefused := range []bool{false, true} {
		srv, c := newUploadServer(t, &graphtest.Options{CastSelectUnsupported: castRefused})
		srv.Me().AddEvent("e1")
		a := c.Me().Events("e1").Attachments()
		png := bytes.Repeat([]byte{1, 2, 3}, 100)
		ctx := context.Background()
		first, err := a.AddFile(ctx, &FileAttachment{Name: "logo.png", ContentBytes: png, IsInline: true, ContentID: "a@1"}, &AddOptions{IfAbsent: true})
		require.NoError(t, err)
		again, err := a.AddFile(ctx, &FileAttachment{Name: "logo.png", ContentBytes: png, IsInline: true, ContentID: "a@1"}, &AddOptions{IfAbsent: true})
		require.NoError(t, err)
		assert.Equal(t, first.ID, again.ID, "cast refused: %v", castRefused)
		other, err := a.AddFile(ctx, &FileAttachment{Name: "logo.png", ContentBytes: png, IsInline: true, ContentID: "b@1"}, &AddOptions{IfAbsent: true})
		require.NoError(t, err)
		assert.NotEqual(t, first.ID, other.ID, "cast refused: %v", castRefused)
		assert.Len(t, srv.Attachments("me", "e1"), 2)
	}
}
