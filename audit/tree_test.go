package audit_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/audit"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/internal/pinned"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
)

// tree is a cluster folder to weaken: bulwark's own output, or what the
// real kubeadm writes, with the file paths its components name.
type tree struct {
	t    testing.TB
	kind string // "bulwark" or "kubeadm"
	// dir is the cluster folder; root the path its manifests name it by;
	// top holds everything the tree wrote (kubeadm's rootfs).
	dir, root, top string
	// kubelet is the kubelet configuration file.
	kubelet  string
	cmdlines []string
	opts     func(*audit.Options)
	now      time.Time
}

// newTree is bulwark init and render's output for a configuration, with
// the folder itself as the host root.
func newTreeWith(t testing.TB, c *config.Cluster) *tree {
	t.Helper()
	dir := t.TempDir()
	d, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(c)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := config.Marshal(c)
	if err := d.Create("bulwark.yaml", raw, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := provision.Options{Now: func() time.Time { return now }}
	if _, err := provision.Init(d, p, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := provision.Render(d, p, render.Options{Root: dir}, opts); err != nil {
		t.Fatal(err)
	}
	return &tree{t: t, kind: "bulwark", dir: dir, root: dir, top: dir, kubelet: filepath.Join(dir, "kubelet/config.yaml"), now: now}
}

func newTree(t testing.TB) *tree { return newTreeWith(t, config.Default("cp-1")) }

var (
	kubeadmOnce sync.Once
	kubeadmDir  string
	kubeadmErr  error
)

// newKubeadmTree copies what the real kubeadm of the pinned release
// writes (certs, kubeconfigs, control-plane and etcd manifests, the
// kubelet's configuration), made once per test binary.
func newKubeadmTree(t testing.TB) *tree {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real kubeadm")
	}
	kubeadmOnce.Do(func() {
		kubeadm := pinned.Path(t, "kubeadm")
		root, err := os.MkdirTemp("", "bulwark-kubeadm-")
		if err != nil {
			kubeadmErr = err
			return
		}
		ip := hostIP(t)
		cfg := "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: " + ip +
			"\nnodeRegistration:\n  name: cp-1\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.36.3\n"
		if err := os.WriteFile(filepath.Join(root, "kubeadm.yaml"), []byte(cfg), 0o600); err != nil {
			kubeadmErr = err
			return
		}
		for _, phase := range [][]string{{"certs", "all"}, {"kubeconfig", "all"}, {"control-plane", "all"}, {"etcd", "local"}, {"kubelet-start"}} {
			args := append(append([]string{"init", "phase"}, phase...), "--config", "/kubeadm.yaml", "--rootfs", root)
			if out, err := exec.Command(kubeadm, args...).CombinedOutput(); err != nil {
				kubeadmErr = &exec.ExitError{Stderr: out}
				return
			}
		}
		kubeadmDir = root
	})
	if kubeadmErr != nil {
		t.Fatalf("kubeadm: %v", kubeadmErr)
	}
	dst := t.TempDir()
	if out, err := exec.Command("cp", "-a", kubeadmDir+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return &tree{t: t, kind: "kubeadm", dir: filepath.Join(dst, "etc/kubernetes"), root: "/etc/kubernetes", top: dst,
		kubelet: filepath.Join(dst, "var/lib/kubelet/config.yaml"), now: time.Now()}
}

func hostIP(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("hostname", "-I").Output()
	if err != nil || len(strings.Fields(string(out))) == 0 {
		t.Skip("no host address for kubeadm")
	}
	return strings.Fields(string(out))[0]
}

func (f *tree) path(rel string) string { return filepath.Join(f.dir, rel) }

// host is the path a component names a file of the folder by.
func (f *tree) host(rel string) string { return f.root + "/" + rel }

func (f *tree) manifest(comp string) string { return f.path("manifests/" + comp + ".yaml") }

func (f *tree) read(file string) []byte {
	f.t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

func (f *tree) write(rel string, data []byte) { f.writeFile(f.path(rel), data, 0o600) }

func (f *tree) writeFile(file string, data []byte, mode fs.FileMode) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(file, data, mode); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Chmod(file, mode); err != nil {
		f.t.Fatal(err)
	}
}

func (f *tree) chmod(rel string, mode fs.FileMode) {
	f.t.Helper()
	if err := os.Chmod(f.path(rel), mode); err != nil {
		f.t.Fatal(err)
	}
}

// pod reads and rewrites a static Pod's container.
func (f *tree) pod(comp string, edit func(c *corev1.Container)) {
	f.t.Helper()
	f.podSpec(comp, func(s *corev1.PodSpec) { edit(&s.Containers[0]) })
}

// podSpec reads and rewrites a static Pod's spec.
func (f *tree) podSpec(comp string, edit func(s *corev1.PodSpec)) {
	f.t.Helper()
	var pod corev1.Pod
	if err := yaml.Unmarshal(f.read(f.manifest(comp)), &pod); err != nil {
		f.t.Fatal(err)
	}
	edit(&pod.Spec)
	out, err := yaml.Marshal(pod)
	if err != nil {
		f.t.Fatal(err)
	}
	f.writeFile(f.manifest(comp), out, 0o600)
}

// editPod changes a static Pod's arguments.
func (f *tree) editPod(comp string, edit func(args []string) []string) {
	f.pod(comp, func(c *corev1.Container) {
		argv := append(append([]string(nil), c.Command...), c.Args...)
		c.Command, c.Args = append(argv[:1:1], edit(argv[1:])...), nil
	})
}

func without(names ...string) func([]string) []string {
	return func(args []string) []string {
		return slices.DeleteFunc(args, func(a string) bool {
			for _, name := range names {
				if strings.HasPrefix(a, "--"+name+"=") || a == "--"+name {
					return true
				}
			}
			return false
		})
	}
}

func with(name, value string) func([]string) []string {
	return func(args []string) []string { return append(without(name)(args), "--"+name+"="+value) }
}

func adding(words ...string) func([]string) []string {
	return func(args []string) []string { return append(args, words...) }
}

func chain(fs ...func([]string) []string) func([]string) []string {
	return func(args []string) []string {
		for _, f := range fs {
			args = f(args)
		}
		return args
	}
}

// flag returns a static Pod's flag value.
func (f *tree) flag(comp, name string) string {
	var pod corev1.Pod
	if err := yaml.Unmarshal(f.read(f.manifest(comp)), &pod); err != nil {
		f.t.Fatal(err)
	}
	for _, a := range pod.Spec.Containers[0].Command {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// editKubelet changes the kubelet configuration's fields.
func (f *tree) editKubelet(set map[string]any) {
	f.t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(f.read(f.kubelet), &doc); err != nil {
		f.t.Fatal(err)
	}
	for k, v := range set {
		setPath(doc, k, v)
	}
	out, _ := yaml.Marshal(doc)
	f.writeFile(f.kubelet, out, 0o600)
}

func setPath(m map[string]any, dotted string, v any) {
	parts := strings.Split(dotted, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	if v == nil {
		delete(m, parts[len(parts)-1])
		return
	}
	m[parts[len(parts)-1]] = v
}

func (f *tree) options() audit.Options {
	o := audit.Options{Dir: f.dir, Root: f.root, CommandLines: f.cmdlines, Now: f.now, WarnWithin: 30 * 24 * time.Hour,
		FileOwner: os.Getuid(), FileGroup: os.Getgid()}
	if f.kind == "kubeadm" && len(f.cmdlines) == 0 {
		o.KubeletConfig = f.kubelet
	}
	if f.opts != nil {
		f.opts(&o)
	}
	return o
}

func (f *tree) run() *audit.Report {
	f.t.Helper()
	r, err := audit.Static(f.options())
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// issuer loads a CA of the folder.
func (f *tree) issuer(name string) pki.Issuer {
	f.t.Helper()
	c, err := pki.ParseCert(f.read(f.path("pki/" + name + ".crt")))
	if err != nil {
		f.t.Fatal(err)
	}
	k, err := pki.ParsePrivateKey(f.read(f.path("pki/" + name + ".key")))
	if err != nil {
		f.t.Fatal(err)
	}
	return pki.Issuer{Cert: c, Key: k}
}

func (f *tree) leaf(name string) *x509.Certificate {
	f.t.Helper()
	c, err := pki.ParseCert(f.read(f.path("pki/" + name + ".crt")))
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// certOpts shape a certificate made by mint.
type certOpts struct {
	sigAlg   x509.SignatureAlgorithm
	isCA     bool
	noBasic  bool
	pathLen  int // -1: none
	keyUsage x509.KeyUsage
	dns      []string
}

// mint writes a certificate for pub, signed by (parent, signer), with the
// template of an existing one (subject, usages, names) and changes.
func (f *tree) mint(rel string, like *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer, o certOpts) *x509.Certificate {
	f.t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: like.Subject, NotBefore: f.now.Add(-time.Hour), NotAfter: f.now.Add(300 * 24 * time.Hour),
		KeyUsage: like.KeyUsage, ExtKeyUsage: like.ExtKeyUsage, DNSNames: like.DNSNames, IPAddresses: like.IPAddresses,
		BasicConstraintsValid: !o.noBasic, IsCA: o.isCA, SignatureAlgorithm: o.sigAlg,
	}
	if o.keyUsage != 0 {
		tmpl.KeyUsage = o.keyUsage
	}
	if o.isCA {
		switch o.pathLen {
		case -1:
			tmpl.MaxPathLen = -1
		default:
			tmpl.MaxPathLen, tmpl.MaxPathLenZero = o.pathLen, o.pathLen == 0
		}
	}
	if o.dns != nil {
		tmpl.DNSNames = o.dns
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		f.t.Fatal(err)
	}
	f.writeFile(f.path(rel), pki.MarshalCert(c), 0o644)
	return c
}

func (f *tree) key(rel string) crypto.Signer {
	f.t.Helper()
	k, err := pki.ParsePrivateKey(f.read(f.path(rel)))
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

func (f *tree) writeKey(rel string, k crypto.Signer) {
	f.t.Helper()
	data, err := pki.MarshalPrivateKey(k)
	if err != nil {
		f.t.Fatal(err)
	}
	f.writeFile(f.path(rel), data, 0o600)
}

// ids lists the findings above info.
func above(r *audit.Report) []string {
	var ids []string
	for _, f := range r.Findings {
		if f.Severity != finding.Info && f.Accepted == nil && !slices.Contains(ids, f.ID) {
			ids = append(ids, f.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// newTreeB is newTree for benchmarks.
func newTreeB(b *testing.B) *tree { return newTree(b) }

// editPodB gives the API server n more flags, one a line.
func (f *tree) editPodB(b *testing.B, n int) {
	f.editPod("kube-apiserver", func(a []string) []string {
		for i := range n {
			a = append(a, fmt.Sprintf("--x%d=%d", i, i))
		}
		return a
	})
}
