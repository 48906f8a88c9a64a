package graphtest

import (
	"net/http"
	"time"
)

// fail answers a Graph error: {"error":{"code","message","innerError":{...}}}
// on the Graph listener, the upload host's plainer shape on the upload
// listener (errorShapeFor). Clients are meant to act on code, never on
// message.
func (c *call) fail(status int, code, msg string) {
	c.failRetry(status, code, msg, "")
}

// failRetry is fail with a Retry-After header (when retryAfter is not "").
func (c *call) failRetry(status int, code, msg, retryAfter string) {
	// An injected latency still applies to requests that fail early.
	c.wait()
	writeError(c.w, c.errorShapeFor(status), status, code, msg, retryAfter, c.requestID, c.clientRequestID)
}

// errorShape is how an error body is written.
type errorShape int

const (
	// shapeGraph is Graph's documented error: code, message and innerError
	// {date, request-id, client-request-id}.
	// Source: GRAPH-FACTS.md, Errors and throttling (err-4, err-16; concepts/errors.md [doc]; microsoft-graph-docs-contrib#710).
	shapeGraph errorShape = iota
	// shapePlain is {"error":{"code","message"}} without innerError.
	// Source: GRAPH-FACTS.md, Errors and throttling (err-16; msgraph-sdk-java-core#445, microsoft-graph-docs-contrib#2561 [user]).
	shapePlain
	// shapeOAuth is the upload host's 401: innerError has the OAuth event's
	// ids instead of Graph's request ids.
	// Source: GRAPH-FACTS.md, Errors and throttling (err-16; msgraph-sdk-dotnet#2239, msgraph-sdk-java-core#445 [user]).
	shapeOAuth
	// shapeEmpty is no body at all (Content-Length: 0, no Content-Type).
	// Source: GRAPH-FACTS.md, Errors and throttling (err-9; gaiin-platform/amplify-genai-backend#381) and Adding attachments (add-3; msgraph-sdk-javascript#260 [user]).
	shapeEmpty
)

// errorShapeFor is the shape of the call's own errors: Graph's on the Graph
// listener; on the upload listener (Outlook's host) code and message only,
// except a 401, whose innerError carries oAuthEventOperationId.
// Source: GRAPH-FACTS.md, Errors and throttling (err-16; msgraph-sdk-java-core#445, microsoft-graph-docs-contrib#2561 [user]).
func (c *call) errorShapeFor(status int) errorShape {
	switch {
	case !c.upload:
		return shapeGraph
	case status == http.StatusUnauthorized:
		return shapeOAuth
	}
	return shapePlain
}

func writeError(w http.ResponseWriter, shape errorShape, status int, code, msg, retryAfter, requestID, clientRequestID string) {
	writeErrorMsg(w, shape, status, code, msg, msg == "", retryAfter, requestID, clientRequestID)
}

// writeErrorMsg writes an error; defaultMsg fills an empty message with the
// status text (an empty message is sent as "" otherwise).
func writeErrorMsg(w http.ResponseWriter, shape errorShape, status int, code, msg string, defaultMsg bool, retryAfter, requestID, clientRequestID string) {
	if code == "" {
		code = defaultCode(status)
	}
	if msg == "" && defaultMsg {
		msg = defaultMessage(status, code)
	}
	h := w.Header()
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", bearerChallenge)
	}
	if shape == shapeEmpty {
		h.Del("Content-Type")
		h.Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	date := time.Now().UTC().Format("2006-01-02T15:04:05")
	e := obj{{"code", code}, {"message", msg}}
	switch shape {
	case shapeGraph:
		e = append(e, kv{"innerError", obj{
			{"date", date},
			{"request-id", requestID},
			{"client-request-id", clientRequestID},
		}})
	case shapeOAuth:
		// The keys of msgraph-sdk-dotnet#2239's 401 from outlook.office365.com.
		e = append(e, kv{"innerError", obj{
			{"oAuthEventOperationId", requestID},
			{"oAuthEventcV", "graphtest." + requestID[:8] + ".1.1"},
			{"errorUrl", "https://aka.ms/autherrors#error-InvalidResource"},
			{"requestId", requestID},
			{"date", date},
		}})
	}
	writeJSONTo(w, status, "application/json", obj{{"error", e}})
}

// defaultMessage is the message of an error that names none: the words
// users quoted for the codes seen with faults, else the status text.
func defaultMessage(status int, code string) string {
	switch code {
	case "MailboxInfoStale":
		// Source: GRAPH-FACTS.md, Errors and throttling (err-17; devblogs.microsoft.com error-improvement-for-invalid-x-anchormailbox [doc]).
		return "Mailbox info is stale."
	case "ErrorInternalServerError":
		// Source: GRAPH-FACTS.md, Errors and throttling (err-12; microsoft-graph-explorer-v4#2943 [user]).
		return "An internal server error occurred. The operation failed."
	}
	return http.StatusText(status)
}

// bearerChallenge is Graph's plain WWW-Authenticate challenge.
const bearerChallenge = `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`

// defaultCode picks Graph's usual error code for a status, for faults that
// name none.
func defaultCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "BadRequest"
	case http.StatusUnauthorized:
		return "InvalidAuthenticationToken"
	case http.StatusForbidden:
		return "ErrorAccessDenied"
	case http.StatusNotFound:
		return "ErrorItemNotFound"
	case http.StatusMethodNotAllowed:
		return "ErrorInvalidRequest"
	case http.StatusConflict:
		return "ErrorIrresolvableConflict"
	case http.StatusRequestEntityTooLarge:
		return "ErrorRequestEntityTooLarge"
	case http.StatusRequestedRangeNotSatisfiable:
		return "InvalidRange"
	case http.StatusTooManyRequests:
		return "ApplicationThrottled"
	case http.StatusInternalServerError:
		return "generalException"
	case http.StatusBadGateway:
		return "BadGateway"
	case http.StatusServiceUnavailable:
		return "serviceNotAvailable"
	case http.StatusGatewayTimeout:
		return "GatewayTimeout"
	}
	return "UnknownError"
}
