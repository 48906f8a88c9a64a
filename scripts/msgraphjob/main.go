// Command msgraphjob runs jobbench's job with msgraph-sdk-go, for the
// comparison in scripts/jobbench.sh. It is a module of its own so that
// msgraph-sdk-go and Kiota never enter eventattach's go.mod.
//
// It reads the job (the JSON jobbench writes with -spec) on stdin, attaches
// every file with W workers (worker i serves mailbox i mod M, as jobbench's
// own clients do), and prints one JSON line: wall seconds, failed files and
// the first failure. Files under 3 MiB are POSTed; the others go through
// createUploadSession and msgraph-sdk-go-core's LargeFileUploadTask with
// 3.75 MiB slices. Kiota's default middleware is kept (its RetryHandler
// honours Retry-After, at most 3 retries) except request compression, which
// graphtest does not decode.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go-core/fileuploader"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// spec mirrors jobbench's job file.
type spec struct {
	Graph     string   `json:"graph"`
	Token     string   `json:"token"`
	Workers   int      `json:"workers"`
	Mailboxes []string `json:"mailboxes"`
	Event     string   `json:"event"`
	Files     []struct {
		MB   int    `json:"mb"`
		Name string `json:"name"`
		Size int64  `json:"size"`
		Seed uint64 `json:"seed"`
	} `json:"files"`
}

const (
	maxAddSize = 3 << 20
	sliceSize  = 12 * 320 << 10
)

// auth adds the bearer token for the Graph host only (never for the upload
// host, which refuses it).
type auth struct {
	host, token string
}

func (a auth) AuthenticateRequest(_ context.Context, r *abstractions.RequestInformation, _ map[string]any) error {
	u, err := r.GetUri()
	if err != nil {
		return err
	}
	if u.Host == a.host {
		r.Headers.Add("Authorization", "Bearer "+a.token)
	}
	return nil
}

// content is jobbench's deterministic file content, readable at any offset.
type content struct {
	name string
	size int64
	seed uint64
}

func at(seed uint64, i int64) byte { return byte((uint64(i)*2654435761)>>13 + seed) }

func (c content) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for ; n < len(p) && off+int64(n) < c.size; n++ {
		p[n] = at(c.seed, off+int64(n))
	}
	if n < len(p) {
		return n, fmt.Errorf("EOF")
	}
	return n, nil
}

func (c content) Stat() (os.FileInfo, error) { return info{c}, nil }

type info struct{ c content }

func (i info) Name() string       { return i.c.name }
func (i info) Size() int64        { return i.c.size }
func (i info) Mode() fs.FileMode  { return 0o644 }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return false }
func (i info) Sys() any           { return nil }

func main() {
	var s spec
	if err := json.NewDecoder(os.Stdin).Decode(&s); err != nil {
		fail(err)
	}
	g, err := url.Parse(s.Graph)
	if err != nil {
		fail(err)
	}
	mw, err := khttp.GetDefaultMiddlewaresWithOptions(khttp.NewCompressionOptionsReference(false))
	if err != nil {
		fail(err)
	}
	opts := core.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: "bench"}
	mw = append([]khttp.Middleware{core.NewGraphTelemetryHandler(&opts)}, mw...)
	hc := khttp.GetDefaultClient(mw...)
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth{g.Host, s.Token}, nil, nil, hc)
	if err != nil {
		fail(err)
	}
	adapter.SetBaseUrl(s.Graph)
	client := msgraphsdk.NewGraphServiceClient(adapter)

	queues := make([]chan int, len(s.Mailboxes))
	for i := range queues {
		queues[i] = make(chan int, len(s.Files))
	}
	for i, f := range s.Files {
		queues[f.MB] <- i
	}
	for _, q := range queues {
		close(q)
	}
	var failed atomic.Int64
	var firstErr atomic.Value
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < s.Workers; w++ {
		wg.Go(func() {
			for i := range queues[w%len(queues)] {
				f := s.Files[i]
				c := content{f.Name, f.Size, f.Seed}
				atts := client.Users().ByUserId(s.Mailboxes[f.MB]).Events().ByEventId(s.Event).Attachments()
				var err error
				if f.Size < maxAddSize {
					b := make([]byte, f.Size)
					c.ReadAt(b, 0)
					a := models.NewFileAttachment()
					typ := "#microsoft.graph.fileAttachment"
					a.SetOdataType(&typ)
					a.SetName(&f.Name)
					a.SetContentBytes(b)
					_, err = atts.Post(ctx, a, nil)
				} else {
					err = upload(ctx, adapter, atts, c)
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	wg.Wait()
	out := map[string]any{"seconds": time.Since(start).Seconds(), "failed": failed.Load()}
	if e := firstErr.Load(); e != nil {
		out["error"] = e
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

func upload(ctx context.Context, adapter abstractions.RequestAdapter, atts *users.ItemEventsItemAttachmentsRequestBuilder, c content) error {
	item := models.NewAttachmentItem()
	typ := models.FILE_ATTACHMENTTYPE
	item.SetAttachmentType(&typ)
	item.SetName(&c.name)
	item.SetSize(&c.size)
	body := users.NewItemEventsItemAttachmentsCreateUploadSessionPostRequestBody()
	body.SetAttachmentItem(item)
	sess, err := atts.CreateUploadSession().Post(ctx, body, nil)
	if err != nil {
		return err
	}
	task := fileuploader.NewLargeFileUploadTask[models.Attachmentable](adapter, sess, c, sliceSize, models.CreateAttachmentFromDiscriminatorValue, nil)
	res := task.Upload(func(int64, int64) {})
	if !res.GetUploadSucceeded() {
		errs := res.GetResponseErrors()
		if len(errs) > 0 {
			return fmt.Errorf("upload of %s: %d slice(s) failed, first: %v", c.name, len(errs), errs[0])
		}
		return fmt.Errorf("upload of %s failed", c.name)
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "msgraphjob:", err)
	os.Exit(1)
}
