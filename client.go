package eventattach

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"

	"github.com/eventattach/eventattach/internal/pace"
)

// Version is this SDK's version, sent in the User-Agent.
const Version = "0.1.0"

const userAgent = "eventattach-go/" + Version

// Cloud is a Microsoft Graph deployment: its Graph root and its Entra ID
// authority. The zero value means CloudGlobal.
type Cloud struct {
	Name          string // "global", "usgovl4", "usgovl5", "china"
	GraphEndpoint string // e.g. "https://graph.microsoft.com"
	AuthorityHost string // e.g. "https://login.microsoftonline.com/"
}

// Scope is the token scope for the cloud's Graph: GraphEndpoint + "/.default"
// (a cloud given by Name only uses that national cloud's GraphEndpoint).
func (c Cloud) Scope() string { return strings.TrimRight(c.known().GraphEndpoint, "/") + "/.default" }

// The national clouds in which Graph offers event attachments. Upload
// sessions are not available in every national cloud.
var (
	CloudGlobal  = Cloud{Name: "global", GraphEndpoint: "https://graph.microsoft.com", AuthorityHost: "https://login.microsoftonline.com/"}
	CloudUSGovL4 = Cloud{Name: "usgovl4", GraphEndpoint: "https://graph.microsoft.us", AuthorityHost: "https://login.microsoftonline.us/"}
	CloudUSGovL5 = Cloud{Name: "usgovl5", GraphEndpoint: "https://dod-graph.microsoft.us", AuthorityHost: "https://login.microsoftonline.us/"}
	CloudChina   = Cloud{Name: "china", GraphEndpoint: "https://microsoftgraph.chinacloudapi.cn", AuthorityHost: "https://login.chinacloudapi.cn/"}
)

// ClientOptions configures a Client. A nil *ClientOptions means defaults.
type ClientOptions struct {
	// Cloud picks the national cloud; the zero value means CloudGlobal.
	Cloud Cloud
	// BaseURL replaces the cloud's root + "/v1.0", e.g. a graphtest server's
	// URL. http:// is accepted only for loopback hosts.
	BaseURL string
	// HTTPClient's Transport (and Timeout) are used for every request; nil
	// means a pooled default transport.
	HTTPClient *http.Client
	// Retry tunes retries of throttled and failed requests.
	Retry RetryOptions
	// MailboxConcurrency caps requests in flight per mailbox; 0 means 4
	// (Outlook's limit), negative means no cap. A request holds its slot
	// until its answer is read; a Content reader, until it is closed, read
	// to the end, or its ctx ends. A call whose ctx ends while it waits for
	// a slot fails with the ctx's error, saying how many requests are in
	// flight to that mailbox.
	//
	// The cap is kept per spelling of the mailbox: Users(id) and Users(upn)
	// of one mailbox each get their own, so together they may exceed
	// Outlook's limit and be throttled (429). Address each mailbox one way,
	// by id or by userPrincipalName, throughout.
	MailboxConcurrency int
	// MailboxRequestBudget is how many requests the client sends to one
	// mailbox in any MailboxRequestWindow; 0 means 10,000 (Outlook's limit
	// per app and mailbox), negative means no budget. MailboxRequestWindow
	// 0 means 10 minutes. A request counts until a window after its answer
	// was read.
	MailboxRequestBudget int
	MailboxRequestWindow time.Duration
	// MailboxByteBudget is how many request body bytes (POST, PUT, PATCH:
	// attachments, upload chunks, session requests) the client sends to one
	// mailbox in any MailboxByteWindow; 0 means 150 MiB (Outlook's "150 MB
	// of upload per 5 minutes"), negative means no budget. MailboxByteWindow
	// 0 means 5 minutes. A request bigger than the budget goes alone.
	//
	// When a request would go over a budget it waits (honouring ctx) until
	// enough of the window has passed: a pacing wait, not a retry, and not
	// an error. An upload chunk waits before its ChunkTimeout starts; other
	// requests wait inside the HTTP round trip, so an HTTPClient.Timeout
	// counts the wait. If Graph answers 429 anyway, the mailbox is held
	// until its Retry-After and the limit the 429 names is halved for this
	// Client (MailboxConcurrency down to 1, the byte budget down to an
	// eighth), growing back after answers without a 429.
	//
	// Budgets are kept per Client (and per spelling of the mailbox, as for
	// MailboxConcurrency): Graph counts per app and mailbox across every
	// process, which a client cannot see but for its 429s. Share one Client
	// per process; when several processes (or apps, for the byte budget)
	// work on one mailbox, they back off on those 429s, and giving each a
	// share of the budgets and of MailboxConcurrency saves them the time.
	MailboxByteBudget int64
	MailboxByteWindow time.Duration
	// AttemptTimeout bounds each attempt of a request, from sending it to
	// the end of reading its answer (an upload chunk's bound is
	// FileUpload.ChunkTimeout; a Content body, once its headers are in, is
	// read at the caller's pace); 0 means 2 minutes, negative means none.
	// StallTimeout ends an attempt that sends or receives no byte for that
	// long; 0 means 60 seconds, negative means none. Either ends the attempt
	// with a *BoundError (never the ctx's error), and the request is sent
	// again or reconciled as after a lost answer. Graph's gateway answers a
	// request it is still working on with 504 after about 30 seconds, well
	// inside both (GRAPH-FACTS.md, Errors and throttling).
	AttemptTimeout time.Duration
	StallTimeout   time.Duration
	// Store keeps idempotency keys (AddOptions.Key, FileUpload.Key) for
	// every process that shares it: NewDirStore for processes on one host,
	// the azblobstore module for replicas. nil: keyed calls are
	// ErrInvalidInput. It needs bounded attempts (AttemptTimeout >= 0).
	Store Store
	// LeaseTTL is how long a keyed call's lease on its key lasts without
	// renewal; the call renews it every third of that (and at least every
	// 20 s, for stores that cap leases). 0 means 30 seconds.
	// A key whose holder died is free again after it.
	LeaseTTL time.Duration
	// CommitLag is how long after a request's attempt ended on this side
	// (AttemptTimeout, or an upload's ChunkTimeout) Graph may still commit
	// it; 0 means 3 minutes. Graph's gateway gives up on a request after
	// about 30 seconds, and the work behind it has been seen to land later;
	// no page says how much later. A keyed call whose key's earlier holder died waits until that
	// holder's last request is past this horizon before it reads the event
	// (the README's Running on many workers).
	CommitLag time.Duration
	// Logger gets one record per attempt; nil is silent. It never receives
	// tokens, content or query strings (so no ?authtoken= values).
	Logger *slog.Logger
	// TracingProvider gets a span per operation (AddFile, AddItem, Upload,
	// List, Get, Delete, Content) named with its route template, a child
	// span per attempt and per upload chunk, and events for waits and
	// duplicate checks (see the README's Tracing). azotel's provider plugs
	// in OpenTelemetry. The zero value traces nothing, at no cost. Spans
	// carry no tokens, content, ids in their names, or query strings.
	TracingProvider tracing.Provider
}

// RetryOptions tunes how often and how long the client waits before sending
// a request again (the package doc's Retries and throttling).
type RetryOptions struct {
	// MaxRetries is the retries after the first attempt; 0 means 4, negative none.
	MaxRetries int
	// MaxDelay caps any single wait, Retry-After included; a longer
	// Retry-After is returned as a *GraphError instead. 0 means 60s.
	MaxDelay time.Duration
	// BaseDelay is the first backoff wait when Graph sends no Retry-After;
	// each retry doubles it, with jitter. 0 means 500ms, or 1ms when BaseURL
	// is a loopback address (graphtest, httptest): tests of fault paths then
	// run in milliseconds with no options set, and production keeps 500ms.
	BaseDelay time.Duration
}

// Client adds attachments to Microsoft Graph calendar events. It is safe for
// concurrent use; create one per credential and reuse it.
type Client struct {
	base     string // version root without trailing slash, e.g. https://graph.microsoft.com/v1.0
	baseHost string // scheme://host[:port]; the only origin that receives tokens
	loopback bool   // base is a loopback http(s) server (graphtest)
	cloud    Cloud
	rt       http.RoundTripper // the caller's transport, or a pooled default
	timeout  time.Duration     // the caller's http.Client.Timeout
	// attemptTimeout and stallTimeout bound every attempt (bounds.go).
	attemptTimeout, stallTimeout time.Duration
	tokens                       *tokenCache
	retry                        RetryOptions
	limiter                      *pace.Pacer
	once                         keyedLocks // IfAbsent adds, one at a time per event and name
	store                        Store      // idempotency keys; nil: none
	leaseTTL, commitLag          time.Duration
	logger                       *slog.Logger
	tracer                       tracing.Tracer // disabled unless ClientOptions.TracingProvider is set
}

// NewClient returns a Client that authenticates with cred (any azidentity
// credential) for the cloud's Graph scope. It returns ErrInvalidInput for a
// nil credential, an unknown cloud or a BaseURL that is not https (http is
// allowed for loopback hosts only).
func NewClient(cred azcore.TokenCredential, opts *ClientOptions) (*Client, error) {
	if cred == nil {
		return nil, invalidInput("credential is nil")
	}
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	cloud, err := resolveCloud(o.Cloud)
	if err != nil {
		return nil, err
	}
	base := o.BaseURL
	if base == "" {
		base = cloud.GraphEndpoint + "/v1.0"
	}
	u, loopback, err := checkBaseURL(base)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:     strings.TrimRight(u.String(), "/"),
		baseHost: u.Scheme + "://" + u.Host,
		loopback: loopback,
		cloud:    cloud,
		tokens:   newTokenCache(cred, cloud.Scope()),
		retry:    resolveRetry(o.Retry, loopback),
		logger:   o.Logger,
		tracer:   newTracer(o.TracingProvider),
	}
	c.limiter = pace.New(resolvePace(o, c.retry.MaxDelay), nil)
	var rt http.RoundTripper
	var timeout time.Duration
	if o.HTTPClient != nil {
		rt, timeout = o.HTTPClient.Transport, o.HTTPClient.Timeout
	}
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Background jobs run many calls at once; Go's default of 2 idle
		// connections per host would reconnect for most of them.
		t.MaxIdleConnsPerHost = 32
		rt = t
	}
	c.attemptTimeout = zeroMeans(o.AttemptTimeout, defaultAttemptTimeout)
	c.stallTimeout = zeroMeans(o.StallTimeout, defaultStallTimeout)
	c.rt, c.timeout = rt, timeout
	if o.LeaseTTL < 0 || o.CommitLag < 0 {
		return nil, invalidInput("LeaseTTL %s and CommitLag %s must not be negative", o.LeaseTTL, o.CommitLag)
	}
	if o.Store != nil && c.attemptTimeout < 0 {
		return nil, invalidInput("a Store needs bounded attempts: AttemptTimeout is negative, so a request's last moment to land on Graph is unknown")
	}
	c.store = o.Store
	c.leaseTTL = zeroMeans(o.LeaseTTL, defaultLeaseTTL)
	c.commitLag = zeroMeans(o.CommitLag, defaultCommitLag)
	return c, nil
}

// String describes the client without any secret.
func (c *Client) String() string {
	return fmt.Sprintf("eventattach.Client{base: %s, cloud: %s}", c.base, c.cloud.Name)
}

// Cloud returns the cloud the client was built for.
func (c *Client) Cloud() Cloud { return c.cloud }

// BaseURL returns the version root requests are sent to.
func (c *Client) BaseURL() string { return c.base }

func resolveCloud(c Cloud) (Cloud, error) {
	if c == (Cloud{}) {
		return CloudGlobal, nil
	}
	if c.GraphEndpoint == "" {
		for _, k := range []Cloud{CloudGlobal, CloudUSGovL4, CloudUSGovL5, CloudChina} {
			if strings.EqualFold(k.Name, c.Name) {
				return k, nil
			}
		}
		return Cloud{}, invalidInput("unknown cloud %q", c.Name)
	}
	u, err := url.Parse(c.GraphEndpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return Cloud{}, invalidInput("cloud GraphEndpoint %q must be an https URL", c.GraphEndpoint)
	}
	c.GraphEndpoint = strings.TrimRight(c.GraphEndpoint, "/")
	return c, nil
}

// checkBaseURL accepts https anywhere and http only on loopback, so a typo
// can never send a bearer token in clear text across a network.
func checkBaseURL(s string) (*url.URL, bool, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, false, invalidInput("BaseURL %q: %v", s, err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, false, invalidInput("BaseURL %q must be scheme://host[/path] without user, query or fragment", s)
	}
	if !hasVersion(u.Path) {
		right := strings.TrimRight(s, "/") + "/v1.0"
		return nil, false, invalidInput("BaseURL %q has no API version: it replaces the cloud's root and version, so write %q (or /beta)", s, right)
	}
	loopback := isLoopback(u.Hostname())
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback {
			return nil, false, invalidInput("BaseURL %q: http is allowed only for loopback hosts; use https", s)
		}
	default:
		return nil, false, invalidInput("BaseURL %q: scheme must be https", s)
	}
	return u, loopback, nil
}

// hasVersion says whether a BaseURL path ends in a Graph API version
// segment: v1.0, beta, or v{n}[.{m}] for a proxy that mirrors them.
func hasVersion(path string) bool {
	seg := strings.ToLower(path[strings.LastIndexByte(strings.TrimRight(path, "/"), '/')+1:])
	seg = strings.TrimRight(seg, "/")
	if seg == "beta" {
		return true
	}
	if !strings.HasPrefix(seg, "v") || len(seg) < 2 {
		return false
	}
	for _, r := range seg[1:] {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func resolveRetry(r RetryOptions, loopback bool) RetryOptions {
	if r.BaseDelay <= 0 && loopback {
		r.BaseDelay = loopbackBaseDelay
	}
	r.MaxRetries = zeroMeans(r.MaxRetries, defaultMaxRetries)
	if r.MaxDelay <= 0 {
		r.MaxDelay = defaultMaxDelay
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = defaultBaseDelay
	}
	r.BaseDelay = min(r.BaseDelay, r.MaxDelay)
	return r
}

// zeroMeans reads a count option: 0 means def, a negative value 0 (none).
func zeroMeans[T int | int64 | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// resolvePace turns the options into the pacer's limits (0: none).
func resolvePace(o ClientOptions, maxHold time.Duration) pace.Limits {
	l := pace.Limits{
		Concurrency:   zeroMeans(o.MailboxConcurrency, pace.DefaultConcurrency),
		Requests:      zeroMeans(o.MailboxRequestBudget, pace.DefaultRequests),
		RequestWindow: o.MailboxRequestWindow,
		Bytes:         zeroMeans(o.MailboxByteBudget, pace.DefaultBytes),
		ByteWindow:    o.MailboxByteWindow,
		MaxHold:       maxHold,
	}
	if l.RequestWindow <= 0 {
		l.RequestWindow = pace.DefaultRequestWindow
	}
	if l.ByteWindow <= 0 {
		l.ByteWindow = pace.DefaultByteWindow
	}
	return l
}

// sendsToken says whether u is on the Graph origin the client was built for.
func (c *Client) sendsToken(u *url.URL) bool {
	base := c.baseHost
	return len(base) == len(u.Scheme)+3+len(u.Host) &&
		strings.EqualFold(base[:len(u.Scheme)], u.Scheme) &&
		strings.EqualFold(base[len(u.Scheme)+3:], u.Host)
}
