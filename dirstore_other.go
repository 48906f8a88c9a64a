//go:build !unix

package eventattach

import (
	"errors"
	"os"
)

const flockSupported = false

func flock(*os.File) error { return errors.New("eventattach: no flock on this system") }

func funlock(*os.File) {}
