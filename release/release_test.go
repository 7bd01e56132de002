package release_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/rbac"
	"github.com/bulwark-k8s/bulwark/release"
)

// requireOf reads the version a go.mod requires a module at.
func requireOf(t *testing.T, gomod, module string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(gomod)))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(module) + `\s+(v\S+)`)
	m := re.FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s does not require %s", gomod, module)
	}
	return string(m[1])
}

// TestEveryPlaceNamesTheSameRelease ties every place that names the
// Kubernetes or etcd release to this package: the library's own k8s.io
// modules, the real components the tests build and run, the upstream
// authorizer the RBAC engine is compared with, and the embedded built-in
// RBAC policy.
func TestEveryPlaceNamesTheSameRelease(t *testing.T) {
	staging := "v0" + strings.TrimPrefix(release.Kubernetes, "v1") // v1.36.3 -> v0.36.3
	for _, c := range []struct{ gomod, module, want string }{
		{"go.mod", "k8s.io/api", staging},
		{"go.mod", "k8s.io/apimachinery", staging},
		{"go.mod", "k8s.io/apiserver", staging},
		{"go.mod", "k8s.io/client-go", staging},
		{"go.mod", "k8s.io/cluster-bootstrap", staging},
		{"go.mod", "k8s.io/kubelet", staging},
		{"tools/kube/go.mod", "k8s.io/kubernetes", release.Kubernetes},
		{"tools/rbac/go.mod", "k8s.io/kubernetes", release.Kubernetes},
		{"tools/etcd/go.mod", "go.etcd.io/etcd/server/v3", "v" + release.Etcd},
	} {
		if got := requireOf(t, c.gomod, c.module); got != c.want {
			t.Errorf("%s requires %s %s, release says %s", c.gomod, c.module, got, c.want)
		}
	}
	if got := rbac.KubernetesVersion(); got != release.Kubernetes {
		t.Errorf("the embedded built-in RBAC policy is of %s, release says %s (go generate ./rbac)", got, release.Kubernetes)
	}
}

func TestMinor(t *testing.T) {
	if got := release.KubernetesMinor(); !strings.HasPrefix(strings.TrimPrefix(release.Kubernetes, "v"), got+".") {
		t.Errorf("KubernetesMinor() = %q for %s", got, release.Kubernetes)
	}
	if got := release.EtcdMinor(); !strings.HasPrefix(release.Etcd, got+".") {
		t.Errorf("EtcdMinor() = %q for %s", got, release.Etcd)
	}
}
