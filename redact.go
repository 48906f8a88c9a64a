package eventattach

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
)

// Redaction. An upload URL carries its authtoken in its query, and the
// upload host may echo it anywhere in an answer. Its query values are
// secrets: scrub cuts them out of whatever is shown (log records, errors,
// Graph errors), and redact drops a URL's query where a URL is shown.

// secretsOf returns the secrets of a URL: its raw query, and each query
// value of 4 characters or more, raw and escaped.
func secretsOf(rawURL string) []string {
	u, err := url.Parse(rawURL)
	if err != nil || u.RawQuery == "" {
		return nil
	}
	out := []string{u.RawQuery}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= 4 {
				out = append(out, v, url.QueryEscape(v))
			}
		}
	}
	return out
}

// scrub cuts every secret out of s.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, "…")
	}
	return s
}

// scrubGraphError cuts every secret out of every field of ge.
func scrubGraphError(ge *GraphError, secrets []string) {
	for _, f := range []*string{&ge.Code, &ge.Message, &ge.RequestID, &ge.ClientRequestID} {
		*f = scrub(*f, secrets)
	}
	for _, sec := range secrets {
		ge.Body = bytes.ReplaceAll(ge.Body, []byte(sec), []byte("…"))
	}
}

// scrubError is err, or when its text carries a secret, an error with the
// secret cut out that still unwraps to err for errors.Is and errors.As.
func scrubError(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := scrub(msg, secrets); clean != msg {
		return &redactedError{msg: clean, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact drops the query string of a URL that is shown.
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
