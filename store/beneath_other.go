//go:build unix && !linux

package store

import "errors"

var errNoOpenat2 = errors.New("openat2 unavailable")

// openat2Beneath: only Linux has openat2; the portable walk does the work.
func openat2Beneath(int, string, int, uint32) (int, error) { return -1, errNoOpenat2 }
