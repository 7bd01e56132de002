package store

import (
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// openAnon makes an unnamed file (O_TMPFILE) in the root, or returns nil
// where the file system has none.
func openAnon(root int, mode fs.FileMode) *os.File {
	fd, err := unix.Openat(root, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(mode))
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), "unnamed")
}

// linkAnon gives an unnamed file its name. linkat with AT_EMPTY_PATH needs
// a capability; through /proc/self/fd it needs none.
func linkAnon(f *os.File, dirfd int, name string) error {
	return unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", f.Fd()), dirfd, name, unix.AT_SYMLINK_FOLLOW)
}

// canSyncfs: Linux flushes one file system with syncfs.
const canSyncfs = true

func syncFS(fd int) error { return unix.Syncfs(fd) }

// quiet reports whether the machine's dirty page cache is under
// QuietDirtyBytes. Unreadable means no.
func quiet() bool {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "Dirty:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 {
				return false
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return err == nil && f[1] == "kB" && kb*1024 < QuietDirtyBytes
		}
	}
	return false
}
