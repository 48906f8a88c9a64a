package eventattach_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
)

// Every example runs against graphtest, the in-process Graph emulator; with
// a real tenant, pass an azidentity credential and nil options instead.

func ExampleNewClient() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()

	// With Microsoft Graph: cred, err := azidentity.NewDefaultAzureCredential(nil)
	// and eventattach.NewClient(cred, nil).
	client, err := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("cloud:", client.Cloud().Name, "scope:", client.Cloud().Scope())

	// A bearer token never goes out in clear text: http is for loopback only.
	_, err = eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: "http://graph.example.com/v1.0"})
	fmt.Println("http to another host is invalid input:", errors.Is(err, eventattach.ErrInvalidInput))
	// Output:
	// cloud: global scope: https://graph.microsoft.com/.default
	// http to another host is invalid input: true
}

func ExampleClient_Me() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.Me().AddEvent("AAMkAGI1AAAt9AHjAAA=")
	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})

	// The signed-in user's mailbox; needs a delegated credential.
	atts := client.Me().Events("AAMkAGI1AAAt9AHjAAA=").Attachments()
	fmt.Println(atts.Path())
	f, err := atts.AddFile(context.Background(), &eventattach.FileAttachment{
		Name: "menu.txt", ContentType: "text/plain", ContentBytes: []byte("Pizza, salad"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Name, len(f.ContentBytes)) // Size is Graph's own count, not the bytes

	// The other user routes, all ending in .../events/{id}/attachments.
	fmt.Println(client.Me().Calendar().Events("e1").Attachments().Path())
	fmt.Println(client.Me().Calendars("c1").Events("e1").Attachments().Path())
	fmt.Println(client.Me().CalendarGroup().Calendars("c1").Events("e1").Attachments().Path())
	fmt.Println(client.Me().CalendarGroups("g1").Calendars("c1").Events("e1").Attachments().Path())
	// Output:
	// /me/events/AAMkAGI1AAAt9AHjAAA=/attachments
	// menu.txt 12
	// /me/calendar/events/e1/attachments
	// /me/calendars/c1/events/e1/attachments
	// /me/calendargroup/calendars/c1/events/e1/attachments
	// /me/calendarGroups/g1/calendars/c1/events/e1/attachments
}

func ExampleClient_Users() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})

	// A user by userPrincipalName or id; app-only credentials use this route.
	adele := client.Users("adele@contoso.com")
	fmt.Println(adele.Events("AAMkAGI1AAAt9AHjAAA=").Attachments().Path())
	fmt.Println(adele.Calendar().Events("e1").Attachments().Path())

	// Each id is escaped as exactly one path segment...
	fmt.Println(adele.Events("AAMk/../x?y").Attachments().Path())
	// ...and an empty, "." or ".." id is refused before anything is sent.
	_, err := client.Users("").Events("e1").Attachments().List(context.Background())
	fmt.Println(errors.Is(err, eventattach.ErrInvalidInput), len(srv.Requests()))
	// Output:
	// /users/adele@contoso.com/events/AAMkAGI1AAAt9AHjAAA=/attachments
	// /users/adele@contoso.com/calendar/events/e1/attachments
	// /users/adele@contoso.com/events/AAMk%2F..%2Fx%3Fy/attachments
	// true 0
}

func ExampleClient_Groups() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.Group("02bd9fd6-8f93-4758-87c3-1fb73740a315").AddEvent("AAMkGroupEvent=")
	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})

	// Group routes come from the older Graph page; the current docs warn
	// that events in group calendars may refuse attachments.
	group := client.Groups("02bd9fd6-8f93-4758-87c3-1fb73740a315")
	fmt.Println(group.Calendar().Events("AAMkGroupEvent=").Attachments().Path())
	f, err := group.Events("AAMkGroupEvent=").Attachments().AddFile(context.Background(), &eventattach.FileAttachment{
		Name: "minutes.txt", ContentBytes: []byte("Agreed: ship it."),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Name, len(f.ContentBytes))

	// Upload sessions are not documented for groups: above 3 MiB, Upload
	// refuses before sending anything.
	big := bytes.NewReader(make([]byte, 4<<20))
	_, err = group.Events("AAMkGroupEvent=").Attachments().Upload(context.Background(), eventattach.FileUpload{
		Name: "video.mp4", Content: big, Size: big.Size(),
	})
	fmt.Println(errors.Is(err, eventattach.ErrInvalidInput))
	// Output:
	// /groups/02bd9fd6-8f93-4758-87c3-1fb73740a315/calendar/events/AAMkGroupEvent=/attachments
	// minutes.txt 16
	// true
}

func ExampleUserPath_CalendarGroups() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.User("adele@contoso.com").AddCalendarGroup("AAMkGroupWork=").AddCalendar("AAMkCalProjects=").AddEvent("AAMkEvt=")
	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})

	atts := client.Users("adele@contoso.com").CalendarGroups("AAMkGroupWork=").Calendars("AAMkCalProjects=").Events("AAMkEvt=").Attachments()
	fmt.Println(atts.Path())
	if _, err := atts.AddFile(context.Background(), &eventattach.FileAttachment{Name: "plan.txt", ContentBytes: []byte("Q1")}); err != nil {
		log.Fatal(err)
	}
	// The event is the same whichever route reached it.
	fmt.Println(len(srv.Attachments("adele@contoso.com", "AAMkEvt=")))
	// Output:
	// /users/adele@contoso.com/calendarGroups/AAMkGroupWork=/calendars/AAMkCalProjects=/events/AAMkEvt=/attachments
	// 1
}

func ExampleAttachments_AddFile() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.User("adele@contoso.com").AddEvent("AAMkEvt=")
	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})
	atts := client.Users("adele@contoso.com").Events("AAMkEvt=").Attachments()

	f, err := atts.AddFile(context.Background(), &eventattach.FileAttachment{
		Name:         "agenda.txt",
		ContentType:  "text/plain",
		ContentBytes: []byte("1. Welcome\n2. Roadmap\n"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Name, f.ContentType, len(f.ContentBytes), f.ID != "")

	// Over MaxAddSize (3 MiB) is ErrTooLarge before any request: use Upload.
	_, err = atts.AddFile(context.Background(), &eventattach.FileAttachment{Name: "big.bin", ContentBytes: make([]byte, eventattach.MaxAddSize+1)})
	fmt.Println(errors.Is(err, eventattach.ErrTooLarge))
	// Output:
	// agenda.txt text/plain 22 true
	// true
}

// A POST whose answer is lost after Graph stored the attachment is not sent
// again blindly: the SDK lists the event first and returns what it finds.
func ExampleAttachments_AddFile_duplicateGuard() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.User("adele@contoso.com").AddEvent("AAMkEvt=")
	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{
		BaseURL: srv.URL(),
		Retry:   eventattach.RetryOptions{BaseDelay: time.Millisecond},
	})
	// The gateway answers 504 although the attachment was stored.
	srv.Inject(graphtest.Fault{Method: "POST", Kind: graphtest.FaultStatusAfterStore, Status: 504})

	f, err := client.Users("adele@contoso.com").Events("AAMkEvt=").Attachments().AddFile(context.Background(),
		&eventattach.FileAttachment{Name: "report.csv", ContentType: "text/csv", ContentBytes: []byte("a,b\n1,2\n")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Name, "stored:", len(srv.Attachments("adele@contoso.com", "AAMkEvt=")))
	// Output:
	// report.csv stored: 1
}

func ExampleAttachments_AddItem() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.User("adele@contoso.com").AddEvent("AAMkEvt=")
	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})
	atts := client.Users("adele@contoso.com").Events("AAMkEvt=").Attachments()

	item, err := atts.AddItem(context.Background(), &eventattach.ItemAttachment{
		Name: "Holiday event",
		Item: &eventattach.Event{
			Subject: "Discuss gifts for children",
			Body:    &eventattach.ItemBody{ContentType: "html", Content: "Let's look for funding!"},
			Start:   &eventattach.DateTimeTimeZone{DateTime: "2016-12-02T18:00:00", TimeZone: "Pacific Standard Time"},
			End:     &eventattach.DateTimeTimeZone{DateTime: "2016-12-02T19:00:00", TimeZone: "Pacific Standard Time"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Graph does not echo the item; the SDK returns the one you sent.
	fmt.Println(item.Name, item.Item.(*eventattach.Event).Subject)

	for _, it := range []eventattach.OutlookItem{
		&eventattach.Message{Subject: "Brief"},
		&eventattach.Contact{GivenName: "Megan", Surname: "Bowen"},
	} {
		if _, err := atts.AddItem(context.Background(), &eventattach.ItemAttachment{Name: fmt.Sprintf("%T", it), Item: it}); err != nil {
			log.Fatal(err)
		}
	}
	for _, a := range srv.Attachments("adele@contoso.com", "AAMkEvt=") {
		fmt.Println(a.ODataType, a.Name)
	}
	// Output:
	// Holiday event Discuss gifts for children
	// #microsoft.graph.itemAttachment Holiday event
	// #microsoft.graph.itemAttachment *eventattach.Message
	// #microsoft.graph.itemAttachment *eventattach.Contact
}

func ExampleAttachments_Upload() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.User("adele@contoso.com").AddEvent("AAMkEvt=")
	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})

	// 5 MiB: over MaxAddSize, so Upload opens an upload session and sends
	// it in chunks. Content is any io.Reader, e.g. an *os.File.
	content := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16)
	f, err := client.Users("adele@contoso.com").Events("AAMkEvt=").Attachments().Upload(context.Background(), eventattach.FileUpload{
		Name:        "recording.bin",
		ContentType: "application/octet-stream",
		Content:     bytes.NewReader(content),
		Size:        int64(len(content)),
		Progress:    func(sent, total int64) { fmt.Printf("sent %d of %d\n", sent, total) },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Name, f.ID != "")
	stored := srv.Attachments("adele@contoso.com", "AAMkEvt=")[0]
	fmt.Println("stored intact:", bytes.Equal(stored.Content, content))
	// Output:
	// sent 3932160 of 5242880
	// sent 5242880 of 5242880
	// recording.bin true
	// stored intact: true
}

func ExampleAttachments_List() {
	srv := graphtest.NewServer(&graphtest.Options{PageSize: 10}) // pages, to show List following nextLinks
	defer srv.Close()
	srv.User("adele@contoso.com").AddEvent("AAMkEvt=")
	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})
	atts := client.Users("adele@contoso.com").Events("AAMkEvt=").Attachments()
	ctx := context.Background()
	for i := range 12 {
		att := &eventattach.FileAttachment{Name: fmt.Sprintf("page-%02d.txt", i), ContentType: "text/plain", ContentBytes: []byte("hello")}
		if _, err := atts.AddFile(ctx, att); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := atts.AddItem(ctx, &eventattach.ItemAttachment{Name: "Kick-off", Item: &eventattach.Event{Subject: "Kick-off"}}); err != nil {
		log.Fatal(err)
	}

	// List follows @odata.nextLink (here the emulator pages by 10; Graph is
	// reported to answer in one page) and returns
	// metadata only; Get fetches one attachment with its content.
	list, err := atts.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	files, items := 0, 0
	for _, a := range list {
		switch a := a.(type) {
		case *eventattach.FileAttachment:
			files++
		case *eventattach.ItemAttachment:
			items++
			fmt.Println("item:", a.Name)
		}
	}
	fmt.Println("files:", files, "items:", items)

	got, err := atts.Get(ctx, list[0].AttachmentID())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %q\n", got.AttachmentName(), got.(*eventattach.FileAttachment).ContentBytes)
	// Output:
	// item: Kick-off
	// files: 12 items: 1
	// page-00.txt: "hello"
}

func ExampleGraphError() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.User("adele@contoso.com").AddEvent("AAMkEvt=")
	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{
		BaseURL: srv.URL(),
		Retry:   eventattach.RetryOptions{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Second},
	})
	ctx := context.Background()

	// Branch on the sentinel, or on Graph's stable error code (never on Message).
	_, err := client.Users("adele@contoso.com").Events("no-such-event").Attachments().List(ctx)
	fmt.Println(errors.Is(err, eventattach.ErrNotFound))
	var ge *eventattach.GraphError
	if errors.As(err, &ge) {
		fmt.Println(ge.StatusCode, ge.Code, ge.RequestID != "", ge.ClientRequestID != "")
	}

	// Throttling is retried, but a Retry-After longer than MaxDelay is
	// returned at once, with the wait Graph asked for.
	srv.Inject(graphtest.Fault{Kind: graphtest.FaultStatus, Status: 429, RetryAfter: "120"})
	_, err = client.Users("adele@contoso.com").Events("AAMkEvt=").Attachments().List(ctx)
	if errors.As(err, &ge) {
		fmt.Println(errors.Is(err, eventattach.ErrThrottled), ge.RetryAfter)
	}
	// Output:
	// true
	// 404 ErrorItemNotFound true true
	// true 2m0s
}

func ExampleCloud_AzureCloud() {
	for _, c := range []eventattach.Cloud{eventattach.CloudGlobal, eventattach.CloudUSGovL4, eventattach.CloudUSGovL5, eventattach.CloudChina} {
		// Pass c.AzureCloud() as azcore.ClientOptions.Cloud of the credential
		// and c as ClientOptions.Cloud of the client.
		fmt.Println(c.Name, c.Scope(), c.AzureCloud().ActiveDirectoryAuthorityHost)
	}
	// Output:
	// global https://graph.microsoft.com/.default https://login.microsoftonline.com/
	// usgovl4 https://graph.microsoft.us/.default https://login.microsoftonline.us/
	// usgovl5 https://dod-graph.microsoft.us/.default https://login.microsoftonline.us/
	// china https://microsoftgraph.chinacloudapi.cn/.default https://login.chinacloudapi.cn/
}

func ExampleSpool() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.Me().AddEvent("AAMkEvt=")
	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})

	// A stream whose length nobody knows in advance: an HTTP request body,
	// a pipe, a decompressor. Upload needs an exact Size, so spool it first
	// (to a temporary file in os.TempDir here; under 3 MiB it stays in memory).
	stream := io.MultiReader(
		strings.NewReader("timestamp,reading\n"),
		strings.NewReader(strings.Repeat("2026-01-05T09:00:00Z,7\n", 200_000)),
	)
	spooled, err := eventattach.Spool(stream, "")
	if err != nil {
		log.Fatal(err) // ErrTooLarge past MaxUploadSize (150 MiB)
	}
	defer spooled.Close() // removes the temporary file
	fmt.Println("spooled:", spooled.Size())

	f, err := client.Me().Events("AAMkEvt=").Attachments().Upload(context.Background(), eventattach.FileUpload{
		Name:    "readings.csv",
		Content: spooled,
		Size:    spooled.Size(),
	})
	if err != nil {
		log.Fatal(err)
	}
	stored := srv.Attachments("me", "AAMkEvt=")[0]
	fmt.Println(f.Name, len(stored.Content))
	// Output:
	// spooled: 4600018
	// readings.csv 4600018
}

func ExampleAttachments_Content() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.User("adele@contoso.com").AddEvent("AAMkEvt=")
	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})
	atts := client.Users("adele@contoso.com").Events("AAMkEvt=").Attachments()
	ctx := context.Background()
	f, err := atts.AddFile(ctx, &eventattach.FileAttachment{Name: "notes.txt", ContentBytes: []byte("Ship on Friday.\n")})
	if err != nil {
		log.Fatal(err)
	}

	// Content streams the raw bytes ($value) without holding them in memory:
	// copy them to a file, an HTTP response, a hash. Close the reader.
	body, err := atts.Content(ctx, f.ID)
	if err != nil {
		log.Fatal(err)
	}
	defer body.Close()
	if _, err := io.Copy(os.Stdout, body); err != nil {
		log.Fatal(err)
	}

	_, err = atts.Content(ctx, "AAMkNoSuchAttachment=")
	fmt.Println("unknown id:", errors.Is(err, eventattach.ErrNotFound))
	// Output:
	// Ship on Friday.
	// unknown id: true
}

func ExampleAttachments_Delete() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.User("adele@contoso.com").AddEvent("AAMkEvt=")
	client, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})
	atts := client.Users("adele@contoso.com").Events("AAMkEvt=").Attachments()
	ctx := context.Background()
	f, err := atts.AddFile(ctx, &eventattach.FileAttachment{Name: "draft.txt", ContentBytes: []byte("v1")})
	if err != nil {
		log.Fatal(err)
	}

	if err := atts.Delete(ctx, f.ID); err != nil {
		log.Fatal(err)
	}
	fmt.Println("left:", len(srv.Attachments("adele@contoso.com", "AAMkEvt=")))

	// Deleting it again is ErrNotFound: treat that as done when cleaning up.
	err = atts.Delete(ctx, f.ID)
	fmt.Println("again:", errors.Is(err, eventattach.ErrNotFound))
	// Output:
	// left: 0
	// again: true
}
