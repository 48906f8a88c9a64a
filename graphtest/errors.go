package graphtest

import (
	"net/http"
	"time"
)

// fail answers a Graph error: {"error":{"code","message","innerError":{...}}}.
// Clients are meant to act on code, never on message.
func (c *call) fail(status int, code, msg string) {
	c.failRetry(status, code, msg, "")
}

// failRetry is fail with a Retry-After header (when retryAfter is not "").
func (c *call) failRetry(status int, code, msg, retryAfter string) {
	// An injected latency still applies to requests that fail early.
	c.wait()
	writeError(c.w, status, code, msg, retryAfter, c.requestID, c.clientRequestID)
}

func writeError(w http.ResponseWriter, status int, code, msg, retryAfter, requestID, clientRequestID string) {
	if code == "" {
		code = defaultCode(status)
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", bearerChallenge)
	}
	inner := obj{
		{"date", time.Now().UTC().Format("2006-01-02T15:04:05")},
		{"request-id", requestID},
		{"client-request-id", clientRequestID},
	}
	writeJSONTo(w, status, "application/json", obj{{"error", obj{
		{"code", code},
		{"message", msg},
		{"innerError", inner},
	}}})
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
