package eventattach

import (
	"context"
	"net/http"
	"testing"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Three single paths through the engine, each alone in a test so that
// scripts/engine-trace.sh can count the functions and files one of them
// runs through (coverage of that test alone).

func TestTraceAddFileAfterA503(t *testing.T) {
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatus, Status: 503})
	_, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("a")})
	require.NoError(t, err)
	assert.Len(t, srv.Attachments("me", "e1"), 1)
	assert.Equal(t, 1, srv.FaultsInjected()[graphtest.FaultStatus])
}

func TestTraceAddFileReconciledAfterA504(t *testing.T) {
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatusAfterStore, Status: 504})
	_, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("a")})
	require.NoError(t, err)
	assert.Len(t, srv.Attachments("me", "e1"), 1, "found by the duplicate check, not sent again")
}

func TestTraceUploadChunkReset(t *testing.T) {
	srv, c := newUploadServer(t, &graphtest.Options{MaxBodyRecorded: -1})
	srv.Me().AddEvent("e1")
	const size = 3 * ChunkSizeUnit * 4
	put := graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultResetAfterStore}
	_, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
		Name: "a.bin", Content: newPattern(size), Size: size, ChunkSize: 4 * ChunkSizeUnit, Progress: failOn(srv, 1, put),
	})
	require.NoError(t, err)
	_, puts := uploadRequests(t, srv)
	assert.Len(t, puts, 3, "the reset chunk had landed: not sent again")
}
