// Package testutil holds helpers that several packages' tests share. Only
// tests import it.
package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/plan"
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

// Plan is the plan of a configuration document, as seen from a host named
// node-a.
func Plan(t testing.TB, doc string) *plan.Plan {
	t.Helper()
	c, err := config.Parse([]byte(doc), "node-a")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
