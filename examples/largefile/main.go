// Largefile uploads a file from disk to a calendar event through an upload
// session, with a progress bar on the terminal (plain lines when stdout is
// not a terminal, as in CI).
//
//	cd examples/largefile && go run .                 # a generated 20 MiB file, offline
//	cd examples/largefile && go run . -file deck.pdf  # your file
//	cd examples/largefile && go run . -file deck.pdf -state deck.upload.json
//
// With -state, the upload's checkpoint (an eventattach.UploadState) is saved
// to that file after every acknowledged chunk, and a run that finds it
// resumes the upload where the last one stopped, even one killed with
// SIGKILL (scripts/resume-largefile.sh does exactly that). The state file
// holds the upload URL's authtoken: it is written with mode 0600 and removed
// once the upload is done.
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
	"encoding/json"
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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
	"github.com/schollz/progressbar/v3"
)

func main() {
	path := flag.String("file", "", "file to upload (default: a generated 20 MiB file in a temp dir)")
	stateFile := flag.String("state", "", "save the upload's state here and resume from it if it exists")
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
	// The file's sha256, to compare with what was stored.
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		log.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	atts := client.Users(user).Events(eventID).Attachments()
	var att *eventattach.FileAttachment
	if state, ok := loadState(*stateFile, name, st.Size()); ok {
		fmt.Printf("resuming %q from its saved state (%d of %d bytes acknowledged)\n", name, state.Acked, state.Size)
		att, err = client.ResumeUpload(ctx, state, f, &eventattach.ResumeOptions{Progress: progress(name, st.Size()), Checkpoint: saver(*stateFile)})
	} else {
		att, err = atts.Upload(ctx, eventattach.FileUpload{
			Name:        name,
			ContentType: contentType,
			Content:     f,
			Size:        st.Size(),
			Progress:    progress(name, st.Size()),
			Checkpoint:  saver(*stateFile),
		})
	}
	if err != nil {
		log.Fatalf("upload: %v", err)
	}
	if *stateFile != "" {
		os.Remove(*stateFile) // done: the state (and its authtoken) is of no further use
	}
	took := time.Since(start)
	fmt.Printf("uploaded %q: %d bytes in %s, attachment id %s\n", att.Name, st.Size(), took.Round(time.Millisecond), att.ID)

	if srv == nil {
		// Read it back from Graph (or the stand-in) and compare.
		rc, err := atts.Content(ctx, att.ID)
		if err != nil {
			log.Fatalf("download: %v", err)
		}
		defer rc.Close()
		got := sha256.New()
		if _, err := io.Copy(got, rc); err != nil {
			log.Fatalf("download: %v", err)
		}
		fmt.Printf("downloaded it again; sha256 matches: %v\n", bytes.Equal(got.Sum(nil), h.Sum(nil)))
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

// saver returns a Checkpoint callback that writes the state to path (mode
// 0600: it holds the upload URL's authtoken), atomically, so a process
// killed while writing leaves the previous state.
func saver(path string) func(eventattach.UploadState) {
	if path == "" {
		return nil
	}
	return func(s eventattach.UploadState) {
		b, err := json.Marshal(s)
		if err != nil {
			log.Printf("saving the upload state: %v", err)
			return
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			log.Printf("saving the upload state: %v", err)
			return
		}
		if err := os.Rename(tmp, path); err != nil {
			log.Printf("saving the upload state: %v", err)
		}
	}
}

// loadState reads a saved state for this file, if there is one.
func loadState(path, name string, size int64) (eventattach.UploadState, bool) {
	var s eventattach.UploadState
	if path == "" {
		return s, false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return s, false
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Name != name || s.Size != size {
		log.Printf("ignoring %s: not a saved upload of %q", path, name)
		return s, false
	}
	return s, true
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

// staticToken is a credential holding one token (EVENTATTACH_TOKEN, as
// graphtest/cmd/graphtest prints it).
type staticToken string

func (t staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
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
	if base, tok := os.Getenv("EVENTATTACH_BASE_URL"), os.Getenv("EVENTATTACH_TOKEN"); base != "" && tok != "" {
		// A Graph stand-in that outlives this process (graphtest/cmd/graphtest).
		c, err = eventattach.NewClient(staticToken(tok), &eventattach.ClientOptions{BaseURL: base})
		return c, user, eventID, nil, err
	}
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
