package eventattach

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Graph echoes a file's contentBytes in the 201 of AddFile: up to 4 MB of
// base64 the caller already has. Decoding it would allocate the string and
// the bytes again, so the answer is filtered as it streams in: the value of
// the top-level "contentBytes" becomes "" and the rest (a few hundred bytes)
// is decoded as usual.
//
// The answer is read through one pooled 32 KiB buffer (large reads: a 4 MB
// echo is some 130 reads, not the 8,000 a json.Decoder's 512-byte refills
// would make), the echo is skipped with IndexByte rather than byte by byte,
// and the kept bytes are unmarshalled once. Like json.Decoder, only the first
// JSON value counts; what follows it is read and dropped (up to
// maxTrailingBody), so the connection can be reused.

// decodeBufSize is the read size, and the kept metadata that fits without
// growing the buffer.
const decodeBufSize = 32 << 10

// maxTrailingBody bounds what is read after the answer's JSON value to let
// net/http reuse the connection (a chunked answer's terminator, whitespace).
const maxTrailingBody = 4 << 10

var decodeBufPool = sync.Pool{New: func() any { b := make([]byte, decodeBufSize); return &b }}

// maxAnswerSize caps a success answer read into memory: a List page, the
// 201 of AddFile. The largest legitimate answer is a file attachment with
// its contentBytes (a Get, or the echo in that 201): a file under
// MaxAddFileSize is under 4 MiB of base64 beside a few hundred bytes of
// metadata, and twice that leaves room. Anything longer, such as a proxy's
// page or an endless stream, is an error rather than heap growth. The
// skipped echo counts too, so that it must end.
const maxAnswerSize = 8 << 20

// boundedAnswer reads at most maxAnswerSize bytes of a success answer; one
// byte more is an error naming the request.
type boundedAnswer struct {
	r     io.Reader
	left  int64
	limit int64  // the cap, for the error; 0 means maxAnswerSize
	req   string // "GET https://…", or "" when unknown
	err   error
}

// newBoundedAnswer bounds resp's body.
func newBoundedAnswer(resp *http.Response) *boundedAnswer {
	return newBoundedAnswerOf(resp, maxAnswerSize)
}

// maxGetAnswer caps Get, whose answer carries a file's contentBytes: an
// upload session's file may be MaxUploadSize bytes, 4/3 of that in base64.
// Content streams the bytes instead, with no cap.
const maxGetAnswer = MaxUploadSize/3*4 + 1<<20

func newBoundedAnswerOf(resp *http.Response, limit int64) *boundedAnswer {
	b := &boundedAnswer{r: resp.Body, left: limit, limit: limit}
	if resp.Request != nil {
		b.req = resp.Request.Method + " " + redact(resp.Request.URL.String())
	}
	return b
}

func (b *boundedAnswer) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more tells "too large" from "exactly the cap"
	}
	n, err := b.r.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		return n, err
	}
	n, b.left = int(b.left), 0
	limit := cmp.Or(b.limit, maxAnswerSize)
	if b.req != "" {
		b.err = fmt.Errorf("eventattach: the answer to %s is larger than %d bytes (%s)", b.req, limit, byteSize(limit))
	} else {
		b.err = fmt.Errorf("eventattach: the answer is larger than %d bytes (%s)", limit, byteSize(limit))
	}
	return n, b.err
}

// decodeCreatedFile reads the 201 of AddFile into out (without content).
func decodeCreatedFile(r io.Reader, out *FileAttachment) error {
	r = &boundedAnswer{r: r, left: maxAnswerSize}
	if err := decodeFiltered(r, out); err != nil {
		return fmt.Errorf("eventattach: decoding the created file attachment: %w", err)
	}
	if out.ID == "" {
		return fmt.Errorf("eventattach: the created file attachment has no id")
	}
	return nil
}

func decodeFiltered(r io.Reader, out *FileAttachment) error {
	return filterAnswer(r, maxAnswerSize, nil, out.UnmarshalJSON)
}

// filterAnswer reads the first JSON value of r through skipContentBytes
// (handing the skipped characters to sink, when not nil) and unmarshals what
// is kept. limit bounds what r lets in, and so the kept bytes.
func filterAnswer(r io.Reader, limit int64, sink *contentSink, unmarshal func([]byte) error) error {
	bp := decodeBufPool.Get().(*[]byte)
	defer decodeBufPool.Put(bp) // still the 32 KiB buffer, even if buf grew
	buf := *bp
	s := skipContentBytes{r: r, end: -1, sink: sink}
	if sink != nil {
		sink.prefix = func(n int64) []byte { return buf[:n] }
		defer func() { sink.prefix = nil }()
	}
	n := 0 // buf[:n] is the filtered answer so far
	for s.end < 0 {
		if len(buf)-n < 512 {
			// A huge answer; not pooled. Doubling, but never past what
			// the answer's bound lets in.
			grown := make([]byte, n+int(min(int64(len(buf)), limit+1024-int64(n))))
			copy(grown, buf[:n])
			buf = grown
		}
		k, err := s.Read(buf[n:])
		n += k
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if sink != nil && sink.synErr != nil {
		return fmt.Errorf("eventattach: decoding contentBytes: %w", sink.synErr)
	}
	if s.end >= 0 {
		if len(buf)-n < 512 {
			buf = append(buf[:n], make([]byte, 512)...)
		}
		drainTrailing(r, buf[n:])
		return unmarshal(buf[:s.end])
	}
	// No object or array ended: an empty, cut-off or bare-literal answer.
	// Report it as json.Decoder would: io.EOF for nothing, io.ErrUnexpectedEOF
	// for a value cut off, encoding/json's error otherwise.
	data := buf[:n]
	if len(bytes.TrimSpace(data)) == 0 {
		return io.EOF
	}
	err := unmarshal(data)
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset == int64(len(data)) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// drainTrailing reads what follows the JSON value, up to maxTrailingBody, so
// that the body ends at EOF. Errors do not matter: the value is complete.
func drainTrailing(r io.Reader, scratch []byte) {
	for read := 0; read <= maxTrailingBody; {
		k, err := r.Read(scratch)
		read += k
		if err != nil {
			return
		}
		if k == 0 {
			read++ // no progress: count it so a stuck reader ends the loop
		}
	}
}

const contentBytesKey = "contentBytes"

// skipContentBytes is an io.Reader that drops the characters of the
// top-level "contentBytes" string value, leaving valid JSON ("").
type skipContentBytes struct {
	r          io.Reader
	depth      int
	inStr, esc bool
	isKey      bool // the current string is a key of the top-level object
	key        [len(contentBytesKey)]byte
	keyLen     int
	keyLong    bool
	expectKey  bool // the next top-level string is a key
	keyIsCB    bool // the last top-level key was "contentBytes"
	afterColon bool
	skipping   bool         // inside the contentBytes value
	sink       *contentSink // gets the characters skipped; nil drops them

	out int64 // bytes returned so far
	// end is the count of output bytes up to and including the bracket that
	// closed the first top-level object or array; -1 until then. Tracked
	// only when it starts at -1 (decodeFiltered does that).
	end int64
}

func (s *skipContentBytes) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		w := s.filter(p[:n])
		if w > 0 || err != nil {
			s.out += int64(w)
			return w, err
		}
	}
}

// filter compacts p in place and returns the bytes kept.
func (s *skipContentBytes) filter(p []byte) int {
	w := 0
	for i := 0; i < len(p); i++ {
		if s.inStr && !s.esc && !s.isKey {
			// Inside a value string: jump to the next quote or backslash
			// (base64 has neither, so the echo is one IndexByte), dropping
			// the characters of the echo and keeping any other's.
			rest := p[i:]
			j := bytes.IndexByte(rest, '"')
			if j < 0 {
				j = len(rest)
			}
			if k := bytes.IndexByte(rest[:j], '\\'); k >= 0 {
				j = k
			}
			if !s.skipping {
				w += copy(p[w:], rest[:j])
			} else if s.sink != nil {
				s.sink.write(rest[:j])
			}
			i += j
			if i == len(p) {
				break
			}
		}
		c := p[i]
		keep := true
		if s.inStr {
			switch {
			case s.esc || c == '\\':
				s.esc = !s.esc
				keep = !s.skipping
				if s.skipping && s.sink != nil {
					s.sink.writeByte(c)
				}
			case c == '"':
				s.inStr = false
				if s.isKey {
					s.isKey = false
					s.keyIsCB = !s.keyLong && s.keyLen == len(contentBytesKey) && string(s.key[:]) == contentBytesKey
				}
				if s.skipping && s.sink != nil {
					s.sink.end()
				}
				s.skipping = false
			default:
				if s.skipping {
					keep = false
					if s.sink != nil {
						s.sink.writeByte(c)
					}
				} else if s.isKey {
					if s.keyLen < len(s.key) {
						s.key[s.keyLen] = c
						s.keyLen++
					} else {
						s.keyLong = true
					}
				}
			}
		} else {
			switch c {
			case '"':
				s.inStr = true
				if s.depth == 1 && s.expectKey {
					s.isKey, s.keyLen, s.keyLong, s.expectKey = true, 0, false, false
				} else if s.depth == 1 && s.keyIsCB && s.afterColon {
					s.skipping = true
					if s.sink != nil {
						s.sink.begin(s.out + int64(w))
					}
				}
				s.afterColon = false
			case '{', '[':
				s.depth++
				s.expectKey = s.depth == 1 && c == '{'
				s.afterColon = false
			case '}', ']':
				s.depth--
				if s.depth == 0 && s.end < 0 {
					s.end = s.out + int64(w) + 1
				}
			case ',':
				if s.depth == 1 {
					s.expectKey, s.keyIsCB = true, false
				}
			case ':':
				if s.depth == 1 {
					s.afterColon = true
				}
			}
		}
		if keep {
			p[w] = c
			w++
		}
	}
	return w
}
