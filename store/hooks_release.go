//go:build !bulwarktest

package store

// Release builds read no test hook from the environment: testFlush is
// empty (the dirty page cache decides) and no batch kills or fails itself.
// Tests of this package may still set testFlush.
var (
	testFlush      = ""
	killAfterLinks = 0
)

// HooksCompiled reports whether the test hooks are in this build.
const HooksCompiled = false

func killSelf() {}

func failHook(int, string) error { return nil }
