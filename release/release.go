// Package release names the releases bulwark is built and tested against:
// the Kubernetes and etcd versions of the rendered images, of the built-in
// defaults the audit assumes, of the embedded RBAC policy, and of the real
// components the tests run (tools/*/go.mod). A test ties every one of those
// places to the constants here.
package release

import "strings"

// Versions.
const (
	// Kubernetes is the Kubernetes release, as its images are tagged.
	Kubernetes = "v1.36.3"
	// Etcd is the etcd release.
	Etcd = "3.6.16"
	// EtcdImageTag tags etcd's image on registry.k8s.io.
	EtcdImageTag = Etcd + "-0"
)

// KubernetesMinor is the Kubernetes minor release, e.g. "1.36".
func KubernetesMinor() string { return minor(strings.TrimPrefix(Kubernetes, "v")) }

// EtcdMinor is etcd's minor release, e.g. "3.6".
func EtcdMinor() string { return minor(Etcd) }

func minor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}
