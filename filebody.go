package eventattach

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
)

// The request body of AddFile, streamed: the JSON metadata, then the content
// base64-encoded on the fly, then the closing quote and brace. Nothing the
// size of the content is allocated, and each attempt re-reads from the start.
//
// Small bodies (up to maxInMemoryBody) are the exception: they are encoded
// once and sent from a *bytes.Reader, which net/http knows to be in memory,
// so it writes the headers and the body in one syscall instead of flushing
// the headers first as it does for a streamed body.
//
// fileRequestJSON is the metadata's wire shape.
type fileRequestJSON struct {
	ODataType       string `json:"@odata.type"`
	Name            string `json:"name"`
	ContentType     string `json:"contentType,omitempty"`
	IsInline        bool   `json:"isInline,omitempty"`
	ContentID       string `json:"contentId,omitempty"`
	ContentLocation string `json:"contentLocation,omitempty"`
}

const fileBodySuffix = `"}`

// maxInMemoryBody is the largest body sent from memory rather than streamed.
const maxInMemoryBody = 4 << 10

type fileBody struct {
	prefix  []byte // {"@odata.type":...,"contentBytes":"
	content []byte
	whole   []byte // the whole body, when it is at most maxInMemoryBody
}

func newFileBody(f *FileAttachment) (*fileBody, error) {
	meta, err := json.Marshal(fileRequestJSON{ODataType: odataFileAttachment, Name: f.Name, ContentType: f.ContentType, IsInline: f.IsInline, ContentID: f.ContentID, ContentLocation: f.ContentLocation})
	if err != nil {
		return nil, err
	}
	b := &fileBody{content: f.ContentBytes}
	b.prefix = append(meta[:len(meta)-1], `,"contentBytes":"`...) // the metadata, open for one more field
	if n := b.len(); n <= maxInMemoryBody {
		whole := append(make([]byte, 0, n), b.prefix...)
		whole = base64.StdEncoding.AppendEncode(whole, b.content)
		b.whole = append(whole, fileBodySuffix...)
	}
	return b, nil
}

func (b *fileBody) len() int64 {
	return int64(len(b.prefix) + base64.StdEncoding.EncodedLen(len(b.content)) + len(fileBodySuffix))
}

// reader is the body of one attempt.
func (b *fileBody) reader() (io.Reader, error) {
	if b.whole != nil {
		return bytes.NewReader(b.whole), nil
	}
	return &fileBodyReader{prefix: b.prefix, src: b.content, suffix: fileBodySuffix, remaining: b.len()}, nil
}

type fileBodyReader struct {
	prefix    []byte
	src       []byte // content not yet encoded
	pend      [4]byte
	pn, pi    int // pending encoded bytes in pend[pi:pn]
	suffix    string
	remaining int64
}

// Len lets go-retryablehttp and net/http know the exact Content-Length.
func (r *fileBodyReader) Len() int { return int(r.remaining) }

// Close makes the reader an io.ReadCloser, so go-retryablehttp hands it to
// net/http as it is instead of wrapping it in io.NopCloser each attempt.
func (r *fileBodyReader) Close() error { return nil }

func (r *fileBodyReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case len(r.prefix) > 0:
			c := copy(p[n:], r.prefix)
			r.prefix = r.prefix[c:]
			n += c
		case r.pi < r.pn:
			c := copy(p[n:], r.pend[r.pi:r.pn])
			r.pi += c
			n += c
		case len(r.src) > 0:
			room := len(p) - n
			chunk := min(room/4*3, len(r.src))
			if chunk == 0 {
				// Less than one base64 quantum of room: encode into pend.
				k := min(3, len(r.src))
				base64.StdEncoding.Encode(r.pend[:], r.src[:k])
				r.src = r.src[k:]
				r.pi, r.pn = 0, 4
				continue
			}
			base64.StdEncoding.Encode(p[n:], r.src[:chunk])
			r.src = r.src[chunk:]
			n += base64.StdEncoding.EncodedLen(chunk)
		case len(r.suffix) > 0:
			c := copy(p[n:], r.suffix)
			r.suffix = r.suffix[c:]
			n += c
		default:
			r.remaining -= int64(n)
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
	}
	r.remaining -= int64(n)
	return n, nil
}
