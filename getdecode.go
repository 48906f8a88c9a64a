package eventattach

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// A whole attachment (Get, and the Duplicate check's fallback) is decoded as
// it streams in: the answer goes through skipContentBytes, which keeps the
// metadata (unmarshalled as before, by unmarshalAttachment) and hands the
// characters of the top-level contentBytes string to a contentSink, which
// decodes the base64 into the final []byte as it arrives. The encoded copy
// is never held: a 150 MiB file costs about 150 MiB, not the 200 MB answer
// and its copies.
//
// The bytes go into one allocation when their size is known: 3/4 of the
// answer's Content-Length (base64 is 4 characters for 3 bytes), or else the
// attachment's size when it comes before contentBytes (as in Graph's
// answers; Graph's size is a few percent over the file's, GRAPH-FACTS.md
// add-6, so it serves as a capacity only). That buffer is allocated once the
// content has passed sinkProbe, so a short answer claiming a large size
// costs little. Without either, the bytes grow in chunks joined at the end,
// which peaks near twice the file.

// sinkProbe is the decoded bytes after which the known size is allocated
// whole (before: small chunks, copied into it then).
const sinkProbe = 256 << 10

// sinkChunk bounds the chunks of content of unknown size.
const sinkChunk = 16 << 20

// decodeAttachmentAnswer reads the answer of GET {route}/attachments/{id}
// (up to limit bytes) into its concrete type, decoding contentBytes as it
// arrives.
func decodeAttachmentAnswer(resp *http.Response, limit int64) (Attachment, error) {
	sink := &contentSink{maxLen: limit/4*3 + 3}
	if n := resp.ContentLength; n > 0 && n <= limit {
		sink.known = n/4*3 + 3
	}
	var out Attachment
	err := filterAnswer(newBoundedAnswerOf(resp, limit), limit, sink, func(b []byte) error {
		a, err := unmarshalAttachment(b)
		out = a
		return err
	})
	if err != nil {
		return nil, err
	}
	// The kept JSON says "contentBytes":"" for a string (now []byte{}) and
	// null for null (nil); as with encoding/json, the last one counts.
	if f, ok := out.(*FileAttachment); ok && f.ContentBytes != nil {
		b, err := sink.bytes()
		if err != nil {
			return nil, err
		}
		f.ContentBytes = b
	}
	return out, nil
}

// contentSink decodes the raw characters of a JSON string holding base64
// (escapes included, quotes not) into bytes. Syntax errors in the string
// are reported by filterAnswer; a base64 error only by bytes, since an
// attachment other than a file ignores its contentBytes.
type contentSink struct {
	maxLen int64 // the most bytes the answer's bound lets in, plus slack
	known  int64 // the bytes expected from the Content-Length; 0: unknown
	// prefix returns the kept JSON before the current value (set by
	// filterAnswer), to read the attachment's size from.
	prefix func(n int64) []byte

	hint    int64    // capacity to allocate once past sinkProbe; 0: none
	chunks  [][]byte // full buffers, in order
	cur     []byte   // the buffer being filled, up to its capacity
	total   int64    // bytes in chunks and cur
	pend    [4]byte  // a quantum not yet complete
	np      int
	padded  bool  // a quantum with '=' was decoded: nothing may follow
	chars   int64 // base64 characters taken, for error offsets
	esc     int   // 0; 1 after '\'; 2 to 5 in the hex digits of \uXXXX
	r       rune  // the \uXXXX so far
	b64Err  error // the value is not base64
	synErr  error // the value is not a valid JSON string
	started bool
}

// begin starts a new contentBytes value; keptLen is the length of the kept
// JSON before it. As encoding/json does, a later value replaces an earlier.
func (s *contentSink) begin(keptLen int64) {
	*s = contentSink{maxLen: s.maxLen, known: s.known, prefix: s.prefix, synErr: s.synErr, started: true}
	s.hint = s.known
	if s.hint == 0 && s.prefix != nil {
		s.hint = sizeBefore(s.prefix(keptLen))
	}
	s.hint = min(s.hint, s.maxLen)
}

// sizeBefore reads the attachment's size from the JSON kept before its
// contentBytes value ("{...,"contentBytes":"); 0 when there is none.
func sizeBefore(kept []byte) int64 {
	var probe struct {
		Size int64 `json:"size"`
	}
	b := make([]byte, 0, len(kept)+3)
	b = append(append(b, kept...), `""}`...)
	if json.Unmarshal(b, &probe) != nil || probe.Size < 0 {
		return 0
	}
	return probe.Size + 3 // room for a last quantum's 3 bytes
}

// write takes raw characters of the string (no closing quote).
func (s *contentSink) write(p []byte) {
	for len(p) > 0 {
		if s.esc != 0 {
			s.escByte(p[0])
			p = p[1:]
			continue
		}
		i := 0
		for i < len(p) && p[i] != '\\' && p[i] >= 0x20 {
			i++
		}
		s.plain(p[:i])
		if i == len(p) {
			return
		}
		if p[i] == '\\' {
			s.esc = 1
		} else if s.synErr == nil {
			s.synErr = fmt.Errorf("invalid character %q in string literal", p[i])
		}
		p = p[i+1:]
	}
}

// writeByte takes one raw character.
func (s *contentSink) writeByte(c byte) {
	b := [1]byte{c}
	s.write(b[:])
}

// escByte goes on with an escape sequence.
func (s *contentSink) escByte(c byte) {
	if s.esc >= 2 {
		v := unhex(c)
		if v < 0 {
			s.escErr(c)
			return
		}
		s.r = s.r<<4 | rune(v)
		if s.esc++; s.esc == 6 {
			s.esc = 0
			if s.r >= 0x80 {
				s.badBase64() // a non-ASCII character: not base64
				return
			}
			s.char(byte(s.r))
		}
		return
	}
	s.esc = 0
	switch c {
	case '"', '\\', '/':
		s.char(c)
	case 'b':
		s.char('\b')
	case 'f':
		s.char('\f')
	case 'n':
		s.char('\n')
	case 'r':
		s.char('\r')
	case 't':
		s.char('\t')
	case 'u':
		s.esc, s.r = 2, 0
	default:
		s.escErr(c)
	}
}

func (s *contentSink) escErr(c byte) {
	s.esc = 0
	if s.synErr == nil {
		s.synErr = fmt.Errorf("invalid character %q in string escape code", c)
	}
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// char takes one unescaped character. Like encoding/base64, it skips '\r'
// and '\n' (which JSON can carry only escaped).
func (s *contentSink) char(c byte) {
	if c == '\r' || c == '\n' {
		return
	}
	b := [1]byte{c}
	s.plain(b[:])
}

// plain takes unescaped base64 characters (no '\r' or '\n').
func (s *contentSink) plain(p []byte) {
	if s.b64Err != nil || len(p) == 0 {
		return
	}
	for s.np > 0 && len(p) > 0 {
		s.pend[s.np] = p[0]
		s.np++
		p = p[1:]
		if s.np == 4 {
			s.np = 0
			s.decode(s.pend[:])
		}
	}
	if len(p) == 0 {
		return
	}
	whole := len(p) / 4 * 4
	s.decode(p[:whole])
	s.np = copy(s.pend[:], p[whole:])
}

// decode decodes whole quanta into the buffers.
func (s *contentSink) decode(q []byte) {
	for len(q) > 0 && s.b64Err == nil {
		if s.padded {
			s.b64Err = base64.CorruptInputError(s.chars)
			return
		}
		if cap(s.cur)-len(s.cur) < 3 {
			s.grow()
		}
		room := cap(s.cur) - len(s.cur)
		src := q[:min(len(q), room/3*4)]
		n, err := base64.StdEncoding.Decode(s.cur[len(s.cur):cap(s.cur)], src)
		if err != nil {
			var ce base64.CorruptInputError
			if errors.As(err, &ce) {
				err = base64.CorruptInputError(s.chars + int64(ce))
			}
			s.b64Err = err
			s.chunks, s.cur = nil, nil
			return
		}
		s.cur = s.cur[:len(s.cur)+n]
		s.total += int64(n)
		s.chars += int64(len(src))
		s.padded = src[len(src)-1] == '='
		q = q[len(src):]
	}
}

// badBase64 fails the value at the character being taken.
func (s *contentSink) badBase64() {
	if s.b64Err == nil {
		s.b64Err = base64.CorruptInputError(s.chars + int64(s.np))
		s.chunks, s.cur = nil, nil
	}
}

// grow makes room for at least one more quantum.
func (s *contentSink) grow() {
	if s.hint > s.total+3 && (s.hint <= sinkProbe || s.total >= sinkProbe) {
		// The expected size, allocated once; what came before is copied in.
		b := make([]byte, 0, s.hint)
		for _, c := range s.chunks {
			b = append(b, c...)
		}
		s.cur, s.chunks, s.hint = append(b, s.cur...), nil, 0
		return
	}
	if cap(s.cur) > 0 {
		s.chunks = append(s.chunks, s.cur)
	}
	size := min(max(s.total, 32<<10), sinkChunk)
	if s.hint > 0 {
		size = min(size, sinkProbe) // until the probe's size is reached
	}
	s.cur = make([]byte, 0, size)
}

// end closes the value: what is left must be whole quanta.
func (s *contentSink) end() {
	if s.esc != 0 && s.synErr == nil {
		s.synErr = errors.New("unexpected end of string escape")
	}
	if s.np > 0 && s.b64Err == nil {
		s.b64Err = base64.CorruptInputError(s.chars)
	}
}

// bytes returns the decoded content of the last contentBytes string.
func (s *contentSink) bytes() ([]byte, error) {
	if s.b64Err != nil {
		return nil, s.b64Err
	}
	if !s.started {
		return []byte{}, nil
	}
	if len(s.chunks) == 0 {
		if s.cur == nil {
			return []byte{}, nil
		}
		return s.cur[:len(s.cur):len(s.cur)], nil
	}
	b := make([]byte, 0, s.total)
	for _, c := range s.chunks {
		b = append(b, c...)
	}
	b = append(b, s.cur...)
	s.chunks, s.cur = nil, nil
	return b, nil
}
