package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// procsMode runs the sdk job once per K in list, each time split across K
// processes (this binary with -child), every one with its own Client and
// W/K workers on all M mailboxes: each mailbox is hit by K processes at
// once, none of which knows of the others, as replicas of a worker are.
// The server is in this process; the run's time is from the first child's
// start to the last one's end.
func procsMode(list string, files []file, b boundResult, m, w int, scale float64) {
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	fmt.Printf("job: %d attachments (%s) across %d mailboxes, %d workers in all; graphtest default limits, DefaultLatency, TimeScale %g\n",
		len(files), describe(files), m, w, scale)
	fmt.Printf("bound: %s (mailbox %d: %s)\n", mins(b.total), b.mailbox, b.why)
	var lines []string
	for _, ks := range strings.Split(list, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(ks))
		if err != nil || k < 1 || w/k < m {
			fail(fmt.Errorf("-procs %q: each K must be at least 1, with -w/K at least -m", list))
		}
		srv := newServer(m, scale)
		tok, err := srv.Credential().GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
		if err != nil {
			fail(err)
		}
		// Process i takes every K-th file of each mailbox.
		parts := make([][]file, k)
		for i, f := range files {
			parts[(i/m)%k] = append(parts[(i/m)%k], f)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failed int64
		var firstErr string
		start := time.Now()
		for i := range k {
			in, _ := json.Marshal(spec{Graph: srv.URL(), Token: tok.Token, Workers: w / k, Event: event, Files: parts[i],
				Mailboxes: make([]string, m)})
			cmd := exec.Command(self, "-child", "-m", strconv.Itoa(m), "-scale", strconv.FormatFloat(scale, 'g', -1, 64))
			cmd.Stdin = bytes.NewReader(in)
			cmd.Stderr = os.Stderr
			wg.Go(func() {
				out, err := cmd.Output()
				var res struct {
					Failed int64 `json:"failed"`
				}
				if err == nil {
					err = json.Unmarshal(out, &res)
				}
				mu.Lock()
				defer mu.Unlock()
				failed += res.Failed
				if err != nil {
					failed += int64(len(parts[i]))
					firstErr = err.Error()
				}
			})
		}
		wg.Wait()
		wall := time.Since(start)
		model := time.Duration(float64(wall) * scale)
		t429 := 0
		for _, q := range srv.Requests() {
			if q.Status == http.StatusTooManyRequests {
				t429++
			}
		}
		requests := len(srv.Requests())
		if missing := check(srv, files, m); missing > failed {
			failed = missing
		}
		srv.Close()
		fmt.Printf("K=%d: %d processes × %d workers: %s (wall %s), ratio %.3f, 429s %d, requests %d, failed %d %s\n",
			k, k, w/k, mins(model), wall.Round(time.Millisecond), ratio(model, b.total), t429, requests, failed, firstErr)
		lines = append(lines, fmt.Sprintf("job K=%d: sdk/bound %.3f, 429s %d", k, ratio(model, b.total), t429))
	}
	for _, l := range lines {
		fmt.Println(l)
	}
}

// sdkChild is one process of -procs: the job spec on stdin, the SDK with
// the spec's workers, {"failed": n} on stdout.
func sdkChild(scale float64) {
	var s spec
	if err := json.NewDecoder(os.Stdin).Decode(&s); err != nil {
		fail(err)
	}
	failed := sdkJob(staticToken(s.Token), s.Graph, s.Files, len(s.Mailboxes), s.Workers, scale)
	if t := tally(); t != "" {
		fmt.Fprintln(os.Stderr, "429s seen by one process:", t)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]int64{"failed": failed})
}
