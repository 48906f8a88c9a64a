package graphtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Options tunes a Server. The zero value (or a nil *Options) gives Graph's
// documented defaults.
type Options struct {
	// MailboxConcurrency is how many requests may be in flight per mailbox
	// before the next one gets 429 ApplicationThrottled; 0 means 4 (Outlook's
	// limit), a negative value means unlimited. Requests on the upload
	// listener count against the mailbox of their session too.
	MailboxConcurrency int
	// ThrottleRetryAfter is the Retry-After value sent with that 429; ""
	// means "1".
	ThrottleRetryAfter string
	// PageSize is the default page size for listing attachments; 0 means 10.
	// A request's $top overrides it.
	PageSize int
	// UploadSessionTTL is how long an upload session lives; 0 means 24h.
	UploadSessionTTL time.Duration
	// PascalCaseUploads makes chunk answers use "NextExpectedRanges" and
	// "ExpirationDateTime", as some clouds do, to check that clients accept
	// both spellings.
	PascalCaseUploads bool
	// MaxBodyRecorded is how many bytes of each request body are kept in
	// Requests(); 0 means 64 KiB, a negative value keeps none.
	MaxBodyRecorded int
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.MailboxConcurrency == 0 {
		r.MailboxConcurrency = 4
	}
	if r.ThrottleRetryAfter == "" {
		r.ThrottleRetryAfter = "1"
	}
	if r.PageSize <= 0 {
		r.PageSize = 10
	}
	if r.UploadSessionTTL <= 0 {
		r.UploadSessionTTL = 24 * time.Hour
	}
	if r.MaxBodyRecorded == 0 {
		r.MaxBodyRecorded = 64 << 10
	}
	return r
}

// Server is a running Graph emulator. Create it with NewServer and stop it
// with Close. All methods are safe for concurrent use.
type Server struct {
	opts Options
	cred *Credential

	graph  *listener
	upload *listener

	// mu guards the store: mailboxes, calendars, events, attachments,
	// upload sessions and the per-mailbox in-flight counters.
	mu       sync.Mutex
	me       *Mailbox
	users    []*Mailbox // in creation order; few enough to scan
	groups   map[string]*Mailbox
	sessions map[string]*uploadSession
	inflight map[*Mailbox]int

	rec    recorder
	faults faultTable
}

// listener is one of the two loopback HTTP servers.
type listener struct {
	srv  *http.Server
	host string // host:port
}

func (l *listener) base() string { return "http://" + l.host }

// NewServer starts a Server on two random loopback ports at once. A nil opts
// means the defaults. It panics if it cannot listen, like httptest.NewServer.
func NewServer(opts *Options) *Server {
	s := &Server{
		opts:     opts.withDefaults(),
		cred:     newCredential(),
		groups:   map[string]*Mailbox{},
		sessions: map[string]*uploadSession{},
		inflight: map[*Mailbox]int{},
	}
	s.faults.counts = map[FaultKind]int{}
	s.me = newMailbox(s, "me-0000", "me@contoso.com", false)
	s.users = append(s.users, s.me)
	s.graph = startListener(s.serve(s.handleGraph))
	s.upload = startListener(s.serve(s.handleUpload))
	return s
}

func startListener(h http.Handler) *listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if ln, err = net.Listen("tcp6", "[::1]:0"); err != nil {
			panic(fmt.Sprintf("graphtest: failed to listen on a port: %v", err))
		}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // Serve always returns an error once closed
	return &listener{srv: srv, host: ln.Addr().String()}
}

// URL is the Graph version root, e.g. "http://127.0.0.1:PORT/v1.0"; pass it
// as the client's base URL.
func (s *Server) URL() string { return s.graph.base() + "/v1.0" }

// UploadURLBase is the root ("http://127.0.0.1:PORT") of the second
// listener, which serves upload sessions. Its host:port differs from URL's,
// as outlook.office.com differs from graph.microsoft.com.
func (s *Server) UploadURLBase() string { return s.upload.base() }

// Credential is the token credential whose tokens this server accepts.
func (s *Server) Credential() *Credential { return s.cred }

// ExpireTokens makes every token issued so far invalid: requests carrying one
// get 401 InvalidAuthenticationToken with a CAE claims challenge, so a client
// must fetch a new token (GetToken still works).
func (s *Server) ExpireTokens() { s.cred.revokeAll() }

// Close stops both listeners and drops their open connections. Stored state
// stays inspectable afterwards.
func (s *Server) Close() {
	s.graph.srv.Close()
	s.upload.srv.Close()
}

// call is one request in progress, with what every answer needs.
type call struct {
	s               *Server
	w               http.ResponseWriter
	r               *http.Request
	requestID       string
	clientRequestID string

	// latency is set by FaultLatency; wait applies it once, inside the
	// mailbox's in-flight window, so latency faults can trigger throttling.
	latency time.Duration
	waited  bool
}

// wait sleeps the injected latency once, honouring the request context. It
// reports false if the client went away meanwhile.
func (c *call) wait() bool {
	if c.waited || c.latency <= 0 {
		c.waited = true
		return c.r.Context().Err() == nil
	}
	c.waited = true
	return sleepCtx(c.r.Context(), c.latency)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// serve wraps a listener's handler with what every request gets, on both
// listeners: ids, recording, and fault injection.
func (s *Server) serve(h func(*call)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := s.graph.host
		if ln, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && ln.String() == s.upload.host {
			host = s.upload.host
		}
		body := newCaptureBody(r.Body, s.opts.MaxBodyRecorded)
		r.Body = body
		rec := s.rec.start(r, host)

		c := &call{
			s:               s,
			r:               r,
			requestID:       uuid.NewString(),
			clientRequestID: r.Header.Get("client-request-id"),
		}
		sw := &statusWriter{ResponseWriter: w}
		c.w = sw
		sw.Header().Set("request-id", c.requestID)
		if c.clientRequestID != "" {
			sw.Header().Set("client-request-id", c.clientRequestID)
		}

		f, ok := s.faults.pick(r.Method, r.URL.EscapedPath())
		hijacked := false
		if ok {
			hijacked = s.applyFault(c, sw, f, h)
		} else {
			h(c)
		}
		if !hijacked {
			body.drain()
		}
		status := sw.status
		if hijacked && !sw.answered {
			status = 0
		}
		s.rec.finish(rec, body, status)
	})
}

// acquire takes one of the mailbox's in-flight slots, or reports false when
// the mailbox is over its concurrency limit.
func (s *Server) acquire(m *Mailbox) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.MailboxConcurrency > 0 && s.inflight[m] >= s.opts.MailboxConcurrency {
		return false
	}
	s.inflight[m]++
	return true
}

func (s *Server) release(m *Mailbox) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[m]--; s.inflight[m] <= 0 {
		delete(s.inflight, m)
	}
}

// throttle answers 429 the way Outlook does when a mailbox is busy.
func (c *call) throttle() {
	c.failRetry(http.StatusTooManyRequests, "ApplicationThrottled",
		"Application is over its MailboxConcurrency limit.", c.s.opts.ThrottleRetryAfter)
}
