package render_test

import (
	"bytes"
	"crypto/rand"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/internal/testutil"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/render"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

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
			files := derived(t, testutil.Plan(t, tc.doc), render.Options{}, none)
			var got bytes.Buffer
			for _, f := range files {
				if !strings.Contains(f.Path, "manifests/") {
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

// none reads an empty folder.
func none(string) ([]byte, error) { return nil, fs.ErrNotExist }

func derived(t *testing.T, p *plan.Plan, o render.Options, read render.Reader) []render.File {
	t.Helper()
	r, err := render.Derived(p, o)
	if err != nil {
		t.Fatal(err)
	}
	files, err := r.Files(read)
	if err != nil {
		t.Fatal(err)
	}
	return files
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
	p := testutil.Plan(t, threeNodes)
	r, err := render.Derived(p, render.Options{Root: "/srv/k8s"})
	if err != nil {
		t.Fatal(err)
	}
	files, err := r.Files(none)
	if err != nil {
		t.Fatal(err)
	}
	pods := map[string]render.Pod{}
	for _, pod := range r.Pods {
		pods[pod.Manifest] = pod
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
		case strings.Contains(f.Path, "manifests/"):
			pod := decodePod(t, f)
			c := pod.Spec.Containers[0]
			rp, ok := pods[f.Path]
			if !ok {
				t.Fatalf("%s is not the manifest of a Pod of Derived", f.Path)
			}
			// The Pod mounts one folder under the root: its own folder of
			// links, read-only, at the root itself; its links are exactly the
			// files its flags name.
			var under []corev1.VolumeMount
			for _, m := range c.VolumeMounts {
				if m.MountPath == "/srv/k8s" || strings.HasPrefix(m.MountPath, "/srv/k8s/") {
					under = append(under, m)
				}
			}
			if len(under) != 1 || under[0].MountPath != "/srv/k8s" || !under[0].ReadOnly || under[0].Name != render.FilesVolume {
				t.Errorf("%s: mounts under the root %+v, want its folder of links read-only at the root", f.Path, under)
			}
			for _, v := range pod.Spec.Volumes {
				if v.Name == render.FilesVolume && (v.HostPath == nil || v.HostPath.Path != "/srv/k8s/"+rp.MountDir || *v.HostPath.Type != corev1.HostPathDirectory) {
					t.Errorf("%s: files volume %+v, want the folder /srv/k8s/%s", f.Path, v.VolumeSource, rp.MountDir)
				}
			}
			if want := "nodes/" + rp.Node + "/mounts/" + string(rp.Component); rp.MountDir != want {
				t.Errorf("%s: links in %s, want %s", f.Path, rp.MountDir, want)
			}
			linked := map[string]bool{}
			for _, in := range rp.Inputs {
				linked["/srv/k8s/"+in.File] = true
				if rp.Link(in) != rp.MountDir+"/"+in.File {
					t.Errorf("%s: link of %s is %s", f.Path, in.File, rp.Link(in))
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
				if !linked[v] {
					t.Errorf("%s: %s is named by a flag but not linked", f.Path, v)
				}
			}
			for m := range linked {
				if !named[m] {
					t.Errorf("%s: %s is linked but no flag uses it", f.Path, m)
				}
			}
			if got := pod.Annotations[layout.InputsAnnotation]; !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(got) {
				t.Errorf("%s: inputs annotation %q", f.Path, got)
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
			if want := "nodes/" + n + "/manifests/" + comp + ".yaml"; !seen[want] {
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
	for _, o := range []render.Options{{Root: "relative"}, {Root: "/a/../b"}, {Root: "/"}, {KubernetesVersion: "1.36"}, {ImageRepository: "bad repo"}} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if err := (render.Options{}).Validate(); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
}
