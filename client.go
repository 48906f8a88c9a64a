package eventattach

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/google/uuid"
	"github.com/hashicorp/go-retryablehttp"
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
	// Logger gets one record per attempt; nil is silent. It never receives
	// tokens, content or query strings (so no ?authtoken= values).
	Logger *slog.Logger
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
	// each retry doubles it, with jitter. 0 means 500ms.
	BaseDelay time.Duration
}

// Client adds attachments to Microsoft Graph calendar events. It is safe for
// concurrent use; create one per credential and reuse it.
type Client struct {
	base     string // version root without trailing slash, e.g. https://graph.microsoft.com/v1.0
	baseHost string // scheme://host[:port]; the only origin that receives tokens
	loopback bool   // base is a loopback http(s) server (graphtest)
	cloud    Cloud
	hc       *http.Client
	tokens   *tokenCache
	retry    RetryOptions
	limiter  *mailboxLimiter
	logger   *slog.Logger
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
		retry:    resolveRetry(o.Retry),
		logger:   o.Logger,
	}
	switch {
	case o.MailboxConcurrency == 0:
		c.limiter = newMailboxLimiter(4)
	case o.MailboxConcurrency > 0:
		c.limiter = newMailboxLimiter(o.MailboxConcurrency)
	}
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
	c.hc = &http.Client{
		Transport:     &transport{base: rt, c: c},
		Timeout:       timeout,
		CheckRedirect: checkRedirect,
	}
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

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func resolveRetry(r RetryOptions) RetryOptions {
	switch {
	case r.MaxRetries == 0:
		r.MaxRetries = defaultMaxRetries
	case r.MaxRetries < 0:
		r.MaxRetries = 0
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = defaultMaxDelay
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = defaultBaseDelay
	}
	r.BaseDelay = min(r.BaseDelay, r.MaxDelay)
	return r
}

// checkRedirect never follows a redirect of a write (the answer is returned
// as an error instead, so nothing is sent twice) and follows reads; the
// transport decides per host whether a token goes along.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("eventattach: stopped after 10 redirects")
	}
	return nil
}

// call is one SDK operation's request, carried through go-retryablehttp's
// attempts; the transport finds it in the request's context.
type call struct {
	c               *Client
	method          string
	url             string
	mailbox         string
	body            func() (io.Reader, error) // nil: no body; called once per attempt
	bodyLen         int64
	contentType     string
	okStatus        int                                     // the success status (200, 201 or 204)
	decode          func(*http.Response) error              // reads a success answer
	dedupe          func(ctx context.Context) (bool, error) // POST only: did an earlier attempt land?
	noAuth          bool                                    // upload-session chunks are pre-authenticated
	keepBody        bool                                    // decode takes the success body over (Content)
	accept          string                                  // "" means application/json
	clientRequestID string

	userCtx          context.Context
	attempts         int
	wrote            atomic.Bool // the current attempt's request was written in full
	authHeader       string      // the token the current attempt carried
	claims           string      // CAE claims to pass to the credential
	reauthed         bool
	needDedupe       bool
	maybeLanded      bool
	checkErr         error // the last duplicate check's failure
	deduped          bool
	gaveUp           string
	lastErr          *GraphError
	lastTransportErr error
	slotErr          error // the wait for a mailbox slot that ctx ended

	hdrVals [5]string             // the values of the headers do sets
	trace   httptrace.ClientTrace // reports when an attempt was written
	rc      retryablehttp.Client
}

type callKey struct{}

func (cl *call) ok(status int) bool { return status == cl.okStatus }

func (cl *call) wroteRequest(info httptrace.WroteRequestInfo) {
	if info.Err == nil {
		cl.wrote.Store(true)
	}
}

// The go-retryablehttp hooks are plain functions that find their call in
// the request's context, so a call allocates no method values for them.
func callOf(ctx context.Context) *call { return ctx.Value(callKey{}).(*call) }

func checkRetryHook(ctx context.Context, resp *http.Response, err error) (bool, error) {
	return callOf(ctx).checkRetry(ctx, resp, err)
}

func prepareRetryHook(req *http.Request) error { return callOf(req.Context()).prepareRetry(req) }

// backoffHook returns RetryWaitMin, where checkRetry puts the call's wait.
func backoffHook(wait, _ time.Duration, _ int, _ *http.Response) time.Duration { return wait }

func (cl *call) idempotent() bool { return cl.method != http.MethodPost }

// keepError reads (at most 64 KiB of) an error answer into lastErr and puts
// the bytes back, so go-retryablehttp can drain and our caller can read.
func (cl *call) keepError(resp *http.Response) *GraphError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	cl.lastErr = parseGraphError(resp.StatusCode, resp.Header, body, cl.clientRequestID)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && cl.lastErr.Message == "" {
		// Only writes stop at a redirect: say why, and where it pointed.
		target := "another URL"
		if u, err := resp.Location(); err == nil {
			target = u.Scheme + "://" + u.Host
		}
		cl.lastErr.Message = "redirect to " + target + " not followed: a write is never re-sent elsewhere"
	}
	return cl.lastErr
}

// do runs one call with retries and returns nil once decode has read the
// success answer (or dedupe found the attachment).
func (c *Client) do(ctx context.Context, cl *call) error {
	cl.c = c
	if cl.clientRequestID == "" {
		cl.clientRequestID = uuid.NewString()
	}
	// A credential failure fails the call before anything is sent.
	if !cl.noAuth {
		if _, err := c.tokens.authorization(ctx, ""); err != nil {
			return err
		}
	}
	// The dedupe check runs its own requests: they get the caller's ctx,
	// not this call's trace and identity.
	cl.userCtx = ctx
	ctx = context.WithValue(ctx, callKey{}, cl)
	cl.trace.WroteRequest = cl.wroteRequest
	ctx = httptrace.WithClientTrace(ctx, &cl.trace)
	var body any
	if cl.body != nil {
		body = retryablehttp.ReaderFunc(cl.body)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, cl.method, cl.url, body)
	if err != nil {
		return fmt.Errorf("eventattach: building request: %w", err)
	}
	// Canonical keys, values in cl: no allocation per header. (net/http
	// only reads them; the transport gives each attempt its own map.)
	h := req.Header
	if cl.body != nil {
		req.ContentLength = cl.bodyLen
		cl.hdrVals[0] = cl.contentType
		h["Content-Type"] = cl.hdrVals[0:1:1]
	}
	accept := cl.accept
	if accept == "" {
		accept = "application/json"
	}
	cl.hdrVals[1], cl.hdrVals[2], cl.hdrVals[3], cl.hdrVals[4] = accept, userAgent, cl.clientRequestID, "true"
	h["Accept"] = cl.hdrVals[1:2:2]
	h["User-Agent"] = cl.hdrVals[2:3:3]
	h["Client-Request-Id"] = cl.hdrVals[3:4:4]
	h["Return-Client-Request-Id"] = cl.hdrVals[4:5:5]
	req.SetResponseHandler(func(resp *http.Response) error {
		if !cl.ok(resp.StatusCode) {
			return nil
		}
		if cl.keepBody {
			return cl.decode(resp)
		}
		defer resp.Body.Close()
		if cl.decode == nil {
			_, err := io.Copy(io.Discard, resp.Body)
			return err
		}
		return cl.decode(resp)
	})
	cl.rc = retryablehttp.Client{
		HTTPClient:   c.hc,
		RetryMax:     c.retry.MaxRetries,
		CheckRetry:   checkRetryHook,
		Backoff:      backoffHook,
		PrepareRetry: prepareRetryHook,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	resp, err := cl.rc.Do(req)
	if cl.deduped || errors.Is(err, errDeduped) {
		return nil
	}
	if err == nil && resp != nil && cl.ok(resp.StatusCode) {
		return nil
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	// The last attempt may have landed (a 504, a reset after writing, an
	// answer cut off by the deadline): look once more before reporting a
	// failure the caller would retry into a duplicate. When ctx is already
	// done, the look gets a short grace period of its own.
	if cl.maybeLanded && cl.dedupe != nil {
		lookCtx := cl.userCtx
		if lookCtx.Err() != nil {
			var cancel context.CancelFunc
			lookCtx, cancel = context.WithTimeout(context.WithoutCancel(lookCtx), dedupeGrace)
			defer cancel()
		}
		found, derr := cl.dedupe(lookCtx)
		switch {
		case derr == nil && found:
			return nil
		case derr != nil:
			if cl.checkErr != nil && errors.Is(err, cl.checkErr) {
				err = nil // the check's failure, reported below: the cause is the last answer
			}
			return unknownOutcome(fmt.Sprintf("%s %s", cl.method, redact(cl.url)), cl.failure(ctx, err), derr)
		}
	}
	return cl.failure(ctx, err)
}

// failure builds the error of a call that did not succeed.
func (cl *call) failure(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && (err == nil || errors.Is(err, ctxErr)) {
		var cause error = ctxErr
		if cl.slotErr != nil {
			cause = cl.slotErr // wraps ctxErr, and says what held the mailbox's slots
		}
		if cl.lastErr != nil {
			return fmt.Errorf("eventattach: %s %s: %w (last answer: %v)", cl.method, redact(cl.url), cause, cl.lastErr)
		}
		return fmt.Errorf("eventattach: %s %s: %w", cl.method, redact(cl.url), cause)
	}
	var ce *credentialError
	if errors.As(err, &ce) {
		return err
	}
	if err == nil && cl.lastErr != nil {
		switch {
		case cl.gaveUp != "":
			return fmt.Errorf("eventattach: not retried: %s: %w", cl.gaveUp, cl.lastErr)
		case cl.attempts > 1:
			return fmt.Errorf("eventattach: after %d attempts: %w", cl.attempts, cl.lastErr)
		}
		return cl.lastErr
	}
	if err == nil {
		err = cl.lastTransportErr
	}
	if err == nil {
		err = errors.New("no answer")
	}
	if cl.gaveUp != "" {
		return fmt.Errorf("eventattach: %s %s: not retried: %s: %w", cl.method, redact(cl.url), cl.gaveUp, stripURL(err))
	}
	return fmt.Errorf("eventattach: %s %s after %d attempt(s): %w", cl.method, redact(cl.url), cl.attempts, stripURL(err))
}

// redact drops the query string, where upload URLs carry their authtoken.
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}

// stripURL removes the URL that net/http puts in its errors (it may carry an
// authtoken), keeping the cause errors.Is/As-able.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: redact(ue.URL), Err: ue.Err}
	}
	return err
}

func decodeClaims(s string) string {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return string(b)
	}
	return s
}

// transport adds the bearer token (only for the Graph origin), the mailbox
// concurrency cap and the per-attempt log record around the caller's
// RoundTripper.
type transport struct {
	base http.RoundTripper
	c    *Client
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	cl, _ := ctx.Value(callKey{}).(*call)
	// Our own request, but go-retryablehttp may still hold the previous
	// attempt's copy: work on a copy with its own header map. A shallow copy
	// is enough (Clone's deep copy of the URL and the header values costs 3
	// allocations): nothing downstream writes to either.
	r := new(http.Request)
	*r = *req
	r.Header = make(http.Header, len(req.Header)+1)
	for k, v := range req.Header {
		r.Header[k] = v
	}
	if t.sendsToken(r.URL) && (cl == nil || !cl.noAuth) {
		claims := ""
		if cl != nil {
			claims, cl.claims = cl.claims, ""
		}
		h, hv, err := t.c.tokens.authorizationValues(ctx, claims)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		r.Header["Authorization"] = hv
		if cl != nil {
			cl.authHeader = h
		}
	} else {
		// A token never leaves the Graph origin: not to an upload host, not
		// after a redirect.
		r.Header.Del("Authorization")
	}
	var sem chan struct{}
	if cl != nil {
		cl.attempts++
		cl.wrote.Store(false)
		var err error
		if sem, err = t.c.limiter.acquire(ctx, cl.mailbox); err != nil {
			closeBody(req)
			cl.slotErr = err
			return nil, err
		}
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(r)
	if sem != nil {
		if err != nil {
			<-sem
		} else {
			resp.Body = &releasingBody{ReadCloser: resp.Body, sem: sem}
		}
	}
	if t.c.logger != nil {
		t.log(ctx, r, cl, resp, err, time.Since(start))
	}
	return resp, err
}

// closeBody keeps the RoundTripper contract on an early return: the body is
// closed even on errors (an upload chunk's buffer waits for it).
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// sendsToken says whether u is on the Graph origin the client was built for.
func (t *transport) sendsToken(u *url.URL) bool {
	base := t.c.baseHost
	return len(base) == len(u.Scheme)+3+len(u.Host) &&
		strings.EqualFold(base[:len(u.Scheme)], u.Scheme) &&
		strings.EqualFold(base[len(u.Scheme)+3:], u.Host)
}

// log writes one record per attempt: method, route (the path, never the
// query), status, attempt, duration and Graph's request-id.
func (t *transport) log(ctx context.Context, r *http.Request, cl *call, resp *http.Response, err error, d time.Duration) {
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("route", r.URL.EscapedPath()),
	)
	if cl != nil {
		attrs = append(attrs, slog.Int("attempt", cl.attempts), slog.String("client-request-id", cl.clientRequestID))
	}
	attrs = append(attrs, slog.Duration("duration", d))
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", stripURL(err).Error()))
	} else {
		attrs = append(attrs, slog.Int("status", resp.StatusCode), slog.String("request-id", resp.Header.Get("request-id")))
		if resp.StatusCode >= 400 {
			level = slog.LevelWarn
		}
	}
	if r.URL.RawQuery != "" {
		// An upload URL's host may echo its authtoken (in a header, an error):
		// no query value reaches a log record.
		for i, a := range attrs {
			if a.Value.Kind() == slog.KindString {
				attrs[i].Value = slog.StringValue(scrubQuery(a.Value.String(), r.URL.Query()))
			}
		}
	}
	t.c.logger.LogAttrs(ctx, level, "graph request", attrs...)
}

// scrubQuery cuts every value of q (4 characters or more, raw or escaped)
// out of s.
func scrubQuery(s string, q url.Values) string {
	for _, vs := range q {
		for _, v := range vs {
			if len(v) >= 4 {
				s = strings.ReplaceAll(s, v, "…")
				s = strings.ReplaceAll(s, url.QueryEscape(v), "…")
			}
		}
	}
	return s
}

func (c *Client) hcTransport() *transport { return c.hc.Transport.(*transport) }
