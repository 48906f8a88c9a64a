package graphtest

import (
	"io"
	"net/http"
	"slices"
	"sync"
)

// Request is a request one of the listeners received, as Requests reports it.
type Request struct {
	Method   string
	Path     string // the escaped path as received (r.URL.EscapedPath())
	RawQuery string
	Header   http.Header
	Body     []byte // the first Options.MaxBodyRecorded bytes
	BodySize int64  // bytes of body received in all
	Status   int    // status answered; 0 if the connection was reset, or while in progress
	Host     string // the listener's host:port: URL()'s or UploadURLBase()'s
}

// recorder keeps every request, in arrival order.
type recorder struct {
	mu   sync.Mutex
	reqs []*Request
}

func (rc *recorder) start(r *http.Request, host string) *Request {
	req := &Request{
		Method:   r.Method,
		Path:     r.URL.EscapedPath(),
		RawQuery: r.URL.RawQuery,
		Header:   r.Header.Clone(),
		Host:     host,
	}
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, req)
	rc.mu.Unlock()
	return req
}

func (rc *recorder) finish(req *Request, body *captureBody, status int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	req.Body = slices.Clone(body.head)
	req.BodySize = body.n
	req.Status = status
}

// Requests returns copies of the requests received on both listeners so
// far, in arrival order.
func (s *Server) Requests() []Request {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	out := make([]Request, len(s.rec.reqs))
	for i, r := range s.rec.reqs {
		out[i] = *r
		out[i].Header = r.Header.Clone()
		out[i].Body = slices.Clone(r.Body)
	}
	return out
}

// ResetRequests forgets the requests recorded so far.
func (s *Server) ResetRequests() {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	s.rec.reqs = nil
}

// captureBody wraps a request body, keeping its first bytes and counting
// them all as the handler reads.
type captureBody struct {
	rc   io.ReadCloser
	max  int
	head []byte
	n    int64
}

func newCaptureBody(rc io.ReadCloser, max int) *captureBody {
	return &captureBody{rc: rc, max: max}
}

func (b *captureBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if room := b.max - len(b.head); room > 0 {
		b.head = append(b.head, p[:min(n, room)]...)
	}
	b.n += int64(n)
	return n, err
}

func (b *captureBody) Close() error { return b.rc.Close() }

// drainLimit bounds how much unread body is consumed after the answer: more
// than the largest chunk or JSON body, so the whole body gets recorded.
const drainLimit = 64 << 20

// drain reads what the handler left of the body, so BodySize is the full
// size and the connection can be reused.
func (b *captureBody) drain() {
	io.Copy(io.Discard, io.LimitReader(b, drainLimit))
}

// statusWriter remembers the status answered.
type statusWriter struct {
	http.ResponseWriter
	status   int
	answered bool
	onAnswer func() // called once, before the answer's first byte goes out
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.answered {
		w.status, w.answered = code, true
		w.answer()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if !w.answered {
		w.status, w.answered = http.StatusOK, true
		w.answer()
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) answer() {
	if f := w.onAnswer; f != nil {
		w.onAnswer = nil
		f()
	}
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bufferWriter collects a handler's answer so a fault can change it after
// the handler has stored its change.
type bufferWriter struct {
	header http.Header
	status int
	body   []byte
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *bufferWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, p...)
	return len(p), nil
}
