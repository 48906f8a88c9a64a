package eventattach

import (
	"encoding/base64"
	"encoding/json"
	"io"
)

// The request body of AddFile, streamed: the JSON metadata, then the content
// base64-encoded on the fly, then the closing quote and brace. Nothing the
// size of the content is allocated, and each attempt re-reads from the start.

type fileRequestJSON struct {
	ODataType       string `json:"@odata.type"`
	Name            string `json:"name"`
	ContentType     string `json:"contentType,omitempty"`
	IsInline        bool   `json:"isInline,omitempty"`
	ContentID       string `json:"contentId,omitempty"`
	ContentLocation string `json:"contentLocation,omitempty"`
}

const fileBodySuffix = `"}`

type fileBody struct {
	prefix  []byte // {"@odata.type":...,"contentBytes":"
	content []byte
}

func newFileBody(f *FileAttachment) (*fileBody, error) {
	meta, err := json.Marshal(fileRequestJSON{odataFileAttachment, f.Name, f.ContentType, f.IsInline, f.ContentID, f.ContentLocation})
	if err != nil {
		return nil, err
	}
	prefix := append(meta[:len(meta)-1], `,"contentBytes":"`...)
	return &fileBody{prefix: prefix, content: f.ContentBytes}, nil
}

func (b *fileBody) len() int64 {
	return int64(len(b.prefix) + base64.StdEncoding.EncodedLen(len(b.content)) + len(fileBodySuffix))
}

// reader is the body of one attempt.
func (b *fileBody) reader() (io.Reader, error) {
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
