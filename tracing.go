package eventattach

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
	"github.com/eventattach/eventattach/internal/pace"
)

// Tracing, the way azcore's clients do it: ClientOptions.TracingProvider
// (azotel's for OpenTelemetry) gets
//
//	AddFile /users/{id}/events/{id}/attachments        one span per operation
//	├── POST /users/{id}/events/{id}/attachments        one per attempt (kind client)
//	│     event "retry wait"                             a throttle or backoff wait
//	├── duplicate check                                  findSent, with its own requests
//	└── upload chunk                                     one per chunk PUT of an Upload
//
// Span names and attributes carry route templates, never ids, tokens,
// query strings (an upload URL's authtoken) or content. With the zero
// Provider every hook returns at its first line and nothing is allocated.
// Spans travel in ctx, as azcore's do; the operation's span also under
// opSpanKey, for the events of waits and checks.

// tracerModule names the tracer, with Version.
const tracerModule = "github.com/eventattach/eventattach"

// Attribute keys: OpenTelemetry's semantic conventions where one fits,
// azcore's az.* for the request ids, eventattach.* for the rest.
const (
	attrNamespace        = "az.namespace"
	attrClientRequestID  = "az.client_request_id"
	attrServiceRequestID = "az.service_request_id"
	attrOperation        = "eventattach.operation"
	attrRoute            = "url.template"
	attrMethod           = "http.request.method"
	attrStatus           = "http.response.status_code"
	attrResendCount      = "http.request.resend_count"
	attrServerAddress    = "server.address"
	attrErrorType        = "error.type"
	attrGraphCode        = "graph.error.code"
	attrAttempt          = "eventattach.attempt"
	attrWaitMS           = "eventattach.wait_ms"
	attrWaitReason       = "eventattach.wait_reason"
	attrRetryAfter       = "eventattach.retry_after"
	attrNotRetried       = "eventattach.not_retried"
	attrChunkOffset      = "eventattach.chunk.offset"
	attrChunkLength      = "eventattach.chunk.length"
	attrUploadSize       = "eventattach.upload.size"
	attrCheckResult      = "eventattach.duplicate_check.result"
)

// Span and event names that are not a route.
const (
	spanDuplicateCheck = "duplicate check"
	spanChunk          = "upload chunk"
	eventRetryWait     = "retry wait"
	eventCheck         = "duplicate check"
	eventNotRetried    = "retry not made"
	eventPacingWait    = "pacing wait"
)

type opSpanKey struct{}

func newTracer(p tracing.Provider) tracing.Tracer {
	t := p.NewTracer(tracerModule, Version)
	if t.Enabled() {
		t.SetAttributes(tracing.Attribute{Key: attrNamespace, Value: "Microsoft.Graph"})
	}
	return t
}

// span is a started span, or nothing when tracing is off.
type span struct {
	s  tracing.Span
	on bool
}

// end sets the span's status from *errp and ends it. It takes a pointer so
// that `defer sp.end(&err)` sees the error the function returns.
func (sp span) end(errp *error) {
	if sp.on {
		endSpan(sp.s, *errp)
	}
}

func endSpan(s tracing.Span, err error) {
	if err != nil {
		class := errorClass(err)
		s.SetAttributes(tracing.Attribute{Key: attrErrorType, Value: class})
		s.SetStatus(tracing.SpanStatusError, class)
	} else {
		s.SetStatus(tracing.SpanStatusOK, "")
	}
	s.End()
}

// traceOp starts the span of operation op (AddFile, Upload, ...) and puts it
// into *ctx. Written as the first line of an operation with a named error
// result,
//
//	defer a.traceOp(&ctx, "Get").end(&err)
//
// it starts at once (a deferred call's receiver is evaluated then) and ends
// with the operation's error.
func (a Attachments) traceOp(ctx *context.Context, op string) span {
	t := a.r.c.tracer
	if !t.Enabled() {
		return span{}
	}
	tmpl := a.r.template()
	switch op {
	case "Get", "Delete":
		tmpl += "/{id}"
	case "Content":
		tmpl += "/{id}/$value"
	}
	c, s := t.Start(*ctx, op+" "+tmpl, &tracing.SpanOptions{
		Kind: tracing.SpanKindInternal,
		Attributes: []tracing.Attribute{
			{Key: attrOperation, Value: op},
			{Key: attrRoute, Value: tmpl},
		},
	})
	*ctx = context.WithValue(c, opSpanKey{}, s)
	return span{s: s, on: true}
}

// traceChunk starts the span of one upload chunk, bytes [from, to) of size,
// and puts it into *ctx (used like traceOp).
func (c *Client) traceChunk(ctx *context.Context, from, to, size int64) span {
	if !c.tracer.Enabled() {
		return span{}
	}
	var s tracing.Span
	*ctx, s = c.tracer.Start(*ctx, spanChunk, &tracing.SpanOptions{
		Kind: tracing.SpanKindInternal,
		Attributes: []tracing.Attribute{
			{Key: attrChunkOffset, Value: from},
			{Key: attrChunkLength, Value: to - from},
			{Key: attrUploadSize, Value: size},
		},
	})
	return span{s: s, on: true}
}

// traceWait records on the operation's span in ctx a wait no attempt's
// answer asked for (the backoff before a duplicate check), or why none was
// made when notRetried says so.
func (c *Client) traceWait(ctx context.Context, d time.Duration, notRetried string) {
	if !c.tracer.Enabled() {
		return
	}
	s, ok := ctx.Value(opSpanKey{}).(tracing.Span)
	switch {
	case !ok:
	case notRetried != "":
		s.AddEvent(eventNotRetried, tracing.Attribute{Key: attrNotRetried, Value: notRetried})
	default:
		s.AddEvent(eventRetryWait,
			tracing.Attribute{Key: attrWaitMS, Value: d.Milliseconds()},
			tracing.Attribute{Key: attrWaitReason, Value: "reconcile"})
	}
}

// checkSent is findSent (the Duplicate check) in a span of its own, whose
// result is also an event of the operation's span.
func (a Attachments) checkSent(ctx context.Context, requestID string, s *sentAttachment, start time.Time) (Attachment, error) {
	if err := waitOutCommitLag(ctx); err != nil {
		return nil, err
	}
	t := a.r.c.tracer
	if !t.Enabled() {
		return a.findSent(ctx, requestID, s, start)
	}
	ctx, sp := t.Start(ctx, spanDuplicateCheck, &tracing.SpanOptions{Kind: tracing.SpanKindInternal})
	att, err := a.findSent(ctx, requestID, s, start)
	result := "absent"
	switch {
	case err != nil:
		result = "unknown"
	case att != nil:
		result = "found"
	}
	res := tracing.Attribute{Key: attrCheckResult, Value: result}
	sp.SetAttributes(res)
	if op, ok := ctx.Value(opSpanKey{}).(tracing.Span); ok {
		op.AddEvent(eventCheck, res)
	}
	endSpan(sp, err)
	return att, err
}

// attemptSpan is the span of the current attempt of a send.
type attemptSpan struct {
	s    tracing.Span
	open bool
	tmpl string // the exchange's route template, made once per send

	secrets     []string // the exchange's secrets (secretsOf), made once per send
	secretsMade bool
}

// startAttempt opens the span of the attempt go-retryablehttp is about to
// make, a child of the operation's (or chunk's) span in req's context.
func (s *sender) startAttempt(req *http.Request) {
	t := s.c.tracer
	if !t.Enabled() {
		return
	}
	s.endAttempt()
	if s.at.tmpl == "" {
		s.at.tmpl = s.c.urlTemplate(s.ex)
	}
	attrs := make([]tracing.Attribute, 0, 6)
	attrs = append(attrs,
		tracing.Attribute{Key: attrMethod, Value: s.ex.method},
		tracing.Attribute{Key: attrRoute, Value: s.at.tmpl},
		tracing.Attribute{Key: attrServerAddress, Value: req.URL.Hostname()},
		tracing.Attribute{Key: attrAttempt, Value: s.attempts},
		tracing.Attribute{Key: attrClientRequestID, Value: s.ex.requestID},
	)
	if s.attempts > 1 {
		attrs = append(attrs, tracing.Attribute{Key: attrResendCount, Value: s.attempts - 1})
	}
	_, s.at.s = t.Start(req.Context(), s.ex.method+" "+s.at.tmpl, &tracing.SpanOptions{Kind: tracing.SpanKindClient, Attributes: attrs})
	s.at.open = true
}

// traceAnswer records how the attempt ended; checkRetry calls it each time
// it judges the attempt (the second time with the decode's failure).
func (s *sender) traceAnswer(resp *http.Response, err error) {
	if !s.at.open {
		return
	}
	class := ""
	if resp != nil {
		s.at.s.SetAttributes(tracing.Attribute{Key: attrStatus, Value: resp.StatusCode})
		if id := resp.Header.Get("request-id"); id != "" && s.traceable(id, resp) {
			s.at.s.SetAttributes(tracing.Attribute{Key: attrServiceRequestID, Value: id})
		}
		if !s.ex.ok(resp.StatusCode) {
			class = strconv.Itoa(resp.StatusCode)
		}
	}
	if err != nil {
		class = errorClass(err)
	}
	if class != "" {
		s.at.s.SetAttributes(tracing.Attribute{Key: attrErrorType, Value: class})
		s.at.s.SetStatus(tracing.SpanStatusError, class)
	}
}

// traceRetry records what follows a failed attempt, then ends its span: a
// wait before the same request goes again (on the attempt's span), or the
// wait before Graph's state is read (on the operation's span).
func (s *sender) traceRetry(ctx context.Context, act action, resend bool, wait time.Duration) {
	if !s.at.open {
		return
	}
	switch {
	case act == retry && resend:
		reason := "backoff"
		if st := s.answer; st != nil && (st.StatusCode == http.StatusTooManyRequests || st.StatusCode == http.StatusServiceUnavailable) {
			reason = "throttled"
		}
		retryAfter := s.resp != nil && s.answer != nil && s.resp.Header.Get("Retry-After") != ""
		s.at.s.AddEvent(eventRetryWait,
			tracing.Attribute{Key: attrWaitMS, Value: wait.Milliseconds()},
			tracing.Attribute{Key: attrWaitReason, Value: reason},
			tracing.Attribute{Key: attrRetryAfter, Value: retryAfter})
	case act == reconcile && s.ex.reconcile != nil && (resend || s.gaveUp != ""):
		s.c.traceWait(ctx, wait, s.gaveUp)
	}
	s.endAttempt()
}

// endAttempt ends the current attempt's span, if one is open.
func (s *sender) endAttempt() {
	if !s.at.open {
		return
	}
	s.at.open = false
	if s.answer != nil && s.traceable(s.answer.Code, s.resp) {
		s.at.s.SetAttributes(tracing.Attribute{Key: attrGraphCode, Value: s.answer.Code})
	}
	if s.gaveUp != "" {
		s.at.s.AddEvent(eventNotRetried, tracing.Attribute{Key: attrNotRetried, Value: s.gaveUp})
	}
	s.at.s.End()
}

// traceable accepts a value an answer brought (a request-id, an error code)
// for an attribute: a safeToken that holds none of the exchange's secrets.
// An upload host may echo its authtoken as its request-id, and the
// authtoken is letters, digits and -_. as a request id is: a value that
// equals or holds any query value of the URL asked (of any length), or
// its raw query, is dropped, as the log record scrubs it.
func (s *sender) traceable(v string, resp *http.Response) bool {
	if !safeToken(v) {
		return false
	}
	if !s.at.secretsMade {
		s.at.secretsMade = true
		s.at.secrets = secretsOf(s.ex.url)
		if resp != nil && resp.Request != nil && resp.Request.URL.String() != s.ex.url {
			s.at.secrets = append(s.at.secrets, secretsOf(resp.Request.URL.String())...)
		}
	}
	for _, sec := range s.at.secrets {
		if sec != "" && strings.Contains(v, sec) {
			return false
		}
	}
	if s.ex.upload {
		// secretsOf leaves out values shorter than 4 characters; an
		// attribute is never one of them either.
		if u, err := url.Parse(s.ex.url); err == nil {
			for _, vs := range u.Query() {
				for _, q := range vs {
					if q != "" && v == q {
						return false
					}
				}
			}
		}
	}
	return true
}

// safeToken accepts what is an identifier (Graph's error codes, request
// ids): short, and only letters, digits and -_. — nothing an answer could
// smuggle a URL or a secret's surroundings into.
func safeToken(v string) bool {
	if v == "" || len(v) > 80 {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// errorClass is a failure's low-cardinality name for error.type: a
// sentinel's, a status code, or the kind of transport failure.
func errorClass(err error) string {
	var ge *GraphError
	var ce *credentialError
	var ne net.Error
	var be *BoundError
	switch {
	case errors.Is(err, ErrOutcomeUnknown):
		return "outcome_unknown"
	case errors.As(err, &be) && be.Stalled:
		return "stalled"
	case errors.As(err, &be):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &ce):
		return "credential"
	case errors.Is(err, ErrInvalidInput):
		return "invalid_input"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrThrottled):
		return "throttled"
	case errors.As(err, &ge):
		return strconv.Itoa(ge.StatusCode)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated_answer"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF):
		return "connection_reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &ne):
		return "transport"
	}
	return "error"
}

// tracePacing records on the attempt's span each wait the mailbox's limits
// imposed before the request went: for a slot, for room in a budget, or
// for a 429's Retry-After.
func (s *sender) tracePacing(waits []pace.Wait) {
	if !s.at.open {
		return
	}
	for _, w := range waits {
		s.at.s.AddEvent(eventPacingWait,
			tracing.Attribute{Key: attrWaitMS, Value: w.D.Milliseconds()},
			tracing.Attribute{Key: attrWaitReason, Value: w.Reason})
	}
}
