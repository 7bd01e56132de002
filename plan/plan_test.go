package plan_test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/internal/testutil"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
)

// cluster is one configuration the invariants are checked against, with
// what the test expects of it.
type cluster struct {
	name        string
	doc         string
	cpNames     []string
	cpIPs       []string
	members     []string
	memberIPs   map[string][]string
	memberDNS   map[string][]string
	apiHost     string
	serviceIPs  []string
	domain      string
	extraSANs   []string
	extraGroups []string
}

// newCluster writes a configuration with cp control-plane nodes and
// etcd explicit etcd members.
func newCluster(cp, etcd int) cluster {
	c := cluster{
		name:       fmt.Sprintf("%dcp-%detcd", cp, etcd),
		apiHost:    "10.0.0.10",
		serviceIPs: []string{"10.96.0.1"},
		domain:     "cluster.local",
		extraSANs:  []string{"api.example.com", "192.0.2.7"},
		memberIPs:  map[string][]string{},
	}
	var b strings.Builder
	b.WriteString("apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\napiEndpoint: 10.0.0.10:6443\n")
	b.WriteString("extraSANs: [api.example.com, 192.0.2.7]\ncontrolPlane:\n")
	for i := 1; i <= cp; i++ {
		name, ip := fmt.Sprintf("cp-%d", i), fmt.Sprintf("10.0.0.%d", 10+i)
		fmt.Fprintf(&b, "  - {name: %s, ips: [%s]}\n", name, ip)
		c.cpNames, c.cpIPs = append(c.cpNames, name), append(c.cpIPs, ip)
	}
	b.WriteString("etcdMembers:\n")
	for i := 1; i <= etcd; i++ {
		name, ip := fmt.Sprintf("etcd-%d", i), fmt.Sprintf("10.0.1.%d", 10+i)
		fmt.Fprintf(&b, "  - {name: %s, ips: [%s]}\n", name, ip)
		c.members = append(c.members, name)
		c.memberIPs[name] = []string{ip}
	}
	c.doc = b.String()
	return c
}

// clusters are the configurations every invariant runs over: 1 and 3
// control-plane nodes times 1 and 3 etcd members, the defaults, and a
// dual-stack cluster behind a DNS endpoint.
func clusters() []cluster {
	var out []cluster
	for _, cp := range []int{1, 3} {
		for _, etcd := range []int{1, 3} {
			out = append(out, newCluster(cp, etcd))
		}
	}
	out = append(out, cluster{
		name:       "defaults",
		doc:        "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\n",
		cpNames:    []string{"node-a"},
		cpIPs:      []string{"127.0.0.1"},
		members:    []string{"node-a"},
		memberIPs:  map[string][]string{"node-a": {"127.0.0.1"}},
		apiHost:    "127.0.0.1",
		serviceIPs: []string{"10.96.0.1"},
		domain:     "cluster.local",
	})
	out = append(out, cluster{
		name: "dual-stack",
		doc: `apiVersion: bulwark.dev/v1alpha1
kind: ClusterConfig
clusterName: prod
apiEndpoint: api.prod.example.com:443
serviceCIDR: 10.100.0.0/16,fd00:10:96::/112
clusterDomain: prod.internal
extraSANs: ["api-internal.prod.example.com", "2001:db8::7"]
bootstrapToken:
  extraGroups: ["system:bootstrappers:workers"]
controlPlane:
  - {name: cp-a, ips: [10.0.0.21, "2001:db8::21"], dnsNames: [cp-a.prod.example.com]}
  - {name: cp-b, ips: [10.0.0.22, "2001:db8::22"]}
  - {name: cp-c, ips: [10.0.0.23, "2001:db8::23"]}
`,
		cpNames: []string{"cp-a", "cp-b", "cp-c", "cp-a.prod.example.com"},
		cpIPs:   []string{"10.0.0.21", "2001:db8::21", "10.0.0.22", "2001:db8::22", "10.0.0.23", "2001:db8::23"},
		members: []string{"cp-a", "cp-b", "cp-c"},
		memberIPs: map[string][]string{
			"cp-a": {"10.0.0.21", "2001:db8::21"},
			"cp-b": {"10.0.0.22", "2001:db8::22"},
			"cp-c": {"10.0.0.23", "2001:db8::23"},
		},
		memberDNS:   map[string][]string{"cp-a": {"cp-a.prod.example.com"}},
		apiHost:     "api.prod.example.com",
		serviceIPs:  []string{"10.100.0.1", "fd00:10:96::1"},
		domain:      "prod.internal",
		extraSANs:   []string{"api-internal.prod.example.com", "2001:db8::7"},
		extraGroups: []string{"system:bootstrappers:workers"},
	})
	return out
}

// forEachCluster runs an invariant over every test cluster.
func forEachCluster(t *testing.T, check func(t *testing.T, c cluster, p *plan.Plan)) {
	t.Helper()
	for _, c := range clusters() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			check(t, c, testutil.Plan(t, c.doc))
		})
	}
}

func TestUniqueNamesAndFiles(t *testing.T) {
	forEachCluster(t, func(t *testing.T, _ cluster, p *plan.Plan) {
		names, files := map[string]bool{}, map[string]string{}
		for _, it := range p.Items() {
			if names[it.Name] {
				t.Errorf("name %q listed twice", it.Name)
			}
			names[it.Name] = true
			if len(it.Files) == 0 {
				t.Errorf("%s: no files", it.Name)
			}
			for _, f := range it.Files {
				if other, ok := files[f]; ok {
					t.Errorf("file %s written by both %s and %s", f, other, it.Name)
				}
				files[f] = it.Name
			}
		}
		all := p.Names()
		if !slices.IsSorted(all) {
			t.Errorf("Names() not sorted: %v", all)
		}
		if len(slices.Compact(slices.Clone(all))) != len(all) {
			t.Errorf("Names() has duplicates: %v", all)
		}
		// Every name renew accepts resolves to exactly what it names.
		for _, n := range all {
			if _, err := p.Lookup(n); err != nil {
				t.Errorf("Lookup(%q): %v", n, err)
			}
		}
		if _, err := p.Lookup("no-such-cert"); err == nil {
			t.Error("Lookup of an unknown name succeeded")
		}
	})
}

func TestCAsBeforeLeaves(t *testing.T) {
	forEachCluster(t, func(t *testing.T, _ cluster, p *plan.Plan) {
		seenCA := map[string]bool{}
		for _, it := range p.Items() {
			if it.Kind == plan.KindCA {
				seenCA[it.Name] = true
				continue
			}
			if it.CA != "" && !seenCA[it.CA] {
				t.Errorf("%s (signed by %s) is listed before its CA", it.Name, it.CA)
			}
		}
	})
}

func TestCAReferencesResolve(t *testing.T) {
	forEachCluster(t, func(t *testing.T, _ cluster, p *plan.Plan) {
		if len(p.CAs) != 4 {
			t.Errorf("%d CAs, want 4", len(p.CAs))
		}
		for _, c := range p.Certs {
			if _, ok := p.CA(c.CA); !ok {
				t.Errorf("certificate %s: CA %q does not resolve", c.Name, c.CA)
			}
		}
		for _, k := range p.Kubeconfigs {
			if k.UsesToken() {
				if k.CA != "" {
					t.Errorf("token kubeconfig %s names CA %q", k.Name, k.CA)
				}
				continue
			}
			if _, ok := p.CA(k.CA); !ok {
				t.Errorf("kubeconfig %s: CA %q does not resolve", k.Name, k.CA)
			}
		}
		for _, ca := range p.CAs {
			req := ca.Request()
			if !req.IsCA || req.CommonName == "" || req.Validity <= 0 {
				t.Errorf("CA %s: request %+v", ca.Name, req)
			}
		}
	})
}

func TestMastersOnlyOnSuperAdmin(t *testing.T) {
	forEachCluster(t, func(t *testing.T, _ cluster, p *plan.Plan) {
		holders := map[string]bool{}
		for _, it := range p.Items() {
			if slices.Contains(it.O, user.SystemPrivilegedGroup) {
				holders[it.Name] = true
			}
			if it.CN == user.SystemPrivilegedGroup {
				t.Errorf("%s has CN %s", it.Name, it.CN)
			}
		}
		if len(holders) != 1 || !holders["super-admin"] {
			t.Errorf("%s holders = %v, want only super-admin", user.SystemPrivilegedGroup, holders)
		}
		for _, b := range plan.Bindings() {
			if b.Subject == user.SystemPrivilegedGroup {
				t.Errorf("binding %s names %s", b.Name, user.SystemPrivilegedGroup)
			}
		}
	})
}

func TestEveryLeafHasExtendedKeyUsage(t *testing.T) {
	forEachCluster(t, func(t *testing.T, _ cluster, p *plan.Plan) {
		var reqs []struct {
			name string
			req  pki.Request
		}
		for _, c := range p.Certs {
			reqs = append(reqs, struct {
				name string
				req  pki.Request
			}{c.Name, c.Request()})
		}
		for _, k := range p.Kubeconfigs {
			if !k.UsesToken() {
				reqs = append(reqs, struct {
					name string
					req  pki.Request
				}{k.Name, k.Request()})
			}
		}
		for _, r := range reqs {
			if len(r.req.Usages) == 0 {
				t.Errorf("%s has no extended key usage", r.name)
			}
			if r.req.IsCA {
				t.Errorf("%s is a CA request", r.name)
			}
			if r.req.CommonName == "" {
				t.Errorf("%s has no CN", r.name)
			}
			if r.req.Validity != p.Config.Validity.Leaf.D() {
				t.Errorf("%s: validity %s, want the leaf validity %s", r.name, r.req.Validity, p.Config.Validity.Leaf)
			}
		}
		for _, it := range p.Items() {
			if it.Kind == plan.KindCA {
				continue
			}
			if slices.Contains(it.Usages, "cert-sign") {
				t.Errorf("%s lists cert-sign", it.Name)
			}
		}
	})
}

func TestOnlyEtcdPeersSignedByPeerCA(t *testing.T) {
	forEachCluster(t, func(t *testing.T, c cluster, p *plan.Plan) {
		peers := 0
		for _, cert := range p.Certs {
			isPeer := cert.Kind == "etcd/peer"
			if isPeer {
				peers++
			}
			if isPeer != (cert.CA == plan.EtcdPeerCA) {
				t.Errorf("%s (kind %s) is signed by %s", cert.Name, cert.Kind, cert.CA)
			}
			if isPeer && !sameSet(usages(cert.Usages), []string{"server", "client"}) {
				t.Errorf("%s usages %v, want server and client", cert.Name, cert.Usages)
			}
		}
		for _, k := range p.Kubeconfigs {
			if k.CA == plan.EtcdPeerCA {
				t.Errorf("kubeconfig %s signed by %s", k.Name, k.CA)
			}
		}
		if peers != len(c.members) {
			t.Errorf("%d peer certificates for %d members", peers, len(c.members))
		}
	})
}

func TestPerMemberCertificates(t *testing.T) {
	forEachCluster(t, func(t *testing.T, c cluster, p *plan.Plan) {
		for _, kind := range []string{"etcd/server", "etcd/peer"} {
			var got []string
			for _, cert := range p.Certs {
				if cert.Kind != kind {
					continue
				}
				got = append(got, cert.Member)
				if cert.Subject.CommonName != cert.Member {
					t.Errorf("%s: CN %q, want the member name %q", cert.Name, cert.Subject.CommonName, cert.Member)
				}
				want := kind // kubeadm's own path for a single member
				if len(c.members) > 1 {
					want = strings.Replace(kind, "etcd/", "etcd/"+cert.Member+"/", 1)
				}
				if cert.Name != want {
					t.Errorf("%s for member %s, want name %s", cert.Name, cert.Member, want)
				}
			}
			if !slices.Equal(got, c.members) {
				t.Errorf("%s for members %v, want %v", kind, got, c.members)
			}
		}
	})
}

func TestAPIServerSANs(t *testing.T) {
	forEachCluster(t, func(t *testing.T, c cluster, p *plan.Plan) {
		cert := certNamed(t, p, "apiserver")
		want := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + c.domain, c.apiHost}
		want = append(want, c.serviceIPs...)
		want = append(want, c.cpNames...)
		want = append(want, c.cpIPs...)
		want = append(want, c.extraSANs...)
		got := plan.SANStrings(cert.Subject)
		for _, w := range want {
			if !coversName(cert.Subject, w) {
				t.Errorf("apiserver SANs %v lack %s", got, w)
			}
		}
		if len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
			t.Errorf("apiserver SANs repeat a name: %v", got)
		}
		if !slices.Equal(cert.Usages, []pki.Usage{pki.ServerAuth}) {
			t.Errorf("apiserver usages %v, want server only", cert.Usages)
		}
		// Every SAN is a valid IP or DNS name (wildcards allowed).
		for _, ip := range cert.Subject.IPs {
			if ip == nil {
				t.Error("nil IP SAN")
			}
		}
		for _, n := range cert.Subject.DNSNames {
			if net.ParseIP(n) != nil {
				t.Errorf("IP address %s listed as a DNS name", n)
			}
		}
	})
}

func TestEtcdSANs(t *testing.T) {
	forEachCluster(t, func(t *testing.T, c cluster, p *plan.Plan) {
		for _, cert := range p.Certs {
			ips := append(slices.Clone(c.memberDNS[cert.Member]), c.memberIPs[cert.Member]...)
			switch cert.Kind {
			case "etcd/server":
				want := append([]string{cert.Member, "localhost", "127.0.0.1", "::1"}, ips...)
				for _, w := range want {
					if !coversName(cert.Subject, w) {
						t.Errorf("%s SANs %v lack %s", cert.Name, plan.SANStrings(cert.Subject), w)
					}
				}
				if !slices.Contains(cert.Usages, pki.ServerAuth) {
					t.Errorf("%s usages %v lack server", cert.Name, cert.Usages)
				}
			case "etcd/peer":
				// Exactly the member's own names: a peer certificate that
				// also covered loopback could be replayed by any local process.
				want := append([]string{cert.Member}, ips...)
				if got := plan.SANStrings(cert.Subject); !sameSet(got, want) {
					t.Errorf("%s SANs %v, want %v", cert.Name, got, want)
				}
			default:
				if len(cert.Subject.DNSNames)+len(cert.Subject.IPs) > 0 && cert.Name != "apiserver" {
					t.Errorf("client certificate %s has SANs %v", cert.Name, plan.SANStrings(cert.Subject))
				}
			}
		}
		// Members of other etcd members never appear in a member's certificate.
		for _, cert := range p.Certs {
			if cert.Member == "" {
				continue
			}
			for _, other := range c.members {
				if other != cert.Member && slices.Contains(cert.Subject.DNSNames, other) {
					t.Errorf("%s covers another member, %s", cert.Name, other)
				}
			}
		}
	})
}

func TestKubeconfigs(t *testing.T) {
	forEachCluster(t, func(t *testing.T, c cluster, p *plan.Plan) {
		type spec struct {
			cn      string
			o       []string
			perNode bool
		}
		kinds := map[string]spec{
			"admin":              {"kubernetes-admin", []string{plan.GroupClusterAdmins}, false},
			"super-admin":        {"kubernetes-super-admin", []string{user.SystemPrivilegedGroup}, false},
			"controller-manager": {user.KubeControllerManager, nil, true},
			"scheduler":          {user.KubeScheduler, nil, true},
			"bootstrap-kubelet":  {"", nil, false},
		}
		hosts := map[string]bool{}
		for _, n := range p.Config.ControlPlane {
			hosts[n.Name] = true
		}
		for _, m := range c.members {
			hosts[m] = true
		}
		severalHosts := len(hosts) > 1
		// want: name -> (kind, node, server)
		type entry struct{ kind, node, server string }
		want := map[string]entry{}
		for kind, s := range kinds {
			if !s.perNode {
				want[kind] = entry{kind, "", p.Config.APIServerURL()}
				continue
			}
			for _, n := range p.Config.ControlPlane {
				name := kind
				if severalHosts {
					name = "nodes/" + n.Name + "/" + kind
				}
				// The node's own API server, as kubeadm: its first address
				// on the API server's port, whatever the shared endpoint.
				want[name] = entry{kind, n.Name, "https://" + net.JoinHostPort(n.IPs[0], "6443")}
			}
		}
		if len(p.Kubeconfigs) != len(want) {
			t.Errorf("%d kubeconfigs, want %d", len(p.Kubeconfigs), len(want))
		}
		for _, k := range p.Kubeconfigs {
			w, ok := want[k.Name]
			if !ok {
				t.Errorf("unexpected kubeconfig %s", k.Name)
				continue
			}
			s := kinds[w.kind]
			if k.Kind != w.kind || k.Node != w.node {
				t.Errorf("%s: kind %q node %q, want %q %q", k.Name, k.Kind, k.Node, w.kind, w.node)
			}
			if k.Subject.CommonName != s.cn || !slices.Equal(k.Subject.Organizations, s.o) {
				t.Errorf("%s: CN %q O %q, want %q %q", k.Name, k.Subject.CommonName, k.Subject.Organizations, s.cn, s.o)
			}
			if k.Server != w.server {
				t.Errorf("%s: server %s, want %s", k.Name, k.Server, w.server)
			}
			if !s.perNode && !strings.Contains(k.Server, c.apiHost) {
				t.Errorf("%s: server %s is not the endpoint %s", k.Name, k.Server, c.apiHost)
			}
			if k.File() != k.Name+".conf" {
				t.Errorf("%s: file %s", k.Name, k.File())
			}
			if !k.UsesToken() && k.CA != plan.ClusterCA {
				t.Errorf("%s signed by %s, want %s", k.Name, k.CA, plan.ClusterCA)
			}
			if got, ok := p.Kubeconfig(k.Kind, k.Node); !ok || got.Name != k.Name {
				t.Errorf("Kubeconfig(%q, %q) = %q %v", k.Kind, k.Node, got.Name, ok)
			}
			if s.perNode && !hosts[k.Node] {
				t.Errorf("%s is for %q, not a host", k.Name, k.Node)
			}
		}
		for _, it := range p.Items() {
			if it.Name == "bootstrap-kubelet" && !slices.Equal(it.O, append([]string{bootstrapapi.BootstrapDefaultGroup}, c.extraGroups...)) {
				t.Errorf("bootstrap-kubelet groups %v", it.O)
			}
			if it.Kind == plan.KindKubeconfig && it.Server != want[it.Name].server {
				t.Errorf("item %s: server %q, want %q", it.Name, it.Server, want[it.Name].server)
			}
		}
	})
}

// TestNodeAPIServerURL: a node's own API server is named by its first IP,
// else its first DNS name, else its name, on port 6443.
func TestNodeAPIServerURL(t *testing.T) {
	for _, tc := range []struct {
		n    config.Node
		want string
	}{
		{config.Node{Name: "cp-1", IPs: []string{"10.0.0.1", "10.0.0.9"}, DNSNames: []string{"cp-1.example"}}, "https://10.0.0.1:6443"},
		{config.Node{Name: "cp-1", IPs: []string{"2001:db8::1"}}, "https://[2001:db8::1]:6443"},
		{config.Node{Name: "cp-1", DNSNames: []string{"cp-1.example"}}, "https://cp-1.example:6443"},
		{config.Node{Name: "cp-1"}, "https://cp-1:6443"},
	} {
		if got := plan.NodeAPIServerURL(tc.n); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.n, got, tc.want)
		}
	}
}

// TestWarnings: several control-plane nodes behind one node's own address
// is warned about, however the endpoint names that node; a load-balanced
// endpoint and a single node are not.
func TestWarnings(t *testing.T) {
	three := "controlPlane:\n  - {name: cp-1, ips: [10.0.0.11]}\n  - {name: cp-2, ips: [10.0.0.12], dnsNames: [cp-2.example]}\n  - {name: cp-3, ips: [10.0.0.13]}\n"
	for _, tc := range []struct {
		name, doc string
		warnNode  string
	}{
		{"three nodes, default endpoint", three, "cp-1"},
		{"three nodes, endpoint a node's second address", "apiEndpoint: 10.0.0.12:443\n" + three, "cp-2"},
		{"three nodes, endpoint a node's DNS name", "apiEndpoint: cp-2.example:6443\n" + three, "cp-2"},
		{"three nodes, endpoint a node's name", "apiEndpoint: cp-3:6443\n" + three, "cp-3"},
		{"three nodes behind a load balancer", "apiEndpoint: api.example:6443\n" + three, ""},
		{"one node, default endpoint", "controlPlane:\n  - {name: cp-1, ips: [10.0.0.11]}\n", ""},
		{"one node and three etcd members", "controlPlane:\n  - {name: cp-1, ips: [10.0.0.11]}\netcdMembers:\n  - {name: e-1, ips: [10.0.1.1]}\n  - {name: e-2, ips: [10.0.1.2]}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testutil.Plan(t, "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\n"+tc.doc)
			w := p.Warnings()
			if tc.warnNode == "" {
				if len(w) != 0 {
					t.Errorf("warnings %q", w)
				}
				return
			}
			if len(w) != 1 || !strings.Contains(w[0], "node "+tc.warnNode+"'s own address") || !strings.Contains(w[0], "load balancer") {
				t.Errorf("warnings %q, want one about %s", w, tc.warnNode)
			}
		})
	}
}

// TestBindingsReferenceTable checks that every ClusterRoleBinding names a
// user or group that some credential of the table actually carries, and
// the two bindings the design requires.
func TestBindingsReferenceTable(t *testing.T) {
	forEachCluster(t, func(t *testing.T, _ cluster, p *plan.Plan) {
		users, groups := map[string]bool{}, map[string]bool{}
		for _, it := range p.Items() {
			if it.CN != "" {
				users[it.CN] = true
			}
			for _, o := range it.O {
				groups[o] = true
			}
		}
		// Kubelet client certificates come through the CSR API, not the
		// table's files: their group is the one other group a binding may name.
		groups[user.NodesGroup] = true
		names := map[string]bool{}
		for _, b := range plan.Bindings() {
			if names[b.Name] {
				t.Errorf("binding %s listed twice", b.Name)
			}
			names[b.Name] = true
			switch b.SubjectKind {
			case plan.SubjectUser:
				if !users[b.Subject] {
					t.Errorf("binding %s names user %q, which no credential carries", b.Name, b.Subject)
				}
			case plan.SubjectGroup:
				if !groups[b.Subject] {
					t.Errorf("binding %s names group %q, which no credential carries", b.Name, b.Subject)
				}
			default:
				t.Errorf("binding %s: subject kind %q", b.Name, b.SubjectKind)
			}
			if b.ClusterRole == "" || b.Why == "" {
				t.Errorf("binding %s: empty role or reason", b.Name)
			}
		}
		admin := kubeconfigNamed(t, p, "admin")
		kubeletClient := certNamed(t, p, "apiserver-kubelet-client")
		want := []plan.Binding{
			{ClusterRole: "cluster-admin", SubjectKind: plan.SubjectGroup, Subject: admin.Subject.Organizations[0]},
			{ClusterRole: "system:kubelet-api-admin", SubjectKind: plan.SubjectUser, Subject: kubeletClient.Subject.CommonName},
			{ClusterRole: "system:node-bootstrapper", SubjectKind: plan.SubjectGroup, Subject: bootstrapapi.BootstrapDefaultGroup},
			{ClusterRole: "system:certificates.k8s.io:certificatesigningrequests:nodeclient", SubjectKind: plan.SubjectGroup, Subject: bootstrapapi.BootstrapDefaultGroup},
			{ClusterRole: "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", SubjectKind: plan.SubjectGroup, Subject: user.NodesGroup},
		}
		for _, w := range want {
			if !slices.ContainsFunc(plan.Bindings(), func(b plan.Binding) bool {
				return b.ClusterRole == w.ClusterRole && b.SubjectKind == w.SubjectKind && b.Subject == w.Subject
			}) {
				t.Errorf("no binding of %s %q to %s", w.SubjectKind, w.Subject, w.ClusterRole)
			}
		}
		// cluster-admin goes to admin.conf's group and nobody else.
		for _, b := range plan.Bindings() {
			if b.ClusterRole == "cluster-admin" && b.Subject != plan.GroupClusterAdmins {
				t.Errorf("cluster-admin bound to %s", b.Subject)
			}
		}
	})
}

func TestItemsDescribeTheTable(t *testing.T) {
	p := testutil.Plan(t, newCluster(1, 1).doc)
	kinds := map[string]int{}
	for _, it := range p.Items() {
		kinds[it.Kind]++
		if it.Kind == plan.KindCert || it.Kind == plan.KindCA {
			if it.Key != string(pki.ECDSAP256) {
				t.Errorf("%s: key %q", it.Name, it.Key)
			}
			if !strings.HasPrefix(it.Files[0], "pki/") || !strings.HasSuffix(it.Files[0], ".crt") || !strings.HasSuffix(it.Files[1], ".key") {
				t.Errorf("%s: files %v", it.Name, it.Files)
			}
		}
		if it.Purpose == "" {
			t.Errorf("%s has no purpose", it.Name)
		}
	}
	want := map[string]int{plan.KindCA: 4, plan.KindKeyPair: 1, plan.KindCert: 7, plan.KindKubeconfig: 5, plan.KindManifest: 3}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d items of kind %s, want %d", kinds[k], k, n)
		}
	}
	ca, ok := p.CA(plan.ClusterCA)
	if !ok || ca.CertFile() != "pki/ca.crt" || ca.KeyFile() != "pki/ca.key" || ca.CN != "kubernetes" {
		t.Errorf("cluster CA = %+v", ca)
	}
}

func TestNewRejectsUnknownAlgorithm(t *testing.T) {
	c := config.Default("node-a")
	c.KeyAlgorithm = "dsa-1024"
	if _, err := plan.New(c); err == nil {
		t.Fatal("plan.New accepted an unknown key algorithm")
	}
}

// TestNewReturnsFreshValues checks that a plan owns its slices: changing
// one plan's subject never leaks into another plan.
func TestNewReturnsFreshValues(t *testing.T) {
	doc := newCluster(1, 1).doc
	a, b := testutil.Plan(t, doc), testutil.Plan(t, doc)
	a.Kubeconfigs[0].Subject.Organizations[0] = "tampered"
	a.Certs[0].Usages[0] = pki.ClientAuth
	if b.Kubeconfigs[0].Subject.Organizations[0] == "tampered" || b.Certs[0].Usages[0] == pki.ClientAuth {
		t.Fatal("plans share table slices")
	}
	if c := testutil.Plan(t, doc); c.Kubeconfigs[0].Subject.Organizations[0] == "tampered" {
		t.Fatal("a plan's change leaked into the table")
	}
}

func certNamed(t *testing.T, p *plan.Plan, name string) plan.Cert {
	t.Helper()
	for _, c := range p.Certs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no certificate %s", name)
	return plan.Cert{}
}

func kubeconfigNamed(t *testing.T, p *plan.Plan, name string) plan.Kubeconfig {
	t.Helper()
	for _, k := range p.Kubeconfigs {
		if k.Name == name {
			return k
		}
	}
	t.Fatalf("no kubeconfig %s", name)
	return plan.Kubeconfig{}
}

func coversName(s pki.Subject, name string) bool {
	if ip := net.ParseIP(name); ip != nil {
		return slices.ContainsFunc(s.IPs, ip.Equal)
	}
	return slices.Contains(s.DNSNames, name)
}

func usages(us []pki.Usage) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = string(u)
	}
	return out
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
