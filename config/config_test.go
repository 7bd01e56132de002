package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/release"
)

const header = "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\n"

// full is a configuration that sets every field.
const full = header + `clusterName: prod
apiEndpoint: api.example.com:443
controlPlane:
  - name: cp-1
    ips: [10.0.0.11, "2001:db8::11"]
    dnsNames: [cp-1.example.com]
  - {name: cp-2, ips: [10.0.0.12]}
  - {name: cp-3, ips: [10.0.0.13]}
etcdMembers:
  - {name: etcd-1, ips: [10.0.1.11]}
serviceCIDR: 10.96.0.0/12,fd00:10:96::/112
clusterDomain: prod.internal
keyAlgorithm: RSA-2048
validity:
  ca: 7300d
  leaf: 90d
  kubeletClient: 24h
extraSANs: [api.internal, api2.example.com, 192.0.2.1]
render:
  root: /srv/kubernetes
  imageRepository: registry.example.com:5000/k8s
  kubernetesVersion: v1.36.2
  etcdVersion: 3.6.15-0
bootstrapToken:
  ttl: 2h
  extraGroups: ["system:bootstrappers:workers"]
`

func TestParseGood(t *testing.T) {
	for _, tc := range []struct {
		name  string
		doc   string
		check func(t *testing.T, c *config.Cluster)
	}{
		{"minimal", header, func(t *testing.T, c *config.Cluster) {
			if c.APIEndpoint != "127.0.0.1:6443" {
				t.Errorf("endpoint %q", c.APIEndpoint)
			}
		}},
		{"comments and document marker", "# cluster\n---\n" + header + "clusterName: c # the name\n", func(t *testing.T, c *config.Cluster) {
			if c.ClusterName != "c" {
				t.Errorf("clusterName %q", c.ClusterName)
			}
		}},
		{"trailing empty document", header + "---\n", nil},
		{"null fields keep defaults", header + "clusterName:\ncontrolPlane: ~\n", func(t *testing.T, c *config.Cluster) {
			if c.ClusterName != "kubernetes" || len(c.ControlPlane) != 1 {
				t.Errorf("defaults not applied: %+v", c)
			}
		}},
		{"endpoint from the first node's IP", header + "controlPlane: [{name: a, ips: [10.1.1.1]}, {name: b, ips: [10.1.1.2]}]\n", func(t *testing.T, c *config.Cluster) {
			if c.APIEndpoint != "10.1.1.1:6443" {
				t.Errorf("endpoint %q", c.APIEndpoint)
			}
		}},
		{"endpoint from the first node's DNS name", header + "controlPlane: [{name: a, dnsNames: [a.example.com]}]\netcdMembers: [{name: e, ips: [10.0.0.1]}]\n", func(t *testing.T, c *config.Cluster) {
			if c.APIEndpoint != "a.example.com:6443" {
				t.Errorf("endpoint %q", c.APIEndpoint)
			}
		}},
		{"IPv6 endpoint", header + "controlPlane: [{name: a, ips: [\"2001:db8::1\"]}]\n", func(t *testing.T, c *config.Cluster) {
			if c.APIEndpoint != "[2001:db8::1]:6443" || c.APIHost() != "2001:db8::1" || c.APIServerURL() != "https://[2001:db8::1]:6443" {
				t.Errorf("endpoint %q host %q", c.APIEndpoint, c.APIHost())
			}
		}},
		// YAML 1.1 reads 001 as 1 and on as true; the schema says string,
		// so names stay as written.
		{"strings as written", header + "clusterName: on\ncontrolPlane:\n  - {name: 001, ips: [10.0.0.1], dnsNames: [y]}\n  - {name: 1e3, ips: [10.0.0.2]}\n  - {name: 0x1f, ips: [10.0.0.3]}\n", func(t *testing.T, c *config.Cluster) {
			if c.ClusterName != "on" || c.ControlPlane[0].Name != "001" || c.ControlPlane[0].DNSNames[0] != "y" ||
				c.ControlPlane[1].Name != "1e3" || c.ControlPlane[2].Name != "0x1f" {
				t.Errorf("names changed: %q %+v", c.ClusterName, c.ControlPlane)
			}
		}},
		{"a cluster on one machine: members on one loopback address", header + "etcdMembers:\n  - {name: a, ips: [127.0.0.1]}\n  - {name: b, ips: [127.0.0.1]}\n  - {name: c, ips: [127.0.0.1]}\n", nil},
		{"every field", full, func(t *testing.T, c *config.Cluster) {
			if c.KeyAlgorithm != "RSA-2048" || c.Validity.Leaf.D() != 90*24*time.Hour || c.BootstrapToken.TTL.D() != 2*time.Hour {
				t.Errorf("values %+v", c)
			}
			if len(c.EtcdMembers) != 1 || c.EtcdMembers[0].Name != "etcd-1" {
				t.Errorf("etcd members %+v", c.EtcdMembers)
			}
			ips := c.ServiceIPs()
			if len(ips) != 2 || !ips[0].Equal(net.ParseIP("10.96.0.1")) || !ips[1].Equal(net.ParseIP("fd00:10:96::1")) {
				t.Errorf("service IPs %v", ips)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse([]byte(tc.doc), "node-a")
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("parsed config does not validate: %v", err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

// TestParseBad: every bad document is refused, with an *Error naming the
// field and its line where the problem has one.
func TestParseBad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		doc   string
		line  int    // 0: not a *config.Error, or no line
		field string // "" with line 0: not a *config.Error
		msg   string // substring of the message
	}{
		{"unknown field", header + "clusterNmae: x\n", 3, "clusterNmae", `unknown field (did you mean "clusterName"?)`},
		{"unknown field, case", header + "apiendpoint: 1.2.3.4:6443\n", 3, "apiendpoint", `did you mean "apiEndpoint"?`},
		{"unknown nested field", header + "controlPlane:\n  - name: a\n    ipz: [10.0.0.1]\n", 5, "controlPlane[0].ipz", `did you mean "ips"?`},
		{"unknown field, no hint", header + "frobnicate: true\n", 3, "frobnicate", "unknown field"},
		{"field given twice", header + "clusterName: a\nclusterName: b\n", 4, "clusterName", "given twice"},
		{"list for a scalar", header + "clusterName: [a, b]\n", 3, "clusterName", "single value"},
		{"scalar for a list", header + "controlPlane: cp-1\n", 3, "controlPlane", "must be a list"},
		{"scalar for a mapping", header + "validity: 365d\n", 3, "validity", "must be a mapping"},
		{"list for a mapping item", header + "controlPlane:\n  - [a]\n", 4, "controlPlane[0]", "must be a mapping"},
		{"mapping for a duration", header + "validity:\n  leaf: {days: 3}\n", 4, "validity.leaf", "single value"},
		{"alias", header + "clusterName: &n x\nclusterDomain: *n\n", 4, "clusterDomain", "aliases"},
		{"bad IP", header + "controlPlane:\n  - name: a\n    ips:\n      - 10.0.0.1\n      - 10.0.0.300\n", 7, "controlPlane[0].ips[1]", `invalid IP address "10.0.0.300"`},
		{"bad etcd IP", header + "etcdMembers: [{name: e, ips: [fe80::1%eth0]}]\n", 3, "etcdMembers[0].ips[0]", "invalid IP"},
		{"etcd member without IP", header + "etcdMembers:\n  - name: e\n", 4, "etcdMembers[0].ips", "needs at least one IP"},
		{"bad CIDR", header + "serviceCIDR: 10.96.0.0/33\n", 3, "serviceCIDR", "invalid CIDR"},
		{"CIDR without mask", header + "serviceCIDR: 10.96.0.0\n", 3, "serviceCIDR", "invalid CIDR"},
		{"two CIDRs of one family", header + "serviceCIDR: 10.96.0.0/12,10.112.0.0/12\n", 3, "serviceCIDR", "same IP family"},
		{"three CIDRs", header + "serviceCIDR: 10.96.0.0/12,fd00::/112,10.0.0.0/8\n", 3, "serviceCIDR", "at most two"},
		{"duplicate node names", header + "controlPlane:\n  - {name: a, ips: [10.0.0.1]}\n  - {name: a, ips: [10.0.0.2]}\n", 5, "controlPlane[1].name", `node "a" is listed twice`},
		{"duplicate etcd members", header + "etcdMembers:\n  - {name: e, ips: [10.0.0.1]}\n  - {name: e, ips: [10.0.0.2]}\n", 5, "etcdMembers[1].name", "listed twice"},
		{"bad node name", header + "controlPlane:\n  - {name: Node_1, ips: [10.0.0.1]}\n", 4, "controlPlane[0].name", "invalid node name"},
		{"bad DNS name", header + "controlPlane:\n  - name: a\n    dnsNames: [ok.example.com, bad..name]\n", 5, "controlPlane[0].dnsNames[1]", `invalid DNS name "bad..name"`},
		{"bad extra SAN", header + "extraSANs: [\"under_score.example\"]\n", 3, "extraSANs[0]", "neither an IP address nor a DNS name"},
		{"bad cluster domain", header + "clusterDomain: -bad-\n", 3, "clusterDomain", "invalid DNS domain"},
		{"bad cluster name", header + "clusterName: my.cluster\n", 3, "clusterName", "invalid cluster name"},
		{"endpoint without port", header + "apiEndpoint: 10.0.0.1\n", 3, "apiEndpoint", "not host:port"},
		{"endpoint port 0", header + "apiEndpoint: 10.0.0.1:0\n", 3, "apiEndpoint", "invalid port"},
		{"endpoint bad host", header + "apiEndpoint: \"bad host:6443\"\n", 3, "apiEndpoint", "neither an IP address nor a DNS name"},
		{"leaf longer than CA", header + "validity:\n  ca: 30d\n  leaf: 365d\n", 5, "validity.leaf", "longer than the CA validity"},
		{"leaf longer than default CA", header + "validity: {leaf: 3651d}\n", 3, "validity.leaf", "longer than the CA validity"},
		{"negative duration", header + "bootstrapToken:\n  ttl: -1h\n", 4, "bootstrapToken.ttl", "must be positive"},
		{"bad algorithm", header + "keyAlgorithm: dsa-1024\n", 3, "keyAlgorithm", `unknown key algorithm "dsa-1024"`},
		{"extra group without prefix", header + "bootstrapToken:\n  extraGroups: [\"system:bootstrappers:ok\", workers]\n", 4, "bootstrapToken.extraGroups[1]", `must start with "system:bootstrappers:"`},
		{"extra group system:masters", header + "bootstrapToken: {extraGroups: [\"system:masters\"]}\n", 3, "bootstrapToken.extraGroups[0]", "must start with"},
		{"wrong apiVersion", "apiVersion: v1\nkind: ClusterConfig\n", 1, "", "want apiVersion"},
		{"wrong kind", "apiVersion: bulwark.dev/v1alpha1\nkind: Config\n", 1, "", "want apiVersion"},
		{"no apiVersion", "kind: ClusterConfig\n", 0, "", "want apiVersion"},
		{"multiple documents", header + "---\n" + header, 4, "", "more than one YAML document"},
		{"top level list", "- a\n- b\n", 1, "", "must be a mapping"},
		// Value errors found while decoding: no line, but the value is named.
		{"bad duration", header + "validity:\n  leaf: 1y\n", 4, "validity.leaf", `invalid duration "1y"`},
		{"overflowing days", header + "validity:\n  ca: 300000d\n", 4, "validity.ca", `invalid duration "300000d"`},
		{"number for a duration", header + "validity:\n  leaf: 5\n", 4, "validity.leaf", `invalid duration "5"`},
		{"empty document", "", 0, "", "config is empty"},
		{"only comments", "# nothing\n", 0, "", "config is empty"},
		{"not YAML", header + "clusterName: \"unterminated\n", 0, "", "invalid YAML"},
		{"bad YAML in a second document", header + "---\n: : :\n  - [\n", 0, "", "invalid YAML"},
		// Values that parse but cannot work.
		{"CIDR with host bits", header + "serviceCIDR: 10.96.0.5/12\n", 3, "serviceCIDR", "host bits set (did you mean 10.96.0.0/12?)"},
		{"CIDR too large", header + "serviceCIDR: 10.0.0.0/8\n", 3, "serviceCIDR", "too large"},
		{"IPv6 CIDR too large", header + "serviceCIDR: 10.96.0.0/12,fd00::/64\n", 3, "serviceCIDR", "too large"},
		{"CIDR too small", header + "serviceCIDR: 10.96.0.0/31\n", 3, "serviceCIDR", "too small"},
		{"loopback CIDR", header + "serviceCIDR: 127.0.0.0/24\n", 3, "serviceCIDR", "not a usable range"},
		{"node IP inside the Service CIDR", header + "controlPlane: [{name: a, ips: [10.96.0.10]}]\n", 3, "controlPlane[0].ips[0]", "inside the Service CIDR"},
		{"two nodes on one IP", header + "controlPlane:\n  - {name: a, ips: [10.0.0.1]}\n  - {name: b, ips: [10.0.0.1]}\n", 5, "controlPlane[1].ips[0]", "also a's address"},
		{"one IP twice", header + "controlPlane:\n  - {name: a, ips: [10.0.0.1, 10.0.0.1]}\n", 4, "controlPlane[0].ips[1]", "also a's address"},
		{"IPv6 spelt twice", header + "etcdMembers:\n  - {name: a, ips: [\"2001:db8::1\", \"2001:db8:0::1\"]}\n", 4, "etcdMembers[0].ips[1]", "also a's address"},
		{"unspecified node IP", header + "controlPlane: [{name: a, ips: [0.0.0.0]}]\n", 3, "controlPlane[0].ips[0]", "unspecified"},
		{"unspecified IPv6 etcd IP", header + "etcdMembers: [{name: a, ips: [\"::\"]}]\n", 3, "etcdMembers[0].ips[0]", "unspecified"},
		{"multicast node IP", header + "controlPlane: [{name: a, ips: [224.0.0.1]}]\n", 3, "controlPlane[0].ips[0]", "multicast"},
		{"link-local node IP", header + "controlPlane: [{name: a, ips: [169.254.0.5]}]\n", 3, "controlPlane[0].ips[0]", "link-local"},
		{"loopback with several nodes", header + "controlPlane:\n  - {name: a, ips: [10.0.0.1]}\n  - {name: b, ips: [127.0.0.1]}\n", 5, "controlPlane[1].ips[0]", "they cannot reach it"},
		{"loopback etcd with several members", header + "etcdMembers:\n  - {name: a, ips: [\"::1\"]}\n  - {name: b, ips: [10.0.0.2]}\n", 4, "etcdMembers[0].ips[0]", "loopback"},
		{"one node's loopback address twice", header + "etcdMembers:\n  - {name: a, ips: [127.0.0.1, 127.0.0.1]}\n  - {name: b, ips: [127.0.0.1]}\n", 4, "etcdMembers[0].ips[1]", "also a's address"},
		{"node name label too long", header + "controlPlane: [{name: " + strings.Repeat("a", 64) + ", ips: [10.0.0.1]}]\n", 3, "controlPlane[0].name", "invalid node name"},
		{"DNS name label too long", header + "controlPlane: [{name: a, dnsNames: [" + strings.Repeat("b", 64) + ".example.com]}]\n", 3, "controlPlane[0].dnsNames[0]", "invalid DNS name"},
		{"wildcard node DNS name", header + "controlPlane: [{name: a, dnsNames: [\"*.example.com\"]}]\n", 3, "controlPlane[0].dnsNames[0]", "no wildcards"},
		{"cluster domain label too long", header + "clusterDomain: " + strings.Repeat("c", 64) + ".local\n", 3, "clusterDomain", "invalid DNS domain"},
		{"wildcard extra SAN", header + "extraSANs: [\"*.example.com\"]\n", 3, "extraSANs[0]", "wildcard"},
		{"bare wildcard extra SAN", header + "extraSANs: [\"*\"]\n", 3, "extraSANs[0]", "wildcard"},
		{"unspecified extra SAN", header + "extraSANs: [0.0.0.0]\n", 3, "extraSANs[0]", "unspecified"},
		{"extra SAN twice", header + "extraSANs: [10.0.0.5, \"::ffff:10.0.0.5\"]\n", 3, "extraSANs[1]", "listed twice"},
		{"extra SAN that looks like an IP", header + "extraSANs: [10.0.0.005]\n", 3, "extraSANs[0]", "looks like an IP address"},
		{"extra group twice", header + "bootstrapToken: {extraGroups: [\"system:bootstrappers:a\", \"system:bootstrappers:a\"]}\n", 3, "bootstrapToken.extraGroups[1]", "listed twice"},
		{"endpoint port out of range", header + "apiEndpoint: 10.0.0.1:70000\n", 3, "apiEndpoint", "invalid port"},
		{"endpoint port with a leading zero", header + "apiEndpoint: 10.0.0.1:06443\n", 3, "apiEndpoint", "invalid port"},
		{"unspecified endpoint", header + "apiEndpoint: 0.0.0.0:6443\n", 3, "apiEndpoint", "unspecified"},
		{"zero leaf lifetime", header + "validity: {leaf: 0s}\n", 3, "validity.leaf", "must be positive"},
		{"leaf shorter than an hour", header + "validity: {leaf: 5m}\n", 3, "validity.leaf", "shorter than 1h"},
		{"CA shorter than a day", header + "validity: {ca: 1h, leaf: 1h}\n", 3, "validity.ca", "shorter than 1d"},
		{"CA of a hundred and nine years", header + "validity: {ca: 40000d}\n", 3, "validity.ca", "longer than 36500d"},
		{"kubelet certificates outliving the CA", header + "validity: {ca: 30d, leaf: 30d, kubeletClient: 31d}\n", 3, "validity.kubeletClient", "longer than the CA validity"},
		{"token TTL of ten years", header + "bootstrapToken: {ttl: 3650d}\n", 3, "bootstrapToken.ttl", "longer than 365d"},
		{"relative root", header + "render: {root: etc/kubernetes}\n", 3, "render.root", "clean absolute path"},
		{"root /", header + "render: {root: /}\n", 3, "render.root", "clean absolute path"},
		{"root with a space", header + "render: {root: \"/etc/a b\"}\n", 3, "render.root", "clean absolute path"},
		{"root with a control character", header + "render: {root: \"/etc/a\\eb\"}\n", 3, "render.root", "clean absolute path"},
		{"image repository with a tag", header + "render: {imageRepository: \"registry.k8s.io:v1\"}\n", 3, "render.imageRepository", "not an image repository"},
		{"image repository with a digest", header + "render: {imageRepository: \"registry.k8s.io@sha256:abc\"}\n", 3, "render.imageRepository", "not an image repository"},
		{"image repository in capitals", header + "render: {imageRepository: reg.io/K8S}\n", 3, "render.imageRepository", "not an image repository"},
		{"bad kubernetes version", header + "render: {kubernetesVersion: 1.36}\n", 3, "render.kubernetesVersion", "not a release tag"},
		{"bad etcd version", header + "render: {etcdVersion: \"3.6/16\"}\n", 3, "render.etcdVersion", "not an image tag"},
		{"too many nodes", header + "controlPlane:\n" + manyNodes(65), 3, "controlPlane", "at most 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse([]byte(tc.doc), "node-a")
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if c != nil {
				t.Error("a config returned with an error")
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
			var ce *config.Error
			isCE := errors.As(err, &ce)
			if tc.line == 0 && tc.field == "" {
				if isCE && ce.Line != 0 {
					t.Errorf("error %q has line %d, want none", err, ce.Line)
				}
				return
			}
			if !isCE {
				t.Fatalf("error %q (%T) is not a *config.Error", err, err)
			}
			if ce.Line != tc.line || ce.Field != tc.field {
				t.Errorf("error at line %d field %q, want line %d field %q (%v)", ce.Line, ce.Field, tc.line, tc.field, err)
			}
			if tc.line > 0 && !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("error %q does not start with its line", err)
			}
			if errors.Is(err, config.ErrUnknownField) != strings.Contains(err.Error(), "unknown field") {
				t.Errorf("errors.Is(%q, ErrUnknownField) = %v", err, errors.Is(err, config.ErrUnknownField))
			}
		})
	}
}

// manyNodes lists n control-plane nodes with distinct addresses.
func manyNodes(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  - {name: n%d, ips: [10.0.%d.%d]}\n", i, i/250, i%250+1)
	}
	return b.String()
}

func TestParseSizeCap(t *testing.T) {
	doc := header + "# " + strings.Repeat("x", 1<<20) + "\n"
	if _, err := config.Parse([]byte(doc), "node-a"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("error %v, want a size error", err)
	}
}

func TestDefaults(t *testing.T) {
	c, err := config.Parse([]byte(header), "my-host")
	if err != nil {
		t.Fatal(err)
	}
	want := &config.Cluster{
		APIVersion:    config.APIVersion,
		Kind:          config.Kind,
		ClusterName:   "kubernetes",
		APIEndpoint:   "127.0.0.1:6443",
		ControlPlane:  []config.Node{{Name: "my-host", IPs: []string{"127.0.0.1"}}},
		EtcdMembers:   []config.Node{{Name: "my-host", IPs: []string{"127.0.0.1"}}},
		ServiceCIDR:   "10.96.0.0/12",
		ClusterDomain: "cluster.local",
		KeyAlgorithm:  "ecdsa-p256",
		Validity: config.Validity{
			CA:            config.Duration(10 * 365 * 24 * time.Hour),
			Leaf:          config.Duration(365 * 24 * time.Hour),
			KubeletClient: config.Duration(72 * time.Hour),
		},
		BootstrapToken: config.BootstrapToken{TTL: config.Duration(24 * time.Hour)},
		Render: config.Render{Root: "/etc/kubernetes", ImageRepository: "registry.k8s.io",
			KubernetesVersion: release.Kubernetes, EtcdVersion: release.EtcdImageTag},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if !reflect.DeepEqual(config.Default("my-host"), want) {
		t.Errorf("Default() = %+v", config.Default("my-host"))
	}
	if ips := c.ServiceIPs(); len(ips) != 1 || !ips[0].Equal(net.ParseIP("10.96.0.1")) {
		t.Errorf("service IPs %v, want 10.96.0.1", ips)
	}
	if c.APIServerURL() != "https://127.0.0.1:6443" || c.APIHost() != "127.0.0.1" {
		t.Errorf("URL %s host %s", c.APIServerURL(), c.APIHost())
	}
	// Etcd members are a copy: changing one list leaves the other alone.
	c.EtcdMembers[0].Name = "changed"
	if c.ControlPlane[0].Name != "my-host" {
		t.Error("etcd members share the control-plane slice")
	}
	// The default node must validate: an invalid hostname is an error,
	// not a silently broken plan.
	if _, err := config.Parse([]byte(header), "My_Host"); err == nil {
		t.Error("an invalid hostname was accepted as the default node name")
	}
}

func TestServiceIPs(t *testing.T) {
	for _, tc := range []struct{ cidr, want string }{
		{"10.96.0.0/12", "10.96.0.1"},
		{"10.96.0.77/24", "10.96.0.1"},
		{"172.16.255.0/23", "172.16.254.1"},
		{"fd00:10:96::/112", "fd00:10:96::1"},
		{"10.96.0.0/12,fd00::/108", "10.96.0.1 fd00::1"},
		{"fd00::/108, 10.96.0.0/12", "fd00::1 10.96.0.1"},
	} {
		c := config.Default("n")
		c.ServiceCIDR = tc.cidr
		var got []string
		for _, ip := range c.ServiceIPs() {
			got = append(got, ip.String())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("ServiceIPs(%s) = %v, want %s", tc.cidr, got, tc.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"365d", 365 * 24 * time.Hour, "365d"},
		{"72h", 72 * time.Hour, "3d"},
		{"1d", 24 * time.Hour, "1d"},
		{"0d", 0, "0s"},
		{"90m", 90 * time.Minute, "1h30m0s"},
		{"8760h", 365 * 24 * time.Hour, "365d"},
		{"25h", 25 * time.Hour, "25h0m0s"},
		{"106751d", 106751 * 24 * time.Hour, "106751d"},
	} {
		d, err := config.ParseDuration(tc.in)
		if err != nil {
			t.Errorf("ParseDuration(%q): %v", tc.in, err)
			continue
		}
		if d.D() != tc.want || d.String() != tc.out {
			t.Errorf("ParseDuration(%q) = %s (%s), want %s (%s)", tc.in, d.D(), d, tc.want, tc.out)
		}
		// Round trip through the string and through JSON.
		back, err := config.ParseDuration(d.String())
		if err != nil || back != d {
			t.Errorf("%q → %q → %v, %v", tc.in, d, back, err)
		}
		js, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var fromJSON config.Duration
		if err := json.Unmarshal(js, &fromJSON); err != nil || fromJSON != d {
			t.Errorf("JSON %s → %v, %v", js, fromJSON, err)
		}
	}
	for _, bad := range []string{"", "d", "1y", "-1d", "+1d", "1.5d", "1e3d", "106752d", "300000d", "4294967296d", "abc", "1h30"} {
		if d, err := config.ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) = %s, want an error", bad, d)
		}
	}
	var d config.Duration
	if err := json.Unmarshal([]byte("72"), &d); err == nil {
		t.Error("a JSON number was accepted as a duration")
	}
}

// TestMarshalRoundTrip: a parsed config written back reads the same.
func TestMarshalRoundTrip(t *testing.T) {
	for _, doc := range []string{header, full} {
		c, err := config.Parse([]byte(doc), "node-a")
		if err != nil {
			t.Fatal(err)
		}
		out, err := config.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := config.Parse(out, "other-host")
		if err != nil {
			t.Fatalf("Parse(Marshal) = %v\n%s", err, out)
		}
		if !reflect.DeepEqual(c, back) {
			t.Errorf("round trip changed the config:\n%s", out)
		}
		if !bytes.Contains(out, []byte("apiVersion: bulwark.dev/v1alpha1")) {
			t.Errorf("marshalled config lacks its apiVersion:\n%s", out)
		}
	}
}
