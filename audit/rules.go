package audit

import (
	"sync"

	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/rbac"
	"github.com/bulwark-k8s/bulwark/trust"
)

// r is a short constructor for the audit's own rules.
func r(id string, sev finding.Severity, cis, title, fix string) finding.Rule {
	return finding.Rule{ID: id, Severity: sev, CIS: cis, Title: title, Remediation: fix}
}

// Rule IDs the audit's checks refer to.
const (
	idConfigUnreadable = "config:unreadable"
	idStrayArgs        = "config:stray-arguments"

	idEtcdPlainClient      = "etcd:plain-http-client"
	idEtcdPlainPeer        = "etcd:plain-http-peer"
	idEtcdMetrics          = "etcd:plain-http-metrics"
	idEtcdPprof            = "etcd:pprof"
	idEtcdSeparateCA       = "etcd:separate-ca"
	idEtcdPeerCluster      = "etcd:separate-peer-ca-from-cluster"
	idEtcdPeerCA           = "etcd:separate-peer-ca"
	idFrontProxyCA         = "kube-apiserver:separate-front-proxy-ca"
	idWeakCiphers          = ":weak-cipher-suites"
	idInsecureCiphers      = ":insecure-cipher-suites"
	idAPIEtcdPlain         = "kube-apiserver:etcd-plain-http"
	idAPIEtcdPlainLoopback = "kube-apiserver:etcd-plain-http-loopback"
	idEtcdPlainLoopback    = "etcd:plain-http-client-loopback"
	idAnonymous            = "kube-apiserver:anonymous-auth"
	idAuthzMode            = "kube-apiserver:authorization-mode"
	idAuthzWebhook         = "kube-apiserver:authorization-webhook-fails-open"
	idTokenFile            = "kube-apiserver:token-auth-file"
	idTokenFileMasters     = "kube-apiserver:token-auth-file-masters"
	idAlwaysAdmit          = "kube-apiserver:admission:AlwaysAdmit"
	idEncIdentityFirst     = "kube-apiserver:encryption-plaintext"
	idEncNotSecrets        = "kube-apiserver:encryption-secrets-not-covered"
	idEncWeak              = "kube-apiserver:encryption-weak-provider"
	idEncKMSv1             = "kube-apiserver:encryption-kms-v1"
	idAuditNothing         = "kube-apiserver:audit-policy-records-nothing"
	idAuditSecrets         = "kube-apiserver:audit-policy-logs-secrets"
	idRequestTimeout       = "kube-apiserver:request-timeout"
	idSALookup             = "kube-apiserver:service-account-lookup"
	idAlwaysAllowPaths     = ":authorization-always-allow-paths"
	idPodGCOff             = "kube-controller-manager:terminated-pod-gc-disabled"
	idKubeletStaticURL     = "kubelet:staticPodURL"
	idKubeletStreaming     = "kubelet:streamingConnectionIdleTimeout"
	idKubeletSysctls       = "kubelet:allowedUnsafeSysctls"
	idKubeletIPTables      = "kubelet:makeIPTablesUtilChains"
	idKubeletHealthz       = "kubelet:healthz-beyond-loopback"
	idKubeletEventQPS      = "kubelet:eventRecordQPS"
	idKubeletServing       = "kubelet:serverTLSBootstrap"
	idKubeletPids          = "kubelet:podPidsLimit"
	idFileOwner            = "file:owner"
	idEtcdDataMode         = "file:etcd-data-mode"
	idEtcdDataOwner        = "file:etcd-data-owner"
	idTokenNoExpiry        = "cluster:bootstrap-token-no-expiry"
	idTokenLongLived       = "cluster:bootstrap-token-long-lived"
	idTokenGroups          = "cluster:bootstrap-token-groups"
	idSATokenSecret        = "cluster:service-account-token-secret"
	idClusterUnreadable    = "cluster:unreadable"
	idRemovedFlag          = "config:removed-insecure-flag"
	idPeerSkipSAN          = "etcd:peer-skip-client-san-verification"
	idCORS                 = "kube-apiserver:cors-any-origin"
	idCacheTTL             = ":auth-cache-ttl"
	idChannelCA            = "pki:channel-trusts-wrong-ca"
	idImagePolicyOpen      = "kube-apiserver:image-policy-fails-open"
)

// admissionRule is a default-on admission plugin whose absence weakens the
// API server (kube-apiserver --help lists the default-on ones).
type admissionRule struct {
	plugin, cis, why string
	sev              finding.Severity
}

// admissionOff are the plugins the audit wants on: NodeRestriction and
// DenyServiceExternalIPs are off by default; the others are on unless
// disabled (--disable-admission-plugins, or left out of the deprecated
// --admission-control, which replaces the default list).
var admissionOff = []admissionRule{
	{"NodeRestriction", "1.2.14", "a kubelet can change any Node and any Pod", finding.High},
	{"ServiceAccount", "1.2.12", "Pods can mount any service account's token and skip the token controller's checks", finding.High},
	{"NamespaceLifecycle", "1.2.13", "objects can be created in namespaces being deleted or that do not exist", finding.Medium},
	{"PodSecurity", "", "Pod Security Standards are not enforced: any Pod author can run privileged Pods", finding.High},
	{"CertificateApproval", "", "whoever may update CSR approvals can approve a CSR for any signer", finding.High},
	{"CertificateSigning", "", "whoever may update CSR status can sign for any signer", finding.High},
	{"CertificateSubjectRestriction", "", "a CSR for the kube-apiserver-client signer may ask for system:masters", finding.High},
	{"ValidatingAdmissionWebhook", "", "validating webhooks (policy engines) are bypassed", finding.Medium},
	{"MutatingAdmissionWebhook", "", "mutating webhooks are bypassed", finding.Medium},
	{"ValidatingAdmissionPolicy", "", "ValidatingAdmissionPolicies are not enforced", finding.Medium},
	{"DenyServiceExternalIPs", "1.2.3", "a Service can claim an outside address (CVE-2020-8554)", finding.Medium},
	{"EventRateLimit", "1.2.9", "nothing limits event floods (needs an admission configuration of the cluster's own)", finding.Info},
	{"AlwaysPullImages", "1.2.11", "private images cached on a node are usable by any Pod there (fits multi-tenant clusters)", finding.Info},
}

// admissionDefaultOn are 1.36's default-on plugins (kube-apiserver --help,
// --enable-admission-plugins).
var admissionDefaultOn = set(`NamespaceLifecycle LimitRanger ServiceAccount TaintNodesByCondition PodSecurity Priority
	DefaultTolerationSeconds DefaultStorageClass StorageObjectInUseProtection PodGroupProtection PersistentVolumeClaimResize RuntimeClass
	CertificateApproval CertificateSigning ClusterTrustBundleAttest CertificateSubjectRestriction DefaultIngressClass PodTopologyLabels
	MutatingAdmissionPolicy MutatingAdmissionWebhook ValidatingAdmissionPolicy ValidatingAdmissionWebhook ResourceQuota`)

func admissionID(plugin string) string { return "kube-apiserver:admission:" + plugin }

func auditRules() []finding.Rule {
	rules := []finding.Rule{
		r(idConfigUnreadable, finding.Medium, "", "a configuration file a component reads cannot be read or parsed: its settings are unknown", "restore the file, or point the flag at the right one"),
		r(idStrayArgs, finding.Medium, "", "a component's command line has words its flag parser refuses: the component does not start as written", "give boolean flags as --name=value, long flags with two dashes, and no positional arguments"),
		r(idEtcdPlainClient, finding.Critical, "2.1", "etcd serves its client API over plain HTTP beyond loopback: anyone on the network reads and writes every Secret", "listen on https:// URLs only (with --cert-file, --key-file, --client-cert-auth and --trusted-ca-file), or on loopback for http://"),
		r(idEtcdPlainLoopback, finding.High, "2.1", "etcd serves its client API over plain HTTP on loopback: any process of the node (and any hostNetwork Pod) reads and writes every Secret without a certificate", "listen on https:// URLs only, with --client-cert-auth and --trusted-ca-file"),
		r(idEtcdPlainPeer, finding.Critical, "2.4", "etcd peers talk plain HTTP beyond loopback: anyone on the network can join or read the cluster's data", "use https:// peer URLs with --peer-cert-file, --peer-key-file, --peer-client-cert-auth and --peer-trusted-ca-file"),
		r(idEtcdMetrics, finding.Medium, "", "etcd serves metrics and health over plain HTTP beyond loopback", "put --listen-metrics-urls on http://127.0.0.1 (or https:// with client certificates)"),
		r(idEtcdPprof, finding.Medium, "", "etcd serves profiling endpoints (--enable-pprof)", "remove --enable-pprof"),
		r(idEtcdSeparateCA, finding.Critical, "2.7", "etcd trusts the cluster CA: any Kubernetes client certificate can read and write etcd", "give etcd its own CA (bulwark's etcd/ca) for --trusted-ca-file and reissue the etcd and apiserver-etcd-client certificates from it"),
		r(idEtcdPeerCluster, finding.Critical, "2.7", "etcd peers trust the cluster CA: any Kubernetes client certificate can join etcd as a member", "give etcd peers their own CA (bulwark's etcd/peer-ca)"),
		r(idEtcdPeerCA, finding.Medium, "", "etcd peers and etcd clients share a CA: a stolen etcd client certificate (the API server's) can join etcd as a member", "sign peer certificates with a CA of their own (bulwark's etcd/peer-ca) and point --peer-trusted-ca-file at it"),
		r(idFrontProxyCA, finding.High, "", "the front-proxy CA is the cluster CA: a client certificate can be used to assert any identity through request headers", "sign front-proxy-client with its own CA (bulwark's front-proxy-ca)"),
		r(idAPIEtcdPlain, finding.Critical, "1.2.23", "kube-apiserver talks to etcd over plain HTTP", "use https:// --etcd-servers with --etcd-cafile, --etcd-certfile and --etcd-keyfile"),
		r(idAPIEtcdPlainLoopback, finding.High, "1.2.23", "kube-apiserver talks to etcd over plain HTTP on loopback: etcd must then serve every key without a certificate to any process of the node", "use https:// --etcd-servers with --etcd-cafile, --etcd-certfile and --etcd-keyfile"),
		r(idAnonymous, finding.High, "1.2.1", "kube-apiserver accepts anonymous requests beyond the health endpoints", "set --anonymous-auth=false, or --authentication-config with anonymous allowed on /livez, /readyz and /healthz only (bulwark render writes one)"),
		r(idAuthzWebhook, finding.Low, "", "an authorization webhook's failure policy lets requests through to later authorizers when it is unreachable", "set failurePolicy: Deny unless a later authorizer is meant to decide"),
		r(idTokenFile, finding.High, "1.2.2", "kube-apiserver accepts static bearer tokens (--token-auth-file): they never expire and change only with a restart", "remove --token-auth-file; use client certificates, service-account tokens or an identity provider"),
		r(idTokenFileMasters, finding.Critical, "1.2.2", "a static token in --token-auth-file is in system:masters: a never-expiring credential that bypasses RBAC", "remove the token and --token-auth-file"),
		r(idAlwaysAdmit, finding.High, "1.2.10", "kube-apiserver admits every request (AlwaysAdmit admission plugin)", "remove AlwaysAdmit from --enable-admission-plugins"),
		r(idEncIdentityFirst, finding.High, "1.2.28", "kube-apiserver writes Secrets to etcd in plaintext: identity is the first encryption provider", "put an encrypting provider (kms v2, aesgcm, secretbox) first; keep identity last, only to read old data"),
		r(idEncNotSecrets, finding.High, "1.2.28", "Secrets are not encrypted at rest: the encryption configuration does not cover secrets", "list secrets (or *.*) in a resources entry whose first provider encrypts"),
		r(idEncWeak, finding.Medium, "1.2.28", "Secrets are encrypted with aescbc, which the Kubernetes documentation does not recommend (CBC is open to padding-oracle attacks)", "use kms v2, or aesgcm/secretbox, as the first provider and rewrite the Secrets"),
		r(idEncKMSv1, finding.Low, "1.2.28", "Secrets are encrypted through the deprecated KMS v1 API", "move to a KMS v2 plugin (apiVersion: v2)"),
		r(idAuditNothing, finding.Medium, "3.2.1", "the audit policy records nothing: its first rule matching every request has level None (or it has no rule)", "log at least Metadata for every request (bulwark render writes such a policy)"),
		r(idAuditSecrets, finding.Medium, "3.2.2", "the audit policy writes Secret contents into the audit log (level Request or RequestResponse for secrets)", "log secrets, configmaps and token reviews at Metadata level only, in a rule before any broader one"),
		r(idRequestTimeout, finding.Medium, "1.2.20", "kube-apiserver keeps requests open without a sensible limit (--request-timeout 0 or above 10 minutes)", "leave --request-timeout at its 1m default, or a few minutes at most"),
		r(idSALookup, finding.Medium, "1.2.21", "kube-apiserver accepts tokens of deleted service accounts (--service-account-lookup=false)", "remove --service-account-lookup=false"),
		r(idPodGCOff, finding.Medium, "1.3.1", "kube-controller-manager never collects terminated Pods (--terminated-pod-gc-threshold <= 0): they can fill etcd", "set --terminated-pod-gc-threshold to a positive number (bulwark render uses 1000)"),
		r(idKubeletStaticURL, finding.High, "", "the kubelet fetches static Pods over plain HTTP (staticPodURL): anyone on the path can run Pods as root on the node", "remove staticPodURL (--manifest-url), or serve it over https"),
		r(idKubeletSysctls, finding.Medium, "", "the kubelet lets Pods set unsafe sysctls beyond their own namespaces (allowedUnsafeSysctls): a Pod changes kernel settings of the whole node", "allow only namespaced sysctls (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) that workloads need, by name"),
		r(idKubeletStreaming, finding.Medium, "4.2.5", "the kubelet keeps idle streaming connections open without a sensible limit (streamingConnectionIdleTimeout 0 or above 4h)", "leave streamingConnectionIdleTimeout at its 4h default or lower"),
		r(idKubeletIPTables, finding.Medium, "4.2.6", "the kubelet does not manage its iptables chains (makeIPTablesUtilChains false)", "remove makeIPTablesUtilChains: false (--make-iptables-util-chains=false)"),
		r(idKubeletHealthz, finding.Medium, "", "the kubelet serves its plain-HTTP health endpoint beyond loopback", "set healthzBindAddress: 127.0.0.1"),
		r(idKubeletEventQPS, finding.Low, "4.2.8", "the kubelet sends events without a rate limit (eventRecordQPS 0)", "leave eventRecordQPS at its default (50)"),
		r(idKubeletServing, finding.Info, "4.2.9", "the API server cannot verify the kubelet's serving certificate", "set serverTLSBootstrap: true together with a CSR approver that checks each serving CSR against its Node, then set the API server's --kubelet-certificate-authority"),
		r(idFileOwner, finding.Medium, "1.1.19", "a key, certificate, kubeconfig, manifest or unit is not owned by root: its owner can change (or read) it", "chown root:root the file"),
		r(idEtcdDataMode, finding.Medium, "1.1.11", "etcd's data folder is open to other users: it holds every Secret", "chmod 700 the data folder"),
		r(idEtcdDataOwner, finding.Low, "1.1.12", "etcd's data folder is not owned by a dedicated etcd user", "run etcd as its own user and chown -R etcd:etcd the data folder"),
		r(idRemovedFlag, finding.Medium, "", "a component is given a removed flag that asked for something insecure (an insecure port, basic auth, HTTP to kubelets): the component does not start, and the intent is unsafe", "remove the flag"),
		r(idPeerSkipSAN, finding.Medium, "", "etcd does not check that a peer's certificate names the peer (skip-client-san-verification)", "remove --peer-skip-client-san-verification (and its experimental spelling)"),
		r(idImagePolicyOpen, finding.Medium, "5.5.1", "the ImagePolicyWebhook admits every image when its webhook cannot be reached (defaultAllow: true)", "set imagePolicy.defaultAllow: false in the admission configuration"),
		r(idCORS, finding.Medium, "", "kube-apiserver allows cross-origin requests from any origin (--cors-allowed-origins)", "list the exact origins that need the API from a browser, anchored, or none"),
		r(idChannelCA, finding.High, "", "a component trusts, or signs with, another channel's CA: the separate trust roots no longer separate anything", "point the flag at its channel's CA (cluster CA for API clients and kubelets, etcd/ca for etcd, etcd/peer-ca for peers, front-proxy-ca for the aggregation layer)"),
		r(idTokenNoExpiry, finding.High, "", "a bootstrap token never expires: whoever has it can register nodes forever", "set an expiration (bulwark token create does; 24h by default) or delete the token"),
		r(idTokenGroups, finding.Medium, "", "a bootstrap token asks for groups outside system:bootstrappers:* (such as system:masters): a grant of those groups to whoever holds it, which only the API server's refusal of the whole token stops", "keep auth-extra-groups to system:bootstrappers:* groups (the API server refuses a token with any other), and delete this token"),
		r(idTokenLongLived, finding.Medium, "", "a bootstrap token lives longer than 7 days", "create bootstrap tokens for the join at hand (bulwark token create --ttl 24h) and delete this one"),
		r(idSATokenSecret, finding.Medium, "", "a legacy service-account token Secret holds a token that never expires", "delete the Secret; Pods get short-lived projected tokens, and kubectl create token mints one when needed"),
		r(idClusterUnreadable, finding.Medium, "", "a cluster object manifest does not parse", "fix or remove the manifest"),
		r(DefaultSAAutomountID, finding.Medium, defaultSAAutomountCIS, "a namespace's default ServiceAccount automounts its token into every Pod", "set automountServiceAccountToken: false on the default ServiceAccount, and give Pods that need the API a ServiceAccount of their own"),
		r(UnreachableID, finding.Low, "", "an endpoint could not be probed: its live checks did not run", "check the endpoint and that the component runs there"),
		r(apiAnonymousLiveID, finding.Critical, apiAnonymousCIS, "kube-apiserver serves resources to anonymous requests", "set --anonymous-auth=false (or anonymous only on health paths), and remove whatever authorizes system:anonymous or system:unauthenticated"),
		r(kubeletAnonymousLiveID, finding.Critical, "4.2.1", "the kubelet API serves anonymous requests", "set authentication.anonymous.enabled: false, authentication.webhook.enabled: true and authorization.mode: Webhook"),
		r(idCertExpired, finding.Critical, "", "a certificate has expired", "bulwark certs renew (or kubeadm certs renew)"),
		r(idCertNotYetValid, finding.Medium, "", "a certificate is not valid yet (its validity begins in the future): TLS peers refuse it, and the clock or the issuer is wrong", "check the node's clock; reissue the certificate (bulwark certs renew)"),
		r(idCertExpiring, finding.Medium, "", "a certificate expires within the warning period", "bulwark certs renew (or kubeadm certs renew)"),
	}
	for _, p := range admissionOff {
		if p.plugin == "NodeRestriction" {
			continue // the hardening row kube-apiserver:enable-admission-plugins
		}
		rules = append(rules, r(admissionID(p.plugin), p.sev, p.cis, "kube-apiserver runs without the "+p.plugin+" admission plugin: "+p.why,
			"enable "+p.plugin+" (--enable-admission-plugins; remove it from --disable-admission-plugins)"))
	}
	for _, c := range []hardening.Component{hardening.Etcd, hardening.APIServer, hardening.ControllerManager, hardening.Scheduler, hardening.Kubelet} {
		n := string(c)
		if c == hardening.Kubelet {
			n = "the kubelet"
		}
		rules = append(rules,
			r(string(c)+idWeakCiphers, finding.Medium, "", n+" explicitly allows weak TLS cipher suites (CBC or without forward secrecy)", "allow only ECDHE with AES-GCM or ChaCha20-Poly1305 (bulwark render's list)"),
			r(string(c)+idInsecureCiphers, finding.High, "", n+" explicitly allows insecure TLS cipher suites (RC4, 3DES or CBC-SHA256)", "allow only ECDHE with AES-GCM or ChaCha20-Poly1305 (bulwark render's list)"))
	}
	for _, c := range []hardening.Component{hardening.APIServer, hardening.ControllerManager, hardening.Scheduler, hardening.Kubelet} {
		n := string(c)
		if c == hardening.Kubelet {
			n = "the kubelet"
		}
		rules = append(rules, r(string(c)+idCacheTTL, finding.Medium, "", n+" caches authentication or authorization answers for more than 10 minutes: revoked tokens and permissions keep working that long",
			"leave the webhook cache TTLs at their defaults (minutes at most)"))
	}
	for _, c := range gateComponents {
		n := string(c)
		if c == hardening.Kubelet {
			n = "the kubelet"
		}
		rules = append(rules, r(string(c)+idGateAllAlpha, finding.Medium, "", n+" turns on every alpha or beta feature (--feature-gates AllAlpha or AllBeta): unfinished code paths, some of them security-relevant, run in production",
			"name the few feature gates needed instead of AllAlpha=true or AllBeta=true"))
	}
	rules = append(rules,
		// CIS 1.3.6 (left out: internal/archtest reads "3.6" in it as
		// etcd's pinned minor release).
		r(string(hardening.ControllerManager)+idGateRotateServer, finding.Medium, "1.3.6", "kube-controller-manager turns off the rotation of kubelet serving certificates (RotateKubeletServerCertificate=false)",
			"remove RotateKubeletServerCertificate=false from --feature-gates"),
		r(string(hardening.Kubelet)+idGateRotateServer, finding.Medium, "4.2.11", "the kubelet turns off the rotation of its serving certificate (RotateKubeletServerCertificate=false)",
			"remove RotateKubeletServerCertificate: false from featureGates (and --feature-gates)"))
	for _, c := range []hardening.Component{hardening.ControllerManager, hardening.Scheduler} {
		rules = append(rules, r(string(c)+":tls-min-version", finding.Medium, "", string(c)+" accepts TLS versions below 1.2", "remove --tls-min-version, or set VersionTLS12 or VersionTLS13"))
		rules = append(rules, r(string(c)+idAlwaysAllowPaths, finding.Medium, "", string(c)+" serves paths beyond the health checks without authorization (--authorization-always-allow-paths)",
			"leave --authorization-always-allow-paths at /healthz,/readyz,/livez"))
	}
	return rules
}

// reportedAs are hardening rows whose check reports under a rule of the
// audit's own.
var reportedAs = map[string]string{"kube-apiserver:authentication-config": idAnonymous}

// hardeningRules are the hardening table's audited rows as rules.
func hardeningRules() []finding.Rule {
	var out []finding.Rule
	for _, s := range hardening.Settings() {
		if s.Match == hardening.NotAudited || reportedAs[s.ID()] != "" {
			continue
		}
		fix := "set --" + s.Name + " (" + s.Reason + ")"
		if s.Component == hardening.Kubelet {
			fix = "set " + s.Name + " in the KubeletConfiguration (" + s.Reason + ")"
		}
		out = append(out, finding.Rule{ID: s.ID(), Severity: s.Severity, CIS: s.CIS, Title: s.Problem, Remediation: fix})
	}
	return out
}

var (
	rulesOnce sync.Once
	rules     *finding.Rules
)

// Rules is the audit's table of rules: the hardening table's audited rows,
// the audit's own, the PKI's (package trust) and rbac lint's (run on the
// folder's cluster objects).
func Rules() *finding.Rules {
	rulesOnce.Do(func() {
		rules = finding.NewRules(hardeningRules(), auditRules(), podRules(), rotationRules(), trust.Rules(), rbac.LintRules(), finding.AcceptRules())
	})
	return rules
}

// newFinding makes a finding of a declared rule.
func newFinding(id string, c *Component, ev finding.Evidence) finding.Finding {
	f := Rules().New(id, ev)
	if c != nil {
		f.Component, f.Node = string(c.Name), c.Node
	}
	return f
}
