package audit

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/expiry"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/rotate"
	"github.com/bulwark-k8s/bulwark/store"
	"github.com/bulwark-k8s/bulwark/trust"
)

// Rule IDs of expiry.
const (
	idCertExpired  = "cert:expired"
	idCertExpiring = "cert:expiring"
	// A certificate whose validity begins later: a clock set wrong, or
	// one made for later use or backdated trust tricks; TLS refuses it now.
	idCertNotYetValid = "cert:not-yet-valid"
)

// caFile returns the CA file a component trusts for a flag: the effective
// flag when the component is known, else the table's file.
func (a *auditor) caFile(comps []*Component, comp hardening.Component, flag, caName string) (string, string) {
	if c := findIn(comps, comp); c != nil {
		if v, ok := c.Flags[flag]; ok && v.Value != "" {
			return a.local(v.Value), fmt.Sprintf("%s --%s", comp, flag)
		}
	}
	ca, _ := a.plan.CA(caName)
	return a.dir.Path(ca.CertFile()), ca.CertFile()
}

func (a *auditor) loadCerts(file string) []*x509.Certificate {
	data, err := a.read(file)
	if err != nil {
		return nil
	}
	certs, err := pki.ParseCerts(data)
	if err != nil {
		return nil
	}
	return certs
}

// sharesKey reports whether two bundles hold a certificate with the same
// public key: the same CA, however the files are named.
func sharesKey(a, b []*x509.Certificate) bool {
	for _, x := range a {
		for _, y := range b {
			if pki.PublicKeysEqual(x.PublicKey, y.PublicKey) {
				return true
			}
		}
	}
	return false
}

// checkCAs compares the trust roots the node's components use, by key,
// never by file name.
func (a *auditor) checkCAs(comps []*Component, node string) {
	etcdFile, etcdWhat := a.caFile(comps, hardening.Etcd, "trusted-ca-file", plan.EtcdCA)
	peerFile, peerWhat := a.caFile(comps, hardening.Etcd, "peer-trusted-ca-file", plan.EtcdPeerCA)
	clusterFile, clusterWhat := a.caFile(comps, hardening.APIServer, "client-ca-file", plan.ClusterCA)
	proxyFile, proxyWhat := a.caFile(comps, hardening.APIServer, "requestheader-client-ca-file", plan.FrontProxyCA)
	etcdCAs, peerCAs, clusterCAs, proxyCAs := a.loadCerts(etcdFile), a.loadCerts(peerFile), a.loadCerts(clusterFile), a.loadCerts(proxyFile)
	for _, p := range []struct {
		a, b               []*x509.Certificate
		aWhat, bWhat, file string
		id                 string
	}{
		{etcdCAs, clusterCAs, etcdWhat, clusterWhat, etcdFile, idEtcdSeparateCA},
		{peerCAs, clusterCAs, peerWhat, clusterWhat, peerFile, idEtcdPeerCluster},
		{peerCAs, etcdCAs, peerWhat, etcdWhat, peerFile, idEtcdPeerCA},
		{proxyCAs, clusterCAs, proxyWhat, clusterWhat, proxyFile, idFrontProxyCA},
	} {
		if len(p.a) == 0 || len(p.b) == 0 {
			continue
		}
		a.r.Check(p.id)
		if sharesKey(p.a, p.b) {
			f := newFinding(p.id, nil, Evidence{File: p.file, Detail: fmt.Sprintf("%s and %s hold the same CA key", p.aWhat, p.bWhat)})
			f.Node = node
			a.r.Add(f)
		}
	}
}

// channelCAs are the CA files each channel must trust or sign with, and
// the other CAs whose use there a rule of its own already reports.
var channelCAs = []struct {
	comp        hardening.Component
	flag, ca    string
	coveredElse []string
}{
	{hardening.APIServer, "client-ca-file", plan.ClusterCA, nil},
	{hardening.APIServer, "etcd-cafile", plan.EtcdCA, nil},
	{hardening.APIServer, "requestheader-client-ca-file", plan.FrontProxyCA, []string{plan.ClusterCA}},
	{hardening.ControllerManager, "cluster-signing-cert-file", plan.ClusterCA, nil},
	{hardening.ControllerManager, "cluster-signing-" + hardening.KubeletClientSigner + "-cert-file", plan.ClusterCA, nil},
	{hardening.ControllerManager, "root-ca-file", plan.ClusterCA, nil},
	{hardening.Kubelet, "authentication.x509.clientCAFile", plan.ClusterCA, nil},
	{hardening.Etcd, "trusted-ca-file", plan.EtcdCA, []string{plan.ClusterCA}},
	{hardening.Etcd, "peer-trusted-ca-file", plan.EtcdPeerCA, []string{plan.ClusterCA, plan.EtcdCA}},
}

// checkChannelCAs wants each channel's CA flag to name that channel's CA:
// a file holding another planned CA's key is a finding.
func (a *auditor) checkChannelCAs(comps []*Component, node string) {
	planned := map[string][]*x509.Certificate{}
	for _, ca := range a.plan.CAs {
		planned[ca.Name] = a.loadCerts(a.dir.Path(ca.CertFile()))
	}
	for _, ch := range channelCAs {
		c := findIn(comps, ch.comp)
		if c == nil {
			continue
		}
		v := c.Flags[ch.flag]
		if c.Name == hardening.Kubelet {
			v = c.kubelet(ch.flag)
		}
		if v.Unset || v.Value == "" {
			continue
		}
		have := a.loadCerts(a.local(v.Value))
		if len(have) == 0 || sharesKey(have, planned[ch.ca]) {
			continue
		}
		a.r.Check(idChannelCA)
		for _, ca := range a.plan.CAs {
			if ca.Name == ch.ca || slices.Contains(ch.coveredElse, ca.Name) || !sharesKey(have, planned[ca.Name]) {
				continue
			}
			f := newFinding(idChannelCA, c, Evidence{File: or(v.Origin.File, c.Source), Line: v.Origin.Line,
				Detail: fmt.Sprintf("%s names %s, which holds %s's key; its channel's CA is %s", ch.flag, v.Value, ca.CertFile(), layout.CertFile(ch.ca))})
			f.Node = node
			a.r.Add(f)
		}
	}
}

// checkTree walks the folder: every file and folder's mode and owner,
// every certificate, key and kubeconfig through package trust, and the
// expiry of every certificate.
func (a *auditor) checkTree() {
	in := trust.Input{Plan: a.plan, Defaulted: a.defaulted, ServiceIPs: a.serviceIPs()}
	named := a.namedSecrets()
	if !a.defaulted {
		// A recorded rotation's old and new CAs are no extra CAs.
		in.Rotating = rotate.InProgress(a.dir, a.plan).Keys
	}
	root := a.dir.Path(".")
	_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if e.Name() == layout.LockFile || strings.HasPrefix(e.Name(), ".bulwark-tmp") {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		f := trust.File{Path: rel, Mode: fi.Mode()}
		if abs, err := filepath.Abs(p); err == nil {
			a.checked[abs] = true
			if k, ok := named[abs]; ok && !e.IsDir() && layout.Classify(rel) == layout.Unknown {
				f.Kind = k
			}
		}
		a.checkOwner(p, rel, fi)
		if !e.IsDir() && f.Kind == layout.Unknown {
			a.parse(&f)
		}
		in.Files = append(in.Files, f)
		return nil
	})
	for _, f := range in.Files {
		a.r.Check(trust.WritableOthers)
		switch {
		case len(f.Certs) > 0:
			a.r.Check(trust.WeakKey)
			a.checkExpiry(f.Path, "certificate "+f.Path, f.Certs[0])
		case f.Kubeconfig != nil:
			for _, name := range sortedKeys(f.Kubeconfig.AuthInfos) {
				if c, err := pki.ParseCert(f.Kubeconfig.AuthInfos[name].ClientCertificateData); err == nil {
					a.checkExpiry(f.Path, fmt.Sprintf("%s (user %s)", f.Path, name), c)
				}
			}
			for _, name := range sortedKeys(f.Kubeconfig.Clusters) {
				if certs, err := pki.ParseCerts(f.Kubeconfig.Clusters[name].CertificateAuthorityData); err == nil && len(certs) > 0 {
					a.checkExpiry(f.Path, fmt.Sprintf("%s (cluster %s CA)", f.Path, name), certs[0])
				}
			}
		}
	}
	for _, f := range trust.Check(in) {
		a.r.Add(f)
	}
}

// parse reads a file of the folder as its kind.
func (a *auditor) parse(f *trust.File) {
	kind := layout.Classify(f.Path)
	var (
		data []byte
		err  error
	)
	switch kind {
	case layout.PrivateKey, layout.Kubeconfig:
		data, err = a.dir.ReadSecret(f.Path)
	case layout.Certificate, layout.PublicKey:
		data, err = a.dir.Read(f.Path)
	case layout.Unknown:
		// A key or certificate outside its place (a CA key copied next to
		// the kubelet's configuration): judged by what it holds.
		if !strings.HasSuffix(f.Path, ".key") && !strings.HasSuffix(f.Path, ".pem") {
			return
		}
		// Read as it is: plaintext, or sealed (an encrypted folder).
		if data, err = a.dir.Read(f.Path); err != nil {
			return
		}
		if atrest.IsSealed(data) {
			if data, err = a.dir.ReadSecret(f.Path); err != nil {
				return
			}
		}
		if k, err := pki.ParsePrivateKey(data); err == nil {
			f.Key, f.Kind = k, layout.PrivateKey
		} else if certs, err := pki.ParseCerts(data); err == nil && len(certs) > 0 {
			f.Certs, f.Kind = certs, layout.Certificate
		}
		return
	default:
		return
	}
	if err != nil {
		// A secret sealed at rest (age) that this run cannot open is not
		// broken: its certificate and mode are still judged.
		if raw, rerr := a.dir.Read(f.Path); rerr == nil && bytes.HasPrefix(raw, []byte("age-encryption.org/")) {
			return
		}
		f.Err = err
		return
	}
	switch kind {
	case layout.PrivateKey:
		f.Key, f.Err = pki.ParsePrivateKey(data)
	case layout.Certificate:
		f.Certs, f.Err = pki.ParseCerts(data)
	case layout.PublicKey:
		f.Pubs, f.Err = pki.ParsePublicKeys(data)
		if f.Err == nil {
			f.Pub = f.Pubs[0]
		}
	case layout.Kubeconfig:
		f.Kubeconfig, f.Err = clientcmd.Load(data)
	}
	if f.Err != nil {
		f.Err = errors.New(strings.SplitN(f.Err.Error(), "\n", 2)[0])
	}
}

// serviceIPs are the first address of each service range: the API
// server's --service-cluster-ip-range, else the configuration's.
func (a *auditor) serviceIPs() []net.IP {
	cidrs := a.cfg.ServiceCIDR
	for _, n := range a.nodeNames() {
		if c := findIn(a.nodes[n], hardening.APIServer); c != nil && c.Given("service-cluster-ip-range") {
			cidrs = c.Flags["service-cluster-ip-range"].Value
		}
	}
	var out []net.IP
	for _, s := range listValue(cidrs) {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			continue
		}
		ip := make(net.IP, len(n.IP))
		copy(ip, n.IP)
		ip[len(ip)-1]++
		out = append(out, ip)
	}
	return out
}

func (a *auditor) checkExpiry(file, what string, c *x509.Certificate) {
	a.r.Check(idCertExpired)
	a.r.Check(idCertNotYetValid)
	switch expiry.Judge(c, a.opts.Now, a.opts.WarnWithin) {
	case expiry.Expired:
		f := newFinding(idCertExpired, nil, Evidence{File: file, Detail: fmt.Sprintf("%s (%s) ended %s", what, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))})
		a.r.Add(f)
	case expiry.Invalid:
		a.r.Add(newFinding(idCertNotYetValid, nil, Evidence{File: file, Detail: fmt.Sprintf("%s (%s) begins %s", what, c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339))}))
	case expiry.Expiring:
		f := newFinding(idCertExpiring, nil, Evidence{File: file, Detail: fmt.Sprintf("%s (%s) ends %s", what, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))})
		a.r.Add(f)
	}
}

// checkOwner wants Options.FileOwner and FileGroup to own every file of
// the control plane the audit reads.
func (a *auditor) checkOwner(file, shown string, fi fs.FileInfo) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	a.r.Check(idFileOwner)
	if uid, gid := int(st.Uid), int(st.Gid); uid != a.opts.FileOwner || gid != a.opts.FileGroup {
		f := newFinding(idFileOwner, nil, Evidence{File: shown, Detail: "owned by " + ids(uid, gid) + ", not " + ids(a.opts.FileOwner, a.opts.FileGroup)})
		f.Remediation = fmt.Sprintf("chown %d:%d %s", a.opts.FileOwner, a.opts.FileGroup, file)
		a.r.Add(f)
	}
}

// ids shows a user and group by name where the machine knows them.
func ids(uid, gid int) string {
	u, g := strconv.Itoa(uid), strconv.Itoa(gid)
	if x, err := user.LookupId(u); err == nil {
		u = x.Username
	}
	if x, err := user.LookupGroupId(g); err == nil {
		g = x.Name
	}
	return u + ":" + g
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

// componentKubeconfigs are the kubeconfig each component must
// authenticate with: its own identity of the plan's table.
var componentKubeconfigs = map[hardening.Component]string{
	hardening.ControllerManager: plan.KubeconfigControllerManager,
	hardening.Scheduler:         plan.KubeconfigScheduler,
}

// checkComponentIdentity wants the controller manager and the scheduler
// to talk to the API server as themselves: the client certificate of the
// kubeconfig they are given must carry their own CN, not an
// administrator's or another component's.
func (a *auditor) checkComponentIdentity(c *Component) {
	name, ok := componentKubeconfigs[c.Name]
	if !ok {
		return
	}
	var want string
	for _, k := range a.plan.Kubeconfigs {
		if k.Name == name {
			want = k.Subject.CommonName
		}
	}
	v, ok := c.Flags["kubeconfig"]
	if !ok || v.Value == "" || want == "" {
		return
	}
	data, err := store.ReadInput(a.local(v.Value), maxInput)
	if err != nil {
		return
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil || cfg.AuthInfos[ctx.AuthInfo] == nil {
		return
	}
	cert, err := pki.ParseCert(cfg.AuthInfos[ctx.AuthInfo].ClientCertificateData)
	if err != nil {
		return
	}
	a.r.Check(trust.KubeconfigIdentity)
	if cert.Subject.CommonName != want {
		f := newFinding(trust.KubeconfigIdentity, c, Evidence{File: or(v.Origin.File, c.Source), Line: v.Origin.Line,
			Detail: fmt.Sprintf("--kubeconfig=%s authenticates as %q (O %q), not %q", v.Value, cert.Subject.CommonName, cert.Subject.Organization, want)})
		a.r.Add(f)
	}
}
