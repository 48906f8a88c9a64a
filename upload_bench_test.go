package eventattach

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Memory and throughput of Upload against a scripted upload host that
// discards bodies (graphtest would keep the file in this process's heap),
// compared with a bare net/http loop PUTting the same chunks to the same
// kind of server:
//
//	go test -run '^$' -bench 'Upload100MiB|RawPUT100MiB' -benchtime 5x .

const benchSize = 100 << 20

// heapPeak samples HeapInuse every 2 ms until stop is called, and returns
// the peak above the level measured (after a GC) when it started.
func heapPeak() (stop func() uint64) {
	uploadPattern() // the test content's pattern is allocated once, before the baseline
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	peak.Store(base)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load() - base
	}
}

// peakLimit is what Upload may hold above the baseline: two chunks and 16 MiB.
const peakLimit = 2*DefaultChunkSize + 16<<20

func uploadDiscarded(tb testing.TB, a Attachments, size int64) {
	att, err := a.Upload(context.Background(), FileUpload{Name: "f.bin", Content: &readOnly{newPattern(size)}, Size: size})
	if err != nil {
		tb.Fatal(err)
	}
	if att.ID != "att'1" {
		tb.Fatalf("id %q", att.ID)
	}
}

func BenchmarkUpload100MiB(b *testing.B) {
	f := newFakeSession(b, false)
	// Pacing is not what this measures: a 100 MiB upload per iteration is
	// over Outlook's 150 MB per 5 minutes, which pacing would wait out.
	a := f.client(b, func(o *ClientOptions) { o.MailboxByteBudget = -1 }).Me().Events("e").Attachments()
	uploadDiscarded(b, a, MaxAddSize) // warm the connections up
	b.SetBytes(benchSize)
	b.ReportAllocs()
	stop := heapPeak()
	b.ResetTimer()
	for b.Loop() {
		uploadDiscarded(b, a, benchSize)
	}
	b.StopTimer()
	peak := stop()
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	if peak > peakLimit {
		b.Errorf("peak heap %.1f MiB above the baseline; the limit is %.1f MiB", float64(peak)/(1<<20), float64(peakLimit)/(1<<20))
	}
}

func BenchmarkRawPUT100MiB(b *testing.B) {
	f := newFakeSession(b, false)
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	uploadURL := f.upload.URL + "/api/v2.0/Users('u')/Events('e')/AttachmentSessions('s')?authtoken=" + f.token
	buf := make([]byte, DefaultChunkSize)
	put := func(size int64) {
		f.mu.Lock()
		f.size, f.have = size, 0
		f.mu.Unlock()
		r := &readOnly{newPattern(size)}
		for off := int64(0); off < size; {
			n, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-off)])
			if err != nil {
				b.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPut, uploadURL, bytes.NewReader(buf[:n]))
			req.Header.Set("Content-Type", "application/octet-stream")
			req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+int64(n)-1, size))
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
				b.Fatalf("status %d", resp.StatusCode)
			}
			off += int64(n)
		}
	}
	put(MaxAddSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	stop := heapPeak()
	b.ResetTimer()
	for b.Loop() {
		put(benchSize)
	}
	b.StopTimer()
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
}

// TestUploadPeakHeap is the benchmark's memory check at a size that runs in
// every test run (-race included: its shadow memory is not Go heap).
func TestUploadPeakHeap(t *testing.T) {
	f := newFakeSession(t, false)
	a := f.client(t).Me().Events("e").Attachments()
	uploadDiscarded(t, a, MaxAddSize)
	stop := heapPeak()
	uploadDiscarded(t, a, 40<<20)
	peak := stop()
	t.Logf("peak heap above baseline: %.1f MiB (limit %.1f MiB)", float64(peak)/(1<<20), float64(peakLimit)/(1<<20))
	if peak > peakLimit {
		t.Errorf("peak heap %.1f MiB above the baseline; the limit is %.1f MiB", float64(peak)/(1<<20), float64(peakLimit)/(1<<20))
	}
}
