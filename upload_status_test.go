package eventattach

import (
	"context"
	"net/http"
	"testing"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// No public source shows Outlook answering GET on an upload URL
// (GRAPH-FACTS.md, Upload sessions). When it refuses the GET, a chunk whose
// answer was lost is sent again; a 416 to that says the session has it.
func TestUploadWhenTheSessionWillNotSayWhatItHolds(t *testing.T) {
	const size, chunk = MaxAddFileSize + 500<<10, 4 * ChunkSizeUnit // three chunks
	put := func(kind graphtest.FaultKind, status int) graphtest.Fault {
		return graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: kind, Status: status}
	}
	cases := []struct {
		name    string
		fault   graphtest.Fault
		onChunk int
	}{
		{"reset after store", put(graphtest.FaultResetAfterStore, 0), 1},
		{"reset before store", put(graphtest.FaultResetBeforeStore, 0), 1},
		{"504 after store", put(graphtest.FaultStatusAfterStore, 504), 1},
		{"reset after store on the final chunk", put(graphtest.FaultResetAfterStore, 0), 2},
		{"reset before store on the final chunk", put(graphtest.FaultResetBeforeStore, 0), 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1, UploadStatusUnsupported: true})
			srv.Me().AddEvent("e1")
			content, sum := hashedContent(size)
			att, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
				Name: "report.pdf", Content: content, Size: size, ChunkSize: chunk, Progress: failOn(srv, tc.onChunk, tc.fault),
			})
			require.NoError(t, err)
			stored, got := storedSum(t, srv, "me", "e1")
			assert.Equal(t, sum(), got)
			assert.Equal(t, stored.ID, att.ID)
			assert.Len(t, srv.Attachments("me", "e1"), 1)
			_, puts := uploadRequests(t, srv)
			assert.LessOrEqual(t, len(puts), 5, "at most the lost chunk twice more")
		})
	}
}

// A session Exchange has not propagated yet can answer its first chunk 404
// ErrorItemNotFound; users fixed it by opening another (GRAPH-FACTS.md,
// Upload sessions). Nothing had landed, so Upload opens one more, once.
func TestUploadOpensAnotherSessionWhenAFreshOneAnswers404(t *testing.T) {
	t.Parallel()
	const size = MaxAddFileSize + 500<<10
	notFound := graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultStatus, Status: 404, Code: "ErrorItemNotFound"}

	srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1})
	srv.Me().AddEvent("e1")
	srv.Inject(notFound)
	content, sum := hashedContent(size)
	att, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{Name: "a.bin", Content: content, Size: size})
	require.NoError(t, err)
	stored, got := storedSum(t, srv, "me", "e1")
	assert.Equal(t, sum(), got)
	assert.Equal(t, stored.ID, att.ID)
	sessions := 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost {
			sessions++
		}
	}
	assert.Equal(t, 2, sessions)

	// Once a chunk was acknowledged, a 404 is not a fresh session's.
	srv2, c2 := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1})
	srv2.Me().AddEvent("e1")
	_, err = c2.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
		Name: "a.bin", Content: newPattern(size), Size: size, ChunkSize: 4 * ChunkSizeUnit, Progress: failOn(srv2, 1, notFound),
	})
	require.ErrorIs(t, err, ErrNotFound)
	assert.Empty(t, srv2.Attachments("me", "e1"))
}
