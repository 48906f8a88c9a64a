package graphtest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/eventattach/eventattach/graphtest"
)

// A test seeds an event, points a client at URL() with Credential(), and
// inspects what was stored. Here the client is plain net/http.
func ExampleNewServer() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.Me().AddEvent("AAMkAGI1AAAt9AHjAAA=")

	tok, _ := srv.Credential().GetToken(context.Background(),
		policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	req, _ := http.NewRequest("POST", srv.URL()+"/me/events/AAMkAGI1AAAt9AHjAAA=/attachments", strings.NewReader(
		`{"@odata.type":"#microsoft.graph.fileAttachment","name":"menu.txt","contentBytes":"bWFjIGFuZCBjaGVlc2UgdG9kYXk="}`))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()

	fmt.Println(res.Status)
	for _, a := range srv.Attachments("me", "AAMkAGI1AAAt9AHjAAA=") {
		fmt.Printf("%s %s %q\n", a.Name, a.ContentType, a.Content)
	}
	// Output:
	// 201 Created
	// menu.txt text/plain "mac and cheese today"
}

// Faults are scripted per request: here the first POST fails with 503 and a
// Retry-After, as Graph does under load.
func ExampleServer_Inject() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.Inject(graphtest.Fault{Method: "POST", Kind: graphtest.FaultStatus, Status: 503, RetryAfter: "2"})
	res, err := http.Post(srv.URL()+"/me/events/x/attachments", "application/json", strings.NewReader("{}"))
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println(res.StatusCode, res.Header.Get("Retry-After"), srv.FaultsInjected()[graphtest.FaultStatus])
	// Output: 503 2 1
}
