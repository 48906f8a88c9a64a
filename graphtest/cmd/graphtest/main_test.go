package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProcess builds the command, runs it, talks to it over HTTP with the
// token it printed, and stops it with SIGTERM.
func TestProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "graphtest")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-users", "adele@contoso.com,bob@contoso.com", "-events", "AAMkProc1=",
		"-attendees", "AAMkProc1=:carol@contoso.com", "-faults", "DELETE:503:1")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()

	// The assignments, read as they come: the fifth line means it serves.
	vars := map[string]string{}
	sc := bufio.NewScanner(stdout)
	for len(vars) < 5 && sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		require.True(t, ok, "not an assignment: %q", sc.Text())
		vars[k] = v
	}
	require.Len(t, vars, 5, "stderr: %s", stderr.String())
	assert.Equal(t, "adele@contoso.com", vars["GRAPH_USER"])
	assert.Equal(t, "AAMkProc1=", vars["GRAPH_EVENT_ID"])
	assert.True(t, strings.HasPrefix(vars["EVENTATTACH_BASE_URL"], "http://127.0.0.1:"), vars["EVENTATTACH_BASE_URL"])
	assert.True(t, strings.HasSuffix(vars["EVENTATTACH_BASE_URL"], "/v1.0"))
	assert.NotEqual(t, vars["EVENTATTACH_UPLOAD_URL_BASE"], strings.TrimSuffix(vars["EVENTATTACH_BASE_URL"], "/v1.0"))

	call := func(method, path string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			require.NoError(t, err)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, vars["EVENTATTACH_BASE_URL"]+path, rd)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+vars["EVENTATTACH_TOKEN"])
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, b
	}
	content := []byte("hello from another process")
	atts := "/users/" + vars["GRAPH_USER"] + "/events/" + vars["GRAPH_EVENT_ID"] + "/attachments"
	status, body := call(http.MethodPost, atts, map[string]any{
		"@odata.type": "#microsoft.graph.fileAttachment", "name": "hello.txt", "contentType": "text/plain",
		"contentBytes": base64.StdEncoding.EncodeToString(content),
	})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var created struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &created))
	status, body = call(http.MethodGet, atts, nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var list struct{ Value []struct{ Name string } }
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Value, 1)
	assert.Equal(t, "hello.txt", list.Value[0].Name)
	// -faults: every DELETE answers 503 and deletes nothing.
	status, _ = call(http.MethodDelete, atts+"/"+created.ID, nil)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	// The other user and the attendee exist with their events.
	status, body = call(http.MethodGet, "/users/bob@contoso.com/events/AAMkProc1=/attachments", nil)
	assert.Equal(t, http.StatusOK, status, "%s", body)
	status, body = call(http.MethodGet, "/users/carol@contoso.com/events/AAMkProc1=", nil)
	assert.Equal(t, http.StatusOK, status, "%s", body)
	assert.Contains(t, string(body), `"isOrganizer":false`)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	rest, err := io.ReadAll(stdout)
	require.NoError(t, err)
	require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())
	want := fmt.Sprintf("ATTACHMENTS=1\nSHA256=%x\nPUT_BYTES=0\nREQUESTS=5\nFAULTS=1\n", sha256.Sum256(content))
	assert.Equal(t, want, string(rest))
	assert.Contains(t, stderr.String(), "EVENTATTACH_TOKEN")
	assert.Contains(t, stderr.String(), "FaultStatus=1")
}

func TestParseFaults(t *testing.T) {
	got, err := parseFaults("PUT:503:0.05, post:504-after-store:0.02,*:reset-after-store:0.01:AttachmentSessions,GET:latency=2s:0.1,PATCH:429:0.1")
	require.NoError(t, err)
	assert.Equal(t, []graphtest.FaultChance{
		{Fault: graphtest.Fault{Method: "PUT", Kind: graphtest.FaultStatus, Status: 503}, P: 0.05},
		{Fault: graphtest.Fault{Method: "POST", Kind: graphtest.FaultStatusAfterStore, Status: 504}, P: 0.02},
		{Fault: graphtest.Fault{Kind: graphtest.FaultResetAfterStore, Path: "AttachmentSessions"}, P: 0.01},
		{Fault: graphtest.Fault{Method: "GET", Kind: graphtest.FaultLatency, Latency: 2 * time.Second}, P: 0.1},
		{Fault: graphtest.Fault{Method: "PATCH", Kind: graphtest.FaultStatus, Status: 429, RetryAfter: "1"}, P: 0.1},
	}, got)
	none, err := parseFaults("")
	require.NoError(t, err)
	assert.Empty(t, none)

	for spec, msg := range map[string]string{
		"PUT:503":                 `"PUT:503": want METHOD:KIND:P[:PATH], e.g. PUT:503:0.05`,
		"PUT:503:0.1:a:b":         `"PUT:503:0.1:a:b": want METHOD:KIND:P[:PATH]`,
		"FETCH:503:0.1":           `"FETCH:503:0.1": method "FETCH" is not GET, POST, PUT, PATCH, DELETE or *`,
		"PUT:boom:0.1":            `"PUT:boom:0.1": unknown kind "boom": want a status (503), STATUS-after-store,`,
		"PUT:200:0.1":             `"PUT:200:0.1": status 200 is not an error status (400 to 599)`,
		"PUT:503-after:0.1":       `unknown kind "503-after"`,
		"PUT:latency=soon:0.1":    `"PUT:latency=soon:0.1": latency: "soon" is not a positive duration`,
		"PUT:wait=1s:0.1":         `unknown kind "wait=1s"`,
		"PUT:503:1.5":             `"PUT:503:1.5": probability "1.5" is not a number in (0, 1]`,
		"PUT:503:0":               `probability "0" is not a number in (0, 1]`,
		"PUT:503:x":               `probability "x" is not a number in (0, 1]`,
		"PUT:503:0.6,GET:500:0.6": `the probabilities sum to 1.2, more than 1`,
	} {
		_, err := parseFaults(spec)
		if assert.Error(t, err, spec) {
			assert.Contains(t, err.Error(), msg, spec)
		}
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-users", "a,b", "-events", "e1,c:e2", "-attendees", "e1:d,c:e2:a",
		"-latency", "request=150ms,upload-mib=1s,jitter=0.5", "-seed", "7", "-chunk-latency", "100ms", "-time-scale", "10",
		"-mailbox-concurrency", "-1", "-upload-byte-limit", "-1", "-request-limit", "5"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []seeded{{"a", "e1"}, {"b", "e1"}, {"c", "e2"}}, c.events)
	assert.Equal(t, []attendee{{"a", "e1", "d"}, {"c", "e2", "a"}}, c.attendees)
	assert.Equal(t, &graphtest.Latency{PerRequest: 150 * time.Millisecond, UploadPerMiB: time.Second,
		UploadPerRequest: time.Second, Jitter: 0.5, Seed: 7}, c.opts.Latency, "-chunk-latency is wall-clock time: 100ms at scale 10")
	assert.Equal(t, -1, c.opts.MailboxConcurrency)
	assert.Equal(t, int64(-1), c.opts.UploadByteLimit)
	assert.Equal(t, 5, c.opts.RequestLimit)

	for args, msg := range map[string][]string{
		`-events "a:": want an event id or user:event`:           {"-events", "a:"},
		`-attendees "e9:d": adele@contoso.com has no event e9`:   {"-attendees", "e9:d"},
		`-attendees "e:adele@contoso.com": the organizer cannot`: {"-events", "e", "-attendees", "e:adele@contoso.com"},
		`-attendees "e:b": b already has an event e`:             {"-users", "a,b", "-events", "e", "-attendees", "e:b"},
		`-latency: unknown key "per"`:                            {"-latency", "per=1s"},
		`-latency: jitter "2": want a number from 0 to 1`:        {"-latency", "jitter=2"},
		`-faults: "PUT:503": want METHOD:KIND:P[:PATH]`:          {"-faults", "PUT:503"},
		`-events "e": a bare event id needs -users`:              {"-users", "", "-events", "e"},
	} {
		_, err := parseFlags(msg, io.Discard)
		if assert.Error(t, err, args) {
			assert.Contains(t, err.Error(), args)
		}
	}
}

func TestShellQuote(t *testing.T) {
	assert.Equal(t, "AAMk+/x=", shellQuote("AAMk+/x="))
	assert.Equal(t, "http://127.0.0.1:1/v1.0", shellQuote("http://127.0.0.1:1/v1.0"))
	assert.Equal(t, `'it'\''s me'`, shellQuote("it's me"))
}

// lockedBuffer is stderr as the process writes it, safe to read meanwhile.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
