package audit_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	junit "github.com/joshdk/go-junit"

	"github.com/bulwark-k8s/bulwark/audit"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/layout"
)

func TestBulwarkOutputIsClean(t *testing.T) {
	r := newTree(t).run()
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
	slices.Sort(comps)
	if want := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"}; !slices.Equal(comps, want) {
		t.Fatalf("audited %v, want %v", comps, want)
	}
	// rbac lint ran on cluster/: bulwark's own bindings are the
	// administrators' and the API server's kubelet client's (info).
	for _, id := range []string{"RBAC017", "RBAC018"} {
		if !slices.ContainsFunc(r.Findings, func(f finding.Finding) bool { return f.ID == id && f.Severity == finding.Info }) {
			t.Errorf("no info %s from cluster/rbac.yaml", id)
		}
	}
}

// TestMultiNode audits a three-node folder node by node: each node's
// manifests are read, and a weakness planted on one node is reported with
// that node's name only.
func TestMultiNode(t *testing.T) {
	f := newTreeWith(t, threeNodes(t))
	r := f.run()
	if got := above(r); len(got) != 0 {
		t.Fatalf("findings above info on a three-node folder: %v", got)
	}
	nodes := map[string]int{}
	for _, comp := range r.Components {
		nodes[comp.Node]++
	}
	if nodes["cp-1"] != 4 || nodes["cp-2"] != 4 || nodes["cp-3"] != 4 {
		t.Fatalf("components per node: %v", nodes)
	}
	file := f.path(layout.NodeFile("cp-2", "manifests/kube-apiserver.yaml"))
	data := f.read(file)
	f.writeFile(file, bytes.Replace(data, []byte("--authorization-mode=Node,RBAC"), []byte("--authorization-mode=AlwaysAllow"), 1), 0o600)
	f.chmod(layout.NodeFile("cp-3", "manifests/etcd.yaml"), 0o644)
	r = f.run()
	var got []string
	for _, fd := range r.Findings {
		if fd.Severity != finding.Info {
			got = append(got, fd.ID+"@"+fd.Node)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"file:mode@cp-3", "kube-apiserver:authorization-mode@cp-2"}) {
		t.Fatalf("findings %v, want the authorization mode on cp-2 and a manifest's mode on cp-3", got)
	}
	var buf bytes.Buffer
	if err := r.Write(&buf, "table", f.dir, "test"); err != nil || !strings.Contains(buf.String(), "NODE") || !strings.Contains(buf.String(), "cp-2") {
		t.Fatalf("table lacks the node: %v\n%s", err, buf.String())
	}
}

// TestKubeadmDefaults audits what the real kubeadm of the pinned release
// writes: its manifests, PKI and kubelet configuration.
func TestKubeadmDefaults(t *testing.T) {
	r := newKubeadmTree(t).run()
	want := []string{
		"etcd:separate-peer-ca",
		"kube-apiserver:admission:DenyServiceExternalIPs",
		"kube-apiserver:anonymous-auth", "kube-apiserver:audit-log-path", "kube-apiserver:audit-policy-file",
		"kube-apiserver:encryption-provider-config", "kube-apiserver:profiling",
		"kube-apiserver:service-account-extend-token-expiration", "kube-apiserver:tls-cipher-suites",
		"kube-controller-manager:cluster-signing-duration", "kube-controller-manager:profiling",
		"kube-controller-manager:terminated-pod-gc-threshold",
		"kube-scheduler:profiling",
		"kubelet:podPidsLimit", "kubelet:protectKernelDefaults", "kubelet:seccompDefault", "kubelet:tlsCipherSuites",
		"pki:ca-path-length",
		"file:mode", // /var/lib/kubelet/config.yaml is 0644
	}
	slices.Sort(want)
	if got := above(r); !slices.Equal(got, want) {
		t.Errorf("kubeadm defaults: findings %v, want %v", got, want)
		for _, fd := range r.Findings {
			t.Logf("%s %s %s", fd.Severity, fd.ID, fd.Evidence)
		}
	}
}

// TestFormats writes every format and reads each back with a consumer of
// its own: JSON, SARIF (schema), JUnit (a JUnit XML parser: one test case
// per rule, info passes, accepted findings skipped).
func TestFormats(t *testing.T) {
	f := newTree(t)
	f.editPod("etcd", without("client-cert-auth", "trusted-ca-file"))
	f.writeFile(f.path(layout.AcceptFile), []byte("apiVersion: bulwark.dev/v1alpha1\nkind: AcceptedRisks\naccept:\n- rule: etcd:trusted-ca-file\n  scope: etcd\n  reason: the CA arrives with the next change\n"), 0o644)
	r := f.run()
	for _, format := range audit.Formats {
		var buf bytes.Buffer
		if err := r.Write(&buf, format, f.dir, "v1.2.3"); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		switch format {
		case "json":
			var back struct {
				Findings   []finding.Finding `json:"findings"`
				Components []audit.Component `json:"components"`
				Checked    int               `json:"checked"`
			}
			if err := json.Unmarshal(buf.Bytes(), &back); err != nil || len(back.Findings) != len(r.Findings) || back.Checked != r.Checked || len(back.Components) == 0 {
				t.Fatalf("json round trip: %v", err)
			}
		case "junit":
			suites, err := junit.Ingest(buf.Bytes())
			if err != nil || len(suites) != 1 {
				t.Fatalf("junit: %v (%d suites)\n%s", err, len(suites), buf.String())
			}
			s := suites[0]
			if s.Totals.Tests != len(audit.Rules().All()) {
				t.Errorf("junit: %d test cases, want one per rule (%d)", s.Totals.Tests, len(audit.Rules().All()))
			}
			status := map[string]junit.Status{}
			for _, tc := range s.Tests {
				id, _, _ := strings.Cut(tc.Name, ": ")
				status[id] = tc.Status
			}
			for id, want := range map[string]junit.Status{
				"etcd:client-cert-auth": junit.StatusFailed, "etcd:trusted-ca-file": junit.StatusSkipped,
				"pki:ca-key-present": junit.StatusPassed, "kube-apiserver:anonymous-auth": junit.StatusPassed,
			} {
				if status[id] != want {
					t.Errorf("junit: %s is %s, want %s", id, status[id], want)
				}
			}
		case "table":
			if !strings.Contains(buf.String(), "etcd:client-cert-auth") || !strings.Contains(buf.String(), "(accepted)") {
				t.Fatalf("table lacks the finding or the acceptance:\n%s", buf.String())
			}
		case "sarif":
			validateSARIF(t, buf.Bytes())
			s := buf.String()
			for _, want := range []string{`"uriBaseId": "CLUSTERDIR"`, `"uri": "manifests/etcd.yaml"`, `"security-severity": "9.5"`, `"version": "v1.2.3"`, `"suppressions"`, `"status": "accepted"`} {
				if !strings.Contains(s, want) {
					t.Errorf("sarif lacks %s", want)
				}
			}
		}
	}
	if err := r.Write(&bytes.Buffer{}, "xml", f.dir, "v"); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// TestAcceptedRisks: accepted findings stay in the report, marked; an
// acceptance that matches nothing and one that has expired are findings;
// a bad file is an error.
func TestAcceptedRisks(t *testing.T) {
	f := newTree(t)
	f.editPod("kube-apiserver", with("profiling", "true"))
	f.writeFile(f.path(layout.AcceptFile), []byte(`apiVersion: bulwark.dev/v1alpha1
kind: AcceptedRisks
accept:
- rule: kube-apiserver:profiling
  scope: kube-apiserver
  reason: profiling during the load tests (OPS-12)
- rule: kube-scheduler:profiling
  scope: "*"
  reason: nothing to cover
- rule: etcd:pprof
  scope: "*"
  reason: expired
  expires: 2020-01-01
`), 0o644)
	r := f.run()
	got := map[string]string{}
	for _, fd := range r.Findings {
		if fd.Severity == finding.Info {
			continue
		}
		state := string(fd.Severity)
		if fd.Accepted != nil {
			state = "accepted: " + fd.Accepted.Reason
		}
		got[fd.ID] = state
	}
	want := map[string]string{
		"kube-apiserver:profiling": "accepted: profiling during the load tests (OPS-12)",
		finding.AcceptUnusedID:     "low",
		finding.AcceptExpiredID:    "low",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if n := r.Failing(finding.Medium); n != 0 {
		t.Fatalf("%d findings fail at medium", n)
	}
	for _, bad := range []string{
		"kind: AcceptedRisks\naccept:\n- rule: kube-apiserver:profiling\n  scope: '*'\n",
		"kind: AcceptedRisks\naccept:\n- rule: no-such-rule\n  scope: '*'\n  reason: x\n",
		"kind: AcceptedRisks\naccept:\n- rule: kube-apiserver:profiling\n  scope: '['\n  reason: x\n",
		"kind: AcceptedRisks\naccept:\n- rule: kube-apiserver:profiling\n  scope: '*'\n  reason: x\n  expires: soon\n",
		"kind: Other\n",
	} {
		f.writeFile(f.path(layout.AcceptFile), []byte(bad), 0o644)
		if _, err := audit.Static(f.options()); err == nil || !strings.Contains(err.Error(), "invalid accepted risks") {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

// TestRulesDeclared: every rule has a problem-stating title, a
// remediation and a valid severity, and every finding names a declared
// rule.
func TestRulesDeclared(t *testing.T) {
	for _, ru := range audit.Rules().All() {
		if problemStated.MatchString(ru.Title) || ru.Remediation == "" || ru.Severity.Rank() < 0 {
			t.Errorf("rule %s: title %q, remediation %q, severity %q", ru.ID, ru.Title, ru.Remediation, ru.Severity)
		}
	}
	f := newTree(t)
	f.editPod("etcd", without("client-cert-auth"))
	for _, fd := range f.run().Findings {
		if _, ok := audit.Rules().Get(fd.ID); !ok {
			t.Errorf("finding %s has no declared rule", fd.ID)
		}
	}
}

// BenchmarkStaticAudit audits bulwark's own one-node folder, and the same
// with N more flags on the API server's command line (one a line of its
// manifest): the time per flag stays flat as N grows (linear in input
// size).
func BenchmarkStaticAudit(b *testing.B) {
	for _, n := range []int{0, 1000, 10000, 40000} {
		b.Run(fmt.Sprintf("flags=%d", n), func(b *testing.B) {
			f := newTreeB(b)
			f.editPodB(b, n)
			o := f.options()
			b.ResetTimer()
			for b.Loop() {
				if _, err := audit.Static(o); err != nil {
					b.Fatal(err)
				}
			}
			fi, _ := os.Stat(f.manifest("kube-apiserver"))
			b.ReportMetric(float64(fi.Size()), "manifest-bytes")
			if n > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/flag")
			}
		})
	}
}

var _ = filepath.Join
var _ = time.Now

// threeNodes is a configuration of three control-plane nodes (and etcd
// members).
func threeNodes(t testing.TB) *config.Cluster {
	c, err := config.Parse([]byte("apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\ncontrolPlane:\n- {name: cp-1, ips: [10.0.0.11]}\n- {name: cp-2, ips: [10.0.0.12]}\n- {name: cp-3, ips: [10.0.0.13]}\n"), "cp-1")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
