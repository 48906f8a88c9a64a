// Quickstart adds a file attachment and an item attachment to one calendar
// event, by two different routes, and lists the event's attachments.
//
// With no settings it runs offline: it starts the graphtest emulator in this
// process and seeds a user and an event, so it needs no tenant and no network:
//
//	go run ./examples/quickstart
//
// Against Microsoft Graph, set GRAPH_USER (an id or userPrincipalName) and
// GRAPH_EVENT_ID (an event in that user's default calendar) plus the settings
// of any azidentity.DefaultAzureCredential source, e.g. AZURE_TENANT_ID,
// AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for an app with Calendars.ReadWrite.
// The attachments it adds are deleted again at the end unless -keep is given.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
)

func main() {
	keep := flag.Bool("keep", false, "against Graph: keep the attachments instead of deleting them at the end")
	flag.Parse()
	log.SetFlags(0)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	client, user, eventID, srv, err := connect()
	if err != nil {
		log.Fatal(err)
	}
	// Two routes to the same event: the fluent builder only compiles chains
	// that Graph documents.
	var byEvents, byCalendar eventattach.EventPath
	if srv != nil {
		defer srv.Close()
		byEvents = client.Me().Events(eventID)
		byCalendar = client.Users(user).CalendarGroups("work").Calendars("projects").Events(eventID)
	} else {
		byEvents = client.Users(user).Events(eventID)
		byCalendar = client.Users(user).Calendar().Events(eventID)
	}

	// 1. A small file (under eventattach.MaxAddFileSize, 3 MB): one POST.
	file, err := byEvents.Attachments().AddFile(ctx, &eventattach.FileAttachment{
		Name:         "agenda.txt",
		ContentType:  "text/plain",
		ContentBytes: []byte("1. Welcome\n2. Roadmap\n3. Questions\n"),
	})
	if err != nil {
		log.Fatalf("adding the file: %v", err)
	}
	fmt.Printf("added file  %q (%d bytes) via %s\n  id %s\n", file.Name, file.Size, byEvents.Attachments().Path(), file.ID)

	// 2. An Outlook item (here an event) attached by another route.
	item, err := byCalendar.Attachments().AddItem(ctx, &eventattach.ItemAttachment{
		Name: "Follow-up meeting",
		Item: &eventattach.Event{
			Subject: "Follow-up",
			Body:    &eventattach.ItemBody{ContentType: "text", Content: "Decisions and owners."},
			Start:   &eventattach.DateTimeTimeZone{DateTime: "2026-12-02T18:00:00", TimeZone: "Pacific Standard Time"},
			End:     &eventattach.DateTimeTimeZone{DateTime: "2026-12-02T19:00:00", TimeZone: "Pacific Standard Time"},
		},
	})
	if err != nil {
		log.Fatalf("adding the item: %v", err)
	}
	fmt.Printf("added item  %q via %s\n  id %s\n", item.Name, byCalendar.Attachments().Path(), item.ID)

	// 3. List: metadata only, following @odata.nextLink.
	atts, err := byEvents.Attachments().List(ctx)
	if err != nil {
		log.Fatalf("listing: %v", err)
	}
	fmt.Printf("event %s now has %d attachment(s):\n", eventID, len(atts))
	for _, a := range atts {
		switch a := a.(type) {
		case *eventattach.FileAttachment:
			fmt.Printf("  file  %-20q %6d bytes  %s\n", a.Name, a.Size, a.ContentType)
		case *eventattach.ItemAttachment:
			fmt.Printf("  item  %-20q %6d bytes\n", a.Name, a.Size)
		case *eventattach.ReferenceAttachment:
			fmt.Printf("  link  %-20q\n", a.Name)
		}
	}

	if srv == nil && !*keep {
		for _, id := range []string{file.ID, item.ID} {
			if err := byEvents.Attachments().Delete(ctx, id); err != nil {
				log.Fatalf("cleaning up: %v", err)
			}
		}
		fmt.Println("deleted both again (run with -keep to keep them)")
	}
	if srv != nil {
		fmt.Printf("offline: the emulator received %d requests; took %s\n", len(srv.Requests()), time.Since(start).Round(time.Millisecond))
		fmt.Println("next: go test ./...   (or set GRAPH_USER, GRAPH_EVENT_ID and AZURE_* to run against Graph)")
	}
}

// connect returns a client for Microsoft Graph when Azure settings and
// GRAPH_USER/GRAPH_EVENT_ID are present, and otherwise one for a graphtest
// emulator (returned too, so it can be closed) seeded with a user and event.
func connect() (c *eventattach.Client, user, eventID string, srv *graphtest.Server, err error) {
	user, eventID = os.Getenv("GRAPH_USER"), os.Getenv("GRAPH_EVENT_ID")
	azure := os.Getenv("AZURE_CLIENT_ID") != "" || os.Getenv("AZURE_TENANT_ID") != ""
	if azure && user != "" && eventID != "" {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, "", "", nil, err
		}
		c, err = eventattach.NewClient(cred, nil)
		return c, user, eventID, nil, err
	}
	if azure {
		fmt.Println("AZURE_* is set but GRAPH_USER or GRAPH_EVENT_ID is not: running offline")
	}
	srv = graphtest.NewServer(nil)
	user, eventID = "me@contoso.com", "AAMkAGI1AAAt9AHjAAA="
	srv.Me().AddCalendarGroup("work").AddCalendar("projects").AddEvent(eventID)
	c, err = eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})
	fmt.Printf("offline: graphtest emulator at %s (user %s, event %s)\n", srv.URL(), user, eventID)
	return c, user, eventID, srv, err
}
