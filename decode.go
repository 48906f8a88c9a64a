package eventattach

import (
	"encoding/json"
	"fmt"
	"io"
)

// Graph echoes a file's contentBytes in the 201 of AddFile: up to 4 MB of
// base64 the caller already has. Decoding it would allocate the string and
// the bytes again, so the answer is filtered as it streams in: the value of
// the top-level "contentBytes" becomes "" and the rest (a few hundred bytes)
// is decoded as usual.

// decodeCreatedFile reads the 201 of AddFile into out (without content).
func decodeCreatedFile(r io.Reader, out *FileAttachment) error {
	if err := json.NewDecoder(&skipContentBytes{r: r}).Decode(out); err != nil {
		return fmt.Errorf("eventattach: decoding the created file attachment: %w", err)
	}
	if out.ID == "" {
		return fmt.Errorf("eventattach: the created file attachment has no id")
	}
	return nil
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
	skipping   bool // inside the contentBytes value
}

func (s *skipContentBytes) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		w := s.filter(p[:n])
		if w > 0 || err != nil {
			return w, err
		}
	}
}

// filter compacts p in place and returns the bytes kept.
func (s *skipContentBytes) filter(p []byte) int {
	w := 0
	for _, c := range p {
		keep := true
		if s.inStr {
			switch {
			case s.esc:
				s.esc = false
				keep = !s.skipping
			case c == '\\':
				s.esc = true
				keep = !s.skipping
			case c == '"':
				s.inStr = false
				if s.isKey {
					s.isKey = false
					s.keyIsCB = !s.keyLong && s.keyLen == len(contentBytesKey) && string(s.key[:]) == contentBytesKey
				}
				s.skipping = false
			default:
				if s.skipping {
					keep = false
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
				}
				s.afterColon = false
			case '{', '[':
				s.depth++
				s.expectKey = s.depth == 1 && c == '{'
				s.afterColon = false
			case '}', ']':
				s.depth--
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
