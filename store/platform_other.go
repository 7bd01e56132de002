//go:build unix && !linux

package store

import (
	"errors"
	"io/fs"
	"os"
)

// openAnon: unnamed files are Linux's; elsewhere every file is written
// under a temporary name beside its final one.
func openAnon(int, fs.FileMode) *os.File { return nil }

func linkAnon(*os.File, int, string) error { return errors.ErrUnsupported }

// canSyncfs: without syncfs every file is flushed on its own.
const canSyncfs = false

func syncFS(int) error { return errors.ErrUnsupported }

// quiet: without /proc/meminfo there is no dirty-cache figure.
func quiet() bool { return false }
