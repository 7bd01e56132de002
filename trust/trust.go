// Package trust judges the quality of a cluster folder's PKI and
// kubeconfigs, file by file, against the plan's table of roles: it is pure
// (parsed certificates, keys, kubeconfigs and file modes in, findings out),
// so that audit reports, and bulwark init can refuse, the same things.
//
// Contract of Check:
//
//   - Input.Files lists what the folder holds, by path relative to the
//     folder (slash-separated, e.g. "pki/etcd/ca.crt", "admin.conf",
//     "pki"): for each file, its mode and whatever parsed (Certs, Key,
//     Pub, Kubeconfig) or the parse error; folders with fs.ModeDir set.
//     Paths that are not in the plan's table are judged on their own
//     (weak keys, signatures, modes) and against the CAs (a CA key
//     anywhere but its planned file).
//   - Input.Plan gives the roles: which CA signs which file, its CN, O and
//     usages, the CA key files, the kubeconfigs' identities; Defaulted says
//     the folder has no saved configuration (per-member CNs are unknown).
//   - Input.ServiceIPs are the addresses the API server's certificate must
//     cover besides the in-cluster names (the first IP of each service
//     range).
//   - Check never reads the disk or the clock and never returns key
//     material; each finding's Evidence.File is the path as given.
//
// Rules lists every rule Check (and Mode) can report, with its severity.
// Refusing at init: a caller refuses when any finding is at or above
// finding.Medium (CA keys on the node are finding.Info by design).
package trust

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
)

// File is one file or folder of the cluster folder, parsed.
type File struct {
	// Path is relative to the folder, slash-separated.
	Path string
	// Mode is the file's mode (fs.ModeDir for a folder).
	Mode fs.FileMode
	// Kind overrides layout.Classify(Path) when the content says more
	// (a private key outside pki/).
	Kind layout.Kind
	// Certs are the certificates of a PEM certificate file.
	Certs []*x509.Certificate
	// Key is a private key file's key.
	Key crypto.Signer
	// Pub is a public key file's (sa.pub's) first key, Pubs all of them
	// (two during a rotation).
	Pub  crypto.PublicKey
	Pubs []crypto.PublicKey
	// Kubeconfig is a kubeconfig file's content.
	Kubeconfig *clientcmdapi.Config
	// Err says why the file did not parse as its kind.
	Err error
}

// publicKeys are a public key file's keys: Pubs, or Pub where only it is
// given.
func (f *File) publicKeys() []crypto.PublicKey {
	if len(f.Pubs) > 0 {
		return f.Pubs
	}
	return []crypto.PublicKey{f.Pub}
}

// Input is what Check judges.
type Input struct {
	Plan      *plan.Plan
	Defaulted bool
	Files     []File
	// ServiceIPs must be in the API server certificate.
	ServiceIPs []net.IP
	// Rotating are, for a CA whose rotation is recorded in progress, the
	// keys of the CAs its trust file may hold beside its own (the old and
	// the new). Any other certificate in a CA's file is an ExtraCA.
	Rotating map[string][]crypto.PublicKey
}

// Rule IDs.
const (
	WeakKey            = "pki:weak-key"
	WeakSignature      = "pki:weak-signature"
	LongLived          = "pki:long-lived"
	CANotCA            = "pki:ca-not-ca"
	CAPathLength       = "pki:ca-path-length"
	LeafIsCA           = "pki:leaf-is-ca"
	WildcardSAN        = "pki:wildcard-san"
	KeyReuse           = "pki:key-reuse"
	SharedCA           = "pki:shared-ca"
	CARole             = "pki:ca-role"
	ExtraCA            = "pki:extra-ca"
	CAKeyMisplaced     = "pki:ca-key-misplaced"
	CAKeyPresent       = "pki:ca-key-present"
	SAKeyMismatch      = "pki:sa-key-mismatch"
	APIServerSANs      = "cert:apiserver-sans"
	WrongCA            = "cert:wrong-ca"
	KeyMismatch        = "cert:key-mismatch"
	WrongCN            = "cert:cn"
	WrongOrganization  = "cert:organization"
	WrongUsages        = "cert:usages"
	Unreadable         = "cert:unreadable"
	SystemMasters      = "rbac:system-masters"
	InsecureSkipVerify = "kubeconfig:insecure-skip-tls-verify"
	PlainHTTP          = "kubeconfig:plain-http"
	KubeconfigCA       = "kubeconfig:wrong-ca"
	KubeconfigIdentity = "kubeconfig:identity"
	StaticCredential   = "kubeconfig:static-credential"
	KubeconfigBad      = "kubeconfig:unreadable"
	SuperAdminPresent  = "kubeconfig:super-admin-present"
	ModeOpen           = "file:mode"
	SecretOthers       = "file:secret-readable-by-others"
	SecretGroup        = "file:secret-readable-by-group"
	WritableOthers     = "file:writable-by-others"
	WritableGroup      = "file:writable-by-group"
)

// Rules are the rules of Check and Mode.
func Rules() []finding.Rule {
	r := func(id string, sev finding.Severity, cis, title, fix string) finding.Rule {
		return finding.Rule{ID: id, Severity: sev, CIS: cis, Title: title, Remediation: fix}
	}
	return []finding.Rule{
		r(WeakKey, finding.High, "", "a key is too weak: RSA below 2048 bits, an elliptic curve below 256 bits, or DSA", "reissue it with ECDSA P-256/P-384 or RSA 2048+ (bulwark certs renew --new-key, or a new CA)"),
		r(WeakSignature, finding.High, "", "a certificate is signed with SHA-1 or MD5, which can be forged", "reissue it with a SHA-256 (or stronger) signature"),
		r(LongLived, finding.Medium, "", "a certificate lives far longer than planned (leaves 1 year, CAs 10 years by default): a stolen key stays useful that long", "reissue it with the planned validity (bulwark certs renew NAME)"),
		r(CANotCA, finding.Medium, "", "a CA certificate is not marked as a CA (basicConstraints CA:TRUE and keyCertSign): clients refuse what it signs, or treat it inconsistently", "reissue the CA with basicConstraints CA:TRUE and key usage keyCertSign"),
		r(CAPathLength, finding.Medium, "", "a CA may sign intermediate CAs (no path length 0) though none is planned", "reissue the CA with pathlen:0"),
		r(LeafIsCA, finding.High, "", "a leaf certificate is a CA (basicConstraints CA:TRUE): its key can sign certificates", "reissue it as a leaf (CA:FALSE)"),
		r(WildcardSAN, finding.Medium, "", "a certificate has wildcard or catch-all names (*, *.domain, 0.0.0.0): it is valid for hosts it should not be", "reissue it with the exact names and addresses it serves"),
		r(KeyReuse, finding.High, "", "two certificates share one key: losing one credential loses both roles", "give each certificate its own key (bulwark certs renew --new-key)"),
		r(ExtraCA, finding.Critical, "", "a CA file holds another CA beside its own: whoever holds that CA's key is trusted on this channel (as any user, group, etcd client or proxy)", "rewrite the file with its own CA alone (bulwark certs renew NAME reissues it from its key); find out who added the other"),
		r(CARole, finding.High, "", "a CA file holds another role's CA (swapped CAs): each channel trusts the wrong root", "put each CA back in its own file, or make a new CA for the role (bulwark certs renew NAME --new-key)"),
		r(SharedCA, finding.Critical, "2.7", "two of the CAs share one key: a certificate for one channel opens another", "give each channel its own CA (cluster, etcd, etcd peer, front proxy) and reissue their certificates"),
		r(CAKeyMisplaced, finding.High, "", "a CA private key is where no component needs it (a node's or another file's place)", "delete that copy; keep CA keys in their planned place on the nodes that sign, or offline"),
		r(CAKeyPresent, finding.Info, "", "a CA private key is on this node", "move the key off nodes that do not sign with it"),
		r(SAKeyMismatch, finding.High, "", "sa.pub is not the public half of sa.key: tokens signed by the controller manager are refused, or someone else's are accepted", "restore the matching pair (bulwark rotate sa, or copy both files from the same source)"),
		r(APIServerSANs, finding.Medium, "", "the API server certificate does not cover the in-cluster names or the service IP: Pods cannot verify the API server", "bulwark certs renew apiserver (it covers kubernetes, kubernetes.default.svc… and the first service IP)"),
		r(WrongCA, finding.High, "", "a certificate is not signed by the CA its role needs (a swapped or shared CA)", "reissue it from its planned CA (bulwark certs renew NAME)"),
		r(KeyMismatch, finding.High, "", "a certificate does not match its private key", "bulwark certs renew (keeps the key) or restore the matching key"),
		r(WrongCN, finding.Medium, "", "a certificate's CN is not its role's: it authenticates as someone else", "bulwark certs renew NAME"),
		r(WrongOrganization, finding.Medium, "", "a certificate carries groups (O) its role should not have", "bulwark certs renew NAME"),
		r(WrongUsages, finding.Medium, "", "a certificate has extended key usages its role should not have", "bulwark certs renew NAME"),
		r(Unreadable, finding.High, "", "a certificate or key file does not parse", "restore or reissue it"),
		r(SystemMasters, finding.High, "5.1.7", "a credential is in system:masters, which bypasses RBAC and cannot be revoked", "reissue it in a group bound to the roles it needs (bulwark's admin.conf uses bulwark:cluster-admins); keep system:masters for super-admin.conf only"),
		r(InsecureSkipVerify, finding.High, "", "a kubeconfig skips verifying the server's certificate (insecure-skip-tls-verify): anyone on the path can impersonate the API server", "remove insecure-skip-tls-verify and embed the cluster CA (certificate-authority-data)"),
		r(PlainHTTP, finding.High, "", "a kubeconfig talks to its server over plain HTTP: its credentials cross the network in clear", "use the API server's https:// address"),
		r(KubeconfigCA, finding.Medium, "", "a kubeconfig trusts a CA other than the cluster CA for its server", "embed the cluster CA (pki/ca.crt) as certificate-authority-data"),
		r(KubeconfigIdentity, finding.High, "", "a kubeconfig authenticates as another identity than its role's (e.g. a component with an administrator's certificate)", "regenerate it with its own client certificate (bulwark certs renew NAME)"),
		r(StaticCredential, finding.Medium, "", "a kubeconfig holds a long-lived bearer token or a password", "use a client certificate or a short-lived token"),
		r(KubeconfigBad, finding.Medium, "", "a kubeconfig does not parse", "restore or regenerate it"),
		r(SuperAdminPresent, finding.Info, "", "the break-glass system:masters credential is on this node", "keep super-admin.conf offline once the cluster objects are applied"),
		r(ModeOpen, finding.Medium, "1.1.1", "a file is more open than CIS allows for its kind (e.g. a manifest, kubelet configuration or unit readable by others)", "chmod it to its kind's mode (600 for manifests, configurations, units, keys and kubeconfigs; 644 for certificates)"),
		r(SecretOthers, finding.High, "1.1.21", "a key, kubeconfig or encryption configuration is readable by every local user", "chmod 600 it"),
		r(SecretGroup, finding.Medium, "1.1.21", "a key, kubeconfig or encryption configuration is readable by its group", "chmod 600 it"),
		r(WritableOthers, finding.High, "", "a file or folder of the control plane is writable by every local user: anyone can replace a key, a CA or a static Pod", "chmod o-w it (folders 700, files 600 or 644)"),
		r(WritableGroup, finding.Medium, "", "a file or folder of the control plane is writable by its group", "chmod g-w it"),
	}
}

var rules = finding.NewRules(Rules())

func newFinding(id, file, detail string) finding.Finding {
	return rules.New(id, finding.Evidence{File: file, Detail: detail})
}

// Mode judges one file's or folder's mode for its kind (layout.Classify,
// or the kind of file a flag names): writable by others or the group,
// secrets readable by others or the group, anything else more open than
// the kind's mode. Owner bits and execute bits on folders are not judged.
func Mode(file string, kind layout.Kind, mode fs.FileMode) []finding.Finding {
	perm := mode.Perm()
	detail := fmt.Sprintf("mode %04o", perm)
	var out []finding.Finding
	switch {
	case perm&layout.OtherWrite != 0:
		out = append(out, newFinding(WritableOthers, file, detail))
	case perm&layout.GroupWrite != 0:
		out = append(out, newFinding(WritableGroup, file, detail))
	}
	if mode.IsDir() {
		return out
	}
	if kind.Secret() {
		switch {
		case perm&layout.OtherRead != 0:
			return append(out, newFinding(SecretOthers, file, detail+" ("+kind.String()+")"))
		case perm&layout.GroupRead != 0:
			return append(out, newFinding(SecretGroup, file, detail+" ("+kind.String()+")"))
		}
	}
	if len(out) == 0 && perm&layout.GroupOther&^kind.Mode() != 0 {
		f := newFinding(ModeOpen, file, fmt.Sprintf("%s, more open than %04o (%s)", detail, kind.Mode(), kind))
		out = append(out, f)
	}
	return out
}

type checker struct {
	in  Input
	out []finding.Finding
	// byPath indexes the files.
	byPath map[string]*File
}

func (c *checker) add(id, file, detail string) { c.out = append(c.out, newFinding(id, file, detail)) }

// Check judges the folder's PKI and kubeconfigs (see the package doc).
func Check(in Input) []finding.Finding {
	c := &checker{in: in, byPath: map[string]*File{}}
	for i := range in.Files {
		c.byPath[in.Files[i].Path] = &in.Files[i]
	}
	paths := make([]string, 0, len(in.Files))
	for _, f := range in.Files {
		paths = append(paths, f.Path)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := c.byPath[p]
		c.modes(f)
		switch {
		case f.Err != nil:
			id := Unreadable
			if layout.Classify(p) == layout.Kubeconfig {
				id = KubeconfigBad
			}
			c.add(id, p, f.Err.Error())
		case len(f.Certs) > 0:
			c.cert(f)
		case f.Key != nil:
			c.key(p, f.Key.Public())
		case f.Pub != nil:
			for _, pub := range f.publicKeys() {
				c.key(p, pub)
			}
		case f.Kubeconfig != nil:
			c.kubeconfig(f)
		}
	}
	c.cas()
	c.caKeys()
	c.reuse()
	c.serviceAccountKeys()
	return c.out
}

func (c *checker) modes(f *File) {
	kind := layout.Classify(f.Path)
	if f.Kind != layout.Unknown {
		kind = f.Kind
	}
	if f.Mode.IsDir() {
		kind = layout.DataDir
	}
	c.out = append(c.out, Mode(f.Path, kind, f.Mode)...)
}

// WeakKeyReason says why a public key is weak, or "".
func WeakKeyReason(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Sprintf("RSA %d bits", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return fmt.Sprintf("ECDSA %s", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case nil:
	default:
		return fmt.Sprintf("%T", pub)
	}
	return ""
}

func weakSignature(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1, x509.DSAWithSHA256:
		return true
	}
	return false
}

// lifetime reports a certificate valid for longer than max (with 10% and a
// day of slack for backdating).
func (c *checker) lifetime(p string, cert *x509.Certificate, max time.Duration) {
	if max <= 0 {
		return
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); life > max+max/10+24*time.Hour {
		c.add(LongLived, p, fmt.Sprintf("%s is valid for %d days (planned: %d)", cert.Subject.CommonName, int(life.Hours()/24), int(max.Hours()/24)))
	}
}

// leafValidity is the plan's lifetime for leaves.
func (c *checker) leafValidity() time.Duration {
	for _, ce := range c.in.Plan.Certs {
		return ce.Validity
	}
	return 0
}

func (c *checker) key(p string, pub crypto.PublicKey) {
	if why := WeakKeyReason(pub); why != "" {
		c.add(WeakKey, p, why)
	}
}

func (c *checker) cert(f *File) {
	cert := f.Certs[0]
	c.key(f.Path, cert.PublicKey)
	if weakSignature(cert.SignatureAlgorithm) {
		c.add(WeakSignature, f.Path, fmt.Sprintf("%s: signature %s", cert.Subject.CommonName, cert.SignatureAlgorithm))
	}
	if ca, isCA := c.caOf(f.Path); isCA {
		c.lifetime(f.Path, cert, ca.Validity)
		return // judged with the other CAs
	}
	if spec, ok := c.role(f.Path); ok {
		c.lifetime(f.Path, cert, spec.Validity)
	} else if !cert.IsCA {
		c.lifetime(f.Path, cert, c.leafValidity())
	}
	if _, planned := c.role(f.Path); planned && cert.IsCA {
		c.add(LeafIsCA, f.Path, fmt.Sprintf("%s has basicConstraints CA:TRUE", cert.Subject.CommonName))
	}
	c.sans(f.Path, cert)
	if cert.Subject.CommonName != "" && slices.Contains(cert.Subject.Organization, user.SystemPrivilegedGroup) {
		c.add(SystemMasters, f.Path, fmt.Sprintf("CN %q, O %q", cert.Subject.CommonName, cert.Subject.Organization))
	}
	keyPath := strings.TrimSuffix(f.Path, layout.CertExt) + layout.KeyExt
	if k, ok := c.byPath[keyPath]; ok && k.Key != nil && !pki.KeyMatches(cert, k.Key) {
		c.add(KeyMismatch, f.Path, keyPath+" is not its key")
	}
	spec, ok := c.role(f.Path)
	if !ok {
		return
	}
	// A trust file holds two CAs during a rotation (package rotate): a
	// leaf of either is its role's.
	if cas := c.caCerts(spec.CA); len(cas) > 0 && !weakSignature(cert.SignatureAlgorithm) &&
		!slices.ContainsFunc(cas, func(ca *x509.Certificate) bool { return pki.SignedBy(cert, ca) }) {
		caSpec, _ := c.in.Plan.CA(spec.CA)
		c.add(WrongCA, f.Path, fmt.Sprintf("issuer %q; its role needs %s", cert.Issuer.CommonName, caSpec.CertFile()))
	}
	if spec.Subject.CommonName != "" && cert.Subject.CommonName != spec.Subject.CommonName {
		c.add(WrongCN, f.Path, fmt.Sprintf("CN %q, want %q", cert.Subject.CommonName, spec.Subject.CommonName))
	}
	if !slices.Equal(sorted(cert.Subject.Organization), sorted(spec.Subject.Organizations)) && !slices.Contains(cert.Subject.Organization, user.SystemPrivilegedGroup) {
		c.add(WrongOrganization, f.Path, fmt.Sprintf("O %q, want %q", cert.Subject.Organization, spec.Subject.Organizations))
	}
	if !slices.Equal(sortedUsages(pki.UsagesOf(cert)), sortedUsages(spec.Usages)) && !coveredUsages(pki.UsagesOf(cert), spec.Usages) {
		c.add(WrongUsages, f.Path, fmt.Sprintf("usages %v, want %v", pki.UsagesOf(cert), spec.Usages))
	}
	if spec.Kind == plan.CertAPIServer {
		var missing []string
		for _, name := range plan.ServiceNames(c.in.Plan.Config.ClusterDomain) {
			if !slices.Contains(cert.DNSNames, name) {
				missing = append(missing, name)
			}
		}
		for _, ip := range c.in.ServiceIPs {
			if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
				missing = append(missing, ip.String())
			}
		}
		if len(missing) > 0 {
			c.add(APIServerSANs, f.Path, "missing "+strings.Join(missing, ", "))
		}
	}
}

// coveredUsages accepts a server certificate that also allows client
// authentication only where the plan asks for both (etcd); any usage
// beyond the role's is a finding.
func coveredUsages(have, want []pki.Usage) bool {
	for _, u := range have {
		if !slices.Contains(want, u) {
			return false
		}
	}
	return len(have) == len(want)
}

// wildcardIP are addresses that stand for every address.
var wildcardIP = []net.IP{net.IPv4zero, net.IPv6unspecified, net.IPv4bcast}

func (c *checker) sans(p string, cert *x509.Certificate) {
	if bad := broadNames(cert); len(bad) > 0 {
		c.add(WildcardSAN, p, fmt.Sprintf("%s covers %s", cert.Subject.CommonName, strings.Join(bad, ", ")))
	}
}

// caOf reports whether a path is a planned CA certificate.
func (c *checker) caOf(p string) (plan.CA, bool) {
	for _, ca := range c.in.Plan.CAs {
		if ca.CertFile() == p {
			return ca, true
		}
	}
	return plan.CA{}, false
}

// caCerts are every CA of a planned CA's trust file: one, or the old and
// the new during a rotation.
func (c *checker) caCerts(name string) []*x509.Certificate {
	ca, _ := c.in.Plan.CA(name)
	if f, ok := c.byPath[ca.CertFile()]; ok {
		return f.Certs
	}
	return nil
}

func (c *checker) caCert(name string) *x509.Certificate {
	ca, _ := c.in.Plan.CA(name)
	if f, ok := c.byPath[ca.CertFile()]; ok && len(f.Certs) > 0 {
		return f.Certs[0]
	}
	return nil
}

// role finds the table entry for a certificate file of the folder.
func (c *checker) role(rel string) (plan.Cert, bool) {
	for _, ce := range c.in.Plan.Certs {
		if ce.CertFile() == rel {
			if ce.Member != "" && c.in.Defaulted {
				ce.Subject.CommonName = "" // the member's name: not known here
			}
			return ce, true
		}
	}
	// Per-member etcd certificates: pki/etcd/<member>/{server,peer}.crt.
	parts := strings.Split(rel, "/")
	if len(parts) == 4 && parts[0] == layout.PKIDir && parts[1] == "etcd" {
		kind := "etcd/" + strings.TrimSuffix(parts[3], layout.CertExt)
		for _, ce := range c.in.Plan.Certs {
			if ce.Kind == kind {
				ce.Subject.CommonName = "" // the member's name: not known here
				return ce, true
			}
		}
	}
	return plan.Cert{}, false
}

// cas judges the planned CAs: marked as CAs, path length 0, distinct keys.
func (c *checker) cas() {
	type seen struct {
		file string
		pub  crypto.PublicKey
	}
	var all []seen
	for _, ca := range c.in.Plan.CAs {
		f, ok := c.byPath[ca.CertFile()]
		if !ok || len(f.Certs) == 0 {
			continue
		}
		cert := f.Certs[0]
		if extra := ExtraCAs(f.Certs, c.in.Rotating[ca.Name]); len(extra) > 0 {
			c.add(ExtraCA, f.Path, describeExtra(extra))
		}
		if !cert.BasicConstraintsValid || !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
			c.add(CANotCA, f.Path, fmt.Sprintf("%s: basicConstraints CA:%t, keyCertSign %t", cert.Subject.CommonName, cert.IsCA, cert.KeyUsage&x509.KeyUsageCertSign != 0))
		} else if cert.MaxPathLen > 0 || (cert.MaxPathLen == 0 && !cert.MaxPathLenZero) || cert.MaxPathLen < 0 {
			pl := "no path length constraint"
			if cert.MaxPathLen > 0 {
				pl = fmt.Sprintf("pathlen:%d", cert.MaxPathLen)
			}
			c.add(CAPathLength, f.Path, cert.Subject.CommonName+": "+pl)
		}
		for _, o := range all {
			if pki.PublicKeysEqual(o.pub, cert.PublicKey) {
				c.add(SharedCA, f.Path, fmt.Sprintf("%s and %s hold the same CA key", o.file, f.Path))
			}
		}
		all = append(all, seen{f.Path, cert.PublicKey})
	}
}

// caKeys finds every private key of a CA: at its planned file, an info;
// anywhere else, a misplaced copy.
func (c *checker) caKeys() {
	planned := map[string]plan.CA{}
	for _, ca := range c.in.Plan.CAs {
		planned[ca.KeyFile()] = ca
	}
	for _, f := range c.in.Files {
		if f.Key == nil {
			continue
		}
		for _, ca := range c.in.Plan.CAs {
			if !slices.ContainsFunc(c.caCerts(ca.Name), func(cert *x509.Certificate) bool { return pki.PublicKeysEqual(cert.PublicKey, f.Key.Public()) }) {
				continue
			}
			switch {
			case f.Path == layout.NextKeyFile(ca.Name):
				// A rotation's new CA, trusted but signing nothing yet.
				c.add(CAKeyPresent, f.Path, "the new CA of a rotation in progress, until its reissue step; keep the folder offline")
			case ca.KeyFile() == f.Path:
				why := "needed only to issue new certificates: keep it offline"
				if ca.Name == plan.ClusterCA {
					why = "needed by the controller manager to sign kubelet certificates; elsewhere keep it offline"
				}
				c.add(CAKeyPresent, f.Path, why)
			default:
				c.add(CAKeyMisplaced, f.Path, "the key of "+ca.CertFile())
			}
		}
	}
}

// reuse finds distinct certificates on one key.
func (c *checker) reuse() {
	type holder struct {
		file string
		raw  []byte
	}
	var all []struct {
		pub crypto.PublicKey
		h   holder
	}
	add := func(file string, cert *x509.Certificate) {
		for _, o := range all {
			if pki.PublicKeysEqual(o.pub, cert.PublicKey) && !bytes.Equal(o.h.raw, cert.Raw) {
				c.add(KeyReuse, file, fmt.Sprintf("%s and %s hold certificates on the same key", o.h.file, file))
				return
			}
		}
		all = append(all, struct {
			pub crypto.PublicKey
			h   holder
		}{cert.PublicKey, holder{file, cert.Raw}})
	}
	var keys []File
	for _, f := range c.in.Files {
		if f.Key != nil || f.Pub != nil {
			keys = append(keys, f)
		}
		if len(f.Certs) > 0 {
			add(f.Path, f.Certs[0])
		}
		if f.Kubeconfig != nil {
			for _, name := range sortedKeys(f.Kubeconfig.AuthInfos) {
				a := f.Kubeconfig.AuthInfos[name]
				if cert, err := pki.ParseCert(a.ClientCertificateData); err == nil {
					add(f.Path, cert)
				}
			}
		}
	}
	// A key file whose key is another role's certificate's: the
	// service-account key being the CA's, a leaf's key copied to another.
	for _, k := range keys {
		pub := k.Pub
		if k.Key != nil {
			pub = k.Key.Public()
		}
		if k.Path == plan.ServiceAccountPubFile || c.ownCert(k.Path) {
			continue // sa.pub is sa.key's; a key beside its certificate is judged with it
		}
		for _, o := range all {
			if pki.PublicKeysEqual(o.pub, pub) {
				if _, isCA := c.caOf(o.h.file); isCA {
					break // a copy of a CA key: CAKeyMisplaced
				}
				c.add(KeyReuse, k.Path, fmt.Sprintf("%s holds the key of %s", k.Path, o.h.file))
				break
			}
		}
	}
}

// ownCert reports whether a key file has a certificate of its own beside
// it, by the names kubeadm (x.key, x.crt) and the hard way (x-key.pem,
// x.pem) give them.
func (c *checker) ownCert(keyPath string) bool {
	base := strings.TrimSuffix(strings.TrimSuffix(keyPath, layout.KeyExt), ".pem")
	for _, cand := range []string{base + layout.CertExt, base + ".pem", strings.TrimSuffix(base, "-key") + ".pem", strings.TrimSuffix(base, "-key") + layout.CertExt} {
		if cand != keyPath && c.byPath[cand] != nil && len(c.byPath[cand].Certs) > 0 {
			return true
		}
	}
	return false
}

func (c *checker) serviceAccountKeys() {
	k, ok1 := c.byPath[plan.ServiceAccountKeyFile]
	p, ok2 := c.byPath[plan.ServiceAccountPubFile]
	if !ok1 || !ok2 || k.Key == nil || p.Pub == nil {
		return
	}
	// sa.key's must be one of sa.pub's keys; any other is allowed only as
	// a recorded rotation's old or new key: the API server accepts tokens
	// signed by every key of the file.
	pubs := p.publicKeys()
	same := func(a crypto.PublicKey) func(crypto.PublicKey) bool {
		return func(b crypto.PublicKey) bool { return pki.PublicKeysEqual(a, b) }
	}
	if !slices.ContainsFunc(pubs, same(k.Key.Public())) {
		c.add(SAKeyMismatch, p.Path, plan.ServiceAccountPubFile+" is not the public key of "+plan.ServiceAccountKeyFile)
		return
	}
	rotating := c.in.Rotating[plan.RootServiceAccount]
	others := 0
	for _, pub := range pubs {
		if !same(k.Key.Public())(pub) && !slices.ContainsFunc(rotating, same(pub)) {
			others++
		}
	}
	if others > 0 {
		c.add(SAKeyMismatch, p.Path, fmt.Sprintf("%s holds %d key(s) beside %s's, outside any recorded rotation: tokens each signs are accepted", plan.ServiceAccountPubFile, others, plan.ServiceAccountKeyFile))
	}
}

var bootstrapToken = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)

func (c *checker) kubeconfig(f *File) {
	cfg := f.Kubeconfig
	clusterCA := c.caCert(plan.ClusterCA)
	for _, name := range sortedKeys(cfg.Clusters) {
		cl := cfg.Clusters[name]
		if cl == nil {
			continue
		}
		if cl.InsecureSkipTLSVerify {
			c.add(InsecureSkipVerify, f.Path, "cluster "+name+" has insecure-skip-tls-verify: true")
		}
		if u, err := url.Parse(cl.Server); err == nil && u.Scheme == "http" {
			c.add(PlainHTTP, f.Path, "cluster "+name+" server "+cl.Server)
		}
		if len(cl.CertificateAuthorityData) > 0 && clusterCA != nil {
			cas, err := pki.ParseCerts(cl.CertificateAuthorityData)
			held := c.caCerts(plan.ClusterCA) // with a rotation's second CA
			in := func(set []*x509.Certificate) func(*x509.Certificate) bool {
				return func(x *x509.Certificate) bool {
					return slices.ContainsFunc(set, func(y *x509.Certificate) bool { return pki.PublicKeysEqual(x.PublicKey, y.PublicKey) })
				}
			}
			switch {
			case err != nil:
			case !slices.ContainsFunc(cas, in(held)):
				c.add(KubeconfigCA, f.Path, fmt.Sprintf("cluster %s trusts %q, not the cluster CA", name, cas[0].Subject.CommonName))
			default:
				// Another CA beside it: a server certificate that CA signs
				// is accepted as the API server's. A rotation's other CA is
				// allowed until its finish is complete.
				rotating := c.in.Rotating[plan.ClusterCA]
				for _, x := range cas {
					if !in(held)(x) && !slices.ContainsFunc(rotating, func(k crypto.PublicKey) bool { return pki.PublicKeysEqual(k, x.PublicKey) }) {
						spec, _ := c.in.Plan.CA(plan.ClusterCA)
						c.add(KubeconfigCA, f.Path, fmt.Sprintf("cluster %s also trusts a CA %q (key %s) that %s does not hold", name, x.Subject.CommonName, pki.KeyID(x.PublicKey), spec.CertFile()))
						break
					}
				}
			}
		}
	}
	var planned *plan.Kubeconfig
	for i, k := range c.in.Plan.Kubeconfigs {
		if k.File() == f.Path {
			planned = &c.in.Plan.Kubeconfigs[i]
		}
	}
	breakGlass := planned != nil && planned.Name == plan.KubeconfigSuperAdmin
	for _, name := range sortedKeys(cfg.AuthInfos) {
		a := cfg.AuthInfos[name]
		if a == nil {
			continue
		}
		if a.Password != "" {
			c.add(StaticCredential, f.Path, "user "+name+" has a password")
		}
		if a.Token != "" && !bootstrapToken.MatchString(a.Token) {
			c.add(StaticCredential, f.Path, "user "+name+" has a bearer token that is not a bootstrap token")
		}
		if len(a.ClientCertificateData) == 0 {
			continue
		}
		cert, err := pki.ParseCert(a.ClientCertificateData)
		if err != nil {
			c.add(KubeconfigBad, f.Path, "user "+name+": client-certificate-data does not parse")
			continue
		}
		c.key(f.Path, cert.PublicKey)
		if weakSignature(cert.SignatureAlgorithm) {
			c.add(WeakSignature, f.Path, fmt.Sprintf("user %s: signature %s", name, cert.SignatureAlgorithm))
		}
		if cert.IsCA {
			c.add(LeafIsCA, f.Path, "user "+name+"'s certificate has basicConstraints CA:TRUE")
		}
		if planned != nil {
			c.lifetime(f.Path, cert, planned.Validity)
		} else {
			c.lifetime(f.Path, cert, c.leafValidity())
		}
		if slices.Contains(cert.Subject.Organization, user.SystemPrivilegedGroup) && !breakGlass {
			c.add(SystemMasters, f.Path, fmt.Sprintf("user %s: CN %q, O %q", name, cert.Subject.CommonName, cert.Subject.Organization))
		}
		if planned != nil && planned.Subject.CommonName != "" && cert.Subject.CommonName != planned.Subject.CommonName {
			c.add(KubeconfigIdentity, f.Path, fmt.Sprintf("user %s is CN %q, want %q", name, cert.Subject.CommonName, planned.Subject.CommonName))
		}
	}
	if breakGlass {
		c.add(SuperAdminPresent, f.Path, "system:masters cannot be revoked")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func sortedUsages(us []pki.Usage) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = string(u)
	}
	slices.Sort(out)
	return out
}

// ExtraCAs are the certificates of a CA's trust file beyond its first
// whose keys are not among allowed (a recorded rotation's old and new).
func ExtraCAs(certs []*x509.Certificate, allowed []crypto.PublicKey) []*x509.Certificate {
	if len(certs) < 2 {
		return nil
	}
	var out []*x509.Certificate
	for i, c := range certs {
		ok := slices.ContainsFunc(allowed, func(k crypto.PublicKey) bool { return pki.PublicKeysEqual(k, c.PublicKey) })
		if !ok && (i > 0 || len(allowed) > 0) {
			out = append(out, c)
		}
	}
	return out
}

func describeExtra(extra []*x509.Certificate) string {
	names := make([]string, len(extra))
	for i, c := range extra {
		names[i] = fmt.Sprintf("%q (issuer %q)", c.Subject.CommonName, c.Issuer.CommonName)
	}
	return fmt.Sprintf("%d other certificate(s) beside its own: %s", len(extra), strings.Join(names, ", "))
}
