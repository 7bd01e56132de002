package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReleaseHasNoHooks: the binary as built for users ignores the test
// hooks that make a run kill or fail itself (they exist only with
// -tags bulwarktest): with them set, init runs to its end.
func TestReleaseHasNoHooks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	cmd := exec.Command(bin(t), "init", "--dir", dir)
	cmd.Env = append(os.Environ(), "BULWARK_TEST_KILL_AFTER_LINKS=1", "BULWARK_TEST_FAIL_AFTER_STEPS=1", "BULWARK_TEST_FLUSH=whole")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("init with the hooks' variables set: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), " created, ") {
		t.Fatalf("unexpected output:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "pki/ca.key")); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(readStrings(t, bin(t)), "BULWARK_TEST_") {
		t.Error("the release binary holds the hooks' variable names")
	}
}

// readStrings is the binary's content, for a search.
func readStrings(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
