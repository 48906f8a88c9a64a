package eventattach

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/eventattach/eventattach/internal/pace"
)

// The transport side of one attempt: the bearer token only for the Graph
// origin, pacing by the mailbox's limits, no redirect for a write, the
// error answer kept (scrubbed), and one log record.

// keepError reads (at most 64 KiB of) an error answer into s.answer.
// A read the attempt's bounds cut short is that bound's error instead.
func (s *sender) keepError(resp *http.Response) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var be *BoundError
	if errors.As(err, &be) {
		return be
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	s.answer = parseGraphError(resp.StatusCode, resp.Header, body, s.ex.requestID)
	if s.ex.upload {
		// The upload host may echo its authtoken anywhere in an answer.
		scrubGraphError(s.answer, secretsOf(s.ex.url))
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && s.answer.Message == "" {
		// Only writes stop at a redirect: say why, and where it pointed.
		target := "another URL"
		if u, err := resp.Location(); err == nil {
			target = u.Scheme + "://" + u.Host
		}
		s.answer.Message = "redirect to " + target + " not followed: a write is never re-sent elsewhere"
	}
	return nil
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
	// A token never leaves the Graph origin: not to an upload host, not
	// after a redirect. The first hop carries what attempt set; a hop that
	// would carry it wrongly goes as a copy with its header corrected.
	r := req
	want := ""
	if !s.ex.upload && s.c.sendsToken(r.URL) {
		want = s.authHeader
	}
	if r.Header.Get("Authorization") != want {
		r = req.Clone(ctx)
		r.Body = req.Body
		if want == "" {
			r.Header.Del("Authorization")
		} else {
			r.Header.Set("Authorization", want)
		}
	}
	// Pacing (internal/pace): a slot of the mailbox, and room in its
	// request and byte budgets, before anything is sent. A prepaid
	// exchange's first attempt brings its budget reservation along.
	var n int64
	if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodDelete {
		n = max(r.ContentLength, 0)
	}
	t, err := s.c.limiter.Acquire(ctx, s.ex.mailbox, n, s.ex.paid)
	if tl := (*pace.TooLong)(nil); errors.As(err, &tl) {
		// The mailbox would hold the request past ctx's deadline (a 429's
		// Retry-After, a budget's window): give up at once.
		closeBody(req)
		return nil, fmt.Errorf("%w: %w", ErrThrottled, err)
	}
	if err != nil {
		closeBody(req)
		s.slotErr = err
		return nil, err
	}
	s.tracePacing(t.Waits)
	s.w.arm()
	resp, err := s.c.rt.RoundTrip(r)
	if err != nil {
		t.Done()
		return resp, err
	}
	// The answer's body kicks the stall watch as it is read; a Content body
	// that outlives the attempt ends the watch when it is closed.
	keep := s.ex.keepBody && s.ex.ok(resp.StatusCode)
	resp.Body = &watchedReader{r: resp.Body, w: s.w, closer: resp.Body, owns: keep}
	if keep {
		s.w.handOver()
		s.handedOver = true
	}
	if s.c.limiter != nil {
		var ra time.Duration
		overBytes := false
		if resp.StatusCode == http.StatusTooManyRequests {
			// Hold the mailbox for the Retry-After only when this call is
			// going to wait it out too.
			if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok && s.c.willWaitOut(ctx, d) {
				ra = d
			}
			overBytes = overByteBudget(resp)
		}
		t.Answered(resp.StatusCode, ra, overBytes)
		resp.Body = t.DoneWhenRead(resp.Body)
	}
	return resp, err
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
	if secrets := secretsOf(u.String()); secrets != nil {
		// An upload URL's host may echo its authtoken (in a header, an error):
		// no query value reaches a log record.
		for i, a := range attrs {
			if a.Value.Kind() == slog.KindString {
				attrs[i].Value = slog.StringValue(scrub(a.Value.String(), secrets))
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

// closeBody keeps the RoundTripper contract on an early return: the body is
// closed even on errors (an upload chunk's buffer waits for it).
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// overByteBudget says whether a 429 is for the mailbox's upload budget:
// its message is "Application is over its IncomingBytes limit."
// (GRAPH-FACTS.md, err-2), where the concurrency limit's names
// MailboxConcurrency. It reads the start of the (small) body and puts it
// back.
func overByteBudget(resp *http.Response) bool {
	head := make([]byte, 1024)
	n, _ := io.ReadFull(resp.Body, head)
	head = head[:n]
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	return bytes.Contains(head, []byte("IncomingBytes"))
}
