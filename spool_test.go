package eventattach

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/eventattach/eventattach/graphtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// spoolStream yields n deterministic bytes and hides its length: no Size, no
// Len, no Seek, no WriteTo.
type spoolStream struct {
	r    io.Reader
	read int64 // bytes handed out so far
}

func newSpoolStream(n int64) *spoolStream {
	return &spoolStream{r: io.LimitReader(rand.NewChaCha8([32]byte{'s', 'p', 'o', 'o', 'l'}), n)}
}

func (s *spoolStream) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.read += int64(n)
	return n, err
}

// spoolBytes returns the n bytes a newSpoolStream(n) yields.
func spoolBytes(t *testing.T, n int64) []byte {
	t.Helper()
	b, err := io.ReadAll(newSpoolStream(n))
	require.NoError(t, err)
	return b
}

// failingStream yields n bytes and then err.
type failingStream struct {
	n   int64
	err error
}

func (f *failingStream) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(int64(len(p)), f.n)
	clear(p[:k])
	f.n -= k
	return int(k), nil
}

// assertNoSpoolFiles checks that dir holds no temporary file.
func assertNoSpoolFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "temporary files left in %s", dir)
}

func TestSpoolKeepsExactContent(t *testing.T) {
	t.Parallel()
	for _, size := range []int64{0, 1, 4096, MaxAddFileSize - 1, MaxAddFileSize, MaxAddFileSize + 1, 5 << 20} {
		t.Run(strconv.FormatInt(size, 10), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src := newSpoolStream(size)
			s, err := Spool(src, dir)
			require.NoError(t, err)
			assert.Equal(t, size, s.Size())
			assert.Equal(t, size, src.read, "read more than the content")
			assert.Equal(t, size >= MaxAddFileSize, s.file != nil, "on disk from MaxAddFileSize on, in memory under it")
			if runtime.GOOS != "windows" {
				assertNoSpoolFiles(t, dir) // unlinked while open
			}

			got, err := io.ReadAll(s)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(spoolBytes(t, size), got), "content differs")

			// Seek rewinds, e.g. to upload again.
			pos, err := s.Seek(0, io.SeekStart)
			require.NoError(t, err)
			assert.Zero(t, pos)
			again, err := io.ReadAll(s)
			require.NoError(t, err)
			assert.Len(t, again, int(size))

			require.NoError(t, s.Close())
			require.NoError(t, s.Close(), "a second Close")
			_, err = s.Read(make([]byte, 1))
			assert.ErrorIs(t, err, os.ErrClosed)
			_, err = s.Seek(0, io.SeekStart)
			assert.ErrorIs(t, err, os.ErrClosed)
			assertNoSpoolFiles(t, dir)
		})
	}
}

func TestSpoolTakesMaxUploadSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := &failingStream{n: MaxUploadSize, err: io.EOF}
	s, err := Spool(src, dir)
	require.NoError(t, err)
	assert.Equal(t, int64(MaxUploadSize), s.Size())
	n, err := io.Copy(io.Discard, s)
	require.NoError(t, err)
	assert.Equal(t, int64(MaxUploadSize), n)
	require.NoError(t, s.Close())
	assertNoSpoolFiles(t, dir)
}

func TestSpoolRefusesMoreThanMaxUploadSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// An endless stream: Spool must stop one byte past the limit.
	src := &spoolStream{r: rand.NewChaCha8([32]byte{})}
	s, err := Spool(src, dir)
	assert.Nil(t, s)
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), "more than 157286400 bytes (150 MiB)")
	assert.Equal(t, int64(MaxUploadSize+1), src.read, "bytes read from the stream (and so written to disk)")
	assertNoSpoolFiles(t, dir)
}

func TestSpoolPassesReadErrorsOn(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset by peer")
	for _, n := range []int64{0, 10, MaxAddFileSize - 1, MaxAddFileSize, MaxAddFileSize + 100} {
		t.Run(strconv.FormatInt(n, 10), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s, err := Spool(&failingStream{n: n, err: boom}, dir)
			assert.Nil(t, s)
			require.ErrorIs(t, err, boom)
			assert.Contains(t, err.Error(), "at byte "+strconv.FormatInt(n, 10))
			assertNoSpoolFiles(t, dir)
		})
	}
}

func TestSpoolTemporaryFileErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing")

	// Under MaxAddFileSize nothing goes to disk, so dir is not used.
	s, err := Spool(newSpoolStream(100), missing)
	require.NoError(t, err)
	assert.Equal(t, int64(100), s.Size())
	require.NoError(t, s.Close())

	s, err = Spool(newSpoolStream(MaxAddFileSize), missing)
	assert.Nil(t, s)
	assert.ErrorIs(t, err, fs.ErrNotExist)

	_, err = Spool(nil, "")
	assert.ErrorIs(t, err, ErrInvalidInput)
}

func TestSpoolThenUpload(t *testing.T) {
	t.Parallel()
	srv := graphtest.NewServer(nil)
	t.Cleanup(srv.Close)
	srv.Me().AddEvent("e1")
	c, err := NewClient(srv.Credential(), &ClientOptions{BaseURL: srv.URL()})
	require.NoError(t, err)
	atts := c.Me().Events("e1").Attachments()

	// One under MaxAddFileSize (one POST), one over it (an upload session).
	sizes := []int64{1000, 5 << 20}
	for i, size := range sizes {
		s, err := Spool(newSpoolStream(size), t.TempDir())
		require.NoError(t, err)
		name := "stream-" + strconv.Itoa(i) + ".bin"
		att, err := atts.Upload(context.Background(), FileUpload{Name: name, Content: s, Size: s.Size()})
		require.NoError(t, err)
		assert.Equal(t, name, att.Name)
		require.NoError(t, s.Close())
	}
	stored := srv.Attachments("me", "e1")
	require.Len(t, stored, len(sizes))
	for i, size := range sizes {
		assert.True(t, bytes.Equal(spoolBytes(t, size), stored[i].Content), "stored content of %d bytes differs", size)
	}
}
