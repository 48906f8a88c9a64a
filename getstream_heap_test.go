package eventattach

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// graphtestChild is the child process of TestGetPeakHeapOn150MiBAttachment
// (EVENTATTACH_GRAPHTEST_CHILD=1): a graphtest server with the event
// "ev-big" on /me, serving until its stdin closes. In its own process, the
// server's buffers (it marshals the 200 MB answer whole) are not in the
// heap the test measures.
func graphtestChild() {
	srv := graphtest.NewServer(&graphtest.Options{UploadByteLimit: -1, MaxBodyRecorded: -1})
	defer srv.Close()
	srv.Me().AddEvent("ev-big")
	tok := srv.Credential().IssueToken(time.Hour)
	fmt.Printf("URL %s\nTOKEN %s\n", srv.URL(), tok.Token)
	io.Copy(io.Discard, os.Stdin) // until the parent exits or closes it
}

// startGraphtestProc starts graphtestChild and returns its Graph root and a
// token it takes.
func startGraphtestProc(t *testing.T) (root, token string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.v=false", "-test.bench=^$")
	cmd.Env = append(os.Environ(), "EVENTATTACH_GRAPHTEST_CHILD=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	for (root == "" || token == "") && sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
			root = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "TOKEN "); ok {
			token = v
		}
	}
	require.NotEmpty(t, root, "graphtest process printed no URL")
	require.NotEmpty(t, token, "graphtest process printed no token")
	go io.Copy(io.Discard, stdout)
	return root, token
}

// objectsPeak samples the bytes of heap objects (live, and dead ones not
// yet swept) every 200µs until stopped, and returns the highest sample.
// runtime/metrics reads them without stopping the world.
func objectsPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	var (
		mu   sync.Mutex
		peak = read()
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			v := read()
			mu.Lock()
			peak = max(peak, v)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return max(peak, read())
	}
}

func heapObjects() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// Get of the largest file an upload session takes (150 MiB, some 200 MB of
// JSON) holds the decoded bytes and little else: the heap grows by at most
// 1.1× the file plus 1 MiB while Get runs. graphtest runs in a process of its
// own (see graphtestChild).
func TestGetPeakHeapOn150MiBAttachment(t *testing.T) {
	if raceEnabled {
		t.Skip("a heap measurement: meaningless under -race (it runs in the plain go test of CI)")
	}
	if testing.Short() {
		t.Skip("moves 350 MB through a graphtest process")
	}
	root, token := startGraphtestProc(t)
	noBudget := func(o *ClientOptions) { o.MailboxByteBudget = -1 } // 150 MiB would fill the 5 minutes' budget
	atts := newTestClient(t, root, &countingCred{token: token}, noBudget).Me().Events("ev-big").Attachments()
	ctx := context.Background()
	const size = MaxUploadSize
	up, err := atts.Upload(ctx, FileUpload{Name: "big.bin", ContentType: "application/octet-stream", Content: newPattern(size), Size: size})
	require.NoError(t, err)

	runtime.GC()
	runtime.GC()
	before := heapObjects()
	stop := objectsPeak()
	start := time.Now()
	got, err := atts.Get(ctx, up.ID)
	took := time.Since(start)
	peak := stop()
	require.NoError(t, err)
	f, ok := got.(*FileAttachment)
	require.True(t, ok, "got %T", got)
	require.Len(t, f.ContentBytes, size)
	pat := uploadPattern()
	for off := 0; off < size; off += len(pat) {
		if n := min(len(pat), size-off); !bytes.Equal(f.ContentBytes[off:off+n], pat[:n]) {
			t.Fatalf("the content differs from what was uploaded in bytes %d to %d", off, off+n)
		}
	}
	growth := peak - min(peak, before)
	limit := uint64(size)*11/10 + 1<<20
	t.Logf("Get of %d bytes took %v; peak heap growth %d bytes (%.1f MiB, %.3f× the file; limit %.1f MiB)",
		size, took.Round(time.Millisecond), growth, float64(growth)/(1<<20), float64(growth)/size, float64(limit)/(1<<20))
	assert.LessOrEqual(t, growth, limit, "peak heap growth during Get")
	runtime.KeepAlive(f)
}
