package eventattach_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
)

// A job delivered twice, by a queue that delivers at least once, to two
// processes: each gives the task's id as the key, and both share a store.
func ExampleAddOptions_key() {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.Me().AddEvent("e1")
	dir, _ := os.MkdirTemp("", "keys")
	defer os.RemoveAll(dir)

	process := func() *eventattach.Client {
		store, err := eventattach.NewDirStore(dir) // processes on one host
		if err != nil {
			log.Fatal(err)
		}
		c, _ := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL(), Store: store})
		return c
	}
	file := &eventattach.FileAttachment{Name: "agenda.txt", ContentBytes: []byte("1. Budget")}
	first, err := process().Me().Events("e1").Attachments().AddFile(context.Background(), file, &eventattach.AddOptions{Key: "task-42"})
	if err != nil {
		log.Fatal(err)
	}
	again, err := process().Me().Events("e1").Attachments().AddFile(context.Background(), file, &eventattach.AddOptions{Key: "task-42"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same attachment:", first.ID == again.ID)
	fmt.Println("attachments on the event:", len(srv.Attachments("me", "e1")))
	fmt.Println("Graph requests:", len(srv.Requests()))

	// The key is bound to its first attachment.
	_, err = process().Me().Events("e1").Attachments().AddFile(context.Background(),
		&eventattach.FileAttachment{Name: "agenda.txt", ContentBytes: []byte("2. Hiring")}, &eventattach.AddOptions{Key: "task-42"})
	fmt.Println("other content under the key:", errors.Is(err, eventattach.ErrInvalidInput))
	// Output:
	// same attachment: true
	// attachments on the event: 1
	// Graph requests: 1
	// other content under the key: true
}
