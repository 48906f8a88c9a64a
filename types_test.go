package eventattach

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// normalizeJSON decodes JSON into generic values, with every @odata.type in
// the one spelling Graph treats as equal ("#microsoft.graph.x").
func normalizeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	var walk func(v any)
	walk = func(v any) {
		if o, ok := v.(map[string]any); ok {
			if s, ok := o["@odata.type"].(string); ok && !strings.HasPrefix(s, "#") {
				o["@odata.type"] = "#" + s
			}
			for _, c := range o {
				walk(c)
			}
		}
	}
	walk(m)
	return m
}

func TestSeedFileRequestGolden(t *testing.T) {
	srv := newScripted(t, reply(201, string(readTestdata(t, "seed_file_response.json"))))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	got, err := c.Me().Events("AAMkAGI1AAAt9AHjAAA=").Attachments().AddFile(context.Background(),
		&FileAttachment{Name: "menu.txt", ContentBytes: []byte("mac and cheese today")})
	require.NoError(t, err)

	reqs := srv.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "/v1.0/me/events/AAMkAGI1AAAt9AHjAAA=/attachments", reqs[0].EscapedPath)
	assert.Equal(t, "application/json", reqs[0].Header.Get("Content-Type"))
	want := normalizeJSON(t, readTestdata(t, "seed_file_request.json"))
	sent := normalizeJSON(t, reqs[0].Body)
	assert.Equal(t, want, sent, "request body field by field")
	for k := range want {
		assert.Equal(t, want[k], sent[k], k)
	}

	// The 201 decoded to the exact typed value of the seed.
	assert.Equal(t, &FileAttachment{
		ID:                   "AAMkAGI1AAAt9AHjAAABEgAQAEdBogju-MJEu6Ngg-1_W0g=",
		Name:                 "menu.txt",
		ContentType:          "text/plain",
		Size:                 178,
		IsInline:             false,
		LastModifiedDateTime: time.Date(2017, 4, 15, 3, 21, 49, 0, time.UTC),
		ContentBytes:         []byte("mac and cheese today"),
	}, got)
}

func TestSeedFileResponseDecodes(t *testing.T) {
	var f FileAttachment
	require.NoError(t, json.Unmarshal(readTestdata(t, "seed_file_response.json"), &f))
	assert.Equal(t, "AAMkAGI1AAAt9AHjAAABEgAQAEdBogju-MJEu6Ngg-1_W0g=", f.ID)
	assert.Equal(t, int64(178), f.Size)
	assert.Equal(t, "mac and cheese today", string(f.ContentBytes))
	assert.True(t, f.LastModifiedDateTime.Equal(time.Date(2017, 4, 15, 3, 21, 49, 0, time.UTC)))
	assert.Empty(t, f.ContentID, "null decodes to empty")

	att, err := unmarshalAttachment(readTestdata(t, "seed_file_response.json"))
	require.NoError(t, err)
	assert.IsType(t, &FileAttachment{}, att)
}

func TestSeedItemRequestGolden(t *testing.T) {
	srv := newScripted(t, reply(201, string(readTestdata(t, "seed_item_response.json"))))
	c := newTestClient(t, srv.URL+"/v1.0", nil)
	event := &Event{
		Subject: "Discuss gifts for children",
		Body:    &ItemBody{ContentType: "HTML", Content: "Let's look for funding!"},
		Start:   &DateTimeTimeZone{DateTime: "2016-12-02T18:00:00", TimeZone: "Pacific Standard Time"},
		End:     &DateTimeTimeZone{DateTime: "2016-12-02T19:00:00", TimeZone: "Pacific Standard Time"},
	}
	got, err := c.Me().Events("AAMkAGI1AAAt9AHjAAA=").Attachments().AddItem(context.Background(),
		&ItemAttachment{Name: "Holiday event", Item: event})
	require.NoError(t, err)

	reqs := srv.requests()
	require.Len(t, reqs, 1)
	want := normalizeJSON(t, readTestdata(t, "seed_item_request.json"))
	sent := normalizeJSON(t, reqs[0].Body)
	assert.Equal(t, want, sent)
	assert.Equal(t, "#microsoft.graph.event", sent["item"].(map[string]any)["@odata.type"])

	assert.Equal(t, "AAMkADNkNJp5JVnQIe9r0=", got.ID)
	assert.Equal(t, "Holiday event", got.Name)
	assert.Equal(t, int64(2473), got.Size)
	assert.Empty(t, got.ContentType, "contentType null")
	assert.False(t, got.IsInline)
	assert.Equal(t, time.Date(2016, 12, 1, 22, 27, 13, 0, time.UTC), got.LastModifiedDateTime)
	assert.Same(t, event, got.Item, "Graph does not echo the item; the sent one is kept")
}

func TestItemKindsRoundTrip(t *testing.T) {
	for _, item := range []OutlookItem{
		&Event{Subject: "s", Location: &Location{DisplayName: "Room 1"}, IsAllDay: true},
		&Message{Subject: "m", Body: &ItemBody{ContentType: "text", Content: "hi"}, ToRecipients: []Recipient{{EmailAddress{Name: "A", Address: "a@contoso.com"}}}},
		&Contact{GivenName: "Adele", Surname: "Vance", EmailAddresses: []EmailAddress{{Address: "adele@contoso.com"}}},
	} {
		b, err := json.Marshal(ItemAttachment{Name: "x", Item: item})
		require.NoError(t, err)
		var back ItemAttachment
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, item, back.Item)
		assert.Contains(t, string(b), `"@odata.type":"#microsoft.graph.itemAttachment"`)
	}
}

func TestDecodeToleratesGraphExtras(t *testing.T) {
	raw := `{"@odata.context":"x","@odata.type":"#microsoft.graph.itemAttachment","@odata.etag":"W/1","@odata.id":"y",
	"id":"i","name":null,"contentType":null,"size":null,"isInline":null,"lastModifiedDateTime":null,"futureField":{"a":[1,2]},
	"item":{"@odata.type":"#microsoft.graph.message","subject":"s","unknown":true,"body":null}}`
	att, err := unmarshalAttachment([]byte(raw))
	require.NoError(t, err)
	it := att.(*ItemAttachment)
	assert.Equal(t, "i", it.ID)
	assert.Equal(t, &Message{Subject: "s"}, it.Item)

	ref, err := unmarshalAttachment([]byte(`{"@odata.type":"#microsoft.graph.referenceAttachment","id":"r","name":"doc","sourceUrl":"https://x","isFolder":false}`))
	require.NoError(t, err)
	assert.Equal(t, &ReferenceAttachment{ID: "r", Name: "doc", SourceURL: "https://x"}, ref)

	_, err = unmarshalAttachment([]byte(`{"@odata.type":"#microsoft.graph.somethingElse"}`))
	assert.Error(t, err)
}

func TestFileAttachmentMarshalsODataType(t *testing.T) {
	b, err := json.Marshal(&FileAttachment{Name: "a.txt", ContentBytes: []byte("hi")})
	require.NoError(t, err)
	assert.JSONEq(t, `{"@odata.type":"#microsoft.graph.fileAttachment","name":"a.txt","contentBytes":"aGk="}`, string(b))
}

func TestStreamedFileBodyMatchesEncodingJSON(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 100, 4096, 65537} {
		content := make([]byte, n)
		for i := range content {
			content[i] = byte(i * 7)
		}
		f := &FileAttachment{Name: "a\"b.bin", ContentType: "application/octet-stream", IsInline: true, ContentID: "cid", ContentBytes: content}
		body, err := newFileBody(f)
		require.NoError(t, err)
		for _, bufSize := range []int{1, 2, 3, 5, 7, 512, 1 << 20} {
			r, _ := body.reader()
			var out []byte
			buf := make([]byte, bufSize)
			for {
				k, err := r.Read(buf)
				out = append(out, buf[:k]...)
				if err != nil {
					break
				}
			}
			require.Equal(t, int(body.len()), len(out), "n=%d buf=%d", n, bufSize)
			var back fileRequestJSON
			var withContent struct {
				ContentBytes []byte `json:"contentBytes"`
			}
			require.NoError(t, json.Unmarshal(out, &back), string(out))
			require.NoError(t, json.Unmarshal(out, &withContent))
			assert.Equal(t, f.Name, back.Name)
			assert.Equal(t, len(content), len(withContent.ContentBytes))
			assert.Equal(t, content, append([]byte{}, withContent.ContentBytes...))
		}
	}
}

func TestSkipContentBytesKeepsEverythingElse(t *testing.T) {
	in := `{"a":"contentBytes","contentBytes":"QUJD\"\\x","n":{"contentBytes":"keep"},"s":[1,"x"],"z":"\u00e9"}`
	for _, chunk := range []int{1, 2, 3, 1000} {
		var out strings.Builder
		s := &skipContentBytes{r: &oneByteReader{s: in, n: chunk}}
		buf := make([]byte, 64)
		for {
			k, err := s.Read(buf)
			out.WriteString(string(buf[:k]))
			if err != nil {
				break
			}
		}
		assert.JSONEq(t, `{"a":"contentBytes","contentBytes":"","n":{"contentBytes":"keep"},"s":[1,"x"],"z":"é"}`, out.String())
	}
}

type oneByteReader struct {
	s string
	n int
}

func (r *oneByteReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	k := min(r.n, len(p), len(r.s))
	copy(p, r.s[:k])
	r.s = r.s[k:]
	return k, nil
}
