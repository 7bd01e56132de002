package rotate_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/internal/testutil"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/rotate"
	"github.com/bulwark-k8s/bulwark/store"
)

var t0 = time.Date(2031, 3, 14, 15, 9, 26, 0, time.UTC)

const threeNodes = `apiVersion: bulwark.dev/v1alpha1
kind: ClusterConfig
apiEndpoint: 10.0.0.10:6443
controlPlane:
  - {name: cp-1, ips: [10.0.0.11]}
  - {name: cp-2, ips: [10.0.0.12]}
  - {name: cp-3, ips: [10.0.0.13]}
`

// newTree makes a rendered cluster folder.
func newTree(t testing.TB, doc string) (*store.Dir, *plan.Plan) {
	t.Helper()
	p := testutil.Plan(t, doc)
	d, err := store.Open(filepath.Join(t.TempDir(), "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	if _, err := provision.InitAndRender(d, p, render.Options{}, provision.Options{Now: func() time.Time { return t0 }}); err != nil {
		t.Fatal(err)
	}
	return d, p
}

func advance(t testing.TB, d *store.Dir, p *plan.Plan, root string, o rotate.Options) *rotate.Result {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return t0.Add(time.Hour) }
	}
	r, err := rotate.Advance(d, p, root, o)
	if err != nil {
		t.Fatalf("rotate %s %s: %v", root, o.Step, err)
	}
	return r
}

func status(t testing.TB, d *store.Dir, p *plan.Plan, root string) rotate.RootStatus {
	t.Helper()
	all, err := rotate.Status(d, p, rotate.StatusOptions{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.Root == root {
			return s
		}
	}
	t.Fatalf("no status for %s", root)
	return rotate.RootStatus{}
}

// rootFiles are a root's trust file and key file.
func rootFiles(root string) (trust, key string) {
	switch root {
	case "ca":
		return "pki/ca.crt", "pki/ca.key"
	case "etcd-ca":
		return "pki/etcd/ca.crt", "pki/etcd/ca.key"
	case "etcd-peer-ca":
		return "pki/etcd/peer-ca.crt", "pki/etcd/peer-ca.key"
	case "front-proxy-ca":
		return "pki/front-proxy-ca.crt", "pki/front-proxy-ca.key"
	}
	return "pki/sa.pub", "pki/sa.key"
}

func read(t testing.TB, d *store.Dir, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(d.Path(rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// spki returns the DER public keys of every PEM block of a file:
// certificates, public keys and private keys alike.
func spkis(t testing.TB, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return out
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, c.RawSubjectPublicKeyInfo)
		case "PUBLIC KEY":
			out = append(out, b.Bytes)
		default:
			k, err := pki.ParsePrivateKey(pem.EncodeToMemory(b))
			if err != nil {
				t.Fatal(err)
			}
			der, _ := x509.MarshalPKIXPublicKey(k.Public())
			out = append(out, der)
		}
	}
}

// keysIn lists every public key a file holds or embeds (kubeconfigs'
// base64 data included).
func keysIn(t testing.TB, d *store.Dir, rel string) [][]byte {
	data := read(t, d, rel)
	if layout.Classify(rel) == layout.Kubeconfig {
		cfg, err := clientcmd.Load(data)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, c := range cfg.Clusters {
			out = append(out, spkis(t, c.CertificateAuthorityData)...)
		}
		for _, a := range cfg.AuthInfos {
			out = append(out, spkis(t, a.ClientCertificateData)...)
			out = append(out, spkis(t, a.ClientKeyData)...)
		}
		return out
	}
	return spkis(t, data)
}

func allFiles(t testing.TB, d *store.Dir) []string {
	t.Helper()
	files, err := d.Walk(".")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// contains reports the files of the folder that hold a key (as raw SPKI
// or base64 of it, wherever it is).
func holding(t testing.TB, d *store.Dir, spki []byte) []string {
	var out []string
	b64 := []byte(base64.StdEncoding.EncodeToString(spki)[:40])
	for _, f := range allFiles(t, d) {
		switch layout.Classify(f) {
		case layout.Certificate, layout.PublicKey, layout.PrivateKey, layout.Kubeconfig:
			if slices.ContainsFunc(keysIn(t, d, f), func(k []byte) bool { return bytes.Equal(k, spki) }) {
				out = append(out, f)
			}
		default:
			if bytes.Contains(read(t, d, f), b64) {
				out = append(out, f)
			}
		}
	}
	return out
}

// trustKeys is the SPKIs of a root's trust file, in order.
func trustKeys(t testing.TB, d *store.Dir, root string) [][]byte {
	trust, _ := rootFiles(root)
	return keysIn(t, d, trust)
}

func signingKey(t testing.TB, d *store.Dir, root string) []byte {
	_, key := rootFiles(root)
	return keysIn(t, d, key)[0]
}

// leavesOf lists the certificates under pki/ and in kubeconfigs that a
// CA with this key signed or could have (its channel), with their files.
type certAt struct {
	file string
	cert *x509.Certificate
}

func leafCerts(t testing.TB, d *store.Dir) []certAt {
	var out []certAt
	for _, f := range allFiles(t, d) {
		switch layout.Classify(f) {
		case layout.Certificate:
			if strings.HasPrefix(f, "pki/next/") {
				continue
			}
			c, err := pki.ParseCert(read(t, d, f))
			if err != nil {
				t.Fatal(err)
			}
			if !c.IsCA {
				out = append(out, certAt{f, c})
			}
		case layout.Kubeconfig:
			cfg, err := clientcmd.Load(read(t, d, f))
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range cfg.AuthInfos {
				if len(a.ClientCertificateData) > 0 {
					c, _ := pki.ParseCert(a.ClientCertificateData)
					out = append(out, certAt{f, c})
				}
			}
		}
	}
	return out
}

// caCertWithKey finds the CA certificate for a key among a trust file's.
func caCertWithKey(t testing.TB, d *store.Dir, root string, spki []byte) *x509.Certificate {
	trust, _ := rootFiles(root)
	certs, err := pki.ParseCerts(read(t, d, trust))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		if bytes.Equal(c.RawSubjectPublicKeyInfo, spki) {
			return c
		}
	}
	return nil
}

type snap map[string]string

func snapshot(t testing.TB, d *store.Dir) snap {
	s := snap{}
	for _, f := range allFiles(t, d) {
		s[f] = string(read(t, d, f))
	}
	return s
}

// diff lists the files that differ between two snapshots.
func diff(a, b snap) []string {
	var out []string
	for f, v := range a {
		if w, ok := b[f]; !ok || w != v {
			out = append(out, f)
		}
	}
	for f := range b {
		if _, ok := a[f]; !ok {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

func changedFiles(r *rotate.Result) []string {
	var out []string
	for _, c := range r.Changes {
		out = append(out, c.File)
	}
	slices.Sort(out)
	return out
}

func signedBy(c, ca *x509.Certificate) bool {
	return ca != nil && bytes.Equal(c.RawIssuer, ca.RawSubject) && c.CheckSignatureFrom(ca) == nil
}

// TestRotateEveryRoot takes each root through its three steps on a
// three-node folder and checks every file after each, independently of
// the package's own view: the trust file, the key that signs, where the
// new key waits, which CA signed every leaf, what every kubeconfig
// trusts, and after finish that no file holds the old key at all.
func TestRotateEveryRoot(t *testing.T) {
	for _, root := range []string{"ca", "etcd-ca", "etcd-peer-ca", "front-proxy-ca", "sa"} {
		t.Run(root, func(t *testing.T) {
			d, p := newTree(t, threeNodes)
			isCA := root != "sa"
			if s := status(t, d, p, root); s.Step != rotate.None || !s.Complete || s.Next != rotate.Trust || s.Problem != "" {
				t.Fatalf("before: %+v", s)
			}
			old := signingKey(t, d, root)
			var oldCA, newCA *x509.Certificate
			if isCA {
				oldCA = caCertWithKey(t, d, root, old)
			}
			var mine []certAt // the leaves the old CA signed
			if isCA {
				for _, l := range leafCerts(t, d) {
					if signedBy(l.cert, oldCA) {
						mine = append(mine, l)
					}
				}
				if len(mine) == 0 {
					t.Fatal("the old CA signed nothing")
				}
			}
			kcTrusting := func(spki []byte) []string {
				var out []string
				for _, f := range allFiles(t, d) {
					if layout.Classify(f) != layout.Kubeconfig {
						continue
					}
					cfg, _ := clientcmd.Load(read(t, d, f))
					for _, c := range cfg.Clusters {
						if slices.ContainsFunc(spkis(t, c.CertificateAuthorityData), func(k []byte) bool { return bytes.Equal(k, spki) }) {
							out = append(out, f)
						}
					}
				}
				return out
			}
			trustingOld := kcTrusting(old)

			// trust
			before := snapshot(t, d)
			r := advance(t, d, p, root, rotate.Options{})
			if r.Step != rotate.Trust || r.Resumed {
				t.Fatalf("first step: %+v", r)
			}
			if got := diff(before, snapshot(t, d)); !slices.Equal(got, changedFiles(r)) {
				t.Errorf("trust changed %v, reported %v", got, changedFiles(r))
			}
			keys := trustKeys(t, d, root)
			if len(keys) != 2 || !bytes.Equal(keys[0], old) || bytes.Equal(keys[1], old) {
				t.Fatalf("after trust the trust file holds %d keys, want old then new", len(keys))
			}
			nu := keys[1]
			if !bytes.Equal(signingKey(t, d, root), old) {
				t.Error("after trust the old key no longer signs")
			}
			name := strings.TrimSuffix(strings.TrimPrefix(func() string { k, _ := rootFiles(root); return k }(), "pki/"), ".crt")
			if root == "sa" {
				name = "sa"
			}
			if next := keysIn(t, d, "pki/next/"+name+".key"); !bytes.Equal(next[0], nu) {
				t.Error("pki/next holds another key than the new one")
			}
			if isCA {
				newCA = caCertWithKey(t, d, root, nu)
			}
			for _, l := range leafCerts(t, d) {
				if signedBy(l.cert, newCA) {
					t.Errorf("after trust, the new CA signed %s already", l.file)
				}
			}
			for _, f := range trustingOld {
				if !slices.Contains(kcTrusting(nu), f) {
					t.Errorf("after trust, %s does not trust the new CA", f)
				}
			}
			if s := status(t, d, p, root); s.Step != rotate.Trust || !s.Complete || s.Next != rotate.Reissue {
				t.Fatalf("after trust: %+v", s)
			}
			// The same step again changes nothing; a step out of order is refused.
			before = snapshot(t, d)
			if r := advance(t, d, p, root, rotate.Options{Step: rotate.Trust}); !r.AlreadyComplete {
				t.Errorf("trust again: %+v", r)
			}
			if _, err := rotate.Advance(d, p, root, rotate.Options{Step: rotate.Finish}); !rotate.IsInputError(err) {
				t.Errorf("finish after trust: %v, want an input error", err)
			}
			if got := diff(before, snapshot(t, d)); len(got) > 0 {
				t.Errorf("refused or repeated steps changed %v", got)
			}

			// reissue
			before = snapshot(t, d)
			r = advance(t, d, p, root, rotate.Options{})
			if r.Step != rotate.Reissue {
				t.Fatalf("second step: %+v", r)
			}
			if got := diff(before, snapshot(t, d)); !slices.Equal(got, changedFiles(r)) {
				t.Errorf("reissue changed %v, reported %v", got, changedFiles(r))
			}
			if !bytes.Equal(signingKey(t, d, root), nu) {
				t.Error("after reissue the new key does not sign")
			}
			if keys := trustKeys(t, d, root); len(keys) != 2 || !bytes.Equal(keys[0], old) || !bytes.Equal(keys[1], nu) {
				t.Error("after reissue the trust file does not hold the old and the new key")
			}
			if _, err := os.Stat(d.Path("pki/next/" + name + ".key")); !os.IsNotExist(err) {
				t.Errorf("after reissue pki/next/%s.key is still there (%v)", name, err)
			}
			for _, l := range mine {
				var now *x509.Certificate
				for _, c := range leafCerts(t, d) {
					if c.file == l.file && c.cert.Subject.CommonName == l.cert.Subject.CommonName {
						now = c.cert
					}
				}
				if now == nil || !signedBy(now, newCA) || signedBy(now, oldCA) {
					t.Errorf("after reissue %s is not signed by the new CA", l.file)
					continue
				}
				if !bytes.Equal(now.RawSubjectPublicKeyInfo, l.cert.RawSubjectPublicKeyInfo) {
					t.Errorf("reissue changed the key of %s", l.file)
				}
				if !slices.Equal(now.DNSNames, l.cert.DNSNames) || now.Subject.CommonName != l.cert.Subject.CommonName ||
					!slices.Equal(now.Subject.Organization, l.cert.Subject.Organization) || !slices.Equal(now.ExtKeyUsage, l.cert.ExtKeyUsage) {
					t.Errorf("reissue changed the names or usages of %s", l.file)
				}
			}
			if root == "ca" {
				signer := keysIn(t, d, "pki/ca-signer.crt")
				if len(signer) != 1 || !bytes.Equal(signer[0], nu) {
					t.Error("after reissue pki/ca-signer.crt is not the new CA alone")
				}
			}

			// finish
			before = snapshot(t, d)
			r = advance(t, d, p, root, rotate.Options{Force: true})
			if r.Step != rotate.Finish {
				t.Fatalf("third step: %+v", r)
			}
			if got := diff(before, snapshot(t, d)); !slices.Equal(got, changedFiles(r)) {
				t.Errorf("finish changed %v, reported %v", got, changedFiles(r))
			}
			if keys := trustKeys(t, d, root); len(keys) != 1 || !bytes.Equal(keys[0], nu) {
				t.Error("after finish the trust file is not the new key alone")
			}
			if files := holding(t, d, old); len(files) > 0 {
				t.Errorf("after finish the old key is still in %v", files)
			}
			if s := status(t, d, p, root); s.Step != rotate.Finish || !s.Complete || s.Next != rotate.Trust || s.Problem != "" {
				t.Fatalf("after finish: %+v", s)
			}
			if r := advance(t, d, p, root, rotate.Options{Step: rotate.Finish}); !r.AlreadyComplete {
				t.Errorf("finish again: %+v", r)
			}
			// And a second rotation starts from the new key.
			advance(t, d, p, root, rotate.Options{})
			if keys := trustKeys(t, d, root); len(keys) != 2 || !bytes.Equal(keys[0], nu) {
				t.Error("a second rotation does not start from the first one's new key")
			}
		})
	}
}

// TestServiceAccountFinishWaits: finish of sa is refused while a token
// the old key signed may be valid: the rendered API servers cap tokens at
// --service-account-max-token-expiration=24h, counted from the reissue
// step; after that, offline, legacy Secret tokens (which never expire)
// cannot be ruled out. --force goes on.
func TestServiceAccountFinishWaits(t *testing.T) {
	d, p := newTree(t, threeNodes)
	at := func(d time.Duration) func() time.Time { return func() time.Time { return t0.Add(d) } }
	advance(t, d, p, "sa", rotate.Options{Now: at(time.Hour)})
	advance(t, d, p, "sa", rotate.Options{Now: at(2 * time.Hour)})
	if s := status(t, d, p, "sa"); s.FinishAllowed == nil || !s.FinishAllowed.Equal(t0.Add(26*time.Hour)) {
		t.Errorf("status says finish is allowed at %v, want %v", s.FinishAllowed, t0.Add(26*time.Hour))
	}
	before := snapshot(t, d)
	_, err := rotate.Advance(d, p, "sa", rotate.Options{Now: at(3 * time.Hour)})
	var r *rotate.Refusal
	if !errors.As(err, &r) || !r.Until.Equal(t0.Add(26*time.Hour)) || !strings.Contains(r.Msg, "--service-account-max-token-expiration=24h") {
		t.Fatalf("finish 1h after the reissue: %v", err)
	}
	_, err = rotate.Advance(d, p, "sa", rotate.Options{Now: at(27 * time.Hour)})
	if !errors.As(err, &r) || !strings.Contains(r.Msg, "legacy Secret-based") {
		t.Fatalf("finish a day after the reissue, offline: %v", err)
	}
	if got := diff(before, snapshot(t, d)); len(got) > 0 {
		t.Fatalf("refused finishes wrote %v", got)
	}
	if r := advance(t, d, p, "sa", rotate.Options{Now: at(3 * time.Hour), Force: true}); r.Step != rotate.Finish {
		t.Fatalf("forced finish: %+v", r)
	}
	// Without a maximum token lifetime there is no time to wait for: API
	// servers whose manifests bulwark did not render (it renders its own
	// again at each step) and that set none.
	d, p = newTree(t, threeNodes)
	edited := 0
	for _, f := range allFiles(t, d) {
		if layout.Classify(f) == layout.Manifest && strings.HasSuffix(f, "kube-apiserver.yaml") {
			data := strings.Replace(string(read(t, d, f)), "- --service-account-max-token-expiration=24h\n", "", 1)
			data = strings.Replace(data, layout.ManagedByLabel+": "+layout.ManagedBy, layout.ManagedByLabel+": someone-else", 1)
			if err := os.WriteFile(d.Path(f), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			edited++
		}
	}
	if edited == 0 {
		t.Fatal("no API server manifest")
	}
	advance(t, d, p, "sa", rotate.Options{})
	advance(t, d, p, "sa", rotate.Options{})
	if _, err := rotate.Advance(d, p, "sa", rotate.Options{Now: at(1000 * time.Hour)}); !errors.As(err, &r) || !strings.Contains(r.Msg, "without end") {
		t.Fatalf("finish without a token maximum: %v", err)
	}
}

// TestRestartsOnlyWhereNeeded: each step changes the manifests (and so
// restarts the Pods) of exactly the components that read a changed file
// only at start; the others reread their files by themselves.
func TestRestartsOnlyWhereNeeded(t *testing.T) {
	const (
		etcd = "etcd"
		api  = "kube-apiserver"
		kcm  = "kube-controller-manager"
		sch  = "kube-scheduler"
	)
	want := map[string][3][]string{
		// trust, reissue, finish
		"ca":             {{kcm, sch}, {kcm, sch}, {kcm, sch}},
		"etcd-ca":        {{etcd, api}, {api}, {etcd, api}},
		"etcd-peer-ca":   {{etcd}, {}, {etcd}},
		"front-proxy-ca": {{}, {}, {}},
		"sa":             {{api}, {api, kcm}, {api}},
	}
	for root, steps := range want {
		t.Run(root, func(t *testing.T) {
			d, p := newTree(t, threeNodes)
			for i, comps := range steps {
				r := advance(t, d, p, root, rotate.Options{Force: true})
				var restarted, manifests []string
				for _, pe := range r.Pods {
					if pe.Restart && !slices.Contains(restarted, pe.Component) {
						restarted = append(restarted, pe.Component)
					}
				}
				for _, c := range r.Changes {
					if layout.Classify(c.File) == layout.Manifest {
						comp := strings.TrimSuffix(filepath.Base(c.File), ".yaml")
						if !slices.Contains(manifests, comp) {
							manifests = append(manifests, comp)
						}
					}
				}
				slices.Sort(restarted)
				slices.Sort(manifests)
				if !slices.Equal(restarted, comps) || !slices.Equal(manifests, comps) {
					t.Errorf("%s: restarts %v and manifests %v changed, want %v", rotate.Steps()[i], restarted, manifests, comps)
				}
			}
		})
	}
}

// TestReissueNewKey: with --new-key every reissued certificate gets a new
// key, written beside it (or into its kubeconfig), that matches it.
func TestReissueNewKey(t *testing.T) {
	d, p := newTree(t, threeNodes)
	before := snapshot(t, d)
	advance(t, d, p, "etcd-ca", rotate.Options{})
	advance(t, d, p, "ca", rotate.Options{})
	advance(t, d, p, "ca", rotate.Options{NewKey: true})
	for _, f := range []string{"pki/apiserver.key", "pki/apiserver-kubelet-client.key"} {
		if before[f] == string(read(t, d, f)) {
			t.Errorf("%s kept its key", f)
		}
		c, err := pki.ParseCert(read(t, d, strings.TrimSuffix(f, ".key")+".crt"))
		if err != nil {
			t.Fatal(err)
		}
		k, err := pki.ParsePrivateKey(read(t, d, f))
		if err != nil || !pki.KeyMatches(c, k) {
			t.Errorf("%s does not match its certificate (%v)", f, err)
		}
	}
	for _, f := range []string{"pki/apiserver-etcd-client.key", "pki/etcd/cp-1/server.key"} {
		if before[f] != string(read(t, d, f)) {
			t.Errorf("%s, another root's, changed", f)
		}
	}
	old := keysIn(t, d, "admin.conf")
	if before["admin.conf"] == string(read(t, d, "admin.conf")) || len(old) != 4 {
		t.Errorf("admin.conf: %d keys", len(old))
	}
	if !bytes.Equal(old[2], old[3]) {
		t.Error("admin.conf's client key does not match its certificate")
	}
}
