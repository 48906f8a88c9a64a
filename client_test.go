package eventattach

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewClientOptions(t *testing.T) {
	cred := &countingCred{}
	cases := []struct {
		base string
		ok   bool
	}{
		{"", true},
		{"https://graph.microsoft.com/v1.0", true},
		{"https://graph.microsoft.com/beta/", true},
		{"http://127.0.0.1:8080/v1.0", true},
		{"http://[::1]:8080/v1.0", true},
		{"http://localhost:1/v1.0", true},
		{"http://graph.microsoft.com/v1.0", false},
		{"http://10.0.0.1/v1.0", false},
		{"ftp://graph.microsoft.com", false},
		{"graph.microsoft.com/v1.0", false},
		{"https://user:pw@graph.microsoft.com/v1.0", false},
		{"https://graph.microsoft.com/v1.0?x=1", false},
	}
	for _, tc := range cases {
		c, err := NewClient(cred, &ClientOptions{BaseURL: tc.base})
		if tc.ok {
			require.NoError(t, err, tc.base)
			assert.NotContains(t, c.BaseURL(), "//v1.0")
			assert.False(t, strings.HasSuffix(c.BaseURL(), "/"))
		} else {
			require.ErrorIs(t, err, ErrInvalidInput, tc.base)
		}
	}
	_, err := NewClient(nil, nil)
	assert.ErrorIs(t, err, ErrInvalidInput)

	c, err := NewClient(cred, nil)
	require.NoError(t, err)
	assert.Equal(t, "https://graph.microsoft.com/v1.0", c.BaseURL())
	assert.Equal(t, CloudGlobal, c.Cloud())
	assert.Equal(t, []string{"https://graph.microsoft.com/.default"}, c.tokens.scope)
	assert.Equal(t, RetryOptions{MaxRetries: 4, MaxDelay: 60 * time.Second, BaseDelay: 500 * time.Millisecond}, c.retry)
}

func TestClouds(t *testing.T) {
	for _, tc := range []struct {
		cloud       Cloud
		base, scope string
	}{
		{CloudGlobal, "https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/.default"},
		{CloudUSGovL4, "https://graph.microsoft.us/v1.0", "https://graph.microsoft.us/.default"},
		{CloudUSGovL5, "https://dod-graph.microsoft.us/v1.0", "https://dod-graph.microsoft.us/.default"},
		{CloudChina, "https://microsoftgraph.chinacloudapi.cn/v1.0", "https://microsoftgraph.chinacloudapi.cn/.default"},
		{Cloud{Name: "usgovl5"}, "https://dod-graph.microsoft.us/v1.0", "https://dod-graph.microsoft.us/.default"},
	} {
		c, err := NewClient(&countingCred{}, &ClientOptions{Cloud: tc.cloud})
		require.NoError(t, err)
		assert.Equal(t, tc.base, c.BaseURL())
		assert.Equal(t, tc.scope, c.Cloud().Scope())
		assert.Equal(t, []string{tc.scope}, c.tokens.scope)
		assert.NotEmpty(t, c.Cloud().AzureCloud().ActiveDirectoryAuthorityHost)
	}
	assert.Equal(t, "https://login.microsoftonline.us/", CloudUSGovL4.AzureCloud().ActiveDirectoryAuthorityHost)
	assert.Equal(t, "https://login.chinacloudapi.cn/", CloudChina.AzureCloud().ActiveDirectoryAuthorityHost)
	_, err := NewClient(&countingCred{}, &ClientOptions{Cloud: Cloud{Name: "mars"}})
	assert.ErrorIs(t, err, ErrInvalidInput)
}

func TestRequestHeaders(t *testing.T) {
	srv := newScripted(t, reply(201, created201))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	_, err := addSmall(c, context.Background())
	require.NoError(t, err)
	h := srv.requests()[0].Header
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	assert.Equal(t, "eventattach-go/"+Version, h.Get("User-Agent"))
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, h.Get("client-request-id"))
	assert.Equal(t, "Bearer tok-a", h.Get("Authorization"))
	assert.Equal(t, fmt.Sprint(len(srv.requests()[0].Body)), h.Get("Content-Length"))

	_, err = c.Me().Events("e1").Attachments().List(context.Background())
	require.Error(t, err) // the script answers 201 to everything
	assert.Empty(t, srv.requests()[1].Header.Get("Content-Type"), "no body, no Content-Type")
}

func TestRedirectNeverCarriesToken(t *testing.T) {
	other := newScripted(t, reply(200, `{"value":[]}`))
	graph := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	c := newTestClient(t, graph.URL+"/v1.0", nil)
	// A read follows the redirect, without the token.
	_, err := c.Me().Events("e").Attachments().List(context.Background())
	require.NoError(t, err)
	require.Len(t, other.requests(), 1)
	assert.Empty(t, other.requests()[0].Header.Get("Authorization"))
	assert.NotEmpty(t, graph.requests()[0].Header.Get("Authorization"))

	// A write does not follow it at all.
	_, err = addSmall(c, context.Background())
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, http.StatusTemporaryRedirect, ge.StatusCode)
	assert.Len(t, other.requests(), 1, "the POST was not re-sent elsewhere")
}

func TestNextLinkMustStayOnGraph(t *testing.T) {
	srv := newScripted(t, reply(200, `{"value":[],"@odata.nextLink":"https://evil.example.com/v1.0/me/events/e/attachments?$skiptoken=1"}`))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	_, err := c.Me().Events("e").Attachments().List(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nextLink")
	assert.Len(t, srv.requests(), 1)
}

func TestLoggerOneRecordPerAttemptNoSecrets(t *testing.T) {
	srv := newScripted(t, reply(503, graphErr("serviceNotAvailable", "x"), "request-id", "rid-1"), reply(201, created201, "request-id", "rid-2"))
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newTestClient(t, srv.URL+"/v1.0", &countingCred{token: "SECRET-TOKEN"}, func(o *ClientOptions) { o.Logger = logger })
	_, err := addSmall(c, context.Background())
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0], `"status":503`)
	assert.Contains(t, lines[0], `"attempt":1`)
	assert.Contains(t, lines[0], `"request-id":"rid-1"`)
	assert.Contains(t, lines[1], `"status":201`)
	assert.Contains(t, lines[1], `"attempt":2`)
	assert.Contains(t, lines[1], `"route":"/v1.0/me/events/e1/attachments"`)
	for _, secret := range []string{"SECRET-TOKEN", "bWFjIGFuZCBjaGVlc2UgdG9kYXk", "mac and cheese"} {
		assert.NotContains(t, buf.String(), secret)
	}
	assert.NotContains(t, c.String(), "SECRET")
	assert.NotContains(t, fmt.Sprintf("%+v", c), "SECRET")
}

func TestMailboxConcurrencyCap(t *testing.T) {
	// The server holds every request until the test lets it go.
	arrived, release := make(chan struct{}, 10), make(chan struct{})
	var inFlight, peak atomic.Int64
	srv := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		arrived <- struct{}{}
		<-release
		inFlight.Add(-1)
		reply(201, created201)(w, r)
	})
	c := newTestClient(t, srv.URL+"/v1.0", nil, func(o *ClientOptions) { o.MailboxConcurrency = 2 })
	errs := make(chan error, 10)
	for range 10 {
		go func() { _, err := addSmall(c, context.Background()); errs <- err }()
	}
	// Two reach the server; the other eight wait for a slot in the client.
	<-arrived
	<-arrived
	for c.limiter.Stats("me").Waiting < 8 {
		runtime.Gosched()
	}
	select {
	case <-arrived:
		t.Fatal("a third request reached the server")
	default:
	}
	close(release)
	for range 10 {
		require.NoError(t, <-errs)
	}
	assert.Equal(t, int64(2), peak.Load())

	// Waiting for a slot honours ctx.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := addSmall(c, ctx)
	assert.True(t, errors.Is(err, context.Canceled))
}

func TestCustomCloudKeepsItsAuthority(t *testing.T) {
	custom := Cloud{Name: "global", GraphEndpoint: "https://graph.contoso.example", AuthorityHost: "https://login.contoso.example/"}
	assert.Equal(t, "https://login.contoso.example/", custom.AzureCloud().ActiveDirectoryAuthorityHost)
}

// A BaseURL without the API version would make every call fail: NewClient
// refuses it and shows the right form.
func TestBaseURLNeedsAVersion(t *testing.T) {
	cred := &countingCred{}
	for _, bad := range []string{"https://graph.microsoft.com", "https://graph.microsoft.com/", "https://proxy.example/graph", "http://127.0.0.1:8080"} {
		_, err := NewClient(cred, &ClientOptions{BaseURL: bad})
		require.ErrorIs(t, err, ErrInvalidInput, bad)
		assert.Contains(t, err.Error(), strings.TrimRight(bad, "/")+"/v1.0", bad)
	}
	for _, good := range []string{"https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/beta", "https://proxy.example/graph/v1.0/", "http://127.0.0.1:8080/v1.0"} {
		_, err := NewClient(cred, &ClientOptions{BaseURL: good})
		require.NoError(t, err, good)
	}
}
