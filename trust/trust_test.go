package trust_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"io/fs"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/trust"
)

var now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func cert(t *testing.T, cn string, pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer, ca bool, mod func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, NotBefore: now, NotAfter: now.Add(time.Hour),
		BasicConstraintsValid: true, IsCA: ca, MaxPathLenZero: ca, KeyUsage: x509.KeyUsageDigitalSignature}
	if ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if mod != nil {
		mod(tmpl)
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pkiTree is the four CAs and one leaf of each, as files.
func pkiTree(t *testing.T) (*plan.Plan, map[string]*trust.File) {
	p, err := plan.New(config.Default("cp-1"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*trust.File{}
	cas := map[string]*x509.Certificate{}
	keys := map[string]crypto.Signer{}
	for _, ca := range p.CAs {
		k := ecKey(t)
		c := cert(t, ca.CN, &k.PublicKey, nil, k, true, nil)
		cas[ca.Name], keys[ca.Name] = c, k
		files[ca.CertFile()] = &trust.File{Path: ca.CertFile(), Mode: 0o644, Certs: []*x509.Certificate{c}}
		files[ca.KeyFile()] = &trust.File{Path: ca.KeyFile(), Mode: 0o600, Key: k}
	}
	for _, l := range p.Certs {
		k := ecKey(t)
		c := cert(t, l.Subject.CommonName, &k.PublicKey, cas[l.CA], keys[l.CA], false, func(c *x509.Certificate) {
			c.Subject.Organization = l.Subject.Organizations
			for _, u := range l.Usages {
				if u == "server" {
					c.ExtKeyUsage = append(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
				} else {
					c.ExtKeyUsage = append(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
				}
			}
			c.DNSNames = l.Subject.DNSNames
			c.IPAddresses = l.Subject.IPs
		})
		files[l.CertFile()] = &trust.File{Path: l.CertFile(), Mode: 0o644, Certs: []*x509.Certificate{c}}
		files[l.KeyFile()] = &trust.File{Path: l.KeyFile(), Mode: 0o600, Key: k}
	}
	return p, files
}

func check(p *plan.Plan, files map[string]*trust.File) []string {
	in := trust.Input{Plan: p, ServiceIPs: []net.IP{net.ParseIP("10.96.0.1")}}
	for _, f := range files {
		in.Files = append(in.Files, *f)
	}
	var ids []string
	for _, f := range trust.Check(in) {
		if f.Severity != finding.Info && !slices.Contains(ids, f.ID) {
			ids = append(ids, f.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func TestCheck(t *testing.T) {
	p, files := pkiTree(t)
	if got := check(p, files); len(got) != 0 {
		t.Fatalf("a sound PKI: %v", got)
	}
	for name, tc := range map[string]struct {
		change func(p *plan.Plan, files map[string]*trust.File)
		want   string
	}{
		"RSA 1024 leaf": {func(p *plan.Plan, f map[string]*trust.File) {
			k, _ := rsa.GenerateKey(rand.Reader, 1024)
			f["pki/front-proxy-client.key"].Key = k
			f["pki/front-proxy-client.crt"].Certs[0].PublicKey = &k.PublicKey
		}, trust.WeakKey},
		"SHA-1": {func(p *plan.Plan, f map[string]*trust.File) {
			f["pki/apiserver-etcd-client.crt"].Certs[0].SignatureAlgorithm = x509.ECDSAWithSHA1
		}, trust.WeakSignature},
		"shared CA": {func(p *plan.Plan, f map[string]*trust.File) {
			f["pki/etcd/ca.crt"] = &trust.File{Path: "pki/etcd/ca.crt", Mode: 0o644, Certs: f["pki/ca.crt"].Certs}
		}, trust.SharedCA},
		"CA key elsewhere": {func(p *plan.Plan, f map[string]*trust.File) {
			f["pki/backup/ca.key"] = &trust.File{Path: "pki/backup/ca.key", Mode: 0o600, Key: f["pki/ca.key"].Key}
		}, trust.CAKeyMisplaced},
		"two certificates on one key": {func(p *plan.Plan, f map[string]*trust.File) {
			f["pki/other.crt"] = &trust.File{Path: "pki/other.crt", Mode: 0o644, Certs: []*x509.Certificate{cert(t, "x", f["pki/apiserver.crt"].Certs[0].PublicKey, nil, ecKey(t), false, nil)}}
		}, trust.KeyReuse},
		"service IP missing": {func(p *plan.Plan, f map[string]*trust.File) {
			c := f["pki/apiserver.crt"].Certs[0]
			c.IPAddresses = nil
		}, trust.APIServerSANs},
		"key readable by all": {func(p *plan.Plan, f map[string]*trust.File) { f["pki/apiserver.key"].Mode = 0o644 }, trust.SecretOthers},
		"pki/ writable by all": {func(p *plan.Plan, f map[string]*trust.File) {
			f["pki"] = &trust.File{Path: "pki", Mode: fs.ModeDir | 0o777}
		}, trust.WritableOthers},
	} {
		t.Run(name, func(t *testing.T) {
			p, files := pkiTree(t)
			tc.change(p, files)
			if got := check(p, files); !slices.Contains(got, tc.want) {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestMode(t *testing.T) {
	for _, tc := range []struct {
		kind layout.Kind
		mode fs.FileMode
		want string
	}{
		{layout.PrivateKey, 0o600, ""}, {layout.PrivateKey, 0o400, ""}, {layout.PrivateKey, 0o640, trust.SecretGroup}, {layout.PrivateKey, 0o604, trust.SecretOthers},
		{layout.Certificate, 0o644, ""}, {layout.Certificate, 0o600, ""}, {layout.Certificate, 0o666, trust.WritableOthers}, {layout.Certificate, 0o664, trust.WritableGroup},
		{layout.Manifest, 0o644, trust.ModeOpen}, {layout.DataDir, fs.ModeDir | 0o755, ""}, {layout.DataDir, fs.ModeDir | 0o1777, trust.WritableOthers},
	} {
		var got string
		if fs := trust.Mode("f", tc.kind, tc.mode); len(fs) > 0 {
			got = fs[0].ID
		}
		if got != tc.want {
			t.Errorf("%s %o: %q, want %q", tc.kind, tc.mode, got, tc.want)
		}
	}
}

// TestHardWayNames: the hard way's files (ca.pem, x.pem with x-key.pem)
// are a root CA and certificates with their own keys, not reused keys or
// leaves that are CAs.
func TestHardWayNames(t *testing.T) {
	p, err := plan.New(config.Default("cp-1"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, leafKey := ecKey(t), ecKey(t)
	ca := cert(t, "Kubernetes", &caKey.PublicKey, nil, caKey, true, func(c *x509.Certificate) { c.MaxPathLenZero = false })
	leaf := cert(t, "kubernetes", &leafKey.PublicKey, ca, caKey, false, nil)
	files := map[string]*trust.File{
		"ca.pem":             {Path: "ca.pem", Mode: 0o644, Certs: []*x509.Certificate{ca}},
		"ca-key.pem":         {Path: "ca-key.pem", Mode: 0o600, Key: caKey},
		"kubernetes.pem":     {Path: "kubernetes.pem", Mode: 0o644, Certs: []*x509.Certificate{leaf}},
		"kubernetes-key.pem": {Path: "kubernetes-key.pem", Mode: 0o600, Key: leafKey},
	}
	if got := check(p, files); len(got) != 0 {
		t.Fatalf("the hard way's names: %v", got)
	}
}
