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

// The Recorder scrubs "bearer tokens, the authtoken of upload URLs"
// (Recorder doc): spellings a server reads alike — a lower-case auth
// scheme (RFC 9110: case-insensitive), an authtoken key percent-encoded,
// or after another parameter.
func TestClaimRecorderScrubsSecretSpellings(t *testing.T) {
	const graph = "https://graph.microsoft.com/v1.0"
	for name, tc := range map[string]struct {
		method, url string
		h           http.Header
		secret      string
	}{
		"lower-case bearer": {"GET", graph + "/me/events/AAMkEv=/attachments", http.Header{"Authorization": {"bearer " + recToken}}, recToken},
		"upper-case BEARER": {"GET", graph + "/me/events/AAMkEv=/attachments", http.Header{"Authorization": {"BEARER " + recToken}}, recToken},
		"authtoken after another parameter": {"PUT", "https://outlook.office.com/api/v2.0/Users('u@t')/Events('AAMkEv=')/AttachmentSessions('AAMkSs=')?x=1&authtoken=" + recAuthtoken,
			http.Header{"Content-Type": {"application/octet-stream"}, "Content-Range": {"bytes 0-3/3483322"}}, recAuthtoken},
		"authtoken key percent-encoded": {"PUT", "https://outlook.office.com/api/v2.0/Users('u@t')/Events('AAMkEv=')/AttachmentSessions('AAMkSs=')?%61uthtoken=" + recAuthtoken,
			http.Header{"Content-Type": {"application/octet-stream"}, "Content-Range": {"bytes 0-3/3483322"}}, recAuthtoken},
	} {
		t.Run(name, func(t *testing.T) {
			rec := graphtest.NewRecorder(recRT(func(r *http.Request) *http.Response { return recAnswer(200, nil, `{"value":[]}`) }))
			var body []byte
			if tc.method == "PUT" {
				body = []byte{0, 1, 2, 3}
			}
			text := recorderText(t, rec, recNewReq(t, tc.method, tc.url, tc.h, body))
			if strings.Contains(text, tc.secret) {
				t.Errorf("a transcript holds the secret:\n%s", text)
			}
		})
	}
}

// Transcripts renders "those that got an answer; a request that failed in
// transport has nothing to replay" (Recorder.Transcripts doc).
func TestClaimRecorderSkipsTransportFailures(t *testing.T) {
	calls := 0
	rec := graphtest.NewRecorder(roundTripper(func(r *http.Request) (*http.Response, error) {
		calls++
		if calls == 1 {
			return nil, io.ErrUnexpectedEOF
		}
		return recAnswer(200, nil, `{"value":[]}`), nil
	}))
	c := &http.Client{Transport: rec}
	for range 2 {
		resp, err := c.Get("https://graph.microsoft.com/v1.0/me/events/AAMkEv=/attachments")
		if err == nil {
			io.ReadAll(resp.Body)
			resp.Body.Close()
		}
	}
	if n := len(rec.Transcripts()); n != 1 {
		t.Errorf("%d transcripts, want 1 (the answered request)", n)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Seeding (graphtest doc, Server.User, Calendar.AddEvent docs): "/me" is
// id "me-0000", UPN "me@contoso.com"; User("me") is Me(); a created user's
// UPN is idOrUPN + "@contoso.com" without '@'; AddEvent again is a no-op;
// an event id used by another calendar of the mailbox panics.
func TestClaimSeedingRules(t *testing.T) {
	s := graphtest.NewServer(nil)
	t.Cleanup(s.Close)
	if s.User("me") != s.Me() || s.User("me-0000") != s.Me() || s.User("ME@contoso.com") != s.Me() {
		t.Error("User(\"me\"), User(\"me-0000\") or User(\"ME@contoso.com\") is not Me()")
	}
	u := s.User("u1")
	if s.User("u1@contoso.com") != u {
		t.Error("a user created by id has no UPN id@contoso.com")
	}
	u.AddEvent("e1")
	tok := claimToken(t, s)
	if st, body := claimDo(t, "POST", s.URL()+"/users/u1@contoso.com/events/e1/attachments", tok, claimFile); st != 201 {
		t.Fatalf("%d %s", st, body)
	}
	u.AddEvent("e1") // a no-op: the attachment stays
	if n := len(s.Attachments("u1", "e1")); n != 1 {
		t.Errorf("%d attachments after adding the event again, want 1", n)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("AddEvent of an id another calendar of the mailbox holds did not panic")
			}
		}()
		u.AddCalendar("c2").AddEvent("e1")
	}()
	if st, _ := claimDo(t, "GET", s.URL()+"/users/u1/events/nope/attachments", tok, ""); st != 404 {
		t.Errorf("an unknown event answered %d, want 404", st)
	}
}

// Request: "Status ... 0 if the connection was reset"; "Host: the
// listener's host:port: URL()'s or UploadURLBase()'s" (Request doc).
func TestClaimRequestsRecordResetsAndHosts(t *testing.T) {
	s := graphtest.NewServer(nil)
	t.Cleanup(s.Close)
	s.Me().AddEvent("e1")
	s.Inject(graphtest.Fault{Method: "POST", Kind: graphtest.FaultResetAfterStore})
	req, _ := http.NewRequest("POST", s.URL()+"/me/events/e1/attachments", strings.NewReader(claimFile))
	req.Header.Set("Authorization", "Bearer "+claimToken(t, s))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the reset fault answered")
	}
	claimDo(t, "GET", s.UploadURLBase()+"/api/v2.0/nothing", "", "")
	rs := s.Requests()
	if len(rs) != 2 {
		t.Fatalf("%d requests recorded, want 2", len(rs))
	}
	if rs[0].Status != 0 {
		t.Errorf("a reset request has Status %d, want 0", rs[0].Status)
	}
	if rs[0].Host != strings.TrimPrefix(strings.TrimSuffix(s.URL(), "/v1.0"), "http://") || rs[1].Host != strings.TrimPrefix(s.UploadURLBase(), "http://") {
		t.Errorf("hosts %q and %q; listeners %s and %s", rs[0].Host, rs[1].Host, s.URL(), s.UploadURLBase())
	}
	if len(s.Attachments("me", "e1")) != 1 {
		t.Error("FaultResetAfterStore did not store")
	}
}

// RandomFaults: "Times is ignored. Calling it with no chances turns random
// faults off"; Fault.Times "<0 forever" (RandomFaults, Fault docs).
func TestClaimRandomFaultsOffAndTimesForever(t *testing.T) {
	s := graphtest.NewServer(nil)
	t.Cleanup(s.Close)
	s.Me().AddEvent("e1")
	tok := claimToken(t, s)
	url := s.URL() + "/me/events/e1/attachments"
	s.RandomFaults(7, graphtest.FaultChance{Fault: graphtest.Fault{Method: "GET", Status: 503, Times: 1}, P: 1})
	for i := range 3 {
		if st, _ := claimDo(t, "GET", url, tok, ""); st != 503 {
			t.Errorf("random draw %d answered %d, want 503 (P 1, Times ignored)", i, st)
		}
	}
	s.RandomFaults(7)
	if st, _ := claimDo(t, "GET", url, tok, ""); st != 200 {
		t.Errorf("after RandomFaults() with no chances: %d", st)
	}
	s.Inject(graphtest.Fault{Method: "GET", Status: 502, Times: -1})
	for i := range 5 {
		if st, _ := claimDo(t, "GET", url, tok, ""); st != 502 {
			t.Errorf("forever fault, request %d: %d", i, st)
		}
	}
}

// Credential: "GetToken ... fails with the error set by SetError ... nil
// restores it"; "Calls is how many times GetToken was called"; IssueToken
// "is not counted" (Credential docs).
func TestClaimCredentialSetErrorCallsAndIssueToken(t *testing.T) {
	s := graphtest.NewServer(nil)
	t.Cleanup(s.Close)
	c := s.Credential()
	opts := policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}
	c.SetError(io.ErrUnexpectedEOF)
	if _, err := c.GetToken(context.Background(), opts); err == nil {
		t.Error("GetToken succeeded while the credential is down")
	}
	c.SetError(nil)
	if _, err := c.GetToken(context.Background(), opts); err != nil {
		t.Errorf("GetToken after SetError(nil): %v", err)
	}
	if _, err := c.GetToken(context.Background(), policy.TokenRequestOptions{}); err == nil {
		t.Error("GetToken without a scope succeeded")
	}
	before := c.Calls()
	tok := c.IssueToken(0)
	if c.Calls() != before {
		t.Error("IssueToken was counted as a GetToken call")
	}
	s.Me().AddEvent("e1")
	if st, _ := claimDo(t, "GET", s.URL()+"/me/events/e1/attachments", tok.Token, ""); st != 200 {
		t.Errorf("an issued token was refused: %d", st)
	}
	s.ExpireTokens()
	if st, _ := claimDo(t, "GET", s.URL()+"/me/events/e1/attachments", tok.Token, ""); st != 401 {
		t.Errorf("an issued token outlived ExpireTokens: %d", st)
	}
}

// "User returns the user mailbox whose id or userPrincipalName (both
// compared case-insensitively ...)": a UPN in capitals and a user id (a
// GUID) in capitals reach the same mailbox, on routes and in Server.User.
func TestClaimUserIDsAndUPNsCompareCaseInsensitively(t *testing.T) {
	s := graphtest.NewServer(nil)
	t.Cleanup(s.Close)
	adele := s.User("adele@contoso.com")
	adele.AddEvent("e1")
	if st, body := claimDo(t, "POST", s.URL()+"/users/ADELE@CONTOSO.COM/events/e1/attachments", claimToken(t, s), claimFile); st != 201 {
		t.Fatalf("POST /users/ADELE@CONTOSO.COM/...: %d %s", st, body)
	}
	if got := s.Attachments("adele@contoso.com", "e1"); len(got) != 1 {
		t.Errorf("adele@contoso.com's mailbox holds %d attachments, want 1", len(got))
	}

	const id = "d3b9214b-dd8b-441d-b7dc-c446c9fa0e69"
	m := s.User(id)
	if s.User(strings.ToUpper(id)) != m {
		t.Fatal("a user id in capitals made another mailbox")
	}
	m.AddEvent("e2")
	if st, body := claimDo(t, "POST", s.URL()+"/users/"+strings.ToUpper(id)+"/events/e2/attachments", claimToken(t, s), claimFile); st != 201 {
		t.Fatalf("POST by the user id in capitals: %d %s", st, body)
	}
	if st, body := claimDo(t, "GET", s.URL()+"/users/"+strings.ToUpper(id)+"@CONTOSO.COM/events/e2/attachments", claimToken(t, s), ""); st != 200 || !strings.Contains(body, "a.txt") {
		t.Errorf("GET by the UPN in capitals: %d %s", st, body)
	}
	if got := s.Attachments(strings.ToUpper(id), "e2"); len(got) != 1 {
		t.Errorf("%d attachments, want 1", len(got))
	}
}
