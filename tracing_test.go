package eventattach

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// spanRecorder is an in-memory tracing.Provider: it keeps every span with
// its parent (carried in ctx, as OpenTelemetry's are), attributes, events
// and status.
type spanRecorder struct {
	mu    sync.Mutex
	spans []*recSpan
}

type recSpan struct {
	id, parent int
	tracer     string
	name       string
	kind       tracing.SpanKind
	attrs      map[string]any
	events     []recEvent
	status     tracing.SpanStatus
	desc       string
	ended      bool
}

type recEvent struct {
	name  string
	attrs map[string]any
}

type recSpanKey struct{}

func (r *spanRecorder) provider() tracing.Provider {
	return tracing.NewProvider(func(module, version string) tracing.Tracer {
		return tracing.NewTracer(func(ctx context.Context, name string, o *tracing.SpanOptions) (context.Context, tracing.Span) {
			r.mu.Lock()
			sp := &recSpan{id: len(r.spans) + 1, tracer: module + "@" + version, name: name, kind: o.Kind, attrs: map[string]any{}}
			if p, ok := ctx.Value(recSpanKey{}).(*recSpan); ok {
				sp.parent = p.id
			}
			for _, a := range o.Attributes {
				sp.attrs[a.Key] = a.Value
			}
			r.spans = append(r.spans, sp)
			r.mu.Unlock()
			return context.WithValue(ctx, recSpanKey{}, sp), tracing.NewSpan(tracing.SpanImpl{
				End: func() { r.mu.Lock(); sp.ended = true; r.mu.Unlock() },
				SetAttributes: func(attrs ...tracing.Attribute) {
					r.mu.Lock()
					defer r.mu.Unlock()
					for _, a := range attrs {
						sp.attrs[a.Key] = a.Value
					}
				},
				AddEvent: func(name string, attrs ...tracing.Attribute) {
					r.mu.Lock()
					defer r.mu.Unlock()
					ev := recEvent{name: name, attrs: map[string]any{}}
					for _, a := range attrs {
						ev.attrs[a.Key] = a.Value
					}
					sp.events = append(sp.events, ev)
				},
				SetStatus: func(s tracing.SpanStatus, desc string) {
					r.mu.Lock()
					sp.status, sp.desc = s, desc
					r.mu.Unlock()
				},
			})
		}, &tracing.TracerOptions{SpanFromContext: func(ctx context.Context) tracing.Span { return tracing.Span{} }})
	}, nil)
}

func (r *spanRecorder) all() []recSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]recSpan, len(r.spans))
	for i, s := range r.spans {
		out[i] = *s
	}
	return out
}

// tree renders the spans as an indented tree, one line a span (name, then
// the status code, error.type and the chunk's offset when set) and one a
// event (name and reason or result); no timings.
func (r *spanRecorder) tree() string {
	spans := r.all()
	var b strings.Builder
	var walk func(parent, depth int)
	walk = func(parent, depth int) {
		for _, s := range spans {
			if s.parent != parent {
				continue
			}
			ind := strings.Repeat("  ", depth)
			b.WriteString(ind + s.name)
			for _, k := range []string{attrChunkOffset, attrStatus, attrErrorType, attrCheckResult} {
				if v, ok := s.attrs[k]; ok {
					fmt.Fprintf(&b, " %s=%v", k[strings.LastIndexByte(k, '.')+1:], v)
				}
			}
			if !s.ended {
				b.WriteString(" (not ended)")
			}
			b.WriteString("\n")
			for _, e := range s.events {
				b.WriteString(ind + "  · " + e.name)
				for _, k := range []string{attrWaitReason, attrCheckResult} {
					if v, ok := e.attrs[k]; ok {
						fmt.Fprintf(&b, " %v", v)
					}
				}
				b.WriteString("\n")
			}
			walk(s.id, depth+1)
		}
	}
	walk(0, 0)
	return b.String()
}

func newTracedServer(t *testing.T, opts *graphtest.Options) (*graphtest.Server, *Client, *spanRecorder) {
	t.Helper()
	rec := &spanRecorder{}
	srv, c := newUploadServer(t, opts, func(o *ClientOptions) { o.TracingProvider = rec.provider() })
	return srv, c, rec
}

func TestTracingAddFileAfter504ShowsTheDuplicateCheck(t *testing.T) {
	t.Parallel()
	srv, c, rec := newTracedServer(t, nil)
	srv.User("adele@contoso.com").AddEvent("AAMkEvt=")
	// The gateway answers 504 although Graph stored the attachment.
	srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatusAfterStore, Status: 504})

	att, err := c.Users("adele@contoso.com").Events("AAMkEvt=").Attachments().AddFile(context.Background(),
		&FileAttachment{Name: "agenda.txt", ContentType: "text/plain", ContentBytes: []byte("mac and cheese today")})
	require.NoError(t, err)
	assert.Len(t, srv.Attachments("adele@contoso.com", "AAMkEvt="), 1)
	assert.NotEmpty(t, att.ID)

	const want = `AddFile /users/{id}/events/{id}/attachments
  · retry wait reconcile
  · duplicate check found
  POST /users/{id}/events/{id}/attachments status_code=504 type=504
  duplicate check result=found
    GET /users/{id}/events/{id}/attachments status_code=200
    GET /users/{id}/events/{id}/attachments/{id}/$value status_code=200
`
	assert.Equal(t, want, rec.tree())

	spans := rec.all()
	op := spans[0]
	assert.Equal(t, tracing.SpanKindInternal, op.kind)
	assert.Equal(t, tracing.SpanStatusOK, op.status)
	assert.Equal(t, "AddFile", op.attrs[attrOperation])
	assert.Equal(t, "/users/{id}/events/{id}/attachments", op.attrs[attrRoute])
	assert.Equal(t, "Microsoft.Graph", op.attrs[attrNamespace])
	assert.Equal(t, tracerModule+"@"+Version, op.tracer)
	post := spans[1]
	assert.Equal(t, tracing.SpanKindClient, post.kind)
	assert.Equal(t, tracing.SpanStatusError, post.status)
	assert.Equal(t, http.MethodPost, post.attrs[attrMethod])
	assert.Equal(t, 1, post.attrs[attrAttempt])
	assert.Equal(t, "GatewayTimeout", post.attrs[attrGraphCode])
	assert.NotEmpty(t, post.attrs[attrClientRequestID])
	assert.NotEmpty(t, post.attrs[attrServiceRequestID])
	assert.Equal(t, "127.0.0.1", post.attrs[attrServerAddress])
}

func TestTracingAddFileAfter504ResendsWhenAbsent(t *testing.T) {
	t.Parallel()
	srv, c, rec := newTracedServer(t, nil)
	srv.Me().AddEvent("e1")
	// The 504 came before Graph stored anything: the check finds nothing and
	// the POST is sent again, as a retry.
	srv.Inject(graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatus, Status: 504})

	_, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("x")})
	require.NoError(t, err)
	const want = `AddFile /me/events/{id}/attachments
  · retry wait reconcile
  · duplicate check absent
  POST /me/events/{id}/attachments status_code=504 type=504
  duplicate check result=absent
    GET /me/events/{id}/attachments status_code=200
  POST /me/events/{id}/attachments status_code=201
`
	assert.Equal(t, want, rec.tree())
	// The POST after the check is the same send's second attempt, with the
	// operation's client-request-id.
	spans := rec.all()
	first, last := spans[1], spans[len(spans)-1]
	assert.Equal(t, 2, last.attrs[attrAttempt])
	assert.Equal(t, 1, last.attrs[attrResendCount])
	assert.Equal(t, first.attrs[attrClientRequestID], last.attrs[attrClientRequestID])
	assert.Equal(t, tracing.SpanStatusUnset, last.status)
}

func TestTracingUploadWithOneRetriedChunk(t *testing.T) {
	t.Parallel()
	// Three chunks of 1.25 MiB; the second is throttled once (503) and sent
	// again by the engine.
	const size, chunk = MaxAddSize + 300<<10, 4 * ChunkSizeUnit
	srv, c, rec := newTracedServer(t, nil)
	srv.User("adele").AddEvent("e1")
	content, sum := hashedContent(size)
	_, err := c.Users("adele").Events("e1").Attachments().Upload(context.Background(), FileUpload{
		Name: "report.pdf", Content: content, Size: size, ChunkSize: chunk,
		Progress: failOn(srv, 1, graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultStatus, Status: 503}),
	})
	require.NoError(t, err)
	_, storedHash := storedSum(t, srv, "adele", "e1")
	assert.Equal(t, sum(), storedHash)

	const want = `Upload /users/{id}/events/{id}/attachments
  POST /users/{id}/events/{id}/attachments/createUploadSession status_code=201
  upload chunk offset=0
    PUT {uploadUrl} status_code=200
  upload chunk offset=1310720
    PUT {uploadUrl} status_code=503 type=503
      · retry wait throttled
    PUT {uploadUrl} status_code=200
  upload chunk offset=2621440
    PUT {uploadUrl} status_code=201
  GET /users/{id}/events/{id}/attachments/{id} status_code=200
`
	assert.Equal(t, want, rec.tree())
	for _, s := range rec.all() {
		if s.name == spanChunk {
			assert.Equal(t, int64(size), s.attrs[attrUploadSize])
			assert.Equal(t, tracing.SpanStatusOK, s.status)
		}
	}
}

func TestTracingUploadWhoseChunkMayHaveLanded(t *testing.T) {
	t.Parallel()
	// A 504 after the session stored the chunk: the session is asked, and
	// the next chunk follows without sending the stored one again.
	const size, chunk = MaxAddSize + 300<<10, 4 * ChunkSizeUnit
	srv, c, rec := newTracedServer(t, nil)
	srv.Me().AddEvent("e1")
	content, _ := hashedContent(size)
	_, err := c.Me().Events("e1").Attachments().Upload(context.Background(), FileUpload{
		Name: "report.pdf", Content: content, Size: size, ChunkSize: chunk,
		Progress: failOn(srv, 1, graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultStatusAfterStore, Status: 504}),
	})
	require.NoError(t, err)
	const want = `Upload /me/events/{id}/attachments
  · retry wait reconcile
  POST /me/events/{id}/attachments/createUploadSession status_code=201
  upload chunk offset=0
    PUT {uploadUrl} status_code=200
  upload chunk offset=1310720
    PUT {uploadUrl} status_code=504 type=504
    GET {uploadUrl} status_code=200
  upload chunk offset=2621440
    PUT {uploadUrl} status_code=201
  GET /me/events/{id}/attachments/{id} status_code=200
`
	assert.Equal(t, want, rec.tree())
}

func TestTracingRouteTemplatesHaveNoIDs(t *testing.T) {
	t.Parallel()
	srv, c, rec := newTracedServer(t, nil)
	srv.Me().AddCalendarGroup("g1").AddCalendar("c1").AddEvent("e1")
	atts := c.Me().CalendarGroups("g1").Calendars("c1").Events("e1").Attachments()
	ctx := context.Background()
	att, err := atts.AddFile(ctx, &FileAttachment{Name: "a.txt", ContentBytes: []byte("hello")})
	require.NoError(t, err)
	_, err = atts.List(ctx)
	require.NoError(t, err)
	_, err = atts.Get(ctx, att.ID)
	require.NoError(t, err)
	rc, err := atts.Content(ctx, att.ID)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, rc)
	rc.Close()
	require.NoError(t, atts.Delete(ctx, att.ID))
	_, err = atts.Get(ctx, att.ID)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = atts.AddItem(ctx, &ItemAttachment{Name: "i", Item: &Event{Subject: "s"}})
	require.NoError(t, err)

	const r = "/me/calendarGroups/{id}/calendars/{id}/events/{id}/attachments"
	const want = `AddFile ` + r + `
  POST ` + r + ` status_code=201
List ` + r + `
  GET ` + r + ` status_code=200
Get ` + r + `/{id}
  GET ` + r + `/{id} status_code=200
Content ` + r + `/{id}/$value
  GET ` + r + `/{id}/$value status_code=200
Delete ` + r + `/{id}
  DELETE ` + r + `/{id} status_code=204
Get ` + r + `/{id} type=404
  GET ` + r + `/{id} status_code=404 type=404
AddItem ` + r + `
  POST ` + r + ` status_code=201
`
	assert.Equal(t, want, rec.tree())
	for _, s := range rec.all() {
		for _, id := range []string{"g1", "c1", "e1", att.ID} {
			assert.NotContains(t, s.name, id)
		}
	}
}

// TestTracingAttributesHoldNoSecrets runs uploads and adds through every
// kind of fault, then reads every attribute of every span and event: no
// token, no authtoken, no content, no query string, no id.
func TestTracingAttributesHoldNoSecrets(t *testing.T) {
	t.Parallel()
	srv, c, rec := newTracedServer(t, &graphtest.Options{MaxBodyRecorded: -1})
	srv.User("adele@contoso.com").AddEvent("AAMkEvt=")
	atts := c.Users("adele@contoso.com").Events("AAMkEvt=").Attachments()
	ctx := context.Background()
	put := func(k graphtest.FaultKind, status int) graphtest.Fault {
		return graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: k, Status: status}
	}
	post := func(k graphtest.FaultKind, status int) graphtest.Fault {
		return graphtest.Fault{Method: http.MethodPost, Path: "/attachments", Kind: k, Status: status}
	}
	srv.Inject(
		post(graphtest.FaultStatus, 429), post(graphtest.FaultStatusAfterStore, 504),
		graphtest.Fault{Method: http.MethodPost, Kind: graphtest.FaultStatus, Status: 429, RetryAfter: "0"},
		put(graphtest.FaultStatus, 503), put(graphtest.FaultResetAfterStore, 0), put(graphtest.FaultTruncateAfterStore, 0),
		put(graphtest.FaultStatusAfterStore, 504), put(graphtest.FaultResetBeforeStore, 0), put(graphtest.FaultStatus, 401),
	)
	secret := bytes.Repeat([]byte("CONTENT-MARKER-"), 1<<10)
	_, err := atts.AddFile(ctx, &FileAttachment{Name: "small.txt", ContentBytes: secret[:200]})
	require.NoError(t, err)
	big := bytes.Repeat(secret, 250) // 3.6 MiB
	_, err = atts.Upload(ctx, FileUpload{Name: "big.bin", Content: bytes.NewReader(big), Size: int64(len(big)), ChunkSize: 2 * ChunkSizeUnit})
	require.Error(t, err) // the 401 from the upload host ends it
	_, err = atts.Upload(ctx, FileUpload{Name: "big2.bin", Content: bytes.NewReader(big), Size: int64(len(big)), ChunkSize: 2 * ChunkSizeUnit})
	require.NoError(t, err)
	_, err = atts.Get(ctx, "no-such-attachment")
	require.Error(t, err)
	injected := 0
	for _, n := range srv.FaultsInjected() {
		injected += n
	}
	require.Equal(t, 9, injected, "every fault was met")
	t.Logf("span tree:\n%s", rec.tree())

	// What must not appear: every token and query value sent, the content,
	// and the ids.
	var forbidden []string
	for _, r := range srv.Requests() {
		if h := r.Header.Get("Authorization"); h != "" {
			forbidden = append(forbidden, strings.TrimPrefix(h, "Bearer "))
		}
		q, err := url.ParseQuery(r.RawQuery)
		require.NoError(t, err)
		for _, vs := range q {
			for _, v := range vs {
				if len(v) >= 4 && !strings.Contains(checkSelect, v) {
					forbidden = append(forbidden, v)
				}
			}
		}
	}
	require.NotEmpty(t, forbidden)
	forbidden = append(forbidden, "authtoken", "CONTENT-MARKER", base64.StdEncoding.EncodeToString(secret[:60]),
		"adele", "AAMkEvt", "small.txt", "big.bin", "no-such-attachment", "?", "$select")

	spans := rec.all()
	require.Greater(t, len(spans), 20)
	seen := map[string]bool{}
	check := func(where, s string) {
		for _, f := range forbidden {
			assert.NotContains(t, s, f, "%s", where)
		}
	}
	for _, s := range spans {
		assert.True(t, s.ended, "span %q not ended", s.name)
		check("span name", s.name)
		check("status description", s.desc)
		for k, v := range s.attrs {
			seen[k] = true
			check(s.name+" "+k, fmt.Sprint(v))
		}
		for _, e := range s.events {
			check("event", e.name)
			for k, v := range e.attrs {
				seen[k] = true
				check(s.name+" event "+e.name+" "+k, fmt.Sprint(v))
			}
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("attributes checked: %s", strings.Join(keys, " "))
	for _, k := range []string{attrErrorType, attrWaitMS, attrCheckResult, attrChunkOffset, attrServiceRequestID, attrGraphCode} {
		assert.True(t, seen[k], "the faulted run sets %s", k)
	}
}

func TestTracingOffByDefault(t *testing.T) {
	t.Parallel()
	srv, c := newUploadServer(t, nil)
	srv.Me().AddEvent("e1")
	assert.False(t, c.tracer.Enabled())
	_, err := c.Me().Events("e1").Attachments().AddFile(context.Background(), &FileAttachment{Name: "a.txt", ContentBytes: []byte("x")})
	require.NoError(t, err)
}

// The attribute names the README documents, as literals: renaming a
// constant changes what users' dashboards query, so it must fail here.
func TestTracingAttributeNamesAreTheDocumentedOnes(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for constant, literal := range map[string]string{
		attrNamespace: "az.namespace", attrClientRequestID: "az.client_request_id", attrServiceRequestID: "az.service_request_id",
		attrOperation: "eventattach.operation", attrRoute: "url.template", attrMethod: "http.request.method",
		attrStatus: "http.response.status_code", attrResendCount: "http.request.resend_count", attrServerAddress: "server.address",
		attrErrorType: "error.type", attrGraphCode: "graph.error.code", attrAttempt: "eventattach.attempt",
		attrWaitMS: "eventattach.wait_ms", attrWaitReason: "eventattach.wait_reason", attrRetryAfter: "eventattach.retry_after",
		attrChunkOffset: "eventattach.chunk.offset", attrChunkLength: "eventattach.chunk.length", attrUploadSize: "eventattach.upload.size",
		attrCheckResult: "eventattach.duplicate_check.result",
	} {
		assert.Equal(t, literal, constant)
		assert.Contains(t, string(readme), "`"+literal+"`", "the README documents %s", literal)
	}
}

// echoTokenTransport is an upload host that echoes the authtoken of the
// URL asked: as its request-id, and inside its error code.
type echoTokenTransport struct {
	rt     http.RoundTripper
	tokens []string
	mu     sync.Mutex
}

func (e *echoTokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := e.rt.RoundTrip(r)
	tok := r.URL.Query().Get("authtoken")
	if err != nil || tok == "" {
		return resp, err
	}
	e.mu.Lock()
	e.tokens = append(e.tokens, tok)
	n := len(e.tokens)
	e.mu.Unlock()
	if n%2 == 1 {
		resp.Header.Set("request-id", tok)
	} else {
		resp.Header.Set("request-id", "req-"+tok+"-1")
	}
	return resp, nil
}

func TestTracingServiceRequestIDEchoingTheAuthtokenIsNotRecorded(t *testing.T) {
	t.Parallel()
	rec := &spanRecorder{}
	echo := &echoTokenTransport{rt: http.DefaultTransport}
	srv, c := newUploadServer(t, nil, func(o *ClientOptions) {
		o.TracingProvider = rec.provider()
		o.HTTPClient = &http.Client{Transport: echo}
	})
	srv.User("adele@contoso.com").AddEvent("AAMkEvt=")
	atts := c.Users("adele@contoso.com").Events("AAMkEvt=").Attachments()
	// A retried chunk: request-ids on an error answer and on successes.
	srv.Inject(graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultStatus, Status: 503})
	big := bytes.Repeat([]byte("x"), 4<<20)
	_, err := atts.Upload(context.Background(), FileUpload{Name: "big.bin", Content: bytes.NewReader(big), Size: int64(len(big)), ChunkSize: 4 * ChunkSizeUnit})
	require.NoError(t, err)
	echo.mu.Lock()
	tokens := append([]string(nil), echo.tokens...)
	echo.mu.Unlock()
	require.GreaterOrEqual(t, len(tokens), 2, "the upload host answered")

	graphIDs := 0
	for _, s := range rec.all() {
		check := func(where string, v any) {
			for _, tok := range tokens {
				assert.NotContains(t, fmt.Sprint(v), tok, "%s of span %q", where, s.name)
			}
		}
		check("name", s.name)
		check("status description", s.desc)
		for k, v := range s.attrs {
			check(k, v)
			if k == attrServiceRequestID {
				graphIDs++
			}
		}
		for _, e := range s.events {
			check("event", e.name)
			for k, v := range e.attrs {
				check("event "+e.name+" "+k, v)
			}
		}
	}
	assert.Positive(t, graphIDs, "Graph's own request-ids are still recorded")
}

func TestTracingAnswerValuesHoldingASecretAreDropped(t *testing.T) {
	t.Parallel()
	up := &sender{ex: &exchange{upload: true, url: "https://outlook.office.com/api/v2.0/Users('u@t')/Events('e')/AttachmentSessions('s')?authtoken=Tok-123_abc.9&v=ab"}}
	for v, want := range map[string]bool{
		"Tok-123_abc.9":          false, // the authtoken itself
		"req-Tok-123_abc.9-1":    false, // holding it
		"ab":                     false, // a short query value
		"a1b2c3d4-0000-1111":     true,
		"InvalidAuthenticationT": true,
	} {
		assert.Equal(t, want, up.traceable(v, nil), "%q", v)
	}
}
