package main

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
)

// open returns a task's content: its file, or size bytes made up from its
// name. The SDK needs an io.ReadSeeker for a keyed upload, to hash the
// content (the key's record holds the hash) and then send it.
func open(t task) (io.ReadSeeker, int64, func(), error) {
	if t.File == "" || t.Size > 0 {
		return bytes.NewReader(synthesise(t.Name, t.Size)), t.Size, func() {}, nil
	}
	f, err := os.Open(t.File)
	if err != nil {
		return nil, 0, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	return f, st.Size(), func() { f.Close() }, nil
}

// synthesise makes size bytes of text that depend on name only, so any
// worker (and a test) makes the same bytes for a task.
func synthesise(name string, size int64) []byte {
	var b bytes.Buffer
	b.Grow(int(size) + 64)
	for i := 0; int64(b.Len()) < size; i++ {
		fmt.Fprintf(&b, "%s line %d\n", name, i)
	}
	return b.Bytes()[:size]
}

func contentType(name string) string {
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}
