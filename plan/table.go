// Package plan holds bulwark's declarative tables: every CA, certificate,
// key pair, kubeconfig and RBAC binding of a control plane, with who signs
// what, for whom and for which use. New resolves them for one cluster
// configuration. init, plan, certs, the help text and the tests all read
// these tables; nothing else in the code spells a CN, a group or a usage.
package plan

import (
	"k8s.io/apiserver/pkg/authentication/user"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"github.com/bulwark-k8s/bulwark/pki"
)

// Names of the trust roots.
const (
	ClusterCA    = "ca"
	EtcdCA       = "etcd/ca"
	EtcdPeerCA   = "etcd/peer-ca"
	FrontProxyCA = "front-proxy-ca"
)

// Groups and users of bulwark's own that the tables, the bindings and the
// audit share. Kubernetes' own come from k8s.io/apiserver's user package
// and k8s.io/cluster-bootstrap's token api.
const (
	// GroupClusterAdmins is admin.conf's group, bound to cluster-admin by a
	// ClusterRoleBinding that can be deleted.
	GroupClusterAdmins = "bulwark:cluster-admins"
	// AdminUserPrefix begins the user name of every certificate `bulwark
	// admin sign` issues (followed by the administrator's name): no system
	// or component user begins so.
	AdminUserPrefix = "bulwark-admin:"
	// UserKubeletClient is the API server's identity towards kubelets.
	UserKubeletClient = "kube-apiserver-kubelet-client"
)

// Names of the kubeconfigs in the table; each is written to
// layout.KubeconfigFile(name).
const (
	KubeconfigAdmin             = "admin"
	KubeconfigSuperAdmin        = "super-admin"
	KubeconfigControllerManager = "controller-manager"
	KubeconfigScheduler         = "scheduler"
	KubeconfigBootstrapKubelet  = "bootstrap-kubelet"
)

// Names of the leaf certificates in the table (per-member ones are placed
// under pki/etcd/<member>/ with several members).
const (
	CertAPIServer        = "apiserver"
	CertKubeletClient    = "apiserver-kubelet-client"
	CertFrontProxyClient = "front-proxy-client"
	CertEtcdClient       = "apiserver-etcd-client"
	CertEtcdHealthcheck  = "etcd/healthcheck-client"
	CertEtcdServer       = "etcd/server"
	CertEtcdPeer         = "etcd/peer"
	FrontProxyClientCN   = "front-proxy-client"
	apiServerCN          = "kube-apiserver"
)

// Names of the trust roots as `bulwark rotate` takes them: one per CA, and
// the service-account key pair.
const (
	RootCluster        = "ca"
	RootEtcd           = "etcd-ca"
	RootEtcdPeer       = "etcd-peer-ca"
	RootFrontProxy     = "front-proxy-ca"
	RootServiceAccount = "sa"
)

// caSpec declares one trust root.
type caSpec struct {
	name    string
	root    string
	cn      string
	signs   string
	trusted string
	// signer: a component (the controller manager) signs with it, from
	// its single-certificate file layout.SignerCertFile.
	signer bool
}

func caSpecs() []caSpec {
	return []caSpec{
		{ClusterCA, RootCluster, "kubernetes", "API server serving cert, API server clients, kubelet certs through the CSR API",
			"API server and controller manager --client-ca-file, controller manager --root-ca-file (every namespace's kube-root-ca.crt), kubelets' clientCAFile, kubeconfigs", true},
		{EtcdCA, RootEtcd, "etcd-ca", "etcd serving certs and etcd client certs", "etcd --trusted-ca-file, API server --etcd-cafile", false},
		{EtcdPeerCA, RootEtcdPeer, "etcd-peer-ca", "etcd peer certs only", "etcd --peer-trusted-ca-file", false},
		{FrontProxyCA, RootFrontProxy, "front-proxy-ca", "the front-proxy client",
			"API server and controller manager --requestheader-client-ca-file", false},
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
		{name: CertAPIServer, ca: ClusterCA, cn: apiServerCN, usages: server, sans: sansAPIServer,
			purpose: "API server serving certificate"},
		{name: CertKubeletClient, ca: ClusterCA, cn: UserKubeletClient, usages: client,
			purpose: "API server to kubelets; bound to system:kubelet-api-admin"},
		{name: CertFrontProxyClient, ca: FrontProxyCA, cn: FrontProxyClientCN, usages: client,
			purpose: "API server to aggregated API servers"},
		{name: CertEtcdClient, ca: EtcdCA, cn: "kube-apiserver-etcd-client", usages: client,
			purpose: "API server to etcd"},
		{name: CertEtcdHealthcheck, ca: EtcdCA, cn: "kube-etcd-healthcheck-client", usages: client,
			purpose: "etcd liveness probe"},
		// etcd's serving certificate needs clientAuth as well: etcd's own
		// gRPC gateway (the /v3 JSON API on the client port) dials the member
		// with this certificate, and etcd refuses it without clientAuth
		// ("incompatible key usage"), as e2e/etcd_test.go shows. The key never
		// leaves the member, which holds all of etcd's data anyway.
		{name: CertEtcdServer, ca: EtcdCA, usages: []pki.Usage{pki.ServerAuth, pki.ClientAuth}, perMember: true, sans: sansEtcdServer,
			purpose: "etcd client-port serving certificate (and its gateway's client)"},
		{name: CertEtcdPeer, ca: EtcdPeerCA, usages: []pki.Usage{pki.ServerAuth, pki.ClientAuth}, perMember: true, sans: sansEtcdPeer,
			purpose: "etcd member to member"},
	}
}

// kubeconfigSpec declares one kubeconfig file, or one per control-plane
// node.
type kubeconfigSpec struct {
	name string // file: layout.KubeconfigFile(name)
	cn   string // empty: authenticates with a bootstrap token
	orgs []string
	// perNode: one per control-plane node, naming that node's own API
	// server (as kubeadm does), so that no node's components depend on
	// another node's API server. The others name the shared endpoint.
	perNode bool
	purpose string
}

func kubeconfigSpecs() []kubeconfigSpec {
	return []kubeconfigSpec{
		{name: KubeconfigAdmin, cn: "kubernetes-admin", orgs: []string{GroupClusterAdmins},
			purpose: "administrator; cluster-admin through a revocable ClusterRoleBinding"},
		{name: KubeconfigSuperAdmin, cn: "kubernetes-super-admin", orgs: []string{user.SystemPrivilegedGroup},
			purpose: "break-glass only: system:masters bypasses RBAC and cannot be revoked"},
		{name: KubeconfigControllerManager, cn: user.KubeControllerManager, perNode: true, purpose: "kube-controller-manager, to its own node's API server"},
		{name: KubeconfigScheduler, cn: user.KubeScheduler, perNode: true, purpose: "kube-scheduler, to its own node's API server"},
		{name: KubeconfigBootstrapKubelet, purpose: "kubelet TLS bootstrap with a bootstrap token"},
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
		{"bulwark:node-bootstrapper", "system:node-bootstrapper", SubjectGroup, bootstrapapi.BootstrapDefaultGroup,
			"bootstrap tokens may create CSRs"},
		{"bulwark:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", SubjectGroup, bootstrapapi.BootstrapDefaultGroup,
			"the controller manager approves a bootstrapping node's client CSR"},
		{"bulwark:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", SubjectGroup, user.NodesGroup,
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
