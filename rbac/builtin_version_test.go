package rbac

import "testing"

// TestKubernetesVersion: the version read from the file's head is the one
// the full decode finds.
func TestKubernetesVersion(t *testing.T) {
	if got, want := KubernetesVersion(), builtin().KubernetesVersion; got != want || got == "" {
		t.Fatalf("KubernetesVersion() = %q, the decoded policy says %q", got, want)
	}
}
