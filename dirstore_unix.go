//go:build unix

package eventattach

import (
	"os"
	"syscall"
)

const flockSupported = true

// flock takes f's exclusive lock, waiting for it: holders keep it only for
// a read-modify-write of a few small files.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func funlock(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
