// Package hardening is the table of every setting bulwark gives etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and the kubelet,
// each with the reason for it. render writes configuration from it and
// audit checks clusters against it: one table, two uses.
package hardening

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
)

// Component names a control-plane program.
type Component string

// The components.
const (
	Etcd              Component = "etcd"
	APIServer         Component = "kube-apiserver"
	ControllerManager Component = "kube-controller-manager"
	Scheduler         Component = "kube-scheduler"
	Kubelet           Component = "kubelet"
)

// Components lists them in start order.
func Components() []Component {
	return []Component{Etcd, APIServer, ControllerManager, Scheduler, Kubelet}
}

// Default ports, the components' own.
const (
	EtcdClientPort    = 2379
	EtcdPeerPort      = 2380
	EtcdMetricsPort   = 2381
	APIServerPort     = config.DefaultAPIPort
	ControllerMgrPort = 10257
	SchedulerPort     = 10259
	KubeletPort       = 10250
)

// Context is what a setting's value depends on.
type Context struct {
	// Root is where the cluster folder sits on the host, e.g. /etc/kubernetes.
	Root string
	Plan *plan.Plan
	// Node is the control-plane node being rendered (API server,
	// controller manager, scheduler).
	Node config.Node
	// Member is the etcd member being rendered.
	Member config.Node
}

// File is the host path of a file of the cluster folder.
func (c *Context) File(rel string) string { return path.Join(c.Root, rel) }

func (c *Context) cert(name string) string {
	for _, ce := range c.Plan.Certs {
		if ce.Name == name || (ce.Kind == name && ce.Member == c.Member.Name) {
			return c.File(ce.CertFile())
		}
	}
	panic("hardening: no certificate " + name)
}

func (c *Context) key(name string) string { return strings.TrimSuffix(c.cert(name), ".crt") + ".key" }

func (c *Context) caCert(name string) string {
	ca, _ := c.Plan.CA(name)
	return c.File(ca.CertFile())
}

func (c *Context) caKey(name string) string {
	ca, _ := c.Plan.CA(name)
	return c.File(ca.KeyFile())
}

func (c *Context) signerCert(name string) string {
	ca, _ := c.Plan.CA(name)
	return c.File(ca.SignerCertFile())
}

// kubeconfig is the node's own kubeconfig of a kind of the plan's table.
func (c *Context) kubeconfig(kind string) string {
	k, ok := c.Plan.Kubeconfig(kind, c.Node.Name)
	if !ok {
		panic("hardening: no kubeconfig " + kind + " for " + c.Node.Name)
	}
	return c.File(k.File())
}

func firstIP(n config.Node) string {
	if len(n.IPs) > 0 {
		return n.IPs[0]
	}
	return "127.0.0.1"
}

func url(host string, port int) string {
	return "https://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// Match says how audit judges an effective value against the rendered one.
type Match int

// How values are compared.
const (
	// Operational settings: rendered, not audited.
	NotAudited Match = iota
	// The effective value must equal the rendered one.
	Equals
	// The effective value is a comma-separated list that must contain
	// every item of the rendered one.
	Contains
	// The setting must be present (any value), e.g. a file path.
	Present
	// The effective value is a number at least the rendered one.
	AtLeast
	// The effective value is a comma-separated list whose every item is in
	// the rendered one (e.g. allowed cipher suites).
	Subset
	// The effective value is a TLS version at least the rendered one
	// (TLS 1.3 passes a TLS 1.2 minimum).
	MinTLS
	// The effective value is a loopback address (127.0.0.0/8, ::1,
	// localhost).
	Loopback
	// The effective value is a duration at most the rendered one.
	AtMostDuration
)

// StrongCipherSuites are the TLS 1.2 suites bulwark allows: ECDHE key
// exchange and AEAD ciphers (TLS 1.3 suites are not configurable).
const StrongCipherSuites = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384," +
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256," +
	"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"

// Setting is one flag of a component, or one field of the kubelet's
// configuration file.
type Setting struct {
	Component Component
	// Name is the flag without dashes, or a dotted KubeletConfiguration
	// field path.
	Name string
	// Value computes the rendered value: a string for flags; for kubelet
	// fields, the JSON value (bool, string, number, list).
	Value func(c *Context) any
	// Reason is the one-line why.
	Reason string
	// How audit checks it, and how bad it is to get it wrong (finding's
	// rubric).
	Match    Match
	Severity finding.Severity
	// Problem is the audit finding's title: what is wrong when the setting
	// is not as rendered.
	Problem string
	// CIS Kubernetes Benchmark recommendation, where there is one
	// (numbered as in CIS 1.12, kube-bench's cis-1.12).
	CIS string
	// OnlyIf names another flag of the component: the rule applies only
	// when that one is set (audit-log retention without an audit log means
	// nothing).
	OnlyIf string
	// Reloaded: the component reads the file this flag names again while
	// it runs, so a replaced file reaches it without a restart (the real
	// components are shown to, by the three-node e2e and the rotation
	// e2e: the API server's client CAs, serving and client pairs, etcd's
	// certificates on every handshake, the controller manager's signing
	// files and client CAs, the kubelet's client CA). A file any flag
	// reads only at start makes render put it in the Pod's inputs
	// checksum, and the kubelet restarts the Pod when it changes.
	Reloaded bool
}

// says sets the problem an audited row's finding states.
func (s Setting) says(problem string) Setting {
	s.Problem = problem
	return s
}

func (s Setting) onlyIf(flag string) Setting {
	s.OnlyIf = flag
	return s
}

func (s Setting) reloaded() Setting {
	s.Reloaded = true
	return s
}

// ID is the stable name of the setting's rule.
func (s Setting) ID() string { return string(s.Component) + ":" + s.Name }

// FlagValue renders a flag's value as a string.
func (s Setting) FlagValue(c *Context) string {
	if list, ok := s.Value(c).([]string); ok {
		return strings.Join(list, ",")
	}
	return fmt.Sprint(s.Value(c))
}

func lit(v any) func(*Context) any { return func(*Context) any { return v } }

// row returns the constructor of one component's rows, in the table's
// column order: name, value, match, severity, CIS, reason.
func row(comp Component) func(name string, v func(*Context) any, m Match, sev finding.Severity, cis, reason string) Setting {
	return func(name string, v func(*Context) any, m Match, sev finding.Severity, cis, reason string) Setting {
		return Setting{Component: comp, Name: name, Value: v, Match: m, Severity: sev, CIS: cis, Reason: reason}
	}
}

// Settings is the table.
func Settings() []Setting {
	return append(append(append(append(etcdSettings(), apiServerSettings()...), controllerManagerSettings()...), schedulerSettings()...), kubeletSettings()...)
}

// For returns the settings of one component, in table order.
func For(comp Component) []Setting {
	var out []Setting
	for _, s := range Settings() {
		if s.Component == comp {
			out = append(out, s)
		}
	}
	return out
}

func etcdSettings() []Setting {
	e := row(Etcd)
	return []Setting{
		e("name", func(c *Context) any { return c.Member.Name }, NotAudited, "", "", "member name; matches its certificates' CN"),
		e("data-dir", lit(layout.EtcdDataDir), NotAudited, "", "", "where the member keeps its data"),
		e("listen-client-urls", func(c *Context) any {
			urls := []string{url(firstIP(c.Member), EtcdClientPort)}
			if firstIP(c.Member) != "127.0.0.1" {
				urls = append(urls, url("127.0.0.1", EtcdClientPort))
			}
			return strings.Join(urls, ",")
		}, NotAudited, "", "", "TLS only, on the member's own address and loopback, never 0.0.0.0"),
		e("advertise-client-urls", func(c *Context) any { return url(firstIP(c.Member), EtcdClientPort) }, NotAudited, "", "", "clients reach the member over TLS"),
		e("listen-peer-urls", func(c *Context) any { return url(firstIP(c.Member), EtcdPeerPort) }, NotAudited, "", "", "peers over TLS on the member's own address only"),
		e("initial-advertise-peer-urls", func(c *Context) any { return url(firstIP(c.Member), EtcdPeerPort) }, NotAudited, "", "", "peers over TLS"),
		e("initial-cluster", func(c *Context) any {
			var parts []string
			for _, m := range c.Plan.Config.EtcdMembers {
				parts = append(parts, m.Name+"="+url(firstIP(m), EtcdPeerPort))
			}
			return strings.Join(parts, ",")
		}, NotAudited, "", "", "every member, by TLS peer URL"),
		e("initial-cluster-state", lit("new"), NotAudited, "", "", "bootstrap a new cluster"),
		e("initial-cluster-token", func(c *Context) any { return c.Plan.Config.ClusterName + "-etcd" }, NotAudited, "", "", "keeps members of another cluster out at bootstrap"),
		// etcd loads its own certificate and key at every TLS handshake
		// (client/pkg/transport TLSInfo's GetCertificate and
		// GetClientCertificate); its trusted CAs only at start.
		e("cert-file", func(c *Context) any { return c.cert(plan.CertEtcdServer) }, Present, finding.High, "2.1", "serve clients over TLS").says("etcd serves clients without TLS (no --cert-file)").reloaded(),
		e("key-file", func(c *Context) any { return c.key(plan.CertEtcdServer) }, Present, finding.High, "2.1", "serve clients over TLS").says("etcd serves clients without TLS (no --key-file)").reloaded(),
		e("client-cert-auth", lit("true"), Equals, finding.Critical, "2.2", "only clients with a certificate from etcd/ca may connect: etcd holds every Secret").says("etcd accepts clients without a certificate"),
		e("trusted-ca-file", func(c *Context) any { return c.caCert(plan.EtcdCA) }, Present, finding.Critical, "2.7", "trust etcd/ca only, never the cluster CA").says("etcd has no CA to verify client certificates: any client reaches every Secret"),
		e("auto-tls", lit("false"), Equals, finding.High, "2.3", "self-signed client certificates would defeat client-cert-auth").says("etcd serves clients a self-signed certificate it generates (--auto-tls)"),
		e("peer-cert-file", func(c *Context) any { return c.cert(plan.CertEtcdPeer) }, Present, finding.High, "2.4", "peers talk over TLS").says("etcd peers talk without TLS (no --peer-cert-file)").reloaded(),
		e("peer-key-file", func(c *Context) any { return c.key(plan.CertEtcdPeer) }, Present, finding.High, "2.4", "peers talk over TLS").says("etcd peers talk without TLS (no --peer-key-file)").reloaded(),
		e("peer-client-cert-auth", lit("true"), Equals, finding.Critical, "2.5", "only holders of an etcd/peer-ca certificate may join as members").says("etcd accepts peers without a certificate: anyone can join as a member"),
		e("peer-trusted-ca-file", func(c *Context) any { return c.caCert(plan.EtcdPeerCA) }, Present, finding.Critical, "2.4", "a separate peer CA: a stolen client certificate cannot join the cluster").says("etcd has no CA to verify peer certificates: anyone can join as a member"),
		e("peer-auto-tls", lit("false"), Equals, finding.High, "2.6", "self-signed peer certificates would defeat peer-client-cert-auth").says("etcd peers use self-signed certificates they generate (--peer-auto-tls)"),
		e("tls-min-version", lit("TLS1.2"), MinTLS, finding.Medium, "", "no TLS 1.0/1.1").says("etcd accepts TLS versions below 1.2"),
		e("listen-metrics-urls", lit("http://127.0.0.1:2381"), NotAudited, "", "", "plain-HTTP health and metrics on loopback only, for the liveness probe"),
	}
}

func apiServerSettings() []Setting {
	a := row(APIServer)
	return []Setting{
		a("advertise-address", func(c *Context) any { return firstIP(c.Node) }, NotAudited, "", "", "the address the API server announces to the cluster"),
		a("secure-port", lit(strconv.Itoa(APIServerPort)), NotAudited, "", "", "HTTPS only; there is no insecure port"),
		a("authentication-config", func(c *Context) any { return c.File(layout.AuthnConfigFile) }, Present, finding.High, "1.2.1",
			"anonymous requests only on /livez, /readyz and /healthz (for probes); everything else needs credentials").says("kube-apiserver accepts anonymous requests beyond the health endpoints"),
		a("authorization-mode", lit("Node,RBAC"), Equals, finding.Critical, "1.2.6", "Node authorizer for kubelets, RBAC for everyone else; never AlwaysAllow").says("kube-apiserver authorizes requests without Node and RBAC, or allows every request"),
		a("enable-admission-plugins", lit("NodeRestriction,DenyServiceExternalIPs"), Contains, finding.High, "1.2.14",
			"NodeRestriction: a kubelet may only change its own Node and Pods; DenyServiceExternalIPs: no Service can claim an outside address (CVE-2020-8554)").says("kube-apiserver runs without the NodeRestriction admission plugin"),
		a("enable-bootstrap-token-auth", lit("true"), NotAudited, "", "", "kubelet TLS bootstrap with short-lived tokens"),
		a("client-ca-file", func(c *Context) any { return c.caCert(plan.ClusterCA) }, Present, finding.High, "1.2.25", "client certificates must come from the cluster CA").says("kube-apiserver verifies no client certificates (no --client-ca-file)").reloaded(),
		// The serving pair and the front-proxy client pair are watched
		// (dynamiccertificates.DynamicCertKeyPairContent).
		a("tls-cert-file", func(c *Context) any { return c.cert(plan.CertAPIServer) }, Present, finding.High, "1.2.24", "serve over TLS").says("kube-apiserver serves a self-signed certificate it generates (no --tls-cert-file)").reloaded(),
		a("tls-private-key-file", func(c *Context) any { return c.key(plan.CertAPIServer) }, Present, finding.High, "1.2.24", "serve over TLS").says("kube-apiserver serves a self-signed certificate it generates (no --tls-private-key-file)").reloaded(),
		a("tls-min-version", lit("VersionTLS12"), MinTLS, finding.Medium, "", "no TLS 1.0/1.1").says("kube-apiserver accepts TLS versions below 1.2"),
		a("tls-cipher-suites", lit(StrongCipherSuites), Subset, finding.Low, "1.2.29", "TLS 1.2 with forward-secret AEAD ciphers only").says("kube-apiserver does not restrict TLS 1.2 to forward-secret AEAD cipher suites"),
		// client-go's transport loads a client pair named by files again
		// (at most once a second) for each new connection.
		a("kubelet-client-certificate", func(c *Context) any { return c.cert(plan.CertKubeletClient) }, Present, finding.High, "1.2.4", "authenticate to kubelets as kube-apiserver-kubelet-client").says("kube-apiserver reaches kubelets without a client certificate").reloaded(),
		a("kubelet-client-key", func(c *Context) any { return c.key(plan.CertKubeletClient) }, Present, finding.High, "1.2.4", "authenticate to kubelets").says("kube-apiserver reaches kubelets without a client certificate").reloaded(),
		a("kubelet-preferred-address-types", lit("InternalIP,ExternalIP,Hostname"), NotAudited, "", "", "reach kubelets by address first"),
		a("etcd-servers", func(c *Context) any {
			var urls []string
			for _, m := range c.Plan.Config.EtcdMembers {
				urls = append(urls, url(firstIP(m), EtcdClientPort))
			}
			return strings.Join(urls, ",")
		}, NotAudited, "", "", "every etcd member, over TLS"),
		a("etcd-cafile", func(c *Context) any { return c.caCert(plan.EtcdCA) }, Present, finding.High, "1.2.26", "verify etcd against etcd/ca").says("kube-apiserver does not verify etcd's certificate (no --etcd-cafile)"),
		a("etcd-certfile", func(c *Context) any { return c.cert(plan.CertEtcdClient) }, Present, finding.High, "1.2.23", "authenticate to etcd with its own client certificate").says("kube-apiserver reaches etcd without a client certificate"),
		a("etcd-keyfile", func(c *Context) any { return c.key(plan.CertEtcdClient) }, Present, finding.High, "1.2.23", "authenticate to etcd").says("kube-apiserver reaches etcd without a client certificate"),
		a("proxy-client-cert-file", func(c *Context) any { return c.cert(plan.CertFrontProxyClient) }, NotAudited, "", "", "authenticate to aggregated API servers").reloaded(),
		a("proxy-client-key-file", func(c *Context) any { return c.key(plan.CertFrontProxyClient) }, NotAudited, "", "", "authenticate to aggregated API servers").reloaded(),
		a("requestheader-client-ca-file", func(c *Context) any { return c.caCert(plan.FrontProxyCA) }, NotAudited, "", "", "trust identity headers only from front-proxy-ca clients (audit compares it with the cluster CA by key)").reloaded(),
		a("requestheader-allowed-names", lit(plan.FrontProxyClientCN), Equals, finding.High, "", "and only from the front-proxy client itself").onlyIf("requestheader-client-ca-file").says("kube-apiserver takes identity headers from any certificate of the front-proxy CA (no --requestheader-allowed-names)"),
		a("requestheader-username-headers", lit("X-Remote-User"), NotAudited, "", "", "aggregation headers"),
		a("requestheader-group-headers", lit("X-Remote-Group"), NotAudited, "", "", "aggregation headers"),
		a("requestheader-extra-headers-prefix", lit("X-Remote-Extra-"), NotAudited, "", "", "aggregation headers"),
		a("service-account-issuer", func(c *Context) any { return "https://kubernetes.default.svc." + c.Plan.Config.ClusterDomain }, Present, finding.High, "", "tokens name their issuer").says("kube-apiserver has no service-account issuer"),
		a("service-account-key-file", func(c *Context) any { return c.File(plan.ServiceAccountPubFile) }, Present, finding.High, "1.2.22", "verify service-account tokens").says("kube-apiserver has no key to verify service-account tokens with"),
		a("service-account-signing-key-file", func(c *Context) any { return c.File(plan.ServiceAccountKeyFile) }, Present, finding.High, "", "sign service-account tokens (TokenRequest)").says("kube-apiserver has no key to sign service-account tokens with"),
		a("service-cluster-ip-range", func(c *Context) any { return c.Plan.Config.ServiceCIDR }, NotAudited, "", "", "Service addresses; the first is in the serving certificate"),
		a("encryption-provider-config", func(c *Context) any { return c.File(layout.EncryptionConfigFile) }, Present, finding.High, "1.2.27", "Secrets are encrypted before they reach etcd").says("kube-apiserver stores Secrets in etcd unencrypted (no --encryption-provider-config)"),
		a("audit-policy-file", func(c *Context) any { return c.File(layout.AuditPolicyFile) }, Present, finding.Medium, "3.2.1", "record who did what").says("kube-apiserver records no audit events (no --audit-policy-file)"),
		a("audit-log-path", lit(layout.AuditLogPath), Present, finding.Medium, "1.2.16", "where the audit log goes").says("kube-apiserver writes no audit log (no --audit-log-path)"),
		a("audit-log-maxage", lit("30"), AtLeast, finding.Medium, "1.2.17", "keep 30 days of audit logs").onlyIf("audit-log-path").says("kube-apiserver keeps audit logs fewer than 30 days"),
		a("audit-log-maxbackup", lit("10"), AtLeast, finding.Medium, "1.2.18", "keep 10 rotated audit logs").onlyIf("audit-log-path").says("kube-apiserver keeps fewer than 10 rotated audit logs"),
		a("audit-log-maxsize", lit("100"), AtLeast, finding.Medium, "1.2.19", "rotate the audit log at 100 MB").onlyIf("audit-log-path").says("kube-apiserver rotates audit logs below 100 MB"),
		a("service-account-extend-token-expiration", lit("false"), Equals, finding.Medium, "1.2.30", "projected service-account tokens live as long as they say, not a year").says("kube-apiserver extends projected service-account tokens to a year"),
		a("service-account-max-token-expiration", lit("24h"), NotAudited, "", "",
			"no service-account token lives longer than a day: a rotation of the service-account key can finish a day after its reissue step (kubelets renew their Pods' tokens by themselves)"),
		a("profiling", lit("false"), Equals, finding.Medium, "1.2.15", "no profiling endpoints").says("kube-apiserver serves profiling endpoints"),
		a("allow-privileged", lit("true"), NotAudited, "", "", "CNI and kube-proxy DaemonSets need privileged Pods; Pod Security admission limits who may run them"),
	}
}

func controllerManagerSettings() []Setting {
	m := row(ControllerManager)
	kc := func(c *Context) any { return c.kubeconfig(plan.KubeconfigControllerManager) }
	return append(append([]Setting{
		m("kubeconfig", kc, Present, finding.High, "", "authenticate as system:kube-controller-manager").says("kube-controller-manager has no kubeconfig of its own"),
		m("authentication-kubeconfig", kc, NotAudited, "", "", "delegated authentication of its own HTTPS endpoint (without it, only health checks get in)"),
		m("authorization-kubeconfig", kc, NotAudited, "", "", "delegated authorization of its own HTTPS endpoint"),
		m("bind-address", lit("127.0.0.1"), Loopback, finding.Medium, "1.3.7", "its HTTPS endpoint on loopback only").says("kube-controller-manager serves beyond loopback"),
		m("secure-port", lit(strconv.Itoa(ControllerMgrPort)), NotAudited, "", "", "its HTTPS endpoint"),
		m("client-ca-file", func(c *Context) any { return c.caCert(plan.ClusterCA) }, NotAudited, "", "", "verify clients of its endpoint").reloaded(),
		m("requestheader-client-ca-file", func(c *Context) any { return c.caCert(plan.FrontProxyCA) }, NotAudited, "", "", "verify proxied clients").reloaded(),
	}, signerSettings(m)...), []Setting{
		m("cluster-signing-duration", func(c *Context) any { return c.Plan.KubeletCert.String() }, AtMostDuration, finding.Medium, "", "kubelet certificates live 72h and are rotated").says("kube-controller-manager signs kubelet certificates for longer than planned"),
		m("controllers", lit("*,bootstrapsigner,tokencleaner"), NotAudited, "", "", "sign cluster-info and remove expired bootstrap tokens (the API server refuses expired ones anyway)"),
		m("root-ca-file", func(c *Context) any { return c.caCert(plan.ClusterCA) }, Present, finding.Medium, "1.3.5", "Pods verify the API server").says("kube-controller-manager gives Pods no CA to verify the API server (no --root-ca-file)"),
		m("service-account-private-key-file", func(c *Context) any { return c.File(plan.ServiceAccountKeyFile) }, Present, finding.High, "1.3.4", "sign legacy service-account tokens with the same key").says("kube-controller-manager has no key to sign service-account tokens with"),
		m("use-service-account-credentials", lit("true"), Equals, finding.High, "1.3.3", "each controller acts with its own least-privilege identity").says("kube-controller-manager's controllers share one powerful identity (no --use-service-account-credentials)"),
		m("profiling", lit("false"), Equals, finding.Medium, "1.3.2", "no profiling endpoints").says("kube-controller-manager serves profiling endpoints"),
		m("terminated-pod-gc-threshold", lit("1000"), Present, finding.Low, "1.3.1", "garbage-collect terminated Pods before they fill etcd").says("kube-controller-manager keeps 12500 terminated Pods before collecting them (no --terminated-pod-gc-threshold)"),
		m("leader-elect", lit("true"), NotAudited, "", "", "one active controller manager"),
		m("cluster-name", func(c *Context) any { return c.Plan.Config.ClusterName }, NotAudited, "", "", "cluster name"),
		m("service-cluster-ip-range", func(c *Context) any { return c.Plan.Config.ServiceCIDR }, NotAudited, "", "", "Service addresses"),
	}...)
}

// CSRSigners are the controller manager's CSR signers: it signs for each
// with the certificate and key its --cluster-signing-<signer>-{cert,key}-file
// flags name.
func CSRSigners() []string {
	return []string{"kubelet-client", "kubelet-serving", "kube-apiserver-client", "legacy-unknown"}
}

// KubeletClientSigner is the signer of kubelets' client certificates: an
// audit wants its files (or the generic --cluster-signing-{cert,key}-file
// that kubeadm sets, which stands for every signer).
const KubeletClientSigner = "kubelet-client"

// signerSettings point every CSR signer of the controller manager at the
// cluster CA's signing certificate alone and its key, rather than one
// --cluster-signing-cert-file: that flag's file would be the trust file,
// which holds two CAs during a rotation, and the controller manager refuses
// a signing file with more than one certificate (kubeadm#1350). It rereads
// both files when they change, so a rotation's reissue step switches it to
// the new CA without a restart.
func signerSettings(m func(string, func(*Context) any, Match, finding.Severity, string, string) Setting) []Setting {
	var out []Setting
	for _, s := range CSRSigners() {
		cert := m("cluster-signing-"+s+"-cert-file", func(c *Context) any { return c.signerCert(plan.ClusterCA) }, NotAudited, "", "",
			"sign "+s+" CSRs with the cluster CA's signing certificate alone (never a bundle)").reloaded()
		key := m("cluster-signing-"+s+"-key-file", func(c *Context) any { return c.caKey(plan.ClusterCA) }, NotAudited, "", "",
			"sign "+s+" CSRs with the cluster CA's key").reloaded()
		if s == KubeletClientSigner {
			cert.Match, cert.Severity = Present, finding.High
			cert = cert.says("kube-controller-manager has no CA to sign kubelet certificates with")
			key.Match, key.Severity = Present, finding.High
			key = key.says("kube-controller-manager has no CA key to sign kubelet certificates with")
		}
		out = append(out, cert, key)
	}
	return out
}

func schedulerSettings() []Setting {
	s := row(Scheduler)
	kc := func(c *Context) any { return c.kubeconfig(plan.KubeconfigScheduler) }
	return []Setting{
		s("kubeconfig", kc, Present, finding.High, "", "authenticate as system:kube-scheduler").says("kube-scheduler has no kubeconfig of its own"),
		s("authentication-kubeconfig", kc, NotAudited, "", "", "delegated authentication of its own HTTPS endpoint (without it, only health checks get in)"),
		s("authorization-kubeconfig", kc, NotAudited, "", "", "delegated authorization of its own HTTPS endpoint"),
		s("bind-address", lit("127.0.0.1"), Loopback, finding.Medium, "1.4.2", "its HTTPS endpoint on loopback only").says("kube-scheduler serves beyond loopback"),
		s("secure-port", lit(strconv.Itoa(SchedulerPort)), NotAudited, "", "", "its HTTPS endpoint"),
		s("profiling", lit("false"), Equals, finding.Medium, "1.4.1", "no profiling endpoints").says("kube-scheduler serves profiling endpoints"),
		s("leader-elect", lit("true"), NotAudited, "", "", "one active scheduler"),
	}
}

func kubeletSettings() []Setting {
	k := row(Kubelet)
	return []Setting{
		k("authentication.anonymous.enabled", lit(false), Equals, finding.Critical, "4.2.1", "anonymous requests to the kubelet API are refused (401)").says("the kubelet accepts anonymous requests"),
		k("authentication.webhook.enabled", lit(true), Equals, finding.High, "4.2.2", "bearer tokens are checked with the API server").says("the kubelet does not check bearer tokens with the API server (webhook authentication off)"),
		k("authentication.x509.clientCAFile", func(c *Context) any { return c.caCert(plan.ClusterCA) }, Present, finding.High, "4.2.3", "client certificates (the API server's) must come from the cluster CA").says("the kubelet verifies no client certificates (no clientCAFile)").reloaded(),
		k("authorization.mode", lit("Webhook"), Equals, finding.Critical, "4.2.2", "every request is authorized by the API server (SubjectAccessReview)").says("the kubelet allows every request (authorization mode is not Webhook)"),
		k("readOnlyPort", lit(0), Equals, finding.High, "4.2.4", "no unauthenticated read-only port 10255").says("the kubelet serves its read-only port without authentication"),
		k("rotateCertificates", lit(true), Equals, finding.Medium, "4.2.10", "renew the 72h client certificate before it ends").says("the kubelet does not renew its client certificate (rotateCertificates off)"),
		k("protectKernelDefaults", lit(true), Equals, finding.Medium, "4.2.6", "fail rather than change kernel settings").says("the kubelet changes kernel settings instead of failing (protectKernelDefaults off)"),
		k("tlsMinVersion", lit("VersionTLS12"), MinTLS, finding.Medium, "", "no TLS 1.0/1.1").says("the kubelet accepts TLS versions below 1.2"),
		k("tlsCipherSuites", func(*Context) any { return strings.Split(StrongCipherSuites, ",") }, Subset, finding.Low, "4.2.12", "TLS 1.2 with forward-secret AEAD ciphers only").says("the kubelet does not restrict TLS 1.2 to forward-secret AEAD cipher suites"),
		k("podPidsLimit", lit(4096), Present, finding.Low, "4.2.13", "a Pod cannot exhaust the node's process IDs").says("a Pod can exhaust the node's process IDs (no podPidsLimit)"),
		k("seccompDefault", lit(true), Equals, finding.Low, "4.2.14", "containers run with the runtime's default seccomp profile").says("containers run without the runtime's default seccomp profile (seccompDefault off)"),
		k("serverTLSBootstrap", lit(false), NotAudited, finding.Medium, "4.2.9",
			"serving CSRs are not approved by Kubernetes itself; turn on only with an approver that checks each CSR against its Node"),
		k("staticPodPath", func(c *Context) any { return c.File(layout.ManifestsDir) }, NotAudited, "", "", "where the control-plane manifests are"),
		k("clusterDomain", func(c *Context) any { return c.Plan.Config.ClusterDomain }, NotAudited, "", "", "cluster DNS domain"),
		k("cgroupDriver", lit("systemd"), NotAudited, "", "", "match the container runtime"),
	}
}
