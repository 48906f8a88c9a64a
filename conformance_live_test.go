package eventattach_test

// Live mode: the settings it needs, and the tests of the live path without
// a tenant (graphtest standing in for Graph, a credential behaving like
// Entra ID).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/eventattach/eventattach"
	"github.com/eventattach/eventattach/graphtest"
)

// The settings of live mode.
const (
	cfEnvLive    = "EVENTATTACH_LIVE"     // "1": run against Graph
	cfEnvBaseURL = "EVENTATTACH_BASE_URL" // test only: another Graph version root (graphtest standing in)
	cfEnvRecord  = "EVENTATTACH_RECORD"   // a directory: write the run's transcripts there
	cfEnvReport  = "EVENTATTACH_REPORT"   // a file: write the differences report there
	cfEnvUser    = "GRAPH_USER"           // the mailbox: user id or userPrincipalName
	cfEnvEvent   = "GRAPH_EVENT_ID"       // an event of that mailbox
)

// cfSecretSettings are the ways DefaultAzureCredential's environment
// credential takes an app's secret; one of them is needed.
var cfSecretSettings = []string{"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE"}

// cfConfig is one run's settings.
type cfConfig struct {
	live       bool
	user       string
	eventID    string
	baseURL    string // "" means Graph's (live), or graphtest's
	recordDir  string
	reportPath string
	tenantID   string
	clientID   string
	source     string
	newCred    func() (azcore.TokenCredential, error)
	bigUpload  int64
}

// cfConfigFromEnv reads the settings. Without EVENTATTACH_LIVE=1 the run
// is against graphtest; with it, every missing setting is named in the
// error.
func cfConfigFromEnv(getenv func(string) string) (*cfConfig, error) {
	cfg := &cfConfig{
		user: cfDefaultUser, eventID: cfDefaultEvent,
		recordDir:  getenv(cfEnvRecord),
		reportPath: getenv(cfEnvReport),
		bigUpload:  40 << 20,
	}
	switch v := getenv(cfEnvLive); v {
	case "", "0":
		return cfg, nil
	case "1":
	default:
		return nil, fmt.Errorf("%s=%q: set it to 1 for live mode, or leave it unset", cfEnvLive, v)
	}
	cfg.live = true
	var missing []string
	for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID"} {
		if getenv(k) == "" {
			missing = append(missing, k)
		}
	}
	if !slices.ContainsFunc(cfSecretSettings, func(k string) bool { return getenv(k) != "" }) {
		missing = append(missing, strings.Join(cfSecretSettings, " or "))
	}
	for _, k := range []string{cfEnvUser, cfEnvEvent} {
		if getenv(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s=1 runs the conformance suite against Microsoft Graph and needs settings that are missing: %s "+
			"(README.md, \"Checking against a real tenant\")", cfEnvLive, strings.Join(missing, ", "))
	}
	cfg.user, cfg.eventID = getenv(cfEnvUser), getenv(cfEnvEvent)
	cfg.tenantID, cfg.clientID = getenv("AZURE_TENANT_ID"), getenv("AZURE_CLIENT_ID")
	cfg.baseURL = getenv(cfEnvBaseURL)
	cfg.source = "Microsoft Graph (a live tenant)"
	if cfg.baseURL != "" {
		cfg.source = "the Graph at " + cfEnvBaseURL
	}
	cfg.newCred = func() (azcore.TokenCredential, error) { return azidentity.NewDefaultAzureCredential(nil) }
	return cfg, nil
}

// TestConformanceLiveSettings: live mode without its settings fails and
// names exactly the missing ones, both as a function and as the test binary
// run with EVENTATTACH_LIVE=1 and nothing else.
func TestConformanceLiveSettings(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cases := []struct {
		env  func(string) string
		want string // "" means no error
	}{
		{env(), ""},
		{env(cfEnvLive, "0"), ""},
		{env(cfEnvLive, "yes"), `EVENTATTACH_LIVE="yes"`},
		{env(cfEnvLive, "1"), "missing: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE, GRAPH_USER, GRAPH_EVENT_ID ("},
		{env(cfEnvLive, "1", "AZURE_TENANT_ID", "t", "AZURE_CLIENT_ID", "c", "GRAPH_USER", "u"), "missing: AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE, GRAPH_EVENT_ID ("},
		{env(cfEnvLive, "1", "AZURE_TENANT_ID", "t", "AZURE_CLIENT_ID", "c", "AZURE_FEDERATED_TOKEN_FILE", "f", "GRAPH_USER", "u", "GRAPH_EVENT_ID", "e"), ""},
	}
	for i, c := range cases {
		cfg, err := cfConfigFromEnv(c.env)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("case %d: %v", i, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("case %d: error %v, want one containing %q", i, err, c.want)
		case c.want == "" && c.env(cfEnvLive) == "1" && (!cfg.live || cfg.user != "u" || cfg.eventID != "e" || cfg.newCred == nil):
			t.Errorf("case %d: config %+v", i, cfg)
		}
	}

	// The test binary itself, in live mode with no settings at all.
	cmd := exec.Command(os.Args[0], "-test.run=^TestConformance$", "-test.count=1")
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AZURE_") || strings.HasPrefix(k, "GRAPH_") || strings.HasPrefix(k, "EVENTATTACH_") || k == "MSI_ENDPOINT" || k == "IDENTITY_ENDPOINT" {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, cfEnvLive+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("TestConformance in live mode without settings: %v, want it to fail; output:\n%s", err, out)
	}
	want := "missing: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE, GRAPH_USER, GRAPH_EVENT_ID"
	if !bytes.Contains(out, []byte(want)) || !bytes.Contains(out, []byte("--- FAIL: TestConformance ")) {
		t.Errorf("TestConformance in live mode without settings: output does not name the missing settings (%q):\n%s", want, out)
	}
}

// cfEntra is a credential that behaves like Entra ID for an app with
// Calendars.ReadWrite: it hands out the tokens the stand-in accepts, only
// for Graph's ".default" scope of the configured tenant.
type cfEntra struct {
	next   azcore.TokenCredential
	scope  string
	tenant string
	calls  atomic.Int32
}

func (c *cfEntra) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	switch {
	case len(o.Scopes) != 1 || o.Scopes[0] != c.scope:
		// AADSTS70011: what Entra ID answers for a scope the app cannot get.
		return azcore.AccessToken{}, fmt.Errorf("AADSTS70011: The provided request must include a 'scope' input parameter; scopes %q, want [%q]", o.Scopes, c.scope)
	case o.TenantID != "" && o.TenantID != c.tenant:
		return azcore.AccessToken{}, fmt.Errorf("AADSTS90002: Tenant '%s' not found", o.TenantID)
	}
	return c.next.GetToken(ctx, o)
}

// cfStandIn starts a graphtest that stands in for Graph, answering
// differently from graphtest's defaults in three undocumented ways, and
// the live settings pointing at it.
func cfStandIn(t *testing.T) (*graphtest.Server, *cfConfig, *cfEntra, string) {
	t.Helper()
	srv := graphtest.NewServer(&graphtest.Options{
		PascalCaseUploads:       true, // as seen from the China cloud
		UploadStatusUnsupported: true, // GET on an upload URL: 405
		MinUploadSizeStatus:     413,  // the session floor's status
	})
	t.Cleanup(srv.Close)
	const user, event = "megan.bowen@contoso.com", "AAMkADU5CCmSAAA="
	srv.User(user).AddEvent(event)
	dir := t.TempDir()
	settings := map[string]string{
		cfEnvLive: "1", "AZURE_TENANT_ID": srv.TenantID(), "AZURE_CLIENT_ID": "4a1aa1d5-c567-49d0-ad0b-cd957a47f842",
		"AZURE_CLIENT_SECRET": "not-a-secret", cfEnvUser: user, cfEnvEvent: event,
		cfEnvBaseURL: srv.URL(), cfEnvRecord: filepath.Join(dir, "recorded"), cfEnvReport: filepath.Join(dir, "report.txt"),
	}
	cfg, err := cfConfigFromEnv(func(k string) string { return settings[k] })
	if err != nil {
		t.Fatal(err)
	}
	entra := &cfEntra{next: srv.Credential(), scope: eventattach.CloudGlobal.Scope(), tenant: srv.TenantID()}
	cfg.newCred = func() (azcore.TokenCredential, error) { return entra, nil }
	return srv, cfg, entra, dir
}

// TestConformanceLiveStandIn runs the live path end to end with graphtest
// standing in for Graph (EVENTATTACH_BASE_URL) and a credential behaving
// like Entra ID: every scenario, the cleanup, the recording and the
// report. Afterwards the mailbox holds only what was there before, every
// upload session was finished or deleted, the recording holds no secret,
// and the report names the three planted differences.
func TestConformanceLiveStandIn(t *testing.T) {
	t.Parallel()
	srv, cfg, entra, _ := cfStandIn(t)
	// An attachment the run must leave alone.
	owner, err := eventattach.NewClient(srv.Credential(), &eventattach.ClientOptions{BaseURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keep, err := owner.Users(cfg.user).Events(cfg.eventID).Attachments().AddFile(ctx, &eventattach.FileAttachment{Name: "agenda.txt", ContentBytes: []byte(cfSeed)})
	if err != nil {
		t.Fatal(err)
	}

	var tg *cfTarget
	t.Run("live", func(t *testing.T) {
		tg = cfNewTarget(t, cfg)
		cfRunSuite(t, tg)
	})
	if t.Failed() {
		return
	}

	left := srv.Attachments(cfg.user, cfg.eventID)
	if len(left) != 1 || left[0].ID != keep.ID {
		var names []string
		for _, a := range left {
			names = append(names, a.Name)
		}
		t.Errorf("after the run the event holds %v, want only %q", names, keep.Name)
	}
	cfCheckSessionsClosed(t, srv.Requests())
	if entra.calls.Load() == 0 {
		t.Errorf("the Entra-like credential was never asked for a token")
	}

	report, err := os.ReadFile(cfg.reportPath)
	if err != nil {
		t.Fatalf("no report: %v", err)
	}
	for _, want := range []string{
		"key NextExpectedRanges: Graph writes it NextExpectedRanges, graphtest nextExpectedRanges",
		"status: Graph 405, graphtest 200",
		"status: Graph 413, graphtest 400",
		"session floor: createUploadSession for 2000000 bytes: 413 ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
		"GET on an upload URL: 405",
	} {
		if !bytes.Contains(report, []byte(want)) {
			t.Errorf("the report does not say %q:\n%s", want, report)
		}
	}
	secrets := cfSecretsOf(srv, cfg.user, []string{cfg.clientID})
	cfCheckRecording(t, cfg.recordDir, secrets)
}

// cfCheckSessionsClosed checks graphtest's log: every upload session that
// got a chunk or a GET ended with its final chunk (201) or a DELETE (204).
func cfCheckSessionsClosed(t *testing.T, reqs []graphtest.Request) {
	t.Helper()
	created := 0
	last := map[string]graphtest.Request{}
	var order []string
	for _, r := range reqs {
		if strings.HasSuffix(r.Path, "/createUploadSession") && r.Status == 201 {
			created++
		}
		if strings.Contains(r.Path, "AttachmentSessions") {
			if _, ok := last[r.Path]; !ok {
				order = append(order, r.Path)
			}
			last[r.Path] = r
		}
	}
	if len(order) != created {
		t.Errorf("%d sessions created, %d used", created, len(order))
	}
	for _, p := range order {
		r := last[p]
		if !(r.Method == "PUT" && r.Status == 201) && !(r.Method == "DELETE" && r.Status == 204) {
			t.Errorf("upload session %s ended with %s %d, neither its last chunk nor a DELETE", p, r.Method, r.Status)
		}
	}
}

// TestConformanceLiveSweep: the sweep that ends every run (also when a
// scenario failed) deletes whatever carries the run's prefix, and nothing
// else.
func TestConformanceLiveSweep(t *testing.T) {
	t.Parallel()
	srv, cfg, _, _ := cfStandIn(t)
	cfg.recordDir, cfg.reportPath = "", ""
	var tg *cfTarget
	t.Run("run", func(t *testing.T) {
		tg = cfNewTarget(t, cfg)
		ctx := context.Background()
		// What failed scenarios would leave: never deleted by them.
		for _, n := range []string{"a.txt", "b.txt"} {
			if _, err := tg.atts.AddFile(ctx, &eventattach.FileAttachment{Name: tg.name(n), ContentBytes: []byte(cfSeed)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tg.atts.AddFile(ctx, &eventattach.FileAttachment{Name: "eventattach-conformance-other.txt", ContentBytes: []byte(cfSeed)}); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Attachments(cfg.user, cfg.eventID)); n != 3 {
			t.Fatalf("%d attachments before the sweep, want 3", n)
		}
	})
	left := srv.Attachments(cfg.user, cfg.eventID)
	if len(left) != 1 || left[0].Name != "eventattach-conformance-other.txt" {
		t.Errorf("after the sweep: %d attachments (%v), want only the one without the run's prefix", len(left), left)
	}
}
