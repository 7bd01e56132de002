package layout_test

import (
	"testing"

	"github.com/bulwark-k8s/bulwark/layout"
)

func TestClassify(t *testing.T) {
	for rel, want := range map[string]layout.Kind{
		"pki/ca.key":                          layout.PrivateKey,
		"pki/etcd/member-1/peer.key":          layout.PrivateKey,
		"pki/apiserver.crt":                   layout.Certificate,
		"pki/sa.pub":                          layout.PublicKey,
		"admin.conf":                          layout.Kubeconfig,
		"bootstrap-kubelet-abcdef.conf":       layout.Kubeconfig,
		"manifests/kube-apiserver.yaml":       layout.Manifest,
		"manifests/cp-1/etcd.yaml":            layout.Manifest,
		"kubelet/config.yaml":                 layout.KubeletConfig,
		"encryption-config.yaml":              layout.EncryptionConfig,
		"audit-policy.yaml":                   layout.PolicyConfig,
		"authentication-config.yaml":          layout.PolicyConfig,
		"cluster/bootstrap-token-abcdef.yaml": layout.TokenSecret,
		"cluster/rbac.yaml":                   layout.ClusterObject,
		"bulwark.yaml":                        layout.SavedConfig,
		"rotation.yaml":                       layout.RotationRecord,
		"pki/next/ca.key":                     layout.PrivateKey,
		"pki/ca-signer.crt":                   layout.Certificate,
		"pki/notes.txt":                       layout.Unknown,
		"sub/admin.conf":                      layout.Unknown,
		"nodes/cp-1/controller-manager.conf":  layout.Kubeconfig,
		"nodes/cp-1/manifests/etcd.yaml":      layout.Manifest,
		"nodes/cp-1/pki/ca.key":               layout.Unknown,
		"nodes/cp-1/bulwark.yaml":             layout.Unknown,
		"nodes/cp-1/nodes/cp-2/x.conf":        layout.Unknown,
		"nodes/admin.conf":                    layout.Unknown,
		"mounts/kube-apiserver/pki/ca.crt":    layout.Mounted,
		"nodes/cp-1/mounts/etcd/pki/x.key":    layout.Mounted,
	} {
		if got := layout.Classify(rel); got != want {
			t.Errorf("Classify(%q) = %v, want %v", rel, got, want)
		}
	}
}

// TestSecretsAreClosed: every kind that grants access is written 0600, and
// nothing is written more open than 0644.
func TestSecretsAreClosed(t *testing.T) {
	for k := layout.Unknown; k <= layout.Mounted; k++ {
		if k.String() == "" {
			t.Errorf("kind %d has no row", k)
		}
		if k.Secret() && k.Mode() != layout.SecretMode {
			t.Errorf("%v is secret but mode %o", k, k.Mode())
		}
		if k.Mode()&0o022 != 0 {
			t.Errorf("%v is writable by others: %o", k, k.Mode())
		}
	}
	if got := layout.TokenSecretFile("abcdef"); layout.Classify(got) != layout.TokenSecret {
		t.Errorf("TokenSecretFile gives %q, classified %v", got, layout.Classify(got))
	}
}

func TestNodeFile(t *testing.T) {
	if got := layout.NodeFile("", "scheduler.conf"); got != "scheduler.conf" {
		t.Errorf("one host: %q", got)
	}
	got := layout.NodeFile("cp-2", "manifests/etcd.yaml")
	if got != "nodes/cp-2/manifests/etcd.yaml" {
		t.Errorf("several hosts: %q", got)
	}
	if node, own, ok := layout.SplitNodeFile(got); !ok || node != "cp-2" || own != "manifests/etcd.yaml" {
		t.Errorf("SplitNodeFile(%q) = %q %q %v", got, node, own, ok)
	}
	for _, rel := range []string{"nodes/", "nodes/cp-1", "nodes//x", "manifests/etcd.yaml"} {
		if _, _, ok := layout.SplitNodeFile(rel); ok {
			t.Errorf("SplitNodeFile(%q) accepted", rel)
		}
	}
	if got := layout.MountDir("cp-1", "etcd"); got != "nodes/cp-1/mounts/etcd" {
		t.Errorf("MountDir: %q", got)
	}
}
