package provision_test

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/store"
)

// clusterDoc is a configuration with cp control-plane nodes and etcd
// explicit etcd members (explicit, so that a change to the control plane
// touches the API server's certificate only).
func clusterDoc(alg string, cp, etcd int, extraCPIPs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\nkeyAlgorithm: %s\napiEndpoint: 10.0.0.10:6443\n", alg)
	b.WriteString("serviceCIDR: 10.96.0.0/12,fd00:10:96::/112\nextraSANs: [api.example.com]\ncontrolPlane:\n")
	for i := 1; i <= cp; i++ {
		ips := []string{fmt.Sprintf("10.0.0.%d", 10+i)}
		if i == 1 {
			ips = append(ips, extraCPIPs...)
		}
		fmt.Fprintf(&b, "  - {name: cp-%d, ips: [%s]}\n", i, strings.Join(ips, ", "))
	}
	b.WriteString("etcdMembers:\n")
	for i := 1; i <= etcd; i++ {
		fmt.Fprintf(&b, "  - {name: etcd-%d, ips: [10.0.1.%d]}\n", i, 10+i)
	}
	return b.String()
}

// clock is the fixed time of a test: now, to the nanosecond, so that
// truncation to the second is visible.
func clock(t time.Time) provision.Options {
	return provision.Options{Now: func() time.Time { return t }}
}

func openDir(t testing.TB) *store.Dir {
	t.Helper()
	d, err := store.Open(filepath.Join(t.TempDir(), "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	return d
}

// initDir runs Init in a new folder, holding the lock as the CLI does.
func initDir(t testing.TB, p *plan.Plan, opts provision.Options) (*store.Dir, provision.Summary) {
	t.Helper()
	d := openDir(t)
	return d, runInit(t, d, p, opts)
}

func runInit(t testing.TB, d *store.Dir, p *plan.Plan, opts provision.Options) provision.Summary {
	t.Helper()
	unlock, err := d.Lock(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	sum, err := provision.Init(d, p, opts)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return sum
}

// entry is a file or folder as found on disk.
type entry struct {
	mode fs.FileMode
	data string
}

// snapshot reads everything under the folder (temporary files and
// folders included, the lock file excepted) for before/after comparisons.
func snapshot(t testing.TB, d *store.Dir) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(d.Root(), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.Root(), p)
		rel = filepath.ToSlash(rel)
		if rel == ".bulwark.lock" {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		en := entry{mode: fi.Mode()}
		if !e.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			en.data = string(data)
		}
		out[rel] = en
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffSnapshots lists what changed between two snapshots.
func diffSnapshots(before, after map[string]entry) []string {
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(before)) {
		a, ok := after[k]
		switch {
		case !ok:
			diffs = append(diffs, "removed "+k)
		case a.mode != before[k].mode:
			diffs = append(diffs, fmt.Sprintf("mode of %s: %v → %v", k, before[k].mode, a.mode))
		case a.data != before[k].data:
			diffs = append(diffs, "changed "+k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, "added "+k)
		}
	}
	return diffs
}

// keysOf returns every private key of a snapshot, by file: key files and
// the keys embedded in kubeconfigs.
func keysOf(t testing.TB, snap map[string]entry) map[string]string {
	t.Helper()
	out := map[string]string{}
	for f, e := range snap {
		switch {
		case strings.HasSuffix(f, ".key"):
			out[f] = e.data
		case strings.HasSuffix(f, ".conf"):
			kc, err := kubeconfig.Parse([]byte(e.data))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if kc.Credentials.Key != nil {
				der, err := x509.MarshalPKCS8PrivateKey(kc.Credentials.Key)
				if err != nil {
					t.Fatal(err)
				}
				out[f] = string(der)
			}
		}
	}
	return out
}

func readCert(t testing.TB, d *store.Dir, file string) *x509.Certificate {
	t.Helper()
	data, err := d.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.ParseCert(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return c
}

func readKey(t testing.TB, d *store.Dir, file string) crypto.Signer {
	t.Helper()
	data, err := d.ReadSecret(file)
	if err != nil {
		t.Fatal(err)
	}
	k, err := pki.ParsePrivateKey(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return k
}

func readKubeconfig(t testing.TB, d *store.Dir, file string) *kubeconfig.Parsed {
	t.Helper()
	data, err := d.ReadSecret(file)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubeconfig.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return kc
}

// leaf is one issued leaf certificate, wherever it sits.
type leaf struct {
	name   string // plan name
	kind   string // spec kind ("etcd/peer") or "kubeconfig"
	file   string // .crt or .conf
	ca     string // plan CA name
	cert   *x509.Certificate
	key    crypto.Signer
	usages []pki.Usage
	req    pki.Request
}

// leaves gathers every leaf of the plan from the folder.
func leaves(t testing.TB, d *store.Dir, p *plan.Plan) []leaf {
	t.Helper()
	var out []leaf
	for _, c := range p.Certs {
		out = append(out, leaf{name: c.Name, kind: c.Kind, file: c.CertFile(), ca: c.CA,
			cert: readCert(t, d, c.CertFile()), key: readKey(t, d, c.KeyFile()), usages: c.Usages, req: c.Request()})
	}
	for _, k := range p.Kubeconfigs {
		if k.UsesToken() {
			continue
		}
		kc := readKubeconfig(t, d, k.File())
		out = append(out, leaf{name: k.Name, kind: "kubeconfig", file: k.File(), ca: k.CA,
			cert: kc.Credentials.Cert, key: kc.Credentials.Key, usages: k.Request().Usages, req: k.Request()})
	}
	return out
}

// cas reads every CA certificate of the plan, by name.
func cas(t testing.TB, d *store.Dir, p *plan.Plan) map[string]*x509.Certificate {
	t.Helper()
	out := map[string]*x509.Certificate{}
	for _, ca := range p.CAs {
		out[ca.Name] = readCert(t, d, ca.CertFile())
	}
	return out
}

func action(sum provision.Summary, file string) provision.Action {
	for _, r := range sum {
		if r.File == file {
			return r.Action
		}
	}
	return ""
}
