package eventattach

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"testing"
)

// TestFileBodyPrefixMatchesEncodingJSON: appendFilePrefix writes the bytes
// json.Marshal wrote for the metadata, whatever the strings hold.
func TestFileBodyPrefixMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "menu.txt", "a\"b\\c", "<script>&amp;</script>", "\u2028\u2029", "é✓😀", "\xff\xfe", "a\xc3", "\x7f", "tab\tnl\nff\fbs\b"}
	for c := 0; c < 256; c++ {
		strs = append(strs, string([]byte{'x', byte(c), 'y'}))
	}
	rng := rand.New(rand.NewPCG(6, 6))
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
			if rng.IntN(3) == 0 {
				b[i] &= 0x7f
			}
		}
		strs = append(strs, string(b))
	}
	for i, s := range strs {
		f := &FileAttachment{Name: s, ContentType: strs[(i+1)%len(strs)], IsInline: i%2 == 0, ContentID: strs[(i+2)%len(strs)], ContentLocation: strs[(i+3)%len(strs)]}
		meta, err := json.Marshal(fileRequestJSON{odataFileAttachment, f.Name, f.ContentType, f.IsInline, f.ContentID, f.ContentLocation})
		if err != nil {
			t.Fatal(err)
		}
		want := string(meta[:len(meta)-1]) + `,"contentBytes":"`
		body, err := newFileBody(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(body.prefix); got != want {
			t.Fatalf("prefix for %q:\n got %q\nwant %q", s, got, want)
		}
	}
}

// TestFileBodyInMemoryMatchesStream: a body small enough to be sent from
// memory is byte for byte what the streaming reader writes, read in chunks
// of any size; and every attempt's reader starts from the beginning.
func TestFileBodyInMemoryMatchesStream(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 20, 100, 101, 2000, 2900} {
		content := benchContent(n)
		if n == 20 {
			content = []byte("mac and cheese today")
		}
		f := &FileAttachment{Name: "a<b>.txt", ContentType: "text/plain", ContentBytes: content}
		b, err := newFileBody(f)
		if err != nil {
			t.Fatal(err)
		}
		if b.whole == nil || int64(len(b.whole)) != b.len() {
			t.Fatalf("n=%d: not in memory (%d bytes of %d)", n, len(b.whole), b.len())
		}
		for _, chunk := range []int{1, 3, 4, 7, 512, 1 << 16} {
			s := &fileBodyReader{prefix: b.prefix, src: b.content, suffix: fileBodySuffix, remaining: b.len()}
			var streamed []byte
			buf := make([]byte, chunk)
			for {
				k, err := s.Read(buf)
				streamed = append(streamed, buf[:k]...)
				if err != nil {
					break
				}
			}
			if !bytes.Equal(streamed, b.whole) {
				t.Fatalf("n=%d chunk=%d: streamed %q, in memory %q", n, chunk, streamed, b.whole)
			}
		}
		for attempt := range 3 {
			r, _ := b.reader()
			if l := r.(interface{ Len() int }).Len(); int64(l) != b.len() {
				t.Fatalf("n=%d attempt %d: Len %d, want %d", n, attempt, l, b.len())
			}
			got, _ := io.ReadAll(r)
			if !bytes.Equal(got, b.whole) {
				t.Fatalf("n=%d attempt %d: %q", n, attempt, got)
			}
		}
	}
	big, _ := newFileBody(&FileAttachment{Name: "big", ContentBytes: benchContent(maxInMemoryBody)})
	if big.whole != nil {
		t.Fatal("a body over maxInMemoryBody is held in memory")
	}
}
