// Largefile uploads a file from disk to a calendar event through an upload
// session, with a progress bar on the terminal (plain lines when stdout is
// not a terminal, as in CI).
//
//	cd examples/largefile && go run .                 # a generated 20 MiB file, offline
//	cd examples/largefile && go run . -file deck.pdf  # your file
//
// Upload takes any io.Reader up to 150 MiB and streams it: from 3 MiB on it
// opens an upload session and PUTs 3.75 MiB chunks to the upload URL Graph
// returns, which is pre-authenticated, so the SDK sends it no bearer token.
//
// This example has its own go.mod so that the progress bar library stays out
// of the SDK's dependencies. Offline by default (graphtest); against Graph,
// set GRAPH_USER, GRAPH_EVENT_ID and the settings of a DefaultAzureCredential
// source (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, ...); the
// uploaded attachment stays on that event.
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
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
	"github.com/schollz/progressbar/v3"
)

func main() {
	path := flag.String("file", "", "file to upload (default: a generated 20 MiB file in a temp dir)")
	flag.Parse()
	log.SetFlags(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	if *path == "" {
		dir, err := os.MkdirTemp("", "largefile")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		*path = filepath.Join(dir, "recording.bin")
		if err := generate(*path, 20<<20); err != nil {
			log.Fatal(err)
		}
	}
	f, err := os.Open(*path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		log.Fatal(err)
	}

	client, user, eventID, srv, err := connect()
	if err != nil {
		log.Fatal(err)
	}
	if srv != nil {
		defer srv.Close()
	}

	name := filepath.Base(*path)
	contentType := mime.TypeByExtension(filepath.Ext(name))
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	// Hash while uploading, to compare with what the emulator stored.
	h := sha256.New()
	start := time.Now()
	att, err := client.Users(user).Events(eventID).Attachments().Upload(ctx, eventattach.FileUpload{
		Name:        name,
		ContentType: contentType,
		Content:     io.TeeReader(f, h),
		Size:        st.Size(),
		Progress:    progress(name, st.Size()),
	})
	if err != nil {
		log.Fatalf("upload: %v", err)
	}
	took := time.Since(start)
	fmt.Printf("uploaded %q: %d bytes in %s, attachment id %s\n", att.Name, att.Size, took.Round(time.Millisecond), att.ID)

	if srv == nil {
		return
	}
	// Offline, check what the emulator got.
	for _, a := range srv.Attachments(user, eventID) {
		if a.ID == att.ID {
			sum := sha256.Sum256(a.Content)
			fmt.Printf("the emulator stored %d bytes; sha256 matches: %v\n", len(a.Content), bytes.Equal(sum[:], h.Sum(nil)))
		}
	}
	uploadHost := strings.TrimPrefix(srv.UploadURLBase(), "http://")
	puts, withAuth := 0, 0
	for _, r := range srv.Requests() {
		if r.Host == uploadHost && r.Method == "PUT" {
			puts++
			if r.Header.Get("Authorization") != "" {
				withAuth++
			}
		}
	}
	fmt.Printf("chunks PUT to the upload host: %d, carrying an Authorization header: %d\n", puts, withAuth)
}

// progress returns an Upload progress callback: a progress bar when stdout
// is a terminal, otherwise one plain line per chunk.
func progress(name string, total int64) func(sent, total int64) {
	if st, err := os.Stdout.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		bar := progressbar.NewOptions64(total,
			progressbar.OptionSetDescription(name),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Println() }),
		)
		return func(sent, _ int64) { _ = bar.Set64(sent) }
	}
	return func(sent, total int64) {
		fmt.Printf("%s: %5.1f of %.1f MiB (%3d%%)\n", name, float64(sent)/(1<<20), float64(total)/(1<<20), sent*100/max(total, 1))
	}
}

// generate writes size pseudo-random bytes to path.
func generate(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{'e', 'v', 'e', 'n', 't'})
	if _, err := io.CopyN(f, rng, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
