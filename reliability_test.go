package eventattach

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newGraph starts an emulator with one event "e1" in /me's default calendar.
func newGraph(t *testing.T, opts *graphtest.Options) *graphtest.Server {
	t.Helper()
	srv := graphtest.NewServer(opts)
	t.Cleanup(srv.Close)
	srv.Me().AddEvent("e1")
	return srv
}

// TestFaultTable runs one AddFile per fault kind against graphtest and checks
// the promise of the SDK: the call succeeds and exactly one attachment is
// stored, or it fails and none is.
func TestFaultTable(t *testing.T) {
	const attachPath = "/events/e1/attachments"
	other := newScripted(t, reply(201, created201))
	content := []byte("quarterly numbers, confidential")

	cases := []struct {
		name    string
		setup   func(srv *graphtest.Server)
		timeout time.Duration
		stored  int    // attachments stored afterwards
		errIs   error  // nil: the call succeeds
		cold    bool   // no token cached before the call
		file    string // the file name; "" means q3.txt
	}{
		{name: "429 storm", stored: 1, setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Times: 3, Kind: graphtest.FaultStatus, Status: 429, RetryAfter: "0"})
		}},
		{name: "503 with Retry-After", stored: 1, setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Kind: graphtest.FaultStatus, Status: 503, RetryAfter: "1"})
		}},
		{name: "504 after commit", stored: 1, setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Kind: graphtest.FaultStatusAfterStore, Status: 504})
		}},
		{name: "500 after commit", stored: 1, setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Kind: graphtest.FaultStatusAfterStore, Status: 500})
		}},
		{name: "reset after commit", stored: 1, setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Kind: graphtest.FaultResetAfterStore})
		}},
		{name: "reset before commit", stored: 1, setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Kind: graphtest.FaultResetBeforeStore})
		}},
		{name: "truncated 201", stored: 1, setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Kind: graphtest.FaultTruncateAfterStore})
		}},
		{name: "slow body past the deadline", stored: 1, timeout: 500 * time.Millisecond, setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Kind: graphtest.FaultSlowBody, Latency: 3 * time.Second})
		}},
		{name: "expired token", stored: 1, setup: func(s *graphtest.Server) { s.ExpireTokens() }},
		{name: "credential down", stored: 0, errIs: errCredentialDown, cold: true, setup: func(s *graphtest.Server) {
			s.Credential().SetError(errCredentialDown)
		}},
		{name: "redirect to another host", stored: 0, errIs: errRedirect, setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Kind: graphtest.FaultRedirect, RedirectTo: other.URL})
		}},
		{name: "504 after commit, Latin-1 name", stored: 1, file: "r\xe9sum\xe9.txt", setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Kind: graphtest.FaultStatusAfterStore, Status: 504})
		}},
		{name: "504 after commit, check's $value cut off twice", stored: 1, setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Kind: graphtest.FaultStatusAfterStore, Status: 504},
				graphtest.Fault{Method: "GET", Path: "$value", Kind: graphtest.FaultTruncateAfterStore, Times: 2})
		}},
		{name: "504 after commit, every check read fails", stored: 1, errIs: ErrOutcomeUnknown, setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Kind: graphtest.FaultStatusAfterStore, Status: 504},
				graphtest.Fault{Method: "GET", Kind: graphtest.FaultStatus, Status: 500, Times: -1})
		}},
		{name: "504 before commit, every check read fails", stored: 0, errIs: ErrOutcomeUnknown, setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Kind: graphtest.FaultStatus, Status: 504},
				graphtest.Fault{Method: "GET", Kind: graphtest.FaultResetBeforeStore, Times: -1})
		}},
		{name: "Retry-After 3600 with a 2s deadline", stored: 0, errIs: ErrThrottled, timeout: 2 * time.Second, setup: func(s *graphtest.Server) {
			s.Inject(graphtest.Fault{Method: "POST", Path: attachPath, Kind: graphtest.FaultStatus, Status: 429, RetryAfter: "3600"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			srv := newGraph(t, nil)
			c := newTestClient(t, srv.URL(), srv.Credential(), func(o *ClientOptions) {
				o.Logger = logger
				o.Retry.MaxDelay = time.Hour
			})
			if !tc.cold {
				// Warm the token cache so "expired token" exercises the refresh.
				_, err := c.Me().Events("e1").Attachments().List(context.Background())
				require.NoError(t, err)
			}
			srv.ResetRequests()
			tc.setup(srv)

			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			start := time.Now()
			name := tc.file
			if name == "" {
				name = "q3.txt"
			}
			got, err := c.Me().Events("e1").Attachments().AddFile(ctx, &FileAttachment{Name: name, ContentType: "text/plain", ContentBytes: content})
			elapsed := time.Since(start)
			stored := srv.Attachments("me", "e1")
			assert.Len(t, stored, tc.stored, "attachments stored")
			switch {
			case tc.errIs == errRedirect:
				var ge *GraphError
				require.ErrorAs(t, err, &ge)
				assert.Equal(t, http.StatusTemporaryRedirect, ge.StatusCode)
				assert.Empty(t, other.requests(), "nothing sent to the other host")
			case tc.errIs == errCredentialDown:
				require.ErrorIs(t, err, tc.errIs)
				assert.Empty(t, srv.Requests(), "no request without a token")
			case tc.errIs != nil:
				require.ErrorIs(t, err, tc.errIs)
			default:
				require.NoError(t, err)
				require.Len(t, stored, 1)
				assert.Equal(t, stored[0].ID, got.ID, "the call returns the stored attachment")
				assert.Equal(t, content, stored[0].Content)
			}
			if tc.name == "expired token" {
				var statuses []int
				for _, r := range srv.Requests() {
					statuses = append(statuses, r.Status)
				}
				assert.Equal(t, []int{401, 201}, statuses, "the expired token was refused, then refreshed")
			}
			t.Logf("%-36s stored=%d err=%v (%s)", tc.name, len(stored), err, elapsed.Round(time.Millisecond))
			// The logs hold no secret, whatever happened.
			out := logs.String()
			if !tc.cold {
				require.NotEmpty(t, out)
			}
			assert.NotContains(t, out, "Bearer")
			assert.NotContains(t, out, "authtoken")
			assert.NotContains(t, out, "quarterly numbers")
			assert.NotContains(t, out, "cXVhcnRlcmx5") // base64 of the content
			assert.NotContains(t, out, "?")            // no query strings at all
		})
	}
}

var (
	errCredentialDown = errors.New("AADSTS50020: credential down")
	errRedirect       = errors.New("redirect")
)

// TestLoadExactlyOnce runs 2,000 calls from 64 goroutines over 50 events
// with random faults on both listeners: every tenth is a 3 MiB Upload
// through a session, the rest AddFile. Afterwards every event holds exactly
// the attachments asked for, each with its own bytes: none twice, none
// missing. A call may report ErrOutcomeUnknown (honestly); it may not
// report success for an attachment that is not there.
func TestLoadExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	const (
		calls      = 2000
		workers    = 64
		events     = 50
		mailboxes  = 10
		perMailbox = events / mailboxes
		bigEvery   = 10 // every 10th call uploads MaxAddSize bytes
	)
	// 200 uploads of 3 MiB: Outlook's byte budget would throttle them for
	// minutes; this test is about faults, not pacing.
	srv := graphtest.NewServer(&graphtest.Options{MaxBodyRecorded: -1, UploadByteLimit: -1})
	t.Cleanup(srv.Close)
	for m := range mailboxes {
		for e := range perMailbox {
			srv.User(fmt.Sprintf("user%d@contoso.com", m)).AddEvent(fmt.Sprintf("ev-%d-%d", m, e))
		}
	}
	fault := func(method, path string, k graphtest.FaultKind, status int) graphtest.Fault {
		return graphtest.Fault{Method: method, Path: path, Kind: k, Status: status, RetryAfter: "0"}
	}
	srv.RandomFaults(42,
		graphtest.FaultChance{Fault: fault("POST", "/attachments", graphtest.FaultStatus, 429), P: 0.10},
		graphtest.FaultChance{Fault: fault("POST", "/attachments", graphtest.FaultResetAfterStore, 0), P: 0.05},
		graphtest.FaultChance{Fault: fault("POST", "/attachments", graphtest.FaultStatusAfterStore, 504), P: 0.05},
		graphtest.FaultChance{Fault: fault("POST", "/attachments", graphtest.FaultTruncateAfterStore, 0), P: 0.02},
		// The upload listener: chunks lost before or after they are stored.
		graphtest.FaultChance{Fault: fault("PUT", "AttachmentSessions", graphtest.FaultResetAfterStore, 0), P: 0.05},
		graphtest.FaultChance{Fault: fault("PUT", "AttachmentSessions", graphtest.FaultResetBeforeStore, 0), P: 0.03},
		graphtest.FaultChance{Fault: fault("PUT", "AttachmentSessions", graphtest.FaultStatus, 503), P: 0.05},
		graphtest.FaultChance{Fault: fault("PUT", "AttachmentSessions", graphtest.FaultTruncateAfterStore, 0), P: 0.02},
	)
	c := newTestClient(t, srv.URL(), srv.Credential(), func(o *ClientOptions) {
		o.Retry.MaxRetries = 10
		o.MailboxByteBudget = -1 // nor does the client pace by it
	})

	contentOf := func(i int) []byte {
		if i%bigEvery == 0 {
			return bytes.Repeat([]byte(fmt.Sprintf("upload %04d|", i)), MaxAddSize/12)[:MaxAddSize]
		}
		return []byte(fmt.Sprintf("content %d", i))
	}
	start := time.Now()
	var failed, unknown atomic.Int32
	succeeded := make([]atomic.Bool, calls)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				m, e := i%mailboxes, (i/mailboxes)%perMailbox
				a := c.Users(fmt.Sprintf("user%d@contoso.com", m)).Events(fmt.Sprintf("ev-%d-%d", m, e)).Attachments()
				name, content := fmt.Sprintf("file-%04d.txt", i), contentOf(i)
				var err error
				if i%bigEvery == 0 {
					_, err = a.Upload(context.Background(), FileUpload{Name: name, ContentType: "text/plain", Content: bytes.NewReader(content), Size: int64(len(content))})
				} else {
					_, err = a.AddFile(context.Background(), &FileAttachment{Name: name, ContentType: "text/plain", ContentBytes: content})
				}
				switch {
				case err == nil:
					succeeded[i].Store(true)
				case errors.Is(err, ErrOutcomeUnknown):
					unknown.Add(1)
					t.Logf("call %d: %v", i, err)
				default:
					failed.Add(1)
					t.Errorf("call %d: %v", i, err)
				}
			}
		})
	}
	for i := range calls {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	wall := time.Since(start)

	dups, missing, total, wrongBytes := 0, 0, 0, 0
	for m := range mailboxes {
		for e := range perMailbox {
			seen := map[string]int{}
			for _, a := range srv.Attachments(fmt.Sprintf("user%d@contoso.com", m), fmt.Sprintf("ev-%d-%d", m, e)) {
				seen[a.Name]++
				total++
				var i int
				if _, err := fmt.Sscanf(a.Name, "file-%04d.txt", &i); err != nil || !bytes.Equal(a.Content, contentOf(i)) {
					wrongBytes++
					t.Errorf("%s: stored bytes differ from the content sent", a.Name)
				}
			}
			for i := range calls {
				if i%mailboxes != m || (i/mailboxes)%perMailbox != e {
					continue
				}
				switch n := seen[fmt.Sprintf("file-%04d.txt", i)]; {
				case n == 0 && succeeded[i].Load():
					missing++ // reported as success, not there
				case n == 0:
				case n > 1:
					dups += n - 1
				}
			}
		}
	}
	faults := srv.FaultsInjected()
	injected := 0
	for _, n := range faults {
		injected += n
	}
	t.Logf("load: calls=%d (uploads %d) workers=%d events=%d faults=%d %v stored=%d duplicates=%d lost=%d wrong-bytes=%d failed=%d unknown=%d wall=%s",
		calls, calls/bigEvery, workers, events, injected, faults, total, dups, missing, wrongBytes, failed.Load(), unknown.Load(), wall.Round(time.Millisecond))
	assert.Zero(t, dups, "duplicates")
	assert.Zero(t, missing, "lost")
	assert.Zero(t, wrongBytes, "attachments whose bytes differ")
	ok := 0
	for i := range succeeded {
		if succeeded[i].Load() {
			ok++
		}
	}
	assert.GreaterOrEqual(t, total, ok, "every success is stored")
	assert.LessOrEqual(t, total, ok+int(unknown.Load()), "nothing stored that no call can account for")
	assert.Greater(t, injected, calls/10, "faults were injected")
}

// A same-name attachment added by someone else just before an ambiguous
// failure is not taken for this call's: the dedupe check compares bytes.
func TestDedupeComparesContent(t *testing.T) {
	srv := newGraph(t, nil)
	c := newTestClient(t, srv.URL(), srv.Credential())
	a := c.Me().Events("e1").Attachments()
	ctx := context.Background()
	theirs, err := a.AddFile(ctx, &FileAttachment{Name: "minutes.txt", ContentType: "text/plain", ContentBytes: []byte("their minutes")})
	require.NoError(t, err)

	// Our POST is refused by a gateway (504) before reaching Graph.
	srv.Inject(graphtest.Fault{Method: "POST", Path: "/attachments", Kind: graphtest.FaultStatus, Status: 504})
	ours, err := a.AddFile(ctx, &FileAttachment{Name: "minutes.txt", ContentType: "text/plain", ContentBytes: []byte("our minutes")})
	require.NoError(t, err)
	assert.NotEqual(t, theirs.ID, ours.ID)
	stored := srv.Attachments("me", "e1")
	require.Len(t, stored, 2)
	assert.Equal(t, "our minutes", string(stored[1].Content))

	// And when ours did land behind the 504, it is found, not re-sent.
	srv.Inject(graphtest.Fault{Method: "POST", Path: "/attachments", Kind: graphtest.FaultStatusAfterStore, Status: 504})
	again, err := a.AddFile(ctx, &FileAttachment{Name: "minutes.txt", ContentType: "text/plain", ContentBytes: []byte("more minutes")})
	require.NoError(t, err)
	stored = srv.Attachments("me", "e1")
	require.Len(t, stored, 3)
	assert.Equal(t, stored[2].ID, again.ID)
}
