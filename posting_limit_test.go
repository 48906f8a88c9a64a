package eventattach

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Files just under 3 MiB make a POST whose JSON passes Graph's 4 MiB request
// limit (GRAPH-FACTS.md, Adding attachments). A new user tried 3,145,666 to
// 3,145,727 bytes: Upload POSTed them and failed, AddFile sent them.
const justUnder3MiB = 3_145_700

func TestUploadJustUnder3MiBLandsInOneTry(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil) // graphtest's defaults: Graph as documented
	srv.Me().AddEvent("e1")
	content, sum := hashedContent(justUnder3MiB)
	att, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
		Name: "just-under-3MiB.bin", Content: content, Size: justUnder3MiB,
	})
	require.NoError(t, err)
	stored, got := storedSum(t, srv, "me", "e1")
	assert.Equal(t, sum(), got)
	assert.Equal(t, stored.ID, att.ID)

	// One try: a session, its chunks, no POST of the file, nothing refused.
	var posts []string
	for _, r := range srv.Requests() {
		assert.Less(t, r.Status, 400, "%s %s answered %d", r.Method, r.Path, r.Status)
		if r.Method == http.MethodPost {
			posts = append(posts, r.Path)
		}
	}
	assert.Equal(t, []string{"/v1.0/me/events/e1/attachments/createUploadSession"}, posts)
}

func TestAddFileJustUnder3MiBIsRefusedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	_, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{
		Name: "just-under-3MiB.bin", ContentBytes: make([]byte, justUnder3MiB),
	})
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), "must be under 3000000 bytes")
	assert.Contains(t, err.Error(), "Upload sends larger files through an upload session")
	assert.Empty(t, srv.Requests())
}

// The largest file AddFile sends, with a long name, still fits Graph's
// request limit: the margin below the measured 3,145,611 bytes holds.
func TestAddFileLargestWithLongNameFitsGraphsLimit(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	name := strings.Repeat("ü", 255) + ".bin"
	content := bytes.Repeat([]byte{0xfb}, MaxAddFileSize-1)
	_, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{
		Name: name, ContentType: "application/octet-stream", ContentBytes: content, IsInline: true, ContentID: strings.Repeat("c", 255),
	})
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Len(t, stored, 1)
	assert.Equal(t, content, stored[0].Content)
}

// A request body over 4 MiB is refused before sending whatever the file's
// size: a name can make it so.
func TestAddFileBodyOver4MiBIsRefusedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	_, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{
		Name: strings.Repeat("n", 2<<20), ContentBytes: make([]byte, 2_000_000),
	})
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), "the request's JSON")
	assert.Empty(t, srv.Requests())
}

// The session threshold cannot be raised above what one POST takes.
func TestSessionThresholdAboveMaxAddFileSizeIsInvalid(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	_, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
		Name: "a.bin", Content: bytes.NewReader(make([]byte, 10)), Size: 10, SessionThreshold: MaxAddFileSize + 1,
	})
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Empty(t, srv.Requests())
}
