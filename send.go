package eventattach

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/eventattach/eventattach/internal/pace"
)

// The request engine. Every request of every operation goes through send,
// and send's loop is the only place where anything is sent again, Graph
// calls and upload chunks alike:
//
//	attempt     send the request once (paced, with a token for Graph)
//	judge       the policy's verdict on how it ended (policy.go)
//	stop        return the answer
//	reauth      a 401 for an expired token: once more with a new token,
//	            not counted as a retry
//	retry       wait (Retry-After, or backoff), send the same again
//	reconcile   it may have landed: wait, then read Graph's state
//	            (ex.reconcile); landed: return that; cannot tell: return the
//	            reconcile's error; absent: send again, as a retry
//
// A retry that cannot be made (none left, a Retry-After over MaxDelay, a
// wait past the ctx deadline, ctx done) returns the last answer; what may
// have landed is still reconciled first.

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
	timeout      time.Duration              // bounds each attempt; 0: ClientOptions.AttemptTimeout
	// reconcile reads Graph's state after an attempt that may have landed
	// (last: its error answer, or nil): landed says the request took
	// effect, err that the state could not be read. nil: never landed.
	reconcile func(ctx context.Context, last *GraphError) (landed bool, err error)
}

func (ex *exchange) ok(status int) bool {
	if ex.okStatus == 0 {
		return status >= 200 && status < 300
	}
	return status == ex.okStatus
}

// outcome is how send ended.
type outcome struct {
	err     error       // nil: success (decoded, or reconciled as landed)
	action  action      // the policy's verdict on the last attempt; stop on success
	retries int         // retries made (a token refresh is not one)
	answer  *GraphError // the last attempt's error answer; nil if it ended otherwise
}

// send runs ex with at most maxRetries retries: the loop described above.
func (c *Client) send(ctx context.Context, ex *exchange, maxRetries int) outcome {
	if ex.requestID == "" {
		ex.requestID = uuid.NewString()
	}
	// A credential failure fails the call before anything is sent.
	if !ex.upload {
		if _, err := c.authorization(ctx, ""); err != nil {
			return outcome{err: err}
		}
	}
	s := newSender(c, ex)
	for {
		// A keyed call whose lease is lost writes nothing more.
		if err := guardWrite(ctx, ex.method); err != nil {
			return outcome{err: err, retries: s.retries}
		}
		err := s.attempt(ctx)
		if err == nil {
			s.endAttempt()
			return outcome{retries: s.retries}
		}
		act := s.judge(ctx, err)
		if act == reauth {
			s.endAttempt()
			s.reauthed = true
			c.tokens.invalidate(s.authHeader)
			continue
		}
		resend := act != stop && s.retries < maxRetries && ctx.Err() == nil
		var wait time.Duration
		if resend {
			wait, s.gaveUp = s.waitBefore(ctx, act)
			resend = s.gaveUp == ""
		}
		s.traceRetry(ctx, act, resend, wait)
		if resend && sleep(ctx, wait) != nil {
			resend = false
		}
		if act == reconcile && ex.reconcile != nil {
			landed, rerr := ex.reconcile(ctx, s.answer)
			switch {
			case rerr != nil:
				return outcome{err: rerr, action: act, retries: s.retries, answer: s.answer}
			case landed:
				return outcome{retries: s.retries}
			}
		}
		if !resend {
			return outcome{err: s.failure(ctx, err), action: act, retries: s.retries, answer: s.answer}
		}
		s.retries++
	}
}

// do sends ex with the client's retries and returns its error.
func (c *Client) do(ctx context.Context, ex *exchange) error {
	return c.send(ctx, ex, c.retry.MaxRetries).err
}

// sender is one send's state across its attempts. It is the RoundTripper
// of its own http.Client, so nothing travels in the request's context but
// the standard trace of when a request was written.
type sender struct {
	c  *Client
	ex *exchange
	hc http.Client

	attempts   int
	retries    int
	reauthed   bool
	claims     string      // a claims challenge for the next token
	authHeader string      // the token the last attempt carried
	start      time.Time   // the current attempt's
	written    atomic.Bool // the current attempt's request was written in full
	resp       *http.Response
	answer     *GraphError // the current attempt's error answer
	gaveUp     string      // why a resend the policy wanted was not made
	slotErr    error       // the wait for a mailbox slot that ctx ended
	w          *watch      // the current attempt's bounds
	handedOver bool        // its answer's body (Content) outlives the attempt
	trace      httptrace.ClientTrace
	at         attemptSpan // the current attempt's span (tracing.go)
}

func newSender(c *Client, ex *exchange) *sender {
	s := &sender{c: c, ex: ex}
	s.hc = http.Client{Transport: s, Timeout: c.timeout, CheckRedirect: s.checkRedirect}
	s.trace.WroteRequest = func(info httptrace.WroteRequestInfo) {
		s.written.Store(info.Err == nil)
		s.w.kick()
	}
	s.trace.GotFirstResponseByte = func() { s.w.kick() }
	return s
}

// attempt sends the request once: nil once decode has read a success
// answer; otherwise the transport's or decode's failure, or the error
// answer (kept in s.answer). go-retryablehttp carries the attempt: it
// rewinds the body and runs decode on a success answer.
func (s *sender) attempt(ctx context.Context) error {
	ex := s.ex
	s.attempts++
	s.answer, s.resp = nil, nil
	s.written.Store(false)
	s.start = time.Now()
	// The attempt's bounds (bounds.go): its own limit and the stall limit.
	s.w = s.c.newWatch(ctx, ex)
	defer func() {
		if !s.handedOver {
			s.w.stop()
		}
	}()
	s.handedOver = false
	actx := httptrace.WithClientTrace(s.w.ctx, &s.trace)
	var body any
	if ex.body != nil {
		body = retryablehttp.ReaderFunc(ex.body)
		if ex.bodyLen > maxInMemoryBody {
			// A body that streams out kicks the stall watch as it goes (a
			// small one is written with the headers, in one go).
			body = retryablehttp.ReaderFunc(func() (io.Reader, error) {
				r, err := ex.body()
				if err != nil {
					return nil, err
				}
				c, _ := r.(io.Closer)
				return &watchedReader{r: r, w: s.w, closer: c}, nil
			})
		}
	}
	req, err := retryablehttp.NewRequestWithContext(actx, ex.method, ex.url, body)
	if err != nil {
		return fmt.Errorf("eventattach: building request: %w", stripURL(err))
	}
	h := req.Header
	if ex.body != nil {
		req.ContentLength = ex.bodyLen
		h["Content-Type"] = headerValue(ex.contentType)
	}
	if ex.contentRange != "" {
		h["Content-Range"] = []string{ex.contentRange}
	}
	h["Accept"] = headerValue(cmp.Or(ex.accept, "application/json"))
	h["User-Agent"] = headerValue(userAgent)
	h["Client-Request-Id"] = []string{ex.requestID}
	// The bearer token, only for the Graph origin (RoundTrip keeps it so
	// across redirects).
	if !ex.upload && s.c.sendsToken(req.URL) {
		auth, err := s.c.authorization(ctx, s.claims)
		if err != nil {
			return err
		}
		s.claims, s.authHeader = "", auth
		h["Authorization"] = []string{auth}
	}
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
	s.startAttempt(req.Request)
	once := retryablehttp.Client{
		HTTPClient:   &s.hc,
		RetryMax:     0,
		CheckRetry:   func(context.Context, *http.Response, error) (bool, error) { return false, nil },
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	resp, err := once.Do(req)
	s.resp = resp
	if err == nil && resp != nil && !ex.ok(resp.StatusCode) {
		err = s.keepError(resp)
		resp.Body.Close()
	}
	err = s.w.bound(err)
	s.traceAnswer(resp, err)
	s.log(ctx, resp, err)
	switch {
	case err != nil:
		if resp != nil && resp.Body != nil && !ex.keepBody {
			resp.Body.Close()
		}
		s.handedOver = false
		return s.w.bound(err) // the SDK's own limit, never posing as the caller's deadline
	case s.answer != nil:
		return s.answer
	}
	return nil
}

// judge is the policy's verdict on the attempt that failed with err.
func (s *sender) judge(ctx context.Context, err error) action {
	status := 0 // no answer
	if s.resp != nil {
		status = s.resp.StatusCode // an answer, maybe cut off: the request was read
	}
	transport := err
	if s.answer != nil && err == error(s.answer) {
		transport = nil
	}
	var ce *credentialError
	switch {
	case errors.As(err, &ce), errors.Is(err, ErrThrottled) && s.answer == nil:
		return stop // the credential's failure, or pacing gave up before sending
	case status == http.StatusUnauthorized && !s.ex.upload && !s.reauthed && ctx.Err() == nil &&
		(s.answer.Code == "InvalidAuthenticationToken" || claimsFrom(s.resp.Header) != ""):
		s.claims = claimsFrom(s.resp.Header)
		return reauth
	case status == http.StatusRequestedRangeNotSatisfiable && s.ex.upload && s.ex.reconcile != nil:
		return reconcile // the session expects other bytes: ask it which
	}
	return decide(s.ex.method, s.ex.mayLand, status, transport, s.written.Load())
}

// waitBefore is the wait before the next attempt, or why there is none.
func (s *sender) waitBefore(ctx context.Context, act action) (time.Duration, string) {
	var ra time.Duration
	hasRA := false
	if act == retry && s.resp != nil && s.answer != nil {
		ra, hasRA = parseRetryAfter(s.resp.Header.Get("Retry-After"), time.Now())
	}
	return waitBefore(s.retries, ra, hasRA, s.c.retry.BaseDelay, s.c.retry.MaxDelay, deadlineOf(ctx), time.Now())
}

// willWaitOut says whether a call waits out a Retry-After of d: the rule
// waitBefore applies, which the mailbox's 429 hold follows too.
func (c *Client) willWaitOut(ctx context.Context, d time.Duration) bool {
	dl, has := ctx.Deadline()
	return d <= c.retry.MaxDelay && (!has || time.Now().Add(d).Before(dl))
}

// failure builds the error of a send that did not succeed.
func (s *sender) failure(ctx context.Context, err error) error {
	ex := s.ex
	if ctxErr := ctx.Err(); ctxErr != nil && (err == error(s.answer) || errors.Is(err, ctxErr)) {
		var cause error = ctxErr
		if s.slotErr != nil {
			cause = s.slotErr // wraps ctxErr, and says what held the mailbox's slots
		}
		if s.answer != nil {
			return fmt.Errorf("eventattach: %s %s: %w (last answer: %v)", ex.method, redact(ex.url), cause, s.answer)
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

// newWatch starts the bounds of one attempt of ex: its own limit (an upload
// chunk's ChunkTimeout, or AttemptTimeout) and the stall limit.
func (c *Client) newWatch(ctx context.Context, ex *exchange) *watch {
	limit, option := c.attemptTimeout, "ClientOptions.AttemptTimeout"
	if ex.timeout > 0 {
		limit, option = ex.timeout, "FileUpload.ChunkTimeout"
	}
	return newWatch(ctx, limit, c.stallTimeout, ex.method, ex.url, option)
}

// constHeaders are the header values every request carries, shared: the
// transport only reads them.
var constHeaders = map[string][]string{}

func init() {
	for _, v := range []string{"application/json", "application/octet-stream", "application/octet-stream, application/json", userAgent} {
		constHeaders[v] = []string{v}
	}
}

// headerValue is v as a header value, shared when it is a constant one.
func headerValue(v string) []string {
	if s, ok := constHeaders[v]; ok {
		return s
	}
	return []string{v}
}
