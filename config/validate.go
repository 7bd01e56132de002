package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"

	"github.com/bulwark-k8s/bulwark/pki"
)

// Validate checks a defaulted configuration. The first problem found is
// returned as an *Error naming its field.
func (c *Cluster) Validate() error {
	if !isDNSLabel(c.ClusterName) {
		return fieldErr("clusterName", "invalid cluster name %q (lower-case letters, digits and '-')", c.ClusterName)
	}
	if err := validateEndpoint(c.APIEndpoint); err != nil {
		return err
	}
	if len(c.ControlPlane) == 0 {
		return fieldErr("controlPlane", "at least one control-plane node is required")
	}
	if err := validateNodes("controlPlane", c.ControlPlane, false); err != nil {
		return err
	}
	if err := validateNodes("etcdMembers", c.EtcdMembers, true); err != nil {
		return err
	}
	if err := validateServiceCIDR(c.ServiceCIDR); err != nil {
		return err
	}
	if errs := validation.IsDNS1123Subdomain(c.ClusterDomain); len(errs) > 0 {
		return fieldErr("clusterDomain", "invalid DNS domain %q", c.ClusterDomain)
	}
	if _, err := pki.ParseAlgorithm(c.KeyAlgorithm); err != nil {
		return fieldErr("keyAlgorithm", "%v", err)
	}
	for _, v := range []struct {
		field string
		d     Duration
	}{{"validity.ca", c.Validity.CA}, {"validity.leaf", c.Validity.Leaf}, {"validity.kubeletClient", c.Validity.KubeletClient}, {"bootstrapToken.ttl", c.BootstrapToken.TTL}} {
		if v.d <= 0 {
			return fieldErr(v.field, "must be positive, got %s", v.d)
		}
	}
	if c.Validity.Leaf > c.Validity.CA {
		return fieldErr("validity.leaf", "%s is longer than the CA validity %s", c.Validity.Leaf, c.Validity.CA)
	}
	for i, s := range c.ExtraSANs {
		if net.ParseIP(s) == nil && !isDNSName(strings.TrimPrefix(s, "*.")) {
			return fieldErr(fmt.Sprintf("extraSANs[%d]", i), "%q is neither an IP address nor a DNS name", s)
		}
	}
	for i, g := range c.BootstrapToken.ExtraGroups {
		if err := bootstraputil.ValidateBootstrapGroupName(g); err != nil {
			return fieldErr(fmt.Sprintf("bootstrapToken.extraGroups[%d]", i), "%q must start with %q", g, "system:bootstrappers:")
		}
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
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fieldErr("apiEndpoint", "invalid port %q", port)
	}
	if net.ParseIP(host) == nil && !isDNSName(host) {
		return fieldErr("apiEndpoint", "host %q is neither an IP address nor a DNS name", host)
	}
	return nil
}

func validateNodes(field string, nodes []Node, needIP bool) error {
	seen := map[string]bool{}
	for i, n := range nodes {
		p := fmt.Sprintf("%s[%d]", field, i)
		if !isDNSName(n.Name) {
			return fieldErr(p+".name", "invalid node name %q (a lower-case DNS name)", n.Name)
		}
		if seen[n.Name] {
			return fieldErr(p+".name", "node %q is listed twice", n.Name)
		}
		seen[n.Name] = true
		if needIP && len(n.IPs) == 0 {
			return fieldErr(p+".ips", "etcd member %q needs at least one IP address", n.Name)
		}
		for j, ip := range n.IPs {
			if net.ParseIP(ip) == nil {
				return fieldErr(fmt.Sprintf("%s.ips[%d]", p, j), "invalid IP address %q", ip)
			}
		}
		for j, d := range n.DNSNames {
			if !isDNSName(d) {
				return fieldErr(fmt.Sprintf("%s.dnsNames[%d]", p, j), "invalid DNS name %q", d)
			}
		}
	}
	return nil
}

func validateServiceCIDR(s string) error {
	parts := strings.Split(s, ",")
	if len(parts) > 2 {
		return fieldErr("serviceCIDR", "at most two CIDRs (one per IP family), got %d", len(parts))
	}
	families := map[bool]bool{}
	for _, p := range parts {
		ip, _, err := net.ParseCIDR(strings.TrimSpace(p))
		if err != nil {
			return fieldErr("serviceCIDR", "invalid CIDR %q", strings.TrimSpace(p))
		}
		v4 := ip.To4() != nil
		if families[v4] {
			return fieldErr("serviceCIDR", "two CIDRs of the same IP family")
		}
		families[v4] = true
	}
	return nil
}

func isDNSName(s string) bool {
	return s != "" && len(validation.IsDNS1123Subdomain(s)) == 0
}

func isDNSLabel(s string) bool {
	return s != "" && len(validation.IsDNS1123Label(s)) == 0
}
