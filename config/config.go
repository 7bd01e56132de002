// Package config reads, defaults and validates bulwark's cluster
// configuration: a strict YAML document whose errors name the field and the
// line they are on.
package config

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/release"
)

// The document's type. Anything else is refused.
const (
	APIVersion = "bulwark.dev/v1alpha1"
	Kind       = "ClusterConfig"
)

// Cluster is the whole configuration of one cluster's control plane.
type Cluster struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`

	// ClusterName names the cluster in kubeconfigs.
	ClusterName string `json:"clusterName,omitempty"`
	// APIEndpoint is host:port where clients reach the API server (a
	// load balancer for several control-plane nodes). Default: the first
	// control-plane node's first IP, port 6443.
	APIEndpoint string `json:"apiEndpoint,omitempty"`
	// ControlPlane lists the control-plane nodes. Default: one node named
	// after this host, on 127.0.0.1.
	ControlPlane []Node `json:"controlPlane,omitempty"`
	// EtcdMembers lists the etcd members. Default: the control-plane nodes.
	EtcdMembers []Node `json:"etcdMembers,omitempty"`
	// ServiceCIDR is the Service IP range, one per family, comma-separated.
	// The first address of each is the "kubernetes" Service's address.
	ServiceCIDR string `json:"serviceCIDR,omitempty"`
	// ClusterDomain is the cluster's DNS domain.
	ClusterDomain string `json:"clusterDomain,omitempty"`
	// KeyAlgorithm: ecdsa-p256 (default), ecdsa-p384, rsa-2048, rsa-3072, rsa-4096.
	KeyAlgorithm string `json:"keyAlgorithm,omitempty"`
	// Validity periods of what bulwark issues.
	Validity Validity `json:"validity,omitempty"`
	// ExtraSANs are added to the API server's serving certificate: IP
	// addresses or DNS names.
	ExtraSANs []string `json:"extraSANs,omitempty"`
	// BootstrapToken configures the kubelet TLS bootstrap tokens.
	BootstrapToken BootstrapToken `json:"bootstrapToken,omitempty"`
	// Render holds the settings of the rendered files (init's and render's
	// --root, --image-repository, --kubernetes-version, --etcd-version),
	// saved with the rest so that a later run renders the same files.
	Render Render `json:"render,omitempty"`
}

// Render holds where the folder sits on the nodes and which images the
// static Pods run.
type Render struct {
	// Root is the cluster folder's path on the nodes: every host path in
	// the manifests is under it.
	Root string `json:"root,omitempty"`
	// ImageRepository holds the control-plane and etcd images.
	ImageRepository string `json:"imageRepository,omitempty"`
	// KubernetesVersion tags the control-plane images.
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// EtcdVersion tags the etcd image.
	EtcdVersion string `json:"etcdVersion,omitempty"`
}

// Node is a machine: its name and the addresses it is reached on.
type Node struct {
	Name     string   `json:"name"`
	IPs      []string `json:"ips,omitempty"`
	DNSNames []string `json:"dnsNames,omitempty"`
}

// Validity holds the lifetimes of issued certificates.
type Validity struct {
	CA            Duration `json:"ca,omitempty"`
	Leaf          Duration `json:"leaf,omitempty"`
	KubeletClient Duration `json:"kubeletClient,omitempty"`
}

// BootstrapToken configures kubelet TLS bootstrap tokens.
type BootstrapToken struct {
	TTL         Duration `json:"ttl,omitempty"`
	ExtraGroups []string `json:"extraGroups,omitempty"`
}

// The defaults, in one place.
const (
	DefaultClusterName   = "kubernetes"
	DefaultAPIPort       = 6443
	DefaultServiceCIDR   = "10.96.0.0/12"
	DefaultClusterDomain = "cluster.local"
	DefaultKeyAlgorithm  = "ecdsa-p256"
	DefaultCAValidity    = 10 * 365 * 24 * time.Hour
	DefaultLeafValidity  = 365 * 24 * time.Hour
	DefaultKubeletClient = 72 * time.Hour
	DefaultTokenTTL      = 24 * time.Hour
	// DefaultImageRepository holds the images of the pinned releases.
	DefaultImageRepository = "registry.k8s.io"
)

// SetDefaults fills every empty field. hostname names the default node.
func (c *Cluster) SetDefaults(hostname string) {
	if c.APIVersion == "" {
		c.APIVersion = APIVersion
	}
	if c.Kind == "" {
		c.Kind = Kind
	}
	if c.ClusterName == "" {
		c.ClusterName = DefaultClusterName
	}
	if len(c.ControlPlane) == 0 {
		c.ControlPlane = []Node{{Name: hostname, IPs: []string{"127.0.0.1"}}}
	}
	if len(c.EtcdMembers) == 0 {
		c.EtcdMembers = append([]Node(nil), c.ControlPlane...)
	}
	if c.APIEndpoint == "" {
		host := "127.0.0.1"
		if first := c.ControlPlane[0]; len(first.IPs) > 0 {
			host = first.IPs[0]
		} else if len(first.DNSNames) > 0 {
			host = first.DNSNames[0]
		}
		c.APIEndpoint = net.JoinHostPort(host, strconv.Itoa(DefaultAPIPort))
	}
	if c.ServiceCIDR == "" {
		c.ServiceCIDR = DefaultServiceCIDR
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = DefaultClusterDomain
	}
	if c.KeyAlgorithm == "" {
		c.KeyAlgorithm = DefaultKeyAlgorithm
	}
	if c.Validity.CA == 0 {
		c.Validity.CA = Duration(DefaultCAValidity)
	}
	if c.Validity.Leaf == 0 {
		c.Validity.Leaf = Duration(DefaultLeafValidity)
	}
	if c.Validity.KubeletClient == 0 {
		c.Validity.KubeletClient = Duration(DefaultKubeletClient)
	}
	if c.BootstrapToken.TTL == 0 {
		c.BootstrapToken.TTL = Duration(DefaultTokenTTL)
	}
	c.Render.SetDefaults()
}

// SetDefaults fills every empty render setting.
func (r *Render) SetDefaults() {
	if r.Root == "" {
		r.Root = layout.DefaultRoot
	}
	if r.ImageRepository == "" {
		r.ImageRepository = DefaultImageRepository
	}
	if r.KubernetesVersion == "" {
		r.KubernetesVersion = release.Kubernetes
	}
	if r.EtcdVersion == "" {
		r.EtcdVersion = release.EtcdImageTag
	}
}

// Default is the configuration used when none is given.
func Default(hostname string) *Cluster {
	c := &Cluster{}
	c.SetDefaults(hostname)
	return c
}

// APIServerURL is the https URL of the API endpoint.
func (c *Cluster) APIServerURL() string { return "https://" + c.APIEndpoint }

// APIHost is the host part of the API endpoint.
func (c *Cluster) APIHost() string {
	host, _, err := net.SplitHostPort(c.APIEndpoint)
	if err != nil {
		return c.APIEndpoint
	}
	return host
}

// ServiceIPs are the first addresses of each Service CIDR: the in-cluster
// address of the "kubernetes" Service.
func (c *Cluster) ServiceIPs() []net.IP {
	var ips []net.IP
	for _, s := range strings.Split(c.ServiceCIDR, ",") {
		_, n, err := net.ParseCIDR(strings.TrimSpace(s))
		if err != nil {
			continue
		}
		ip := append(net.IP(nil), n.IP...)
		for i := len(ip) - 1; i >= 0; i-- {
			ip[i]++
			if ip[i] != 0 {
				break
			}
		}
		ips = append(ips, ip)
	}
	return ips
}

// Duration is a time.Duration written as Go writes durations ("8760h"),
// with "d" accepted for whole days ("365d").
type Duration time.Duration

// ParseDuration reads a Duration.
func ParseDuration(s string) (Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		// Beyond about 292 years a time.Duration overflows and would wrap
		// round to some other, plausible-looking value.
		if err != nil || n > uint64(math.MaxInt64/int64(24*time.Hour)) {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 72h or 365d)", s)
	}
	return Duration(d), nil
}

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string {
	td := time.Duration(d)
	if td > 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(d.String())), nil }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("duration must be a string such as \"72h\"")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
