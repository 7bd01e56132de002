package audit_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/audit"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/pki"
)

// weakness is one planted weakness: plant changes one thing, and the audit
// must report one of want (a finding the tree did not have) at medium or
// above, with a title stating the problem.
type weakness struct {
	name  string
	plant func(f *tree)
	want  []string
	// bulwarkOnly: kubeadm's output has this weakness already.
	bulwarkOnly bool
	// kubeadmOnly: the weakness is in a file only kubeadm's output has.
	kubeadmOnly bool
}

func ids(s ...string) []string { return s }

// File content the weaknesses plant.
const (
	encIdentityFirst = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - identity: {}\n  - aesgcm:\n      keys:\n      - name: k1\n        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"
	encConfigMaps    = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [configmaps]\n  providers:\n  - aesgcm:\n      keys:\n      - name: k1\n        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n  - identity: {}\n"
	encAESCBC        = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: k1\n        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n  - identity: {}\n"
	encAESGCM        = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aesgcm:\n      keys:\n      - name: k1\n        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n  - identity: {}\n"
	encKMSv2         = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets, configmaps]\n  providers:\n  - kms:\n      apiVersion: v2\n      name: vault\n      endpoint: unix:///var/run/kms.sock\n  - identity: {}\n"
	encSecretboxAll  = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: ['*.*']\n  providers:\n  - secretbox:\n      keys:\n      - name: k1\n        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n  - identity: {}\n"
	auditNothing     = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n"
	auditSecrets     = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n"
	auditMetadata    = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: None\n  nonResourceURLs: [/healthz*, /livez*, /readyz*]\n- level: Metadata\n  resources:\n  - group: ''\n    resources: [secrets, configmaps]\n- level: Request\n"
	authzAlwaysAllow = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\nauthorizers:\n- type: Node\n  name: node\n- type: RBAC\n  name: rbac\n- type: AlwaysAllow\n  name: allow\n"
	authzNodeRBAC    = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\nauthorizers:\n- type: Node\n  name: node\n- type: RBAC\n  name: rbac\n"
	anonEverywhere   = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\nanonymous:\n  enabled: true\n"
	tokens           = "s3cr3t-token-0123456789,alice,1001,\"developers\"\n"
	tokensMasters    = "s3cr3t-token-0123456789,root,0,\"system:masters\"\n"
	crb              = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: planted}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %s}\nsubjects: [%s]\n"
)

func (f *tree) apiFile(flag, rel, content string) {
	f.write(rel, []byte(content))
	f.editPod("kube-apiserver", with(flag, f.host(rel)))
}

func (f *tree) clusterObject(name, content string) {
	f.writeFile(f.path("cluster/"+name), []byte(content), 0o644)
}

func (f *tree) etcdConfigFile(content string) {
	f.write("etcd.conf.yaml", []byte(content))
	f.editPod("etcd", adding("--config-file="+f.host("etcd.conf.yaml")))
}

// secureEtcdConfig is etcd's manifest as a configuration file.
func (f *tree) secureEtcdConfig() string {
	return fmt.Sprintf(`name: %s
data-dir: /var/lib/etcd
listen-client-urls: %s
advertise-client-urls: %s
listen-peer-urls: %s
initial-advertise-peer-urls: %s
initial-cluster: %s
listen-metrics-urls: http://127.0.0.1:2381
client-transport-security:
  cert-file: %s
  key-file: %s
  client-cert-auth: true
  trusted-ca-file: %s
peer-transport-security:
  cert-file: %s
  key-file: %s
  client-cert-auth: true
  trusted-ca-file: %s
`, f.flag("etcd", "name"), f.flag("etcd", "listen-client-urls"), f.flag("etcd", "advertise-client-urls"), f.flag("etcd", "listen-peer-urls"),
		f.flag("etcd", "initial-advertise-peer-urls"), f.flag("etcd", "initial-cluster"),
		f.flag("etcd", "cert-file"), f.flag("etcd", "key-file"), f.flag("etcd", "trusted-ca-file"),
		f.flag("etcd", "peer-cert-file"), f.flag("etcd", "peer-key-file"), f.flag("etcd", "peer-trusted-ca-file"))
}

// kubeletUnit starts the kubelet from a unit with --config and more.
func (f *tree) kubeletUnit(extra string) {
	unit := filepath.Join(filepath.Dir(f.kubelet), "kubelet.service")
	f.writeFile(unit, []byte("[Service]\nExecStart=/usr/bin/kubelet --config="+f.kubelet+" "+extra+"\n"), 0o600)
	f.cmdlines = append(f.cmdlines, unit)
}

func rsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// reissueLeaf gives a leaf a new certificate from its own CA, changed.
func (f *tree) reissueLeaf(leaf, ca string, o certOpts, key func() any) {
	iss := f.issuer(ca)
	old := f.leaf(leaf)
	pub := old.PublicKey
	if key != nil {
		k := key()
		switch k := k.(type) {
		case *rsa.PrivateKey:
			f.writeKey("pki/"+leaf+".key", k)
			pub = &k.PublicKey
		case *ecdsa.PrivateKey:
			f.writeKey("pki/"+leaf+".key", k)
			pub = &k.PublicKey
		}
	}
	f.mint("pki/"+leaf+".crt", old, pub, iss.Cert, iss.Key, o)
}

// replaceCA makes a new CA for a name (a weak one, or a badly formed one)
// and reissues its leaves.
func (f *tree) replaceCA(ca string, leaves []string, key *rsa.PrivateKey, o certOpts) {
	old := f.leaf(ca)
	c := f.mint("pki/"+ca+".crt", old, &key.PublicKey, nil, key, o)
	f.writeKey("pki/"+ca+".key", key)
	for _, l := range leaves {
		f.mint("pki/"+l+".crt", f.leaf(l), f.leaf(l).PublicKey, c, key, certOpts{})
	}
}

func (f *tree) editKubeconfig(name string, edit func(s string) string) {
	data := string(f.read(f.path(name)))
	f.writeFile(f.path(name), []byte(edit(data)), 0o600)
}

func weaknesses() []weakness {
	return []weakness{
		// etcd
		{name: "etcd without client certificate auth", plant: func(f *tree) { f.editPod("etcd", without("client-cert-auth", "trusted-ca-file")) },
			want: ids("etcd:client-cert-auth", "etcd:trusted-ca-file")},
		{name: "etcd --client-cert-auth=false without a CA", plant: func(f *tree) {
			f.editPod("etcd", chain(without("trusted-ca-file"), with("client-cert-auth", "false")))
		}, want: ids("etcd:client-cert-auth", "etcd:trusted-ca-file")},
		{name: "etcd auto-tls", plant: func(f *tree) { f.editPod("etcd", with("auto-tls", "true")) }, want: ids("etcd:auto-tls")},
		{name: "etcd peers without certificate auth", plant: func(f *tree) { f.editPod("etcd", without("peer-client-cert-auth", "peer-trusted-ca-file")) },
			want: ids("etcd:peer-client-cert-auth", "etcd:peer-trusted-ca-file")},
		{name: "etcd peer-auto-tls", plant: func(f *tree) { f.editPod("etcd", with("peer-auto-tls", "true")) }, want: ids("etcd:peer-auto-tls")},
		{name: "etcd plain-HTTP client listener on every address", plant: func(f *tree) {
			f.editPod("etcd", with("listen-client-urls", f.flag("etcd", "listen-client-urls")+",http://0.0.0.0:2379"))
		}, want: ids("etcd:plain-http-client")},
		{name: "etcd plain-HTTP client-http listener", plant: func(f *tree) { f.editPod("etcd", with("listen-client-http-urls", "http://0.0.0.0:2382")) },
			want: ids("etcd:plain-http-client")},
		{name: "etcd plain-HTTP peers", plant: func(f *tree) { f.editPod("etcd", with("listen-peer-urls", "http://0.0.0.0:2380")) }, want: ids("etcd:plain-http-peer")},
		{name: "etcd metrics on every address", plant: func(f *tree) { f.editPod("etcd", with("listen-metrics-urls", "http://0.0.0.0:2381")) },
			want: ids("etcd:plain-http-metrics")},
		{name: "etcd TLS 1.1", plant: func(f *tree) { f.editPod("etcd", with("tls-min-version", "TLS1.1")) }, want: ids("etcd:tls-min-version")},
		{name: "etcd 3DES cipher", plant: func(f *tree) { f.editPod("etcd", with("cipher-suites", "TLS_RSA_WITH_3DES_EDE_CBC_SHA")) },
			want: ids("etcd:insecure-cipher-suites")},
		{name: "etcd ciphers without forward secrecy", plant: func(f *tree) { f.editPod("etcd", with("cipher-suites", "TLS_RSA_WITH_AES_128_GCM_SHA256")) },
			want: ids("etcd:weak-cipher-suites")},
		{name: "etcd pprof", plant: func(f *tree) { f.editPod("etcd", with("enable-pprof", "true")) }, want: ids("etcd:pprof")},
		{name: "etcd pprof from the environment", plant: func(f *tree) {
			f.pod("etcd", func(c *corev1.Container) {
				c.Env = append(c.Env, corev1.EnvVar{Name: "ETCD_ENABLE_PPROF", Value: "true"})
			})
		}, want: ids("etcd:pprof")},
		{name: "etcd trusts the cluster CA", plant: func(f *tree) { f.editPod("etcd", with("trusted-ca-file", f.host("pki/ca.crt"))) }, want: ids("etcd:separate-ca")},
		{name: "etcd peers trust the cluster CA", plant: func(f *tree) { f.editPod("etcd", with("peer-trusted-ca-file", f.host("pki/ca.crt"))) },
			want: ids("etcd:separate-peer-ca-from-cluster")},
		{name: "etcd peers trust the etcd client CA", bulwarkOnly: true, plant: func(f *tree) {
			f.editPod("etcd", with("peer-trusted-ca-file", f.host("pki/etcd/ca.crt")))
		}, want: ids("etcd:separate-peer-ca")},
		{name: "etcd --config-file without client certificate auth (flags ignored)", plant: func(f *tree) {
			cfg := f.secureEtcdConfig()
			cfg = strings.Replace(cfg, "  client-cert-auth: true\n  trusted-ca-file: "+f.flag("etcd", "trusted-ca-file")+"\n", "  client-cert-auth: false\n", 1)
			f.etcdConfigFile(cfg)
		}, want: ids("etcd:client-cert-auth", "etcd:trusted-ca-file")},
		{name: "etcd --config-file with a plain-HTTP listener", plant: func(f *tree) {
			f.etcdConfigFile(strings.Replace(f.secureEtcdConfig(), "listen-client-urls: ", "listen-client-urls: http://0.0.0.0:2379,", 1))
		}, want: ids("etcd:plain-http-client")},
		{name: "etcd --config-file with auto-tls", plant: func(f *tree) {
			f.etcdConfigFile(f.secureEtcdConfig() + "  auto-tls: true\n")
		}, want: ids("etcd:peer-auto-tls")},

		// kube-apiserver
		{name: "API server --anonymous-auth=true", bulwarkOnly: true, plant: func(f *tree) {
			f.editPod("kube-apiserver", chain(without("authentication-config"), with("anonymous-auth", "true")))
		}, want: ids("kube-apiserver:anonymous-auth")},
		{name: "API server anonymous on every path", bulwarkOnly: true, plant: func(f *tree) { f.write("authentication-config.yaml", []byte(anonEverywhere)) },
			want: ids("kube-apiserver:anonymous-auth")},
		{name: "API server AlwaysAllow", plant: func(f *tree) { f.editPod("kube-apiserver", with("authorization-mode", "AlwaysAllow")) },
			want: ids("kube-apiserver:authorization-mode")},
		{name: "API server Node,RBAC,AlwaysAllow", plant: func(f *tree) { f.editPod("kube-apiserver", with("authorization-mode", "Node,RBAC,AlwaysAllow")) },
			want: ids("kube-apiserver:authorization-mode")},
		{name: "API server without the Node authorizer", plant: func(f *tree) { f.editPod("kube-apiserver", with("authorization-mode", "RBAC")) },
			want: ids("kube-apiserver:authorization-mode")},
		{name: "API server authorization config with AlwaysAllow", plant: func(f *tree) {
			f.write("authz.yaml", []byte(authzAlwaysAllow))
			f.editPod("kube-apiserver", chain(without("authorization-mode"), with("authorization-config", f.host("authz.yaml"))))
		}, want: ids("kube-apiserver:authorization-mode")},
		{name: "API server without NodeRestriction", plant: func(f *tree) { f.editPod("kube-apiserver", with("enable-admission-plugins", "DenyServiceExternalIPs")) },
			want: ids("kube-apiserver:enable-admission-plugins")},
		{name: "API server disables NodeRestriction's neighbour ServiceAccount", plant: func(f *tree) { f.editPod("kube-apiserver", with("disable-admission-plugins", "ServiceAccount")) },
			want: ids("kube-apiserver:admission:ServiceAccount")},
		{name: "API server disables PodSecurity", plant: func(f *tree) { f.editPod("kube-apiserver", with("disable-admission-plugins", "PodSecurity")) },
			want: ids("kube-apiserver:admission:PodSecurity")},
		{name: "API server disables CertificateSubjectRestriction", plant: func(f *tree) {
			f.editPod("kube-apiserver", with("disable-admission-plugins", "CertificateSubjectRestriction"))
		}, want: ids("kube-apiserver:admission:CertificateSubjectRestriction")},
		{name: "API server AlwaysAdmit", plant: func(f *tree) {
			f.editPod("kube-apiserver", with("enable-admission-plugins", f.flag("kube-apiserver", "enable-admission-plugins")+",AlwaysAdmit"))
		}, want: ids("kube-apiserver:admission:AlwaysAdmit")},
		{name: "API server deprecated --admission-control replaces the defaults", plant: func(f *tree) {
			f.editPod("kube-apiserver", chain(without("enable-admission-plugins"), with("admission-control", "NodeRestriction,DenyServiceExternalIPs")))
		}, want: ids("kube-apiserver:admission:ServiceAccount", "kube-apiserver:admission:PodSecurity")},
		{name: "API server static token file", plant: func(f *tree) { f.apiFile("token-auth-file", "tokens.csv", tokens) }, want: ids("kube-apiserver:token-auth-file")},
		{name: "API server static token in system:masters", plant: func(f *tree) { f.apiFile("token-auth-file", "tokens.csv", tokensMasters) },
			want: ids("kube-apiserver:token-auth-file-masters")},
		{name: "encryption: identity first", plant: func(f *tree) { f.apiFile("encryption-provider-config", "enc.yaml", encIdentityFirst) },
			want: ids("kube-apiserver:encryption-plaintext")},
		{name: "encryption: Secrets not covered", plant: func(f *tree) { f.apiFile("encryption-provider-config", "enc.yaml", encConfigMaps) },
			want: ids("kube-apiserver:encryption-secrets-not-covered")},
		{name: "encryption: aescbc", plant: func(f *tree) { f.apiFile("encryption-provider-config", "enc.yaml", encAESCBC) },
			want: ids("kube-apiserver:encryption-weak-provider")},
		{name: "no encryption at rest", bulwarkOnly: true, plant: func(f *tree) { f.editPod("kube-apiserver", without("encryption-provider-config")) },
			want: ids("kube-apiserver:encryption-provider-config")},
		{name: "audit policy that records nothing", plant: func(f *tree) {
			f.apiFile("audit-policy-file", "audit.yaml", auditNothing)
			f.editPod("kube-apiserver", with("audit-log-path", "/var/log/kubernetes/audit/audit.log"))
		}, want: ids("kube-apiserver:audit-policy-records-nothing")},
		{name: "audit policy that logs Secret contents", plant: func(f *tree) {
			f.apiFile("audit-policy-file", "audit.yaml", auditSecrets)
			f.editPod("kube-apiserver", with("audit-log-path", "/var/log/kubernetes/audit/audit.log"))
		}, want: ids("kube-apiserver:audit-policy-logs-secrets")},
		{name: "no audit policy", bulwarkOnly: true, plant: func(f *tree) { f.editPod("kube-apiserver", without("audit-policy-file")) },
			want: ids("kube-apiserver:audit-policy-file")},
		{name: "audit logs kept 7 days", bulwarkOnly: true, plant: func(f *tree) { f.editPod("kube-apiserver", with("audit-log-maxage", "7")) },
			want: ids("kube-apiserver:audit-log-maxage")},
		{name: "2 rotated audit logs", bulwarkOnly: true, plant: func(f *tree) { f.editPod("kube-apiserver", with("audit-log-maxbackup", "2")) },
			want: ids("kube-apiserver:audit-log-maxbackup")},
		{name: "API server profiling", bulwarkOnly: true, plant: func(f *tree) { f.editPod("kube-apiserver", with("profiling", "true")) },
			want: ids("kube-apiserver:profiling")},
		{name: "API server TLS 1.0", plant: func(f *tree) { f.editPod("kube-apiserver", with("tls-min-version", "VersionTLS10")) },
			want: ids("kube-apiserver:tls-min-version")},
		{name: "API server RC4", plant: func(f *tree) {
			f.editPod("kube-apiserver", with("tls-cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_RC4_128_SHA"))
		},
			want: ids("kube-apiserver:insecure-cipher-suites")},
		{name: "API server CBC ciphers", plant: func(f *tree) {
			f.editPod("kube-apiserver", with("tls-cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"))
		},
			want: ids("kube-apiserver:weak-cipher-suites")},
		{name: "API server without service-account lookup", plant: func(f *tree) { f.editPod("kube-apiserver", with("service-account-lookup", "false")) },
			want: ids("kube-apiserver:service-account-lookup")},
		{name: "API server request timeout of 300h", plant: func(f *tree) { f.editPod("kube-apiserver", with("request-timeout", "300h")) },
			want: ids("kube-apiserver:request-timeout")},
		{name: "API server reaches etcd over plain HTTP on loopback", plant: func(f *tree) { f.editPod("kube-apiserver", with("etcd-servers", "http://127.0.0.1:2379")) },
			want: ids("kube-apiserver:etcd-plain-http-loopback")},
		{name: "etcd plain-HTTP client listener on loopback", plant: func(f *tree) {
			f.editPod("etcd", with("listen-client-urls", f.flag("etcd", "listen-client-urls")+",http://127.0.0.1:2379"))
		}, want: ids("etcd:plain-http-client-loopback")},
		{name: "API server reaches etcd over plain HTTP", plant: func(f *tree) { f.editPod("kube-apiserver", with("etcd-servers", "http://10.0.0.5:2379")) },
			want: ids("kube-apiserver:etcd-plain-http")},
		{name: "API server without a kubelet client certificate", plant: func(f *tree) {
			f.editPod("kube-apiserver", without("kubelet-client-certificate", "kubelet-client-key"))
		}, want: ids("kube-apiserver:kubelet-client-certificate")},
		{name: "API server does not verify etcd", plant: func(f *tree) { f.editPod("kube-apiserver", without("etcd-cafile")) }, want: ids("kube-apiserver:etcd-cafile")},
		{name: "front-proxy CA is the cluster CA", plant: func(f *tree) {
			f.editPod("kube-apiserver", with("requestheader-client-ca-file", f.host("pki/ca.crt")))
		}, want: ids("kube-apiserver:separate-front-proxy-ca")},
		{name: "identity headers from any front-proxy certificate", plant: func(f *tree) { f.editPod("kube-apiserver", without("requestheader-allowed-names")) },
			want: ids("kube-apiserver:requestheader-allowed-names")},
		{name: "API server without a client CA", plant: func(f *tree) { f.editPod("kube-apiserver", without("client-ca-file")) }, want: ids("kube-apiserver:client-ca-file")},
		{name: "API server without a service-account key", plant: func(f *tree) { f.editPod("kube-apiserver", without("service-account-key-file")) },
			want: ids("kube-apiserver:service-account-key-file")},
		{name: "API server boolean flag given a separate value", plant: func(f *tree) {
			f.editPod("kube-apiserver", adding("--profiling", "false"))
		}, want: ids("config:stray-arguments")},

		{name: "API server asks for the removed insecure port", plant: func(f *tree) { f.editPod("kube-apiserver", with("insecure-port", "8080")) },
			want: ids("config:removed-insecure-flag")},
		{name: "an image policy webhook that fails open", plant: func(f *tree) {
			f.write("admission.yaml", []byte("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: ImagePolicyWebhook\n  configuration:\n    imagePolicy:\n      kubeConfigFile: /etc/kubernetes/image-policy.conf\n      allowTTL: 50\n      denyTTL: 50\n      retryBackoff: 500\n      defaultAllow: true\n"))
			f.editPod("kube-apiserver", chain(with("admission-control-config-file", f.host("admission.yaml")),
				with("enable-admission-plugins", f.flag("kube-apiserver", "enable-admission-plugins")+",ImagePolicyWebhook")))
		}, want: ids("kube-apiserver:image-policy-fails-open")},
		{name: "API server allows any CORS origin", plant: func(f *tree) { f.editPod("kube-apiserver", with("cors-allowed-origins", ".*")) },
			want: ids("kube-apiserver:cors-any-origin")},
		{name: "API server verifies etcd with the cluster CA", plant: func(f *tree) { f.editPod("kube-apiserver", with("etcd-cafile", f.host("pki/ca.crt"))) },
			want: ids("pki:channel-trusts-wrong-ca")},
		{name: "API server caches webhook tokens for a day", plant: func(f *tree) {
			f.editPod("kube-apiserver", with("authentication-token-webhook-cache-ttl", "24h"))
		}, want: ids("kube-apiserver:auth-cache-ttl")},

		// kube-controller-manager
		{name: "controller manager on every address", plant: func(f *tree) { f.editPod("kube-controller-manager", with("bind-address", "0.0.0.0")) },
			want: ids("kube-controller-manager:bind-address")},
		{name: "controller manager shares one identity", plant: func(f *tree) { f.editPod("kube-controller-manager", with("use-service-account-credentials", "false")) },
			want: ids("kube-controller-manager:use-service-account-credentials")},
		{name: "controller manager profiling", bulwarkOnly: true, plant: func(f *tree) { f.editPod("kube-controller-manager", with("profiling", "true")) },
			want: ids("kube-controller-manager:profiling")},
		{name: "terminated Pods never collected", plant: func(f *tree) { f.editPod("kube-controller-manager", with("terminated-pod-gc-threshold", "0")) },
			want: ids("kube-controller-manager:terminated-pod-gc-disabled")},
		{name: "kubelet certificates signed for ten years", bulwarkOnly: true, plant: func(f *tree) {
			f.editPod("kube-controller-manager", with("cluster-signing-duration", "87600h"))
		}, want: ids("kube-controller-manager:cluster-signing-duration")},
		{name: "controller manager without a root CA for Pods", plant: func(f *tree) { f.editPod("kube-controller-manager", without("root-ca-file")) },
			want: ids("kube-controller-manager:root-ca-file")},
		{name: "controller manager without a service-account signing key", plant: func(f *tree) {
			f.editPod("kube-controller-manager", without("service-account-private-key-file"))
		}, want: ids("kube-controller-manager:service-account-private-key-file")},
		{name: "controller manager serves /metrics without authorization", plant: func(f *tree) {
			f.editPod("kube-controller-manager", with("authorization-always-allow-paths", "/healthz,/readyz,/livez,/metrics"))
		}, want: ids("kube-controller-manager:authorization-always-allow-paths")},
		{name: "controller manager signs kubelet certificates with the etcd CA", plant: func(f *tree) {
			f.editPod("kube-controller-manager", chain(with("cluster-signing-cert-file", f.host("pki/etcd/ca.crt")), with("cluster-signing-key-file", f.host("pki/etcd/ca.key"))))
		}, want: ids("pki:channel-trusts-wrong-ca")},
		{name: "scheduler asks for the removed insecure port", plant: func(f *tree) { f.editPod("kube-scheduler", with("port", "10251")) },
			want: ids("config:removed-insecure-flag")},
		{name: "controller manager TLS 1.1", plant: func(f *tree) { f.editPod("kube-controller-manager", with("tls-min-version", "VersionTLS11")) },
			want: ids("kube-controller-manager:tls-min-version")},

		{name: "controller manager turns off kubelet serving-certificate rotation", plant: func(f *tree) {
			f.editPod("kube-controller-manager", with("feature-gates", "RotateKubeletServerCertificate=false"))
		}, want: ids("kube-controller-manager:rotate-kubelet-server-certificate-off")},
		{name: "API server turns on every alpha feature", plant: func(f *tree) { f.editPod("kube-apiserver", with("feature-gates", "AllAlpha=true")) },
			want: ids("kube-apiserver:feature-gates-all-alpha")},

		// kube-scheduler
		{name: "scheduler runs with the administrator's kubeconfig", plant: func(f *tree) { f.editPod("kube-scheduler", with("kubeconfig", f.host("admin.conf"))) },
			want: ids("kubeconfig:identity")},
		{name: "scheduler on every address", plant: func(f *tree) { f.editPod("kube-scheduler", with("bind-address", "0.0.0.0")) }, want: ids("kube-scheduler:bind-address")},
		{name: "scheduler profiling", bulwarkOnly: true, plant: func(f *tree) { f.editPod("kube-scheduler", with("profiling", "true")) }, want: ids("kube-scheduler:profiling")},
		{name: "scheduler --config leaves profiling on (its default)", bulwarkOnly: true, plant: func(f *tree) {
			f.write("scheduler-config.yaml", []byte("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  kubeconfig: "+f.host("scheduler.conf")+"\n"))
			f.editPod("kube-scheduler", adding("--config="+f.host("scheduler-config.yaml")))
		}, want: ids("kube-scheduler:profiling")},
		{name: "scheduler serves everything without authorization", plant: func(f *tree) { f.editPod("kube-scheduler", with("authorization-always-allow-paths", "/*")) },
			want: ids("kube-scheduler:authorization-always-allow-paths")},

		// kubelet
		{name: "kubelet anonymous", plant: func(f *tree) { f.editKubelet(map[string]any{"authentication.anonymous.enabled": true}) },
			want: ids("kubelet:authentication.anonymous.enabled")},
		{name: "kubelet AlwaysAllow", plant: func(f *tree) { f.editKubelet(map[string]any{"authorization.mode": "AlwaysAllow"}) }, want: ids("kubelet:authorization.mode")},
		{name: "kubelet read-only port", plant: func(f *tree) { f.editKubelet(map[string]any{"readOnlyPort": 10255}) }, want: ids("kubelet:readOnlyPort")},
		{name: "kubelet webhook authentication off", plant: func(f *tree) { f.editKubelet(map[string]any{"authentication.webhook.enabled": false}) },
			want: ids("kubelet:authentication.webhook.enabled")},
		{name: "kubelet without a client CA", plant: func(f *tree) { f.editKubelet(map[string]any{"authentication.x509.clientCAFile": nil}) },
			want: ids("kubelet:authentication.x509.clientCAFile")},
		{name: "kubelet certificate rotation off", plant: func(f *tree) { f.editKubelet(map[string]any{"rotateCertificates": false}) }, want: ids("kubelet:rotateCertificates")},
		{name: "kubelet TLS 1.1", plant: func(f *tree) { f.editKubelet(map[string]any{"tlsMinVersion": "VersionTLS11"}) }, want: ids("kubelet:tlsMinVersion")},
		{name: "kubelet 3DES", plant: func(f *tree) {
			f.editKubelet(map[string]any{"tlsCipherSuites": []string{"TLS_RSA_WITH_3DES_EDE_CBC_SHA"}})
		},
			want: ids("kubelet:insecure-cipher-suites")},
		{name: "kubelet static Pods over plain HTTP", plant: func(f *tree) { f.editKubelet(map[string]any{"staticPodURL": "http://10.0.0.9/pods.yaml"}) },
			want: ids("kubelet:staticPodURL")},
		{name: "kubelet streaming idle timeout of 30 days", plant: func(f *tree) { f.editKubelet(map[string]any{"streamingConnectionIdleTimeout": "720h"}) },
			want: ids("kubelet:streamingConnectionIdleTimeout")},
		{name: "kubelet streaming idle timeout 0 by flag", plant: func(f *tree) { f.kubeletUnit("--streaming-connection-idle-timeout=0") },
			want: ids("kubelet:streamingConnectionIdleTimeout")},
		{name: "kubelet does not manage iptables chains", plant: func(f *tree) { f.editKubelet(map[string]any{"makeIPTablesUtilChains": false}) },
			want: ids("kubelet:makeIPTablesUtilChains")},
		{name: "kubelet health endpoint on every address", plant: func(f *tree) { f.editKubelet(map[string]any{"healthzBindAddress": "0.0.0.0"}) },
			want: ids("kubelet:healthz-beyond-loopback")},
		{name: "kubelet trusts the front-proxy CA for clients", plant: func(f *tree) {
			f.editKubelet(map[string]any{"authentication.x509.clientCAFile": f.host("pki/front-proxy-ca.crt")})
		}, want: ids("pki:channel-trusts-wrong-ca")},
		{name: "kubelet caches authorization answers for a day", plant: func(f *tree) {
			f.editKubelet(map[string]any{"authorization.webhook.cacheAuthorizedTTL": "24h"})
		}, want: ids("kubelet:auth-cache-ttl")},
		{name: "etcd peers skip SAN verification", plant: func(f *tree) { f.editPod("etcd", with("peer-skip-client-san-verification", "true")) },
			want: ids("etcd:peer-skip-client-san-verification")},
		{name: "kubelet turns off serving-certificate rotation", plant: func(f *tree) {
			f.editKubelet(map[string]any{"featureGates": map[string]any{"RotateKubeletServerCertificate": false}})
		}, want: ids("kubelet:rotate-kubelet-server-certificate-off")},
		{name: "kubelet lets Pods set any kernel sysctl", plant: func(f *tree) { f.editKubelet(map[string]any{"allowedUnsafeSysctls": []string{"kernel.*"}}) },
			want: ids("kubelet:allowedUnsafeSysctls")},
		{name: "kubelet unsafe sysctls by flag", plant: func(f *tree) { f.kubeletUnit("--allowed-unsafe-sysctls=*") }, want: ids("kubelet:allowedUnsafeSysctls")},
		{name: "kubelet protectKernelDefaults off", bulwarkOnly: true, plant: func(f *tree) { f.editKubelet(map[string]any{"protectKernelDefaults": false}) },
			want: ids("kubelet:protectKernelDefaults")},
		{name: "kubelet drop-in turns anonymous on", plant: func(f *tree) {
			dir := filepath.Join(filepath.Dir(f.kubelet), "kubelet.conf.d")
			f.writeFile(filepath.Join(dir, "90-debug.conf"), []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: true\n"), 0o600)
			f.kubeletUnit("--config-dir=" + dir)
		}, want: ids("kubelet:authentication.anonymous.enabled")},
		{name: "kubelet flag overrides its configuration", plant: func(f *tree) { f.kubeletUnit("--read-only-port=10255") }, want: ids("kubelet:readOnlyPort")},
		{name: "kubeadm: kubeadm-flags.env opens the kubelet's read-only port", kubeadmOnly: true, plant: func(f *tree) {
			f.writeFile(filepath.Join(filepath.Dir(f.kubelet), "kubeadm-flags.env"), []byte("KUBELET_KUBEADM_ARGS=\"--hostname-override=cp-1 --read-only-port=10255\"\n"), 0o644)
		}, want: ids("kubelet:readOnlyPort")},
		{name: "kubeadm: /etc/default/kubelet turns anonymous requests on", kubeadmOnly: true, plant: func(f *tree) {
			f.writeFile(filepath.Join(f.top, "etc/default/kubelet"), []byte("KUBELET_EXTRA_ARGS=--anonymous-auth=true\n"), 0o644)
		}, want: ids("kubelet:authentication.anonymous.enabled")},
		{name: "kubelet configuration writable by everyone", plant: func(f *tree) {
			if err := os.Chmod(f.kubelet, 0o666); err != nil {
				f.t.Fatal(err)
			}
		}, want: ids("file:writable-by-others")},

		// PKI
		{name: "a CA with an RSA 1024 key", plant: func(f *tree) {
			f.replaceCA("front-proxy-ca", []string{"front-proxy-client"}, rsaKey(f.t, 1024), certOpts{isCA: true, pathLen: 0, keyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature})
		}, want: ids("pki:weak-key")},
		{name: "a leaf with an RSA 1024 key", plant: func(f *tree) {
			f.reissueLeaf("apiserver-kubelet-client", "ca", certOpts{}, func() any { return rsaKey(f.t, 1024) })
		}, want: ids("pki:weak-key")},
		{name: "a leaf on a P-224 key", plant: func(f *tree) {
			f.reissueLeaf("front-proxy-client", "front-proxy-ca", certOpts{}, func() any {
				k, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
				return k
			})
		}, want: ids("pki:weak-key")},
		{name: "a leaf signed with SHA-1", plant: func(f *tree) {
			alg := x509.ECDSAWithSHA1
			if _, ok := f.issuer("ca").Key.(*rsa.PrivateKey); ok {
				alg = x509.SHA1WithRSA
			}
			f.reissueLeaf("apiserver-kubelet-client", "ca", certOpts{sigAlg: alg}, nil)
		}, want: ids("pki:weak-signature")},
		{name: "a CA without keyCertSign", plant: func(f *tree) {
			f.replaceCA("front-proxy-ca", []string{"front-proxy-client"}, rsaKey(f.t, 2048), certOpts{isCA: true, pathLen: 0, keyUsage: x509.KeyUsageDigitalSignature})
		}, want: ids("pki:ca-not-ca")},
		{name: "a CA that may sign sub-CAs", bulwarkOnly: true, plant: func(f *tree) {
			f.replaceCA("front-proxy-ca", []string{"front-proxy-client"}, rsaKey(f.t, 2048), certOpts{isCA: true, pathLen: -1, keyUsage: x509.KeyUsageCertSign})
		}, want: ids("pki:ca-path-length")},
		{name: "a leaf that is a CA", plant: func(f *tree) {
			f.reissueLeaf("apiserver-kubelet-client", "ca", certOpts{isCA: true, pathLen: -1}, nil)
		}, want: ids("pki:leaf-is-ca")},
		{name: "a wildcard API server certificate", plant: func(f *tree) {
			f.reissueLeaf("apiserver", "ca", certOpts{dns: append(f.leaf("apiserver").DNSNames, "*.example.com")}, nil)
		}, want: ids("pki:wildcard-san")},
		{name: "two certificates on one key", plant: func(f *tree) {
			k := f.key("pki/front-proxy-client.key")
			f.writeKey("pki/apiserver-kubelet-client.key", k)
			iss := f.issuer("ca")
			f.mint("pki/apiserver-kubelet-client.crt", f.leaf("apiserver-kubelet-client"), k.Public(), iss.Cert, iss.Key, certOpts{})
		}, want: ids("pki:key-reuse")},
		{name: "the etcd CA is a copy of the cluster CA", plant: func(f *tree) {
			f.writeFile(f.path("pki/etcd/ca.crt"), f.read(f.path("pki/ca.crt")), 0o644)
			f.writeFile(f.path("pki/etcd/ca.key"), f.read(f.path("pki/ca.key")), 0o600)
		}, want: ids("pki:shared-ca", "etcd:separate-ca")},
		{name: "etcd and front-proxy CAs swapped", plant: func(f *tree) {
			crt, key := f.read(f.path("pki/etcd/ca.crt")), f.read(f.path("pki/etcd/ca.key"))
			f.writeFile(f.path("pki/etcd/ca.crt"), f.read(f.path("pki/front-proxy-ca.crt")), 0o644)
			f.writeFile(f.path("pki/etcd/ca.key"), f.read(f.path("pki/front-proxy-ca.key")), 0o600)
			f.writeFile(f.path("pki/front-proxy-ca.crt"), crt, 0o644)
			f.writeFile(f.path("pki/front-proxy-ca.key"), key, 0o600)
		}, want: ids("cert:wrong-ca")},
		{name: "the service IP missing from the API server certificate", plant: func(f *tree) {
			old := f.leaf("apiserver")
			old.IPAddresses = slices.DeleteFunc(old.IPAddresses, func(ip net.IP) bool { return ip.String() == "10.96.0.1" })
			iss := f.issuer("ca")
			f.mint("pki/apiserver.crt", old, old.PublicKey, iss.Cert, iss.Key, certOpts{})
		}, want: ids("cert:apiserver-sans")},
		{name: "a copy of the cluster CA key in a member's folder", plant: func(f *tree) {
			f.writeFile(f.path("pki/etcd/cp-1/ca.key"), f.read(f.path("pki/ca.key")), 0o600)
		}, want: ids("pki:ca-key-misplaced")},
		{name: "a leaf valid for ten years", plant: func(f *tree) {
			old := f.leaf("apiserver-kubelet-client")
			tmpl := *old
			tmpl.NotBefore, tmpl.NotAfter = f.now.Add(-time.Hour), f.now.Add(10*365*24*time.Hour)
			f.mintRaw("pki/apiserver-kubelet-client.crt", &tmpl, old.PublicKey, f.issuer("ca"))
		}, want: ids("pki:long-lived")},
		{name: "the service-account key is the API server's key", plant: func(f *tree) {
			k := f.key("pki/apiserver.key")
			f.writeKey("pki/sa.key", k)
			pub, _ := pki.MarshalPublicKey(k.Public())
			f.writeFile(f.path("pki/sa.pub"), pub, 0o644)
		}, want: ids("pki:key-reuse")},
		{name: "the service-account key is the cluster CA's key", plant: func(f *tree) {
			k := f.key("pki/ca.key")
			f.writeKey("pki/sa.key", k)
			pub, _ := pki.MarshalPublicKey(k.Public())
			f.writeFile(f.path("pki/sa.pub"), pub, 0o644)
		}, want: ids("pki:ca-key-misplaced")},
		{name: "a copy of the etcd CA key beside the kubelet's configuration", plant: func(f *tree) {
			f.writeFile(filepath.Join(filepath.Dir(f.kubelet), "etcd-ca.key"), f.read(f.path("pki/etcd/ca.key")), 0o600)
			if f.kind == "kubeadm" {
				f.writeFile(f.path("etcd-ca.key"), f.read(f.path("pki/etcd/ca.key")), 0o600)
			}
		}, want: ids("pki:ca-key-misplaced")},
		{name: "sa.pub does not match sa.key", plant: func(f *tree) {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			pub, _ := pki.MarshalPublicKey(&k.PublicKey)
			f.writeFile(f.path("pki/sa.pub"), pub, 0o644)
		}, want: ids("pki:sa-key-mismatch")},
		// The API server accepts tokens signed by every key of sa.pub: a
		// key added before or after sa.key's forges them.
		{name: "another key before sa.key's in sa.pub", plant: func(f *tree) {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			pub, _ := pki.MarshalPublicKey(&k.PublicKey)
			f.writeFile(f.path("pki/sa.pub"), append(pub, f.read(f.path("pki/sa.pub"))...), 0o644)
		}, want: ids("pki:sa-key-mismatch")},
		{name: "another key after sa.key's in sa.pub", plant: func(f *tree) {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			pub, _ := pki.MarshalPublicKey(&k.PublicKey)
			f.writeFile(f.path("pki/sa.pub"), append(f.read(f.path("pki/sa.pub")), pub...), 0o644)
		}, want: ids("pki:sa-key-mismatch")},
		{name: "an expired certificate", plant: func(f *tree) {
			old := f.leaf("apiserver-etcd-client")
			iss := f.issuer("etcd/ca")
			tmpl := *old
			tmpl.NotAfter = f.now.Add(-24 * time.Hour)
			tmpl.NotBefore = f.now.Add(-48 * time.Hour)
			f.mintRaw("pki/apiserver-etcd-client.crt", &tmpl, old.PublicKey, iss)
		}, want: ids("cert:expired")},
		{name: "a certificate not valid yet", plant: func(f *tree) {
			old := f.leaf("apiserver-etcd-client")
			tmpl := *old
			tmpl.NotBefore, tmpl.NotAfter = f.now.Add(24*time.Hour), f.now.Add(48*time.Hour)
			f.mintRaw("pki/apiserver-etcd-client.crt", &tmpl, old.PublicKey, f.issuer("etcd/ca"))
		}, want: ids("cert:not-yet-valid")},
		{name: "a client certificate in system:masters", plant: func(f *tree) {
			old := f.leaf("apiserver-kubelet-client")
			tmpl := *old
			tmpl.Subject.Organization, tmpl.RawSubject = []string{"system:masters"}, nil
			f.mintRaw("pki/apiserver-kubelet-client.crt", &tmpl, old.PublicKey, f.issuer("ca"))
		}, want: ids("rbac:system-masters")},
		{name: "an encryption configuration readable by everyone", plant: func(f *tree) {
			f.apiFile("encryption-provider-config", "secrets-at-rest.yaml", encAESGCM)
			f.chmod("secrets-at-rest.yaml", 0o644)
		}, want: ids("file:secret-readable-by-others")},
		{name: "a static token file readable by its group", plant: func(f *tree) {
			f.apiFile("token-auth-file", "tokens.csv", tokens)
			f.chmod("tokens.csv", 0o640)
		}, want: ids("file:secret-readable-by-group")},
		{name: "a private key readable by everyone", plant: func(f *tree) { f.chmod("pki/apiserver.key", 0o644) }, want: ids("file:secret-readable-by-others")},
		{name: "a private key readable by its group", plant: func(f *tree) { f.chmod("pki/etcd/server.key", 0o640) }, want: ids("file:secret-readable-by-group")},
		{name: "the cluster folder writable by everyone", plant: func(f *tree) { f.chmod(".", 0o777) }, want: ids("file:writable-by-others")},
		{name: "API server with the ABAC authorizer", plant: func(f *tree) {
			f.write("abac.jsonl", []byte(`{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy", "spec": {"user": "*", "namespace": "*", "resource": "*", "apiGroup": "*"}}`+"\n"))
			f.editPod("kube-apiserver", chain(with("authorization-mode", "Node,RBAC,ABAC"), with("authorization-policy-file", f.host("abac.jsonl"))))
		}, want: ids("kube-apiserver:authorization-mode")},
		{name: "pki/ writable by everyone", plant: func(f *tree) { f.chmod("pki", 0o777) }, want: ids("file:writable-by-others")},
		{name: "manifests/ writable by its group", plant: func(f *tree) { f.chmod("manifests", 0o770) }, want: ids("file:writable-by-group")},
		{name: "a manifest readable by everyone", plant: func(f *tree) { f.chmod("manifests/kube-apiserver.yaml", 0o644) }, want: ids("file:mode")},
		{name: "the cluster CA certificate writable by everyone", plant: func(f *tree) { f.chmod("pki/ca.crt", 0o666) }, want: ids("file:writable-by-others")},
		{name: "a key owned by another user", plant: func(f *tree) {
			if err := os.Chown(f.path("pki/ca.key"), os.Getuid()+1000, os.Getgid()); err != nil {
				f.t.Skipf("cannot give a file away: %v", err)
			}
		}, want: ids("file:owner")},

		// kubeconfigs
		{name: "a kubeconfig skips TLS verification", plant: func(f *tree) {
			f.editKubeconfig("scheduler.conf", func(s string) string {
				return regexp.MustCompile(`certificate-authority-data: .*`).ReplaceAllString(s, "insecure-skip-tls-verify: true")
			})
		}, want: ids("kubeconfig:insecure-skip-tls-verify")},
		{name: "a kubeconfig over plain HTTP", plant: func(f *tree) {
			f.editKubeconfig("controller-manager.conf", func(s string) string { return strings.Replace(s, "server: https://", "server: http://", 1) })
		}, want: ids("kubeconfig:plain-http")},
		{name: "admin.conf in system:masters", plant: func(f *tree) { f.writeFile(f.path("admin.conf"), f.read(f.path("super-admin.conf")), 0o600) },
			want: ids("rbac:system-masters")},
		{name: "the scheduler with the controller manager's credentials", plant: func(f *tree) {
			f.writeFile(f.path("scheduler.conf"), f.read(f.path("controller-manager.conf")), 0o600)
		}, want: ids("kubeconfig:identity")},
		{name: "a kubeconfig with a static token", plant: func(f *tree) {
			f.editKubeconfig("scheduler.conf", func(s string) string {
				s = regexp.MustCompile(`client-key-data: .*\n`).ReplaceAllString(s, "")
				return regexp.MustCompile(`client-certificate-data: .*`).ReplaceAllString(s, "token: s3cr3t-static-token-0123456789")
			})
		}, want: ids("kubeconfig:static-credential")},
		{name: "a kubeconfig readable by everyone", plant: func(f *tree) { f.chmod("admin.conf", 0o644) }, want: ids("file:secret-readable-by-others")},
		{name: "a kubeconfig trusting another CA", plant: func(f *tree) {
			other := strings.TrimSpace(string(f.read(f.path("pki/front-proxy-ca.crt"))))
			f.editKubeconfig("controller-manager.conf", func(s string) string {
				return regexp.MustCompile(`certificate-authority-data: .*`).ReplaceAllString(s, "certificate-authority-data: "+b64(other))
			})
		}, want: ids("kubeconfig:wrong-ca")},
		{name: "a kubeconfig trusting another CA beside the cluster CA", plant: func(f *tree) {
			both := string(f.read(f.path("pki/ca.crt"))) + string(f.read(f.path("pki/front-proxy-ca.crt")))
			f.editKubeconfig("scheduler.conf", func(s string) string {
				return regexp.MustCompile(`certificate-authority-data: .*`).ReplaceAllString(s, "certificate-authority-data: "+b64(strings.TrimSpace(both)))
			})
		}, want: ids("kubeconfig:wrong-ca")},

		// cluster objects
		{name: "a bootstrap token without expiration", plant: func(f *tree) {
			f.clusterObject("planted.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: bootstrap-token-abcdef, namespace: kube-system}\ntype: bootstrap.kubernetes.io/token\nstringData:\n  token-id: abcdef\n  token-secret: 0123456789abcdef\n  usage-bootstrap-authentication: 'true'\n")
		}, want: ids("cluster:bootstrap-token-no-expiry")},
		{name: "a bootstrap token for a year", plant: func(f *tree) {
			f.clusterObject("planted.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: bootstrap-token-abcdef, namespace: kube-system}\ntype: bootstrap.kubernetes.io/token\nstringData:\n  token-id: abcdef\n  token-secret: 0123456789abcdef\n  expiration: "+f.now.Add(365*24*time.Hour).UTC().Format(time.RFC3339)+"\n  usage-bootstrap-authentication: 'true'\n")
		}, want: ids("cluster:bootstrap-token-long-lived")},
		{name: "a legacy service-account token Secret", plant: func(f *tree) {
			f.clusterObject("planted.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ci-token\n  namespace: default\n  annotations: {kubernetes.io/service-account.name: ci}\ntype: kubernetes.io/service-account-token\n")
		}, want: ids("cluster:service-account-token-secret")},
		{name: "anonymous requests may view everything", plant: func(f *tree) {
			f.clusterObject("planted.yaml", fmt.Sprintf(crb, "view", "{kind: Group, name: system:unauthenticated, apiGroup: rbac.authorization.k8s.io}"))
		}, want: ids("RBAC010")},
		{name: "system:anonymous may edit", plant: func(f *tree) {
			f.clusterObject("planted.yaml", fmt.Sprintf(crb, "edit", "{kind: User, name: system:anonymous, apiGroup: rbac.authorization.k8s.io}"))
		}, want: ids("RBAC010")},
		{name: "every authenticated user may edit", plant: func(f *tree) {
			f.clusterObject("planted.yaml", fmt.Sprintf(crb, "edit", "{kind: Group, name: system:authenticated, apiGroup: rbac.authorization.k8s.io}"))
		}, want: ids("RBAC011")},
		{name: "cluster-admin for a namespace's default ServiceAccount", plant: func(f *tree) {
			f.clusterObject("planted.yaml", fmt.Sprintf(crb, "cluster-admin", "{kind: ServiceAccount, name: default, namespace: kube-system}"))
		}, want: ids("RBAC016")},
		{name: "another user holds the kubelet API", plant: func(f *tree) {
			f.clusterObject("planted.yaml", fmt.Sprintf(crb, "system:kubelet-api-admin", "{kind: User, name: mallory, apiGroup: rbac.authorization.k8s.io}"))
		}, want: ids("RBAC006")},
		{name: "a user may read every Secret", plant: func(f *tree) {
			f.clusterObject("planted.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: secret-reader}\nrules:\n- {apiGroups: [''], resources: [secrets], verbs: [get, list]}\n---\n"+
				fmt.Sprintf(crb, "secret-reader", "{kind: User, name: dave, apiGroup: rbac.authorization.k8s.io}"))
		}, want: ids("RBAC001")},
		{name: "a default ServiceAccount that automounts its token", plant: func(f *tree) {
			f.clusterObject("service-accounts.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: default}\nautomountServiceAccountToken: true\n")
		}, want: ids("cluster:default-sa-automount")},
		{name: "a bootstrap token that asks for system:masters", plant: func(f *tree) {
			f.clusterObject("planted.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: bootstrap-token-abcdef, namespace: kube-system}\ntype: bootstrap.kubernetes.io/token\nstringData:\n  token-id: abcdef\n  token-secret: 0123456789abcdef\n  expiration: "+
				f.now.Add(12*time.Hour).UTC().Format(time.RFC3339)+"\n  usage-bootstrap-authentication: 'true'\n  auth-extra-groups: system:bootstrappers:kubeadm:default-node-token,system:masters\n")
		}, want: ids("cluster:bootstrap-token-groups")},
		{name: "every service account may read Secrets in kube-system", plant: func(f *tree) {
			f.clusterObject("planted.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: secret-reader, namespace: kube-system}\nrules:\n- {apiGroups: [''], resources: [secrets], verbs: [get, list]}\n---\n"+
				"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: secret-reader, namespace: kube-system}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secret-reader}\nsubjects: [{kind: Group, name: 'system:serviceaccounts', apiGroup: rbac.authorization.k8s.io}]\n")
		}, want: ids("RBAC019")},
		{name: "another CA appended to the cluster CA's file", plant: func(f *tree) {
			f.appendForeignCA("pki/ca.crt")
		}, want: ids("pki:extra-ca")},
		{name: "another CA appended to etcd's CA file", plant: func(f *tree) {
			f.appendForeignCA("pki/etcd/ca.crt")
		}, want: ids("pki:extra-ca")},
		{name: "another CA appended to the front-proxy CA's file", plant: func(f *tree) {
			f.appendForeignCA("pki/front-proxy-ca.crt")
		}, want: ids("pki:extra-ca")},
		{name: "a privileged API server Pod", plant: func(f *tree) {
			f.pod("kube-apiserver", func(c *corev1.Container) { c.SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)} })
		}, want: ids("pod:privileged")},
		{name: "a controller manager with SYS_ADMIN", plant: func(f *tree) {
			f.pod("kube-controller-manager", func(c *corev1.Container) {
				c.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}}
			})
		}, want: ids("pod:privileged")},
		{name: "etcd in the host's PID namespace", plant: func(f *tree) {
			f.podSpec("etcd", func(s *corev1.PodSpec) { s.HostPID = true })
		}, want: ids("pod:privileged")},
		{name: "the scheduler mounts the host's root", plant: func(f *tree) {
			f.podSpec("kube-scheduler", func(s *corev1.PodSpec) { mountHost(s, "host", "/") })
		}, want: ids("pod:sensitive-host-path")},
		{name: "the API server mounts the container runtime's socket", plant: func(f *tree) {
			f.podSpec("kube-apiserver", func(s *corev1.PodSpec) { mountHost(s, "runtime", "/run/containerd/containerd.sock") })
		}, want: ids("pod:sensitive-host-path")},
		{name: "the controller manager mounts /etc//", plant: func(f *tree) {
			f.podSpec("kube-controller-manager", func(s *corev1.PodSpec) { mountHost(s, "etc", "/etc//") })
		}, want: ids("pod:sensitive-host-path")},
		{name: "a privileged static Pod beside the control plane mounting the node's root", plant: func(f *tree) {
			f.writeFile(f.path("manifests/debug.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: debug, namespace: kube-system}\nspec:\n  hostNetwork: true\n  hostPID: true\n  containers:\n  - name: sh\n    image: busybox\n    command: [sleep, infinity]\n    securityContext: {privileged: true}\n    volumeMounts: [{name: host, mountPath: /host}]\n  volumes:\n  - name: host\n    hostPath: {path: /}\n"), 0o600)
		}, want: ids("pod:other-static-pod-privileged")},
		{name: "the API server's manifest as JSON allows every request", plant: func(f *tree) {
			f.editPod("kube-apiserver", with("authorization-mode", "AlwaysAllow"))
			f.manifestAsJSON("kube-apiserver")
		}, want: ids("kube-apiserver:authorization-mode")},
		{name: "the API server runs an image from another registry", plant: func(f *tree) {
			f.pod("kube-apiserver", func(c *corev1.Container) { c.Image = "evil.example.com/kube-apiserver:v1.36.3" })
		}, want: ids("pod:image-repository")},
		{name: "etcd runs an image by digest from another registry", plant: func(f *tree) {
			f.pod("etcd", func(c *corev1.Container) { c.Image = "ghcr.io/someone/etcd@sha256:" + strings.Repeat("ab", 32) })
		}, want: ids("pod:image-repository")},
	}
}

func ptr[T any](v T) *T { return &v }

// manifestAsJSON rewrites a static Pod's manifest as a .json file.
func (f *tree) manifestAsJSON(comp string) {
	j, err := yaml.YAMLToJSON(f.read(f.manifest(comp)))
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.Remove(f.manifest(comp)); err != nil {
		f.t.Fatal(err)
	}
	f.writeFile(f.path("manifests/"+comp+".json"), j, 0o600)
}

// splitFlags writes --name=value as two words, --name value (booleans
// keep the =, as pflag needs).
func splitFlags(args []string) []string {
	var out []string
	for _, x := range args {
		if n, v, ok := strings.Cut(x, "="); ok && v != "true" && v != "false" {
			out = append(out, n, v)
		} else {
			out = append(out, x)
		}
	}
	return out
}

// appendForeignCA appends a CA of another key, with the file's own CA's
// subject, to a CA file.
func (f *tree) appendForeignCA(rel string) {
	f.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	own, err := pki.ParseCert(f.read(f.path(rel)))
	if err != nil {
		f.t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: own.Subject, NotBefore: own.NotBefore, NotAfter: own.NotAfter,
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	f.writeFile(f.path(rel), append(f.read(f.path(rel)), pki.MarshalCert(c)...), 0o644)
}

// mountHost adds a hostPath volume and mounts it in the first container.
func mountHost(s *corev1.PodSpec, name, hostPath string) {
	s.Volumes = append(s.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostPath}}})
	s.Containers[0].VolumeMounts = append(s.Containers[0].VolumeMounts, corev1.VolumeMount{Name: name, MountPath: "/" + name})
}

func b64(s string) string {
	return base64Std(s)
}

// mintRaw signs a template as is.
func (f *tree) mintRaw(rel string, tmpl *x509.Certificate, pub any, iss pki.Issuer) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, iss.Cert, pub, iss.Key)
	if err != nil {
		f.t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	f.writeFile(f.path(rel), pki.MarshalCert(c), 0o644)
}

// keyOf is what a finding is compared by across a tree and its weakened
// copy: its rule and file (paths relative to the tree).
func keyOf(f finding.Finding, dir string) string {
	file := strings.ReplaceAll(f.Evidence.File, dir, "TREE")
	return f.ID + "|" + file + "|" + f.Node
}

// TestPlantedWeaknesses plants one weakness at a time into bulwark's own
// output and into kubeadm's, and wants each found at medium or above, as a
// finding the tree did not have before, with a title that states the
// problem.
func TestPlantedWeaknesses(t *testing.T) {
	ws := weaknesses()
	if len(ws) < 80 {
		t.Fatalf("only %d weaknesses", len(ws))
	}
	for _, kind := range []string{"bulwark", "kubeadm"} {
		t.Run(kind, func(t *testing.T) {
			base := map[string]bool{}
			mk := func(t *testing.T) *tree {
				if kind == "kubeadm" {
					return newKubeadmTree(t)
				}
				return newTree(t)
			}
			clean := mk(t)
			for _, f := range clean.run().Findings {
				if f.Severity != finding.Info {
					base[keyOf(f, clean.top)] = true
				}
			}
			if kind == "bulwark" && len(base) > 0 {
				t.Fatalf("bulwark's own output has findings above info: %v", base)
			}
			for _, w := range ws {
				if w.bulwarkOnly && kind == "kubeadm" || w.kubeadmOnly && kind == "bulwark" {
					continue
				}
				t.Run(w.name, func(t *testing.T) {
					f := mk(t)
					w.plant(f)
					r := f.run()
					var found []finding.Finding
					for _, fd := range r.Findings {
						if !base[keyOf(fd, f.top)] && fd.Severity.AtLeast(finding.Medium) {
							found = append(found, fd)
						}
					}
					ok := slices.ContainsFunc(found, func(fd finding.Finding) bool { return slices.Contains(w.want, fd.ID) })
					if !ok {
						t.Errorf("want one of %v at medium or above; new findings:", w.want)
						for _, fd := range r.Findings {
							if !base[keyOf(fd, f.top)] {
								t.Logf("  %s %s %s: %s", fd.Severity, fd.ID, fd.Title, fd.Evidence)
							}
						}
					}
					for _, fd := range found {
						if problemStated.MatchString(fd.Title) {
							t.Errorf("%s: title %q states the desired state, not the problem", fd.ID, fd.Title)
						}
					}
				})
			}
		})
	}
}

// problemStated catches titles written as the goal ("anonymous requests
// are refused", "no profiling endpoints", "record who did what").
var problemStated = regexp.MustCompile(`^(\S+: )?(no |only |record |keep |rotate |serve |use |enable |verify |set |ensure )`)

// secureVariant expresses bulwark's security another way.
type secureVariant struct {
	name string
	tree func(t *testing.T) *tree
	vary func(f *tree)
}

func secureVariants() []secureVariant {
	bw := func(t *testing.T) *tree { return newTree(t) }
	kt := func(t *testing.T) *tree { return newKubeadmTree(t) }
	return []secureVariant{
		{"every control-plane Pod from one private mirror (kubeadm)", kt, func(f *tree) {
			for _, comp := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
				f.pod(comp, func(c *corev1.Container) {
					c.Image = "mirror.internal:5000/k8s/" + c.Image[strings.LastIndex(c.Image, "/")+1:]
				})
			}
		}},
		{"read-only trust stores and a dropped capability", kt, func(f *tree) {
			f.podSpec("kube-controller-manager", func(s *corev1.PodSpec) {
				mountHost(s, "etc-pki", "/etc/pki")
				mountHost(s, "local-certs", "/usr/local/share/ca-certificates")
				s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
			})
		}},
		{"etcd settings in --config-file (flags ignored)", bw, func(f *tree) {
			cfg := f.secureEtcdConfig()
			f.editPod("etcd", func(a []string) []string {
				return []string{"--config-file=" + f.host("etcd.conf.yaml"), "--client-cert-auth=false", "--auto-tls=true"}
			})
			f.write("etcd.conf.yaml", []byte(cfg))
		}},
		{"etcd single-dash flags", bw, func(f *tree) {
			f.editPod("etcd", func(a []string) []string {
				for i := range a {
					a[i] = strings.TrimPrefix(a[i], "-")
				}
				return a
			})
		}},
		{"etcd TLS 1.3 minimum", bw, func(f *tree) { f.editPod("etcd", with("tls-min-version", "TLS1.3")) }},
		{"etcd metrics on IPv6 loopback", bw, func(f *tree) { f.editPod("etcd", with("listen-metrics-urls", "http://[::1]:2381")) }},
		{"etcd strong cipher list", bw, func(f *tree) {
			f.editPod("etcd", with("cipher-suites", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"))
		}},
		{"API server TLS 1.3 minimum", bw, func(f *tree) { f.editPod("kube-apiserver", with("tls-min-version", "VersionTLS13")) }},
		{"API server --anonymous-auth=false instead of a configuration", bw, func(f *tree) {
			f.editPod("kube-apiserver", chain(without("authentication-config"), with("anonymous-auth", "false")))
		}},
		{"API server authorization in --authorization-config", bw, func(f *tree) {
			f.write("authz.yaml", []byte(authzNodeRBAC))
			f.editPod("kube-apiserver", chain(without("authorization-mode"), with("authorization-config", f.host("authz.yaml"))))
		}},
		{"API server RBAC,Node order", bw, func(f *tree) { f.editPod("kube-apiserver", with("authorization-mode", "RBAC,Node")) }},
		{"admission plugins given twice (they accumulate)", bw, func(f *tree) {
			f.editPod("kube-apiserver", chain(without("enable-admission-plugins"), adding("--enable-admission-plugins=NodeRestriction", "--enable-admission-plugins=DenyServiceExternalIPs")))
		}},
		{"a flag repeated: the last wins", bw, func(f *tree) {
			f.editPod("kube-apiserver", chain(without("profiling"), adding("--profiling=true", "--profiling=false")))
		}},
		{"flags as --name value", bw, func(f *tree) {
			f.editPod("kube-apiserver", func(a []string) []string {
				var out []string
				for _, x := range a {
					if n, v, ok := strings.Cut(x, "="); ok && v != "true" && v != "false" {
						out = append(out, n, v)
					} else {
						out = append(out, x)
					}
				}
				return out
			})
		}},
		{"flags with underscores", bw, func(f *tree) {
			f.editPod("kube-controller-manager", func(a []string) []string {
				for i, x := range a {
					if strings.HasPrefix(x, "--use-service-account-credentials") {
						a[i] = "--use_service_account_credentials=true"
					}
				}
				return a
			})
		}},
		{"encryption with aesgcm", bw, func(f *tree) { f.write("encryption-config.yaml", []byte(encAESGCM)) }},
		{"encryption with KMS v2", bw, func(f *tree) { f.write("encryption-config.yaml", []byte(encKMSv2)) }},
		{"encryption with secretbox for every resource", bw, func(f *tree) { f.write("encryption-config.yaml", []byte(encSecretboxAll)) }},
		{"audit log retention left to 1.36's defaults (366 days, 100 files of 100 MB)", bw, func(f *tree) {
			f.editPod("kube-apiserver", without("audit-log-maxage", "audit-log-maxbackup", "audit-log-maxsize"))
		}},
		{"audit events to a webhook backend instead of a log file", bw, func(f *tree) {
			f.write("audit-webhook.conf", []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: audit\n  cluster: {server: 'https://audit.example.com/'}\ncontexts:\n- name: audit\n  context: {cluster: audit, user: ''}\ncurrent-context: audit\n"))
			f.editPod("kube-apiserver", chain(without("audit-log-path", "audit-log-maxage", "audit-log-maxbackup", "audit-log-maxsize"), with("audit-webhook-config-file", f.host("audit-webhook.conf"))))
		}},
		{"audit log to the container's output", bw, func(f *tree) {
			f.editPod("kube-apiserver", chain(without("audit-log-maxage", "audit-log-maxbackup", "audit-log-maxsize"), with("audit-log-path", "-")))
		}},
		{"encryption of every core resource ('*.') with aesgcm", bw, func(f *tree) {
			f.write("encryption-config.yaml", []byte(strings.Replace(encAESGCM, "[secrets]", "['*.']", 1)))
		}},
		{"encryption with KMS v2 first and an old aescbc key to read with", bw, func(f *tree) {
			f.write("encryption-config.yaml", []byte(strings.Replace(encKMSv2, "  - identity: {}\n", "  - aescbc:\n      keys:\n      - name: old\n        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n  - identity: {}\n", 1)))
		}},
		{"etcd client certificate auth from the environment", bw, func(f *tree) {
			f.editPod("etcd", without("client-cert-auth", "peer-client-cert-auth"))
			f.pod("etcd", func(c *corev1.Container) {
				c.Env = append(c.Env, corev1.EnvVar{Name: "ETCD_CLIENT_CERT_AUTH", Value: "true"}, corev1.EnvVar{Name: "ETCD_PEER_CLIENT_CERT_AUTH", Value: "true"})
			})
		}},
		{"etcd TLS on every address", bw, func(f *tree) { f.editPod("etcd", with("listen-client-urls", "https://0.0.0.0:2379")) }},
		{"API server TLS 1.3 cipher names in its list", bw, func(f *tree) {
			f.editPod("kube-apiserver", with("tls-cipher-suites", "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,TLS_CHACHA20_POLY1305_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"))
		}},
		{"kubeadm: the API server verifies kubelets (--kubelet-certificate-authority)", kt, func(f *tree) {
			f.editPod("kube-apiserver", with("kubelet-certificate-authority", f.host("pki/ca.crt")))
		}},
		{"kubelet flags turn off what its file turns on", bw, func(f *tree) {
			f.editKubelet(map[string]any{"authentication.anonymous.enabled": true, "readOnlyPort": 10255})
			f.kubeletUnit("--anonymous-auth=false --read-only-port=0")
		}},
		{"kubelet health endpoint on every address but off (healthzPort 0)", bw, func(f *tree) {
			f.editKubelet(map[string]any{"healthzBindAddress": "0.0.0.0", "healthzPort": 0})
		}},
		{"kubelet --rotate-certificates without a value", bw, func(f *tree) {
			f.editKubelet(map[string]any{"rotateCertificates": false})
			f.kubeletUnit("--rotate-certificates")
		}},
		{"kubelet static Pods over https", bw, func(f *tree) { f.editKubelet(map[string]any{"staticPodURL": "https://10.0.0.9/pods.yaml"}) }},
		{"kubeadm: pki/ 0700", kt, func(f *tree) { f.chmod("pki", 0o700); f.chmod("pki/etcd", 0o700) }},
		{"a RoleBinding of view to a named user in a team namespace", bw, func(f *tree) {
			f.clusterObject("planted.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: v, namespace: team-a}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]\n")
		}},
		{"RSA 4096 keys", func(t *testing.T) *tree {
			c := config.Default("cp-1")
			c.KeyAlgorithm = string(pki.RSA4096)
			return newTreeWith(t, c)
		}, func(*tree) {}},
		{"an Ed25519 client certificate", bw, func(f *tree) {
			_, k, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				f.t.Fatal(err)
			}
			f.writeKey("pki/apiserver-kubelet-client.key", k)
			iss := f.issuer("ca")
			f.mint("pki/apiserver-kubelet-client.crt", f.leaf("apiserver-kubelet-client"), k.Public(), iss.Cert, iss.Key, certOpts{})
		}},
		{"kubeadm: a P-521 client certificate", kt, func(f *tree) {
			k, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
			if err != nil {
				f.t.Fatal(err)
			}
			f.writeKey("pki/apiserver-kubelet-client.key", k)
			iss := f.issuer("ca")
			f.mint("pki/apiserver-kubelet-client.crt", f.leaf("apiserver-kubelet-client"), k.Public(), iss.Cert, iss.Key, certOpts{})
		}},
		{"kubeadm: every component's flags as --name value", kt, func(f *tree) {
			for _, comp := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
				f.editPod(comp, splitFlags)
			}
		}},
		{"kubeadm: etcd on IPv6 loopback", kt, func(f *tree) {
			f.editPod("etcd", chain(with("listen-client-urls", strings.Replace(f.flag("etcd", "listen-client-urls"), "https://127.0.0.1:2379", "https://[::1]:2379", 1)),
				with("listen-metrics-urls", "http://[::1]:2381")))
		}},
		{"kubeadm: etcd settings in --config-file", kt, func(f *tree) {
			cfg := f.secureEtcdConfig()
			f.editPod("etcd", func([]string) []string { return []string{"--config-file=" + f.host("etcd.conf.yaml")} })
			f.write("etcd.conf.yaml", []byte(cfg))
		}},
		{"kubeadm: encryption with aesgcm", kt, func(f *tree) { f.apiFile("encryption-provider-config", "enc.yaml", encAESGCM) }},
		{"kubeadm: a KMS v2 encryption configuration (no key in it) readable by everyone", kt, func(f *tree) {
			f.apiFile("encryption-provider-config", "enc.yaml", encKMSv2)
			f.chmod("enc.yaml", 0o644)
		}},
		{"kubeadm: scheduler settings in --config", kt, func(f *tree) {
			f.write("scheduler-config.yaml", []byte("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nenableProfiling: false\nclientConnection:\n  kubeconfig: "+f.host("scheduler.conf")+"\n"))
			f.editPod("kube-scheduler", chain(without("kubeconfig"), adding("--config="+f.host("scheduler-config.yaml"))))
		}},
		{"kubeadm: RotateKubeletServerCertificate=true spelled out", kt, func(f *tree) {
			f.editPod("kube-controller-manager", with("feature-gates", "RotateKubeletServerCertificate=true"))
		}},
		{"kubelet unsafe sysctls inside the Pod's namespaces", bw, func(f *tree) {
			f.editKubelet(map[string]any{"allowedUnsafeSysctls": []string{"net.core.somaxconn", "kernel.shm_rmid_forced"}})
		}},
		{"kubeadm's cluster-info ConfigMap readable by anonymous requests", bw, func(f *tree) {
			f.clusterObject("planted.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: 'kubeadm:bootstrap-signer-clusterinfo', namespace: kube-public}\nrules:\n- {apiGroups: [''], resources: [configmaps], resourceNames: [cluster-info], verbs: [get]}\n---\n"+
				"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: 'kubeadm:bootstrap-signer-clusterinfo', namespace: kube-public}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: 'kubeadm:bootstrap-signer-clusterinfo'}\nsubjects: [{kind: User, name: 'system:anonymous', apiGroup: rbac.authorization.k8s.io}]\n")
		}},
		{"the built-in public-info-viewer binding written out", bw, func(f *tree) {
			f.clusterObject("planted.yaml", fmt.Sprintf(crb, "system:public-info-viewer", "{kind: Group, name: 'system:authenticated', apiGroup: rbac.authorization.k8s.io}, {kind: Group, name: 'system:unauthenticated', apiGroup: rbac.authorization.k8s.io}"))
		}},
		{"kubeadm's node bootstrap bindings", bw, func(f *tree) {
			group := "{kind: Group, name: 'system:bootstrappers:kubeadm:default-node-token', apiGroup: rbac.authorization.k8s.io}"
			f.clusterObject("planted.yaml", fmt.Sprintf(crb, "system:node-bootstrapper", group)+"---\n"+
				strings.Replace(fmt.Sprintf(crb, "system:certificates.k8s.io:certificatesigningrequests:nodeclient", group), "name: planted", "name: planted-2", 1)+"---\n"+
				strings.Replace(fmt.Sprintf(crb, "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "{kind: Group, name: 'system:nodes', apiGroup: rbac.authorization.k8s.io}"), "name: planted", "name: planted-3", 1))
		}},
		{"kubeadm: a kube-vip static Pod (network capabilities only)", kt, func(f *tree) {
			f.writeFile(f.path("manifests/kube-vip.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: kube-vip, namespace: kube-system}\nspec:\n  hostNetwork: true\n  containers:\n  - name: kube-vip\n    image: ghcr.io/kube-vip/kube-vip:v0.8.0\n    args: [manager]\n    securityContext:\n      capabilities:\n        add: [NET_ADMIN, NET_RAW]\n    volumeMounts: [{name: kubeconfig, mountPath: /etc/kubernetes/admin.conf}]\n  volumes:\n  - name: kubeconfig\n    hostPath: {path: /etc/kubernetes/super-admin.conf}\n"), 0o600)
		}},
		{"the API server's manifest as JSON", bw, func(f *tree) { f.manifestAsJSON("kube-apiserver") }},
		{"the kubelet configuration as JSON", bw, func(f *tree) {
			j, err := yaml.YAMLToJSON(f.read(f.kubelet))
			if err != nil {
				f.t.Fatal(err)
			}
			f.writeFile(f.kubelet, j, 0o600)
		}},
		{"scheduler TLS 1.3 minimum", bw, func(f *tree) { f.editPod("kube-scheduler", with("tls-min-version", "VersionTLS13")) }},
		{"controller manager on 0:0:0:0:0:0:0:1", bw, func(f *tree) { f.editPod("kube-controller-manager", with("bind-address", "0:0:0:0:0:0:0:1")) }},
		{"an Ed25519 front-proxy CA", bw, func(f *tree) {
			_, k, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				f.t.Fatal(err)
			}
			c := f.mint("pki/front-proxy-ca.crt", f.leaf("front-proxy-ca"), k.Public(), nil, k, certOpts{isCA: true, pathLen: 0, keyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature})
			f.writeKey("pki/front-proxy-ca.key", k)
			f.mint("pki/front-proxy-client.crt", f.leaf("front-proxy-client"), f.leaf("front-proxy-client").PublicKey, c, k, certOpts{})
		}},
		{"an audit policy at Metadata for Secrets", bw, func(f *tree) { f.write("audit-policy.yaml", []byte(auditMetadata)) }},
		{"controller manager on IPv6 loopback", bw, func(f *tree) { f.editPod("kube-controller-manager", with("bind-address", "::1")) }},
		{"scheduler on 127.0.0.2", bw, func(f *tree) { f.editPod("kube-scheduler", with("bind-address", "127.0.0.2")) }},
		{"kubelet certificates for 24h", bw, func(f *tree) { f.editPod("kube-controller-manager", with("cluster-signing-duration", "24h")) }},
		{"controller manager TLS 1.3 minimum", bw, func(f *tree) { f.editPod("kube-controller-manager", with("tls-min-version", "VersionTLS13")) }},
		{"scheduler settings in --config", bw, func(f *tree) {
			f.write("scheduler-config.yaml", []byte("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nenableProfiling: false\nclientConnection:\n  kubeconfig: "+f.host("scheduler.conf")+"\n"))
			f.editPod("kube-scheduler", chain(without("kubeconfig"), with("profiling", "true"), adding("--config="+f.host("scheduler-config.yaml"))))
		}},
		{"kubelet TLS 1.3 minimum", bw, func(f *tree) { f.editKubelet(map[string]any{"tlsMinVersion": "VersionTLS13"}) }},
		{"kubelet 0s idle timeout in the file means the 4h default", bw, func(f *tree) { f.editKubelet(map[string]any{"streamingConnectionIdleTimeout": "0s"}) }},
		{"kubelet settings in a drop-in", bw, func(f *tree) {
			f.editKubelet(map[string]any{"readOnlyPort": 10255, "authentication.anonymous.enabled": true})
			dir := filepath.Join(filepath.Dir(f.kubelet), "kubelet.conf.d")
			f.writeFile(filepath.Join(dir, "10-secure.conf"), []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nreadOnlyPort: 0\nauthentication:\n  anonymous:\n    enabled: false\n"), 0o600)
			f.kubeletUnit("--config-dir=" + dir)
		}},
		{"kubelet configured by flags alone (no --config)", bw, func(f *tree) {
			unit := filepath.Join(filepath.Dir(f.kubelet), "kubelet.service")
			f.writeFile(unit, []byte("[Service]\nExecStart=/usr/bin/kubelet --anonymous-auth=false --authentication-token-webhook=true --authorization-mode=Webhook \\\n"+
				"  --client-ca-file="+f.host("pki/ca.crt")+" --read-only-port=0 --rotate-certificates=true --protect-kernel-defaults=true \\\n"+
				"  --tls-min-version=VersionTLS12 --tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 --tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 \\\n"+
				"  --pod-max-pids=4096 --seccomp-default=true\n"), 0o600)
			f.cmdlines = append(f.cmdlines, unit)
		}},
		{"API server flags in args instead of command", bw, func(f *tree) {
			f.pod("kube-apiserver", func(c *corev1.Container) { c.Command, c.Args = c.Command[:1], c.Command[1:] })
		}},
		{"booleans spelled 0 and True", bw, func(f *tree) {
			f.editPod("kube-controller-manager", chain(with("profiling", "0"), with("use-service-account-credentials", "True")))
		}},
		{"scheduler serving off (--secure-port=0) on every address", bw, func(f *tree) {
			f.editPod("kube-scheduler", chain(with("bind-address", "0.0.0.0"), with("secure-port", "0")))
		}},
		{"an admission configuration for PodSecurity", bw, func(f *tree) {
			f.write("admission.yaml", []byte("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n    kind: PodSecurityConfiguration\n    defaults: {enforce: baseline, audit: restricted, warn: restricted}\n    exemptions: {namespaces: [kube-system]}\n"))
			f.editPod("kube-apiserver", with("admission-control-config-file", f.host("admission.yaml")))
		}},
		{"kubelet podPidsLimit by flag", bw, func(f *tree) {
			f.editKubelet(map[string]any{"podPidsLimit": nil})
			f.kubeletUnit("--pod-max-pids=2048")
		}},
		{"keys 0400, certificates 0600", bw, func(f *tree) {
			f.chmod("pki/apiserver.key", 0o400)
			f.chmod("pki/ca.crt", 0o600)
		}},
		{"a bootstrap token for 2 days", bw, func(f *tree) {
			f.clusterObject("planted.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: bootstrap-token-abcdef, namespace: kube-system}\ntype: bootstrap.kubernetes.io/token\nstringData:\n  token-id: abcdef\n  token-secret: 0123456789abcdef\n  expiration: "+now.Add(48*time.Hour).UTC().Format(time.RFC3339)+"\n  usage-bootstrap-authentication: 'true'\n")
		}},
		{"ECDSA P-384 keys", func(t *testing.T) *tree {
			c := config.Default("cp-1")
			c.KeyAlgorithm = string(pki.ECDSAP384)
			return newTreeWith(t, c)
		}, func(*tree) {}},
		{"RSA 3072 keys", func(t *testing.T) *tree {
			c := config.Default("cp-1")
			c.KeyAlgorithm = string(pki.RSA3072)
			return newTreeWith(t, c)
		}, func(*tree) {}},
		{"three control-plane nodes", func(t *testing.T) *tree { return newTreeWith(t, threeNodes(t)) }, func(*tree) {}},
		{"kubeadm: API server TLS 1.3", kt, func(f *tree) { f.editPod("kube-apiserver", with("tls-min-version", "VersionTLS13")) }},
		{"kubeadm: controller manager on ::1", kt, func(f *tree) { f.editPod("kube-controller-manager", with("bind-address", "::1")) }},
		{"kubeadm: kubelet idle timeout 1h", kt, func(f *tree) { f.editKubelet(map[string]any{"streamingConnectionIdleTimeout": "1h"}) }},
	}
}

// TestSecureVariants: the same security, expressed another way, raises
// nothing above info that the tree did not have.
func TestSecureVariants(t *testing.T) {
	vs := secureVariants()
	if len(vs) < 25 {
		t.Fatalf("only %d variants", len(vs))
	}
	bases := map[string]map[string]bool{}
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			f := v.tree(t)
			if bases[f.kind] == nil {
				clean := v.tree(t)
				bases[f.kind] = map[string]bool{}
				for _, fd := range clean.run().Findings {
					if fd.Severity != finding.Info {
						bases[f.kind][keyOf(fd, clean.top)] = true
					}
				}
			}
			base := bases[f.kind]
			if f.kind == "bulwark" {
				base = nil
			}
			v.vary(f)
			r := f.run()
			for _, fd := range r.Findings {
				if fd.Severity != finding.Info && !base[keyOf(fd, f.top)] {
					t.Errorf("false alarm: %s %s %s: %s", fd.Severity, fd.ID, fd.Title, fd.Evidence)
				}
			}
		})
	}
}

var _ = audit.Static

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
