package render_test

import (
	"bytes"
	"crypto/rand"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/render"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func testPlan(t *testing.T, doc string) *plan.Plan {
	t.Helper()
	c, err := config.Parse([]byte(doc), "node-a")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const threeNodes = `apiVersion: bulwark.dev/v1alpha1
kind: ClusterConfig
apiEndpoint: 10.0.0.10:6443
controlPlane:
  - {name: cp-1, ips: [10.0.0.11]}
  - {name: cp-2, ips: [10.0.0.12]}
  - {name: cp-3, ips: [10.0.0.13]}
`

const oneNode = `apiVersion: bulwark.dev/v1alpha1
kind: ClusterConfig
controlPlane:
  - {name: cp-1, ips: [10.0.0.11]}
`

// TestGoldenFlags pins every rendered command line. Regenerate with
// go test ./render -update, and review the diff: it is the hardening.
func TestGoldenFlags(t *testing.T) {
	for _, tc := range []struct{ name, doc string }{{"one-node", oneNode}, {"three-nodes", threeNodes}} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := render.Derived(testPlan(t, tc.doc), render.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			for _, f := range files {
				if !strings.HasPrefix(f.Path, "manifests/") {
					continue
				}
				pod := decodePod(t, f)
				got.WriteString("# " + f.Path + "\n")
				for _, a := range pod.Spec.Containers[0].Command {
					got.WriteString(a + "\n")
				}
			}
			golden := filepath.Join("testdata", tc.name+".flags")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./render -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("rendered flags differ from %s; run go test ./render -update and review the diff\n%s", golden, got.String())
			}
		})
	}
}

func decodePod(t *testing.T, f render.File) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(f.Data, &pod); err != nil {
		t.Fatalf("%s does not decode strictly as a Pod: %v", f.Path, err)
	}
	if pod.Kind != "Pod" || pod.APIVersion != "v1" || len(pod.Spec.Containers) != 1 {
		t.Fatalf("%s: unexpected Pod %s/%s with %d containers", f.Path, pod.APIVersion, pod.Kind, len(pod.Spec.Containers))
	}
	return pod
}

// TestStrictDecode decodes every rendered file with the real Kubernetes
// type it claims to be.
func TestStrictDecode(t *testing.T) {
	p := testPlan(t, threeNodes)
	files, err := render.Derived(p, render.Options{Root: "/srv/k8s"})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := render.EncryptionConfig(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, render.File{Path: layout.EncryptionConfigFile, Data: enc})
	seen := map[string]bool{}
	for _, f := range files {
		seen[f.Path] = true
		switch {
		case strings.HasPrefix(f.Path, "manifests/"):
			pod := decodePod(t, f)
			c := pod.Spec.Containers[0]
			// Every file a flag names is mounted read-only at the same path, and
			// nothing else under the root is mounted.
			mounted := map[string]bool{}
			for _, m := range c.VolumeMounts {
				if strings.HasPrefix(m.MountPath, "/srv/k8s/") {
					if !m.ReadOnly {
						t.Errorf("%s: %s mounted read-write", f.Path, m.MountPath)
					}
					mounted[m.MountPath] = true
				}
			}
			named := map[string]bool{}
			for _, a := range c.Command[1:] {
				_, v, _ := strings.Cut(a, "=")
				if strings.HasPrefix(v, "/srv/k8s/") {
					named[v] = true
				}
			}
			for v := range named {
				if !mounted[v] {
					t.Errorf("%s: %s is named by a flag but not mounted", f.Path, v)
				}
			}
			for m := range mounted {
				if !named[m] {
					t.Errorf("%s: %s is mounted but no flag uses it", f.Path, m)
				}
			}
			if !pod.Spec.HostNetwork {
				t.Errorf("%s: not on the host network", f.Path)
			}
		case f.Path == layout.KubeletConfigFile:
			var kc kubeletv1beta1.KubeletConfiguration
			if err := yaml.UnmarshalStrict(f.Data, &kc); err != nil {
				t.Fatalf("%s: %v", f.Path, err)
			}
			if kc.Authentication.Anonymous.Enabled == nil || *kc.Authentication.Anonymous.Enabled ||
				kc.Authorization.Mode != kubeletv1beta1.KubeletAuthorizationModeWebhook ||
				kc.ReadOnlyPort != 0 || kc.RotateCertificates != true || !kc.ProtectKernelDefaults ||
				kc.Authentication.X509.ClientCAFile != "/srv/k8s/pki/ca.crt" || kc.TLSMinVersion != "VersionTLS12" {
				t.Errorf("kubelet configuration is not hardened: %s", f.Data)
			}
		case f.Path == layout.EncryptionConfigFile:
			var ec apiserverv1.EncryptionConfiguration
			if err := yaml.UnmarshalStrict(f.Data, &ec); err != nil {
				t.Fatalf("%s: %v", f.Path, err)
			}
			if err := render.ParseEncryptionConfig(f.Data); err != nil {
				t.Error(err)
			}
		case f.Path == layout.AuthnConfigFile:
			var ac apiserverv1.AuthenticationConfiguration
			if err := yaml.UnmarshalStrict(f.Data, &ac); err != nil {
				t.Fatalf("%s: %v", f.Path, err)
			}
			var paths []string
			for _, c := range ac.Anonymous.Conditions {
				paths = append(paths, c.Path)
			}
			slices.Sort(paths)
			if !slices.Equal(paths, []string{"/healthz", "/livez", "/readyz"}) {
				t.Errorf("anonymous allowed on %v, want the health endpoints only", paths)
			}
		case f.Path == layout.AuditPolicyFile:
			var pol auditv1.Policy
			if err := yaml.UnmarshalStrict(f.Data, &pol); err != nil {
				t.Fatalf("%s: %v", f.Path, err)
			}
		default:
			t.Errorf("unexpected rendered file %s", f.Path)
		}
	}
	for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
		for _, comp := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
			if want := "manifests/" + n + "/" + comp + ".yaml"; !seen[want] {
				t.Errorf("missing %s", want)
			}
		}
	}
}

// TestEveryAuditedSettingHasAReason keeps the table honest.
func TestEveryAuditedSettingHasAReason(t *testing.T) {
	ids := map[string]bool{}
	for _, s := range hardening.Settings() {
		if s.Reason == "" || strings.Contains(s.Reason, "\n") {
			t.Errorf("%s: reason must be one line", s.ID())
		}
		if ids[s.ID()] {
			t.Errorf("%s listed twice", s.ID())
		}
		ids[s.ID()] = true
		if s.Match != hardening.NotAudited && s.Severity == "" {
			t.Errorf("%s is audited but has no severity", s.ID())
		}
	}
}

func TestEncryptionKeysDiffer(t *testing.T) {
	a, err := render.EncryptionConfig(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := render.EncryptionConfig(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two encryption configurations share a key")
	}
	if err := render.ParseEncryptionConfig([]byte("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - identity: {}\n")); err == nil {
		t.Fatal("identity-first configuration accepted")
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []render.Options{{Root: "relative"}, {Root: "/a/../b"}, {KubernetesVersion: "1.36"}, {ImageRepository: "bad repo"}} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if err := (render.Options{}).Validate(); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
}
