package graphtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawPost posts fileBody to /me/events/e/attachments and returns what the
// client saw, including transport errors.
func rawPost(t *testing.T, s *Server, client *http.Client) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest("POST", s.URL()+"/me/events/e/attachments", bytes.NewReader([]byte(fileBody)))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token(t, s))
	req.Header.Set("Content-Type", "application/json")
	if client == nil {
		// A fresh transport per request so a closed connection is never
		// retried transparently.
		client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

func faultServer(t *testing.T, f ...Fault) *Server {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	s.Inject(f...)
	return s
}

func TestFaultStatus(t *testing.T) {
	s := faultServer(t, Fault{Method: "POST", Path: "/attachments", Kind: FaultStatus, Status: 503, RetryAfter: "2"})
	res, b, err := rawPost(t, s, nil)
	require.NoError(t, err)
	assert.Equal(t, 503, res.StatusCode)
	assert.Equal(t, "2", res.Header.Get("Retry-After"))
	assert.Contains(t, string(b), `"code":"serviceNotAvailable"`)
	assert.Empty(t, s.Attachments("me", "e"))
	// Used up: the next request is served.
	res, _, err = rawPost(t, s, nil)
	require.NoError(t, err)
	assert.Equal(t, 201, res.StatusCode)
	assert.Equal(t, map[FaultKind]int{FaultStatus: 1}, s.FaultsInjected())
}

func TestFaultStatusAfterStore(t *testing.T) {
	s := faultServer(t, Fault{Kind: FaultStatusAfterStore, Status: 504, Code: "GatewayTimeout"})
	res, b, err := rawPost(t, s, nil)
	require.NoError(t, err)
	assert.Equal(t, 504, res.StatusCode)
	assert.Contains(t, string(b), `"code":"GatewayTimeout"`)
	assert.Len(t, s.Attachments("me", "e"), 1)
}

func TestFaultResets(t *testing.T) {
	for kind, stored := range map[FaultKind]int{FaultResetBeforeStore: 0, FaultResetAfterStore: 1} {
		t.Run(kind.String(), func(t *testing.T) {
			s := faultServer(t, Fault{Kind: kind})
			_, _, err := rawPost(t, s, nil)
			require.Error(t, err)
			assert.Len(t, s.Attachments("me", "e"), stored)
			reqs := s.Requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, 0, reqs[0].Status)
			assert.Eventually(t, func() bool { return s.Requests()[0].BodySize == int64(len(fileBody)) }, time.Second, 5*time.Millisecond)
			assert.Equal(t, 1, s.FaultsInjected()[kind])
		})
	}
}

func TestFaultTruncate(t *testing.T) {
	s := faultServer(t, Fault{Kind: FaultTruncateAfterStore})
	res, b, err := rawPost(t, s, nil)
	require.NotNil(t, res, "the status and headers arrive")
	assert.Equal(t, 201, res.StatusCode)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.NotEmpty(t, b)
	assert.Len(t, s.Attachments("me", "e"), 1)
	// The client may see the cut before the server records it.
	assert.Eventually(t, func() bool { return s.Requests()[0].Status == 201 }, time.Second, 5*time.Millisecond)
}

func TestFaultSlowBody(t *testing.T) {
	t.Parallel()
	s := faultServer(t, Fault{Kind: FaultSlowBody, Latency: 150 * time.Millisecond})
	start := time.Now()
	res, b, err := rawPost(t, s, nil)
	require.NoError(t, err)
	assert.Equal(t, 201, res.StatusCode)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	assert.Contains(t, string(b), `"contentBytes":"aGk="}`)
}

func TestFaultRedirect(t *testing.T) {
	other := newTestServer(t, nil)
	s := faultServer(t, Fault{Kind: FaultRedirect, RedirectTo: other.UploadURLBase()})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, _, err := rawPost(t, s, noFollow)
	require.NoError(t, err)
	assert.Equal(t, http.StatusTemporaryRedirect, res.StatusCode)
	assert.Equal(t, other.UploadURLBase()+"/v1.0/me/events/e/attachments", res.Header.Get("Location"))
	assert.Empty(t, s.Attachments("me", "e"))

	// With no target it redirects to itself; a client that follows lands.
	s.Inject(Fault{Kind: FaultRedirect})
	res, _, err = rawPost(t, s, nil)
	require.NoError(t, err)
	assert.Equal(t, 201, res.StatusCode)
	assert.Len(t, s.Attachments("me", "e"), 1)
	assert.Equal(t, 2, s.FaultsInjected()[FaultRedirect])
}

func TestFaultLatencyAndFilters(t *testing.T) {
	t.Parallel()
	s := faultServer(t,
		Fault{Method: "GET", Kind: FaultStatus, Status: 500, Times: -1},
		Fault{Path: "/events/e/", Kind: FaultLatency, Latency: 100 * time.Millisecond, Times: 2},
	)
	for range 3 {
		assert.Equal(t, 500, graph(t, s, "GET", "/me/events/e/attachments", nil).StatusCode)
	}
	for i := range 3 {
		start := time.Now()
		res, _, err := rawPost(t, s, nil)
		require.NoError(t, err)
		assert.Equal(t, 201, res.StatusCode)
		if i < 2 {
			assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
		}
	}
	assert.Equal(t, map[FaultKind]int{FaultStatus: 3, FaultLatency: 2}, s.FaultsInjected())
}

func TestFaultLatencyHonoursContext(t *testing.T) {
	s := faultServer(t, Fault{Kind: FaultLatency, Latency: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL()+"/me/events/e/attachments", strings.NewReader(fileBody))
	req.Header.Set("Authorization", "Bearer "+token(t, s))
	req.Header.Set("Content-Type", "application/json")
	_, err := http.DefaultClient.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Eventually(t, func() bool { return len(s.Requests()) == 1 && s.Requests()[0].Status == 0 }, time.Second, 10*time.Millisecond)
	assert.Empty(t, s.Attachments("me", "e"))
}

func TestFaultsOnUploadListener(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	u := openSession(t, s, 3<<20)
	s.Inject(Fault{Method: "PUT", Kind: FaultStatus, Status: 503})
	r := put(t, u, make([]byte, 10), 0, 3<<20)
	assert.Equal(t, 503, r.StatusCode)
	assert.Equal(t, http.StatusOK, put(t, u, make([]byte, 10), 0, 3<<20).StatusCode)
}

func TestRandomFaultsRepeat(t *testing.T) {
	run := func() ([]int, map[FaultKind]int) {
		s := newTestServer(t, nil)
		s.Me().AddEvent("e")
		s.RandomFaults(42,
			FaultChance{Fault: Fault{Kind: FaultStatus, Status: 503}, P: 0.3},
			FaultChance{Fault: Fault{Kind: FaultStatusAfterStore, Status: 500}, P: 0.2},
		)
		var codes []int
		for range 30 {
			codes = append(codes, graph(t, s, "GET", "/me/events/e/attachments", nil).StatusCode)
		}
		s.RandomFaults(0) // off
		for range 5 {
			assert.Equal(t, 200, graph(t, s, "GET", "/me/events/e/attachments", nil).StatusCode)
		}
		return codes, s.FaultsInjected()
	}
	a, ca := run()
	b, cb := run()
	assert.Equal(t, a, b)
	assert.Equal(t, ca, cb)
	assert.Positive(t, ca[FaultStatus])
	assert.Positive(t, ca[FaultStatusAfterStore])
	assert.Less(t, ca[FaultStatus]+ca[FaultStatusAfterStore], 30)
}

func TestMailboxConcurrencyThrottles(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	s.User("alice").AddEvent("e")
	s.Inject(Fault{Kind: FaultLatency, Latency: 400 * time.Millisecond, Times: -1})

	statuses := func(paths ...string) map[int]int {
		var mu sync.Mutex
		out := map[int]int{}
		var wg sync.WaitGroup
		for _, p := range paths {
			wg.Go(func() {
				r := graph(t, s, "GET", p, nil)
				mu.Lock()
				defer mu.Unlock()
				out[r.StatusCode]++
				if r.StatusCode == 429 {
					assert.Equal(t, "ApplicationThrottled", r.errorCode(t))
					assert.Equal(t, "1", r.Header.Get("Retry-After"))
					assert.Contains(t, string(r.body), "MailboxConcurrency")
				}
			})
		}
		wg.Wait()
		return out
	}
	// Five to one mailbox, by three names: one is throttled.
	got := statuses("/me/events/e/attachments", "/me/events/e/attachments", "/users/me-0000/events/e/attachments",
		"/users/ME@contoso.com/events/e/attachments", "/me/calendar/events/e/attachments")
	assert.Positive(t, got[429], got)
	assert.GreaterOrEqual(t, got[200], 3, got)
	// Four each to two mailboxes: none is.
	got = statuses("/me/events/e/attachments", "/me/events/e/attachments", "/me/events/e/attachments", "/me/events/e/attachments",
		"/users/alice/events/e/attachments", "/users/alice/events/e/attachments", "/users/alice/events/e/attachments", "/users/alice/events/e/attachments")
	assert.Equal(t, map[int]int{200: 8}, got)
}

func TestMailboxConcurrencyOptions(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, &Options{MailboxConcurrency: -1})
	s.Me().AddEvent("e")
	s.Inject(Fault{Kind: FaultLatency, Latency: 200 * time.Millisecond, Times: -1})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { assert.Equal(t, 200, graph(t, s, "GET", "/me/events/e/attachments", nil).StatusCode) })
	}
	wg.Wait()

	// Retry-After goes out verbatim, decimals included (microsoft-graph-docs#3877).
	s2 := newTestServer(t, &Options{MailboxConcurrency: 1, ThrottleRetryAfter: "0.249"})
	s2.Me().AddEvent("e")
	s2.Inject(Fault{Kind: FaultLatency, Latency: 300 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); graph(t, s2, "GET", "/me/events/e/attachments", nil) }()
	require.Eventually(t, func() bool {
		s2.mu.Lock()
		defer s2.mu.Unlock()
		return s2.inflight[s2.Me()] == 1
	}, time.Second, time.Millisecond)
	r := graph(t, s2, "GET", "/me/events/e/attachments", nil)
	assert.Equal(t, 429, r.StatusCode)
	assert.Equal(t, "0.249", r.Header.Get("Retry-After"))
	<-done
}

func TestManyConcurrentCreates(t *testing.T) {
	s := newTestServer(t, &Options{MailboxConcurrency: -1})
	s.Me().AddEvent("e")
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			r := graph(t, s, "POST", "/me/events/e/attachments", []byte(fileBody))
			assert.Equal(t, 201, r.StatusCode)
			s.Requests()
			s.Attachments("me", "e")
		})
	}
	wg.Wait()
	assert.Len(t, s.Attachments("me", "e"), 40)
}

func TestRequestsRecording(t *testing.T) {
	s := newTestServer(t, &Options{MaxBodyRecorded: 10})
	s.Me().AddEvent("a/b")
	p := "/me/events/" + url.PathEscape("a/b") + "/attachments"
	graph(t, s, "POST", p, []byte(fileBody), "client-request-id", "crid")
	graph(t, s, "GET", p+"?$top=1", nil)
	s.Me().AddEvent("e")
	u := openSession(t, s, 3<<20)
	put(t, u, make([]byte, 100), 0, 3<<20)

	reqs := s.Requests()
	require.Len(t, reqs, 4)
	graphHost := strings.TrimPrefix(strings.TrimSuffix(s.URL(), "/v1.0"), "http://")
	uploadHost := strings.TrimPrefix(s.UploadURLBase(), "http://")

	assert.Equal(t, "POST", reqs[0].Method)
	assert.Equal(t, "/v1.0/me/events/a%2Fb/attachments", reqs[0].Path)
	assert.Equal(t, "crid", reqs[0].Header.Get("client-request-id"))
	assert.Equal(t, fileBody[:10], string(reqs[0].Body))
	assert.EqualValues(t, len(fileBody), reqs[0].BodySize)
	assert.Equal(t, 201, reqs[0].Status)
	assert.Equal(t, graphHost, reqs[0].Host)

	assert.Equal(t, "$top=1", reqs[1].RawQuery)
	assert.Equal(t, 200, reqs[1].Status)
	assert.Empty(t, reqs[1].Body)

	assert.Equal(t, "PUT", reqs[3].Method)
	assert.Equal(t, uploadHost, reqs[3].Host)
	assert.EqualValues(t, 100, reqs[3].BodySize)
	assert.Len(t, reqs[3].Body, 10)
	assert.Equal(t, 200, reqs[3].Status)
	assert.Empty(t, reqs[3].Header.Get("Authorization"))

	// Copies: changing them changes nothing.
	reqs[0].Body[0] = 'X'
	assert.Equal(t, byte('{'), s.Requests()[0].Body[0])

	s.ResetRequests()
	assert.Empty(t, s.Requests())
}

func TestRequestsRecordUnreadBodies(t *testing.T) {
	s := newTestServer(t, nil)
	// Rejected before the body is read (no token); still recorded whole.
	do(t, "POST", s.URL()+"/me/events/e/attachments", []byte(fileBody), "Content-Type", "application/json")
	r := s.Requests()[0]
	assert.Equal(t, 401, r.Status)
	assert.Equal(t, fileBody, string(r.Body))
}

func TestCredential(t *testing.T) {
	s := newTestServer(t, nil)
	c := s.Credential()
	ctx := context.Background()
	tok, err := c.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}, Claims: `{"x":1}`})
	require.NoError(t, err)
	assert.NotEmpty(t, tok.Token)
	assert.WithinDuration(t, time.Now().Add(time.Hour), tok.ExpiresOn, time.Minute)
	assert.Equal(t, 1, c.Calls())
	assert.Equal(t, []string{"https://graph.microsoft.com/.default"}, c.LastOptions().Scopes)
	assert.Equal(t, `{"x":1}`, c.LastOptions().Claims)

	tok2, err := c.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"s"}})
	require.NoError(t, err)
	assert.NotEqual(t, tok.Token, tok2.Token)

	_, err = c.GetToken(ctx, policy.TokenRequestOptions{})
	assert.Error(t, err)

	down := errors.New("credential down")
	c.SetError(down)
	_, err = c.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"s"}})
	assert.ErrorIs(t, err, down)
	c.SetError(nil)
	assert.Equal(t, 4, c.Calls())

	// Issued tokens work on the Graph listener until expired.
	s.Me().AddEvent("e")
	r := do(t, "GET", s.URL()+"/me/events/e/attachments", nil, "Authorization", "Bearer "+tok.Token)
	assert.Equal(t, 200, r.StatusCode)
}
