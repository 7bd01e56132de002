package provision_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/bulwark-k8s/bulwark/internal/testutil"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/store"
)

var t0 = time.Date(2027, 6, 1, 10, 0, 0, 123, time.UTC)

func fastPlan(t testing.TB, extraCPIPs ...string) *plan.Plan {
	return testutil.Plan(t, clusterDoc("ecdsa-p256", 1, 1, extraCPIPs...))
}

// TestInitIsIdempotent: a second run keeps every file byte for byte.
func TestInitIsIdempotent(t *testing.T) {
	p := testutil.Plan(t, clusterDoc("ecdsa-p256", 3, 3))
	d, first := initDir(t, p, clock(t0))
	before := snapshot(t, d)
	second := runInit(t, d, p, clock(t0.Add(time.Hour)))
	if diffs := diffSnapshots(before, snapshot(t, d)); len(diffs) > 0 {
		t.Errorf("second run changed the folder: %v", diffs)
	}
	if second.Count(provision.Kept) != len(second) {
		t.Errorf("second run: %d kept of %d", second.Count(provision.Kept), len(second))
	}
	// The second run considers what the first wrote. (It does not list the
	// token Secret: with bootstrap-kubelet.conf present it never reads it.)
	for _, r := range second {
		if action(first, r.File) != provision.Created {
			t.Errorf("second run lists %s, which the first did not create", r.File)
		}
	}
	if len(second) < len(first)-1 {
		t.Errorf("second run considered %d files, the first wrote %d", len(second), len(first))
	}
}

// TestInitIssuesForExistingKey: a certificate lost while its key is kept
// is issued again for that key.
func TestInitIssuesForExistingKey(t *testing.T) {
	p := fastPlan(t)
	d, _ := initDir(t, p, clock(t0))
	before := snapshot(t, d)
	for _, f := range []string{"pki/apiserver.crt", "pki/etcd/peer.crt"} {
		if err := os.Remove(d.Path(f)); err != nil {
			t.Fatal(err)
		}
	}
	sum := runInit(t, d, p, clock(t0.Add(time.Minute)))
	for f, want := range map[string]provision.Action{
		"pki/apiserver.crt": provision.Issued, "pki/apiserver.key": provision.Kept,
		"pki/etcd/peer.crt": provision.Issued, "pki/etcd/peer.key": provision.Kept,
		"pki/ca.crt": provision.Kept,
	} {
		if got := action(sum, f); got != want {
			t.Errorf("%s: %s, want %s", f, got, want)
		}
	}
	diffs := diffSnapshots(before, snapshot(t, d))
	if len(diffs) != 2 || diffs[0] != "changed pki/apiserver.crt" || diffs[1] != "changed pki/etcd/peer.crt" {
		t.Errorf("changes %v, want the two certificates only", diffs)
	}
	for _, name := range []string{"apiserver", "etcd/peer"} {
		c := readCert(t, d, "pki/"+name+".crt")
		if !pki.KeyMatches(c, readKey(t, d, "pki/"+name+".key")) {
			t.Errorf("%s issued for another key", name)
		}
	}
	if err := pki.VerifyLeaf(readCert(t, d, "pki/etcd/peer.crt"), readCert(t, d, "pki/etcd/peer-ca.crt"), []pki.Usage{pki.ServerAuth, pki.ClientAuth}, t0); err != nil {
		t.Error(err)
	}
}

// TestInitReissuesLostCACertificate: a CA certificate lost while its key
// is kept is issued again; the leaves it signed still verify, and nothing
// else changes.
func TestInitReissuesLostCACertificate(t *testing.T) {
	for _, caName := range []string{plan.ClusterCA, plan.EtcdCA, plan.EtcdPeerCA, plan.FrontProxyCA} {
		t.Run(caName, func(t *testing.T) {
			p := fastPlan(t)
			d, _ := initDir(t, p, clock(t0))
			spec, _ := p.CA(caName)
			old := readCert(t, d, spec.CertFile())
			before := snapshot(t, d)
			if err := os.Remove(d.Path(spec.CertFile())); err != nil {
				t.Fatal(err)
			}
			sum := runInit(t, d, p, clock(t0.Add(24*time.Hour)))
			if action(sum, spec.CertFile()) != provision.Issued || action(sum, spec.KeyFile()) != provision.Kept {
				t.Errorf("summary %v", sum)
			}
			// The cluster CA's signing certificate alone follows it.
			want := []string{"changed " + spec.CertFile()}
			if spec.Signer {
				want = []string{"changed " + spec.SignerCertFile(), "changed " + spec.CertFile()}
			}
			if diffs := diffSnapshots(before, snapshot(t, d)); !slices.Equal(diffs, want) {
				t.Errorf("changes %v, want %v", diffs, want)
			}
			ca := readCert(t, d, spec.CertFile())
			if ca.SerialNumber.Cmp(old.SerialNumber) == 0 || !pki.PublicKeysEqual(ca.PublicKey, old.PublicKey) {
				t.Error("the CA was not re-issued for its own key")
			}
			n := 0
			for _, l := range leaves(t, d, p) {
				if l.ca != caName {
					continue
				}
				n++
				if err := pki.VerifyLeaf(l.cert, ca, l.usages, t0.Add(24*time.Hour)); err != nil {
					t.Errorf("old leaf %s does not verify against the re-issued CA: %v", l.name, err)
				}
			}
			if n == 0 {
				t.Fatal("no leaves checked")
			}
		})
	}
}

// problemCase breaks a built folder in one way; Init must refuse with a
// Problem naming the renew command, and write nothing; Renew then fixes it
// without touching any key.
type problemCase struct {
	name    string
	renew   string // the plan name to renew
	file    string // the file the Problem names
	reason  string
	breakIt func(t *testing.T, d *store.Dir, p *plan.Plan)
	// planAfter is the plan Init and Renew run with after the break;
	// nil: the same plan.
	planAfter func(t *testing.T) *plan.Plan
}

func problemCases() []problemCase {
	return []problemCase{
		{
			name: "key does not match certificate", renew: "apiserver", file: "pki/apiserver.crt", reason: "does not match its private key",
			breakIt: func(t *testing.T, d *store.Dir, _ *plan.Plan) {
				k, err := pki.GenerateKey(pki.ECDSAP256, nil)
				if err != nil {
					t.Fatal(err)
				}
				other, err := pki.MarshalPrivateKey(k)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.ReplaceSecret("pki/apiserver.key", other); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "signed by another CA", renew: "apiserver", file: "pki/apiserver.crt", reason: "is not signed by pki/ca.crt",
			breakIt: func(t *testing.T, d *store.Dir, p *plan.Plan) {
				resign(t, d, p, "apiserver", plan.FrontProxyCA, nil)
			},
		},
		{
			name: "common name changed", renew: "apiserver-kubelet-client", file: "pki/apiserver-kubelet-client.crt", reason: `has CN "system:admin"`,
			breakIt: func(t *testing.T, d *store.Dir, p *plan.Plan) {
				resign(t, d, p, "apiserver-kubelet-client", plan.ClusterCA, func(r *pki.Request) { r.CommonName = "system:admin" })
			},
		},
		{
			name: "organization added", renew: "front-proxy-client", file: "pki/front-proxy-client.crt", reason: "has O",
			breakIt: func(t *testing.T, d *store.Dir, p *plan.Plan) {
				resign(t, d, p, "front-proxy-client", plan.FrontProxyCA, func(r *pki.Request) { r.Organizations = []string{user.SystemPrivilegedGroup} })
			},
		},
		{
			name: "usage changed", renew: "etcd/peer", file: "pki/etcd/peer.crt", reason: "has usages",
			breakIt: func(t *testing.T, d *store.Dir, p *plan.Plan) {
				resign(t, d, p, "etcd/peer", plan.EtcdPeerCA, func(r *pki.Request) { r.Usages = []pki.Usage{pki.ClientAuth} })
			},
		},
		{
			name: "SAN no longer covered", renew: "apiserver", file: "pki/apiserver.crt", reason: "does not cover 10.0.0.99",
			breakIt:   func(*testing.T, *store.Dir, *plan.Plan) {},
			planAfter: func(t *testing.T) *plan.Plan { return fastPlan(t, "10.0.0.99") },
		},
		{
			name: "kubeconfig trusting another CA", renew: "nodes/cp-1/controller-manager", file: "nodes/cp-1/controller-manager.conf", reason: "does not trust pki/ca.crt",
			breakIt: func(t *testing.T, d *store.Dir, _ *plan.Plan) {
				data, err := d.ReadSecret("nodes/cp-1/controller-manager.conf")
				if err != nil {
					t.Fatal(err)
				}
				kc, err := kubeconfig.Parse(data)
				if err != nil {
					t.Fatal(err)
				}
				out, err := kubeconfig.Build(kubeconfig.Spec{ClusterName: kc.ClusterName, Server: kc.Server, CA: readCert(t, d, "pki/front-proxy-ca.crt"),
					User: kc.User, Credentials: kc.Credentials})
				if err != nil {
					t.Fatal(err)
				}
				if err := d.ReplaceSecret("nodes/cp-1/controller-manager.conf", out); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "kubeconfig with system:masters", renew: "admin", file: "admin.conf", reason: "has O",
			breakIt: func(t *testing.T, d *store.Dir, p *plan.Plan) {
				data, err := d.ReadSecret("admin.conf")
				if err != nil {
					t.Fatal(err)
				}
				kc, err := kubeconfig.Parse(data)
				if err != nil {
					t.Fatal(err)
				}
				spec, _ := p.Lookup("admin")
				req := spec.(plan.Kubeconfig).Request()
				req.Organizations = []string{user.SystemPrivilegedGroup}
				cert := sign(t, d, plan.ClusterCA, req, kc.Credentials.Key.Public())
				out, err := kubeconfig.Build(kubeconfig.Spec{ClusterName: kc.ClusterName, Server: kc.Server, CA: kc.CAs[0], User: kc.User,
					Credentials: kubeconfig.Credentials{Cert: cert, Key: kc.Credentials.Key}})
				if err != nil {
					t.Fatal(err)
				}
				if err := d.ReplaceSecret("admin.conf", out); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
}

// sign issues a certificate with a CA of the folder.
func sign(t *testing.T, d *store.Dir, caName string, req pki.Request, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	ca := plan.CA{Name: caName}
	iss := pki.Issuer{Cert: readCert(t, d, ca.CertFile()), Key: readKey(t, d, ca.KeyFile())}
	c, err := iss.Sign(req, pub, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// resign replaces a leaf's certificate by one for the same key, signed by
// caName, with its request edited.
func resign(t *testing.T, d *store.Dir, p *plan.Plan, name, caName string, edit func(*pki.Request)) {
	t.Helper()
	it, err := p.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	spec := it.(plan.Cert)
	req := spec.Request()
	if edit != nil {
		edit(&req)
	}
	c := sign(t, d, caName, req, readKey(t, d, spec.KeyFile()).Public())
	if err := d.Replace(spec.CertFile(), pki.MarshalCert(c), layout.PublicMode); err != nil {
		t.Fatal(err)
	}
}

func TestInitRefusesMismatchAndRenewFixes(t *testing.T) {
	for _, tc := range problemCases() {
		t.Run(tc.name, func(t *testing.T) {
			p := fastPlan(t)
			d, _ := initDir(t, p, clock(t0))
			tc.breakIt(t, d, p)
			if tc.planAfter != nil {
				p = tc.planAfter(t)
			}
			before := snapshot(t, d)

			_, err := provision.Init(d, p, clock(t0.Add(time.Hour)))
			var pr *provision.Problem
			if !errors.As(err, &pr) {
				t.Fatalf("Init: %v, want a *provision.Problem", err)
			}
			if !errors.Is(err, provision.ErrMismatch) {
				t.Error("the Problem does not wrap ErrMismatch")
			}
			if pr.File != tc.file || !strings.Contains(pr.Reason, tc.reason) {
				t.Errorf("Problem %q: file %s reason %q, want %s and %q", err, pr.File, pr.Reason, tc.file, tc.reason)
			}
			if want := "bulwark certs renew " + tc.renew; pr.Fix != want {
				t.Errorf("Fix %q, want %q", pr.Fix, want)
			}
			if !strings.Contains(err.Error(), "`bulwark certs renew "+tc.renew+"`") {
				t.Errorf("error %q does not name the command", err)
			}
			if diffs := diffSnapshots(before, snapshot(t, d)); len(diffs) > 0 {
				t.Fatalf("a refused Init wrote: %v", diffs)
			}

			sum, err := provision.Renew(d, p, []string{tc.renew}, false, clock(t0.Add(2*time.Hour)))
			if err != nil {
				t.Fatalf("Renew: %v", err)
			}
			if sum.Count(provision.Renewed) != 1 {
				t.Errorf("Renew summary %v", sum)
			}
			after := snapshot(t, d)
			if oldKeys, newKeys := keysOf(t, before), keysOf(t, after); len(oldKeys) != len(newKeys) {
				t.Errorf("%d keys before, %d after", len(oldKeys), len(newKeys))
			} else {
				for f, k := range oldKeys {
					if newKeys[f] != k {
						t.Errorf("Renew changed the key in %s", f)
					}
				}
			}
			diffs := diffSnapshots(before, after)
			if len(diffs) != 1 || diffs[0] != "changed "+tc.file {
				t.Errorf("Renew changed %v, want %s only", diffs, tc.file)
			}
			sum = runInit(t, d, p, clock(t0.Add(3*time.Hour)))
			if sum.Count(provision.Kept) != len(sum) {
				t.Errorf("Init after Renew: %v", sum)
			}
		})
	}
}

// TestExternalCA: a CA certificate without its key is an external CA:
// Init keeps a complete folder, and refuses to make what it would have
// to sign.
func TestExternalCA(t *testing.T) {
	for _, caName := range []string{plan.ClusterCA, plan.EtcdCA, plan.EtcdPeerCA, plan.FrontProxyCA} {
		t.Run(caName, func(t *testing.T) {
			p := fastPlan(t)
			d, _ := initDir(t, p, clock(t0))
			spec, _ := p.CA(caName)
			if err := os.Remove(d.Path(spec.KeyFile())); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, d)
			sum := runInit(t, d, p, clock(t0.Add(time.Hour)))
			if action(sum, spec.CertFile()) != provision.Kept || action(sum, spec.KeyFile()) != "" || sum.Count(provision.Kept) != len(sum) {
				t.Errorf("summary %v", sum)
			}
			if diffs := diffSnapshots(before, snapshot(t, d)); len(diffs) > 0 {
				t.Errorf("Init with an external CA wrote %v", diffs)
			}
			// Remove one leaf this CA signs: Init cannot sign a new one.
			var victim string
			for _, c := range p.Certs {
				if c.CA == caName {
					victim = c.CertFile()
					break
				}
			}
			if err := os.Remove(d.Path(victim)); err != nil {
				t.Fatal(err)
			}
			before = snapshot(t, d)
			_, err := provision.Init(d, p, clock(t0.Add(time.Hour)))
			var pr *provision.Problem
			if !errors.As(err, &pr) || pr.File != spec.KeyFile() || !strings.Contains(pr.Reason, victim) || !strings.Contains(pr.Reason, "external CA") {
				t.Fatalf("Init with a leaf missing under an external CA: %v", err)
			}
			if diffs := diffSnapshots(before, snapshot(t, d)); len(diffs) > 0 {
				t.Errorf("refused Init wrote %v", diffs)
			}
		})
	}
	t.Run("missing kubeconfig", func(t *testing.T) {
		p := fastPlan(t)
		d, _ := initDir(t, p, clock(t0))
		for _, f := range []string{"pki/ca.key", "admin.conf"} {
			if err := os.Remove(d.Path(f)); err != nil {
				t.Fatal(err)
			}
		}
		_, err := provision.Init(d, p, clock(t0))
		var pr *provision.Problem
		if !errors.As(err, &pr) || pr.File != "pki/ca.key" || !strings.Contains(pr.Reason, "admin.conf") {
			t.Fatalf("Init: %v", err)
		}
	})
}

func TestRenewNewKey(t *testing.T) {
	p := fastPlan(t)
	d, _ := initDir(t, p, clock(t0))
	before := snapshot(t, d)
	sum, err := provision.Renew(d, p, []string{"apiserver", "admin"}, true, clock(t0.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]provision.Action{"pki/apiserver.key": provision.Renewed, "pki/apiserver.crt": provision.Renewed, "admin.conf": provision.Renewed} {
		if action(sum, f) != want {
			t.Errorf("%s: %s, want %s", f, action(sum, f), want)
		}
	}
	after := snapshot(t, d)
	oldKeys, newKeys := keysOf(t, before), keysOf(t, after)
	for f := range oldKeys {
		changed := oldKeys[f] != newKeys[f]
		if want := f == "pki/apiserver.key" || f == "admin.conf"; changed != want {
			t.Errorf("%s: key changed %v, want %v", f, changed, want)
		}
	}
	c := readCert(t, d, "pki/apiserver.crt")
	if !pki.KeyMatches(c, readKey(t, d, "pki/apiserver.key")) || !c.NotBefore.Equal(t0.Add(time.Hour-5*time.Minute).Truncate(time.Second)) {
		t.Error("renewed certificate does not match the new key or the new time")
	}
	if mode, _ := d.Mode("pki/apiserver.key"); mode != 0o600 {
		t.Errorf("renewed key mode %v", mode)
	}
	kc := readKubeconfig(t, d, "admin.conf")
	if !pki.KeyMatches(kc.Credentials.Cert, kc.Credentials.Key) {
		t.Error("admin.conf's new certificate does not match its new key")
	}
	if sum := runInit(t, d, p, clock(t0.Add(2*time.Hour))); sum.Count(provision.Kept) != len(sum) {
		t.Errorf("Init after Renew: %v", sum)
	}
	if _, err := provision.Renew(d, p, []string{"no-such-cert"}, false, clock(t0)); !errors.Is(err, provision.ErrUnknownName) {
		t.Errorf("Renew of an unknown name: %v", err)
	}
}

// TestRenewCAKeepsLeavesValid: renewing a CA re-issues it for its own
// key; every leaf and kubeconfig still verifies and Init accepts them.
func TestRenewCAKeepsLeavesValid(t *testing.T) {
	p := fastPlan(t)
	d, _ := initDir(t, p, clock(t0))
	before := snapshot(t, d)
	if _, err := provision.Renew(d, p, []string{plan.ClusterCA}, false, clock(t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if diffs := diffSnapshots(before, snapshot(t, d)); !slices.Equal(diffs, []string{"changed pki/ca-signer.crt", "changed pki/ca.crt"}) {
		t.Errorf("changes %v", diffs)
	}
	signer, _ := d.Read("pki/ca-signer.crt")
	if trust, _ := d.Read("pki/ca.crt"); !bytes.Equal(signer, trust) {
		t.Error("pki/ca-signer.crt is not the renewed pki/ca.crt")
	}
	ca := readCert(t, d, "pki/ca.crt")
	for _, l := range leaves(t, d, p) {
		if l.ca == plan.ClusterCA {
			if err := pki.VerifyLeaf(l.cert, ca, l.usages, t0.Add(time.Hour)); err != nil {
				t.Errorf("%s: %v", l.name, err)
			}
		}
	}
	if sum := runInit(t, d, p, clock(t0.Add(2*time.Hour))); sum.Count(provision.Kept) != len(sum) {
		t.Errorf("Init after a CA renewal: %v", sum)
	}
}

func TestInitRefusesOtherProblems(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		breakIt    func(t *testing.T, d *store.Dir)
	}{
		{"leaf without its CA", "pki/ca.crt", func(t *testing.T, d *store.Dir) {
			for _, f := range []string{"pki/ca.crt", "pki/ca.key"} {
				if err := os.Remove(d.Path(f)); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"certificate without its key", "pki/apiserver.key", func(t *testing.T, d *store.Dir) {
			if err := os.Remove(d.Path("pki/apiserver.key")); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage key", "pki/front-proxy-client.key", func(t *testing.T, d *store.Dir) {
			if err := d.ReplaceSecret("pki/front-proxy-client.key", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage certificate", "pki/etcd/server.crt", func(t *testing.T, d *store.Dir) {
			if err := d.Replace("pki/etcd/server.crt", []byte("not a certificate"), layout.PublicMode); err != nil {
				t.Fatal(err)
			}
		}},
		{"CA certificate not a CA", "pki/etcd/ca.crt", func(t *testing.T, d *store.Dir) {
			leaf, err := d.Read("pki/etcd/server.crt")
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Replace("pki/etcd/ca.crt", leaf, layout.PublicMode); err != nil {
				t.Fatal(err)
			}
		}},
		{"sa.pub of another key", "pki/sa.pub", func(t *testing.T, d *store.Dir) {
			k, err := pki.GenerateKey(pki.ECDSAP256, nil)
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := pki.MarshalPublicKey(k.Public())
			if err := d.Replace("pki/sa.pub", pub, layout.PublicMode); err != nil {
				t.Fatal(err)
			}
		}},
		{"sa.key lost", "pki/sa.key", func(t *testing.T, d *store.Dir) {
			if err := os.Remove(d.Path("pki/sa.key")); err != nil {
				t.Fatal(err)
			}
		}},
		{"kubeconfig for another server", "nodes/cp-1/scheduler.conf", func(t *testing.T, d *store.Dir) {
			data, err := d.ReadSecret("nodes/cp-1/scheduler.conf")
			if err != nil {
				t.Fatal(err)
			}
			moved, err := kubeconfig.WithServer(data, "https://10.9.9.9:6443")
			if err != nil {
				t.Fatal(err)
			}
			if err := d.ReplaceSecret("nodes/cp-1/scheduler.conf", moved); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fastPlan(t)
			d, _ := initDir(t, p, clock(t0))
			tc.breakIt(t, d)
			before := snapshot(t, d)
			_, err := provision.Init(d, p, clock(t0))
			var pr *provision.Problem
			if !errors.As(err, &pr) || pr.File != tc.file {
				t.Fatalf("Init: %v, want a Problem with %s", err, tc.file)
			}
			if diffs := diffSnapshots(before, snapshot(t, d)); len(diffs) > 0 {
				t.Errorf("refused Init wrote %v", diffs)
			}
		})
	}
}

// TestInitRefusesExpired: an expired certificate is a Problem, not kept.
func TestInitRefusesExpired(t *testing.T) {
	p := fastPlan(t)
	d, _ := initDir(t, p, clock(t0))
	_, err := provision.Init(d, p, clock(t0.Add(366*24*time.Hour)))
	var pr *provision.Problem
	if !errors.As(err, &pr) || !strings.Contains(pr.Reason, "expired") || !strings.HasPrefix(pr.Fix, "bulwark certs renew ") {
		t.Fatalf("Init a year on: %v", err)
	}
}

func TestTokens(t *testing.T) {
	p := fastPlan(t)
	d, _ := initDir(t, p, clock(t0))
	tok, sum, err := provision.CreateToken(d, p, 2*time.Hour, nil, []string{"system:bootstrappers:workers"}, "worker pool", clock(t0))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum) != 2 || sum.Count(provision.Created) != 2 {
		t.Errorf("summary %v", sum)
	}
	manifest := "cluster/bootstrap-token-" + tok.ID + ".yaml"
	kcFile := "bootstrap-kubelet-" + tok.ID + ".conf"
	for _, f := range []string{manifest, kcFile} {
		if mode, err := d.Mode(f); err != nil || mode != 0o600 {
			t.Errorf("%s: mode %v, %v", f, mode, err)
		}
	}
	if kc := readKubeconfig(t, d, kcFile); kc.Credentials.Token != tok.String() {
		t.Error("token kubeconfig does not carry the token")
	}
	toks, err := provision.ListTokenManifests(d)
	if err != nil || len(toks) != 2 {
		t.Fatalf("ListTokenManifests = %d, %v", len(toks), err)
	}
	sum, err = provision.DeleteToken(d, tok.ID)
	if err != nil || sum.Count(provision.Removed) != 2 {
		t.Fatalf("DeleteToken = %v, %v", sum, err)
	}
	for _, f := range []string{manifest, kcFile} {
		if ok, _ := d.Exists(f); ok {
			t.Errorf("%s still there", f)
		}
	}
	if _, err := provision.DeleteToken(d, tok.ID); !errors.Is(err, provision.ErrNoToken) {
		t.Errorf("second DeleteToken: %v, want ErrNoToken", err)
	}
	if _, err := provision.DeleteToken(d, "../../x"); err == nil {
		t.Error("DeleteToken accepted a malformed ID")
	}
	// Deleting init's token removes bootstrap-kubelet.conf too; the next
	// Init makes a new token and kubeconfig.
	initToken := toks[0].Token
	if initToken.ID == tok.ID {
		initToken = toks[1].Token
	}
	if _, err := provision.DeleteToken(d, initToken.ID); err != nil {
		t.Fatal(err)
	}
	sum = runInit(t, d, p, clock(t0))
	if action(sum, "bootstrap-kubelet.conf") != provision.Created {
		t.Errorf("Init after the token was deleted: %v", sum)
	}
}

// TestInitReusesOrphanToken: a token Secret written by a run killed before
// its kubeconfig is reused, not orphaned.
func TestInitReusesOrphanToken(t *testing.T) {
	p := fastPlan(t)
	d, _ := initDir(t, p, clock(t0))
	toks, err := provision.ListTokenManifests(d)
	if err != nil || len(toks) != 1 {
		t.Fatalf("%d tokens, %v", len(toks), err)
	}
	if err := os.Remove(d.Path("bootstrap-kubelet.conf")); err != nil {
		t.Fatal(err)
	}
	sum := runInit(t, d, p, clock(t0.Add(time.Hour)))
	if action(sum, toks[0].File) != provision.Kept || action(sum, "bootstrap-kubelet.conf") != provision.Created {
		t.Errorf("summary %v", sum)
	}
	if kc := readKubeconfig(t, d, "bootstrap-kubelet.conf"); kc.Credentials.Token != toks[0].Token.String() {
		t.Error("the new bootstrap kubeconfig carries another token")
	}
	// An expired one is not reused.
	if err := os.Remove(d.Path("bootstrap-kubelet.conf")); err != nil {
		t.Fatal(err)
	}
	sum = runInit(t, d, p, clock(t0.Add(25*time.Hour)))
	if kc := readKubeconfig(t, d, "bootstrap-kubelet.conf"); kc.Credentials.Token == toks[0].Token.String() {
		t.Errorf("an expired token was reused: %v", sum)
	}
}
