// Itemattachment attaches three kinds of Outlook item to a calendar event: an
// event, a message and a contact (#microsoft.graph.itemAttachment). Graph's
// answer does not echo the item; the SDK gives you back the one you sent.
//
//	go run ./examples/itemattachment
//
// Offline by default (graphtest). Against Graph, set GRAPH_USER,
// GRAPH_EVENT_ID and the settings of a DefaultAzureCredential source
// (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, ...).
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
)

func main() {
	log.SetFlags(0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, user, eventID, srv, err := connect()
	if err != nil {
		log.Fatal(err)
	}
	if srv != nil {
		defer srv.Close()
	}
	atts := client.Users(user).Events(eventID).Attachments()

	items := []*eventattach.ItemAttachment{
		{
			Name: "Dry run",
			Item: &eventattach.Event{
				Subject:  "Dry run of the demo",
				Body:     &eventattach.ItemBody{ContentType: "html", Content: "<p>Bring the <b>laptop</b>.</p>"},
				Start:    &eventattach.DateTimeTimeZone{DateTime: "2026-12-01T09:00:00", TimeZone: "W. Europe Standard Time"},
				End:      &eventattach.DateTimeTimeZone{DateTime: "2026-12-01T10:00:00", TimeZone: "W. Europe Standard Time"},
				Location: &eventattach.Location{DisplayName: "Room 12"},
			},
		},
		{
			Name: "Customer brief",
			Item: &eventattach.Message{
				Subject: "What the customer asked for",
				Body:    &eventattach.ItemBody{ContentType: "text", Content: "Export to CSV, and SSO."},
				ToRecipients: []eventattach.Recipient{
					{EmailAddress: eventattach.EmailAddress{Name: "Adele Vance", Address: "adele@contoso.com"}},
				},
			},
		},
		{
			Name: "Speaker",
			Item: &eventattach.Contact{
				GivenName:      "Megan",
				Surname:        "Bowen",
				DisplayName:    "Megan Bowen",
				EmailAddresses: []eventattach.EmailAddress{{Name: "Megan Bowen", Address: "megan@contoso.com"}},
			},
		},
	}
	var ids []string
	for _, it := range items {
		got, err := atts.AddItem(ctx, it)
		if err != nil {
			log.Fatalf("attaching %q: %v", it.Name, err)
		}
		ids = append(ids, got.ID)
		fmt.Printf("attached %-8s %-16q id %s\n", kind(got.Item), got.Name, got.ID)
	}

	// Add takes any Attachment and returns the same concrete type.
	got, err := atts.Add(ctx, &eventattach.ItemAttachment{Name: "Retro", Item: &eventattach.Event{Subject: "Retro"}})
	if err != nil {
		log.Fatal(err)
	}
	ids = append(ids, got.AttachmentID())
	fmt.Printf("attached %-8s %-16q via Add (%T)\n", "event", got.AttachmentName(), got)

	list, err := atts.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("the event has %d attachment(s)\n", len(list))

	if srv != nil {
		// The emulator keeps the item JSON exactly as the SDK sent it.
		for _, a := range srv.Attachments(user, eventID) {
			fmt.Printf("  stored %-16q %s\n", a.Name, a.Item)
		}
		return
	}
	for _, id := range ids {
		if err := atts.Delete(ctx, id); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("deleted them again")
}

func kind(it eventattach.OutlookItem) string {
	switch it.(type) {
	case *eventattach.Event:
		return "event"
	case *eventattach.Message:
		return "message"
	case *eventattach.Contact:
		return "contact"
	}
	return "item"
}

// connect returns a client for Microsoft Graph when Azure settings and
// GRAPH_USER/GRAPH_EVENT_ID are present, and otherwise one for a graphtest
// emulator (returned too, so it can be closed) seeded with a user and event.
func connect() (c *eventattach.Client, user, eventID string, srv *graphtest.Server, err error) {
	user, eventID = os.Getenv("GRAPH_USER"), os.Getenv("GRAPH_EVENT_ID")
	if user != "" && eventID != "" && (os.Getenv("AZURE_CLIENT_ID") != "" || os.Getenv("AZURE_TENANT_ID") != "") {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, "", "", nil, err
		}
		c, err = eventattach.NewClient(cred, nil)
		return c, user, eventID, nil, err
	}
	srv = graphtest.NewServer(nil)
	user, eventID = "adele@contoso.com", "AAMkAGI1AAAt9AHjAAA="
	srv.User(user).AddEvent(eventID)
	c, err = eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})
	fmt.Println("offline: graphtest emulator at", srv.URL())
	return c, user, eventID, srv, err
}
