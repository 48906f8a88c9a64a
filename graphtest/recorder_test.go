package graphtest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/eventattach/eventattach/graphtest"
)

// recRT is a RoundTripper answering from a function: the recorder's tests
// need no network.
type recRT func(*http.Request) *http.Response

func (f recRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.ReadAll(r.Body)
		r.Body.Close()
	}
	return f(r), nil
}

func recAnswer(status int, h http.Header, body string) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	if body != "" && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	return &http.Response{StatusCode: status, Proto: "HTTP/1.1", Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

// record sends reqs through a Recorder over next and returns its
// transcripts, and the same read back from their Data (recReadBack).
func recRecord(t *testing.T, rec *graphtest.Recorder, reqs ...*http.Request) ([]*graphtest.Transcript, []*graphtest.Transcript) {
	t.Helper()
	c := &http.Client{Transport: rec}
	for _, r := range reqs {
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	trs := rec.Transcripts()
	return trs, recReadBack(t, trs)
}

// recReadBack parses each transcript's Data with graphtest.ParseTranscript,
// which must read back the fields the Recorder returned.
func recReadBack(t *testing.T, trs []*graphtest.Transcript) []*graphtest.Transcript {
	t.Helper()
	var xs []*graphtest.Transcript
	for _, tr := range trs {
		x, err := graphtest.ParseTranscript(tr.Name, tr.Data)
		if err != nil {
			t.Fatalf("%v\n%s", err, tr.Data)
		}
		if !reflect.DeepEqual(x, tr) {
			t.Errorf("%s: read back as\n%+v\nthe Recorder returned\n%+v", tr.Name, x, tr)
		}
		xs = append(xs, x)
	}
	return xs
}

func recNewReq(t *testing.T, method, url string, h http.Header, body []byte) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		r.Header[k] = v
	}
	return r
}

const (
	recToken     = "eyJ0eXAiOiJKV1QiLCJub25jZSI6IkFCQyJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	recAuthtoken = "eyJhbGciOiJSUzI1NiIsImtpZCI6IktmYUNIUlN6bllHMmNI.eyJzZXNzaW9uIjoiYWJjIn0.c2ln"
	recUserID    = "d3b9214b-dd8b-441d-b7dc-c446c9fa0e69"
	recTenant    = "98a79ebe-74bf-4e07-a017-7b410848cb32"
	recUPN       = "Adele.Vance@Contoso.onmicrosoft.com"
)

// TestRecorderScrubs: tokens, authtokens, user and tenant ids, UPNs and
// addresses are replaced wherever they appear (URL, headers, bodies, in
// plain, %40 and other cases), by the same placeholder each time; the
// upload host is written as outlook.office.com with a note; the uploadUrl
// in the answer and the chunk's request line stay the same string.
func TestRecorderScrubs(t *testing.T) {
	const graph = "https://graph.microsoft.com/v1.0"
	uploadURL := "https://outlook.office365.com/api/v2.0/Users('" + recUserID + "@" + recTenant + "')/Events('AAMkEv=')/AttachmentSessions('AAMkSs=')?authtoken=" + recAuthtoken
	rec := graphtest.NewRecorder(recRT(func(r *http.Request) *http.Response {
		switch {
		case strings.HasSuffix(r.URL.Path, "/createUploadSession"):
			return recAnswer(201, nil, `{"@odata.context":"`+graph+`/$metadata#users('`+strings.Replace(strings.ToLower(recUPN), "@", "%40", 1)+`')/events('AAMkEv%3D')/attachments/microsoft.graph.uploadSession","uploadUrl":"`+uploadURL+`","expirationDateTime":"2026-01-01T00:00:00Z","nextExpectedRanges":["0-"]}`)
		case r.Method == http.MethodPut:
			return recAnswer(401, nil, `{"error":{"code":"InvalidAudienceForResource","message":"Audience claim is for `+recUserID+`"}}`)
		default:
			return recAnswer(201, http.Header{"Location": {graph + "/users('" + recUserID + "')/events('AAMkEv=')/attachments('AAMkAt=')"}},
				`{"@odata.type":"#microsoft.graph.itemAttachment","id":"AAMkAt=","name":"x","contentType":null,"organizer":"`+strings.ToUpper(recUPN)+`","other":"megan@contoso.com"}`)
		}
	}))
	rec.RedactUser(recUPN)
	auth := http.Header{"Authorization": {"Bearer " + recToken}, "Content-Type": {"application/json"}}
	_, xs := recRecord(t, rec,
		recNewReq(t, "POST", graph+"/users/"+recUPN+"/events/AAMkEv=/attachments/createUploadSession", auth, []byte(`{"AttachmentItem":{"attachmentType":"file","name":"f","size":3483322}}`)),
		recNewReq(t, "PUT", uploadURL, http.Header{"Authorization": {"Bearer " + recToken}, "Content-Range": {"bytes 0-3/3483322"}, "Content-Type": {"application/octet-stream"}}, []byte{0, 1, 2, 3}),
		recNewReq(t, "POST", graph+"/users/"+recUserID+"/events/AAMkEv=/attachments", auth, []byte(`{"@odata.type":"#microsoft.graph.itemAttachment","name":"x","item":{"@odata.type":"#microsoft.graph.contact","emailAddresses":[{"address":"megan@contoso.com"}]}}`)),
	)
	if len(xs) != 3 {
		t.Fatalf("%d transcripts, want 3", len(xs))
	}
	var all strings.Builder
	for _, x := range xs {
		fmt.Fprintf(&all, "%s %s %v %s %v %s\n", x.Method, x.URL, x.RequestHeader, x.RequestBody, x.ResponseHeader, x.ResponseBody)
	}
	text := strings.ToLower(all.String())
	for _, s := range []string{recToken, recAuthtoken, recUserID, recTenant, recUPN, strings.Replace(recUPN, "@", "%40", 1), "megan@contoso.com", "contoso", "office365"} {
		if strings.Contains(text, strings.ToLower(s)) {
			t.Errorf("a transcript holds %q:\n%s", s, all.String())
		}
	}
	for _, want := range []string{
		"Bearer {token-1}", "authtoken={authtoken-1}",
		"Users('00000000-0000-0000-0001-000000000001@00000000-0000-0000-0002-000000000001')",
		"/users/user1@example.com/events", "users('user1%40example.com')", "/users/00000000-0000-0000-0001-000000000001/events",
		`"organizer":"user1@example.com"`, `"other":"user2@example.com"`, `"address":"user2@example.com"`,
	} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("the transcripts do not hold %q:\n%s", want, all.String())
		}
	}
	if got := strings.Count(all.String(), "{token-"); got != 3 || strings.Contains(all.String(), "{token-2}") {
		t.Errorf("one token, %d placeholders for it (want {token-1} thrice)", got)
	}
	// The session: the chunk's URL is the answer's uploadUrl, on the
	// canonical upload host; the flow and the outcome are inferred.
	if !strings.HasPrefix(xs[1].URL, graphtest.RecordUploadRoot+"/api/v2.0/") || !strings.Contains(string(xs[0].ResponseBody), `"uploadUrl":"`+xs[1].URL+`"`) {
		t.Errorf("the chunk went to %s; the session's uploadUrl is in %s", xs[1].URL, xs[0].ResponseBody)
	}
	if n := strings.Join(xs[0].Meta["note"], "; "); !strings.Contains(n, "the upload host was https://outlook.office365.com") {
		t.Errorf("no note on the upload host: %q", n)
	}
	if f := xs[1].Get("flow"); f != xs[0].Name+" "+xs[1].Name {
		t.Errorf("flow %q", f)
	}
	if e := xs[1].Get("expect"); e != "error status=401 code=InvalidAudienceForResource is=ErrUnauthorized" {
		t.Errorf("expect %q", e)
	}
	if s := xs[1].Get("sdk"); s != "Upload chunkSize=4" {
		t.Errorf("sdk %q", s)
	}
	if s := xs[2].Get("sdk"); s != "AddItem" || xs[2].Get("expect") != "attachment" {
		t.Errorf("sdk %q expect %q, want AddItem and attachment", s, xs[2].Get("expect"))
	}
	if cl := xs[2].ResponseHeader.Get("Content-Length"); cl != fmt.Sprint(len(xs[2].ResponseBody)) {
		t.Errorf("Content-Length %s for a scrubbed body of %d bytes", cl, len(xs[2].ResponseBody))
	}
}

// TestRecorderTrims: bodies over 64 KiB. A contentBytes of the replay
// tests' file becomes "<base64 of N bytes>" (and the sdk line says
// contentSize=N); one of other bytes a "not recorded" placeholder (and no
// SDK replay: sdk none); a long
// text answer is cut at 64 KiB with a note and no Content-Length; a binary
// chunk is a placeholder naming its range.
func TestRecorderTrims(t *testing.T) {
	const n = 100 << 10
	gen := make([]byte, n)
	for i := range gen {
		gen[i] = byte(i % 251)
	}
	other := bytes.Repeat([]byte{7}, n)
	long := strings.Repeat("x", 200<<10)
	rec := graphtest.NewRecorder(recRT(func(r *http.Request) *http.Response {
		if r.Method == http.MethodGet {
			return recAnswer(200, http.Header{"Content-Type": {"text/plain"}}, long)
		}
		return recAnswer(400, nil, `{"error":{"code":"BadRequest","message":"Maximum request length exceeded."}}`)
	}))
	const url = "https://graph.microsoft.com/v1.0/me/events/AAMkEv=/attachments"
	post := func(content []byte) *http.Request {
		body := `{"@odata.type":"#microsoft.graph.fileAttachment","name":"big.bin","contentBytes":"` + base64.StdEncoding.EncodeToString(content) + `"}`
		return recNewReq(t, "POST", url, http.Header{"Content-Type": {"application/json"}}, []byte(body))
	}
	trs, xs := recRecord(t, rec, post(gen), post(other), recNewReq(t, "GET", url+"/AAMkAt=/$value", nil, nil))
	for _, tr := range trs {
		if len(tr.Data) > graphtest.MaxRecordedBody+4096 {
			t.Errorf("%s is %d bytes", tr.Name, len(tr.Data))
		}
	}
	if want := fmt.Sprintf(`"contentBytes":"<base64 of %d bytes>"`, n); !strings.Contains(string(xs[0].RequestBody), want) || xs[0].Get("sdk") != fmt.Sprintf("AddFile contentSize=%d", n) {
		t.Errorf("generated content: body %.200s, sdk %q", xs[0].RequestBody, xs[0].Get("sdk"))
	}
	if want := fmt.Sprintf(`"contentBytes":"<%d characters of base64, not recorded>"`, base64.StdEncoding.EncodedLen(n)); !strings.Contains(string(xs[1].RequestBody), want) || xs[1].Get("sdk") != "none" {
		t.Errorf("other content: body %.200s, sdk %q", xs[1].RequestBody, xs[1].Get("sdk"))
	}
	if len(xs[2].ResponseBody) != graphtest.MaxRecordedBody || xs[2].ResponseHeader.Get("Content-Length") != "" ||
		!strings.Contains(strings.Join(xs[2].Meta["note"], ";"), fmt.Sprintf("body trimmed: the first %d of %d bytes", graphtest.MaxRecordedBody, len(long))) {
		t.Errorf("long answer: %d bytes written, Content-Length %q, notes %q", len(xs[2].ResponseBody), xs[2].ResponseHeader.Get("Content-Length"), xs[2].Meta["note"])
	}
	if xs[2].Get("sdk") != "Content" {
		t.Errorf("GET $value: sdk %q", xs[2].Get("sdk"))
	}
}

// TestRecorderUploadFlow: a session's exchanges form one flow; the final
// chunk's Location gives the expected attachment; a GET of the upload URL
// is left out of the flow (no SDK call is made of it).
func TestRecorderUploadFlow(t *testing.T) {
	srv := graphtest.NewServer(nil)
	defer srv.Close()
	srv.Me().AddEvent("AAMkEv=")
	tok := recGetToken(t, srv)
	rec := graphtest.NewRecorder(nil)
	rec.MapHost(srv.URL(), graphtest.RecordGraphRoot)
	rec.MapHost(srv.UploadURLBase(), graphtest.RecordUploadRoot)
	c := &http.Client{Transport: rec}
	const size, chunk = 3 << 20, 2 << 20
	content := make([]byte, size)
	for i := range content {
		content[i] = byte(i % 251)
	}
	do := func(method, url string, h http.Header, body []byte) []byte {
		t.Helper()
		resp, err := c.Do(recNewReq(t, method, url, h, body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	created := do("POST", srv.URL()+"/me/events/AAMkEv=/attachments/createUploadSession",
		http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}},
		[]byte(fmt.Sprintf(`{"AttachmentItem":{"attachmentType":"file","name":"f.bin","size":%d}}`, size)))
	uploadURL := recJSONField(t, created, "uploadUrl")
	put := func(a, b int) {
		do("PUT", uploadURL, http.Header{"Content-Type": {"application/octet-stream"}, "Content-Range": {fmt.Sprintf("bytes %d-%d/%d", a, b, size)}}, content[a:b+1])
	}
	put(0, chunk-1)
	do("GET", uploadURL, nil, nil)
	put(chunk, size-1)

	trs := rec.Transcripts()
	xs := recReadBack(t, trs)
	if len(xs) != 4 {
		t.Fatalf("%d transcripts, want 4", len(xs))
	}
	flow := strings.Join([]string{xs[0].Name, xs[1].Name, xs[3].Name}, " ")
	for _, i := range []int{0, 1, 3} {
		if xs[i].Get("flow") != flow || xs[i].Get("sdk") != fmt.Sprintf("Upload chunkSize=%d", chunk) {
			t.Errorf("%s: flow %q sdk %q, want %q and chunkSize=%d", xs[i].Name, xs[i].Get("flow"), xs[i].Get("sdk"), flow, chunk)
		}
	}
	if xs[2].Get("sdk") != "none" || xs[2].Get("flow") != "" {
		t.Errorf("the GET of the upload URL: sdk %q flow %q", xs[2].Get("sdk"), xs[2].Get("flow"))
	}
	stored := srv.Attachments("me", "AAMkEv=")
	if len(stored) != 1 || xs[3].Get("expect") != "attachment id="+stored[0].ID {
		t.Errorf("final chunk: expect %q; stored %d attachments", xs[3].Get("expect"), len(stored))
	}
	if !strings.HasPrefix(xs[1].URL, graphtest.RecordUploadRoot+"/api/v2.0/Users('00000000-0000-0000-0001-000000000001@00000000-0000-0000-0002-000000000001')/") {
		t.Errorf("upload URL written as %s", xs[1].URL)
	}
	if strings.Contains(string(trs[1].Data), srv.TenantID()) {
		t.Errorf("the tenant id is in the transcript")
	}
}

func recGetToken(t *testing.T, srv *graphtest.Server) string {
	t.Helper()
	tok, err := srv.Credential().GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

func recJSONField(t *testing.T, b []byte, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	v, _ := m[key].(string)
	return v
}

// recLeaks records one exchange whose request and answer are reqBody and
// resBody (and answer headers h) through a Recorder given users, and
// returns everything its transcript holds, as read back.
func recLeaks(t *testing.T, users []string, url string, h http.Header, reqBody, resBody string) (string, *graphtest.Transcript) {
	t.Helper()
	rec := graphtest.NewRecorder(recRT(func(r *http.Request) *http.Response { return recAnswer(201, h.Clone(), resBody) }))
	for _, u := range users {
		rec.RedactUser(u)
	}
	_, xs := recRecord(t, rec, recNewReq(t, "POST", url, http.Header{"Content-Type": {"application/json"}}, []byte(reqBody)))
	x := xs[0]
	return fmt.Sprintf("%s %v %s %v %s", x.URL, x.RequestHeader, x.RequestBody, x.ResponseHeader, x.ResponseBody), x
}

func recNoneOf(t *testing.T, all string, leaks ...string) {
	t.Helper()
	for _, l := range leaks {
		if strings.Contains(strings.ToLower(all), strings.ToLower(l)) {
			t.Errorf("the transcript holds %q:\n%s", l, all)
		}
	}
}

// A UPN given to RedactUser is also its user's name: "adele.vance@…" is
// Adele Vance, written whole, the other way round, or in parts.
func TestRecorderLeakDisplayNameOfUPN(t *testing.T) {
	all, x := recLeaks(t, []string{recUPN}, "https://graph.microsoft.com/v1.0/users/"+recUPN+"/events/AAMkEv=/attachments", nil,
		`{"@odata.type":"#microsoft.graph.itemAttachment","name":"Notes from Adele Vance","item":{"@odata.type":"#microsoft.graph.contact","displayName":"Vance, Adele","givenName":"Adele","surName":"Vance","nickName":"adele.vance"}}`,
		`{"id":"AAMkAt=","name":"Notes from Adele Vance","organizer":{"emailAddress":{"name":"ADELE VANCE","address":"`+recUPN+`"}}}`)
	recNoneOf(t, all, "adele", "vance")
	if !strings.Contains(all, `"givenName":"User 1"`) || !strings.Contains(all, `"name":"Notes from User 1"`) {
		t.Errorf("the names are not the placeholder \"User 1\":\n%s", all)
	}
	if x.Get("sdk") != "AddItem" {
		t.Errorf("sdk %q", x.Get("sdk"))
	}
}

// The name beside an address (emailAddress {name, address}) is the
// address's user's, given or not.
func TestRecorderLeakNameBesideAddress(t *testing.T) {
	all, _ := recLeaks(t, nil, "https://graph.microsoft.com/v1.0/me/events/AAMkEv=/attachments", nil,
		`{"@odata.type":"#microsoft.graph.fileAttachment","name":"a.txt","contentBytes":"aGVsbG8="}`,
		`{"id":"AAMkAt=","attendees":[{"emailAddress":{"name":"Megan Bowen","address":"MeganB@contoso.com"}}],"note":"Megan Bowen said so","surname":"x"}`)
	recNoneOf(t, all, "megan", "bowen")
}

// A UPN in other casing, with its '@' escaped once, twice, or as JSON's
// \u0040, or with an escape in its local part, is still the address.
func TestRecorderLeakUPNInOtherCasingAndEscapes(t *testing.T) {
	up := strings.ToUpper(recUPN)
	all, _ := recLeaks(t, []string{recUPN}, "https://graph.microsoft.com/v1.0/users/"+strings.Replace(up, "@", "%40", 1)+"/events/AAMkEv=/attachments",
		http.Header{"Location": {"https://graph.microsoft.com/v1.0/users('" + strings.Replace(strings.ToLower(recUPN), "@", "%40", 1) + "')/events('AAMkEv=')/attachments('AAMkAt=')"}},
		`{"@odata.type":"#microsoft.graph.fileAttachment","name":"a.txt","contentBytes":"aGVsbG8="}`,
		`{"id":"AAMkAt=","a":"`+strings.Replace(recUPN, "@", `\u0040`, 1)+`","b":"https://x.example/?u=`+strings.Replace(recUPN, "@", "%2540", 1)+
			`","c":"alex%2Bwilber%40contoso.com","d":"%27alex.wilber%40contoso.com%27","e":"\u0027alex.wilber@contoso.com\u0027"}`)
	recNoneOf(t, all, "adele", "vance", "alex", "wilber", "contoso")
	for _, want := range []string{`user1\u0040example.com`, "%27user3%40example.com%27", `\u0027user3@example.com\u0027`} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q:\n%s", want, all)
		}
	}
}

// An OData key writes a quote twice (O'Brien as o, two quotes, brien), in a
// Location and an @odata.context; a user id with a quote is found there.
func TestRecorderLeakQuotesDoubled(t *testing.T) {
	all, _ := recLeaks(t, []string{"Shane.O'Brien@contoso.com", "d'arcy"}, "https://graph.microsoft.com/v1.0/users/Shane.O'Brien@contoso.com/events/AAMkEv=/attachments",
		http.Header{"Location": {"https://graph.microsoft.com/v1.0/users('shane.o''brien@contoso.com')/events('AAMkEv=')/attachments('AAMkAt=')"}},
		`{"@odata.type":"#microsoft.graph.fileAttachment","name":"a.txt","contentBytes":"aGVsbG8="}`,
		`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('shane.o%27%27brien%40contoso.com')/events('AAMkEv%3D')/attachments/$entity","id":"AAMkAt=",`+
			`"x":"users('d''arcy')/events","y":"users('o''neil')/events('e')","z":"o''neil","w":"Shane O'Brien"}`)
	recNoneOf(t, all, "brien", "arcy", "neil", "shane")
	if !strings.Contains(all, "users('00000000-0000-0000-0001-000000000002')/events") {
		t.Errorf("users('o''neil') is not a placeholder:\n%s", all)
	}
}

// A short user id ("u1") is replaced where it is an id, never inside other
// ids, words or base64: the transcript still parses, its contentBytes are
// still the bytes sent, and its event id the one asked for.
func TestRecorderShortUserIDRespectsTokenBoundaries(t *testing.T) {
	content := []byte("\xbb\x5d\x7f build u1x ru1e")
	b64 := base64.StdEncoding.EncodeToString(content)
	if !strings.Contains(b64, "u1") {
		t.Fatalf("the test's base64 %s holds no u1", b64)
	}
	const ev = "AAMkAGu1AAAt9U1A="
	all, x := recLeaks(t, []string{"u1"}, "https://graph.microsoft.com/v1.0/users/u1/events/"+ev+"/attachments",
		http.Header{"Location": {"https://graph.microsoft.com/v1.0/users('u1')/events('" + ev + "')/attachments('AAMkAu1=')"}},
		`{"@odata.type":"#microsoft.graph.fileAttachment","name":"u1-report.txt","contentBytes":"`+b64+`"}`,
		`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('u1')/events('`+ev+`')/attachments/$entity","id":"AAMkAu1=","name":"u1-report.txt","size":11,"owner":"u1"}`)
	id := "00000000-0000-0000-0001-000000000001"
	if x.URL != "https://graph.microsoft.com/v1.0/users/"+id+"/events/"+ev+"/attachments" {
		t.Errorf("URL %s", x.URL)
	}
	for _, want := range []string{`"contentBytes":"` + b64 + `"`, `"owner":"` + id + `"`, "users('" + id + "')/events('" + ev + "')/attachments('AAMkAu1=')", `"id":"AAMkAu1="`, "u1-report.txt"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q:\n%s", want, all)
		}
	}
	if x.Get("sdk") != "AddFile" {
		t.Errorf("sdk %q, want AddFile (notes %q)", x.Get("sdk"), x.Meta["note"])
	}
}
