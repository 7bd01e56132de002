//go:build bulwarktest

package store

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// Test hooks, compiled only into binaries built with -tags bulwarktest
// (the test harnesses that run the real binary); release builds have the
// constants of hooks_release.go instead.
var (
	// testFlush, from BULWARK_TEST_FLUSH ("file" or "whole"), fixes how
	// every batch flushes whatever the dirty page cache: the crash tests
	// use it to kill real runs in each mode.
	testFlush = os.Getenv("BULWARK_TEST_FLUSH")
	// killAfterLinks, from BULWARK_TEST_KILL_AFTER_LINKS, makes a batch
	// kill its own process after that many files are in place: the crash
	// tests use it to stop a real run at every point of its write phase.
	killAfterLinks, _ = strconv.Atoi(os.Getenv("BULWARK_TEST_KILL_AFTER_LINKS"))
	// failAfterSteps, from BULWARK_TEST_FAIL_AFTER_STEPS, makes a batch
	// fail (EIO) after that many steps of its commit (a file linked,
	// renamed or removed; a mode changed): the rollback tests use it to
	// fail a real run at every point of its write phase.
	failAfterSteps, _ = strconv.Atoi(os.Getenv("BULWARK_TEST_FAIL_AFTER_STEPS"))
)

// HooksCompiled reports whether the test hooks are in this build.
const HooksCompiled = true

func killSelf() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }

// failHook fails the commit's step-th step (on rel).
func failHook(step int, rel string) error {
	if step != failAfterSteps {
		return nil
	}
	return fmt.Errorf("failed to write %s: %w (BULWARK_TEST_FAIL_AFTER_STEPS)", rel, syscall.EIO)
}
