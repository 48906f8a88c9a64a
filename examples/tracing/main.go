// Tracing uploads 10 MiB to a calendar event with OpenTelemetry tracing and
// prints the span tree: the Upload operation, its requests (one span per
// attempt), its chunks, the waits and the duplicate check.
//
//	cd examples/tracing && go run .          # offline, with injected faults
//	cd examples/tracing && go run . -json    # also OpenTelemetry's stdout JSON
//
// The SDK takes azcore's tracing.Provider, as Azure's Go SDKs do;
// azotel.NewTracingProvider turns an OpenTelemetry TracerProvider into one.
// Here the TracerProvider has two processors: OpenTelemetry's stdout
// exporter (JSON into a temporary file, or stdout with -json) and an
// in-memory recorder, from which the tree is printed.
//
// Offline (the default) it runs against graphtest with these faults: the
// upload session's POST is throttled (429, Retry-After: 1), one chunk gets a
// 503, one a 504 after the session stored it, and the answer to the last
// chunk is lost (the connection reset after the store), so the SDK asks the
// session and then runs its duplicate check. It then checks that the event
// holds the file once, with its bytes, and that no span attribute holds the
// bearer token or the upload URL's authtoken.
//
// This example has its own go.mod, so that OpenTelemetry stays out of the
// SDK's dependencies. Against Graph, set GRAPH_USER, GRAPH_EVENT_ID and the
// settings of a DefaultAzureCredential source (AZURE_TENANT_ID,
// AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, ...): the upload stays on that event.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/tracing/azotel"
	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

const (
	size      = 10 << 20
	chunkSize = 6 * eventattach.ChunkSizeUnit // 1.875 MiB: six chunks
)

func main() {
	jsonOut := flag.Bool("json", false, "also print OpenTelemetry's stdout exporter JSON on stdout")
	flag.Parse()
	log.SetFlags(0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// OpenTelemetry: the stdout exporter, and a recorder for the tree.
	var out io.Writer = os.Stdout
	jsonPath := "stdout"
	if !*jsonOut {
		dir, err := os.MkdirTemp("", "eventattach-tracing")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		jsonPath = filepath.Join(dir, "spans.json")
		f, err := os.Create(jsonPath)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		out = f
	}
	exp, err := stdouttrace.New(stdouttrace.WithWriter(out), stdouttrace.WithPrettyPrint())
	if err != nil {
		log.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())

	client, user, eventID, srv, err := connect(azotel.NewTracingProvider(tp, nil))
	if err != nil {
		log.Fatal(err)
	}
	if srv != nil {
		defer srv.Close()
	}

	content := make([]byte, size)
	rand.NewChaCha8([32]byte{'t', 'r', 'a', 'c', 'e'}).Read(content)
	upload := eventattach.FileUpload{
		Name: "recording.bin", ContentType: "application/octet-stream",
		Content: bytes.NewReader(content), Size: size, ChunkSize: chunkSize,
	}
	if srv != nil {
		upload.Progress = injectFaults(srv)
	}
	start := time.Now()
	att, err := client.Users(user).Events(eventID).Attachments().Upload(ctx, upload)
	if err != nil {
		log.Fatalf("upload: %v", err)
	}
	fmt.Printf("uploaded %q (%d bytes) in %s, attachment id %s\n\n", att.Name, size, time.Since(start).Round(time.Millisecond), att.ID)
	if err := tp.ForceFlush(ctx); err != nil {
		log.Fatal(err)
	}

	spans := rec.Ended()
	printTree(spans)
	fmt.Printf("\n%d spans; OpenTelemetry's stdout exporter wrote them as JSON to %s\n", len(spans), jsonPath)

	if srv == nil {
		return
	}
	if !check(srv, user, eventID, content, spans) {
		os.Exit(1)
	}
}

// injectFaults returns a Progress callback that queues a fault for the
// chunk about to be sent (graphtest applies it to the next matching request).
func injectFaults(srv *graphtest.Server) func(sent, total int64) {
	put := func(kind graphtest.FaultKind, status int) graphtest.Fault {
		return graphtest.Fault{Method: "PUT", Path: "AttachmentSessions", Kind: kind, Status: status}
	}
	// Before any chunk: the session's POST is throttled.
	srv.Inject(graphtest.Fault{Method: "POST", Path: "createUploadSession", Kind: graphtest.FaultStatus, Status: 429, RetryAfter: "1"})
	byChunk := map[int64]graphtest.Fault{
		1: put(graphtest.FaultStatus, 503),
		3: put(graphtest.FaultStatusAfterStore, 504),
		5: put(graphtest.FaultResetAfterStore, 0), // the last chunk's answer is lost
	}
	return func(sent, _ int64) {
		if sent%chunkSize != 0 {
			return
		}
		if f, ok := byChunk[sent/chunkSize]; ok {
			delete(byChunk, sent/chunkSize)
			srv.Inject(f)
		}
	}
}

// printTree prints the spans of each trace as a tree, children in the order
// they started, with the attributes and events that tell what happened.
func printTree(spans []sdktrace.ReadOnlySpan) {
	slices.SortFunc(spans, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanContext().SpanID().String()] = true
	}
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, s := range spans {
			p := ""
			if s.Parent().IsValid() && ids[s.Parent().SpanID().String()] {
				p = s.Parent().SpanID().String()
			}
			if p != parent {
				continue
			}
			ind := strings.Repeat("  ", depth)
			fmt.Printf("%s%s  %s%s\n", ind, s.Name(), s.EndTime().Sub(s.StartTime()).Round(100*time.Microsecond), describe(s))
			for _, e := range s.Events() {
				fmt.Printf("%s    · %s%s\n", ind, e.Name, attrs(e.Attributes, "eventattach.wait_ms", "eventattach.wait_reason", "eventattach.retry_after", "eventattach.duplicate_check.result", "eventattach.not_retried"))
			}
			walk(s.SpanContext().SpanID().String(), depth+1)
		}
	}
	walk("", 0)
}

func describe(s sdktrace.ReadOnlySpan) string {
	d := attrs(s.Attributes(), "eventattach.chunk.offset", "eventattach.chunk.length", "http.response.status_code", "graph.error.code", "eventattach.duplicate_check.result", "error.type")
	switch s.Status().Code {
	case codes.Error:
		d += "  ERROR"
	case codes.Ok:
		d += "  ok"
	}
	return d
}

// attrs renders the attributes among keys that kvs has, in keys' order.
func attrs(kvs []attribute.KeyValue, keys ...string) string {
	var b strings.Builder
	for _, k := range keys {
		for _, kv := range kvs {
			if string(kv.Key) == k {
				fmt.Fprintf(&b, "  %s=%s", strings.TrimPrefix(k, "eventattach."), kv.Value.Emit())
			}
		}
	}
	return b.String()
}

// check verifies, offline, that the event holds the file once with its
// bytes and that no span attribute holds a token or an authtoken.
func check(srv *graphtest.Server, user, eventID string, content []byte, spans []sdktrace.ReadOnlySpan) bool {
	ok := true
	want := sha256.Sum256(content)
	n := 0
	for _, a := range srv.Attachments(user, eventID) {
		if a.Name == "recording.bin" {
			n++
			if sha256.Sum256(a.Content) != want {
				fmt.Println("FAIL: the stored bytes differ")
				ok = false
			}
		}
	}
	fmt.Printf("attachments named recording.bin on the event: %d (want 1)\n", n)
	ok = ok && n == 1

	var secrets []string
	for _, r := range srv.Requests() {
		if h := r.Header.Get("Authorization"); h != "" {
			secrets = append(secrets, strings.TrimPrefix(h, "Bearer "))
		}
		q, _ := url.ParseQuery(r.RawQuery)
		secrets = append(secrets, q["authtoken"]...)
	}
	leaks := 0
	for _, s := range spans {
		var all []string
		all = append(all, s.Name())
		for _, kv := range s.Attributes() {
			all = append(all, kv.Value.Emit())
		}
		for _, e := range s.Events() {
			for _, kv := range e.Attributes {
				all = append(all, kv.Value.Emit())
			}
		}
		for _, v := range all {
			for _, sec := range secrets {
				if sec != "" && strings.Contains(v, sec) {
					leaks++
				}
			}
		}
	}
	fmt.Printf("span names and attributes holding the bearer token or an authtoken: %d (of %d secrets sent)\n", leaks, len(secrets))
	return ok && leaks == 0 && len(secrets) > 0
}

// connect returns a client for Microsoft Graph when Azure settings and
// GRAPH_USER/GRAPH_EVENT_ID are present, and otherwise one for a graphtest
// emulator (returned too, so it can be closed) seeded with a user and event.
func connect(tp tracing.Provider) (c *eventattach.Client, user, eventID string, srv *graphtest.Server, err error) {
	user, eventID = os.Getenv("GRAPH_USER"), os.Getenv("GRAPH_EVENT_ID")
	if user != "" && eventID != "" && (os.Getenv("AZURE_CLIENT_ID") != "" || os.Getenv("AZURE_TENANT_ID") != "") {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, "", "", nil, err
		}
		c, err = eventattach.NewClient(cred, &eventattach.ClientOptions{TracingProvider: tp})
		return c, user, eventID, nil, err
	}
	srv = graphtest.NewServer(nil)
	user, eventID = "adele@contoso.com", "AAMkAGI1AAAt9AHjAAA="
	srv.User(user).AddEvent(eventID)
	c, err = eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{
		BaseURL:         srv.URL(),
		TracingProvider: tp,
		Retry:           eventattach.RetryOptions{BaseDelay: 100 * time.Millisecond},
	})
	fmt.Println("offline: graphtest emulator at", srv.URL())
	return c, user, eventID, srv, err
}
