// Graphtestd runs a graphtest emulator as its own process, for checks that
// need Graph to outlive a client process (scripts/resume-largefile.sh kills
// an upload with SIGKILL and resumes it in a new process).
//
//	go run ./scripts/graphtestd [-chunk-latency 300ms]
//
// It prints, one per line, shell assignments a script can eval:
// EVENTATTACH_BASE_URL, EVENTATTACH_TOKEN (a bearer token the emulator
// accepts, valid for an hour), GRAPH_USER and GRAPH_EVENT_ID. On SIGTERM or
// SIGINT it prints what it stored and received, then exits:
// ATTACHMENTS=n, SHA256=<of each attachment's bytes>, PUT_BYTES=<chunk bytes
// received in all>.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/eventattach/eventattach/graphtest"
)

func main() {
	latency := flag.Duration("chunk-latency", 0, "latency added to every chunk PUT, so an upload takes a while")
	flag.Parse()
	srv := graphtest.NewServer(&graphtest.Options{MaxBodyRecorded: -1})
	defer srv.Close()
	const user, event = "adele@contoso.com", "AAMkResumeDemo="
	srv.User(user).AddEvent(event)
	if *latency > 0 {
		srv.Inject(graphtest.Fault{Method: http.MethodPut, Path: "AttachmentSessions", Kind: graphtest.FaultLatency, Latency: *latency, Times: -1})
	}
	tok, err := srv.Credential().GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("EVENTATTACH_BASE_URL=%s\nEVENTATTACH_TOKEN=%s\nGRAPH_USER=%s\nGRAPH_EVENT_ID=%s\n", srv.URL(), tok.Token, user, event)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	atts := srv.Attachments(user, event)
	var sums []string
	for _, a := range atts {
		sums = append(sums, fmt.Sprintf("%x", sha256.Sum256(a.Content)))
	}
	var put int64
	upload := strings.TrimPrefix(srv.UploadURLBase(), "http://")
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPut && r.Host == upload {
			put += r.BodySize
		}
	}
	fmt.Printf("ATTACHMENTS=%d\nSHA256=%s\nPUT_BYTES=%d\n", len(atts), strings.Join(sums, ","), put)
}
