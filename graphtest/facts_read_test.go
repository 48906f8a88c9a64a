package graphtest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One test per modelled read-side fact, asserting what a client sees on the
// wire. Source: GRAPH-FACTS.md, Reading, Query options, Reference attachments
// and Recurring events.

// listValue GETs path and returns the answer's value items, failing on a
// status other than 200.
func listValue(t *testing.T, s *Server, path string) (map[string]any, []map[string]any) {
	t.Helper()
	r := graph(t, s, "GET", path, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
	m := r.json(t)
	var out []map[string]any
	for _, v := range m["value"].([]any) {
		out = append(out, v.(map[string]any))
	}
	return m, out
}

func postFile(t *testing.T, s *Server, path, name string, content []byte, extra string) string {
	t.Helper()
	body := fmt.Sprintf(`{"@odata.type":"#microsoft.graph.fileAttachment","name":%q,"contentBytes":%q%s}`,
		name, base64.StdEncoding.EncodeToString(content), extra)
	r := graph(t, s, "POST", path, []byte(body))
	require.Equal(t, http.StatusCreated, r.StatusCode, "%s", r.body)
	return r.json(t)["id"].(string)
}

func errorMessage(t *testing.T, r reply) string {
	t.Helper()
	return r.json(t)["error"].(map[string]any)["message"].(string)
}

// Query options

func TestAttachmentListsDoNotPage(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	ids := addFiles(t, s, 12)
	for _, q := range []string{"", "?$top=2", "?$skip=3", "?$top=1&$skip=5", "?$select=id,name&$top=3"} {
		m, v := listValue(t, s, "/me/events/e/attachments"+q)
		assert.NotContains(t, m, "@odata.nextLink", q)
		require.Len(t, v, len(ids), q)
		for i, a := range v {
			assert.Equal(t, ids[i], a["id"], q)
		}
	}
}

func TestPageSizeOptionPagesWithNextLink(t *testing.T) {
	s := newTestServer(t, &Options{PageSize: 5})
	s.Me().AddEvent("e")
	addFiles(t, s, 7)
	m, v := listValue(t, s, "/me/events/e/attachments")
	assert.Len(t, v, 5)
	next, _ := m["@odata.nextLink"].(string)
	require.NotEmpty(t, next)
	r := do(t, "GET", next, nil, "Authorization", "Bearer "+token(t, s))
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
	assert.Len(t, r.json(t)["value"], 2)
	assert.NotContains(t, r.json(t), "@odata.nextLink")
}

func TestDollarFilterIsIgnoredOnAttachments(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	addFiles(t, s, 3)
	for _, f := range []string{"name eq 'f1.txt'", "size gt 100000", "isInline eq true", "not a filter ("} {
		_, v := listValue(t, s, "/me/events/e/attachments?$filter="+strings.ReplaceAll(f, " ", "%20"))
		assert.Len(t, v, 3, f)
	}
}

func TestOrderByAndCountAreIgnoredByDefault(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	ids := addFiles(t, s, 3)
	m, v := listValue(t, s, "/me/events/e/attachments?$orderby=name%20desc&$count=true")
	assert.NotContains(t, m, "@odata.count")
	require.Len(t, v, 3)
	assert.Equal(t, ids[0], v[0]["id"], "creation order, not name desc")
}

func TestOrderByAndCountRefusedWithOption(t *testing.T) {
	s := newTestServer(t, &Options{OrderByCountRefused: true})
	s.Me().AddEvent("e")
	addFiles(t, s, 1)
	for _, q := range []string{"$orderby=name", "$count=true"} {
		r := graph(t, s, "GET", "/me/events/e/attachments?"+q, nil)
		assert.Equal(t, http.StatusBadRequest, r.StatusCode, q)
		assert.Equal(t, "BadRequest", r.errorCode(t), q)
	}
}

// Reading

func TestFileAttachmentsCarryMediaContentType(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	id := postFile(t, s, "/me/events/e/attachments", "p.jpg", []byte("jpeg"), "")
	item := graph(t, s, "POST", "/me/events/e/attachments", []byte(`{"@odata.type":"#microsoft.graph.itemAttachment","name":"it","item":{"@odata.type":"microsoft.graph.contact"}}`))
	require.Equal(t, http.StatusCreated, item.StatusCode)

	for _, q := range []string{"", "?$select=name,size"} {
		_, v := listValue(t, s, "/me/events/e/attachments"+q)
		require.Len(t, v, 2)
		assert.Equal(t, "image/jpeg", v[0]["@odata.mediaContentType"], q)
		assert.NotContains(t, v[1], "@odata.mediaContentType", "item attachment "+q)
		one := graph(t, s, "GET", "/me/events/e/attachments/"+id+q, nil).json(t)
		assert.Equal(t, "image/jpeg", one["@odata.mediaContentType"], q)
	}
}

func TestAttachmentsHaveNoETag(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	id := addFiles(t, s, 1)[0]
	r := graph(t, s, "GET", "/me/events/e/attachments", nil)
	assert.NotContains(t, string(r.body), "@odata.etag")
	r = graph(t, s, "GET", "/me/events/e/attachments/"+id, nil)
	assert.NotContains(t, string(r.body), "@odata.etag")
}

func TestLastModifiedIsWholeSecondsZ(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	id := addFiles(t, s, 1)[0]
	re := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	_, v := listValue(t, s, "/me/events/e/attachments")
	assert.Regexp(t, re, v[0]["lastModifiedDateTime"])
	assert.Regexp(t, re, graph(t, s, "GET", "/me/events/e/attachments/"+id, nil).json(t)["lastModifiedDateTime"])
}

func TestContentLocationIsAlwaysNull(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	id := postFile(t, s, "/me/events/e/attachments", "a.txt", []byte("x"), `,"contentLocation":"https://example.com/a"`)
	m := graph(t, s, "GET", "/me/events/e/attachments/"+id, nil).json(t)
	require.Contains(t, m, "contentLocation")
	assert.Nil(t, m["contentLocation"])
	_, v := listValue(t, s, "/me/events/e/attachments")
	require.Contains(t, v[0], "contentLocation")
	assert.Nil(t, v[0]["contentLocation"])
}

func TestContentIDIsNullUnlessSet(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	plain := postFile(t, s, "/me/events/e/attachments", "a.txt", []byte("x"), "")
	inline := postFile(t, s, "/me/events/e/attachments", "image001.png", []byte("x"), `,"isInline":true,"contentId":"image001.png@01DAA2CE.5D600EF0"`)
	m := graph(t, s, "GET", "/me/events/e/attachments/"+plain, nil).json(t)
	require.Contains(t, m, "contentId")
	assert.Nil(t, m["contentId"])
	m = graph(t, s, "GET", "/me/events/e/attachments/"+inline, nil).json(t)
	assert.Equal(t, "image001.png@01DAA2CE.5D600EF0", m["contentId"])
}

func TestListLeavesOutContentBytesOfLargeFiles(t *testing.T) {
	s := newTestServer(t, nil) // ListContentBytesLimit 0: 3,000,000 bytes
	s.Me().AddEvent("e")
	small := make([]byte, 3_000_000)
	big := make([]byte, 3_000_001)
	postFile(t, s, "/me/events/e/attachments", "small.bin", small, "")
	bigID := postFile(t, s, "/me/events/e/attachments", "big.bin", big, "")

	_, v := listValue(t, s, "/me/events/e/attachments")
	require.Len(t, v, 2)
	assert.Contains(t, v[0], "contentBytes")
	assert.NotContains(t, v[1], "contentBytes")
	assert.Equal(t, "big.bin", v[1]["name"], "the rest of the metadata stays")

	// Asked for in cast form, and in a single GET, they come.
	_, v = listValue(t, s, "/me/events/e/attachments?$select=name,microsoft.graph.fileAttachment/contentBytes")
	assert.Contains(t, v[1], "contentBytes")
	one := graph(t, s, "GET", "/me/events/e/attachments/"+bigID, nil).json(t)
	assert.Equal(t, base64.StdEncoding.EncodeToString(big), one["contentBytes"])
}

func TestListContentBytesLimitOption(t *testing.T) {
	s := newTestServer(t, &Options{ListContentBytesLimit: 4})
	s.Me().AddEvent("e")
	postFile(t, s, "/me/events/e/attachments", "a", []byte("1234"), "")
	postFile(t, s, "/me/events/e/attachments", "b", []byte("12345"), "")
	_, v := listValue(t, s, "/me/events/e/attachments")
	assert.Contains(t, v[0], "contentBytes")
	assert.NotContains(t, v[1], "contentBytes")

	s = newTestServer(t, &Options{ListContentBytesLimit: -1})
	s.Me().AddEvent("e")
	postFile(t, s, "/me/events/e/attachments", "big", make([]byte, 3_000_001), "")
	_, v = listValue(t, s, "/me/events/e/attachments")
	assert.Contains(t, v[0], "contentBytes")
}

func TestDerivedPropertyInSelectIsRefused(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	id := addFiles(t, s, 1)[0]
	for _, p := range []string{"contentId", "contentBytes", "contentLocation"} {
		for _, path := range []string{"/me/events/e/attachments", "/me/events/e/attachments/" + id} {
			r := graph(t, s, "GET", path+"?$select=name,"+p, nil)
			assert.Equal(t, http.StatusBadRequest, r.StatusCode, path+" "+p)
			assert.Equal(t, "RequestBroker--ParseUri", r.errorCode(t))
			assert.Equal(t, "Could not find a property named '"+p+"' on type 'microsoft.graph.attachment'.", errorMessage(t, r))
		}
	}
}

func TestCastFormSelectIsTaken(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	postFile(t, s, "/me/events/e/attachments", "i.png", []byte("x"), `,"isInline":true,"contentId":"cid1"`)
	item := graph(t, s, "POST", "/me/events/e/attachments", []byte(`{"@odata.type":"#microsoft.graph.itemAttachment","name":"it","item":{"@odata.type":"microsoft.graph.contact"}}`))
	require.Equal(t, http.StatusCreated, item.StatusCode)
	_, v := listValue(t, s, "/me/events/e/attachments?$select=id,name,microsoft.graph.fileAttachment/contentId")
	require.Len(t, v, 2)
	assert.ElementsMatch(t, []string{"@odata.type", "@odata.mediaContentType", "id", "name", "contentId"}, keys(v[0]))
	assert.Equal(t, "cid1", v[0]["contentId"])
	assert.ElementsMatch(t, []string{"@odata.type", "id", "name"}, keys(v[1]), "an item attachment has no contentId")
}

func TestCastFormSelectRefusedWithCastSelectUnsupported(t *testing.T) {
	s := newTestServer(t, &Options{CastSelectUnsupported: true})
	s.Me().AddEvent("e")
	addFiles(t, s, 1)
	r := graph(t, s, "GET", "/me/events/e/attachments?$select=id,microsoft.graph.fileAttachment/contentId", nil)
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, "RequestBroker--ParseUri", r.errorCode(t))
}

// Reference attachments

func TestReferenceAttachmentReadsShowBaseFieldsOnly(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	id := s.Me().Event("e").AddReferenceAttachment("d.jpg", "https://contoso.sharepoint.com/personal/me/Documents/d.jpg")
	base := []string{"@odata.type", "id", "lastModifiedDateTime", "name", "contentType", "size", "isInline"}
	_, v := listValue(t, s, "/me/events/e/attachments")
	require.Len(t, v, 1)
	assert.Equal(t, "#microsoft.graph.referenceAttachment", v[0]["@odata.type"])
	assert.ElementsMatch(t, base, keys(v[0]))
	assert.Nil(t, v[0]["contentType"], "null by default (referenceattachment.md)")

	m := graph(t, s, "GET", "/me/events/e/attachments/"+id, nil).json(t)
	assert.ElementsMatch(t, append(base, "@odata.context"), keys(m))
	assert.Equal(t, "d.jpg", m["name"])
}

func TestReferenceAttachmentPostNeedsSourceURL(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	r := graph(t, s, "POST", "/me/events/e/attachments", []byte(`{"@odata.type":"#microsoft.graph.referenceAttachment","name":"link"}`))
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, "ErrorInvalidProperty", r.errorCode(t))
	assert.Equal(t, "The property 'SourceUrl' is required when creating the entity.", errorMessage(t, r))
	assert.Empty(t, s.Attachments("me", "e"))
}

func TestReferenceAttachmentPostWithSourceURLIsRefusedByDefault(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	r := graph(t, s, "POST", "/me/events/e/attachments", []byte(`{"@odata.type":"#microsoft.graph.referenceAttachment","name":"link","sourceUrl":"https://contoso.sharepoint.com/d.jpg"}`))
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, "RequestBodyRead", r.errorCode(t))
	assert.Contains(t, errorMessage(t, r), "'sourceUrl'")
}

func TestReferenceAttachmentPostWithSourceURLAcceptedByOption(t *testing.T) {
	s := newTestServer(t, &Options{ReferenceSourceURLAccepted: true})
	s.Me().AddEvent("e")
	r := graph(t, s, "POST", "/me/events/e/attachments", []byte(`{"@odata.type":"#microsoft.graph.referenceAttachment","name":"link","sourceUrl":"https://contoso.sharepoint.com/d.jpg","providerType":"oneDriveBusiness"}`))
	require.Equal(t, http.StatusCreated, r.StatusCode, "%s", r.body)
	m := r.json(t)
	assert.Equal(t, "#microsoft.graph.referenceAttachment", m["@odata.type"])
	assert.NotContains(t, m, "sourceUrl", "v1.0 shows the base properties only")
	require.Len(t, s.Attachments("me", "e"), 1)
}

func TestReferenceAttachmentValueIs405(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	id := s.Me().Event("e").AddReferenceAttachment("d.jpg", "https://contoso.sharepoint.com/d.jpg")
	r := graph(t, s, "GET", "/me/events/e/attachments/"+id+"/$value", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.StatusCode)
	assert.Contains(t, errorMessage(t, r), "'$value' segment is only supported for File Attachments and Item Attachments")
}

// Recurring events

// series seeds master "m" with a file, occurrence "o1" and exception "x1".
func series(t *testing.T, s *Server) (masterAtt string) {
	t.Helper()
	m := s.Me().AddSeries("m")
	m.AddOccurrence("o1")
	m.AddException("x1")
	return postFile(t, s, "/me/events/m/attachments", "agenda.txt", []byte("agenda"), "")
}

func TestSeriesEventsCarryTypeAndSeriesMasterID(t *testing.T) {
	s := newTestServer(t, nil)
	series(t, s)
	for id, want := range map[string][2]any{"m": {"seriesMaster", nil}, "o1": {"occurrence", "m"}, "x1": {"exception", "m"}} {
		m := graph(t, s, "GET", "/me/events/"+id+"?$select=type,seriesMasterId", nil).json(t)
		assert.Equal(t, want[0], m["type"], id)
		assert.Equal(t, want[1], m["seriesMasterId"], id)
	}
}

func TestOccurrenceShowsMasterAttachments(t *testing.T) {
	s := newTestServer(t, nil)
	att := series(t, s)
	_, v := listValue(t, s, "/me/events/o1/attachments")
	require.Len(t, v, 1)
	assert.Equal(t, att, v[0]["id"])
	r := graph(t, s, "GET", "/me/events/o1/attachments/"+att+"/$value", nil)
	assert.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, "agenda", string(r.body))
	assert.Equal(t, true, graph(t, s, "GET", "/me/events/o1?$select=hasAttachments", nil).json(t)["hasAttachments"])
}

func TestOccurrenceHidesMasterAttachmentsOption(t *testing.T) {
	s := newTestServer(t, &Options{OccurrenceHidesMasterAttachments: true})
	att := series(t, s)
	_, v := listValue(t, s, "/me/events/o1/attachments")
	assert.Empty(t, v)
	assert.Equal(t, http.StatusNotFound, graph(t, s, "GET", "/me/events/o1/attachments/"+att, nil).StatusCode)
}

func TestExceptionShowsOnlyItsOwnAttachments(t *testing.T) {
	s := newTestServer(t, nil)
	series(t, s)
	_, v := listValue(t, s, "/me/events/x1/attachments")
	assert.Empty(t, v, "the master's are not on an exception")
	id := postFile(t, s, "/me/events/x1/attachments", "own.txt", []byte("own"), "")
	_, v = listValue(t, s, "/me/events/x1/attachments")
	require.Len(t, v, 1)
	assert.Equal(t, id, v[0]["id"])
	_, v = listValue(t, s, "/me/events/m/attachments")
	assert.Len(t, v, 1, "the master keeps its own only")
}

func TestOccurrenceBecomesExceptionOnAttachmentAdd(t *testing.T) {
	s := newTestServer(t, nil)
	series(t, s)
	id := postFile(t, s, "/me/events/o1/attachments", "mine.txt", []byte("mine"), "")
	assert.Equal(t, "exception", s.Me().Event("o1").Type())
	_, v := listValue(t, s, "/me/events/o1/attachments")
	require.Len(t, v, 1, "its own attachment only, no longer the master's")
	assert.Equal(t, id, v[0]["id"])
	assert.Equal(t, "exception", graph(t, s, "GET", "/me/events/o1?$select=type", nil).json(t)["type"])
	_, v = listValue(t, s, "/me/events/m/attachments")
	assert.Len(t, v, 1, "the master is unchanged")
}

func TestOccurrenceAttachmentRefusedOption(t *testing.T) {
	s := newTestServer(t, &Options{OccurrenceWrites: OccurrenceRefused})
	series(t, s)
	r := graph(t, s, "POST", "/me/events/o1/attachments", []byte(`{"@odata.type":"#microsoft.graph.fileAttachment","name":"a","contentBytes":"aGk="}`))
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, "ErrorInvalidRequest", r.errorCode(t))
	r = graph(t, s, "POST", "/me/events/o1/attachments/createUploadSession",
		[]byte(`{"AttachmentItem":{"attachmentType":"file","name":"big.bin","size":3500000}}`))
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, "occurrence", s.Me().Event("o1").Type())
	// Exceptions and the master still take attachments.
	postFile(t, s, "/me/events/x1/attachments", "a", []byte("a"), "")
	postFile(t, s, "/me/events/m/attachments", "b", []byte("b"), "")
}
