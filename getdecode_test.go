package eventattach

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jsonFields splits a JSON object into its members, raw, in order.
func jsonFields(t *testing.T, raw []byte) [][2]string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	_, err := dec.Token()
	require.NoError(t, err)
	var out [][2]string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
		out = append(out, [2]string{k.(string), string(v)})
	}
	return out
}

func joinFields(fs [][2]string) string {
	var b strings.Builder
	b.WriteString("{")
	for i, f := range fs {
		if i > 0 {
			b.WriteString(",")
		}
		k, _ := json.Marshal(f[0])
		fmt.Fprintf(&b, "%s:%s", k, f[1])
	}
	b.WriteString("}")
	return b.String()
}

// odataLast moves @odata.type to the end.
func odataLast(fs [][2]string) [][2]string {
	out := slices.Clone(fs)
	slices.SortStableFunc(out, func(x, y [2]string) int {
		return bool2int(x[0] == "@odata.type") - bool2int(y[0] == "@odata.type")
	})
	return out
}

func bool2int(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The streaming decoder of whole attachments gives what unmarshalAttachment
// gives for the whole answer (the same value, or an error for an error),
// for any field order, escapes, nulls, unknown fields and base64 written
// in any of JSON's ways, read in chunks of any size, with a Content-Length
// or without.
func TestDecodeAttachmentAnswerMatchesUnmarshal(t *testing.T) {
	const file = `"@odata.type":"#microsoft.graph.fileAttachment"`
	seedFile := readTestdata(t, "seed_file_response.json")
	seedItem := readTestdata(t, "seed_item_response.json")
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 700_000) // past sinkProbe
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	bigB64 := base64.StdEncoding.EncodeToString(big)
	slashes, _ := json.Marshal(string(bigB64)) // '+' and '/' plain
	escaped := strings.NewReplacer("/", `\/`, "+", `\u002B`).Replace(string(slashes))

	cases := map[string]string{
		"seed file":           string(seedFile),
		"seed item":           string(seedItem),
		"big":                 `{` + file + `,"id":"b","size":700000,"contentBytes":"` + bigB64 + `"}`,
		"big, size after":     `{` + file + `,"id":"b","contentBytes":"` + bigB64 + `","size":700000}`,
		"big, size too small": `{` + file + `,"id":"b","size":1000,"contentBytes":"` + bigB64 + `"}`,
		"big, size too large": `{` + file + `,"id":"b","size":9000000,"contentBytes":"` + bigB64 + `"}`,
		"big, size hostile":   `{` + file + `,"id":"b","size":9000000000000,"contentBytes":"` + bigB64 + `"}`,
		"big, escaped":        `{"contentBytes":` + escaped + `,"size":null,` + file + `}`,
		"escaped slashes":     `{` + file + `,"contentBytes":"\/\/\/\/\/\/\/\/"}`,
		"escaped everything":  `{` + file + `,"contentBytes":"\u0051\u0055JD\n\r\u000a\/w\u003d\u003D"}`,
		"escaped newlines":    `{` + file + `,"contentBytes":"QUJD\nREVG\r\nR0g="}`,
		"escaped strings":     `{` + file + `,"id":"a\"b\\c\u00e9\ud83d\ude00","name":"x\/y\tz","contentBytes":"QUJD","contentType":"\u0074ext"}`,
		"nulls":               `{` + file + `,"id":null,"name":null,"size":null,"isInline":null,"contentBytes":null,"contentId":null,"lastModifiedDateTime":null}`,
		"empty content":       `{` + file + `,"contentBytes":""}`,
		"no content":          `{` + file + `,"id":"a"}`,
		"unknown fields":      `{"x":{"contentBytes":"not base64!","y":[1,"contentBytes",{"contentBytes":"!!"}]},` + file + `,"contentBytes":"QUJD","z":[],"w":-1.5e3,"v":true}`,
		"spaces":              " \n{ " + file + " ,\t\"contentBytes\" :\n \"QUJD\" , \"id\" : \"s\" }\n ",
		"later null wins":     `{` + file + `,"contentBytes":"QUJD","contentBytes":null}`,
		"later string wins":   `{` + file + `,"contentBytes":null,"contentBytes":"QUJD","contentBytes":"REVG"}`,
		"item with content":   `{"contentBytes":"not base64","@odata.type":"#microsoft.graph.itemAttachment","id":"i"}`,
		"item with item":      `{"item":{"@odata.type":"#microsoft.graph.event","subject":"s","contentBytes":"x"},"@odata.type":"microsoft.graph.itemAttachment","id":"i"}`,
		"item null item":      `{"@odata.type":"#microsoft.graph.itemAttachment","item":null}`,
		"reference":           `{"sourceUrl":"https://x\/y","@odata.type":"#microsoft.graph.referenceAttachment","id":"r","isFolder":true}`,
		"type case":           `{"@odata.type":"#Microsoft.Graph.FileAttachment","contentBytes":"QUJD"}`,

		"invalid: short quantum":     `{` + file + `,"contentBytes":"QUJDRA"}`,
		"invalid: bad character":     `{` + file + `,"contentBytes":"QU!D"}`,
		"invalid: data after pad":    `{` + file + `,"contentBytes":"QQ==QUJD"}`,
		"invalid: pad across quanta": `{` + file + `,"contentBytes":"QQ==\u0051UJD"}`,
		"invalid: non-ASCII":         `{` + file + `,"contentBytes":"\u00e9AAA"}`,
		"invalid: UTF-8":             `{` + file + `,"contentBytes":"é=AA"}`,
		"invalid: unpadded":          `{` + file + `,"contentBytes":"QQ"}`,
		"invalid: big then bad":      `{` + file + `,"contentBytes":"` + bigB64[:400_000] + `*` + bigB64[400_001:] + `"}`,
		"invalid: bad escape":        `{` + file + `,"contentBytes":"QU\xJD"}`,
		"invalid: short escape":      `{` + file + `,"contentBytes":"QUJ\u00"}`,
		"invalid: raw newline":       "{" + file + ",\"contentBytes\":\"QUJD\nREVG\"}",
		"invalid: raw tab":           "{" + file + ",\"contentBytes\":\"QUJD\tREVG\"}",
		"invalid: unknown type":      `{"@odata.type":"#microsoft.graph.other","contentBytes":"QUJD"}`,
		"invalid: number":            `{` + file + `,"contentBytes":12}`,
		"invalid: cut off":           `{` + file + `,"contentBytes":"QUJD`,
		"invalid: empty":             ``,
	}
	// Each seed in other orders: reversed, rotated, @odata.type last.
	for name, seed := range map[string][]byte{"seed file": seedFile, "seed item": seedItem} {
		fs := jsonFields(t, seed)
		cases[name+", @odata.type last"] = joinFields(odataLast(fs))
		rev := slices.Clone(fs)
		slices.Reverse(rev)
		cases[name+", reversed"] = joinFields(rev)
		for i := 1; i < len(fs); i += 3 {
			cases[fmt.Sprintf("%s, rotated %d", name, i)] = joinFields(append(slices.Clone(fs[i:]), fs[:i]...))
		}
		shuffled := slices.Clone(fs)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		cases[name+", shuffled"] = joinFields(shuffled)
	}

	for name, in := range cases {
		want, werr := unmarshalAttachment([]byte(in))
		if strings.HasPrefix(name, "invalid") {
			require.Error(t, werr, "%s: the case is meant to fail", name)
		} else {
			require.NoError(t, werr, "%s: the case is meant to decode", name)
		}
		for _, chunk := range []int{1, 7, 4096, 1 << 20} {
			if chunk < 7 && len(in) > 100_000 {
				continue // byte by byte through 1 MB takes long; 7 covers splits
			}
			for _, withLength := range []bool{true, false} {
				resp := &http.Response{Body: io.NopCloser(&oneByteReader{s: in, n: chunk}), ContentLength: -1}
				if withLength {
					resp.ContentLength = int64(len(in))
				}
				got, gerr := decodeAttachmentAnswer(resp, maxGetAnswer)
				where := fmt.Sprintf("%s (chunks of %d, Content-Length %v)", name, chunk, withLength)
				if werr != nil {
					require.Error(t, gerr, "%s: unmarshalAttachment failed with %v", where, werr)
					continue
				}
				require.NoError(t, gerr, where)
				if !reflect.DeepEqual(want, got) {
					t.Fatalf("%s: got %#v, want %#v", where, got, want)
				}
			}
		}
	}
}

// The content is one allocation of about its size when the answer's
// Content-Length is known, or the attachment's size comes first: the
// decoder allocates at most 1.1× the content plus 1 MiB (without either,
// chunks joined at the end would take twice the content).
func TestDecodeAttachmentAnswerAllocatesOnce(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16) // 4 MiB
	answer := `{"@odata.type":"#microsoft.graph.fileAttachment","id":"a","size":4194458,"contentBytes":"` +
		base64.StdEncoding.EncodeToString(content) + `"}`
	for _, tc := range []struct {
		name   string
		length int64
	}{
		{"Content-Length", int64(len(answer))},
		{"size first", -1},
	} {
		var got Attachment
		var err error
		alloc := allocatedBy(func() {
			got, err = decodeAttachmentAnswer(&http.Response{Body: io.NopCloser(strings.NewReader(answer)), ContentLength: tc.length}, maxGetAnswer)
		})
		require.NoError(t, err, tc.name)
		assert.Equal(t, content, got.(*FileAttachment).ContentBytes, tc.name)
		t.Logf("%s: allocated %d bytes for %d", tc.name, alloc, len(content))
		assert.Less(t, alloc, uint64(len(content))*11/10+1<<20, tc.name)
	}
}

// A Get answer over maxGetAnswer is the cap's error, read no further than
// the cap, and what it allocates stays under the cap: an endless
// contentBytes (decoded as it comes), with or without a size claiming a
// huge file, and an endless other field.
func TestHugeGetAnswerIsRefused(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("reads 230 MB per case (-short, or -race: it runs in the plain go test of CI)")
	}
	noRetry := func(o *ClientOptions) { o.Retry.MaxRetries = -1 }
	limit := fmt.Sprintf("larger than %d bytes", maxGetAnswer)
	const file = `{"@odata.type":"#microsoft.graph.fileAttachment","id":"x",`
	for name, prefix := range map[string]string{
		"endless content":               file + `"contentBytes":"`,
		"endless content, a huge size":  file + `"size":99999999999,"contentBytes":"`,
		"endless content, @odata later": `{"id":"x","contentBytes":"`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := newScripted(t, streamed(200, prefix, "QUJD", `"}`, maxGetAnswer+16<<20))
			atts := newTestClient(t, srv.URL+"/v1.0", nil, noRetry).Users("u").Events("e").Attachments()
			var err error
			alloc := allocatedBy(func() { _, err = atts.Get(context.Background(), "a1") })
			require.Error(t, err)
			t.Logf("%v (allocated %d bytes)", err, alloc)
			assert.Contains(t, err.Error(), "the answer to GET "+srv.URL+"/v1.0/users/u/events/e/attachments/a1")
			assert.Contains(t, err.Error(), limit)
			assert.Less(t, alloc, uint64(maxGetAnswer), "memory stays under the cap")
		})
	}
}

// contentBytesKeys counts the top-level keys of the object b that
// encoding/json would take for contentBytes (it folds case).
func contentBytesKeys(b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0
	}
	n := 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return n
		}
		if k, _ := t.(string); strings.EqualFold(k, contentBytesKey) {
			n++
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return n
		}
	}
	return n
}

// Get's errors for a contentBytes that is not base64 (errors.As finds the
// base64.CorruptInputError) or not a valid JSON string.
func TestGetBadContentBytes(t *testing.T) {
	noRetry := func(o *ClientOptions) { o.Retry.MaxRetries = -1 }
	const file = `{"@odata.type":"#microsoft.graph.fileAttachment","id":"a1",`
	srv := newScripted(t, reply(200, file+`"contentBytes":"QUJD*EVG"}`), reply(200, file+`"contentBytes":"QUJD\qEVG"}`))
	atts := newTestClient(t, srv.URL+"/v1.0", nil, noRetry).Users("u").Events("e").Attachments()
	_, err := atts.Get(context.Background(), "a1")
	var ce base64.CorruptInputError
	require.ErrorAs(t, err, &ce)
	assert.EqualValues(t, 4, ce)
	_, err = atts.Get(context.Background(), "a1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `decoding contentBytes: invalid character 'q' in string escape code`)
}
