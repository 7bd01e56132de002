package plan

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
)

// CA is a resolved trust root.
//
// Its files keep kubeadm's names: CertFile is what components trust (the
// CA alone, or during a rotation a bundle of the old and the new CA),
// KeyFile the key that signs now. The signing certificate is the one of
// CertFile that matches KeyFile; a CA that a component signs with (Signer:
// the controller manager's CSR signers) also has it alone in
// SignerCertFile, so that no signing flag ever names a bundle.
type CA struct {
	Name string
	// Root is the name `bulwark rotate` knows it by.
	Root     string
	CN       string
	Signs    string
	Trusted  string
	Signer   bool
	Validity time.Duration
}

// CertFile and KeyFile are the CA's paths relative to the cluster folder.
func (c CA) CertFile() string { return layout.CertFile(c.Name) }
func (c CA) KeyFile() string  { return layout.KeyFile(c.Name) }

// SignerCertFile is the signing certificate alone, for a Signer CA.
func (c CA) SignerCertFile() string { return layout.SignerCertFile(c.Name) }

// Request is what the CA issues itself.
func (c CA) Request() pki.Request {
	return pki.Request{Subject: pki.Subject{CommonName: c.CN}, IsCA: true, Validity: c.Validity}
}

// Cert is a resolved leaf certificate.
type Cert struct {
	Name     string // e.g. "apiserver", "etcd/server", "etcd/member-2/peer"
	Kind     string // the spec it comes from, e.g. "etcd/peer"
	CA       string
	Member   string // etcd member, for per-member certificates
	Subject  pki.Subject
	Usages   []pki.Usage
	Validity time.Duration
	Purpose  string
}

// CertFile and KeyFile are the certificate's paths relative to the cluster folder.
func (c Cert) CertFile() string { return layout.CertFile(c.Name) }
func (c Cert) KeyFile() string  { return layout.KeyFile(c.Name) }

// Request is what the CA is asked to sign.
func (c Cert) Request() pki.Request {
	return pki.Request{Subject: c.Subject, Usages: c.Usages, Validity: c.Validity}
}

// Kubeconfig is a resolved kubeconfig file.
type Kubeconfig struct {
	Name     string // e.g. "admin", "controller-manager", "nodes/cp-2/scheduler"
	Kind     string // the spec it comes from, e.g. "scheduler"
	Node     string // control-plane node, for per-node kubeconfigs
	CA       string
	Subject  pki.Subject // empty CommonName: bootstrap token
	Server   string
	Validity time.Duration
	Purpose  string
}

// File is the kubeconfig's path relative to the cluster folder.
func (k Kubeconfig) File() string { return layout.KubeconfigFile(k.Name) }

// UsesToken reports whether the kubeconfig authenticates with a bootstrap token.
func (k Kubeconfig) UsesToken() bool { return k.Subject.CommonName == "" }

// Request is the client certificate request of a certificate kubeconfig.
func (k Kubeconfig) Request() pki.Request {
	return pki.Request{Subject: k.Subject, Usages: []pki.Usage{pki.ClientAuth}, Validity: k.Validity}
}

// ServiceAccountKey is the key pair that signs service-account tokens.
const (
	ServiceAccountKeyFile = layout.PKIDir + "/sa.key"
	ServiceAccountPubFile = layout.PKIDir + "/sa.pub"
)

// Plan is everything bulwark writes for one cluster, resolved.
type Plan struct {
	Config      *config.Cluster
	Algorithm   pki.Algorithm
	CAs         []CA
	Certs       []Cert
	Kubeconfigs []Kubeconfig
	TokenTTL    time.Duration
	TokenGroups []string
	KubeletCert time.Duration
}

// New resolves the tables for a validated configuration.
func New(c *config.Cluster) (*Plan, error) {
	alg, err := pki.ParseAlgorithm(c.KeyAlgorithm)
	if err != nil {
		return nil, err
	}
	p := &Plan{
		Config:      c,
		Algorithm:   alg,
		TokenTTL:    c.BootstrapToken.TTL.D(),
		TokenGroups: append([]string(nil), c.BootstrapToken.ExtraGroups...),
		KubeletCert: c.Validity.KubeletClient.D(),
	}
	for _, s := range caSpecs() {
		p.CAs = append(p.CAs, CA{Name: s.name, Root: s.root, CN: s.cn, Signs: s.signs, Trusted: s.trusted, Signer: s.signer, Validity: c.Validity.CA.D()})
	}
	for _, s := range certSpecs() {
		if !s.perMember {
			p.Certs = append(p.Certs, p.resolveCert(s, s.name, nil))
			continue
		}
		for i := range c.EtcdMembers {
			m := &c.EtcdMembers[i]
			p.Certs = append(p.Certs, p.resolveCert(s, memberPath(s.name, m.Name, len(c.EtcdMembers)), m))
		}
	}
	for _, s := range kubeconfigSpecs() {
		k := Kubeconfig{Name: s.name, Kind: s.name, Server: c.APIServerURL(), Validity: c.Validity.Leaf.D(), Purpose: s.purpose,
			Subject: pki.Subject{CommonName: s.cn, Organizations: slices.Clone(s.orgs)}}
		if s.cn != "" {
			k.CA = ClusterCA
		}
		if !s.perNode {
			p.Kubeconfigs = append(p.Kubeconfigs, k)
			continue
		}
		for _, n := range c.ControlPlane {
			nk := k
			nk.Name, nk.Node, nk.Server = p.NodeFile(n.Name, s.name), n.Name, NodeAPIServerURL(n)
			p.Kubeconfigs = append(p.Kubeconfigs, nk)
		}
	}
	return p, nil
}

// Hosts lists every host that runs a static Pod: control-plane nodes and
// etcd members, without repeats, in configuration order.
func (p *Plan) Hosts() []string {
	var names []string
	for _, n := range append(slices.Clone(p.Config.ControlPlane), p.Config.EtcdMembers...) {
		if !slices.Contains(names, n.Name) {
			names = append(names, n.Name)
		}
	}
	return names
}

// PerNode reports whether the folder is for several hosts: then what
// differs from host to host goes under layout.NodesDir, one folder each.
func (p *Plan) PerNode() bool { return len(p.Hosts()) > 1 }

// NodeFile is where a host's own file goes: rel (kubeadm's path) in a
// folder for one host, nodes/<node>/rel in a folder for several.
func (p *Plan) NodeFile(node, rel string) string {
	if !p.PerNode() {
		node = ""
	}
	return layout.NodeFile(node, rel)
}

// NodeAPIServerURL is a control-plane node's own API server: its first IP
// address (else its first DNS name, else its name) on the API server's
// port, as kubeadm's controller-manager.conf and scheduler.conf name it.
// The API server's serving certificate covers all three.
func NodeAPIServerURL(n config.Node) string {
	host := n.Name
	switch {
	case len(n.IPs) > 0:
		host = n.IPs[0]
	case len(n.DNSNames) > 0:
		host = n.DNSNames[0]
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(config.DefaultAPIPort))
}

// Kubeconfig returns a kubeconfig by its table name (e.g.
// KubeconfigScheduler) and, for a per-node one, the node's.
func (p *Plan) Kubeconfig(kind, node string) (Kubeconfig, bool) {
	for _, k := range p.Kubeconfigs {
		if k.Kind == kind && (k.Node == "" || k.Node == node) {
			return k, true
		}
	}
	return Kubeconfig{}, false
}

// Warnings name what the configuration allows but a demanding operator
// would not want, for init and plan to print.
func (p *Plan) Warnings() []string {
	var out []string
	c := p.Config
	if len(c.ControlPlane) > 1 {
		host := c.APIHost()
		for _, n := range c.ControlPlane {
			if host == n.Name || slices.Contains(n.IPs, host) || slices.Contains(n.DNSNames, host) {
				out = append(out, fmt.Sprintf("apiEndpoint %s is control-plane node %s's own address: with %s down, "+
					"admin.conf, bootstrap-kubelet.conf and every kubelet lose the API although %d other API server(s) run; "+
					"set apiEndpoint to a load balancer or virtual IP in front of all %d",
					c.APIEndpoint, n.Name, n.Name, len(c.ControlPlane)-1, len(c.ControlPlane)))
				break
			}
		}
	}
	return out
}

// memberPath places per-member certificates: kubeadm's own paths
// (pki/etcd/server) for a single member, one folder per member otherwise
// (pki/etcd/<member>/server), so each node gets its own copy.
func memberPath(name, member string, members int) string {
	if members == 1 {
		return name
	}
	dir, base := splitLast(name)
	return dir + "/" + member + "/" + base
}

func splitLast(p string) (string, string) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i], p[i+1:]
		}
	}
	return "", p
}

func (p *Plan) resolveCert(s certSpec, name string, m *config.Node) Cert {
	c := p.Config
	cert := Cert{Name: name, Kind: s.name, CA: s.ca, Usages: slices.Clone(s.usages), Validity: c.Validity.Leaf.D(), Purpose: s.purpose}
	cert.Subject.CommonName = s.cn
	cert.Subject.Organizations = slices.Clone(s.orgs)
	if m != nil {
		cert.Member = m.Name
		cert.Subject.CommonName = m.Name
	}
	var names sanSet
	switch s.sans {
	case sansAPIServer:
		names.dns(ServiceNames(c.ClusterDomain)...)
		names.ips(c.ServiceIPs()...)
		names.add(c.APIHost())
		for _, n := range c.ControlPlane {
			names.dns(n.Name)
			names.dns(n.DNSNames...)
			names.add(n.IPs...)
		}
		names.add(c.ExtraSANs...)
	case sansEtcdServer:
		names.dns(m.Name, "localhost")
		names.dns(m.DNSNames...)
		names.add(m.IPs...)
		names.ips(net.IPv4(127, 0, 0, 1), net.IPv6loopback)
	case sansEtcdPeer:
		names.dns(m.Name)
		names.dns(m.DNSNames...)
		names.add(m.IPs...)
	}
	cert.Subject.DNSNames, cert.Subject.IPs = names.dnsNames, names.ipList
	return cert
}

// ServiceNames are the in-cluster DNS names of the API server: the
// "kubernetes" Service in "default", short and fully qualified.
func ServiceNames(clusterDomain string) []string {
	const svc = "kubernetes"
	return []string{svc, svc + ".default", svc + ".default.svc", svc + ".default.svc." + clusterDomain}
}

// sanSet collects names without repeats, in the order first given.
type sanSet struct {
	dnsNames []string
	ipList   []net.IP
}

func (s *sanSet) dns(names ...string) {
	for _, n := range names {
		if !slices.Contains(s.dnsNames, n) {
			s.dnsNames = append(s.dnsNames, n)
		}
	}
}

func (s *sanSet) ips(ips ...net.IP) {
	for _, ip := range ips {
		if !slices.ContainsFunc(s.ipList, ip.Equal) {
			s.ipList = append(s.ipList, ip)
		}
	}
}

// add takes IP addresses and DNS names mixed.
func (s *sanSet) add(names ...string) {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			s.ips(ip)
		} else {
			s.dns(n)
		}
	}
}

// Roots lists the trust roots `bulwark rotate` rotates: each CA by its
// root name, then the service-account key.
func (p *Plan) Roots() []string {
	var out []string
	for _, c := range p.CAs {
		out = append(out, c.Root)
	}
	return append(out, RootServiceAccount)
}

// CAOfRoot returns the CA a root name stands for (false for the
// service-account key and unknown names).
func (p *Plan) CAOfRoot(root string) (CA, bool) {
	for _, c := range p.CAs {
		if c.Root == root {
			return c, true
		}
	}
	return CA{}, false
}

// CA returns the named CA.
func (p *Plan) CA(name string) (CA, bool) {
	for _, c := range p.CAs {
		if c.Name == name {
			return c, true
		}
	}
	return CA{}, false
}

// Names lists every name the renew command accepts, sorted.
func (p *Plan) Names() []string {
	var names []string
	for _, c := range p.CAs {
		names = append(names, c.Name)
	}
	for _, c := range p.Certs {
		names = append(names, c.Name)
	}
	for _, k := range p.Kubeconfigs {
		names = append(names, k.Name)
	}
	sort.Strings(names)
	return names
}

// Lookup finds a certificate or kubeconfig by name.
func (p *Plan) Lookup(name string) (any, error) {
	if c, ok := p.CA(name); ok {
		return c, nil
	}
	for _, c := range p.Certs {
		if c.Name == name {
			return c, nil
		}
	}
	for _, k := range p.Kubeconfigs {
		if k.Name == name || k.File() == name {
			return k, nil
		}
	}
	return nil, fmt.Errorf("no certificate or kubeconfig named %q", name)
}
