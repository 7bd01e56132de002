package store

import (
	"errors"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// errNoOpenat2 says the kernel (before 5.6, or a sandbox that filters the
// call) has no openat2: the portable walk is used instead.
var errNoOpenat2 = errors.New("openat2 unavailable")

// noOpenat2 remembers that openat2 failed once with ENOSYS or EPERM.
var noOpenat2 atomic.Bool

// openat2Beneath resolves rel in one system call, refusing every symbolic
// link and any escape from dirfd.
func openat2Beneath(dirfd int, rel string, flags int, mode uint32) (int, error) {
	if noOpenat2.Load() {
		return -1, errNoOpenat2
	}
	how := &unix.OpenHow{
		Flags:   uint64(flags),
		Mode:    uint64(mode),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	if flags&unix.O_CREAT == 0 && flags&unix.O_TMPFILE != unix.O_TMPFILE {
		how.Mode = 0 // openat2 refuses a mode without O_CREAT or O_TMPFILE
	}
	for {
		fd, err := unix.Openat2(dirfd, rel, how)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue // EAGAIN: a rename raced the lookup
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM) && flags&unix.O_CREAT == 0:
			noOpenat2.Store(true)
			return -1, errNoOpenat2
		}
		return -1, err
	}
}
