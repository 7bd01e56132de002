package audit_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/audit"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/internal/pinned"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// fixture is a cluster folder made by bulwark init and render, with the
// folder itself as the host root, ready to be weakened.
type fixture struct {
	t   *testing.T
	dir string
	// cmdlines are extra command-line files given to the audit.
	cmdlines      []string
	kubeletConfig string
	opts          func(*audit.Options)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	d, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	c := config.Default("cp-1")
	p, err := plan.New(c)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := config.Marshal(c)
	if err := d.Create("bulwark.yaml", raw, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := provision.Options{Now: func() time.Time { return now }}
	if _, err := provision.Init(d, p, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := provision.Render(d, p, render.Options{Root: dir}, opts); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: dir}
}

func (f *fixture) path(rel string) string { return filepath.Join(f.dir, rel) }

// editPod changes a rendered static Pod's command line.
func (f *fixture) editPod(comp string, edit func(args []string) []string) {
	f.t.Helper()
	file := f.path("manifests/" + comp + ".yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		f.t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.Unmarshal(data, &pod); err != nil {
		f.t.Fatal(err)
	}
	c := &pod.Spec.Containers[0]
	c.Command = append(c.Command[:1:1], edit(c.Command[1:])...)
	out, err := yaml.Marshal(pod)
	if err != nil {
		f.t.Fatal(err)
	}
	f.write("manifests/"+comp+".yaml", out)
}

func (f *fixture) write(rel string, data []byte) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(f.path(rel)), 0o700); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(f.path(rel), data, 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// etcdKeyOutside moves the API server's etcd client key out of the
// folder's layout, the hard way's, with a mode.
func (f *fixture) etcdKeyOutside(mode os.FileMode) {
	f.t.Helper()
	key, err := os.ReadFile(f.path("pki/apiserver-etcd-client.key"))
	if err != nil {
		f.t.Fatal(err)
	}
	const rel = "var/lib/kubernetes/etcd-client-key.pem"
	f.write(rel, key)
	if err := os.Chmod(f.path(rel), mode); err != nil {
		f.t.Fatal(err)
	}
	f.editPod("kube-apiserver", with("etcd-keyfile", f.path(rel)))
}

func without(name string) func([]string) []string {
	return func(args []string) []string {
		return slices.DeleteFunc(args, func(a string) bool { return strings.HasPrefix(a, "--"+name+"=") || a == "--"+name })
	}
}

func with(name, value string) func([]string) []string {
	return func(args []string) []string {
		return append(without(name)(args), "--"+name+"="+value)
	}
}

func (f *fixture) run() *audit.Report {
	f.t.Helper()
	// The files are the test's own: root's in CI, a developer's elsewhere.
	o := audit.Options{Dir: f.dir, Root: f.dir, CommandLines: f.cmdlines, KubeletConfig: f.kubeletConfig, Now: now, WarnWithin: 30 * 24 * time.Hour,
		FileOwner: os.Getuid(), FileGroup: os.Getgid()}
	if f.opts != nil {
		f.opts(&o)
	}
	r, err := audit.Static(o)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// above lists the IDs of findings above info, sorted, without repeats.
func above(r *audit.Report) []string {
	var ids []string
	for _, f := range r.Findings {
		if f.Severity != hardening.Info && !slices.Contains(ids, f.ID) {
			ids = append(ids, f.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func TestBulwarkOutputIsClean(t *testing.T) {
	r := newFixture(t).run()
	if got := above(r); len(got) != 0 {
		t.Fatalf("findings above info on bulwark's own output: %v\n%+v", got, r.Findings)
	}
	if r.Checked < 100 {
		t.Fatalf("only %d checks ran", r.Checked)
	}
	var comps []string
	for _, c := range r.Components {
		comps = append(comps, string(c.Name))
	}
	sort.Strings(comps)
	if want := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"}; !slices.Equal(comps, want) {
		t.Fatalf("audited %v, want %v", comps, want)
	}
}

// TestRules weakens one thing at a time and checks that exactly the rules
// about it fire.
func TestRules(t *testing.T) {
	cases := []struct {
		name   string
		weaken func(f *fixture)
		want   []string
	}{
		{"etcd without client-cert-auth", func(f *fixture) { f.editPod("etcd", without("client-cert-auth")) }, []string{"etcd:client-cert-auth"}},
		{"etcd client-cert-auth=false", func(f *fixture) { f.editPod("etcd", with("client-cert-auth", "false")) }, []string{"etcd:client-cert-auth"}},
		{"etcd auto-tls", func(f *fixture) { f.editPod("etcd", with("auto-tls", "true")) }, []string{"etcd:auto-tls"}},
		{"etcd without peer-client-cert-auth", func(f *fixture) { f.editPod("etcd", without("peer-client-cert-auth")) }, []string{"etcd:peer-client-cert-auth"}},
		{"etcd peer-auto-tls", func(f *fixture) { f.editPod("etcd", with("peer-auto-tls", "true")) }, []string{"etcd:peer-auto-tls"}},
		{"etcd without TLS on clients", func(f *fixture) { f.editPod("etcd", without("cert-file")) }, []string{"etcd:cert-file"}},
		{"etcd trusts the cluster CA (hard way, one CA)", func(f *fixture) {
			f.editPod("etcd", with("trusted-ca-file", f.path("pki/ca.crt")))
		}, []string{"etcd:separate-ca"}},
		{"etcd peers trust the etcd client CA (kubeadm)", func(f *fixture) {
			f.editPod("etcd", with("peer-trusted-ca-file", f.path("pki/etcd/ca.crt")))
		}, []string{"etcd:separate-peer-ca"}},
		{"etcd peers trust the cluster CA", func(f *fixture) {
			f.editPod("etcd", with("peer-trusted-ca-file", f.path("pki/ca.crt")))
		}, []string{"etcd:separate-peer-ca-from-cluster"}},
		{"etcd TLS 1.0 allowed", func(f *fixture) { f.editPod("etcd", without("tls-min-version")) }, nil},
		{"API server anonymous-auth=true", func(f *fixture) {
			f.editPod("kube-apiserver", func(a []string) []string { return with("anonymous-auth", "true")(without("authentication-config")(a)) })
		}, []string{"kube-apiserver:anonymous-auth"}},
		{"API server without any anonymous setting", func(f *fixture) { f.editPod("kube-apiserver", without("authentication-config")) }, []string{"kube-apiserver:anonymous-auth"}},
		{"API server anonymous-auth=false is fine", func(f *fixture) {
			f.editPod("kube-apiserver", func(a []string) []string { return with("anonymous-auth", "false")(without("authentication-config")(a)) })
		}, nil},
		{"API server anonymous on every path", func(f *fixture) {
			f.write("authentication-config.yaml", []byte("apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\nanonymous:\n  enabled: true\n"))
		}, []string{"kube-apiserver:anonymous-auth"}},
		{"API server AlwaysAllow", func(f *fixture) { f.editPod("kube-apiserver", with("authorization-mode", "AlwaysAllow")) }, []string{"kube-apiserver:authorization-mode"}},
		{"API server RBAC,Node order is fine", func(f *fixture) { f.editPod("kube-apiserver", with("authorization-mode", "RBAC,Node")) }, nil},
		{"API server Node,RBAC,AlwaysAllow", func(f *fixture) { f.editPod("kube-apiserver", with("authorization-mode", "Node,RBAC,AlwaysAllow")) }, []string{"kube-apiserver:authorization-mode"}},
		{"API server without NodeRestriction", func(f *fixture) { f.editPod("kube-apiserver", with("enable-admission-plugins", "PodSecurity")) },
			[]string{"kube-apiserver:admission:DenyServiceExternalIPs", "kube-apiserver:admission:NodeRestriction"}},
		{"API server without DenyServiceExternalIPs", func(f *fixture) { f.editPod("kube-apiserver", with("enable-admission-plugins", "NodeRestriction")) },
			[]string{"kube-apiserver:admission:DenyServiceExternalIPs"}},
		{"API server keeps 3 audit logs", func(f *fixture) { f.editPod("kube-apiserver", with("audit-log-maxbackup", "3")) }, []string{"kube-apiserver:audit-log-maxbackup"}},
		{"API server keeps audit logs 40 days: fine", func(f *fixture) { f.editPod("kube-apiserver", with("audit-log-maxage", "40")) }, nil},
		{"API server with a weak cipher", func(f *fixture) {
			f.editPod("kube-apiserver", with("tls-cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_AES_128_CBC_SHA"))
		}, []string{"kube-apiserver:tls-cipher-suites"}},
		{"API server extends service-account tokens", func(f *fixture) { f.editPod("kube-apiserver", without("service-account-extend-token-expiration")) },
			[]string{"kube-apiserver:service-account-extend-token-expiration"}},
		{"no aggregation layer at all: fine", func(f *fixture) {
			f.editPod("kube-apiserver", func(a []string) []string {
				for _, n := range []string{"requestheader-client-ca-file", "requestheader-allowed-names", "proxy-client-cert-file", "proxy-client-key-file"} {
					a = without(n)(a)
				}
				return a
			})
		}, nil},
		{"a private key readable by others", func(f *fixture) {
			if err := os.Chmod(f.path("pki/apiserver.key"), 0o644); err != nil {
				f.t.Fatal(err)
			}
		}, []string{"file:mode"}},
		{"a private key owned by another user", func(f *fixture) {
			if err := os.Chown(f.path("pki/apiserver.key"), os.Getuid()+1000, os.Getgid()); err != nil {
				f.t.Skipf("cannot give a file away (not root?): %v", err)
			}
		}, []string{"file:owner"}},
		{"a key named by a flag outside the folder, readable by others", func(f *fixture) { f.etcdKeyOutside(0o644) }, []string{"file:mode"}},
		{"a key named by a flag outside the folder, 0600: fine", func(f *fixture) { f.etcdKeyOutside(0o600) }, nil},
		{"kubeadm-style kubelet unit: drop-in, Environment and EnvironmentFile expanded", func(f *fixture) {
			f.write("kubelet.service", []byte("[Service]\nExecStart=/usr/bin/kubelet\n"))
			f.write("kubelet.service.d/10-kubeadm.conf", []byte("[Service]\n"+
				"Environment=\"KUBELET_CONFIG_ARGS=--config="+f.path("kubelet/config.yaml")+"\"\n"+
				"EnvironmentFile=-"+f.path("kubeadm-flags.env")+"\n"+
				"ExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n"))
			f.write("kubeadm-flags.env", []byte("KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/containerd/containerd.sock --read-only-port=10255\"\n"))
			f.cmdlines = append(f.cmdlines, f.path("kubelet.service"))
		}, []string{"kubelet:readOnlyPort"}},
		{"packaged kubelet unit in /lib/systemd/system, kubeadm's drop-in in /etc/systemd/system", func(f *fixture) {
			etc, run, lib := f.path("etc/systemd/system"), f.path("run/systemd/system"), f.path("lib/systemd/system")
			f.write("lib/systemd/system/kubelet.service", []byte("[Service]\nExecStart=/usr/bin/kubelet\n"))
			// The drop-in of /etc hides the one of the same name in /lib;
			// one in /run applies too, after it by name.
			f.write("etc/systemd/system/kubelet.service.d/10-kubeadm.conf", []byte("[Service]\nExecStart=\n"+
				"ExecStart=/usr/bin/kubelet --config="+f.path("kubelet/config.yaml")+" --read-only-port=10255\n"))
			f.write("lib/systemd/system/kubelet.service.d/10-kubeadm.conf", []byte("[Service]\nExecStart=\n"+
				"ExecStart=/usr/bin/kubelet --config="+f.path("kubelet/config.yaml")+"\n"))
			f.write("run/systemd/system/kubelet.service.d/20-extra.conf", []byte("[Service]\nEnvironment=\"UNUSED=1\"\n"))
			f.cmdlines = append(f.cmdlines, f.path("lib/systemd/system/kubelet.service"))
			f.opts = func(o *audit.Options) { o.UnitDirs = []string{etc, run, f.path("usr/lib/systemd/system"), lib} }
		}, []string{"kubelet:readOnlyPort"}},
		{"API server profiling", func(f *fixture) { f.editPod("kube-apiserver", without("profiling")) }, []string{"kube-apiserver:profiling"}},
		{"API server without encryption at rest", func(f *fixture) { f.editPod("kube-apiserver", without("encryption-provider-config")) }, []string{"kube-apiserver:encryption-provider-config"}},
		{"API server without audit", func(f *fixture) {
			f.editPod("kube-apiserver", func(a []string) []string { return without("audit-log-path")(without("audit-policy-file")(a)) })
		}, []string{"kube-apiserver:audit-log-path", "kube-apiserver:audit-policy-file"}},
		{"API server without etcd client certificate", func(f *fixture) {
			f.editPod("kube-apiserver", func(a []string) []string { return without("etcd-certfile")(without("etcd-keyfile")(a)) })
		}, []string{"kube-apiserver:etcd-certfile", "kube-apiserver:etcd-keyfile"}},
		{"API server without bootstrap tokens: a choice, not a weakness", func(f *fixture) { f.editPod("kube-apiserver", without("enable-bootstrap-token-auth")) }, nil},
		{"front-proxy CA is the cluster CA", func(f *fixture) {
			f.editPod("kube-apiserver", with("requestheader-client-ca-file", f.path("pki/ca.crt")))
		}, []string{"kube-apiserver:separate-front-proxy-ca"}},
		{"controller manager on every address", func(f *fixture) { f.editPod("kube-controller-manager", with("bind-address", "0.0.0.0")) }, []string{"kube-controller-manager:bind-address"}},
		{"controller manager bind-address unset (default 0.0.0.0)", func(f *fixture) { f.editPod("kube-controller-manager", without("bind-address")) }, []string{"kube-controller-manager:bind-address"}},
		{"controller manager shares one identity", func(f *fixture) {
			f.editPod("kube-controller-manager", without("use-service-account-credentials"))
		}, []string{"kube-controller-manager:use-service-account-credentials"}},
		{"controller manager signs kubelet certificates for a year", func(f *fixture) {
			f.editPod("kube-controller-manager", without("cluster-signing-duration"))
		}, []string{"kube-controller-manager:cluster-signing-duration"}},
		{"controller manager without tokencleaner: expired tokens are refused anyway", func(f *fixture) { f.editPod("kube-controller-manager", with("controllers", "*")) }, nil},
		{"controller manager without delegated authentication: only health checks get in", func(f *fixture) {
			f.editPod("kube-controller-manager", func(a []string) []string {
				return without("client-ca-file")(without("authorization-kubeconfig")(without("authentication-kubeconfig")(a)))
			})
		}, nil},
		{"controller manager keeps no terminated-Pod limit", func(f *fixture) { f.editPod("kube-controller-manager", without("terminated-pod-gc-threshold")) },
			[]string{"kube-controller-manager:terminated-pod-gc-threshold"}},
		{"scheduler profiling and every address", func(f *fixture) {
			f.editPod("kube-scheduler", func(a []string) []string { return without("profiling")(with("bind-address", "0.0.0.0")(a)) })
		}, []string{"kube-scheduler:bind-address", "kube-scheduler:profiling"}},
		{"kubelet anonymous", func(f *fixture) {
			f.editKubelet("authentication:\n  anonymous:\n    enabled: false", "authentication:\n  anonymous:\n    enabled: true")
		}, []string{"kubelet:authentication.anonymous.enabled"}},
		{"kubelet read-only port", func(f *fixture) { f.editKubelet("readOnlyPort: 0", "readOnlyPort: 10255") }, []string{"kubelet:readOnlyPort"}},
		{"kubelet AlwaysAllow", func(f *fixture) { f.editKubelet("mode: Webhook", "mode: AlwaysAllow") }, []string{"kubelet:authorization.mode"}},
		{"kubelet config without the fields: v1beta1 defaults", func(f *fixture) {
			f.write("kubelet/config.yaml", []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"))
		}, []string{"kubelet:authentication.x509.clientCAFile", "kubelet:podPidsLimit", "kubelet:protectKernelDefaults", "kubelet:rotateCertificates",
			"kubelet:seccompDefault", "kubelet:tlsCipherSuites"}},
		{"kubelet with no configuration file: flag defaults", func(f *fixture) {
			f.write("kubelet.service", []byte("[Service]\nExecStart=/usr/bin/kubelet \\\n  --kubeconfig=/etc/kubernetes/kubelet.conf \\\n  --v=2\n"))
			f.cmdlines = append(f.cmdlines, f.path("kubelet.service"))
		}, []string{"kubelet:authentication.anonymous.enabled", "kubelet:authentication.webhook.enabled", "kubelet:authentication.x509.clientCAFile",
			"kubelet:authorization.mode", "kubelet:podPidsLimit", "kubelet:protectKernelDefaults", "kubelet:readOnlyPort", "kubelet:rotateCertificates",
			"kubelet:seccompDefault", "kubelet:tlsCipherSuites"}},
		{"kubelet flag overrides its configuration file", func(f *fixture) {
			f.write("kubelet.service", []byte("[Service]\nExecStart=/usr/bin/kubelet --config="+f.path("kubelet/config.yaml")+" --read-only-port=10255\n"))
			f.cmdlines = append(f.cmdlines, f.path("kubelet.service"))
		}, []string{"kubelet:readOnlyPort"}},
		{"kubelet drop-in overrides its configuration file", func(f *fixture) {
			f.write("kubelet.conf.d/10-weak.conf", []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthorization:\n  mode: AlwaysAllow\n"))
			f.write("kubelet.service", []byte("[Service]\nExecStart=/usr/bin/kubelet --config="+f.path("kubelet/config.yaml")+" --config-dir="+f.path("kubelet.conf.d")+"\n"))
			f.cmdlines = append(f.cmdlines, f.path("kubelet.service"))
		}, []string{"kubelet:authorization.mode"}},
		{"kubelet config at a non-default path named by --config", func(f *fixture) {
			data, _ := os.ReadFile(f.path("kubelet/config.yaml"))
			f.write("elsewhere/kubelet.yaml", bytes.Replace(data, []byte("readOnlyPort: 0"), []byte("readOnlyPort: 10255"), 1))
			f.write("kubelet.service", []byte("[Service]\nExecStart=/usr/bin/kubelet --config="+f.path("elsewhere/kubelet.yaml")+"\n"))
			f.cmdlines = append(f.cmdlines, f.path("kubelet.service"))
		}, []string{"kubelet:readOnlyPort"}},
		{"all certificates expired", func(f *fixture) {
			f.opts = func(o *audit.Options) { o.Now = now.Add(400 * 24 * time.Hour) }
		}, []string{"cert:expired"}},
		{"certificates expiring within 30 days", func(f *fixture) {
			f.opts = func(o *audit.Options) { o.Now = now.Add(350 * 24 * time.Hour) }
		}, []string{"cert:expiring"}},
		{"admin.conf in system:masters", func(f *fixture) {
			data, _ := os.ReadFile(f.path("super-admin.conf"))
			f.write("admin.conf", data)
		}, []string{"rbac:system-masters"}},
		{"a key swapped", func(f *fixture) {
			a, _ := os.ReadFile(f.path("pki/front-proxy-client.key"))
			f.write("pki/apiserver-kubelet-client.key", a)
		}, []string{"cert:key-mismatch"}},
		{"a leaf signed by the wrong CA", func(f *fixture) { f.resign("apiserver-etcd-client", "pki/ca") }, []string{"cert:wrong-ca"}},
		{"the kubelet client in system:masters with a wrong CN", func(f *fixture) {
			f.reissue("apiserver-kubelet-client", "pki/ca", pki.Subject{CommonName: "kube-apiserver-kubelet-client", Organizations: []string{"system:masters"}}, []pki.Usage{pki.ClientAuth})
		}, []string{"rbac:system-masters"}},
		{"a leaf with extra groups and usages", func(f *fixture) {
			f.reissue("apiserver-kubelet-client", "pki/ca", pki.Subject{CommonName: "kube-apiserver-kubelet-client", Organizations: []string{"kubeadm:cluster-admins"}}, []pki.Usage{pki.ClientAuth, pki.ServerAuth})
		}, []string{"cert:organization", "cert:usages"}},
		{"an API server certificate without the in-cluster names", func(f *fixture) {
			f.reissue("apiserver", "pki/ca", pki.Subject{CommonName: "kube-apiserver", DNSNames: []string{"cp-1"}}, []pki.Usage{pki.ServerAuth})
		}, []string{"cert:apiserver-sans"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.weaken(f)
			r := f.run()
			got := above(r)
			want := append([]string(nil), tc.want...)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("findings %v, want exactly %v", got, want)
				for _, fd := range r.Findings {
					t.Logf("%s %s %s", fd.Severity, fd.ID, fd.Evidence)
				}
			}
			for _, fd := range r.Findings {
				if fd.Remediation == "" || fd.Title == "" || fd.Evidence.Detail == "" {
					t.Errorf("finding %s lacks title, evidence or remediation", fd.ID)
				}
			}
		})
	}
}

func (f *fixture) editKubelet(old, new string) {
	f.t.Helper()
	data, err := os.ReadFile(f.path("kubelet/config.yaml"))
	if err != nil {
		f.t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		f.t.Fatalf("kubelet config has no %q:\n%s", old, data)
	}
	f.write("kubelet/config.yaml", bytes.Replace(data, []byte(old), []byte(new), 1))
}

func (f *fixture) loadCA(name string) pki.Issuer {
	f.t.Helper()
	cd, _ := os.ReadFile(f.path(name + ".crt"))
	kd, _ := os.ReadFile(f.path(name + ".key"))
	c, err := pki.ParseCert(cd)
	if err != nil {
		f.t.Fatal(err)
	}
	k, err := pki.ParsePrivateKey(kd)
	if err != nil {
		f.t.Fatal(err)
	}
	return pki.Issuer{Cert: c, Key: k}
}

// resign reissues a leaf for its own key and subject from another CA.
func (f *fixture) resign(leaf, ca string) {
	f.t.Helper()
	cd, _ := os.ReadFile(f.path("pki/" + leaf + ".crt"))
	old, err := pki.ParseCert(cd)
	if err != nil {
		f.t.Fatal(err)
	}
	f.reissue(leaf, ca, pki.Subject{CommonName: old.Subject.CommonName, Organizations: old.Subject.Organization, DNSNames: old.DNSNames, IPs: old.IPAddresses}, pki.UsagesOf(old))
}

func (f *fixture) reissue(leaf, ca string, subj pki.Subject, usages []pki.Usage) {
	f.t.Helper()
	kd, _ := os.ReadFile(f.path("pki/" + leaf + ".key"))
	key, err := pki.ParsePrivateKey(kd)
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := f.loadCA(ca).Sign(pki.Request{Subject: subj, Usages: usages, Validity: 365 * 24 * time.Hour}, key.Public(), now, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.write("pki/"+leaf+".crt", pki.MarshalCert(c))
}

// TestKubeadmDefaults audits what the real kubeadm of the pinned release
// writes: its manifests and PKI.
func TestKubeadmDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real kubeadm")
	}
	kubeadm := pinned.Path(t, "kubeadm")
	root := t.TempDir()
	ip := hostIP(t)
	cfg := "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: " + ip +
		"\nnodeRegistration:\n  name: cp-1\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.36.3\n"
	if err := os.WriteFile(filepath.Join(root, "kubeadm.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, phase := range [][]string{{"certs", "all"}, {"kubeconfig", "all"}, {"control-plane", "all"}, {"etcd", "local"}} {
		args := append(append([]string{"init", "phase"}, phase...), "--config", "/kubeadm.yaml", "--rootfs", root)
		if out, err := exec.Command(kubeadm, args...).CombinedOutput(); err != nil {
			t.Fatalf("kubeadm %v: %v\n%s", phase, err, out)
		}
	}
	r, err := audit.Static(audit.Options{Dir: filepath.Join(root, "etc/kubernetes"), Now: time.Now(), WarnWithin: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"etcd:separate-peer-ca",
		"kube-apiserver:admission:DenyServiceExternalIPs",
		"kube-apiserver:anonymous-auth", "kube-apiserver:audit-log-path", "kube-apiserver:audit-policy-file",
		"kube-apiserver:encryption-provider-config", "kube-apiserver:profiling",
		"kube-apiserver:service-account-extend-token-expiration", "kube-apiserver:tls-cipher-suites",
		"kube-controller-manager:cluster-signing-duration", "kube-controller-manager:profiling",
		"kube-controller-manager:terminated-pod-gc-threshold",
		"kube-scheduler:profiling",
	}
	if got := above(r); !slices.Equal(got, want) {
		t.Errorf("kubeadm defaults: findings %v, want %v", got, want)
		for _, fd := range r.Findings {
			t.Logf("%s %s %s", fd.Severity, fd.ID, fd.Evidence)
		}
	}
}

func hostIP(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("hostname", "-I").Output()
	if err != nil || len(strings.Fields(string(out))) == 0 {
		t.Skip("no host address for kubeadm")
	}
	return strings.Fields(string(out))[0]
}

func TestFormats(t *testing.T) {
	f := newFixture(t)
	f.editPod("etcd", without("client-cert-auth"))
	r := f.run()
	for _, format := range audit.Formats {
		var buf bytes.Buffer
		if err := r.Write(&buf, format); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		switch format {
		case "json":
			var back audit.Report
			if err := json.Unmarshal(buf.Bytes(), &back); err != nil || len(back.Findings) != len(r.Findings) {
				t.Fatalf("json round trip: %v", err)
			}
		case "junit":
			var suite struct {
				Tests    int `xml:"tests,attr"`
				Failures int `xml:"failures,attr"`
			}
			if err := xml.Unmarshal(buf.Bytes(), &suite); err != nil || suite.Failures != len(r.Findings) || suite.Tests != r.Checked {
				t.Fatalf("junit: %v %+v", err, suite)
			}
		case "table":
			if !strings.Contains(buf.String(), "etcd:client-cert-auth") {
				t.Fatalf("table lacks the finding:\n%s", buf.String())
			}
		}
	}
	if err := r.Write(&bytes.Buffer{}, "xml"); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func BenchmarkStaticAudit(b *testing.B) {
	dir := b.TempDir()
	d, _ := store.Open(dir)
	_ = d.Init()
	p, _ := plan.New(config.Default("cp-1"))
	opts := provision.Options{Now: func() time.Time { return now }}
	if _, err := provision.Init(d, p, opts); err != nil {
		b.Fatal(err)
	}
	if _, err := provision.Render(d, p, render.Options{Root: dir}, opts); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := audit.Static(audit.Options{Dir: dir, Root: dir, Now: now}); err != nil {
			b.Fatal(err)
		}
	}
}
