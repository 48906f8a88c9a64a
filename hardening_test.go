package eventattach

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatedCred hands out a token only once released, and honours its ctx the
// way azidentity's credentials do.
type gatedCred struct {
	entered  chan struct{} // one send per GetToken call
	release  chan struct{}
	calls    atomic.Int32
	mu       sync.Mutex
	deadline time.Time // the ctx deadline GetToken was given
}

func newGatedCred() *gatedCred {
	return &gatedCred{entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (c *gatedCred) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	c.mu.Lock()
	c.deadline, _ = ctx.Deadline()
	c.mu.Unlock()
	c.entered <- struct{}{}
	select {
	case <-c.release:
		return azcore.AccessToken{Token: "shared", ExpiresOn: time.Now().Add(time.Hour)}, nil
	case <-ctx.Done():
		return azcore.AccessToken{}, ctx.Err()
	}
}

// waitSpy is a never-ending ctx that reports when someone first selects on
// it: the caller has started waiting.
type waitSpy struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func newWaitSpy() *waitSpy {
	return &waitSpy{Context: context.Background(), waiting: make(chan struct{})}
}

func (s *waitSpy) Done() <-chan struct{} {
	s.once.Do(func() { close(s.waiting) })
	return s.Context.Done()
}

// One caller's cancel must not fail the others waiting on the same token
// fetch: each caller's ctx ends only its own wait.
func TestCancelledCallerDoesNotFailSharedTokenFetch(t *testing.T) {
	srv := newScripted(t, reply(200, `{"value":[]}`))
	cred := newGatedCred()
	atts := newTestClient(t, srv.URL+"/v1.0", cred).Users("u").Events("e").Attachments()

	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() { _, err := atts.List(ctxA); errA <- err }()
	<-cred.entered // A is fetching the token

	spy := newWaitSpy()
	errB := make(chan error, 1)
	go func() { _, err := atts.List(spy); errB <- err }()
	<-spy.waiting // B waits for A's fetch

	cancelA()
	err := <-errA // A's own wait ends with its ctx, before the credential answers
	require.ErrorIs(t, err, context.Canceled)

	close(cred.release)
	require.NoError(t, <-errB, "B still gets the token")
	assert.EqualValues(t, 1, cred.calls.Load(), "one fetch for both callers")
	require.Len(t, srv.requests(), 1)
	assert.Equal(t, "Bearer shared", srv.requests()[0].Header.Get("Authorization"))

	cred.mu.Lock()
	deadline := cred.deadline
	cred.mu.Unlock()
	require.False(t, deadline.IsZero(), "the shared fetch has a timeout of its own")
	assert.WithinDuration(t, time.Now().Add(tokenFetchTimeout), deadline, tokenFetchTimeout)
}

// streamed answers status with prefix, then fill repeated until the body is
// n bytes long, then suffix. It is generated as it is written, and stops when
// the client hangs up.
func streamed(status int, prefix, fill, suffix string, n int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, prefix)
		chunk := bytes.Repeat([]byte(fill), (32<<10)/len(fill))
		for sent := int64(len(prefix)); sent < n; sent += int64(len(chunk)) {
			if _, err := w.Write(chunk); err != nil {
				return // the client stopped reading
			}
		}
		io.WriteString(w, suffix)
	}
}

// hugeBody is far over maxAnswerSize: what a misbehaving proxy or server
// might send.
const hugeBody = 256 << 20

// allocatedBy returns the bytes f allocates (the whole process's, so the
// caller must not run in parallel with other tests).
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Success answers are bounded: a huge or endless one is an error, read no
// further than the cap, and memory stays small.
func TestHugeSuccessAnswersAreRefused(t *testing.T) {
	noRetry := func(o *ClientOptions) { o.Retry.MaxRetries = -1 }
	limit := "larger than 8388608 bytes"

	t.Run("list page", func(t *testing.T) {
		srv := newScripted(t, streamed(200, `{"value":[],"junk":"`, "a", `"}`, hugeBody))
		atts := newTestClient(t, srv.URL+"/v1.0", nil, noRetry).Users("u").Events("e").Attachments()
		var err error
		alloc := allocatedBy(func() { _, err = atts.List(context.Background()) })
		require.Error(t, err)
		t.Logf("%v (allocated %d bytes)", err, alloc)
		assert.Contains(t, err.Error(), "the answer to GET "+srv.URL+"/v1.0/users/u/events/e/attachments?")
		assert.Contains(t, err.Error(), limit)
		assert.Less(t, alloc, uint64(64<<20), "memory stays bounded")
	})

	// Both a huge field and an endless contentBytes echo: the echo is skipped
	// without being kept, but it must end too.
	for name, prefix := range map[string]string{
		"201 with a huge field": `{"id":"x","name":"`,
		"201 with a huge echo":  `{"id":"x","contentBytes":"`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					streamed(201, prefix, "A", `"}`, hugeBody)(w, r)
					return
				}
				reply(200, `{"value":[]}`)(w, r) // the check whether the POST landed
			})
			c := newTestClient(t, srv.URL+"/v1.0", nil, noRetry)
			var err error
			alloc := allocatedBy(func() { _, err = addSmall(c, context.Background()) })
			require.Error(t, err)
			t.Logf("%v (allocated %d bytes)", err, alloc)
			assert.Contains(t, err.Error(), "POST "+srv.URL+"/v1.0/me/events/e1/attachments")
			assert.Contains(t, err.Error(), limit)
			assert.Less(t, alloc, uint64(64<<20), "memory stays bounded")
		})
	}

	t.Run("the largest legitimate echo still fits", func(t *testing.T) {
		content := bytes.Repeat([]byte{0xfe}, MaxAddFileSize-1)
		echo, _ := json.Marshal(map[string]any{"id": "big", "name": "big.bin", "contentBytes": base64.StdEncoding.EncodeToString(content)})
		srv := newScripted(t, reply(201, string(echo)))
		c := newTestClient(t, srv.URL+"/v1.0", nil, noRetry)
		got, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "big.bin", ContentBytes: content})
		require.NoError(t, err)
		assert.Equal(t, "big", got.ID)
	})
}

// A nextLink seen before ends List at once.
func TestListNextLinkLoopEndsAtOnce(t *testing.T) {
	var srv *scripted
	page := func(id, next string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			reply(200, `{"value":[{"@odata.type":"#microsoft.graph.fileAttachment","id":"`+id+`","name":"`+id+`"}],"@odata.nextLink":"`+srv.URL+next+`"}`)(w, r)
		}
	}
	const link = "/v1.0/users/u/events/e/attachments?$skiptoken="
	srv = newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("$skiptoken") {
		case "":
			page("p0", link+"A")(w, r)
		case "A":
			page("pA", link+"B")(w, r)
		case "B":
			page("pB", link+"A")(w, r) // back to A
		}
	})
	atts := newTestClient(t, srv.URL+"/v1.0", nil).Users("u").Events("e").Attachments()
	_, err := atts.List(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "@odata.nextLink")
	assert.Contains(t, err.Error(), "earlier page")
	assert.Equal(t, 3, len(srv.requests()), "first page, A, B: A is not fetched again")

	// A page whose nextLink is itself.
	self := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		reply(200, `{"value":[],"@odata.nextLink":"http://`+r.Host+r.RequestURI+`"}`)(w, r)
	})
	_, err = newTestClient(t, self.URL+"/v1.0", nil).Me().Events("e").Attachments().List(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "earlier page")
	assert.Equal(t, 1, len(self.requests()))
}

// A nextLink to another host is refused before any request: no token leaves.
func TestListNextLinkToAnotherHostIsNeverRequested(t *testing.T) {
	other := newScripted(t, reply(200, `{"value":[]}`))
	graph := newScripted(t, reply(200, `{"value":[],"@odata.nextLink":"`+other.URL+`/v1.0/me/events/e/attachments?$skiptoken=1"}`))
	_, err := newTestClient(t, graph.URL+"/v1.0", nil).Me().Events("e").Attachments().List(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refusing @odata.nextLink outside "+graph.URL)
	assert.Empty(t, other.requests(), "the other host got no request, so no token")
	assert.Len(t, graph.requests(), 1)
}

// contentServer answers every $value with a few raw bytes.
func contentServer(t *testing.T) *scripted {
	return newScripted(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		io.WriteString(w, "hello")
	})
}

// openContents opens n Content readers without reading or closing them.
func openContents(t *testing.T, atts Attachments, ctx context.Context, n int) []io.ReadCloser {
	t.Helper()
	var rs []io.ReadCloser
	for range n {
		r, err := atts.Content(ctx, "a1")
		require.NoError(t, err)
		rs = append(rs, r)
	}
	return rs
}

// fifthWaits reports the error of one more Content call that may wait for
// a slot only briefly.
func fifthWaits(atts Attachments) error {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r, err := atts.Content(ctx, "a1")
	if err == nil {
		r.Close()
	}
	return err
}

// A Content reader gives its mailbox slot back on Close, at EOF or when its
// ctx ends, exactly once.
func TestContentReleasesItsSlot(t *testing.T) {
	srv := contentServer(t)
	atts := newTestClient(t, srv.URL+"/v1.0", nil).Users("u").Events("e").Attachments()

	// Four readers nobody closes, whose ctx ends.
	ctx, cancel := context.WithCancel(context.Background())
	abandoned := openContents(t, atts, ctx, 4)
	cancel()
	// Their slots come back: four more readers open. (A generous deadline
	// only bounds the failure on a regression.)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	held := openContents(t, atts, ctx2, 4)

	// Closing the abandoned readers now releases nothing twice: the cap
	// still holds for the four open ones.
	for _, r := range abandoned {
		require.NoError(t, r.Close())
	}
	require.ErrorIs(t, fifthWaits(atts), context.DeadlineExceeded)

	// Close gives slots back.
	for _, r := range held {
		require.NoError(t, r.Close())
	}
	require.NoError(t, fifthWaits(atts))

	// So does reading to the end, without Close; Close afterwards is a no-op.
	readers := openContents(t, atts, context.Background(), 4)
	for _, r := range readers {
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(b))
	}
	require.NoError(t, fifthWaits(atts))
	for _, r := range readers {
		require.NoError(t, r.Close())
	}
	require.NoError(t, fifthWaits(atts))
}

func TestSlotWaitSaysWhatIsInFlight(t *testing.T) {
	srv := contentServer(t)
	atts := newTestClient(t, srv.URL+"/v1.0", nil).Users("u").Events("e").Attachments()
	open := openContents(t, atts, context.Background(), 4)
	defer func() {
		for _, r := range open {
			r.Close()
		}
	}()
	err := fifthWaits(atts)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "waiting for a free request slot for mailbox users/u (4 of 4 in flight)")

	// Another mailbox is not held up.
	require.NoError(t, fifthWaits(newTestClient(t, srv.URL+"/v1.0", nil).Users("v").Events("e").Attachments()))
}

// Every cloud, by name only or as the full value, gives the right authority
// and Graph scope.
func TestCloudsByNameAndValue(t *testing.T) {
	for _, tc := range []struct {
		cloud            Cloud
		authority, scope string
	}{
		{CloudGlobal, "https://login.microsoftonline.com/", "https://graph.microsoft.com/.default"},
		{CloudUSGovL4, "https://login.microsoftonline.us/", "https://graph.microsoft.us/.default"},
		{CloudUSGovL5, "https://login.microsoftonline.us/", "https://dod-graph.microsoft.us/.default"},
		{CloudChina, "https://login.chinacloudapi.cn/", "https://microsoftgraph.chinacloudapi.cn/.default"},
	} {
		for _, c := range []Cloud{tc.cloud, {Name: tc.cloud.Name}, {Name: strings.ToUpper(tc.cloud.Name)}} {
			assert.Equal(t, tc.authority, c.AzureCloud().ActiveDirectoryAuthorityHost, "%+v", c)
			assert.Equal(t, tc.scope, c.Scope(), "%+v", c)
			client, err := NewClient(&countingCred{}, &ClientOptions{Cloud: c})
			require.NoError(t, err)
			assert.Equal(t, tc.scope, client.Cloud().Scope())
			assert.Equal(t, tc.authority, client.Cloud().AzureCloud().ActiveDirectoryAuthorityHost)
		}
	}
	// The zero value is the global cloud.
	assert.Equal(t, "https://login.microsoftonline.com/", Cloud{}.AzureCloud().ActiveDirectoryAuthorityHost)
	assert.Equal(t, "https://graph.microsoft.com/.default", Cloud{}.Scope())
}
