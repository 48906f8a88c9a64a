package graphtest

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The lines that open a transcript's request and its response.
const (
	transcriptRequest  = ">>> request"
	transcriptResponse = "<<< response"
)

// transcriptMetaOrder is the order in which the header lines' keys are
// written: testdata/README.md's. Other keys follow, sorted.
var transcriptMetaOrder = []string{"source", "verbatim", "status", "graphtest", "keys", "sdk", "flow", "fix", "sdk-differs", "sdk-refuses", "expect", "note"}

// Transcript is one HTTP exchange in the transcript format of the project's
// testdata/graph/*.http files, which testdata/README.md documents
// ("Format"): "# key: value" header lines, then one request and its
// response as HTTP/1.1 text. A Recorder writes transcripts
// (Recorder.Transcripts, Recorder.WriteDir); ParseTranscript and
// ReadTranscripts are the format's reader, for the documented exchanges and
// recorded runs alike.
type Transcript struct {
	Name string // the file name, e.g. "01-add-file-attachment.http"
	Data []byte // the file's bytes

	// Meta holds the "# key: value" header lines: each key's values, in
	// file order.
	Meta map[string][]string

	Method        string
	URL           string // absolute, as written (against RecordGraphRoot or RecordUploadRoot)
	RequestHeader http.Header
	RequestBody   []byte

	Proto          string // of the status line: "HTTP/1.1", or "HTTP" as the docs print it
	Status         int
	ResponseHeader http.Header
	ResponseBody   []byte
}

// ParseTranscript reads one transcript, named name (its file name), in the
// format testdata/README.md documents. Bodies are kept byte for byte: a
// body is its lines joined with "\n", the newline ending its last line
// being the file's.
func ParseTranscript(name string, data []byte) (*Transcript, error) {
	tr := &Transcript{Name: name, Data: data, Meta: map[string][]string{}, RequestHeader: http.Header{}, ResponseHeader: http.Header{}}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("graphtest: transcript %s: %s", name, fmt.Sprintf(format, args...))
	}
	lines := strings.Split(string(data), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1] // the file's final newline
	}
	i := 0
	for ; i < len(lines) && lines[i] != transcriptRequest; i++ {
		l := lines[i]
		if l == "" {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(l, "# "), ": ")
		if !strings.HasPrefix(l, "# ") || !ok {
			return nil, bad("line %d: want %q before %q, got %q", i+1, "# key: value", transcriptRequest, l)
		}
		tr.Meta[k] = append(tr.Meta[k], v)
	}
	if i == len(lines) {
		return nil, bad("no %q line", transcriptRequest)
	}
	i++
	resp := slices.Index(lines[i:], transcriptResponse)
	if resp < 0 {
		return nil, bad("no %q line", transcriptResponse)
	}
	reqLines, respLines := lines[i:i+resp], lines[i+resp+1:]
	if len(reqLines) == 0 || len(respLines) == 0 {
		return nil, bad("empty request or response")
	}
	f := strings.Fields(reqLines[0])
	if len(f) < 2 || len(f) > 3 {
		return nil, bad("bad request line %q", reqLines[0])
	}
	tr.Method, tr.URL = f[0], f[1]
	var err error
	if tr.RequestBody, err = transcriptHeadersAndBody(reqLines[1:], tr.RequestHeader); err != nil {
		return nil, bad("%v", err)
	}
	// "HTTP 201 Created" (as the seed page prints it) or "HTTP/1.1 201 Created".
	f = strings.Fields(respLines[0])
	if len(f) < 2 || (f[0] != "HTTP" && !strings.HasPrefix(f[0], "HTTP/")) {
		return nil, bad("bad status line %q", respLines[0])
	}
	tr.Proto = f[0]
	if tr.Status, err = strconv.Atoi(f[1]); err != nil {
		return nil, bad("bad status line %q", respLines[0])
	}
	if tr.ResponseBody, err = transcriptHeadersAndBody(respLines[1:], tr.ResponseHeader); err != nil {
		return nil, bad("%v", err)
	}
	return tr, nil
}

// transcriptHeadersAndBody reads header lines up to a blank line, then the
// body: the remaining lines joined with "\n".
func transcriptHeadersAndBody(lines []string, h http.Header) ([]byte, error) {
	for i, l := range lines {
		if l == "" {
			if i+1 == len(lines) {
				return nil, nil
			}
			return []byte(strings.Join(lines[i+1:], "\n")), nil
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("bad header line %q", l)
		}
		h.Add(k, strings.TrimSpace(v))
	}
	return nil, nil
}

// ReadTranscripts reads every *.http file of dir with ParseTranscript, in
// file name order (the order of a recorded run). A directory without
// transcripts gives none and no error.
func ReadTranscripts(dir string) ([]*Transcript, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.http"))
	if err != nil {
		return nil, err
	}
	var out []*Transcript
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return out, err
		}
		tr, err := ParseTranscript(filepath.Base(f), data)
		if err != nil {
			return out, fmt.Errorf("%w (in %s)", err, dir)
		}
		out = append(out, tr)
	}
	return out, nil
}

// Get is the first value of the header line key ("# key: value"), or "".
func (tr *Transcript) Get(key string) string {
	if v := tr.Meta[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// OnUploadHost says whether the request goes to the upload host
// (RecordUploadRoot) rather than to Graph.
func (tr *Transcript) OnUploadHost() bool { return strings.HasPrefix(tr.URL, RecordUploadRoot) }

// Flow is the "# flow:" line: the transcripts one SDK call goes through, in
// order; just this one's Name without the line.
func (tr *Transcript) Flow() []string {
	if f := strings.Fields(tr.Get("flow")); len(f) > 0 {
		return f
	}
	return []string{tr.Name}
}

// SDK reads the "# sdk: Operation key=value ..." line: the SDK call that
// sends this request and its arguments.
func (tr *Transcript) SDK() (op string, args map[string]string) { return tr.fields("sdk") }

// Expect reads the "# expect:" line: "nil", "attachment" or "error" and its
// key=value arguments (id, status, code, is, retry-after).
func (tr *Transcript) Expect() (kind string, args map[string]string) { return tr.fields("expect") }

func (tr *Transcript) fields(key string) (string, map[string]string) {
	f := strings.Fields(tr.Get(key))
	args := map[string]string{}
	if len(f) == 0 {
		return "", args
	}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		args[k] = v
	}
	return f[0], args
}

// FixedRequestBody is the request body with the "# fix:" corrections of
// doc typos applied (each `"old" => "new"`, both Go-quoted strings). A fix
// line that does not parse, or whose old text the body lacks, is an error.
func (tr *Transcript) FixedRequestBody() ([]byte, error) {
	b := tr.RequestBody
	for _, fix := range tr.Meta["fix"] {
		old, nw, ok := strings.Cut(fix, " => ")
		o, err1 := strconv.Unquote(strings.TrimSpace(old))
		n, err2 := strconv.Unquote(strings.TrimSpace(nw))
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("graphtest: transcript %s: bad fix line %q", tr.Name, fix)
		}
		if !bytes.Contains(b, []byte(o)) {
			return nil, fmt.Errorf("graphtest: transcript %s: fix %q: the request body does not contain it", tr.Name, fix)
		}
		b = bytes.ReplaceAll(b, []byte(o), []byte(n))
	}
	return b, nil
}

// GeneratedContent is the file the transcripts' placeholders stand for:
// n bytes, byte i being i mod 251. A "# sdk:" line's contentSize=N and a
// body's "<base64 of N bytes>" mean its first N bytes (testdata/README.md),
// and a Recorder writes a long contentBytes holding it as that placeholder,
// so uploads of it are recorded compactly and can be replayed.
func GeneratedContent(n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = generatedByte(i)
	}
	return b
}

func generatedByte(i int) byte { return byte(i % 251) }

// encode writes tr in the format (the Recorder's writer): header lines in
// testdata/README.md's order, headers sorted by name.
func (tr *Transcript) encode() []byte {
	var b bytes.Buffer
	keys := slices.Clone(transcriptMetaOrder)
	var other []string
	for k := range tr.Meta {
		if !slices.Contains(transcriptMetaOrder, k) {
			other = append(other, k)
		}
	}
	slices.Sort(other)
	for _, k := range append(keys, other...) {
		for _, v := range tr.Meta[k] {
			fmt.Fprintf(&b, "# %s: %s\n", k, v)
		}
	}
	fmt.Fprintf(&b, "\n%s\n%s %s\n", transcriptRequest, tr.Method, tr.URL)
	writeHeader(&b, tr.RequestHeader)
	b.WriteString("\n")
	if len(tr.RequestBody) > 0 {
		b.Write(tr.RequestBody)
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%s\n%s %d %s\n", transcriptResponse, tr.Proto, tr.Status, http.StatusText(tr.Status))
	writeHeader(&b, tr.ResponseHeader)
	if len(tr.ResponseBody) > 0 {
		b.WriteString("\n")
		b.Write(tr.ResponseBody)
		b.WriteString("\n")
	}
	return b.Bytes()
}

// writeHeader writes headers sorted by name.
func writeHeader(b *bytes.Buffer, h http.Header) {
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			fmt.Fprintf(b, "%s: %s\n", k, v)
		}
	}
}
