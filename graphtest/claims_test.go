package graphtest_test

// Attacks on graphtest's documented promises (CLAIMS.md at the module root
// lists them): its package doc and exported doc comments.

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/eventattach/eventattach/graphtest"
)

func claimToken(t *testing.T, s *graphtest.Server) string {
	t.Helper()
	tok, err := s.Credential().GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

func claimDo(t *testing.T, method, url, token string, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const claimFile = `{"@odata.type":"#microsoft.graph.fileAttachment","name":"a.txt","contentType":"text/plain","contentBytes":"aGVsbG8="}`

// "Credential ... issues opaque tokens that only its server accepts"
// (Credential doc): a token of one server on another.
func TestClaimCredentialTokensOnlyItsServerAccepts(t *testing.T) {
	a, b := graphtest.NewServer(nil), graphtest.NewServer(nil)
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	a.Me().AddEvent("e1")
	b.Me().AddEvent("e1")
	if st, body := claimDo(t, "GET", b.URL()+"/me/events/e1/attachments", claimToken(t, a), ""); st != 401 {
		t.Errorf("server b took server a's token: %d %s", st, body)
	}
	if st, body := claimDo(t, "GET", b.URL()+"/me/events/e1/attachments", claimToken(t, b), ""); st != 200 {
		t.Errorf("server b refused its own token: %d %s", st, body)
	}
}

// "User returns the user mailbox whose id or userPrincipalName (compared
// case-insensitively) is idOrUPN" (Server.User doc).
func TestClaimUserLookupIsCaseInsensitive(t *testing.T) {
	s := graphtest.NewServer(nil)
	t.Cleanup(s.Close)
	m := s.User("Adele@Contoso.com")
	if s.User("ADELE@contoso.COM") != m || s.User("adele@contoso.com") != m {
		t.Fatal("a case variant of the UPN made another mailbox")
	}
	m.AddEvent("e1")
	if st, body := claimDo(t, "POST", s.URL()+"/users/aDeLe@CONTOSO.com/events/e1/attachments", claimToken(t, s), claimFile); st != 201 {
		t.Fatalf("POST by a case variant of the UPN: %d %s", st, body)
	}
	if got := s.Attachments("adele@contoso.com", "e1"); len(got) != 1 {
		t.Errorf("%d attachments, want 1", len(got))
	}
}

// "Close stops both listeners ... Stored state stays inspectable
// afterwards" (Server.Close doc); "Attachments ... returns nil if there is
// no such mailbox or event" (Server.Attachments doc).
func TestClaimCloseKeepsStateInspectable(t *testing.T) {
	s := graphtest.NewServer(nil)
	s.Me().AddEvent("e1")
	if st, body := claimDo(t, "POST", s.URL()+"/me/events/e1/attachments", claimToken(t, s), claimFile); st != 201 {
		t.Fatalf("%d %s", st, body)
	}
	s.Close()
	if got := s.Attachments("me", "e1"); len(got) != 1 || string(got[0].Content) != "hello" {
		t.Errorf("after Close: %+v", got)
	}
	if len(s.Requests()) != 1 {
		t.Errorf("after Close: %d requests recorded, want 1", len(s.Requests()))
	}
	if s.Attachments("nobody@contoso.com", "e1") != nil || s.Attachments("me", "no-such-event") != nil {
		t.Error("Attachments of an unknown mailbox or event is not nil")
	}
	if _, err := http.Get(s.URL() + "/me/events/e1/attachments"); err == nil {
		t.Error("the Graph listener still answers after Close")
	}
}

// "Inject queues faults in order. Each request on either listener takes the
// first queued fault that matches it and still has uses left" (Inject doc).
func TestClaimInjectTakesTheFirstMatchingFaultWithUsesLeft(t *testing.T) {
	s := graphtest.NewServer(nil)
	t.Cleanup(s.Close)
	s.Me().AddEvent("e1")
	s.Inject(
		graphtest.Fault{Method: "POST", Status: 500},
		graphtest.Fault{Method: "GET", Status: 503, Times: 1},
		graphtest.Fault{Method: "GET", Status: 429, Times: 2},
	)
	tok := claimToken(t, s)
	var got []int
	for range 4 {
		st, _ := claimDo(t, "GET", s.URL()+"/me/events/e1/attachments", tok, "")
		got = append(got, st)
	}
	if want := []int{503, 429, 429, 200}; !slices.Equal(got, want) {
		t.Errorf("GET statuses %v, want %v", got, want)
	}
	if st, _ := claimDo(t, "POST", s.URL()+"/me/events/e1/attachments", tok, claimFile); st != 500 {
		t.Errorf("the POST fault was used up by GETs: %d", st)
	}
	if n := s.FaultsInjected()[graphtest.FaultStatus]; n != 4 {
		t.Errorf("FaultsInjected()[FaultStatus] = %d, want 4", n)
	}
}

// recorderText records reqs through a Recorder answering with answer and
// returns every transcript's Data, joined.
func recorderText(t *testing.T, rec *graphtest.Recorder, reqs ...*http.Request) string {
	t.Helper()
	trs, _ := recRecord(t, rec, reqs...)
	var all strings.Builder
	for _, tr := range trs {
		all.Write(tr.Data)
		all.WriteString("\n")
	}
	return all.String()
}

// "What it writes is scrubbed: bearer tokens, the authtoken of upload
// URLs ..." (Recorder doc): a hostile server that echoes the secrets back,
// in bodies, headers and error messages.
func TestClaimRecorderScrubsEchoedSecrets(t *testing.T) {
	const graph = "https://graph.microsoft.com/v1.0"
	uploadURL := "https://outlook.office.com/api/v2.0/Users('u@t')/Events('AAMkEv=')/AttachmentSessions('AAMkSs=')?authtoken=" + recAuthtoken
	rec := graphtest.NewRecorder(recRT(func(r *http.Request) *http.Response {
		switch {
		case strings.HasSuffix(r.URL.Path, "/createUploadSession"):
			return recAnswer(201, http.Header{"X-Echo": {r.Header.Get("Authorization")}},
				`{"uploadUrl":"`+uploadURL+`","expirationDateTime":"2026-01-01T00:00:00Z","nextExpectedRanges":["0-"],"debug":"you sent `+r.Header.Get("Authorization")+`"}`)
		case r.Method == http.MethodPut:
			return recAnswer(400, http.Header{"X-Echo-Url": {r.URL.String()}, "Www-Authenticate": {`Bearer error="invalid_token", token="` + recAuthtoken + `"`}},
				`{"error":{"code":"BadChunk","message":"session `+r.URL.RawQuery+` refused; token `+recAuthtoken+`"}}`)
		default:
			return recAnswer(401, http.Header{"Content-Type": {"text/plain"}}, "token "+recToken+" is expired")
		}
	}))
	auth := http.Header{"Authorization": {"Bearer " + recToken}, "Content-Type": {"application/json"}}
	text := recorderText(t, rec,
		recNewReq(t, "POST", graph+"/me/events/AAMkEv=/attachments/createUploadSession", auth, []byte(`{"AttachmentItem":{"attachmentType":"file","name":"f","size":3483322}}`)),
		recNewReq(t, "PUT", uploadURL, http.Header{"Content-Range": {"bytes 0-3/3483322"}, "Content-Type": {"application/octet-stream"}}, []byte{0, 1, 2, 3}),
		recNewReq(t, "GET", graph+"/me/events/AAMkEv=/attachments", auth, nil),
	)
	for _, s := range []string{recToken, recAuthtoken} {
		if strings.Contains(text, s) {
			t.Errorf("a transcript holds the secret %.16s…:\n%s", s, text)
		}
	}
}

// "Bodies over MaxRecordedBody are trimmed ... other bodies are cut" and
// what it writes is scrubbed (Recorder doc): a bearer token echoed where
// the cut falls must not survive in part either.
func TestClaimRecorderCutNeverKeepsPartOfASecret(t *testing.T) {
	const graph = "https://graph.microsoft.com/v1.0"
	pad := strings.Repeat("a", graphtest.MaxRecordedBody-len(`{"error":{"code":"X","message":"`)-len(recToken)/2)
	body := `{"error":{"code":"X","message":"` + pad + recToken + strings.Repeat("b", 1000) + `"}}`
	rec := graphtest.NewRecorder(recRT(func(r *http.Request) *http.Response {
		return recAnswer(400, nil, body)
	}))
	text := recorderText(t, rec, recNewReq(t, "GET", graph+"/me/events/AAMkEv=/attachments", http.Header{"Authorization": {"Bearer " + recToken}}, nil))
	if half := recToken[:len(recToken)/2]; strings.Contains(text, half) {
		t.Errorf("a transcript holds the first half of the bearer token (%.16s…)", half)
	}
	if strings.Contains(text, recToken) {
		t.Error("a transcript holds the bearer token")
	}
}

// "Values the Recorder cannot recognise on its own ... are given with ...
// Redact"; "Redact makes any other secret value "{redacted-N}" wherever it
// appears" (Recorder, Redact docs).
func TestClaimRecorderRedactWhereverItAppears(t *testing.T) {
	const secret = "hunter2-Pr1vate"
	rec := graphtest.NewRecorder(recRT(func(r *http.Request) *http.Response {
		return recAnswer(200, http.Header{"X-Secret": {secret}}, `{"value":[],"note":"`+secret+`"}`)
	}))
	rec.Redact(secret)
	text := recorderText(t, rec, recNewReq(t, "POST", "https://graph.microsoft.com/v1.0/me/events/AAMkEv=/attachments?k="+secret,
		http.Header{"X-Custom": {secret}, "Content-Type": {"application/json"}}, []byte(`{"name":"`+secret+`"}`)))
	if strings.Contains(text, secret) {
		t.Errorf("a transcript holds the redacted value:\n%s", text)
	}
	if !strings.Contains(text, "{redacted-1}") {
		t.Errorf("no {redacted-1} placeholder:\n%s", text)
	}
}

// "email addresses are replaced by stable placeholders ... (the same value
// always by the same placeholder within one Recorder)" (Recorder doc): an
// address the Recorder was not told about, in a path (%40 form), a JSON
// body and a plain-text error.
func TestClaimRecorderScrubsUnannouncedAddresses(t *testing.T) {
	const addr = "bob.smith@fabrikam.com"
	rec := graphtest.NewRecorder(recRT(func(r *http.Request) *http.Response {
		return recAnswer(404, http.Header{"Content-Type": {"text/plain"}}, "The requested user '"+addr+"' is invalid.")
	}))
	text := recorderText(t, rec,
		recNewReq(t, "GET", "https://graph.microsoft.com/v1.0/users/bob.smith%40fabrikam.com/events/AAMkEv=/attachments", nil, nil),
		recNewReq(t, "POST", "https://graph.microsoft.com/v1.0/me/events/AAMkEv=/attachments", http.Header{"Content-Type": {"application/json"}},
			[]byte(`{"@odata.type":"#microsoft.graph.itemAttachment","name":"x","item":{"@odata.type":"#microsoft.graph.contact","emailAddresses":[{"address":"`+addr+`"}]}}`)),
	)
	for _, s := range []string{addr, "bob.smith%40fabrikam.com", "fabrikam"} {
		if strings.Contains(strings.ToLower(text), s) {
			t.Errorf("a transcript holds %q:\n%s", s, text)
		}
	}
	if strings.Contains(text, "user2@example.com") {
		t.Errorf("one address got two placeholders:\n%s", text)
	}
}
