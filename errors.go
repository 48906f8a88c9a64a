package eventattach

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. A *GraphError answers errors.Is for the sentinel of its
// HTTP status, so callers can branch without parsing codes:
//
//	if errors.Is(err, eventattach.ErrNotFound) { ... }
var (
	// ErrInvalidInput reports input the SDK refuses before sending anything:
	// an empty, "." or ".." id, a nil attachment, a negative size, a bad option.
	ErrInvalidInput = errors.New("eventattach: invalid input")
	// ErrTooLarge reports content of MaxAddSize or more for Add* (a file's
	// bytes: MaxAddFileSize, or a request body over 4 MiB), over
	// MaxUploadSize for Upload, or Graph refusing a request for its size: a
	// 413, a 400 "Maximum request length exceeded.", or an upload that passes
	// the mailbox's maximum message size (ErrorMessageSizeExceeded).
	ErrTooLarge = errors.New("eventattach: attachment too large")
	// ErrNotFound is Graph's 404: the mailbox, calendar, event or attachment does not exist.
	ErrNotFound = errors.New("eventattach: not found")
	// ErrUnauthorized is Graph's 401: the token is missing, expired or for another audience.
	ErrUnauthorized = errors.New("eventattach: unauthorized")
	// ErrForbidden is Graph's 403: the app lacks Calendars.ReadWrite or access to the mailbox.
	ErrForbidden = errors.New("eventattach: forbidden")
	// ErrThrottled is Graph's 429, returned once retries are exhausted or
	// Retry-After asks for a longer wait than the caller allows.
	ErrThrottled = errors.New("eventattach: throttled")
	// ErrNoMailbox is a 404 for a user who has no Exchange Online mailbox
	// (unlicensed, a guest, inactive, or on-premises): codes
	// MailboxNotEnabledForRESTAPI, MailboxNotSupportedForRESTAPI and
	// ErrorNonExistentMailbox (GRAPH-FACTS.md, Mailboxes and users). Such an
	// error is ErrNotFound too.
	ErrNoMailbox = errors.New("eventattach: the user has no mailbox Graph can reach")
)

// maxErrorBody caps how much of an error answer GraphError keeps (and reads):
// enough for any Graph error JSON, small enough that a misbehaving proxy
// answering with a large HTML page cannot balloon memory.
const maxErrorBody = 64 << 10

// GraphError is the error returned for every non-success answer from Graph.
// Code is Graph's stable error.code; code against it, not against Message.
type GraphError struct {
	StatusCode      int
	Code            string        // error.code, e.g. "ErrorItemNotFound"
	Message         string        // error.message, for humans
	RequestID       string        // innerError.request-id, or the request-id header
	ClientRequestID string        // the client-request-id this SDK sent
	RetryAfter      time.Duration // from the Retry-After header, when Graph sent one
	Body            []byte        // the raw error body, at most 64 KiB
}

// Error returns one line with the status, code, message and both request ids,
// which is what Microsoft support asks for.
func (e *GraphError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	code := e.Code
	switch {
	case code != "":
	case len(e.Body) == 0:
		code = "(empty body)"
	default:
		code = "(no code)"
	}
	b.WriteString(": ")
	b.WriteString(code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(oneLine(e.Message, 300))
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	fmt.Fprintf(&b, " [request-id=%s client-request-id=%s]", orDash(e.RequestID), orDash(e.ClientRequestID))
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) and friends true for the matching status.
func (e *GraphError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrTooLarge:
		return e.tooLarge()
	case ErrThrottled:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrNoMailbox:
		return slices.Contains(noMailboxCodes, e.Code)
	}
	return false
}

// noMailboxCodes are Graph's codes for a user without a reachable mailbox.
var noMailboxCodes = []string{"MailboxNotEnabledForRESTAPI", "MailboxNotSupportedForRESTAPI", "ErrorNonExistentMailbox"}

// Graph's ways of saying a request or a file is too large (GRAPH-FACTS:
// adding attachments directly, upload sessions).
const (
	// codeMessageSizeExceeded ends an upload that passes the mailbox's
	// maximum message size (microsoft-graph-docs-contrib#2561).
	codeMessageSizeExceeded = "ErrorMessageSizeExceeded"
	// msgRequestTooLong is the message of the 400 BadRequest Graph answers
	// to a POST over its request limit (microsoft-graph-docs#85, #2212). Its
	// code is the generic "BadRequest", so the message is all there is.
	msgRequestTooLong = "Maximum request length exceeded"
)

// tooLarge reports whether Graph refused the request for its size: 413, the
// mailbox's message size, or the request-length 400.
func (e *GraphError) tooLarge() bool {
	return e.StatusCode == http.StatusRequestEntityTooLarge ||
		e.Code == codeMessageSizeExceeded ||
		(e.StatusCode == http.StatusBadRequest && strings.Contains(e.Message, msgRequestTooLong))
}

// graphErrorJSON is Graph's error envelope. innerError is spelled both ways in
// the wild, so both are read.
type graphErrorJSON struct {
	Error struct {
		Code       string          `json:"code"`
		Message    string          `json:"message"`
		InnerError *innerErrorJSON `json:"innerError"`
		InnerLower *innerErrorJSON `json:"innererror"`
	} `json:"error"`
}

type innerErrorJSON struct {
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

// parseGraphError builds a GraphError from a status, headers and an error
// body. It never fails: an empty, HTML or truncated body still gives a
// GraphError with the status and the header request id.
func parseGraphError(status int, h http.Header, body []byte, clientRequestID string) *GraphError {
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	ge := &GraphError{StatusCode: status, Body: body, ClientRequestID: clientRequestID}
	var env graphErrorJSON
	if json.Unmarshal(body, &env) == nil {
		ge.Code = env.Error.Code
		ge.Message = env.Error.Message
		inner := env.Error.InnerError
		if inner == nil {
			inner = env.Error.InnerLower
		}
		if inner != nil {
			ge.RequestID = inner.RequestID
			if ge.ClientRequestID == "" {
				ge.ClientRequestID = inner.ClientRequestID
			}
		}
	} else if len(body) > 0 {
		// Not Graph JSON (a gateway's HTML page): keep a readable snippet.
		ge.Message = readable(string(body))
	}
	// Gateways have put their HTML page inside error.message too
	// (GRAPH-FACTS.md, Errors and throttling).
	ge.Message = readable(ge.Message)
	if ge.RequestID == "" && h != nil {
		ge.RequestID = h.Get("request-id")
	}
	if ge.ClientRequestID == "" && h != nil {
		ge.ClientRequestID = h.Get("client-request-id")
	}
	if h != nil {
		ge.RetryAfter, _ = parseRetryAfter(h.Get("Retry-After"), time.Now())
	}
	return ge
}

// readable returns an HTML page's title (and server line) instead of the
// page, and anything else folded to one line.
func readable(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "<") {
		return oneLine(s, 200)
	}
	title := between(t, "<title>", "</title>")
	if title == "" {
		title = between(t, "<h1>", "</h1>")
	}
	out := "an HTML page"
	if title != "" {
		out += " titled " + strconv.Quote(oneLine(title, 100))
	}
	// Gateways put their name in the page's last <center> line.
	if i := strings.LastIndex(t, "<center>"); i >= 0 {
		if server := between(t[i:], "<center>", "</center>"); server != "" && !strings.Contains(server, "<") && !strings.Contains(title, server) {
			out += " from " + oneLine(server, 60)
		}
	}
	return out + " instead of Graph's error JSON"
}

// between is the text between the first start and the end after it.
func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	in, _, ok := strings.Cut(rest, end)
	if !ok {
		return ""
	}
	return strings.TrimSpace(in)
}

// oneLine folds whitespace so Error() stays on one line, and cuts at max runes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// invalidInput wraps ErrInvalidInput with what was wrong.
func invalidInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
}

// tooLarge wraps ErrTooLarge naming the size, the limit and the way out.
func tooLarge(what string, size, limit int64, hint string) error {
	// Graph takes POSTed content under its limit, sessions and whole
	// request bodies up to theirs.
	rule := "under"
	if limit == MaxUploadSize || limit == maxRequestLength {
		rule = "at most"
	}
	return fmt.Errorf("%w: %s is %d bytes, it must be %s %d bytes (%s)%s", ErrTooLarge, what, size, rule, limit, byteSize(limit), hint)
}

func byteSize(n int64) string {
	if n%1_000_000 == 0 {
		return fmt.Sprintf("%d MB", n/1_000_000)
	}
	return fmt.Sprintf("%g MiB", float64(n)/(1<<20))
}

// opError is every error a method returns: it names the operation and the
// route (ids as sent, no query string) in the SDK's one voice, and unwraps
// to the cause for errors.Is and errors.As.
type opError struct {
	op, method, route string
	err               error
}

func (e *opError) Error() string {
	var b strings.Builder
	b.WriteString("eventattach: ")
	b.WriteString(e.op)
	if e.method != "" {
		b.WriteString(" ")
		b.WriteString(e.method)
	}
	b.WriteString(" ")
	b.WriteString(e.route)
	b.WriteString(": ")
	// One voice: the prefix once, whatever the inner errors said.
	b.WriteString(strings.ReplaceAll(e.err.Error(), "eventattach: ", ""))
	return b.String()
}

func (e *opError) Unwrap() error { return e.err }

// inOp names the operation and route in *err, when there is an error.
// extra are the path segments after the route (an attachment id, $value).
func (r route) inOp(op, method string, err *error, extra ...string) {
	if *err == nil {
		return
	}
	var oe *opError
	if errors.As(*err, &oe) {
		return // named already, by the operation it went through
	}
	p, _ := r.path()
	for _, s := range extra {
		if s == "$value" {
			p += "/" + s
		} else {
			p += "/" + url.PathEscape(s)
		}
	}
	*err = &opError{op: op, method: method, route: p, err: *err}
}
