package eventattach

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/eventattach/eventattach/internal/pace"
)

// The request engine. Every request goes through send, which hands it to
// go-retryablehttp with two rules of the policy (decide, waitBefore): what
// it re-sends on its own is only what decide calls retry. What may have
// landed comes back to the operation with action reconcile, and the
// operation reads Graph's state before anything else (create, and the
// upload loop). A 401 for an expired token is sent once more with a new
// token, outside the retry count.

// exchange is one request of an operation, the same on every attempt.
type exchange struct {
	method       string
	url          string
	mailbox      string
	requestID    string                    // the operation's client-request-id; "" makes one
	body         func() (io.Reader, error) // nil: no body; called once per attempt
	bodyLen      int64
	contentType  string
	contentRange string                     // an upload chunk's Content-Range
	accept       string                     // "" means application/json
	okStatus     int                        // the success status; 0 means any 2xx
	decode       func(*http.Response) error // reads a success answer; nil drains it
	keepBody     bool                       // decode keeps the body open (Content)
	mayLand      bool                       // Graph creates something if it processes this
	upload       bool                       // to an upload URL: its own authtoken, no redirects
	paid         *pace.Prepaid              // budgets reserved for the first attempt (pacing), or nil
}

func (ex *exchange) ok(status int) bool {
	if ex.okStatus == 0 {
		return status >= 200 && status < 300
	}
	return status == ex.okStatus
}

// outcome is how send ended.
type outcome struct {
	err     error       // nil: success, and decode has read the answer
	action  action      // the policy's verdict on the last attempt; stop on success
	retries int         // retries made (a token refresh is not one)
	answer  *GraphError // the last attempt's error answer; nil if it ended otherwise
}

// sender is the state of one send: the loop's locals, in one allocation.
// It is the RoundTripper of its own http.Client, so nothing travels in the
// request's context but the standard trace of when a request was written.
type sender struct {
	c  *Client
	ex *exchange
	hc http.Client

	attempts   int
	retries    int
	reauthed   bool
	needReauth bool // the last answer was a 401 a new token may fix
	claims     string
	authHeader string // the token the last attempt carried
	start      time.Time
	checked    bool        // the current attempt was judged (and logged)
	written    atomic.Bool // the current attempt's request was written in full
	wait       time.Duration
	gaveUp     string // why a retry the policy wanted was not made
	action     action
	lastErr    *GraphError // the last error answer of any attempt
	answer     *GraphError // the current attempt's error answer
	lastCause  error       // the last attempt's transport or decode failure
	slotErr    error       // the wait for a mailbox slot that ctx ended
	trace      httptrace.ClientTrace
	at         attemptSpan // the current attempt's span (tracing.go)
}

// send runs ex with at most maxRetries retries.
func (c *Client) send(ctx context.Context, ex *exchange, maxRetries int) outcome {
	if ex.requestID == "" {
		ex.requestID = uuid.NewString()
	}
	// A credential failure fails the call before anything is sent.
	if !ex.upload {
		if _, err := c.tokens.authorization(ctx, ""); err != nil {
			return outcome{err: err}
		}
	}
	s := &sender{c: c, ex: ex}
	s.hc = http.Client{Transport: s, Timeout: c.timeout, CheckRedirect: s.checkRedirect}
	s.trace.WroteRequest = func(info httptrace.WroteRequestInfo) { s.written.Store(info.Err == nil) }
	ctx = httptrace.WithClientTrace(ctx, &s.trace)
	for {
		err := s.round(ctx, maxRetries-s.retries)
		if s.needReauth && !s.reauthed && ctx.Err() == nil {
			// An expired token or a claims challenge: one new token, once.
			s.reauthed, s.needReauth = true, false
			c.tokens.invalidate(s.authHeader)
			continue
		}
		if err == nil {
			return outcome{retries: s.retries}
		}
		return outcome{err: s.failure(ctx, err), action: s.action, retries: s.retries, answer: s.answer}
	}
}

// do sends ex with the client's retries and returns its error.
func (c *Client) do(ctx context.Context, ex *exchange) error {
	return c.send(ctx, ex, c.retry.MaxRetries).err
}

// round is one go-retryablehttp run: it returns nil once decode has read a
// success answer.
func (s *sender) round(ctx context.Context, retries int) error {
	ex := s.ex
	var body any
	if ex.body != nil {
		body = retryablehttp.ReaderFunc(ex.body)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, ex.method, ex.url, body)
	if err != nil {
		return fmt.Errorf("eventattach: building request: %w", stripURL(err))
	}
	h := req.Header
	if ex.body != nil {
		req.ContentLength = ex.bodyLen
		h.Set("Content-Type", ex.contentType)
	}
	if ex.contentRange != "" {
		h.Set("Content-Range", ex.contentRange)
	}
	h.Set("Accept", cmpOr(ex.accept, "application/json"))
	h.Set("User-Agent", userAgent)
	h.Set("Client-Request-Id", ex.requestID)
	req.SetResponseHandler(func(resp *http.Response) error {
		if !ex.ok(resp.StatusCode) {
			return nil
		}
		if ex.keepBody {
			return ex.decode(resp)
		}
		defer resp.Body.Close()
		if ex.decode == nil {
			_, err := io.Copy(io.Discard, resp.Body)
			return err
		}
		return ex.decode(resp)
	})
	rc := retryablehttp.Client{
		HTTPClient:     &s.hc,
		RetryMax:       max(retries, 0),
		CheckRetry:     s.checkRetry,
		Backoff:        s.backoff, // s.wait, which checkRetry chose
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
		RequestLogHook: s.beforeAttempt,
	}
	resp, err := rc.Do(req)
	s.endAttempt()
	if err == nil && resp != nil && ex.ok(resp.StatusCode) {
		return nil
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err == nil {
		err = s.lastCause
	}
	if err == nil && s.lastErr != nil {
		err = s.lastErr
	}
	if err == nil {
		err = errors.New("no answer")
	}
	return err
}

// beforeAttempt runs before each attempt (go-retryablehttp's RequestLogHook).
func (s *sender) beforeAttempt(_ retryablehttp.Logger, req *http.Request, retry int) {
	if retry > 0 {
		s.retries++
	}
	s.attempts++
	s.checked, s.answer = false, nil
	s.written.Store(false)
	s.start = time.Now()
	s.startAttempt(req)
}

// checkRetry judges each attempt by the policy (go-retryablehttp's
// CheckRetry). go-retryablehttp asks again after the response handler read
// a success answer; err is then the decode's failure.
func (s *sender) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	s.traceAnswer(resp, err)
	if !s.checked {
		s.checked = true
		s.log(ctx, resp, err)
	}
	s.action, s.lastCause = stop, err
	var ce *credentialError
	switch {
	case err == nil && s.ex.ok(status):
		return false, nil
	case ctx.Err() != nil:
		// No retry once ctx is done; but what may have landed is reported
		// as such, for the operation to look before it fails.
		s.action = decide(s.ex.method, s.ex.mayLand, status, cmpErr(err, ctx.Err()), s.written.Load())
		return false, ctx.Err()
	case errors.As(err, &ce):
		return false, err
	case err == nil:
		s.keepError(resp)
		if status == http.StatusUnauthorized && !s.ex.upload && !s.reauthed &&
			(s.lastErr.Code == "InvalidAuthenticationToken" || claimsFrom(resp.Header) != "") {
			s.needReauth, s.claims = true, claimsFrom(resp.Header)
			return false, nil
		}
	}
	s.action = decide(s.ex.method, s.ex.mayLand, status, err, s.written.Load())
	if s.action != retry {
		return false, nil
	}
	var ra time.Duration
	hasRA := false
	if resp != nil && err == nil {
		ra, hasRA = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	deadline, _ := ctx.Deadline()
	s.wait, s.gaveUp = waitBefore(s.retries, ra, hasRA, s.c.retry.BaseDelay, s.c.retry.MaxDelay, deadline, time.Now())
	if s.gaveUp != "" {
		s.action = stop // the answer stands: the caller reschedules
		return false, nil
	}
	return true, nil
}

// keepError reads (at most 64 KiB of) an error answer into lastErr and puts
// the bytes back, so go-retryablehttp can drain and our caller can read.
func (s *sender) keepError(resp *http.Response) {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	s.lastErr = parseGraphError(resp.StatusCode, resp.Header, body, s.ex.requestID)
	s.answer = s.lastErr
	if s.ex.upload {
		// The upload host may echo its authtoken anywhere in an answer.
		if u, err := url.Parse(s.ex.url); err == nil && u.RawQuery != "" {
			scrubGraphError(s.lastErr, u.Query())
		}
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && s.lastErr.Message == "" {
		// Only writes stop at a redirect: say why, and where it pointed.
		target := "another URL"
		if u, err := resp.Location(); err == nil {
			target = u.Scheme + "://" + u.Host
		}
		s.lastErr.Message = "redirect to " + target + " not followed: a write is never re-sent elsewhere"
	}
}

// checkRedirect never follows a redirect of a write or of an upload URL
// (the answer comes back as an error, so nothing is sent twice) and follows
// reads; RoundTrip decides per host whether a token goes along.
func (s *sender) checkRedirect(req *http.Request, via []*http.Request) error {
	if s.ex.upload || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("eventattach: stopped after 10 redirects")
	}
	return nil
}

// RoundTrip adds the bearer token (only for the Graph origin), paces the
// request by its mailbox's limits, and holds the mailbox's slot until the
// answer is read.
func (s *sender) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	// go-retryablehttp may still hold the previous attempt's request: work
	// on a copy with its own header map.
	r := new(http.Request)
	*r = *req
	r.Header = req.Header.Clone()
	if !s.ex.upload && s.c.sendsToken(r.URL) {
		claims := s.claims
		s.claims = ""
		h, err := s.c.tokens.authorization(ctx, claims)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		r.Header.Set("Authorization", h)
		s.authHeader = h
	} else {
		// A token never leaves the Graph origin: not to an upload host, not
		// after a redirect.
		r.Header.Del("Authorization")
	}
	// Pacing (internal/pace): a slot of the mailbox, and room in its
	// request and byte budgets, before anything is sent. A prepaid
	// exchange's first attempt brings its budget reservation along.
	var n int64
	if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodDelete {
		n = max(r.ContentLength, 0)
	}
	t, err := s.c.limiter.Acquire(ctx, s.ex.mailbox, n, s.ex.paid)
	if err != nil {
		closeBody(req)
		s.slotErr = err
		return nil, err
	}
	resp, err := s.c.rt.RoundTrip(r)
	if err != nil {
		t.Done()
		return resp, err
	}
	if s.c.limiter != nil {
		var ra time.Duration
		if resp.StatusCode == http.StatusTooManyRequests {
			// Hold the mailbox for the Retry-After only when this call is
			// going to wait it out too (checkRetry's rule).
			d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
			if dl, has := ctx.Deadline(); ok && d <= s.c.retry.MaxDelay && (!has || time.Now().Add(d).Before(dl)) {
				ra = d
			}
		}
		t.Answered(resp.StatusCode, ra)
		resp.Body = t.DoneWhenRead(resp.Body)
	}
	return resp, err
}

// failure builds the error of a send that did not succeed.
func (s *sender) failure(ctx context.Context, err error) error {
	ex := s.ex
	if ctxErr := ctx.Err(); ctxErr != nil && (err == s.lastErr || errors.Is(err, ctxErr)) {
		var cause error = ctxErr
		if s.slotErr != nil {
			cause = s.slotErr // wraps ctxErr, and says what held the mailbox's slots
		}
		if s.lastErr != nil {
			return fmt.Errorf("eventattach: %s %s: %w (last answer: %v)", ex.method, redact(ex.url), cause, s.lastErr)
		}
		return fmt.Errorf("eventattach: %s %s: %w", ex.method, redact(ex.url), cause)
	}
	var ce *credentialError
	if errors.As(err, &ce) {
		return err
	}
	if ge, ok := err.(*GraphError); ok {
		switch {
		case s.gaveUp != "":
			return fmt.Errorf("eventattach: not retried: %s: %w", s.gaveUp, ge)
		case s.attempts > 1:
			return fmt.Errorf("eventattach: after %d attempts: %w", s.attempts, ge)
		}
		return ge
	}
	if s.gaveUp != "" {
		return fmt.Errorf("eventattach: %s %s: not retried: %s: %w", ex.method, redact(ex.url), s.gaveUp, stripURL(err))
	}
	return fmt.Errorf("eventattach: %s %s after %d attempt(s): %w", ex.method, redact(ex.url), s.attempts, stripURL(err))
}

// log writes one record per attempt: method, route (the path, never the
// query), status, attempt, duration and Graph's request-id.
func (s *sender) log(ctx context.Context, resp *http.Response, err error) {
	lg := s.c.logger
	if lg == nil {
		return
	}
	u := s.exURL(resp)
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("method", s.ex.method),
		slog.String("route", u.EscapedPath()),
		slog.Int("attempt", s.attempts),
		slog.String("client-request-id", s.ex.requestID),
		slog.Duration("duration", time.Since(s.start)),
	)
	level := slog.LevelDebug
	if resp == nil {
		level = slog.LevelWarn
		if err == nil {
			err = errors.New("no answer")
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its URL would repeat the route with its query
		}
		attrs = append(attrs, slog.String("error", err.Error()))
	} else {
		attrs = append(attrs, slog.Int("status", resp.StatusCode), slog.String("request-id", resp.Header.Get("request-id")))
		if resp.StatusCode >= 400 {
			level = slog.LevelWarn
		}
	}
	if u.RawQuery != "" {
		// An upload URL's host may echo its authtoken (in a header, an error):
		// no query value reaches a log record.
		q := u.Query()
		for i, a := range attrs {
			if a.Value.Kind() == slog.KindString {
				attrs[i].Value = slog.StringValue(scrubQuery(a.Value.String(), q))
			}
		}
	}
	lg.LogAttrs(ctx, level, "graph request", attrs...)
}

// exURL is the URL the attempt ended at (after redirects), or the exchange's.
func (s *sender) exURL(resp *http.Response) *url.URL {
	if resp != nil && resp.Request != nil {
		return resp.Request.URL
	}
	u, err := url.Parse(s.ex.url)
	if err != nil {
		return &url.URL{}
	}
	return u
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

// closeBody keeps the RoundTripper contract on an early return: the body is
// closed even on errors (an upload chunk's buffer waits for it).
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// scrubGraphError cuts the values of q out of every field of ge.
func scrubGraphError(ge *GraphError, q url.Values) {
	for _, f := range []*string{&ge.Code, &ge.Message, &ge.RequestID, &ge.ClientRequestID} {
		*f = scrubQuery(*f, q)
	}
	for _, vs := range q {
		for _, v := range vs {
			if len(v) >= 4 {
				ge.Body = bytes.ReplaceAll(ge.Body, []byte(v), []byte("…"))
				ge.Body = bytes.ReplaceAll(ge.Body, []byte(url.QueryEscape(v)), []byte("…"))
			}
		}
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
