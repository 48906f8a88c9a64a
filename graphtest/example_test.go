package graphtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
)

// attachAgenda is the code under test: your function that uses the SDK.
func attachAgenda(ctx context.Context, c *eventattach.Client, user, eventID string) error {
	_, err := c.Users(user).Events(eventID).Attachments().AddFile(ctx, &eventattach.FileAttachment{
		Name:         "agenda.txt",
		ContentType:  "text/plain",
		ContentBytes: []byte("1. Welcome\n2. Roadmap\n"),
	})
	return err
}

// Testing your own code against the emulator: seed a mailbox, point the
// client at the server, inject a fault, then check what the server stored
// and received. In a test, use t.Cleanup(srv.Close) and testify's assert
// instead of printing.
func Example() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.User("adele@contoso.com").AddEvent("AAMkEvt=")
	// No retry options: against a loopback server the SDK's backoff starts
	// at 1ms, so fault paths take milliseconds (production keeps 500ms).
	client, err := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	// The first POST to an attachments collection answers 503: Graph was
	// busy and stored nothing. The SDK retries it.
	srv.Inject(graphtest.Fault{Method: "POST", Path: "/attachments", Kind: graphtest.FaultStatus, Status: 503})
	if err := attachAgenda(ctx, client, "adele@contoso.com", "AAMkEvt="); err != nil {
		fmt.Println("unexpected error:", err)
	}

	for _, a := range srv.Attachments("adele@contoso.com", "AAMkEvt=") {
		// Size is what Graph reports, more than the bytes: use len(Content).
		fmt.Printf("stored %s (%s, %d bytes)\n", a.Name, a.ContentType, len(a.Content))
	}
	for _, r := range srv.Requests() {
		fmt.Println(r.Method, r.Path, r.Status)
	}
	fmt.Println("faults injected:", srv.FaultsInjected()[graphtest.FaultStatus])

	// An event that does not exist: your code sees the SDK's ErrNotFound.
	err = attachAgenda(ctx, client, "adele@contoso.com", "AAMkGone=")
	fmt.Println("not found:", errors.Is(err, eventattach.ErrNotFound))
	// Output:
	// stored agenda.txt (text/plain, 22 bytes)
	// POST /v1.0/users/adele@contoso.com/events/AAMkEvt=/attachments 503
	// POST /v1.0/users/adele@contoso.com/events/AAMkEvt=/attachments 201
	// faults injected: 1
	// not found: true
}

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
