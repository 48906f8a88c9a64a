package eventattach

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// SpooledFile is content of a length that was not known in advance, read to
// its end by Spool and held until Close: in memory when it is under
// MaxAddFileSize, otherwise in a temporary file. Its Size is exact, so it can be
// passed to Upload as both FileUpload.Content and FileUpload.Size. It reads
// from the start once Spool returns; Seek rewinds it, e.g. to upload it again
// after a failed Upload.
//
// A SpooledFile is not safe for concurrent reads; Close may be called from
// any goroutine.
type SpooledFile struct {
	rs     io.ReadSeeker // *bytes.Reader or *os.File
	size   int64
	file   *os.File // nil when the content is in memory
	path   string   // the temporary file, "" once removed (or never created)
	closed atomic.Bool
}

// Spool reads r to its end and keeps what it read, so that content whose
// length is unknown (an HTTP request body, a pipe, a decompressor) can be
// uploaded: Upload needs the exact Size before it sends anything, because
// Graph's createUploadSession takes the size first. Content of a known
// length (a file, a byte slice) needs no spooling.
//
// Content under MaxAddFileSize stays in memory. Larger content goes to a
// temporary file created in dir ("" means os.TempDir) and named
// eventattach-*; where the operating system allows it, the file is unlinked
// as soon as it is created, so no name is left behind even if the process
// dies, and its disk space is freed on Close.
//
// Spool reads at most MaxUploadSize+1 bytes from r. Content of more than
// MaxUploadSize (150 MiB) bytes is ErrTooLarge, since no upload session would
// take it: Spool stops reading after the byte that went over, removes the
// temporary file and returns the error, so at most MaxUploadSize+1 bytes
// reach the disk. An error reading r, or creating or writing the temporary
// file, is returned wrapped (errors.Is finds it), and the temporary file is
// removed as well. On success the caller must Close the SpooledFile.
func Spool(r io.Reader, dir string) (*SpooledFile, error) {
	if r == nil {
		return nil, invalidInput("spool: the reader is nil")
	}
	// Under MaxAddFileSize, memory: Upload would POST the content whole anyway.
	head, err := io.ReadAll(io.LimitReader(r, MaxAddFileSize))
	if err != nil {
		return nil, fmt.Errorf("eventattach: spooling content at byte %d: %w", len(head), err)
	}
	if len(head) < MaxAddFileSize {
		return &SpooledFile{rs: bytes.NewReader(head), size: int64(len(head))}, nil
	}

	f, err := os.CreateTemp(dir, "eventattach-*")
	if err != nil {
		return nil, fmt.Errorf("eventattach: spooling content: %w", err)
	}
	s := &SpooledFile{rs: f, file: f, path: f.Name()}
	if os.Remove(s.path) == nil {
		// Unlinked while open (not possible on Windows): the data lives
		// until the file is closed, and nothing is left behind on a crash.
		s.path = ""
	}
	fail := func(err error) (*SpooledFile, error) {
		s.Close()
		return nil, err
	}
	if _, err := f.Write(head); err != nil {
		return fail(fmt.Errorf("eventattach: spooling content: %w", err))
	}
	// One byte past the limit tells content over it from content at it.
	rest := &spoolReadCounter{r: io.LimitReader(r, MaxUploadSize+1-int64(len(head)))}
	n, err := io.Copy(f, rest)
	s.size = int64(len(head)) + n
	switch {
	case err != nil && rest.err != nil:
		return fail(fmt.Errorf("eventattach: spooling content at byte %d: %w", int64(len(head))+rest.n, err))
	case err != nil:
		return fail(fmt.Errorf("eventattach: spooling content: %w", err))
	case s.size > MaxUploadSize:
		return fail(fmt.Errorf("%w: the content is more than %d bytes (%s), the most an upload session takes",
			ErrTooLarge, int64(MaxUploadSize), byteSize(MaxUploadSize)))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(fmt.Errorf("eventattach: spooling content: %w", err))
	}
	return s, nil
}

// Size returns the exact length of the spooled content, which Upload takes as
// FileUpload.Size.
func (s *SpooledFile) Size() int64 { return s.size }

// Read reads the spooled content; after Close it returns os.ErrClosed.
func (s *SpooledFile) Read(p []byte) (int, error) {
	if s.closed.Load() {
		return 0, os.ErrClosed
	}
	return s.rs.Read(p)
}

// Seek sets the offset of the next Read, like io.Seeker; Seek(0,
// io.SeekStart) rewinds the content.
func (s *SpooledFile) Seek(offset int64, whence int) (int64, error) {
	if s.closed.Load() {
		return 0, os.ErrClosed
	}
	return s.rs.Seek(offset, whence)
}

// Close releases the content: it closes and removes the temporary file, if
// there is one. Calls after the first return nil.
func (s *SpooledFile) Close() error {
	if s.closed.Swap(true) || s.file == nil {
		return nil
	}
	err := s.file.Close()
	if s.path != "" {
		if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// spoolReadCounter counts the bytes read from r and keeps r's error, so that
// Spool can tell a failed read from a failed write.
type spoolReadCounter struct {
	r   io.Reader
	n   int64
	err error
}

func (c *spoolReadCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}
