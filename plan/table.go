// Package plan holds bulwark's declarative tables: every CA, certificate,
// key pair, kubeconfig and RBAC binding of a control plane, with who signs
// what, for whom and for which use. New resolves them for one cluster
// configuration. init, plan, certs, the help text and the tests all read
// these tables; nothing else in the code spells a CN, a group or a usage.
package plan

import (
	"github.com/bulwark-k8s/bulwark/pki"
)

// Names of the trust roots.
const (
	ClusterCA    = "ca"
	EtcdCA       = "etcd/ca"
	EtcdPeerCA   = "etcd/peer-ca"
	FrontProxyCA = "front-proxy-ca"
)

// Groups and users that the tables, the bindings and the audit share.
const (
	GroupMasters        = "system:masters"
	GroupClusterAdmins  = "bulwark:cluster-admins"
	GroupBootstrappers  = "system:bootstrappers"
	GroupNodes          = "system:nodes"
	UserKubeletClient   = "kube-apiserver-kubelet-client"
	UserControllerMgr   = "system:kube-controller-manager"
	UserScheduler       = "system:kube-scheduler"
	NodeUserPrefix      = "system:node:"
	BootstrapUserPrefix = "system:bootstrap:"
)

// caSpec declares one trust root.
type caSpec struct {
	name    string
	cn      string
	signs   string
	trusted string
}

func caSpecs() []caSpec {
	return []caSpec{
		{ClusterCA, "kubernetes", "API server serving cert, API server clients, kubelet certs through the CSR API", "API server --client-ca-file, kubelets, kubeconfigs"},
		{EtcdCA, "etcd-ca", "etcd serving certs and etcd client certs", "etcd --trusted-ca-file, API server --etcd-cafile"},
		{EtcdPeerCA, "etcd-peer-ca", "etcd peer certs only", "etcd --peer-trusted-ca-file"},
		{FrontProxyCA, "front-proxy-ca", "the front-proxy client", "API server --requestheader-client-ca-file"},
	}
}

// sanSource says which names a certificate must cover.
type sanSource int

const (
	sansNone       sanSource = iota
	sansAPIServer            // service names, service IP, endpoint, control-plane nodes, extra SANs
	sansEtcdServer           // member name and IPs, localhost and loopback
	sansEtcdPeer             // member name and IPs
)

// certSpec declares one leaf certificate, or one per etcd member.
type certSpec struct {
	name      string // path under pki/ without extension
	ca        string
	cn        string // empty: the etcd member's name
	orgs      []string
	usages    []pki.Usage
	perMember bool
	sans      sanSource
	purpose   string
}

func certSpecs() []certSpec {
	server := []pki.Usage{pki.ServerAuth}
	client := []pki.Usage{pki.ClientAuth}
	return []certSpec{
		{name: "apiserver", ca: ClusterCA, cn: "kube-apiserver", usages: server, sans: sansAPIServer,
			purpose: "API server serving certificate"},
		{name: "apiserver-kubelet-client", ca: ClusterCA, cn: UserKubeletClient, usages: client,
			purpose: "API server to kubelets; bound to system:kubelet-api-admin"},
		{name: "front-proxy-client", ca: FrontProxyCA, cn: "front-proxy-client", usages: client,
			purpose: "API server to aggregated API servers"},
		{name: "apiserver-etcd-client", ca: EtcdCA, cn: "kube-apiserver-etcd-client", usages: client,
			purpose: "API server to etcd"},
		{name: "etcd/healthcheck-client", ca: EtcdCA, cn: "kube-etcd-healthcheck-client", usages: client,
			purpose: "etcd liveness probe"},
		// etcd's serving certificate needs clientAuth as well: etcd's own
		// gRPC gateway (the /v3 JSON API on the client port) dials the member
		// with this certificate, and etcd refuses it without clientAuth
		// ("incompatible key usage"), as e2e/etcd_test.go shows. The key never
		// leaves the member, which holds all of etcd's data anyway.
		{name: "etcd/server", ca: EtcdCA, usages: []pki.Usage{pki.ServerAuth, pki.ClientAuth}, perMember: true, sans: sansEtcdServer,
			purpose: "etcd client-port serving certificate (and its gateway's client)"},
		{name: "etcd/peer", ca: EtcdPeerCA, usages: []pki.Usage{pki.ServerAuth, pki.ClientAuth}, perMember: true, sans: sansEtcdPeer,
			purpose: "etcd member to member"},
	}
}

// kubeconfigSpec declares one kubeconfig file.
type kubeconfigSpec struct {
	name    string // file is name + ".conf"
	cn      string // empty: authenticates with a bootstrap token
	orgs    []string
	purpose string
}

func kubeconfigSpecs() []kubeconfigSpec {
	return []kubeconfigSpec{
		{name: "admin", cn: "kubernetes-admin", orgs: []string{GroupClusterAdmins},
			purpose: "administrator; cluster-admin through a revocable ClusterRoleBinding"},
		{name: "super-admin", cn: "kubernetes-super-admin", orgs: []string{GroupMasters},
			purpose: "break-glass only: system:masters bypasses RBAC and cannot be revoked"},
		{name: "controller-manager", cn: UserControllerMgr, purpose: "kube-controller-manager"},
		{name: "scheduler", cn: UserScheduler, purpose: "kube-scheduler"},
		{name: "bootstrap-kubelet", purpose: "kubelet TLS bootstrap with a bootstrap token"},
	}
}

// Subject kinds of a binding.
const (
	SubjectUser  = "User"
	SubjectGroup = "Group"
)

// Binding is one ClusterRoleBinding that goes with the PKI.
type Binding struct {
	Name        string
	ClusterRole string
	SubjectKind string
	Subject     string
	Why         string
}

// Bindings lists the ClusterRoleBindings written under cluster/.
func Bindings() []Binding {
	return []Binding{
		{"bulwark:cluster-admins", "cluster-admin", SubjectGroup, GroupClusterAdmins,
			"admin.conf's group; delete this binding to revoke every admin credential"},
		{"bulwark:kubelet-api-admin", "system:kubelet-api-admin", SubjectUser, UserKubeletClient,
			"lets the API server reach kubelets (logs, exec) without system:masters"},
		{"bulwark:node-bootstrapper", "system:node-bootstrapper", SubjectGroup, GroupBootstrappers,
			"bootstrap tokens may create CSRs"},
		{"bulwark:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", SubjectGroup, GroupBootstrappers,
			"the controller manager approves a bootstrapping node's client CSR"},
		{"bulwark:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", SubjectGroup, GroupNodes,
			"the controller manager approves a node's renewal of its own client certificate"},
	}
}

// QuietNamespaces are the namespaces that exist in every cluster from its
// first start. Their default ServiceAccount is written under cluster/ with
// token automount off (CIS 5.1.5): a Pod that runs as "default" gets no
// API credential unless its spec asks for one.
func QuietNamespaces() []string {
	return []string{"default", "kube-system", "kube-public", "kube-node-lease"}
}
