package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// SameFile reports whether two files of the folder are one inode (hard
// links to each other). A missing file is not an error: false.
func (d *Dir) SameFile(a, b string) (bool, error) {
	fa, err := os.Lstat(d.Path(a))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("failed to read %s: %w", a, unwrapPath(err))
	}
	fb, err := os.Lstat(d.Path(b))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("failed to read %s: %w", b, unwrapPath(err))
	}
	return os.SameFile(fa, fb), nil
}
