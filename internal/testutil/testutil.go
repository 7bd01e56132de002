// Package testutil holds helpers that several packages' tests share. Only
// tests import it.
package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot is the repository's root folder: the one whose go.mod declares
// bulwark's module.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(data, []byte("module github.com/bulwark-k8s/bulwark\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root not found")
		}
		dir = parent
	}
}
