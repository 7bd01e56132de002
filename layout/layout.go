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
	"fmt"
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
	// RotationFile records the trust roots being rotated: for each, the
	// step written last, the old and new keys' fingerprints and when each
	// step was written. The files themselves are the truth; this record
	// must agree with them (package rotate).
	RotationFile = "rotation.yaml"

	PKIDir = "pki"
	// NextDir holds, during a rotation's trust step, the new CA (or
	// service-account key) that every trust file already names but that
	// signs nothing yet. It stays with bulwark: no node needs it.
	NextDir           = PKIDir + "/next"
	ManifestsDir      = "manifests"
	ClusterObjectsDir = "cluster"
	// NodesDir holds, in a folder for several hosts, one folder per host
	// (NodeFile) with what differs from host to host, laid out as on that
	// host: manifests/, controller-manager.conf, scheduler.conf, mounts/.
	NodesDir = "nodes"
	// MountsDir holds one folder per static Pod (MountDir): hard links to
	// exactly the files the Pod's flags name, at their paths under the
	// root. The Pod mounts that folder, not the files one by one, so that
	// a file replaced by rename reaches the running container.
	MountsDir = "mounts"

	KubeletConfigFile    = "kubelet/config.yaml"
	EncryptionConfigFile = "encryption-config.yaml"
	AuditPolicyFile      = "audit-policy.yaml"
	AuthnConfigFile      = "authentication-config.yaml"
	// AcceptFile lists the risks an audit of the folder accepts, each with
	// a written reason (reviewable in git; see package finding).
	AcceptFile = "audit-accept.yaml"

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

// InputsAnnotation is on every static Pod bulwark renders:
// "sha256:<hex>", a checksum of the files the Pod reads only when it
// starts. When one of them changes, the manifest changes with it and the
// kubelet recreates the Pod.
const InputsAnnotation = "bulwark.dev/inputs"

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

// Permission bits an audit judges beyond a kind's mode.
const (
	OtherWrite fs.FileMode = 0o002
	GroupWrite fs.FileMode = 0o020
	OtherRead  fs.FileMode = 0o004
	GroupRead  fs.FileMode = 0o040
	// GroupOther are every bit of the group and of others.
	GroupOther fs.FileMode = 0o077
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
	// RotationRecord is RotationFile.
	RotationRecord
	// RecipientsManifest is one signed version of the list of
	// administrators and read-only holders the secrets are encrypted to.
	RecipientsManifest
	// IssuanceLog is the hash-chained log of administrator certificates.
	IssuanceLog
	// RotationState lists the keys and CAs that must be rotated.
	RotationState
	// AdminsHead is the administrators' signed head: the latest manifest
	// version, whether every secret is sealed to it, the issuance log's
	// length and last entry.
	AdminsHead
	// Unit is a systemd unit or drop-in that starts a component (not in
	// the folder; CIS asks 0600 of the kubelet's).
	Unit
	// DataDir is a component's data folder, such as etcd's.
	DataDir
	// Mounted is a static Pod's view of a file of the folder: a hard link
	// under mounts/ to the file itself (same inode, same mode).
	Mounted
)

// kindSpec is one row of the table.
type kindSpec struct {
	what   string // with its article, for reports
	mode   fs.FileMode
	secret bool // holds something that grants access: sealed by the store
}

var kinds = map[Kind]kindSpec{
	Unknown:            {"a file", PublicMode, false},
	PrivateKey:         {"a private key", SecretMode, true},
	Certificate:        {"a certificate", PublicMode, false},
	PublicKey:          {"a public key", PublicMode, false},
	Kubeconfig:         {"a kubeconfig", SecretMode, true},
	Manifest:           {"a static Pod manifest", SecretMode, false},
	KubeletConfig:      {"the kubelet configuration", SecretMode, false},
	EncryptionConfig:   {"the encryption configuration (holds the key to every Secret)", SecretMode, true},
	PolicyConfig:       {"an API server policy file", SecretMode, false},
	TokenSecret:        {"a bootstrap token Secret", SecretMode, true},
	ClusterObject:      {"a cluster object manifest", PublicMode, false},
	SavedConfig:        {"the saved configuration", PublicMode, false},
	RotationRecord:     {"the rotation record", PublicMode, false},
	Unit:               {"a unit file", SecretMode, false},
	RecipientsManifest: {"a recipients manifest", PublicMode, false},
	IssuanceLog:        {"the issuance log", PublicMode, false},
	RotationState:      {"the rotation state", PublicMode, false},
	AdminsHead:         {"the administrators' head", PublicMode, false},
	DataDir:            {"a data folder", DirMode, false},
	// Never written: its mode is the linked file's (at most PublicMode).
	Mounted: {"a static Pod's link to a file of the folder", PublicMode, false},
}

// Mode is the mode a file of the kind is written with, and the most it may
// allow.
func (k Kind) Mode() fs.FileMode { return kinds[k].mode }

// Secret reports whether files of the kind grant access to whoever reads
// them: they are written through the store's Secrets and never printed.
func (k Kind) Secret() bool { return kinds[k].secret }

func (k Kind) String() string { return kinds[k].what }

// Classify says what a file of the folder holds, from its path relative to
// the folder's root (slash-separated). A host's folder under nodes/ is
// classified as the root is.
func Classify(rel string) Kind {
	if _, own, ok := SplitNodeFile(rel); ok {
		rel = own
		if rel == ConfigFile || rel == EncryptionConfigFile || under(rel, PKIDir) || under(rel, ClusterObjectsDir) || under(rel, NodesDir) {
			// Shared files live at the top only.
			return Unknown
		}
	}
	dir, base := path.Dir(rel), path.Base(rel)
	switch {
	case under(rel, MountsDir):
		return Mounted
	case rel == ConfigFile || rel == AcceptFile:
		return SavedConfig
	case rel == RotationFile:
		return RotationRecord
	case rel == EncryptionConfigFile:
		return EncryptionConfig
	case rel == AuditPolicyFile || rel == AuthnConfigFile:
		return PolicyConfig
	case rel == KubeletConfigFile:
		return KubeletConfig
	case dir == RecipientsDir && isYAML(base):
		return RecipientsManifest
	case rel == IssuanceLogFile:
		return IssuanceLog
	case rel == RotationStateFile:
		return RotationState
	case rel == HeadFile:
		return AdminsHead
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

// NodeFile is where a file that differs from host to host goes: rel
// itself for a folder of one host (kubeadm's paths), nodes/<node>/rel
// otherwise.
func NodeFile(node, rel string) string {
	if node == "" {
		return rel
	}
	return NodesDir + "/" + node + "/" + rel
}

// SplitNodeFile is NodeFile's inverse for a file under nodes/<node>/.
func SplitNodeFile(rel string) (node, own string, ok bool) {
	rest, ok := strings.CutPrefix(rel, NodesDir+"/")
	if !ok {
		return "", "", false
	}
	node, own, ok = strings.Cut(rest, "/")
	if !ok || node == "" || own == "" {
		return "", "", false
	}
	return node, own, true
}

// MountDir is the folder of hard links a static Pod mounts at the root
// (see MountsDir); node is "" in a folder of one host.
func MountDir(node, pod string) string { return NodeFile(node, MountsDir+"/"+pod) }

// KubeconfigFile is the file of a kubeconfig named in the plan's table.
func KubeconfigFile(name string) string { return name + KubeconfigExt }

// CertFile and KeyFile are the files of a CA or leaf named in the plan's
// table ("ca", "etcd/server", "etcd/member-1/peer").
//
// A CA's CertFile is its trust file, kubeadm's name: what every component
// that verifies against the CA reads (--client-ca-file, --etcd-cafile,
// --trusted-ca-file, kubeconfigs' certificate-authority-data, ...). Outside
// a rotation it holds the CA alone, as kubeadm writes it; during a rotation
// it is a bundle of the old and the new CA. The CA's KeyFile is always the
// key of the CA that signs now, and the CA certificate that signs is the one
// of the bundle that matches it (SignerCertFile holds it alone).
func CertFile(name string) string { return PKIDir + "/" + name + CertExt }
func KeyFile(name string) string  { return PKIDir + "/" + name + KeyExt }

// SignerCertFile is a CA's signing certificate alone, never a bundle: the
// controller manager's --cluster-signing-*-cert-file flags name it, since
// it refuses a file with more than one certificate (kubeadm#1350), and the
// trust file may hold two during a rotation.
func SignerCertFile(name string) string { return PKIDir + "/" + name + "-signer" + CertExt }

// NextCertFile and NextKeyFile hold a CA's successor between a rotation's
// trust and reissue steps; NextKeyFile("sa") is the next service-account key.
func NextCertFile(name string) string { return NextDir + "/" + name + CertExt }
func NextKeyFile(name string) string  { return NextDir + "/" + name + KeyExt }

func under(rel, dir string) bool { return strings.HasPrefix(rel, dir+"/") }

func isYAML(base string) bool {
	return strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml")
}

// The administrators' files (package admins): every version of the
// recipients manifest, the issuance log, the rotation state and the head.
const (
	AdminsDir         = "admins"
	RecipientsDir     = AdminsDir + "/recipients"
	IssuanceLogFile   = AdminsDir + "/issued.log"
	RotationStateFile = AdminsDir + "/rotation-required.yaml"
	HeadFile          = AdminsDir + "/head.yaml"
	// AdminBindingPrefix begins the file name, under cluster/, of the
	// ClusterRoleBinding of one administrator's own user.
	AdminBindingPrefix = "admin-"
)

// RecipientsFile is where version serial of the recipients manifest goes.
func RecipientsFile(serial int) string { return fmt.Sprintf("%s/%06d.yaml", RecipientsDir, serial) }

// AdminBindingFile is where an administrator's own binding goes.
func AdminBindingFile(name string) string {
	return ClusterObjectsDir + "/" + AdminBindingPrefix + name + ".yaml"
}
