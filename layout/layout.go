// Package layout is the table of a cluster folder: where each file goes
// (kubeadm's paths), what kind of file it is and the mode it is written
// with. Writers (provision, render's callers, store) and readers (audit,
// expiry) take names and modes from here; nothing else spells them.
//
// Which certificate, key or kubeconfig exists for which role is the plan's
// table (package plan); this package knows only where such files live and
// how open they may be.
package layout

import (
	"io/fs"
	"path"
	"strings"
)

// Folders and files of a cluster folder, relative to its root.
const (
	// ConfigFile keeps the configuration (and the settings given on the
	// command line) a folder was made with, so that later commands see the
	// same cluster.
	ConfigFile = "bulwark.yaml"
	// LockFile is the flock that serialises runs on one folder.
	LockFile = ".bulwark.lock"

	PKIDir            = "pki"
	ManifestsDir      = "manifests"
	ClusterObjectsDir = "cluster"

	KubeletConfigFile    = "kubelet/config.yaml"
	EncryptionConfigFile = "encryption-config.yaml"
	AuditPolicyFile      = "audit-policy.yaml"
	AuthnConfigFile      = "authentication-config.yaml"

	// KubeconfigExt ends every kubeconfig at the folder's top level.
	KubeconfigExt = ".conf"
	// CertExt and KeyExt end certificates and private keys under pki/.
	CertExt = ".crt"
	KeyExt  = ".key"
)

// Paths on a node that are not in the folder.
const (
	// DefaultRoot is where the folder sits on a node (kubeadm's).
	DefaultRoot = "/etc/kubernetes"
	// AuditLogPath is where the API server writes its audit log.
	AuditLogPath = "/var/log/kubernetes/audit/audit.log"
	// EtcdDataDir is where an etcd member keeps its data.
	EtcdDataDir = "/var/lib/etcd"
)

// The label every object bulwark writes carries.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "bulwark"
)

// Modes of what bulwark writes.
const (
	// DirMode: every folder bulwark makes.
	DirMode fs.FileMode = 0o700
	// SecretMode: private keys, kubeconfigs, token Secrets, the encryption
	// configuration, and rendered configuration (CIS asks 0600 of
	// manifests and of the kubelet's configuration; they name every key).
	SecretMode fs.FileMode = 0o600
	// PublicMode: certificates, public keys, the saved configuration,
	// cluster objects without secrets.
	PublicMode fs.FileMode = 0o644
)

// Kind is what a file of the folder holds.
type Kind int

// Kinds of files.
const (
	Unknown Kind = iota
	PrivateKey
	Certificate
	PublicKey
	Kubeconfig
	Manifest
	KubeletConfig
	EncryptionConfig
	// PolicyConfig is an authentication configuration or an audit policy.
	PolicyConfig
	// TokenSecret is a bootstrap token's Secret manifest.
	TokenSecret
	ClusterObject
	SavedConfig
	// Unit is a systemd unit or drop-in that starts a component (not in
	// the folder; CIS asks 0600 of the kubelet's).
	Unit
	// DataDir is a component's data folder, such as etcd's.
	DataDir
)

// kindSpec is one row of the table.
type kindSpec struct {
	what   string // with its article, for reports
	mode   fs.FileMode
	secret bool // holds something that grants access: sealed by the store
}

var kinds = map[Kind]kindSpec{
	Unknown:          {"a file", PublicMode, false},
	PrivateKey:       {"a private key", SecretMode, true},
	Certificate:      {"a certificate", PublicMode, false},
	PublicKey:        {"a public key", PublicMode, false},
	Kubeconfig:       {"a kubeconfig", SecretMode, true},
	Manifest:         {"a static Pod manifest", SecretMode, false},
	KubeletConfig:    {"the kubelet configuration", SecretMode, false},
	EncryptionConfig: {"the encryption configuration (holds the key to every Secret)", SecretMode, true},
	PolicyConfig:     {"an API server policy file", SecretMode, false},
	TokenSecret:      {"a bootstrap token Secret", SecretMode, true},
	ClusterObject:    {"a cluster object manifest", PublicMode, false},
	SavedConfig:      {"the saved configuration", PublicMode, false},
	Unit:             {"a unit file", SecretMode, false},
	DataDir:          {"a data folder", DirMode, false},
}

// Mode is the mode a file of the kind is written with, and the most it may
// allow.
func (k Kind) Mode() fs.FileMode { return kinds[k].mode }

// Secret reports whether files of the kind grant access to whoever reads
// them: they are written through the store's Secrets and never printed.
func (k Kind) Secret() bool { return kinds[k].secret }

func (k Kind) String() string { return kinds[k].what }

// Classify says what a file of the folder holds, from its path relative to
// the folder's root (slash-separated).
func Classify(rel string) Kind {
	dir, base := path.Dir(rel), path.Base(rel)
	switch {
	case rel == ConfigFile:
		return SavedConfig
	case rel == EncryptionConfigFile:
		return EncryptionConfig
	case rel == AuditPolicyFile || rel == AuthnConfigFile:
		return PolicyConfig
	case rel == KubeletConfigFile:
		return KubeletConfig
	case dir == "." && strings.HasSuffix(base, KubeconfigExt):
		return Kubeconfig
	case under(rel, PKIDir) && strings.HasSuffix(base, KeyExt):
		return PrivateKey
	case under(rel, PKIDir) && strings.HasSuffix(base, CertExt):
		return Certificate
	case under(rel, PKIDir) && strings.HasSuffix(base, ".pub"):
		return PublicKey
	case under(rel, ManifestsDir) && isYAML(base):
		return Manifest
	case dir == ClusterObjectsDir && strings.HasPrefix(base, TokenSecretPrefix) && isYAML(base):
		return TokenSecret
	case under(rel, ClusterObjectsDir) && isYAML(base):
		return ClusterObject
	}
	return Unknown
}

// TokenSecretPrefix begins the file name of a bootstrap token's Secret
// under cluster/.
const TokenSecretPrefix = "bootstrap-token-"

// TokenSecretFile is where a bootstrap token's Secret manifest goes.
func TokenSecretFile(id string) string {
	return ClusterObjectsDir + "/" + TokenSecretPrefix + id + ".yaml"
}

// KubeconfigFile is the file of a kubeconfig named in the plan's table.
func KubeconfigFile(name string) string { return name + KubeconfigExt }

// CertFile and KeyFile are the files of a CA or leaf named in the plan's
// table ("ca", "etcd/server", "etcd/member-1/peer").
func CertFile(name string) string { return PKIDir + "/" + name + CertExt }
func KeyFile(name string) string  { return PKIDir + "/" + name + KeyExt }

func under(rel, dir string) bool { return strings.HasPrefix(rel, dir+"/") }

func isYAML(base string) bool {
	return strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml")
}
