package provision_test

import (
	"bytes"
	"crypto/x509"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/bulwark-k8s/bulwark/internal/testutil"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/render"
)

const openssl = "/usr/bin/openssl"

// TestInitChains builds the whole PKI for each key algorithm and checks
// every issued certificate: with OpenSSL (its CA verifies it, the three
// others do not) and with crypto/x509 (chain, key, validity, serial,
// SKI/AKI, key usages, names).
func TestInitChains(t *testing.T) {
	for _, tc := range []struct {
		alg      pki.Algorithm
		cp, etcd int
	}{
		{pki.ECDSAP256, 3, 3},
		{pki.ECDSAP384, 1, 1},
		{pki.RSA2048, 1, 3},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			t.Parallel()
			now := time.Now().UTC() // real time: openssl verifies at the current time
			p := testutil.Plan(t, clusterDoc(string(tc.alg), tc.cp, tc.etcd))
			d, sum := initDir(t, p, clock(now))
			for _, r := range sum {
				if r.Action != provision.Created {
					t.Errorf("first run: %s %s, want created", r.File, r.Action)
				}
			}
			checkFiles(t, d, p, sum)
			roots := cas(t, d, p)
			checkCAs(t, d, p, roots, tc.alg, now)
			ls := leaves(t, d, p)
			checkLeaves(t, p, roots, ls, tc.alg, now)
			checkOpenSSL(t, d, p, ls)
			checkSerials(t, roots, ls)
			checkServiceAccount(t, d, tc.alg)
		})
	}
}

// checkFiles: every file of the plan exists with its mode, the summary
// lists exactly what is on disk, folders are 0700.
func checkFiles(t *testing.T, d interface {
	Root() string
	Walk(string) ([]string, error)
}, p *plan.Plan, sum provision.Summary) {
	t.Helper()
	onDisk, err := d.Walk(".")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, r := range sum {
		listed = append(listed, r.File)
	}
	slices.Sort(onDisk)
	if !slices.Equal(onDisk, listed) {
		t.Errorf("summary lists %v\nfolder holds %v", listed, onDisk)
	}
	for _, it := range p.Items() {
		for _, f := range it.Files {
			if strings.Contains(f, "<token-id>") {
				continue
			}
			if !slices.Contains(onDisk, f) {
				t.Errorf("%s (%s) not written", f, it.Name)
			}
		}
	}
	err = filepath.WalkDir(d.Root(), func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.Root(), path)
		var want fs.FileMode
		switch {
		case e.IsDir():
			want = 0o700
		case strings.HasSuffix(rel, ".crt") || strings.HasSuffix(rel, ".pub") || rel == plan.RBACManifestFile || rel == plan.ServiceAccountsManifestFile:
			want = 0o644
		default: // keys, kubeconfigs, the token Secret, the lock
			want = 0o600
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", rel, fi.Mode().Perm(), want)
		}
		if strings.HasPrefix(e.Name(), ".bulwark-tmp-") {
			t.Errorf("temporary file %s left behind", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkCAs(t *testing.T, d interface {
	ReadSecret(string) ([]byte, error)
}, p *plan.Plan, roots map[string]*x509.Certificate, alg pki.Algorithm, now time.Time) {
	t.Helper()
	for _, spec := range p.CAs {
		ca := roots[spec.Name]
		if !ca.IsCA || !ca.BasicConstraintsValid || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
			t.Errorf("%s: IsCA %v pathlen %d/%v, want a pathlen:0 CA", spec.Name, ca.IsCA, ca.MaxPathLen, ca.MaxPathLenZero)
		}
		if ca.KeyUsage&x509.KeyUsageCertSign == 0 {
			t.Errorf("%s cannot sign certificates", spec.Name)
		}
		if ca.Subject.CommonName != spec.CN || !pki.SignedBy(ca, ca) {
			t.Errorf("%s: CN %q, self-signed %v", spec.Name, ca.Subject.CommonName, pki.SignedBy(ca, ca))
		}
		if len(ca.SubjectKeyId) == 0 {
			t.Errorf("%s has no SKI", spec.Name)
		}
		data, err := d.ReadSecret(spec.KeyFile())
		if err != nil {
			t.Fatal(err)
		}
		key, err := pki.ParsePrivateKey(data)
		if err != nil || !pki.KeyMatches(ca, key) {
			t.Errorf("%s: key does not match (%v)", spec.Name, err)
		}
		if got := pki.AlgorithmOf(ca.PublicKey); got != alg {
			t.Errorf("%s: key %s, want %s", spec.Name, got, alg)
		}
		checkDates(t, spec.Name, ca, now, 10*365*24*time.Hour)
	}
	// Four distinct trust roots: four keys, four names.
	keys := map[string]bool{}
	for _, ca := range roots {
		keys[string(ca.SubjectKeyId)] = true
	}
	if len(keys) != 4 {
		t.Errorf("%d distinct CA keys, want 4", len(keys))
	}
}

// checkDates: NotBefore backdated 5 minutes, NotAfter now+validity.
func checkDates(t *testing.T, name string, c *x509.Certificate, now time.Time, validity time.Duration) {
	t.Helper()
	from, to := now.Add(-5*time.Minute).Truncate(time.Second), now.Add(validity).Truncate(time.Second)
	if !c.NotBefore.Equal(from) || !c.NotAfter.Equal(to) {
		t.Errorf("%s valid %s to %s, want %s to %s", name, c.NotBefore, c.NotAfter, from, to)
	}
}

func checkLeaves(t *testing.T, p *plan.Plan, roots map[string]*x509.Certificate, ls []leaf, alg pki.Algorithm, now time.Time) {
	t.Helper()
	if want := len(p.Certs) + len(p.Kubeconfigs) - 1; len(ls) != want {
		t.Errorf("%d leaves, want %d", len(ls), want)
	}
	for _, l := range ls {
		c, ca := l.cert, roots[l.ca]
		// The chain, for exactly the planned usages, in Go.
		opts := x509.VerifyOptions{Roots: x509.NewCertPool(), CurrentTime: now}
		opts.Roots.AddCert(ca)
		for _, u := range l.usages {
			if u == pki.ServerAuth {
				opts.KeyUsages = append(opts.KeyUsages, x509.ExtKeyUsageServerAuth)
			} else {
				opts.KeyUsages = append(opts.KeyUsages, x509.ExtKeyUsageClientAuth)
			}
		}
		if _, err := c.Verify(opts); err != nil {
			t.Errorf("%s does not verify against %s: %v", l.name, l.ca, err)
		}
		for name, other := range roots {
			if name == l.ca {
				continue
			}
			pool := x509.NewCertPool()
			pool.AddCert(other)
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
				t.Errorf("%s verifies against %s as well as %s", l.name, name, l.ca)
			}
			if pki.SignedBy(c, other) {
				t.Errorf("%s signed by %s", l.name, name)
			}
		}
		// Only etcd peer certificates come from the peer CA.
		if (l.kind == "etcd/peer") != (l.ca == plan.EtcdPeerCA) || (l.kind == "etcd/peer") != pki.SignedBy(c, roots[plan.EtcdPeerCA]) {
			t.Errorf("%s (kind %s) and the etcd peer CA: signed %v", l.name, l.kind, pki.SignedBy(c, roots[plan.EtcdPeerCA]))
		}
		if !pki.KeyMatches(c, l.key) {
			t.Errorf("%s: certificate does not match its key", l.name)
		}
		if got := pki.AlgorithmOf(c.PublicKey); got != alg {
			t.Errorf("%s: key %s, want %s", l.name, got, alg)
		}
		if c.IsCA || c.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0 {
			t.Errorf("%s can sign certificates (IsCA %v, key usage %b)", l.name, c.IsCA, c.KeyUsage)
		}
		if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
			t.Errorf("%s lacks digitalSignature", l.name)
		}
		if len(c.ExtKeyUsage) == 0 || !slices.Equal(pki.UsagesOf(c), l.usages) || len(c.UnknownExtKeyUsage) != 0 {
			t.Errorf("%s: extended key usages %v, want %v", l.name, c.ExtKeyUsage, l.usages)
		}
		if len(c.SubjectKeyId) == 0 || !bytes.Equal(c.AuthorityKeyId, ca.SubjectKeyId) {
			t.Errorf("%s: SKI %x, AKI %x, want AKI = CA SKI %x", l.name, c.SubjectKeyId, c.AuthorityKeyId, ca.SubjectKeyId)
		}
		if c.Subject.CommonName != l.req.CommonName || !slices.Equal(c.Subject.Organization, l.req.Organizations) {
			t.Errorf("%s: subject %s, want CN %q O %q", l.name, c.Subject, l.req.CommonName, l.req.Organizations)
		}
		if !slices.Equal(c.DNSNames, l.req.DNSNames) || !slices.EqualFunc(c.IPAddresses, l.req.IPs, net.IP.Equal) {
			t.Errorf("%s: SANs %v %v, want %v %v", l.name, c.DNSNames, c.IPAddresses, l.req.DNSNames, l.req.IPs)
		}
		if slices.Contains(c.Subject.Organization, user.SystemPrivilegedGroup) != (l.name == "super-admin") {
			t.Errorf("%s: O %v", l.name, c.Subject.Organization)
		}
		checkDates(t, l.name, c, now, 365*24*time.Hour)
	}
	// The API server's certificate, in plain terms.
	for _, l := range ls {
		if l.name != "apiserver" {
			continue
		}
		for _, n := range []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "api.example.com"} {
			if err := l.cert.VerifyHostname(n); err != nil {
				t.Errorf("apiserver: %v", err)
			}
		}
		for _, ip := range []string{"10.96.0.1", "fd00:10:96::1", "10.0.0.10", "10.0.0.11"} {
			if err := l.cert.VerifyHostname(ip); err != nil {
				t.Errorf("apiserver: %v", err)
			}
		}
	}
}

// checkOpenSSL runs openssl verify for every leaf: against its CA, for
// each of its purposes, it passes; against the three other CAs it fails.
func checkOpenSSL(t *testing.T, d interface{ Path(string) string }, p *plan.Plan, ls []leaf) {
	t.Helper()
	if _, err := os.Stat(openssl); err != nil {
		t.Skipf("no %s: %v", openssl, err)
	}
	tmp := t.TempDir()
	for _, l := range ls {
		leafFile := d.Path(l.file)
		if l.kind == "kubeconfig" {
			leafFile = filepath.Join(tmp, strings.ReplaceAll(l.name, "/", "_")+".crt")
			if err := os.WriteFile(leafFile, pki.MarshalCert(l.cert), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for _, ca := range p.CAs {
			caFile := d.Path(ca.CertFile())
			if ca.Name != l.ca {
				if out, err := exec.Command(openssl, "verify", "-CAfile", caFile, leafFile).CombinedOutput(); err == nil {
					t.Errorf("openssl verify -CAfile %s %s succeeded:\n%s", ca.CertFile(), l.file, out)
				}
				continue
			}
			for _, u := range l.usages {
				purpose := "sslclient"
				if u == pki.ServerAuth {
					purpose = "sslserver"
				}
				args := []string{"verify", "-x509_strict", "-purpose", purpose, "-CAfile", caFile, leafFile}
				out, err := exec.Command(openssl, args...).CombinedOutput()
				if err != nil || !bytes.HasSuffix(bytes.TrimSpace(out), []byte(": OK")) {
					t.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
		}
		// The client/server split holds for OpenSSL too: a client-only
		// certificate is no TLS server, and the reverse.
		caSpec, _ := p.CA(l.ca)
		for _, u := range []pki.Usage{pki.ServerAuth, pki.ClientAuth} {
			if slices.Contains(l.usages, u) {
				continue
			}
			purpose := map[pki.Usage]string{pki.ServerAuth: "sslserver", pki.ClientAuth: "sslclient"}[u]
			if out, err := exec.Command(openssl, "verify", "-purpose", purpose, "-CAfile", d.Path(caSpec.CertFile()), leafFile).CombinedOutput(); err == nil {
				t.Errorf("%s verifies for %s, which it is not for:\n%s", l.name, purpose, out)
			}
		}
	}
}

func checkSerials(t *testing.T, roots map[string]*x509.Certificate, ls []leaf) {
	t.Helper()
	seen := map[string]string{}
	all := map[string]*x509.Certificate{}
	for n, c := range roots {
		all["CA "+n] = c
	}
	for _, l := range ls {
		all[l.name] = l.cert
	}
	for n, c := range all {
		s := c.SerialNumber
		if s.Sign() <= 0 || s.BitLen() != 127 {
			t.Errorf("%s: serial %x has %d bits, want a positive 128-bit (16-byte) integer", n, s, s.BitLen())
		}
		if other, ok := seen[s.String()]; ok {
			t.Errorf("%s and %s share serial %x", n, other, s)
		}
		seen[s.String()] = n
	}
}

func checkServiceAccount(t *testing.T, d interface {
	Read(string) ([]byte, error)
	ReadSecret(string) ([]byte, error)
}, alg pki.Algorithm) {
	t.Helper()
	keyPEM, err := d.ReadSecret(plan.ServiceAccountKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := d.Read(plan.ServiceAccountPubFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pki.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !pki.PublicKeysEqual(key.Public(), pub) || pki.AlgorithmOf(pub) != alg {
		t.Errorf("sa.pub does not match sa.key (%s)", pki.AlgorithmOf(pub))
	}
}

// TestInitWritesClusterObjects: the bootstrap kubeconfig carries the token
// whose Secret is written beside it, and the RBAC manifest is the table's.
func TestInitWritesClusterObjects(t *testing.T) {
	now := time.Date(2027, 6, 1, 10, 0, 0, 0, time.UTC)
	p := testutil.Plan(t, clusterDoc("ecdsa-p256", 1, 1))
	d, _ := initDir(t, p, clock(now))
	toks, err := provision.ListTokenManifests(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 1 {
		t.Fatalf("%d token manifests, want 1", len(toks))
	}
	tok := toks[0].Token
	if !tok.Expires.Equal(now.Add(24*time.Hour)) || tok.Expired(now) {
		t.Errorf("token expires %s", tok.Expires)
	}
	kc := readKubeconfig(t, d, "bootstrap-kubelet.conf")
	if kc.Credentials.Token != tok.String() || kc.Server != "https://10.0.0.10:6443" {
		t.Errorf("bootstrap kubeconfig carries %q for %s", kc.User, kc.Server)
	}
	ca := readCert(t, d, "pki/ca.crt")
	if len(kc.CAs) != 1 || !bytes.Equal(kc.CAs[0].Raw, ca.Raw) {
		t.Error("bootstrap kubeconfig does not trust pki/ca.crt")
	}
	for _, k := range p.Kubeconfigs {
		kc := readKubeconfig(t, d, k.File())
		if kc.Server != k.Server || kc.ClusterName != "kubernetes" || !bytes.Equal(kc.CAs[0].Raw, ca.Raw) {
			t.Errorf("%s: server %s cluster %s", k.File(), kc.Server, kc.ClusterName)
		}
	}
	rbac, err := d.Read(plan.RBACManifestFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range plan.Bindings() {
		if !bytes.Contains(rbac, []byte("name: "+b.Name+"\n")) {
			t.Errorf("rbac.yaml lacks %s", b.Name)
		}
	}
	sas, err := d.Read(plan.ServiceAccountsManifestFile)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := render.ServiceAccounts(); !bytes.Equal(sas, want) {
		t.Errorf("%s is not the table's manifest", plan.ServiceAccountsManifestFile)
	}
	// The kubeconfigs are complete for client-go.
	data, err := d.ReadSecret("admin.conf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubeconfig.Parse(data); err != nil {
		t.Error(err)
	}
}
