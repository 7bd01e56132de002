package cli_test

// Every piece of advice bulwark can print, followed to its end through
// the real binary: each problem code of package provision (enumerated
// from its source, so that a new one without a scenario fails here) is
// produced on a real tree, its fix is run exactly as printed (sh -c, with
// --dir and --config as printed), and init is run again, following any
// further fix, until it keeps everything. Every key survives but those a
// --new-key fix names.

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/internal/testutil"
)

// suggestion breaks a tree so that a command prints a problem of one
// code, with a fix.
type suggestion struct {
	code    string // provision.Code's value
	name    string
	breakIt func(t *testing.T, dir string)
	// start is the command that reports the problem (init if empty); DIR
	// is the folder, CFG a configuration written from cfg.
	start []string
	cfg   string
	// reason is what the problem's line says.
	reason string
}

// reissue returns cert (PEM) issued again by the folder's CA caRel with
// edit applied to a copy of it.
func reissue(t *testing.T, dir string, certPEM []byte, caRel string, edit func(*x509.Certificate)) []byte {
	t.Helper()
	return reissueKey(t, dir, certPEM, caRel, nil, edit)
}

// reissueFor is reissue for another public key.
func reissueFor(t *testing.T, dir string, certPEM []byte, caRel string, pub crypto.PublicKey) []byte {
	t.Helper()
	return reissueKey(t, dir, certPEM, caRel, pub, func(c *x509.Certificate) { c.SubjectKeyId = nil })
}

// reissueKey is reissue for the public key pub, the certificate's own
// when nil.
func reissueKey(t *testing.T, dir string, certPEM []byte, caRel string, pub crypto.PublicKey, edit func(*x509.Certificate)) []byte {
	t.Helper()
	leaf, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := parseCertPEM(readFile(t, dir, caRel+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := parseKeyPEM(readFile(t, dir, caRel+".key"))
	if err != nil {
		t.Fatal(err)
	}
	if pub == nil {
		pub = leaf.PublicKey
	}
	tmpl := *leaf
	tmpl.SignatureAlgorithm, tmpl.AuthorityKeyId, tmpl.RawSubject = 0, nil, nil
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	if edit != nil {
		edit(&tmpl)
	}
	parent := ca
	if tmpl.IsCA && string(tmpl.RawSubject) == string(leaf.RawIssuer) && leaf.CheckSignatureFrom(leaf) == nil {
		parent = &tmpl // a CA reissued by its own key
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, parent, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyPEM(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// selfSigned is a CA certificate for key, as an imported CA might be.
func selfSigned(t *testing.T, key crypto.Signer, cn string, edit func(*x509.Certificate)) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(5 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// editKubeconfig rewrites a kubeconfig's only cluster and user.
func editKubeconfig(t *testing.T, dir, conf string, edit func(cluster, user map[string]any)) {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(readFile(t, dir, conf), &doc); err != nil {
		t.Fatal(err)
	}
	cluster := doc["clusters"].([]any)[0].(map[string]any)["cluster"].(map[string]any)
	user := doc["users"].([]any)[0].(map[string]any)["user"].(map[string]any)
	edit(cluster, user)
	data, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	breakWith(conf, data)(t, dir)
}

func remove(rels ...string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		for _, r := range rels {
			if err := os.Remove(filepath.Join(dir, r)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func past(c *x509.Certificate) {
	c.NotBefore, c.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
}

// tokenOf is the token bootstrap-kubelet.conf carries.
func tokenOf(t *testing.T, dir string) string {
	t.Helper()
	kc, err := parseKubeconfig(readFile(t, dir, "bootstrap-kubelet.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return kc.Users[0].User.Token
}

func suggestions() []suggestion {
	return []suggestion{
		{code: "corrupt-key", name: "a leaf's key", breakIt: breakWith("pki/apiserver.key", garbagePEM("PRIVATE KEY")), reason: "pki/apiserver.key: is not a valid PEM private key"},
		{code: "corrupt-key", name: "the service-account key", breakIt: breakWith("pki/sa.key", []byte("junk\n")), reason: "pki/sa.key: is not a valid PEM private key"},
		{code: "corrupt-cert", name: "a leaf's certificate", breakIt: breakWith("pki/etcd/peer.crt", garbagePEM("CERTIFICATE")), reason: "pki/etcd/peer.crt: is not a valid PEM certificate"},
		{code: "corrupt-cert", name: "a CA's certificate (dead end before)", breakIt: breakWith("pki/etcd/ca.crt", []byte("{}\n")), reason: "pki/etcd/ca.crt: is not a valid PEM certificate"},
		{code: "corrupt-cert", name: "a CA's certificate, its key gone", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/front-proxy-ca.crt", []byte("{}\n"))(t, dir)
			remove("pki/front-proxy-ca.key")(t, dir)
		}, reason: "pki/front-proxy-ca.crt: is not a valid PEM certificate, and pki/front-proxy-ca.key is missing"},
		{code: "corrupt-kubeconfig", name: "a kubeconfig", breakIt: truncate("admin.conf", 0.6), reason: "admin.conf:"},
		{code: "corrupt-ca-key", name: "a CA's key", breakIt: breakWith("pki/etcd/peer-ca.key", garbagePEM("PRIVATE KEY")), reason: "pki/etcd/peer-ca.key: is not a valid PEM private key"},
		{code: "corrupt-ca-key", name: "a CA's key, seen by renew", breakIt: breakWith("pki/ca.key", garbagePEM("PRIVATE KEY")),
			start: []string{"certs", "renew", "apiserver", "--dir", "DIR"}, reason: "pki/ca.key: is not a valid PEM private key"},
		{code: "missing-key", name: "a leaf's key", breakIt: remove("pki/apiserver-kubelet-client.key"), reason: "pki/apiserver-kubelet-client.key: is missing while"},
		{code: "missing-sa-key", name: "the service-account key", breakIt: remove("pki/sa.key"), reason: "pki/sa.key: is missing while pki/sa.pub exists"},
		{code: "bad-sa-pub", name: "sa.pub of another key", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/sa.pub", readFile(t, newTree(t, oneNodeConfig), "pki/sa.pub"))(t, dir)
		}, reason: "pki/sa.pub: does not match pki/sa.key"},
		{code: "bad-sa-pub", name: "sa.pub broken", breakIt: breakWith("pki/sa.pub", []byte("nope\n")), reason: "pki/sa.pub: is not a valid PEM public key"},
		{code: "not-ca", name: "a leaf where a CA should be", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/etcd/ca.crt", readFile(t, dir, "pki/etcd/server.crt"))(t, dir)
		}, reason: "pki/etcd/ca.crt: is not a self-signed CA certificate"},
		{code: "ca-key-mismatch", name: "another cluster's CA certificate", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/ca.crt", readFile(t, newTree(t, oneNodeConfig), "pki/ca.crt"))(t, dir)
		}, reason: "pki/ca.crt: does not match pki/ca.key"},
		{code: "expired", name: "a leaf", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/front-proxy-client.crt", reissue(t, dir, readFile(t, dir, "pki/front-proxy-client.crt"), "pki/front-proxy-ca", past))(t, dir)
		}, reason: "pki/front-proxy-client.crt: expired on"},
		{code: "expired", name: "a CA", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/etcd/peer-ca.crt", reissue(t, dir, readFile(t, dir, "pki/etcd/peer-ca.crt"), "pki/etcd/peer-ca", past))(t, dir)
		}, reason: "pki/etcd/peer-ca.crt: expired on"},
		{code: "key-mismatch", name: "keys swapped", breakIt: swap("pki/apiserver-kubelet-client.key", "pki/front-proxy-client.key"), reason: "does not match its private key"},
		{code: "wrong-issuer", name: "signed by another channel's CA", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/apiserver.crt", reissue(t, dir, readFile(t, dir, "pki/apiserver.crt"), "pki/etcd/ca", nil))(t, dir)
		}, reason: "pki/apiserver.crt: is not signed by pki/ca.crt"},
		{code: "orphan", name: "a CA's files removed (dead end before)", breakIt: remove("pki/etcd/ca.crt", "pki/etcd/ca.key"), reason: "pki/etcd/ca.crt: is missing with its key, while 3 certificates"},
		{code: "orphan", name: "the cluster CA removed, seen by renew", breakIt: remove("pki/ca.crt", "pki/ca.key"),
			start: []string{"certs", "renew", "apiserver", "--dir", "DIR"}, reason: "pki/ca.crt: is missing, with its key"},
		{code: "identity", name: "system:masters added", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/front-proxy-client.crt", reissue(t, dir, readFile(t, dir, "pki/front-proxy-client.crt"), "pki/front-proxy-ca",
				func(c *x509.Certificate) {
					c.Subject = pkix.Name{CommonName: "front-proxy-client", Organization: []string{"system:masters"}}
				}))(t, dir)
		}, reason: `pki/front-proxy-client.crt: has O ["system:masters"]`},
		{code: "sans", name: "a new node address", start: []string{"init", "--dir", "DIR", "--config", "CFG"},
			cfg:    strings.Replace(oneNodeConfig, "ips: [10.0.0.11]", "ips: [10.0.0.11, 10.0.0.99]", 1),
			reason: "does not cover 10.0.0.99"},
		{code: "server", name: "a kubeconfig moved", breakIt: func(t *testing.T, dir string) {
			editKubeconfig(t, dir, "scheduler.conf", func(c, _ map[string]any) { c["server"] = "https://10.9.9.9:6443" })
		}, reason: "scheduler.conf: points at https://10.9.9.9:6443"},
		{code: "untrusted", name: "a kubeconfig trusting another CA", breakIt: func(t *testing.T, dir string) {
			editKubeconfig(t, dir, "controller-manager.conf", func(c, _ map[string]any) {
				c["certificate-authority-data"] = base64.StdEncoding.EncodeToString(readFile(t, dir, "pki/front-proxy-ca.crt"))
			})
		}, reason: "controller-manager.conf: does not trust pki/ca.crt"},
		{code: "untrusted", name: "a kubeconfig trusting another CA beside the cluster CA", breakIt: func(t *testing.T, dir string) {
			editKubeconfig(t, dir, "admin.conf", func(c, _ map[string]any) {
				c["certificate-authority-data"] = base64.StdEncoding.EncodeToString(append(readFile(t, dir, "pki/ca.crt"), readFile(t, dir, "pki/front-proxy-ca.crt")...))
			})
		}, reason: "admin.conf: also trusts a CA \"front-proxy-ca\" (key "},
		{code: "no-client-cert", name: "a kubeconfig with a token", breakIt: func(t *testing.T, dir string) {
			editKubeconfig(t, dir, "admin.conf", func(_, u map[string]any) {
				delete(u, "client-certificate-data")
				delete(u, "client-key-data")
				u["token"] = "abcdef.0123456789abcdef"
			})
		}, reason: "admin.conf: holds no client certificate"},
		{code: "bootstrap", name: "a stale bootstrap kubeconfig (its Secret gone; dead end before)", breakIt: func(t *testing.T, dir string) {
			remove("cluster/bootstrap-token-"+tokenOf(t, dir)[:6]+".yaml")(t, dir)
		}, reason: "bootstrap-kubelet.conf: holds token"},
		{code: "bootstrap", name: "a malformed bootstrap token", breakIt: func(t *testing.T, dir string) {
			editKubeconfig(t, dir, "bootstrap-kubelet.conf", func(_, u map[string]any) { u["token"] = "not-a-token" })
		}, reason: "bootstrap-kubelet.conf: holds a malformed bootstrap token"},
		{code: "bootstrap", name: "a bootstrap kubeconfig that does not parse", breakIt: breakWith("bootstrap-kubelet.conf", []byte("{{{\n")),
			reason: "bootstrap-kubelet.conf:"},
		// Trust roots and leaves bulwark must not build on.
		{code: "trust", name: "etcd's CA a copy of the cluster CA", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/etcd/ca.crt", readFile(t, dir, "pki/ca.crt"))(t, dir)
			breakWith("pki/etcd/ca.key", readFile(t, dir, "pki/ca.key"))(t, dir)
		}, reason: "pki/etcd/ca.crt: it is CA \"kubernetes\" where \"etcd-ca\" belongs"},
		{code: "trust", name: "two CAs swapped", breakIt: func(t *testing.T, dir string) {
			swap("pki/ca.crt", "pki/front-proxy-ca.crt")(t, dir)
			swap("pki/ca.key", "pki/front-proxy-ca.key")(t, dir)
		}, reason: "pki/ca.crt: it is CA \"front-proxy-ca\" where \"kubernetes\" belongs (swapped with or copied from pki/front-proxy-ca.crt?)"},
		{code: "trust", name: "an imported RSA-1024 CA", breakIt: func(t *testing.T, dir string) {
			key := rsaKey(t, 1024)
			breakWith("pki/front-proxy-ca.key", keyPEM(t, key))(t, dir)
			breakWith("pki/front-proxy-ca.crt", selfSigned(t, key, "front-proxy-ca", nil))(t, dir)
		}, reason: "pki/front-proxy-ca.crt: its key is weak (RSA 1024 bits)"},
		{code: "not-ca", name: "a CA without keyCertSign", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/etcd/peer-ca.crt", reissue(t, dir, readFile(t, dir, "pki/etcd/peer-ca.crt"), "pki/etcd/peer-ca",
				func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature }))(t, dir)
		}, reason: "pki/etcd/peer-ca.crt: is not a self-signed CA certificate"},
		{code: "trust", name: "a CA that may sign CAs", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/front-proxy-ca.crt", reissue(t, dir, readFile(t, dir, "pki/front-proxy-ca.crt"), "pki/front-proxy-ca",
				func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = -1, false }))(t, dir)
		}, reason: "pki/front-proxy-ca.crt: it may sign other CAs"},
		{code: "trust", name: "a leaf that is a CA", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/apiserver-kubelet-client.crt", reissue(t, dir, readFile(t, dir, "pki/apiserver-kubelet-client.crt"), "pki/ca",
				func(c *x509.Certificate) { c.IsCA, c.BasicConstraintsValid = true, true }))(t, dir)
		}, reason: "pki/apiserver-kubelet-client.crt: it is a CA"},
		{code: "trust", name: "a wildcard name", breakIt: func(t *testing.T, dir string) {
			editKubeconfig(t, dir, "admin.conf", func(_, u map[string]any) {
				certPEM, err := base64.StdEncoding.DecodeString(u["client-certificate-data"].(string))
				if err != nil {
					t.Fatal(err)
				}
				u["client-certificate-data"] = base64.StdEncoding.EncodeToString(reissue(t, dir, certPEM, "pki/ca",
					func(c *x509.Certificate) { c.DNSNames = []string{"*.example.com"} }))
			})
		}, reason: "admin.conf: it names *.example.com"},
		{code: "trust", name: "two certificates on one key", breakIt: func(t *testing.T, dir string) {
			other := readFile(t, dir, "pki/apiserver-kubelet-client.key")
			k, err := parseKeyPEM(other)
			if err != nil {
				t.Fatal(err)
			}
			breakWith("pki/front-proxy-client.key", other)(t, dir)
			breakWith("pki/front-proxy-client.crt", reissueFor(t, dir, readFile(t, dir, "pki/front-proxy-client.crt"), "pki/front-proxy-ca", k.Public()))(t, dir)
		}, reason: "pki/front-proxy-client.crt: it is on the same key as pki/apiserver-kubelet-client.crt"},
		{code: "trust", name: "a weak leaf key", breakIt: func(t *testing.T, dir string) {
			key := rsaKey(t, 1024)
			breakWith("pki/front-proxy-client.key", keyPEM(t, key))(t, dir)
			breakWith("pki/front-proxy-client.crt", reissueFor(t, dir, readFile(t, dir, "pki/front-proxy-client.crt"), "pki/front-proxy-ca", key.Public()))(t, dir)
		}, reason: "pki/front-proxy-client.crt: its key is weak (RSA 1024 bits)"},
		{code: "trust", name: "another CA appended to a CA's file", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/front-proxy-ca.crt", append(readFile(t, dir, "pki/front-proxy-ca.crt"), readFile(t, dir, "pki/etcd/peer-ca.crt")...))(t, dir)
		}, reason: "pki/front-proxy-ca.crt: it holds 1 other certificate(s) beside its own"},
		{code: "trust", name: "another key appended to sa.pub", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/sa.pub", append(readFile(t, dir, "pki/sa.pub"), readFile(t, newTree(t, oneNodeConfig), "pki/sa.pub")...))(t, dir)
		}, reason: "pki/sa.pub: holds 1 other key(s) beside pki/sa.key's, and no rotation of sa that agrees with the files is recorded"},
		{code: "trust", name: "the service-account key is the cluster CA's", breakIt: func(t *testing.T, dir string) {
			breakWith("pki/sa.key", readFile(t, dir, "pki/ca.key"))(t, dir)
			remove("pki/sa.pub")(t, dir)
		}, reason: "pki/sa.key: it is pki/ca.crt's key"},
		{code: "bad-token-secret", name: "a token Secret that does not parse", breakIt: func(t *testing.T, dir string) {
			breakWith("cluster/bootstrap-token-"+tokenOf(t, dir)[:6]+".yaml", []byte("kind: Secret\nmetadata: [\n"))(t, dir)
		}, reason: "cluster/bootstrap-token-"},
	}
}

// noFix are the codes that never name a command, and the test that shows
// each: what no command can do (restore a lost encryption key, read a
// file it may not, sign for an external CA, adopt a foreign cluster).
var noFix = map[string]string{
	"unreadable":     "TestNoFix",
	"missing-ca-key": "TestNoFix",
	"encryption":     "TestNoFix, TestMissingEncryptionConfig",
	"foreign":        "TestKubeadmTree",
}

// TestEverySuggestionConverges: see the file's comment.
func TestEverySuggestionConverges(t *testing.T) {
	codes := problemCodes(t)
	covered := map[string]bool{}
	for _, s := range suggestions() {
		covered[s.code] = true
	}
	for _, c := range codes {
		if _, ok := noFix[c]; !covered[c] && !ok {
			t.Errorf("problem code %q has no scenario here", c)
		}
	}
	base := binTree(t, oneNodeConfig)
	for _, s := range suggestions() {
		t.Run(s.code+": "+s.name, func(t *testing.T) {
			if !slices.Contains(codes, s.code) {
				t.Fatalf("no problem code %q in package provision", s.code)
			}
			dir := filepath.Join(t.TempDir(), "cluster")
			copyTree(t, base, dir)
			if s.breakIt != nil {
				s.breakIt(t, dir)
			}
			keys := keyIDs(t, dir)
			start := s.start
			if start == nil {
				start = []string{"init", "--dir", "DIR"}
			}
			var cfgArgs []string
			args := slices.Clone(start)
			for i, a := range args {
				switch a {
				case "DIR":
					args[i] = dir
				case "CFG":
					args[i] = writeFile(t, "changed.yaml", s.cfg)
					cfgArgs = []string{"--config", args[i]}
				}
			}
			before := snapshot(t, dir)
			r := runBin(t, args...)
			lines := expectRefusal(t, r, cli.ExitError, s.reason)
			unchanged(t, dir, before)
			var fixes []string
			for _, l := range lines {
				if strings.Contains(l, s.reason) && fixIn(l) == "" {
					t.Fatalf("the problem names no fix: %s", l)
				}
				if f := fixIn(l); f != "" && !slices.Contains(fixes, f) {
					fixes = append(fixes, f)
				}
			}
			for _, f := range fixes {
				followFix(t, dir, f)
			}
			followed := append(fixes, converge(t, dir, cfgArgs...)...)
			replaced := map[string]bool{}
			for _, f := range followed {
				words := shellWords(t, f)
				if !slices.Contains(words, "--new-key") {
					continue
				}
				for _, n := range words[2:] {
					if strings.HasPrefix(n, "-") {
						break
					}
					replaced["pki/"+n+".key"], replaced[n+".conf"] = true, true
				}
			}
			after := keyIDs(t, dir)
			for f, k := range keys {
				if k == "broken" || replaced[f] || strings.HasPrefix(k, "token ") {
					continue
				}
				if after[f] != k {
					t.Errorf("%s: its key was replaced, though no --new-key fix named it (fixes: %q)", f, followed)
				}
			}
			rep := checkTree(t, dir, time.Now())
			opensslVerify(t, dir, rep)
		})
	}
}

// problemCodes reads every provision.Code value from its source.
func problemCodes(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "provision", "problems.go"))
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, m := range regexp.MustCompile(`(?m)^\s+Code\w+\s+Code = "([a-z-]+)"`).FindAllStringSubmatch(string(src), -1) {
		codes = append(codes, m[1])
	}
	if len(codes) < 20 {
		t.Fatalf("found only %d problem codes in provision/problems.go", len(codes))
	}
	return codes
}

// copyTree copies a folder as it is (modes, times).
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}

// TestNoFix: the problems no command can fix name none, and say what to
// do instead, with exit 1 and nothing changed.
func TestNoFix(t *testing.T) {
	base := binTree(t, oneNodeConfig)
	for _, tc := range []struct {
		name    string
		breakIt func(t *testing.T, dir string)
		uid     int
		reason  string
	}{
		{"an external CA without its key, and a leaf it must sign", remove("pki/front-proxy-ca.key", "pki/front-proxy-client.crt", "pki/front-proxy-client.key"), 0,
			"pki/front-proxy-ca.key: is missing, and pki/front-proxy-client.crt must be signed by it (an external CA"},
		{"an external CA certificate that is not a CA", func(t *testing.T, dir string) {
			breakWith("pki/front-proxy-ca.crt", readFile(t, dir, "pki/front-proxy-client.crt"))(t, dir)
			remove("pki/front-proxy-ca.key")(t, dir)
		}, 0, "pki/front-proxy-ca.crt: is not a self-signed CA certificate, and pki/front-proxy-ca.key is missing"},
		{"the encryption key lost", remove("encryption-config.yaml"), 0, "encryption-config.yaml: is missing"},
		{"a key this user may not read", func(t *testing.T, dir string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to run as another user")
			}
			reachable(t, bulwarkBin)
			if out, err := exec.Command("chown", "-R", "65534:65534", dir).CombinedOutput(); err != nil {
				t.Fatalf("chown: %v %s", err, out)
			}
			if err := os.Chown(filepath.Join(dir, "pki/apiserver.key"), 0, 0); err != nil {
				t.Fatal(err)
			}
			reachable(t, dir)
		}, nobody, "pki/apiserver.key: cannot be read: permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cluster")
			copyTree(t, base, dir)
			tc.breakIt(t, dir)
			before := snapshot(t, dir)
			var r result
			if tc.uid != 0 {
				r = runAs(t, tc.uid, "init", "--dir", dir)
			} else {
				r = runBin(t, "init", "--dir", dir)
			}
			for _, l := range expectRefusal(t, r, cli.ExitError, tc.reason) {
				if strings.Contains(l, tc.reason) && fixIn(l) != "" {
					t.Errorf("a problem no command can fix names one: %s", l)
				}
			}
			unchanged(t, dir, before)
		})
	}
}
