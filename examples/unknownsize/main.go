// Unknownsize uploads content whose length is not known in advance, read
// from standard input or produced by a goroutine, to a calendar event:
// eventattach.Spool reads it to its end (into memory under 3 MiB, otherwise
// into a temporary file, refusing more than 150 MiB), which gives Upload the
// exact size it needs. It then downloads the attachment with Content and
// checks that the sha256 of the stored bytes matches what was read.
//
//	go run ./examples/unknownsize                              # a generated 5 MiB stream, offline
//	tar cz ./docs | go run ./examples/unknownsize -name docs.tgz
//
// When standard input is a terminal, /dev/null or empty, the example uses a
// generated stream of 5 MiB of pseudo-random bytes written into a pipe.
//
// Offline by default (graphtest). Against Microsoft Graph, set GRAPH_USER,
// GRAPH_EVENT_ID and the settings of any azidentity.DefaultAzureCredential
// source (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, ...); the
// attachment is deleted again at the end unless -keep is given.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
)

func main() {
	name := flag.String("name", "", `attachment name (default "stdin.bin", or "generated.bin" for the generated stream)`)
	dir := flag.String("dir", "", "directory for the temporary file (default: the system's temp directory)")
	keep := flag.Bool("keep", false, "against Graph: keep the attachment instead of deleting it at the end")
	flag.Parse()
	log.SetFlags(0)
	if err := run(*name, *dir, *keep); err != nil {
		log.Fatal(err)
	}
}

func run(name, dir string, keep bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	stream, source := input()
	if name == "" {
		name = source + ".bin"
	}

	client, user, eventID, srv, err := connect()
	if err != nil {
		return err
	}
	if srv != nil {
		defer srv.Close()
	}
	atts := client.Users(user).Events(eventID).Attachments()

	// Spool: read the stream to its end, hashing what goes by.
	sent := sha256.New()
	spooled, err := eventattach.Spool(io.TeeReader(stream, sent), dir)
	if errors.Is(err, eventattach.ErrTooLarge) {
		return fmt.Errorf("%s is too large for an attachment: %w", source, err)
	}
	if err != nil {
		return fmt.Errorf("spooling %s: %w", source, err)
	}
	defer spooled.Close() // frees the temporary file
	fmt.Printf("spooled %d bytes from %s\n", spooled.Size(), source)

	att, err := atts.Upload(ctx, eventattach.FileUpload{
		Name:        name,
		ContentType: "application/octet-stream",
		Content:     spooled,
		Size:        spooled.Size(),
	})
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	fmt.Printf("uploaded %q, attachment id %s\n", att.Name, att.ID)

	// Download the stored bytes ($value) and compare their hash.
	body, err := atts.Content(ctx, att.ID)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	stored := sha256.New()
	n, err := io.Copy(stored, body)
	body.Close()
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	match := n == spooled.Size() && bytes.Equal(sent.Sum(nil), stored.Sum(nil))
	fmt.Printf("stored %d bytes; sha256 %x matches: %v\n", n, stored.Sum(nil), match)

	if srv == nil && !keep {
		if err := atts.Delete(ctx, att.ID); err != nil {
			return fmt.Errorf("cleaning up: %w", err)
		}
		fmt.Println("deleted it again (run with -keep to keep it)")
	}
	if !match {
		return errors.New("the stored bytes differ from the ones read")
	}
	return nil
}

// input returns standard input when it has something to read (a pipe or a
// file that is not empty), and otherwise a generated stream of unknown length.
func input() (io.Reader, string) {
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice == 0 {
		in := bufio.NewReaderSize(os.Stdin, 64<<10)
		if _, err := in.Peek(1); err == nil {
			return in, "stdin"
		}
	}
	return generated(5 << 20), "generated"
}

// generated returns a pipe that a goroutine fills with size pseudo-random
// bytes: like a network stream, its reader cannot tell its length.
func generated(size int64) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		rng := rand.NewChaCha8([32]byte{'u', 'n', 'k', 'n', 'o', 'w', 'n'})
		_, err := io.CopyN(pw, rng, size)
		pw.CloseWithError(err) // nil: the reader sees io.EOF
	}()
	return pr
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
	user, eventID = "adele@contoso.com", "AAMkAGI1AAAt9AHjAAA="
	srv.User(user).AddEvent(eventID)
	c, err = eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})
	fmt.Println("offline: graphtest emulator at", srv.URL())
	return c, user, eventID, srv, err
}
