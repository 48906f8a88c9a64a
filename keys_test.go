package eventattach

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Idempotency keys (issue 21): one key, one attachment, whatever the
// processes, redeliveries and deaths around it. Each Client with its own
// DirStore on one directory stands for a process.

// keyTimes makes the horizon of a dead holder short enough for a test.
func keyTimes(store Store) func(*ClientOptions) {
	return func(o *ClientOptions) {
		o.Store = store
		o.LeaseTTL = 300 * time.Millisecond
		o.CommitLag = 300 * time.Millisecond
		o.AttemptTimeout = 150 * time.Millisecond
	}
}

func newDirStoreT(t *testing.T, dir string) *DirStore {
	t.Helper()
	s, err := NewDirStore(dir)
	require.NoError(t, err)
	return s
}

func TestKeyFirstCallSendsOneRequestAndARedeliveryNone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, c := newUploadServer(t, nil, keyTimes(newDirStoreT(t, dir)))
	srv.Me().AddEvent("e1")
	a := c.Me().Events("e1").Attachments()
	f := &FileAttachment{Name: "a.txt", ContentBytes: []byte("hello")}

	first, err := a.AddFile(context.Background(), f, &AddOptions{Key: "task-1"})
	require.NoError(t, err)
	require.Len(t, srv.Requests(), 1, "a first keyed add is one Graph request")
	assert.Equal(t, http.MethodPost, srv.Requests()[0].Method)

	// A redelivery in this process, then in another one (a new Client and
	// store on the same directory): the recorded attachment, nothing sent.
	again, err := a.AddFile(context.Background(), f, &AddOptions{Key: "task-1"})
	require.NoError(t, err)
	other := newTestClient(t, srv.URL(), srv.Credential(), keyTimes(newDirStoreT(t, dir)))
	elsewhere, err := other.Me().Events("e1").Attachments().AddFile(context.Background(), f, &AddOptions{Key: "task-1"})
	require.NoError(t, err)
	assert.Len(t, srv.Requests(), 1, "redeliveries send nothing")
	assert.Equal(t, first.ID, again.ID)
	assert.Equal(t, first.ID, elsewhere.ID)
	assert.Equal(t, []byte("hello"), elsewhere.ContentBytes)
	assert.Len(t, srv.Attachments("me", "e1"), 1)
}

func TestKeyReusedWithOtherContentEventOrNameIsInvalidInput(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil, keyTimes(newDirStoreT(t, t.TempDir())))
	srv.Me().AddEvent("e1")
	srv.Me().AddEvent("e2")
	e1 := c.Me().Events("e1").Attachments()
	_, err := e1.AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("v1")}, &AddOptions{Key: "k"})
	require.NoError(t, err)
	srv.ResetRequests()

	for name, call := range map[string]func() error{
		"other content": func() error {
			_, err := e1.AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("v2")}, &AddOptions{Key: "k"})
			return err
		},
		"other name": func() error {
			_, err := e1.AddFile(context.Background(), &FileAttachment{Name: "b.txt", ContentBytes: []byte("v1")}, &AddOptions{Key: "k"})
			return err
		},
		"other event": func() error {
			_, err := c.Me().Events("e2").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("v1")}, &AddOptions{Key: "k"})
			return err
		},
		"an upload": func() error {
			_, err := e1.Upload(context.Background(), FileUpload{Name: "a.txt", Content: strings.NewReader("v2"), Size: 2, Key: "k"})
			return err
		},
		"an item": func() error {
			_, err := e1.AddItem(context.Background(), &ItemAttachment{Name: "a.txt", Item: &Event{Subject: "x"}}, &AddOptions{Key: "k"})
			return err
		},
	} {
		err := call()
		require.ErrorIs(t, err, ErrInvalidInput, name)
		assert.Contains(t, err.Error(), `idempotency key "k" is bound to another attachment`, name)
		assert.Contains(t, err.Error(), `"a.txt"`, name)
	}
	assert.Empty(t, srv.Requests(), "nothing was sent")
	assert.Len(t, srv.Attachments("me", "e1"), 1)
	assert.Empty(t, srv.Attachments("me", "e2"))
}

func TestKeyWithoutStoreIsInvalidInput(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	_, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a", ContentBytes: []byte("x")}, &AddOptions{Key: "k"})
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Contains(t, err.Error(), "ClientOptions.Store")
	assert.Empty(t, srv.Requests())
}

func TestKeyConcurrentCallsMakeOneAttachment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, _ := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	const calls = 8
	ids := make([]string, calls)
	var wg sync.WaitGroup
	for i := range calls {
		// Each call its own "process": its own Client and store handle.
		c := newTestClient(t, srv.URL(), srv.Credential(), keyTimes(newDirStoreT(t, dir)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("same")}, &AddOptions{Key: "task"})
			if assert.NoError(t, err) {
				ids[i] = got.ID
			}
		}()
	}
	wg.Wait()
	stored := srv.Attachments("me", "e1")
	require.Len(t, stored, 1)
	for _, id := range ids {
		assert.Equal(t, stored[0].ID, id)
	}
	assert.Len(t, srv.Requests(), 1, "one POST; the waiting calls read the store, not Graph")
}

func TestKeyStoreDownSendsNothing(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "keys")
	store := newDirStoreT(t, dir)
	srv, c := newUploadServer(t, nil, keyTimes(store))
	srv.Me().AddEvent("e1")
	// The store's directory is gone and a file stands in its place.
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.WriteFile(dir, []byte("not a directory"), 0o600))

	_, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a", ContentBytes: []byte("x")}, &AddOptions{Key: "k"})
	require.ErrorIs(t, err, ErrStore)
	var se *StoreError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, store.String(), se.Store)
	assert.Contains(t, err.Error(), store.String(), "the error names the store")
	assert.Empty(t, srv.Requests(), "nothing was sent to Graph")
}

func TestKeyCorruptRecordIsReportedNotGuessed(t *testing.T) {
	t.Parallel()
	store := newDirStoreT(t, t.TempDir())
	srv, c := newUploadServer(t, nil, keyTimes(store))
	srv.Me().AddEvent("e1")
	lease, err := store.Acquire(context.Background(), "k", time.Second)
	require.NoError(t, err)
	require.NoError(t, lease.Save(context.Background(), []byte(`{"key":"k","upload":{"uploadUrl":"https://x/?authtoken=SECRET"`)))
	require.NoError(t, lease.Release(context.Background()))

	_, err = c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a", ContentBytes: []byte("x")}, &AddOptions{Key: "k"})
	require.ErrorIs(t, err, ErrStore)
	assert.Contains(t, err.Error(), "corrupt")
	assert.NotContains(t, err.Error(), "SECRET")
	assert.Empty(t, srv.Requests())
}

// A lease lost mid-upload (broken by an operator, or taken after it
// expired) stops the upload before its next chunk.
func TestKeyLeaseLostMidUploadWritesNothingMore(t *testing.T) {
	t.Parallel()
	store := newDirStoreT(t, t.TempDir())
	srv, c := newUploadServer(t, nil, keyTimes(store))
	srv.Me().AddEvent("e1")
	const size = 3_200_000
	_, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
		Name: "big.bin", Content: bytes.NewReader(patternBytes(size)), Size: size, ChunkSize: 1_000_000, Key: "k",
		ChunkTimeout: 150 * time.Millisecond,
		Progress: func(sent, total int64) {
			if sent > 0 && sent < total {
				require.NoError(t, store.Break(context.Background(), "k"))
			}
		},
	})
	require.ErrorIs(t, err, ErrLeaseLost)
	assert.NotErrorIs(t, err, ErrStore, "the store works; the lease is gone")
	_, puts := uploadRequests(t, srv)
	assert.Len(t, puts, 1, "no chunk after the lease was lost")
	assert.Empty(t, srv.Attachments("me", "e1"))
}

// A dead holder's POST lands after it gave up (a zombie request): the next
// holder waits out the horizon the dead one recorded, finds the attachment,
// and adds nothing.
func TestKeyZombieRequestOfADeadHolderIsFoundNotDuplicated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, _ := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	content := []byte("late")
	a := newTestClient(t, srv.URL(), srv.Credential()).Me().Events("e1").Attachments()

	// The dead holder: it took the lease, recorded its horizon, sent its
	// POST and died without an answer; the POST commits 200 ms after the
	// sender gave up.
	lease, err := newDirStoreT(t, dir).Acquire(context.Background(), "k", 300*time.Millisecond)
	require.NoError(t, err)
	sum := sha256.Sum256(content)
	rec, err := json.Marshal(keyRecord{Key: "k", Request: fileRequest(a.Path(), "a.txt", "", false, "", int64(len(content)), sum[:]),
		QuietAfter: time.Now().Add(2 * time.Second)})
	require.NoError(t, err)
	require.NoError(t, lease.Save(context.Background(), rec))
	srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultLateCommit, Latency: 200 * time.Millisecond})
	body, err := json.Marshal(map[string]any{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentBytes": content})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, srv.URL()+a.Path(), bytes.NewReader(body))
	require.NoError(t, err)
	tok, err := srv.Credential().GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{CloudGlobal.Scope()}})
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	_, err = (&http.Client{Timeout: 100 * time.Millisecond}).Do(req)
	require.Error(t, err, "the dead holder got no answer")
	require.Empty(t, srv.Attachments("me", "e1"), "not landed yet")

	next := newTestClient(t, srv.URL(), srv.Credential(), keyTimes(newDirStoreT(t, dir)))
	got, err := next.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: content}, &AddOptions{Key: "k"})
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Len(t, stored, 1, "the late commit, and no second copy")
	assert.Equal(t, stored[0].ID, got.ID)
	assert.Equal(t, 1, srv.FaultsInjected()[graphtest.FaultLateCommit])
	posts := 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost {
			posts++
		}
	}
	assert.Equal(t, 1, posts, "the next holder sent no POST")
}

// A late commit within one keyed call: the check waits out CommitLag.
func TestKeyLateCommitOfOwnAttemptIsNotDuplicated(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil, keyTimes(newDirStoreT(t, t.TempDir())), func(o *ClientOptions) {
		o.CommitLag = time.Second // ten times the late commit's 100 ms
	})
	srv.Me().AddEvent("e1")
	srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultLateCommit, Latency: 100 * time.Millisecond})
	got, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("late")}, &AddOptions{Key: "k"})
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Len(t, stored, 1)
	assert.Equal(t, stored[0].ID, got.ID)
}

// Another process goes on with the session a dead holder left: no second
// session, no chunk sent twice.
func TestKeyUploadResumesADeadHoldersSession(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, dead := newUploadServer(t, nil, keyTimes(newDirStoreT(t, dir)))
	srv.Me().AddEvent("e1")
	const size = 3_200_000
	content := patternBytes(size)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := dead.Me().Events("e1").Attachments().Upload(ctx, FileUpload{
		Name: "big.bin", Content: bytes.NewReader(content), Size: size, ChunkSize: 1_000_000, Key: "k",
		ChunkTimeout: 150 * time.Millisecond,
		Progress: func(sent, total int64) {
			if sent == 2_000_000 {
				cancel() // dies after two chunks
			}
		},
	})
	require.Error(t, err)

	next := newTestClient(t, srv.URL(), srv.Credential(), keyTimes(newDirStoreT(t, dir)))
	got, err := next.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
		Name: "big.bin", Content: bytes.NewReader(content), Size: size, ChunkSize: 1_000_000, Key: "k",
		ChunkTimeout: 150 * time.Millisecond,
	})
	require.NoError(t, err)
	stored := srv.Attachments("me", "e1")
	require.Len(t, stored, 1)
	assert.Equal(t, stored[0].ID, got.ID)
	assert.Equal(t, content, stored[0].Content)
	sessions := 0
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "/createUploadSession") {
			sessions++
		}
	}
	assert.Equal(t, 1, sessions, "the second process resumed the first one's session")
	_, puts := uploadRequests(t, srv)
	assert.Len(t, puts, 4, "each of the 4 chunks once")
}

func TestResumeUploadRefusesAStateForAnotherEvent(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	srv.Me().AddEvent("e2")
	state := UploadState{UploadURL: srv.UploadURLBase() + "/s?authtoken=SECRET", Expires: time.Now().Add(time.Hour),
		EventID: "e1", Name: "big.bin", Size: 3_200_000, ChunkSize: 1_000_000}
	content := patternBytes(3_200_000)
	for name, call := range map[string]func() error{
		"another event": func() error {
			_, err := c.Me().Events("e2").Attachments().ResumeUpload(context.Background(), state, FileUpload{Name: "big.bin", Content: bytes.NewReader(content), Size: 3_200_000})
			return err
		},
		"another mailbox": func() error {
			_, err := c.Users("adele@contoso.com").Events("e1").Attachments().ResumeUpload(context.Background(), state, FileUpload{Name: "big.bin", Content: bytes.NewReader(content), Size: 3_200_000})
			return err
		},
		"another name": func() error {
			_, err := c.Me().Events("e1").Attachments().ResumeUpload(context.Background(), state, FileUpload{Name: "other.bin", Content: bytes.NewReader(content), Size: 3_200_000})
			return err
		},
		"another size": func() error {
			_, err := c.Me().Events("e1").Attachments().ResumeUpload(context.Background(), state, FileUpload{Name: "big.bin", Content: bytes.NewReader(content[:3_100_000]), Size: 3_100_000})
			return err
		},
	} {
		err := call()
		require.ErrorIs(t, err, ErrInvalidInput, name)
		assert.Contains(t, err.Error(), "the saved upload is not this one", name)
		assert.NotContains(t, err.Error(), "SECRET", name)
	}
	assert.Empty(t, srv.Requests(), "nothing was sent")
}

func TestKeyBusyWhenTheDeadlineComesFirst(t *testing.T) {
	t.Parallel()
	store := newDirStoreT(t, t.TempDir())
	srv, c := newUploadServer(t, nil, keyTimes(store))
	srv.Me().AddEvent("e1")
	lease, err := store.Acquire(context.Background(), "k", 10*time.Second)
	require.NoError(t, err)
	defer lease.Release(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.Me().Events("e1").Attachments().AddFile(ctx, &FileAttachment{Name: "a", ContentBytes: []byte("x")}, &AddOptions{Key: "k"})
	require.ErrorIs(t, err, ErrKeyBusy)
	assert.True(t, errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline"))
	assert.Empty(t, srv.Requests())
}
