package eventattach

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func addSmall(c *Client, ctx context.Context) (*FileAttachment, error) {
	return c.Me().Events("e1").Attachments().AddFile(ctx, &FileAttachment{Name: "menu.txt", ContentBytes: []byte("mac and cheese today")})
}

func TestRetry429ThenCreated(t *testing.T) {
	srv := newScripted(t,
		reply(429, graphErr("ApplicationThrottled", "slow down"), "Retry-After", "1"),
		reply(201, created201))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	start := time.Now()
	got, err := addSmall(c, context.Background())
	require.NoError(t, err)
	assert.Equal(t, "AAMkA1=", got.ID)
	assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "Retry-After honoured")
	reqs := srv.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, reqs[0].Body, reqs[1].Body, "identical body on retry")
	assert.Equal(t, reqs[0].Header.Get("client-request-id"), reqs[1].Header.Get("client-request-id"))
	assert.NotEmpty(t, reqs[0].Header.Get("client-request-id"))
}

func TestRetryAfterHTTPDate(t *testing.T) {
	d, ok := parseRetryAfter(time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat), time.Now())
	require.True(t, ok)
	assert.InDelta(t, 3*time.Second, d, float64(1500*time.Millisecond))
	_, ok = parseRetryAfter("soon", time.Now())
	assert.False(t, ok)
}

// Graph has sent Retry-After as a decimal (microsoft-graph-docs#3877): it is
// honoured, rounded up to the millisecond, never truncated to zero.
func TestRetryAfterDecimalSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0.249", 249 * time.Millisecond, true},
		{"0.2491", 250 * time.Millisecond, true},
		{"0.0001", time.Millisecond, true},
		{"2", 2 * time.Second, true},
		{" 1.5 ", 1500 * time.Millisecond, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"999999999", 24 * time.Hour, true},
	} {
		got, ok := parseRetryAfter(tc.in, time.Now())
		assert.Equal(t, tc.ok, ok, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

// A 429 with Retry-After: 0.249 is retried after about a quarter second.
func TestRetryAfterDecimalHonoured(t *testing.T) {
	srv := newScripted(t, reply(429, graphErr("ApplicationThrottled", "Application is over its MailboxConcurrency limit."), "Retry-After", "0.249"), reply(201, created201))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	start := time.Now()
	_, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("hi")})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 249*time.Millisecond)
	assert.Len(t, srv.requests(), 2)
}

func TestRetry503ThenCreated(t *testing.T) {
	srv := newScripted(t, reply(503, graphErr("serviceNotAvailable", "busy")), reply(201, created201))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	_, err := addSmall(c, context.Background())
	require.NoError(t, err)
	assert.Len(t, srv.requests(), 2)
}

func TestNotFoundNotRetried(t *testing.T) {
	srv := newScripted(t, reply(404, graphErr("ErrorItemNotFound", "not found")), reply(201, created201))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	_, err := addSmall(c, context.Background())
	require.ErrorIs(t, err, ErrNotFound)
	assert.Len(t, srv.requests(), 1)
}

func TestRetryAfterBeyondDeadlineReturnsPromptly(t *testing.T) {
	srv := newScripted(t, reply(429, graphErr("ApplicationThrottled", "wait"), "Retry-After", "30"), reply(201, created201))
	c := newTestClient(t, srv.URL+"/v1.0", nil, func(o *ClientOptions) { o.Retry.MaxDelay = time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := addSmall(c, ctx)
	require.NoError(t, ctx.Err(), "returned before the deadline, without waiting")
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.ErrorIs(t, err, ErrThrottled)
	assert.Equal(t, 30*time.Second, ge.RetryAfter)
	assert.Contains(t, err.Error(), "deadline")
	assert.Len(t, srv.requests(), 1)
}

func TestRetryAfterAboveMaxDelayReturnsPromptly(t *testing.T) {
	srv := newScripted(t, reply(429, graphErr("ApplicationThrottled", "wait"), "Retry-After", "3600"))
	c := newTestClient(t, srv.URL+"/v1.0", nil, func(o *ClientOptions) { o.Retry.MaxDelay = 10 * time.Second })
	_, err := addSmall(c, context.Background())
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.Contains(t, err.Error(), "not retried: Retry-After 1h0m0s is longer than RetryOptions.MaxDelay")
	assert.Equal(t, time.Hour, ge.RetryAfter)
	assert.Contains(t, err.Error(), "MaxDelay")
}

func TestGetRetried500(t *testing.T) {
	srv := newScripted(t, reply(500, ""), reply(502, ""), reply(200, `{"value":[]}`))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	got, err := c.Me().Events("e").Attachments().List(context.Background())
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Len(t, srv.requests(), 3)
}

func TestCanceledContextIsReported(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	// The caller gives up while the client waits out Retry-After.
	srv := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		cancel()
		reply(503, "", "Retry-After", "2")(w, r)
	}, reply(200, `{"value":[]}`)) // the check of what may have landed: nothing

	c := newTestClient(t, srv.URL+"/v1.0", nil)
	_, err := addSmall(c, ctx)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.False(t, errors.Is(err, ErrOutcomeUnknown), "the event was read: it is not there")
}

func TestTokenFetchedOnceFor100Calls(t *testing.T) {
	srv := newScripted(t, reply(201, created201))
	cred := &countingCred{}
	c := newTestClient(t, srv.URL+"/v1.0", cred)
	for range 100 {
		_, err := addSmall(c, context.Background())
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, cred.calls.Load(), int32(1))
	for _, r := range srv.requests() {
		assert.Equal(t, "Bearer tok-a", r.Header.Get("Authorization"))
	}
}

func TestTokenSingleFlightConcurrent(t *testing.T) {
	srv := newScripted(t, reply(201, created201))
	cred := &countingCred{}
	c := newTestClient(t, srv.URL+"/v1.0", cred, func(o *ClientOptions) { o.MailboxConcurrency = -1 })
	errs := make(chan error, 32)
	for range 32 {
		go func() { _, err := addSmall(c, context.Background()); errs <- err }()
	}
	for range 32 {
		require.NoError(t, <-errs)
	}
	assert.Equal(t, int32(1), cred.calls.Load())
}

func TestExpiredTokenRefreshedOnce(t *testing.T) {
	srv := newScripted(t,
		reply(401, graphErr("InvalidAuthenticationToken", "Access token has expired or is not yet valid."), "WWW-Authenticate", `Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ=="`),
		reply(201, created201))
	cred := &countingCred{}
	c := newTestClient(t, srv.URL+"/v1.0", cred)
	_, err := addSmall(c, context.Background())
	require.NoError(t, err)
	reqs := srv.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "Bearer tok-a", reqs[0].Header.Get("Authorization"))
	assert.Equal(t, "Bearer tok-b", reqs[1].Header.Get("Authorization"))
	assert.Equal(t, int32(2), cred.calls.Load())
	assert.Equal(t, []string{"", `{"access_token":{}}`}, cred.claims, "claims passed through")
}

func TestUnauthorizedTwiceFails(t *testing.T) {
	srv := newScripted(t, reply(401, graphErr("InvalidAuthenticationToken", "bad")))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	_, err := addSmall(c, context.Background())
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.Len(t, srv.requests(), 2)
}

func TestCredentialErrorSendsNothing(t *testing.T) {
	srv := newScripted(t, reply(201, created201))
	boom := errors.New("AADSTS7000215: Invalid client secret provided")
	c := newTestClient(t, srv.URL+"/v1.0", &countingCred{err: boom})
	_, err := addSmall(c, context.Background())
	require.ErrorIs(t, err, boom)
	assert.Empty(t, srv.requests())
}

func TestOtherUnauthorizedNotRetried(t *testing.T) {
	srv := newScripted(t, reply(401, graphErr("Unauthorized", "wrong audience")))
	cred := &countingCred{}
	c := newTestClient(t, srv.URL+"/v1.0", cred)
	_, err := addSmall(c, context.Background())
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.Len(t, srv.requests(), 1)
	assert.Equal(t, int32(1), cred.calls.Load())
}
