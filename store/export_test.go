package store

import "time"

// SetLockPause replaces the wait between Lock's attempts and returns the
// function that puts it back.
func SetLockPause(f func(time.Duration)) (restore func()) {
	old := lockPause
	lockPause = f
	return func() { lockPause = old }
}
