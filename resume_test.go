package eventattach

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// resumeFile writes size bytes of the test pattern to a file.
func resumeFile(t *testing.T, size int64) (string, [32]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "recording.bin")
	f, err := os.Create(path)
	require.NoError(t, err)
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), newPattern(size))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return path, [32]byte(h.Sum(nil))
}

// stopAt60 uploads path until about 60 % is acknowledged, then cancels,
// and returns the last saved state, as JSON, as a job would store it.
func stopAt60(t *testing.T, srv *graphtest.Server, path string, size int64) []byte {
	t.Helper()
	c := newTestClient(t, srv.URL(), srv.Credential())
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var saved []byte
	_, err = c.Me().Events("e1").Attachments().Upload(ctx, FileUpload{
		Name: "recording.bin", Content: f, Size: size, ChunkSize: ChunkSizeUnit,
		Checkpoint: func(s UploadState) {
			b, err := json.Marshal(s)
			require.NoError(t, err)
			saved = b
		},
		Progress: func(sent, total int64) {
			if sent*10 >= total*6 {
				cancel()
			}
		},
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "kept for ResumeUpload")
	return saved
}

// putBytes is the content bytes PUT to the upload host.
func putBytes(srv *graphtest.Server) int64 {
	var n int64
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPut && r.Host == uploadHost(srv) {
			n += r.BodySize
		}
	}
	return n
}

// An upload stopped at about 60 % goes on in a new Client built from
// nothing but the saved state and the file, and lands the same bytes,
// having sent at most the file and one chunk in all.
func TestUploadResumeFromSavedState(t *testing.T) {
	t.Parallel()
	const size = 10 * ChunkSizeUnit
	srv := graphtest.NewServer(&graphtest.Options{MaxBodyRecorded: -1})
	t.Cleanup(srv.Close)
	srv.Me().AddEvent("e1")
	path, sum := resumeFile(t, size)
	saved := stopAt60(t, srv, path, size)
	for _, r := range srv.Requests() {
		require.NotEqual(t, http.MethodDelete, r.Method, "the session was kept")
	}

	// A new process: the state and the file, nothing else.
	var state UploadState
	require.NoError(t, json.Unmarshal(saved, &state))
	assert.GreaterOrEqual(t, state.Acked*10, int64(size*6))
	c2 := newTestClient(t, srv.URL(), srv.Credential())
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var last int64
	att, err := c2.ResumeUpload(context.Background(), state, f, &ResumeOptions{Progress: func(sent, _ int64) { last = sent }})
	require.NoError(t, err)
	assert.Equal(t, int64(size), last)

	stored := srv.Attachments("me", "e1")
	require.Equal(t, 1, len(stored))
	assert.Equal(t, stored[0].ID, att.ID)
	assert.Equal(t, sum, sha256.Sum256(stored[0].Content))
	assert.LessOrEqual(t, putBytes(srv), int64(size+ChunkSizeUnit), "at most the file and one chunk sent in all")
}

// After the session expired, the resume starts a new session and sends the
// whole file once more; nothing is duplicated.
func TestUploadResumeAfterTheSessionExpired(t *testing.T) {
	t.Parallel()
	const size = 10 * ChunkSizeUnit
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := graphtest.NewServer(&graphtest.Options{MaxBodyRecorded: -1, Clock: clock})
	t.Cleanup(srv.Close)
	srv.Me().AddEvent("e1")
	path, sum := resumeFile(t, size)
	saved := stopAt60(t, srv, path, size)
	mu.Lock()
	now = now.Add(48 * time.Hour) // past the session's lifetime
	mu.Unlock()

	var state UploadState
	require.NoError(t, json.Unmarshal(saved, &state))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	before := putBytes(srv)
	att, err := newTestClient(t, srv.URL(), srv.Credential()).ResumeUpload(context.Background(), state, f, nil)
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Equal(t, 1, len(stored))
	assert.Equal(t, stored[0].ID, att.ID)
	assert.Equal(t, sum, sha256.Sum256(stored[0].Content))
	assert.Equal(t, int64(size), putBytes(srv)-before, "the whole file, once, in a new session")
}

// A file that changed since the state was saved is refused before anything
// is sent.
func TestUploadResumeRefusesAChangedFile(t *testing.T) {
	t.Parallel()
	const size = 10 * ChunkSizeUnit
	srv := graphtest.NewServer(&graphtest.Options{MaxBodyRecorded: -1})
	t.Cleanup(srv.Close)
	srv.Me().AddEvent("e1")
	path, _ := resumeFile(t, size)
	saved := stopAt60(t, srv, path, size)
	var state UploadState
	require.NoError(t, json.Unmarshal(saved, &state))

	require.GreaterOrEqual(t, state.Acked, int64(ChunkSizeUnit), "the saved state holds acknowledged chunks: %+v", state)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, state.Acked/2)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{^b[0]}, state.Acked/2) // one byte Graph already holds, changed
	require.NoError(t, err)
	srv.ResetRequests()
	_, err = newTestClient(t, srv.URL(), srv.Credential()).ResumeUpload(context.Background(), state, f, nil)
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Contains(t, err.Error(), "not the same file")
	assert.Empty(t, srv.Requests(), "nothing sent")

	// A file of another size too.
	require.NoError(t, f.Truncate(size-1))
	_, err = newTestClient(t, srv.URL(), srv.Credential()).ResumeUpload(context.Background(), state, f, nil)
	require.ErrorIs(t, err, ErrInvalidInput)
}

// The saved state hides its authtoken from fmt, and says it is a secret.
func TestUploadResumeStateHidesTheAuthtoken(t *testing.T) {
	s := UploadState{UploadURL: "https://outlook.office.com/api/v2.0/Users('a')/Events('b')/AttachmentSessions('c')?authtoken=SECRETTOKEN", Name: "f.bin", Size: 10}
	for _, out := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), fmt.Sprint(&s)} {
		assert.NotContains(t, out, "SECRETTOKEN")
	}
}

// A state saved on another machine carries that machine's clock in
// Started. Ahead by two hours, it must not hide the attachment its upload
// created: the resume finds it instead of uploading a second copy.
func TestResumeWithAStartedFromAnotherClock(t *testing.T) {
	t.Parallel()
	const size = 10 * ChunkSizeUnit // over MaxAddFileSize: a session
	srv := graphtest.NewServer(nil)
	t.Cleanup(srv.Close)
	srv.Me().AddEvent("e1")
	c := newTestClient(t, srv.URL(), srv.Credential())
	var last UploadState
	_, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
		Name: "r.bin", Content: newPattern(size), Size: size, ChunkSize: ChunkSizeUnit,
		Checkpoint: func(s UploadState) { last = s },
	})
	require.NoError(t, err)
	// The process died before it read the last 201; its saved state says
	// it began two hours from now.
	last.Started = time.Now().Add(2 * time.Hour)
	att, err := newTestClient(t, srv.URL(), srv.Credential()).ResumeUpload(context.Background(), last, bytes.NewReader(patternBytes(size)), nil)
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Len(t, stored, 1, "found, not uploaded again")
	assert.Equal(t, stored[0].ID, att.ID)
}
