package graphtest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// addFiles creates n file attachments on /me/events/e and returns their ids.
func addFiles(t *testing.T, s *Server, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		body := fmt.Sprintf(`{"@odata.type":"#microsoft.graph.fileAttachment","name":"f%d.txt","contentBytes":"aGk="}`, i)
		r := graph(t, s, "POST", "/me/events/e/attachments", []byte(body))
		require.Equal(t, http.StatusCreated, r.StatusCode, "%s", r.body)
		ids = append(ids, r.json(t)["id"].(string))
	}
	return ids
}

func TestListPagesWithTop(t *testing.T) {
	s := newTestServer(t, &Options{PageSize: 10}) // lists page only with PageSize
	s.Me().AddEvent("e")
	ids := addFiles(t, s, 7)
	r := graph(t, s, "POST", "/me/events/e/attachments", []byte(`{"@odata.type":"#microsoft.graph.itemAttachment","name":"it","item":{"@odata.type":"microsoft.graph.contact"}}`))
	require.Equal(t, http.StatusCreated, r.StatusCode)
	ids = append(ids, r.json(t)["id"].(string))

	var got []string
	next := s.URL() + "/me/events/e/attachments?$top=3"
	pages := 0
	for next != "" {
		r := do(t, "GET", next, nil, "Authorization", "Bearer "+token(t, s))
		require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
		m := r.json(t)
		assert.Contains(t, m["@odata.context"], "/$metadata#users('me-0000')/events('e')/attachments")
		for _, v := range m["value"].([]any) {
			a := v.(map[string]any)
			got = append(got, a["id"].(string))
			if a["@odata.type"] == fileType {
				assert.Equal(t, "aGk=", a["contentBytes"])
			}
		}
		next, _ = m["@odata.nextLink"].(string)
		if next != "" {
			assert.True(t, strings.HasPrefix(next, s.URL()+"/me/events/e/attachments?"), next)
			assert.Contains(t, next, "$skiptoken=")
			assert.Contains(t, next, "$top=3")
		}
		pages++
	}
	assert.Equal(t, 3, pages)
	assert.Equal(t, ids, got)
}

func TestListDefaultPageSize(t *testing.T) {
	s := newTestServer(t, &Options{PageSize: 2})
	s.Me().AddEvent("e")
	addFiles(t, s, 3)
	m := graph(t, s, "GET", "/me/events/e/attachments", nil).json(t)
	assert.Len(t, m["value"], 2)
	assert.NotEmpty(t, m["@odata.nextLink"])
	for _, q := range []string{"$top=0", "$skiptoken=zz"} { // checked only when paging
		assert.Equal(t, http.StatusBadRequest, graph(t, s, "GET", "/me/events/e/attachments?"+q, nil).StatusCode, q)
	}

	// An empty event lists an empty array, not null.
	s.Me().AddEvent("empty")
	r := graph(t, s, "GET", "/me/events/empty/attachments", nil)
	assert.Contains(t, string(r.body), `"value":[]`)
	assert.NotContains(t, string(r.body), "nextLink")
}

func TestListSelect(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	addFiles(t, s, 2)
	r := graph(t, s, "GET", "/me/events/e/attachments?$select=name,size", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
	for _, v := range r.json(t)["value"].([]any) {
		a := v.(map[string]any)
		assert.ElementsMatch(t, []string{"@odata.type", "@odata.mediaContentType", "id", "name", "size"}, keys(a))
	}
	for _, q := range []string{"$select=nope", "$select=Name", "$top=x"} {
		r := graph(t, s, "GET", "/me/events/e/attachments?"+q, nil)
		assert.Equal(t, http.StatusBadRequest, r.StatusCode, q)
	}
	// Plain (non-$) parameters are ignored.
	assert.Equal(t, http.StatusOK, graph(t, s, "GET", "/me/events/e/attachments?foo=bar", nil).StatusCode)
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestGetValueDelete(t *testing.T) {
	s := newTestServer(t, nil)
	s.Me().AddEvent("e")
	ids := addFiles(t, s, 2)
	item := graph(t, s, "POST", "/me/events/e/attachments", []byte(`{"@odata.type":"#microsoft.graph.itemAttachment","name":"it","item":{"@odata.type":"microsoft.graph.message","subject":"hello"}}`))
	require.Equal(t, http.StatusCreated, item.StatusCode)
	itemID := item.json(t)["id"].(string)
	p := "/me/events/e/attachments/"

	r := graph(t, s, "GET", p+ids[0], nil)
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
	m := r.json(t)
	assert.Equal(t, "f0.txt", m["name"])
	assert.Equal(t, "aGk=", m["contentBytes"])
	assert.Contains(t, m["@odata.context"], "/attachments/$entity")

	r = graph(t, s, "GET", p+ids[0]+"?$select=name", nil)
	assert.ElementsMatch(t, []string{"@odata.context", "@odata.type", "@odata.mediaContentType", "id", "name"}, keys(r.json(t)))

	r = graph(t, s, "GET", p+ids[0]+"/$value", nil)
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, "hi", string(r.body))
	assert.Equal(t, "text/plain", r.Header.Get("Content-Type"))

	// Items: $value is the item rendered (here a message: MIME,
	// attachment-get.md); the item's JSON only with $expand.
	r = graph(t, s, "GET", p+itemID+"/$value", nil)
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, "message/rfc822", r.Header.Get("Content-Type"))
	assert.Contains(t, string(r.body), "Subject: hello")
	assert.NotContains(t, graph(t, s, "GET", p+itemID, nil).json(t), "item")
	exp := graph(t, s, "GET", p+itemID+"?$expand=microsoft.graph.itemattachment/item", nil).json(t)
	assert.Equal(t, "hello", exp["item"].(map[string]any)["subject"])

	r = graph(t, s, "DELETE", p+ids[0], nil)
	assert.Equal(t, http.StatusNoContent, r.StatusCode)
	assert.Empty(t, r.body)
	assert.Equal(t, http.StatusNotFound, graph(t, s, "GET", p+ids[0], nil).StatusCode)
	assert.Equal(t, http.StatusNotFound, graph(t, s, "DELETE", p+ids[0], nil).StatusCode)
	assert.Equal(t, http.StatusNotFound, graph(t, s, "GET", p+ids[0]+"/$value", nil).StatusCode)
	left := s.Attachments("me", "e")
	require.Len(t, left, 2)
	assert.Equal(t, ids[1], left[0].ID)
}
