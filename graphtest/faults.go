package graphtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultKind is what an injected fault does to a request.
type FaultKind int

const (
	// FaultStatus answers Status with a Graph error body (Code, RetryAfter)
	// without processing the request.
	FaultStatus FaultKind = iota
	// FaultStatusAfterStore processes the request (its change is stored),
	// then answers Status with an error body instead of the success, as when
	// a gateway fails after the backend succeeded.
	FaultStatusAfterStore
	// FaultResetBeforeStore reads the request, then closes the connection
	// without processing it or answering.
	FaultResetBeforeStore
	// FaultResetAfterStore processes the request, then closes the connection
	// without answering.
	FaultResetAfterStore
	// FaultTruncateAfterStore processes the request, then answers the success
	// status and headers (with the full Content-Length) but only the first
	// half of the body, and closes the connection.
	FaultTruncateAfterStore
	// FaultSlowBody processes the request, writes the status, headers and
	// first half of the body, flushes, sleeps Latency, then writes the rest.
	FaultSlowBody
	// FaultRedirect answers 307 with Location: RedirectTo + the request's path
	// and query, without processing. An empty RedirectTo means this server's
	// Graph listener.
	FaultRedirect
	// FaultLatency sleeps Latency (less if the client gives up) and then
	// handles the request normally. The sleep happens while the request
	// counts against its mailbox's concurrency limit.
	FaultLatency
	// FaultPartialChunk makes the upload session keep only the first Keep
	// bytes of a chunk PUT (half when Keep is 0) and answer 200 with
	// nextExpectedRanges from the first byte it lacks, as
	// resources/uploadsession.md says a session may when it lacks parts.
	FaultPartialChunk
	// FaultLateCommit reads the request and answers nothing; once the
	// client has given up on it (its timeout, a cancel, a reset), the
	// server waits Latency more (wall clock) and then processes it: a
	// "zombie" request that lands after its sender stopped waiting, as a
	// gateway still forwarding it to the mailbox would: the work behind a
	// 504 has been seen to land later, and nobody documents how much
	// later (GRAPH-FACTS.md, err-19).
	// Close waits for the commit.
	FaultLateCommit
)

var faultNames = [...]string{"FaultStatus", "FaultStatusAfterStore", "FaultResetBeforeStore", "FaultResetAfterStore",
	"FaultTruncateAfterStore", "FaultSlowBody", "FaultRedirect", "FaultLatency", "FaultPartialChunk", "FaultLateCommit"}

// String is the constant's name.
func (k FaultKind) String() string {
	if k >= 0 && int(k) < len(faultNames) {
		return faultNames[k]
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// Fault is one scripted misbehaviour; see Server.Inject.
type Fault struct {
	Method     string        // the request method to match; "" matches any
	Path       string        // a substring of the escaped path to match; "" matches any
	Times      int           // how many matching requests it applies to; 0 means 1, <0 forever
	Kind       FaultKind     // what to do
	Status     int           // the status of FaultStatus and FaultStatusAfterStore; 0 means 503
	Code       string        // error.code; "" picks Graph's usual code for Status
	RetryAfter string        // Retry-After header value; "" sends none
	Latency    time.Duration // for FaultLatency and FaultSlowBody
	RedirectTo string        // for FaultRedirect: scheme://host of the target
	Keep       int64         // for FaultPartialChunk: bytes of the chunk kept; 0 means half
	// Body is the error body of FaultStatus and FaultStatusAfterStore; the
	// zero value, FaultBodyDefault, is the listener's own documented shape.
	Body FaultBody
	// Message is error.message; "" picks the words users quoted for Code
	// (MailboxInfoStale, ErrorInternalServerError), else the status text.
	// FaultBodyUnknownError and FaultBodyHTMLGateway set their own.
	Message string
}

// FaultBody is the shape of an injected error's body. Graph's documented
// shape is the default; the others are what users have pasted from 5xx
// answers.
// Source: GRAPH-FACTS.md, Errors and throttling (err-4, err-8 to err-12, err-17).
type FaultBody int

const (
	// FaultBodyDefault is the listener's own error shape: on the Graph
	// listener {"error":{"code","message","innerError":{"date","request-id",
	// "client-request-id"}}} (concepts/errors.md), on the upload listener
	// code and message only (FaultBodyPlain).
	FaultBodyDefault FaultBody = iota
	// FaultBodyPlain is {"error":{"code","message"}} without innerError, as
	// 503 MailboxInfoStale (Code "MailboxInfoStale", message "Mailbox info
	// is stale.") and 500 ErrorInternalServerError on DELETE of an
	// attachment were pasted.
	// Source: GRAPH-FACTS.md, Errors and throttling (err-11, err-12, err-17; microsoft-graph-explorer-v4#3143, #2943 [user]; devblogs.microsoft.com MailboxInfoStale [doc]).
	FaultBodyPlain
	// FaultBodyUnknownError is code "UnknownError" (unless Code is set)
	// with an empty message "" and Graph's innerError: the usual 504 (also
	// 502, 503) from the Outlook workload. Such 504s carry no Retry-After
	// (leave RetryAfter "").
	// Source: GRAPH-FACTS.md, Errors and throttling (err-7, err-8, err-10; microsoft-graph-docs#5288, #2505; microsoft-graph-explorer-v4#1918; msgraph-sdk-design PR#2 [user]).
	FaultBodyUnknownError
	// FaultBodyEmpty is no body at all: Content-Length 0 and no
	// Content-Type, as a 504 after ~30 s and a 500 on a too-large POST were
	// seen.
	// Source: GRAPH-FACTS.md, Errors and throttling (err-9; gaiin-platform/amplify-genai-backend#381) and Adding attachments (add-3; msgraph-sdk-javascript#260 [user]).
	FaultBodyEmpty
	// FaultBodyHTMLGateway is code "UnknownError" (unless Code is set) whose
	// message is an Azure Application Gateway HTML page ("502 Bad Gateway",
	// or the status's own title), with Graph's innerError (assumed: the
	// paste shows code and message only).
	// Source: GRAPH-FACTS.md, Errors and throttling (err-10; microsoft-graph-docs#10791 [user]).
	FaultBodyHTMLGateway
)

func (f *Fault) matches(method, path string) bool {
	return (f.Method == "" || strings.EqualFold(f.Method, method)) && strings.Contains(path, f.Path)
}

// FaultChance is a fault drawn at random with probability P per request; see
// Server.RandomFaults.
type FaultChance struct {
	Fault Fault
	P     float64
}

// faultTable holds the scripted and random faults and counts those applied.
type faultTable struct {
	mu       sync.Mutex
	scripted []*scriptedFault
	rng      *rand.Rand
	chances  []FaultChance
	counts   map[FaultKind]int
}

type scriptedFault struct {
	f    Fault
	left int // <0: forever
}

// Inject queues faults in order. Each request on either listener takes the
// first queued fault that matches it and still has uses left.
func (s *Server) Inject(f ...Fault) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	for _, x := range f {
		left := x.Times
		if left == 0 {
			left = 1
		}
		s.faults.scripted = append(s.faults.scripted, &scriptedFault{f: x, left: left})
	}
}

// RandomFaults makes each request that no scripted fault matched draw at
// most one of chances, with probability P each (their P should sum to at
// most 1), from a generator seeded with seed: the sequence of draws repeats
// from run to run, though with concurrent requests which request gets which
// draw follows their order of arrival. Fault.Method
// and Fault.Path filter as for Inject; Times is ignored. Calling it with no
// chances turns random faults off.
func (s *Server) RandomFaults(seed int64, chances ...FaultChance) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.rng = rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	s.faults.chances = append([]FaultChance(nil), chances...)
}

// FaultsInjected counts the faults applied so far, by kind.
func (s *Server) FaultsInjected() map[FaultKind]int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := make(map[FaultKind]int, len(s.faults.counts))
	for k, v := range s.faults.counts {
		out[k] = v
	}
	return out
}

// pick chooses the fault for a request, if any.
func (t *faultTable) pick(method, path string) (Fault, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, sf := range t.scripted {
		if !sf.f.matches(method, path) {
			continue
		}
		if sf.left > 0 {
			if sf.left--; sf.left == 0 {
				t.scripted = append(t.scripted[:i:i], t.scripted[i+1:]...)
			}
		}
		t.counts[sf.f.Kind]++
		return sf.f, true
	}
	if len(t.chances) == 0 {
		return Fault{}, false
	}
	// One draw per request keeps the sequence of faults a function of the
	// seed and the sequence of requests.
	u, acc := t.rng.Float64(), 0.0
	for _, ch := range t.chances {
		acc += ch.P
		if u < acc {
			if !ch.Fault.matches(method, path) {
				return Fault{}, false
			}
			t.counts[ch.Fault.Kind]++
			return ch.Fault, true
		}
	}
	return Fault{}, false
}

// applyFault handles a request under fault f. It reports whether the
// connection was hijacked (and so must not be touched any more).
func (s *Server) applyFault(c *call, sw *statusWriter, f Fault, h func(*call)) bool {
	errorOut := func(status int) {
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		c.faultError(sw, f, status)
	}
	// buffered runs the handler normally but keeps its answer.
	buffered := func() *bufferWriter {
		bw := &bufferWriter{header: sw.Header().Clone()}
		c.w = bw
		h(c)
		c.w = sw
		if bw.status == 0 {
			// The handler gave up (the client went away); nothing to send.
			bw.status = http.StatusOK
		}
		return bw
	}
	emitHeader := func(bw *bufferWriter) {
		for k, v := range bw.header {
			sw.Header()[k] = v
		}
		if len(bw.body) > 0 {
			// The full length, so a client can tell a cut-off body.
			sw.Header().Set("Content-Length", strconv.Itoa(len(bw.body)))
		}
		sw.WriteHeader(bw.status)
	}

	switch f.Kind {
	case FaultStatus:
		errorOut(f.Status)
	case FaultStatusAfterStore:
		buffered()
		errorOut(f.Status)
	case FaultResetBeforeStore:
		c.r.Body.(*captureBody).drain()
		return hijackClose(sw, nil)
	case FaultResetAfterStore:
		buffered()
		c.r.Body.(*captureBody).drain()
		return hijackClose(sw, nil)
	case FaultTruncateAfterStore:
		bw := buffered()
		c.r.Body.(*captureBody).drain()
		sw.status, sw.answered = bw.status, true
		return hijackClose(sw, func(w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n", bw.status, http.StatusText(bw.status))
			bw.header.Set("Content-Length", strconv.Itoa(len(bw.body)))
			bw.header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
			bw.header.Set("Connection", "close")
			bw.header.Write(w)
			w.WriteString("\r\n")
			w.Write(bw.body[:len(bw.body)/2])
		})
	case FaultSlowBody:
		bw := buffered()
		emitHeader(bw)
		half := len(bw.body) / 2
		sw.Write(bw.body[:half])
		http.NewResponseController(sw).Flush()
		if sleepCtx(c.r.Context(), f.Latency) {
			sw.Write(bw.body[half:])
		}
	case FaultRedirect:
		to := f.RedirectTo
		if to == "" {
			to = s.graph.base()
		}
		sw.Header().Set("Location", strings.TrimSuffix(to, "/")+c.r.URL.RequestURI())
		sw.WriteHeader(http.StatusTemporaryRedirect)
	case FaultLatency:
		c.latency += f.Latency
		h(c)
	case FaultPartialChunk:
		c.partial, c.keep = true, f.Keep
		h(c)
	case FaultLateCommit:
		body, _ := io.ReadAll(c.r.Body)
		<-c.r.Context().Done() // the client gave up
		time.Sleep(f.Latency)
		r := c.r.Clone(context.WithoutCancel(c.r.Context()))
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		c.r = r
		buffered() // stored; the answer goes nowhere
		c.releaseSlot()
		return true
	default:
		h(c)
	}
	return false
}

// faultError writes the error body of a FaultStatus or FaultStatusAfterStore
// per f.Body.
func (c *call) faultError(w http.ResponseWriter, f Fault, status int) {
	shape, code, msg, defaultMsg := c.errorShapeFor(status), f.Code, f.Message, true
	switch f.Body {
	case FaultBodyPlain:
		shape = shapePlain
	case FaultBodyUnknownError:
		shape, defaultMsg = shapeGraph, false
		if code == "" {
			code = "UnknownError"
		}
	case FaultBodyEmpty:
		shape = shapeEmpty
	case FaultBodyHTMLGateway:
		shape = shapeGraph
		if code == "" {
			code = "UnknownError"
		}
		if msg == "" {
			msg = gatewayPage(status)
		}
	}
	writeErrorMsg(w, shape, status, code, msg, defaultMsg, f.RetryAfter, c.requestID, c.clientRequestID)
}

// gatewayPage is Azure Application Gateway's error page, as
// microsoft-graph-docs#10791 quotes it inside error.message.
func gatewayPage(status int) string {
	title := fmt.Sprintf("%d %s", status, http.StatusText(status))
	return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
		"</h1></center>\r\n<hr><center>Microsoft-Azure-Application-Gateway/v2</center>\r\n</body>\r\n</html>\r\n"
}

// hijackClose takes over the connection, optionally writes raw bytes, and
// closes it: the client sees a reset or a cut-off answer.
func hijackClose(sw *statusWriter, write func(*bufio.Writer)) bool {
	conn, brw, err := http.NewResponseController(sw).Hijack()
	if err != nil {
		// Cannot happen on HTTP/1.1; answer something rather than hang.
		sw.WriteHeader(http.StatusInternalServerError)
		return false
	}
	if write != nil {
		write(brw.Writer)
		brw.Flush()
	}
	conn.Close()
	return true
}
