package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/bulwark-k8s/bulwark/layout"
)

// ErrLocked is returned when another bulwark run holds the folder's lock
// for longer than the caller is willing to wait.
var ErrLocked = errors.New("another bulwark run holds the lock")

// Lock takes the folder's exclusive lock, waiting up to timeout, and
// returns the function that releases it. The lock is an flock on a file of
// the folder, so a killed run releases it with its process.
func (d *Dir) Lock(timeout time.Duration) (func(), error) {
	f, err := os.OpenFile(d.Path(layout.LockFile), os.O_CREATE|os.O_RDWR, layout.SecretMode)
	if err != nil {
		return nil, fmt.Errorf("failed to open lock %s: %w", d.Path(layout.LockFile), unwrapPath(err))
	}
	deadline := time.Now().Add(timeout)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("failed to lock %s: %w", d.root, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%s: %w (waited %s)", d.root, ErrLocked, timeout)
		}
		lockPause(lockRetry)
	}
}

// lockRetry is how often Lock tries again while another run holds the
// lock; lockPause waits that long (tests replace it to see Lock waiting).
const lockRetry = 20 * time.Millisecond

var lockPause = time.Sleep
