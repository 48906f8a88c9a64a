package eventattach

import (
	"errors"
	"io"
	"reflect"
	"testing"
)

// TestDecodeCreatedFileMatchesDecoder: same result, same kind of error, as
// json.Decoder gave, for whole, cut-off, padded and odd answers read in
// chunks of any size; and the body is read to its end after the value.
func TestDecodeCreatedFileMatchesDecoder(t *testing.T) {
	seed := string(readTestdata(t, "seed_file_response.json"))
	big := string(benchAnswer(benchEvent3MB, benchContent(100_000)))
	cases := []string{seed, big, seed + "\n", seed + "  garbage", seed + seed, "", "   ", "null", "[]", `"x"`, "123",
		`{"id":"a","contentBytes":"QU\"\\JD","name":"n\"}"}`, `{"id":"a","contentBytes":null}`, `{"id":"a","n":{"contentBytes":"keep"}}`,
		`{"id":"a"}}`, `{"id":"a",}`, `{"id":1}`, `{"id":"a","size":"x"}`, `}{`, `{"id":"a" "b"}`}
	for i := 0; i < len(seed); i += 7 {
		cases = append(cases, seed[:i])
	}
	for i := len(big) - 3000; i < len(big); i += 97 {
		cases = append(cases, big[:i])
	}
	kind := func(err error) string {
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, io.ErrUnexpectedEOF):
			return "unexpected EOF"
		case errors.Is(err, io.EOF):
			return "EOF"
		}
		return "error"
	}
	for _, in := range cases {
		for _, chunk := range []int{1, 3, 512, 1 << 20} {
			var want, got FileAttachment
			werr := oldDecodeCreatedFile(&oneByteReader{s: in, n: chunk}, &want)
			r := &oneByteReader{s: in, n: chunk}
			gerr := decodeCreatedFile(r, &got)
			if kind(werr) != kind(gerr) {
				t.Fatalf("%.60q chunk %d: error %v, json.Decoder gave %v", in, chunk, gerr, werr)
			}
			if werr == nil && !reflect.DeepEqual(want, got) {
				t.Fatalf("%.60q chunk %d: got %+v, want %+v", in, chunk, got, want)
			}
			if gerr == nil && len(in) < 10_000 && r.s != "" {
				t.Fatalf("%.60q chunk %d: %d bytes left unread", in, chunk, len(r.s))
			}
		}
	}
}
