package config

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/util/validation"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"

	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/release"
)

// Limits that keep a configuration to what a control plane can be.
const (
	// MaxNodes bounds the control-plane nodes and the etcd members: etcd
	// clusters beyond 7 members are slower, not safer; 64 leaves room for
	// anything real.
	MaxNodes = 64
	// MaxNames bounds each list of names or addresses.
	MaxNames = 64
	// MaxServiceHostBits is kube-apiserver's own limit on a Service CIDR
	// (20 host bits: an IPv4 /12, an IPv6 /108).
	MaxServiceHostBits = 20
	// MinServiceHostBits: a Service CIDR needs room for the "kubernetes"
	// Service's address and at least a few more.
	MinServiceHostBits = 2
	// MaxCAValidity: 100 years; beyond it a date is a typo.
	MaxCAValidity = 100 * 365 * 24 * time.Hour
	// MinCAValidity: a CA that ends within a day is a typo.
	MinCAValidity = 24 * time.Hour
	// MinLeafValidity and MinKubeletClient: a certificate must outlive the
	// clock skew it is backdated for.
	MinLeafValidity  = time.Hour
	MinKubeletClient = 10 * time.Minute
	// MaxTokenTTL: bootstrap tokens are for joining nodes, not for years.
	MaxTokenTTL = 365 * 24 * time.Hour
)

// Validate checks a defaulted configuration. The first problem found is
// returned as an *Error naming its field.
func (c *Cluster) Validate() error {
	if !isDNSLabel(c.ClusterName) {
		return fieldErr("clusterName", "invalid cluster name %q (lower-case letters, digits and '-', at most 63)", c.ClusterName)
	}
	if len(c.ControlPlane) == 0 {
		return fieldErr("controlPlane", "at least one control-plane node is required")
	}
	for _, list := range []struct {
		field string
		nodes []Node
	}{{"controlPlane", c.ControlPlane}, {"etcdMembers", c.EtcdMembers}} {
		if len(list.nodes) > MaxNodes {
			return fieldErr(list.field, "%d nodes; at most %d", len(list.nodes), MaxNodes)
		}
	}
	if err := validateServiceCIDR(c.ServiceCIDR); err != nil {
		return err
	}
	if err := validateNodes("controlPlane", c.ControlPlane, false, mixesLoopback(c.ControlPlane), c.ServiceCIDR); err != nil {
		return err
	}
	if err := validateNodes("etcdMembers", c.EtcdMembers, true, mixesLoopback(c.EtcdMembers), c.ServiceCIDR); err != nil {
		return err
	}
	if err := validateEndpoint(c.APIEndpoint); err != nil {
		return err
	}
	if errs := validation.IsDNS1123Subdomain(c.ClusterDomain); len(errs) > 0 || !labelsFit(c.ClusterDomain) {
		return fieldErr("clusterDomain", "invalid DNS domain %q", c.ClusterDomain)
	}
	if _, err := pki.ParseAlgorithm(c.KeyAlgorithm); err != nil {
		return fieldErr("keyAlgorithm", "%v", err)
	}
	if err := c.validateLifetimes(); err != nil {
		return err
	}
	if len(c.ExtraSANs) > MaxNames {
		return fieldErr("extraSANs", "%d names; at most %d", len(c.ExtraSANs), MaxNames)
	}
	seen := map[string]bool{}
	for i, s := range c.ExtraSANs {
		field := fmt.Sprintf("extraSANs[%d]", i)
		if reason := sanProblem(s); reason != "" {
			return fieldErr(field, "%q %s", s, reason)
		}
		if key := sanKey(s); seen[key] {
			return fieldErr(field, "%q is listed twice", s)
		} else {
			seen[key] = true
		}
	}
	if len(c.BootstrapToken.ExtraGroups) > MaxNames {
		return fieldErr("bootstrapToken.extraGroups", "%d groups; at most %d", len(c.BootstrapToken.ExtraGroups), MaxNames)
	}
	groups := map[string]bool{}
	for i, g := range c.BootstrapToken.ExtraGroups {
		field := fmt.Sprintf("bootstrapToken.extraGroups[%d]", i)
		if err := bootstraputil.ValidateBootstrapGroupName(g); err != nil {
			return fieldErr(field, "%q must start with %q", g, "system:bootstrappers:")
		}
		if groups[g] {
			return fieldErr(field, "%q is listed twice", g)
		}
		groups[g] = true
	}
	return c.Render.Validate()
}

// validateLifetimes: every lifetime positive, within its bounds, and no
// certificate outliving the CA that signs it.
func (c *Cluster) validateLifetimes() error {
	for _, v := range []struct {
		field    string
		d        Duration
		min, max time.Duration
	}{
		{"validity.ca", c.Validity.CA, MinCAValidity, MaxCAValidity},
		{"validity.leaf", c.Validity.Leaf, MinLeafValidity, MaxCAValidity},
		{"validity.kubeletClient", c.Validity.KubeletClient, MinKubeletClient, MaxCAValidity},
		{"bootstrapToken.ttl", c.BootstrapToken.TTL, time.Minute, MaxTokenTTL},
	} {
		switch {
		case v.d <= 0:
			return fieldErr(v.field, "must be positive, got %s", v.d)
		case v.d.D() < v.min:
			return fieldErr(v.field, "%s is shorter than %s", v.d, Duration(v.min))
		case v.d.D() > v.max:
			return fieldErr(v.field, "%s is longer than %s", v.d, Duration(v.max))
		}
	}
	if c.Validity.Leaf > c.Validity.CA {
		return fieldErr("validity.leaf", "%s is longer than the CA validity %s", c.Validity.Leaf, c.Validity.CA)
	}
	if c.Validity.KubeletClient > c.Validity.CA {
		return fieldErr("validity.kubeletClient", "%s is longer than the CA validity %s", c.Validity.KubeletClient, c.Validity.CA)
	}
	return nil
}

func fieldErr(field, format string, args ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func validateEndpoint(ep string) error {
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return fieldErr("apiEndpoint", "%q is not host:port", ep)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
		return fieldErr("apiEndpoint", "invalid port %q (1-65535)", port)
	}
	if ip := net.ParseIP(host); ip != nil {
		if reason := ipProblem(ip, false); reason != "" {
			return fieldErr("apiEndpoint", "address %s %s", host, reason)
		}
		return nil
	}
	if !isDNSName(host) {
		return fieldErr("apiEndpoint", "host %q is neither an IP address nor a DNS name", host)
	}
	return nil
}

// mixesLoopback reports whether a list of several nodes has loopback
// addresses beside others: nodes on other machines could not reach the
// loopback ones. Several nodes all on loopback are a cluster on one
// machine (for tests and labs), whose members differ by port: there, and
// only there, one address may be several nodes'.
func mixesLoopback(nodes []Node) bool {
	if len(nodes) < 2 {
		return false
	}
	loop, other := false, false
	for _, n := range nodes {
		for _, s := range n.IPs {
			if ip := net.ParseIP(s); ip != nil && ip.IsLoopback() {
				loop = true
			} else if ip != nil {
				other = true
			}
		}
	}
	return loop && other
}

// ipProblem says why an address cannot be a node's or an endpoint's, or
// "". Loopback is refused where other nodes are elsewhere (multi): they
// could not reach it.
func ipProblem(ip net.IP, multi bool) string {
	switch {
	case ip.IsUnspecified():
		return "is unspecified (it means every address, not one)"
	case ip.IsMulticast():
		return "is a multicast address"
	case ip.Equal(net.IPv4bcast):
		return "is the broadcast address"
	case ip.IsLinkLocalUnicast():
		return "is link-local (it needs an interface to mean anything)"
	case multi && ip.IsLoopback():
		return "is a loopback address, and other nodes are not on this machine: they cannot reach it"
	}
	return ""
}

func validateNodes(field string, nodes []Node, needIP, multi bool, serviceCIDR string) error {
	seen := map[string]bool{}
	ips := map[string]string{}
	_, svc := parseCIDRs(serviceCIDR)
	for i, n := range nodes {
		p := fmt.Sprintf("%s[%d]", field, i)
		if !isDNSName(n.Name) {
			return fieldErr(p+".name", "invalid node name %q (a lower-case DNS name, labels of at most 63)", n.Name)
		}
		if seen[n.Name] {
			return fieldErr(p+".name", "node %q is listed twice", n.Name)
		}
		seen[n.Name] = true
		if needIP && len(n.IPs) == 0 {
			return fieldErr(p+".ips", "etcd member %q needs at least one IP address", n.Name)
		}
		if len(n.IPs) > MaxNames || len(n.DNSNames) > MaxNames {
			return fieldErr(p, "node %q has more than %d addresses or names", n.Name, MaxNames)
		}
		for j, s := range n.IPs {
			f := fmt.Sprintf("%s.ips[%d]", p, j)
			ip := net.ParseIP(s)
			if ip == nil {
				return fieldErr(f, "invalid IP address %q", s)
			}
			if reason := ipProblem(ip, multi); reason != "" {
				return fieldErr(f, "%s %s", s, reason)
			}
			for _, n := range svc {
				if n.Contains(ip) {
					return fieldErr(f, "%s is inside the Service CIDR %s", s, n)
				}
			}
			key := ip.String()
			if other, dup := ips[key]; dup && !(ip.IsLoopback() && !multi && other != n.Name) {
				return fieldErr(f, "%s is also %s's address", s, other)
			}
			ips[key] = n.Name
		}
		names := map[string]bool{}
		for j, d := range n.DNSNames {
			if !isDNSName(d) {
				return fieldErr(fmt.Sprintf("%s.dnsNames[%d]", p, j), "invalid DNS name %q (no wildcards; labels of at most 63)", d)
			}
			if names[d] {
				return fieldErr(fmt.Sprintf("%s.dnsNames[%d]", p, j), "%q is listed twice", d)
			}
			names[d] = true
		}
	}
	return nil
}

// parseCIDRs reads a comma-separated Service CIDR; bad parts are skipped
// (validateServiceCIDR reports them).
func parseCIDRs(s string) ([]net.IP, []*net.IPNet) {
	var (
		ips  []net.IP
		nets []*net.IPNet
	)
	for _, p := range strings.Split(s, ",") {
		ip, n, err := net.ParseCIDR(strings.TrimSpace(p))
		if err == nil {
			ips, nets = append(ips, ip), append(nets, n)
		}
	}
	return ips, nets
}

func validateServiceCIDR(s string) error {
	parts := strings.Split(s, ",")
	if len(parts) > 2 {
		return fieldErr("serviceCIDR", "at most two CIDRs (one per IP family), got %d", len(parts))
	}
	families := map[bool]bool{}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		ip, n, err := net.ParseCIDR(p)
		if err != nil {
			return fieldErr("serviceCIDR", "invalid CIDR %q", p)
		}
		if !ip.Equal(n.IP) {
			return fieldErr("serviceCIDR", "%q has host bits set (did you mean %s?)", p, n)
		}
		ones, bits := n.Mask.Size()
		switch host := bits - ones; {
		case host > MaxServiceHostBits:
			return fieldErr("serviceCIDR", "%q is too large: kube-apiserver allows at most %d host bits (an IPv4 /%d, an IPv6 /%d)", p, MaxServiceHostBits, 32-MaxServiceHostBits, 128-MaxServiceHostBits)
		case host < MinServiceHostBits:
			return fieldErr("serviceCIDR", "%q is too small: at least %d host bits", p, MinServiceHostBits)
		}
		if n.IP.IsLoopback() || n.IP.IsMulticast() || n.IP.IsUnspecified() || n.IP.IsLinkLocalUnicast() {
			return fieldErr("serviceCIDR", "%q is not a usable range (loopback, multicast, link-local or unspecified)", p)
		}
		v4 := ip.To4() != nil
		if families[v4] {
			return fieldErr("serviceCIDR", "two CIDRs of the same IP family")
		}
		families[v4] = true
	}
	return nil
}

// sanProblem says why a name cannot be one of the API server's extra
// subject alternative names, or "". Wildcards are refused: a certificate
// for *.example.com is one for every name under it.
func sanProblem(s string) string {
	if ip := net.ParseIP(s); ip != nil {
		if r := ipProblem(ip, false); r != "" {
			return r
		}
		return ""
	}
	if strings.Trim(s, "0123456789.") == "" {
		return "looks like an IP address but is not one"
	}
	if strings.Contains(s, "*") {
		return "is a wildcard: a certificate for it serves every name it matches"
	}
	if !isDNSName(s) {
		return "is neither an IP address nor a DNS name"
	}
	return ""
}

// sanKey is a SAN as compared for repeats: IP addresses by value.
func sanKey(s string) string {
	if ip := net.ParseIP(s); ip != nil {
		return ip.String()
	}
	return s
}

// versionRE is a release tag: v1.36.3, v1.37.0-alpha.1.
var versionRE = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// Validate checks the render settings.
func (r *Render) Validate() error {
	if !path.IsAbs(r.Root) || path.Clean(r.Root) != r.Root || r.Root == "/" || len(r.Root) > 1024 || strings.ContainsAny(r.Root, " \t\n\r\"'$`\\") || strings.ContainsFunc(r.Root, unicode.IsControl) {
		return fieldErr("render.root", "%q must be a clean absolute path other than / (no spaces, quotes or control characters)", r.Root)
	}
	// A repository is a reference's name without its last component: the
	// images are <repository>/etcd:<tag> and so on.
	if _, err := reference.ParseNormalizedNamed(r.ImageRepository + "/etcd"); err != nil || strings.ContainsAny(r.ImageRepository, "@ ") || len(r.ImageRepository) > 255 {
		return fieldErr("render.imageRepository", "%q is not an image repository (such as %s or registry.example.com:5000/k8s)", r.ImageRepository, DefaultImageRepository)
	}
	if !versionRE.MatchString(r.KubernetesVersion) || !tagOK(r.KubernetesVersion) {
		return fieldErr("render.kubernetesVersion", "%q is not a release tag such as %s", r.KubernetesVersion, release.Kubernetes)
	}
	if !tagOK(r.EtcdVersion) {
		return fieldErr("render.etcdVersion", "%q is not an image tag such as %s", r.EtcdVersion, release.EtcdImageTag)
	}
	return nil
}

// tagOK reports whether s is an image tag.
func tagOK(s string) bool {
	_, err := reference.ParseNormalizedNamed("registry.k8s.io/x:" + s)
	return err == nil && reference.TagRegexp.MatchString(s) && len(s) <= 128
}

func isDNSName(s string) bool {
	return s != "" && len(validation.IsDNS1123Subdomain(s)) == 0 && labelsFit(s)
}

// labelsFit: every label of a DNS name is at most 63 characters (the
// subdomain check only bounds the whole name).
func labelsFit(s string) bool {
	for _, l := range strings.Split(s, ".") {
		if len(l) == 0 || len(l) > validation.DNS1123LabelMaxLength {
			return false
		}
	}
	return true
}

func isDNSLabel(s string) bool {
	return s != "" && len(validation.IsDNS1123Label(s)) == 0
}
