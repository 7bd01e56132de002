package store

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned when another bulwark run holds the folder's lock
// for longer than the caller is willing to wait.
var ErrLocked = errors.New("another bulwark run holds the lock")

// Lock takes the folder's exclusive lock, waiting up to timeout, and
// returns the function that releases it. The lock is an flock on the
// folder itself (no lock file: nothing to leave behind, nothing a symbolic
// link could redirect), so a killed run releases it with its process. A
// folder replaced or removed while waiting is found and its new self
// locked, or the removal reported.
func (d *Dir) Lock(timeout time.Duration) (func(), error) {
	deadline := time.Now().Add(timeout)
	for {
		fd, err := unix.Open(d.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("failed to lock %s: %w", d.root, err)
		}
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			if !d.sameFolder(fd) {
				unix.Close(fd)
				continue
			}
			return func() {
				_ = unix.Flock(fd, unix.LOCK_UN)
				unix.Close(fd)
			}, nil
		}
		unix.Close(fd)
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return nil, fmt.Errorf("failed to lock %s: %w", d.root, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: %w (waited %s)", d.root, ErrLocked, timeout)
		}
		lockPause(lockRetry)
	}
}

// sameFolder reports whether the locked descriptor is still the folder
// its path names, and the one the Dir works in (its root descriptor is
// reopened if it was not).
func (d *Dir) sameFolder(fd int) bool {
	var locked, now unix.Stat_t
	if unix.Fstat(fd, &locked) != nil || unix.Stat(d.root, &now) != nil {
		return false
	}
	if locked.Dev != now.Dev || locked.Ino != now.Ino {
		return false
	}
	if rfd, err := d.fd(); err == nil {
		var mine unix.Stat_t
		if unix.Fstat(rfd, &mine) == nil && (mine.Dev != locked.Dev || mine.Ino != locked.Ino) {
			_ = d.Close()
		}
	}
	return true
}

// lockRetry is how often Lock tries again while another run holds the
// lock; lockPause waits that long (tests replace it to see Lock waiting).
const lockRetry = 20 * time.Millisecond

var lockPause = time.Sleep
