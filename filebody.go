package eventattach

import (
	"bytes"
	"encoding/base64"
	"io"
	"sync/atomic"
	"unicode/utf8"
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
// Per call it costs one allocation (the fileBody, which holds the metadata,
// a small body and the first reader) plus one per further reader:
// go-retryablehttp asks for a reader once to learn the length and once per
// attempt.

// fileRequestJSON documents the metadata's wire shape; appendFilePrefix
// writes exactly what json.Marshal writes for it (the tests compare bytes).
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
	// firstOut hands out a first reader once; later readers are allocated.
	firstOut   atomic.Bool
	first      fileBodyReader
	firstWhole bytes.Reader
	// buf holds prefix (and a body of up to some 100 bytes of content) when
	// it fits, so a typical call allocates only the fileBody: 480 bytes,
	// exactly one of the runtime's size classes.
	buf [264]byte
}

func newFileBody(f *FileAttachment) (*fileBody, error) {
	b := &fileBody{content: f.ContentBytes}
	b.prefix = appendFilePrefix(b.buf[:0], f)
	if n := b.len(); n <= maxInMemoryBody {
		whole := b.prefix // in buf, when the whole body fits there too
		if int64(cap(whole)) < n {
			whole = append(make([]byte, 0, n), b.prefix...)
		}
		whole = base64.StdEncoding.AppendEncode(whole, b.content)
		b.whole = append(whole, fileBodySuffix...)
	}
	return b, nil
}

// appendFilePrefix appends the metadata as json.Marshal(fileRequestJSON{...})
// writes it, less its closing brace, and then `,"contentBytes":"`.
func appendFilePrefix(dst []byte, f *FileAttachment) []byte {
	dst = append(dst, `{"@odata.type":"`+odataFileAttachment+`","name":`...)
	dst = appendJSONString(dst, f.Name)
	if f.ContentType != "" {
		dst = append(dst, `,"contentType":`...)
		dst = appendJSONString(dst, f.ContentType)
	}
	if f.IsInline {
		dst = append(dst, `,"isInline":true`...)
	}
	if f.ContentID != "" {
		dst = append(dst, `,"contentId":`...)
		dst = appendJSONString(dst, f.ContentID)
	}
	if f.ContentLocation != "" {
		dst = append(dst, `,"contentLocation":`...)
		dst = appendJSONString(dst, f.ContentLocation)
	}
	return append(dst, `,"contentBytes":"`...)
}

const jsonHex = "0123456789abcdef"

// appendJSONString appends s quoted the way encoding/json does (with its
// default HTML escaping): `"` and `\` and \b \f \n \r \t get short escapes,
// other control characters and <, >, & get \u00XX, invalid UTF-8 becomes
// \ufffd, and U+2028 and U+2029 are escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', jsonHex[c>>4], jsonHex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', jsonHex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func (b *fileBody) len() int64 {
	return int64(len(b.prefix) + base64.StdEncoding.EncodedLen(len(b.content)) + len(fileBodySuffix))
}

// reader is the body of one attempt.
func (b *fileBody) reader() (io.Reader, error) {
	first := !b.firstOut.Swap(true)
	if b.whole != nil {
		r := &b.firstWhole
		if !first {
			r = new(bytes.Reader)
		}
		r.Reset(b.whole)
		return r, nil
	}
	r := &b.first
	if !first {
		r = new(fileBodyReader)
	}
	*r = fileBodyReader{prefix: b.prefix, src: b.content, suffix: fileBodySuffix, remaining: b.len()}
	return r, nil
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
