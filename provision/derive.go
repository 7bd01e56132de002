package provision

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/store"
)

// ErrUnderivable is wrapped by Derive's errors: the folder holds a
// cluster, but not enough of it to tell its configuration.
var ErrUnderivable = errors.New("cannot tell the cluster's configuration from its files")

// HasCluster reports whether a folder holds a cluster's files: a
// certificate or a kubeconfig. (Keys alone are what a first run killed
// before its certificates leaves; that run's configuration still applies.)
func HasCluster(d *store.Dir) (bool, error) {
	files, err := d.Walk(".")
	if err != nil {
		return false, err
	}
	for _, f := range files {
		switch layout.Classify(f) {
		case layout.Certificate, layout.Kubeconfig:
			return true, nil
		}
	}
	return false, nil
}

// tree is what a folder's existing files say, read once.
type tree struct {
	d     *store.Dir
	files []string
	certs map[string]*x509.Certificate // pki/**/*.crt that parse
	pods  map[string]*corev1.Pod       // manifests that parse, by file
}

func readTree(d *store.Dir) (*tree, error) {
	files, err := d.Walk(".")
	if err != nil {
		return nil, err
	}
	t := &tree{d: d, files: files, certs: map[string]*x509.Certificate{}, pods: map[string]*corev1.Pod{}}
	for _, f := range files {
		switch layout.Classify(f) {
		case layout.Certificate:
			if data, err := d.Read(f); err == nil {
				if c, err := pki.ParseCert(data); err == nil {
					t.certs[f] = c
				}
			}
		case layout.Manifest:
			if data, err := d.Read(f); err == nil {
				var pod corev1.Pod
				if yaml.Unmarshal(data, &pod) == nil && pod.Kind == "Pod" && len(pod.Spec.Containers) > 0 {
					t.pods[f] = &pod
				}
			}
		}
	}
	return t, nil
}

// flags returns the first container's --name=value flags of a manifest.
func podFlags(pod *corev1.Pod) map[string]string {
	out := map[string]string{}
	c := pod.Spec.Containers[0]
	for _, a := range append(slices.Clone(c.Command), c.Args...) {
		if k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "="); ok && strings.HasPrefix(a, "--") {
			out[k] = v
		}
	}
	return out
}

// component finds the manifests of one component (any node's).
func (t *tree) component(name string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, f := range t.files {
		if p, ok := t.pods[f]; ok && strings.TrimSuffix(path.Base(f), path.Ext(f)) == name {
			out = append(out, p)
		}
	}
	return out
}

// flag is a component's flag in its first manifest that has it.
func (t *tree) flag(component, name string) string {
	for _, p := range t.component(component) {
		if v, ok := podFlags(p)[name]; ok {
			return v
		}
	}
	return ""
}

// kubeconfig parses a kubeconfig of the folder, nil if absent or broken.
func (t *tree) kubeconfig(name string) *kubeconfig.Parsed {
	f := layout.KubeconfigFile(name)
	if !slices.Contains(t.files, f) {
		return nil
	}
	data, err := t.d.ReadSecret(f)
	if err != nil {
		return nil
	}
	kc, err := kubeconfig.Parse(data)
	if err != nil {
		return nil
	}
	return kc
}

// firstKubeconfig is the first of the table's kubeconfigs that parses.
func (t *tree) firstKubeconfig() (*kubeconfig.Parsed, string) {
	for _, n := range []string{plan.KubeconfigAdmin, plan.KubeconfigSuperAdmin, plan.KubeconfigBootstrapKubelet, plan.KubeconfigControllerManager, plan.KubeconfigScheduler} {
		if kc := t.kubeconfig(n); kc != nil {
			return kc, layout.KubeconfigFile(n)
		}
	}
	return nil, ""
}

// lifetime is how long a certificate was issued for: NotAfter - NotBefore
// less the backdating for clock skew (bulwark's and kubeadm's alike), to
// the minute.
func lifetime(c *x509.Certificate) time.Duration {
	d := c.NotAfter.Sub(c.NotBefore)
	if d > pki.Backdate {
		d -= pki.Backdate
	}
	return d.Round(time.Minute)
}

// caKeyAlgorithm is the algorithm of the cluster CA's key (or, without
// it, of its certificate).
func (t *tree) caKeyAlgorithm() (pki.Algorithm, string, error) {
	ca, _ := (&plan.Plan{CAs: []plan.CA{{Name: plan.ClusterCA}}}).CA(plan.ClusterCA)
	var pub crypto.PublicKey
	file := ca.KeyFile()
	if key, err := readKey(t.d, file); err == nil && key != nil {
		pub = key.Public()
	} else if c := t.certs[ca.CertFile()]; c != nil {
		pub, file = c.PublicKey, ca.CertFile()
	} else {
		return "", "", nil
	}
	alg := pki.AlgorithmOf(pub)
	if alg == "" {
		return "", file, fmt.Errorf("%w: %s holds a %s key, which bulwark does not issue", ErrUnderivable, file, pki.Describe(pub))
	}
	return alg, file, nil
}

// etcdMembers reads the members from their server certificates: kubeadm's
// pki/etcd/server.crt for one, pki/etcd/<member>/server.crt for several,
// in the order of etcd's --initial-cluster where a manifest has it.
func (t *tree) etcdMembers() []config.Node {
	var files []string
	if slices.Contains(t.files, layout.CertFile(plan.CertEtcdServer)) {
		files = []string{layout.CertFile(plan.CertEtcdServer)}
	} else {
		dir, base := path.Split(layout.CertFile(plan.CertEtcdServer))
		for _, f := range t.files {
			if path.Base(f) == base && path.Dir(path.Dir(f))+"/" == dir {
				files = append(files, f)
			}
		}
	}
	var members []config.Node
	for _, f := range files {
		c := t.certs[f]
		if c == nil || c.Subject.CommonName == "" {
			continue
		}
		m := config.Node{Name: c.Subject.CommonName}
		for _, ip := range c.IPAddresses {
			if !ip.IsLoopback() {
				m.IPs = append(m.IPs, ip.String())
			}
		}
		if len(m.IPs) == 0 {
			// A member on loopback only: its peer certificate names its
			// addresses alone (the server certificate adds both loopbacks).
			if peer := t.certs[path.Join(path.Dir(f), path.Base(layout.CertFile(plan.CertEtcdPeer)))]; peer != nil {
				for _, ip := range peer.IPAddresses {
					m.IPs = append(m.IPs, ip.String())
				}
			} else if len(c.IPAddresses) > 0 {
				m.IPs = []string{c.IPAddresses[0].String()}
			}
		}
		for _, n := range c.DNSNames {
			if n != m.Name && n != "localhost" {
				m.DNSNames = append(m.DNSNames, n)
			}
		}
		members = append(members, m)
	}
	var order []string
	for _, part := range strings.Split(t.flag(string(hardening.Etcd), "initial-cluster"), ",") {
		if name, _, ok := strings.Cut(part, "="); ok {
			order = append(order, name)
		}
	}
	slices.SortStableFunc(members, func(a, b config.Node) int {
		ia, ib := slices.Index(order, a.Name), slices.Index(order, b.Name)
		if ia < 0 {
			ia = len(order)
		}
		if ib < 0 {
			ib = len(order)
		}
		return ia - ib
	})
	return members
}

// Derive reads a folder that holds a cluster but no saved configuration
// (kubeadm's, or bulwark's that lost its bulwark.yaml) and returns the
// configuration its files describe: node names, addresses and SANs from
// the API server's and etcd's certificates, the endpoint and cluster name
// from the kubeconfigs, lifetimes and the key algorithm from the
// certificates and keys, the Service CIDR, images and root from the
// manifests. Nothing comes from the machine it runs on. What cannot be
// told is an error wrapping ErrUnderivable, naming what is missing.
func Derive(d *store.Dir) (*config.Cluster, error) {
	t, err := readTree(d)
	if err != nil {
		return nil, err
	}
	c := &config.Cluster{APIVersion: config.APIVersion, Kind: config.Kind}
	under := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrUnderivable}, args...)...)
	}

	alg, _, err := t.caKeyAlgorithm()
	if err != nil {
		return nil, err
	}
	c.KeyAlgorithm = string(alg)
	if ca := t.certs[layout.CertFile(plan.ClusterCA)]; ca != nil {
		c.Validity.CA = config.Duration(lifetime(ca))
	}
	// The leaf lifetime from the first leaf its CA did not cut short.
	for _, name := range []string{plan.CertAPIServer, plan.CertKubeletClient, plan.CertFrontProxyClient, plan.CertEtcdClient, plan.CertEtcdHealthcheck} {
		leaf := t.certs[layout.CertFile(name)]
		if leaf == nil {
			continue
		}
		if issuer := t.issuerOf(leaf); issuer != nil && leaf.NotAfter.Equal(issuer.NotAfter) {
			continue
		}
		c.Validity.Leaf = config.Duration(lifetime(leaf))
		break
	}
	if v := t.flag(string(hardening.ControllerManager), "cluster-signing-duration"); v != "" {
		if dur, err := time.ParseDuration(v); err == nil {
			c.Validity.KubeletClient = config.Duration(dur)
		}
	}

	kc, kcFile := t.firstKubeconfig()
	if kc != nil {
		c.ClusterName = kc.ClusterName
		u, err := url.Parse(kc.Server)
		if err != nil || u.Scheme != "https" || u.Port() == "" || u.Path != "" && u.Path != "/" {
			return nil, under("%s names the server %q, not https://host:port", kcFile, kc.Server)
		}
		c.APIEndpoint = u.Host
	}

	apiserver := t.certs[layout.CertFile(plan.CertAPIServer)]
	c.EtcdMembers = t.etcdMembers()
	if v := t.flag(string(hardening.APIServer), "service-cluster-ip-range"); v != "" {
		c.ServiceCIDR = v
	}
	if apiserver != nil {
		for _, n := range apiserver.DNSNames {
			if dom, ok := strings.CutPrefix(n, "kubernetes.default.svc."); ok {
				c.ClusterDomain = dom
			}
		}
		if c.ServiceCIDR == "" && !slices.ContainsFunc(apiserver.IPAddresses, net.ParseIP("10.96.0.1").Equal) {
			return nil, under("no kube-apiserver manifest names --service-cluster-ip-range, and %s does not name the default Service address 10.96.0.1", layout.CertFile(plan.CertAPIServer))
		}
	}

	// The control-plane nodes: the per-node manifest folders, or else the
	// etcd members the API server's certificate names.
	var names []string
	podOf := map[string]string{} // node -> its API server manifest
	for _, f := range t.files {
		if n, ok := apiServerManifestNode(f); ok {
			names = append(names, n)
			podOf[n] = f
		}
	}
	if apiserver != nil {
		if len(names) == 0 {
			for _, m := range c.EtcdMembers {
				if slices.Contains(apiserver.DNSNames, m.Name) {
					names = append(names, m.Name)
				}
			}
		}
		// In the order the certificate names them.
		slices.SortStableFunc(names, func(a, b string) int {
			return slices.Index(apiserver.DNSNames, a) - slices.Index(apiserver.DNSNames, b)
		})
	}
	for _, n := range names {
		node := config.Node{Name: n}
		if i := slices.IndexFunc(c.EtcdMembers, func(m config.Node) bool { return m.Name == n }); i >= 0 {
			node = c.EtcdMembers[i]
			node.IPs, node.DNSNames = slices.Clone(node.IPs), slices.Clone(node.DNSNames)
		} else if pod := t.pods[podOf[n]]; pod != nil {
			if ip := podFlags(pod)["advertise-address"]; ip != "" {
				node.IPs = []string{ip}
			}
		}
		c.ControlPlane = append(c.ControlPlane, node)
	}
	if len(c.ControlPlane) == 0 {
		return nil, under("cannot tell the control-plane nodes: no etcd member named by %s and no per-node manifest folders", layout.CertFile(plan.CertAPIServer))
	}
	if len(c.EtcdMembers) == 0 {
		return nil, under("cannot tell the etcd members: no %s", layout.CertFile(plan.CertEtcdServer))
	}
	if apiserver != nil {
		c.SetDefaults("")
		c.ExtraSANs = extraSANs(apiserver, c)
	}

	if pods := t.component(string(hardening.APIServer)); len(pods) > 0 {
		repo, tag, ok := splitImage(pods[0].Spec.Containers[0].Image, string(hardening.APIServer))
		if !ok {
			return nil, under("the kube-apiserver image %q is not <repository>/kube-apiserver:<tag>", pods[0].Spec.Containers[0].Image)
		}
		c.Render.ImageRepository, c.Render.KubernetesVersion = repo, tag
		if v := podFlags(pods[0])["client-ca-file"]; strings.HasSuffix(v, "/"+layout.CertFile(plan.ClusterCA)) {
			c.Render.Root = strings.TrimSuffix(v, "/"+layout.CertFile(plan.ClusterCA))
		}
	}
	if pods := t.component(string(hardening.Etcd)); len(pods) > 0 {
		if _, tag, ok := splitImage(pods[0].Spec.Containers[0].Image, string(hardening.Etcd)); ok {
			c.Render.EtcdVersion = tag
		}
	}
	if groups := t.bootstrapGroups(); groups != nil {
		c.BootstrapToken.ExtraGroups = groups
	}
	c.SetDefaults("")
	if err := c.Validate(); err != nil {
		return nil, under("%v", err)
	}
	return c, nil
}

// issuerOf is the folder's CA certificate that signed c, or nil.
func (t *tree) issuerOf(c *x509.Certificate) *x509.Certificate {
	for _, f := range t.files {
		ca := t.certs[f]
		if ca != nil && ca.IsCA && pki.SignedBy(c, ca) {
			return ca
		}
	}
	return nil
}

// bootstrapGroups are the extra groups of the token init made, if its
// Secret is there.
func (t *tree) bootstrapGroups() []string {
	toks, err := ListTokenManifests(t.d)
	if err != nil {
		return nil
	}
	for _, tok := range toks {
		if tok.Token.Description == initTokenDescription {
			return tok.Token.ExtraGroups
		}
	}
	return nil
}

// extraSANs are the API server certificate's names that nothing else in
// the configuration accounts for.
func extraSANs(c *x509.Certificate, cfg *config.Cluster) []string {
	known := map[string]bool{cfg.APIHost(): true}
	for _, n := range plan.ServiceNames(cfg.ClusterDomain) {
		known[n] = true
	}
	for _, ip := range cfg.ServiceIPs() {
		known[ip.String()] = true
	}
	for _, n := range cfg.ControlPlane {
		known[n.Name] = true
		for _, s := range append(slices.Clone(n.IPs), n.DNSNames...) {
			known[s] = true
		}
	}
	var extra []string
	for _, n := range c.DNSNames {
		if !known[n] {
			extra = append(extra, n)
		}
	}
	for _, ip := range c.IPAddresses {
		if !known[ip.String()] {
			extra = append(extra, ip.String())
		}
	}
	return extra
}

// splitImage splits "<repository>/<component>:<tag>".
func splitImage(image, component string) (repo, tag string, ok bool) {
	i := strings.LastIndex(image, "/"+component+":")
	if i <= 0 {
		return "", "", false
	}
	return image[:i], image[i+len(component)+2:], true
}

// Drift is a setting of a configuration that the folder's existing keys
// and certificates contradict.
type Drift struct {
	Field  string // the configuration's field
	Config string // what the configuration says
	Tree   string // what the folder says, and where
	Fix    string // the command that brings the folder to the configuration, "" if none
}

func (dr Drift) String() string {
	s := fmt.Sprintf("%s: the configuration says %s, but %s", dr.Field, dr.Config, dr.Tree)
	if dr.Fix != "" {
		s += fmt.Sprintf("; run `%s` to bring the folder to the configuration", dr.Fix)
	}
	return s
}

// DriftError is a configuration that disagrees with the folder's keys:
// nothing was written.
type DriftError []Drift

func (e DriftError) Error() string {
	lines := make([]string, len(e))
	for i, d := range e {
		lines[i] = "drift: " + d.String()
	}
	return strings.Join(lines, "\n")
}

// CheckDrift compares a configuration with what the folder's existing
// keys and certificates say: the key algorithm, the CA and leaf
// lifetimes, the cluster name, the etcd members' names. A configuration
// that disagrees is a DriftError; it must not be written over the saved
// one (nor used to sign) as if it described this cluster.
func CheckDrift(d *store.Dir, c *config.Cluster, opts Options) error {
	t, err := readTree(d)
	if err != nil {
		return err
	}
	fix := fixer{args: opts.FixArgs}
	var out DriftError
	want, err := pki.ParseAlgorithm(c.KeyAlgorithm)
	if err != nil {
		return err
	}
	if alg, file, err := t.caKeyAlgorithm(); err == nil && alg != "" && alg != want {
		out = append(out, Drift{Field: "keyAlgorithm", Config: string(want), Tree: fmt.Sprintf("%s is %s (existing keys keep their algorithm)", file, alg)})
	}
	if ca := t.certs[layout.CertFile(plan.ClusterCA)]; ca != nil {
		if got := lifetime(ca); got != c.Validity.CA.D() {
			out = append(out, Drift{Field: "validity.ca", Config: c.Validity.CA.String(), Tree: fmt.Sprintf("%s was issued for %s", layout.CertFile(plan.ClusterCA), config.Duration(got)),
				Fix: fix.renew(false, plan.ClusterCA, plan.EtcdCA, plan.EtcdPeerCA, plan.FrontProxyCA)})
		}
	}
	if leaf := t.certs[layout.CertFile(plan.CertAPIServer)]; leaf != nil {
		if issuer := t.issuerOf(leaf); issuer == nil || !leaf.NotAfter.Equal(issuer.NotAfter) {
			if got := lifetime(leaf); got != c.Validity.Leaf.D() {
				out = append(out, Drift{Field: "validity.leaf", Config: c.Validity.Leaf.String(), Tree: fmt.Sprintf("%s was issued for %s", layout.CertFile(plan.CertAPIServer), config.Duration(got)),
					Fix: fix.renew(false, "--all")})
			}
		}
	}
	if kc, file := t.firstKubeconfig(); kc != nil && kc.ClusterName != c.ClusterName {
		var names []string
		for _, k := range []string{plan.KubeconfigAdmin, plan.KubeconfigSuperAdmin, plan.KubeconfigControllerManager, plan.KubeconfigScheduler, plan.KubeconfigBootstrapKubelet} {
			if slices.Contains(t.files, layout.KubeconfigFile(k)) {
				names = append(names, k)
			}
		}
		out = append(out, Drift{Field: "clusterName", Config: strconv.Quote(c.ClusterName), Tree: fmt.Sprintf("%s names cluster %q", file, kc.ClusterName),
			Fix: fix.renew(false, names...)})
	}
	// Names: a certificate that names more than the configuration does
	// (a node, an address, an extra SAN since removed).
	if p, err := plan.New(c); err == nil {
		for _, spec := range p.Certs {
			cert := t.certs[spec.CertFile()]
			if cert == nil {
				continue
			}
			if extra := extraNames(cert, spec.Subject); len(extra) > 0 {
				out = append(out, Drift{Field: "names", Config: "no " + strings.Join(extra, ", ") + " for " + spec.Name,
					Tree: fmt.Sprintf("%s names them", spec.CertFile()), Fix: fix.renew(false, spec.Name)})
			}
		}
	}
	// A member whose files are in their own folder and that the
	// configuration no longer lists (one member, at kubeadm's paths, is
	// renamed by renewing its certificates: a names drift above).
	single := slices.Contains(t.files, layout.CertFile(plan.CertEtcdServer)) && len(c.EtcdMembers) == 1
	for _, m := range t.etcdMembers() {
		if !single && !slices.ContainsFunc(c.EtcdMembers, func(n config.Node) bool { return n.Name == m.Name }) {
			out = append(out, Drift{Field: "etcdMembers", Config: "no member " + strconv.Quote(m.Name),
				Tree: fmt.Sprintf("the folder holds etcd member %q's certificates (a member is removed from etcd first, then its files)", m.Name)})
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// ExpectedCertificates lists the files that hold the plan's certificates:
// the CAs', the leaves', and the kubeconfigs with a client certificate.
// For a plan derived from the folder, a CA that is absent while the
// existing certificates the plan has it sign are signed by another of the
// folder's CAs (kubeadm's etcd peer certificate is its etcd CA's) is not
// expected: the folder has no such CA by design.
func ExpectedCertificates(d *store.Dir, p *plan.Plan, derived bool) ([]string, error) {
	t, err := readTree(d)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ca := range p.CAs {
		if derived && !slices.Contains(t.files, ca.CertFile()) {
			covered := true
			for _, c := range p.Certs {
				leaf := t.certs[c.CertFile()]
				if c.CA == ca.Name && (leaf == nil || t.issuerOf(leaf) == nil) {
					covered = false
				}
			}
			if covered {
				continue
			}
		}
		out = append(out, ca.CertFile())
	}
	for _, c := range p.Certs {
		out = append(out, c.CertFile())
	}
	for _, k := range p.Kubeconfigs {
		if !k.UsesToken() {
			out = append(out, k.File())
		}
	}
	return out, nil
}

// extraNames lists a certificate's names that want does not have.
func extraNames(c *x509.Certificate, want pki.Subject) []string {
	var out []string
	for _, n := range c.DNSNames {
		if !slices.Contains(want.DNSNames, n) {
			out = append(out, n)
		}
	}
	for _, ip := range c.IPAddresses {
		if !slices.ContainsFunc(want.IPs, ip.Equal) {
			out = append(out, ip.String())
		}
	}
	return out
}

// apiServerManifestNode tells a node's API server manifest in a folder of
// several hosts: nodes/<node>/manifests/kube-apiserver.yaml, or an earlier
// release's manifests/<node>/kube-apiserver.yaml.
func apiServerManifestNode(f string) (string, bool) {
	if path.Base(f) != string(hardening.APIServer)+".yaml" {
		return "", false
	}
	if n, own, ok := layout.SplitNodeFile(f); ok && own == layout.ManifestsDir+"/"+path.Base(f) {
		return n, true
	}
	if dir := path.Dir(f); path.Dir(dir) == layout.ManifestsDir {
		return path.Base(dir), true
	}
	return "", false
}
