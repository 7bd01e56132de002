package render_test

import (
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"testing"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/internal/testutil"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/render"
)

// folder is a fake folder's content for a Reader.
type folder map[string]string

func (f folder) read(rel string) ([]byte, error) {
	if v, ok := f[rel]; ok {
		return []byte(v), nil
	}
	return nil, fs.ErrNotExist
}

// TestReloadedInputs pins which files a running component takes by
// itself: exactly the pairs e2e/threenodes_test.go shows reloaded by the
// real components, and the CA files e2e/rotate_test.go shows reloaded (the
// API server's client and request-header CAs, the controller manager's
// signing pair: a rotation's trust and reissue steps reach them without a
// restart, under load).
func TestReloadedInputs(t *testing.T) {
	r, err := render.Derived(testutil.Plan(t, oneNode), render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[hardening.Component][]string{
		hardening.Etcd: {"pki/etcd/peer.crt", "pki/etcd/peer.key", "pki/etcd/server.crt", "pki/etcd/server.key"},
		hardening.APIServer: {"pki/apiserver-kubelet-client.crt", "pki/apiserver-kubelet-client.key",
			"pki/apiserver.crt", "pki/apiserver.key", "pki/ca.crt", "pki/front-proxy-ca.crt", "pki/front-proxy-client.crt", "pki/front-proxy-client.key"},
		hardening.ControllerManager: {"pki/ca-signer.crt", "pki/ca.key", "pki/front-proxy-ca.crt"},
		hardening.Scheduler:         nil,
	}
	for _, pod := range r.Pods {
		var got []string
		for _, in := range pod.Inputs {
			if in.Reloaded {
				got = append(got, in.File)
			}
		}
		if !slices.Equal(got, want[pod.Component]) {
			t.Errorf("%s reloads %v, want %v", pod.Component, got, want[pod.Component])
		}
		if pod.MountDir != "mounts/"+string(pod.Component) || pod.Manifest != "manifests/"+string(pod.Component)+".yaml" {
			t.Errorf("one host: %s in %s, links in %s", pod.Component, pod.Manifest, pod.MountDir)
		}
	}
}

// TestChecksumFollowsStartOnlyInputs: a Pod's checksum changes when, and
// only when, a file it reads only at start changes, appears or goes; a
// change to a file it reloads leaves its manifest as it was.
func TestChecksumFollowsStartOnlyInputs(t *testing.T) {
	p := testutil.Plan(t, oneNode)
	r, err := render.Derived(p, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := folder{}
	for _, pod := range r.Pods {
		for _, in := range pod.Inputs {
			base[in.File] = "v1 of " + in.File
		}
	}
	manifests := func(f folder) map[string]string {
		files, err := r.Files(f.read)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, file := range files {
			if layout.Classify(file.Path) == layout.Manifest {
				out[file.Path] = string(file.Data)
			}
		}
		return out
	}
	before := manifests(base)
	for _, tc := range []struct {
		file    string
		restart []string // components whose manifest changes
	}{
		{"pki/apiserver.crt", nil},
		{"pki/front-proxy-client.key", nil},
		{"pki/apiserver-kubelet-client.crt", nil},
		{"pki/etcd/server.crt", nil},
		{"pki/etcd/peer.crt", nil},
		{"pki/apiserver-etcd-client.crt", []string{"kube-apiserver"}},
		{"pki/etcd/ca.crt", []string{"etcd", "kube-apiserver"}},
		{"pki/ca.crt", []string{"kube-controller-manager"}}, // --root-ca-file; the API server reloads its client CA
		{"pki/ca-signer.crt", nil},
		{"pki/front-proxy-ca.crt", nil},
		{"controller-manager.conf", []string{"kube-controller-manager"}},
		{"scheduler.conf", []string{"kube-scheduler"}},
		{layout.EncryptionConfigFile, []string{"kube-apiserver"}},
		{"pki/sa.key", []string{"kube-apiserver", "kube-controller-manager"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			if _, ok := base[tc.file]; !ok {
				t.Fatalf("%s is no Pod's input", tc.file)
			}
			for _, change := range []string{"changed", "missing"} {
				f := maps.Clone(base)
				if change == "changed" {
					f[tc.file] = "v2"
				} else {
					delete(f, tc.file)
				}
				after := manifests(f)
				var changed []string
				for file, data := range after {
					if data != before[file] {
						if !render.SameButChecksum([]byte(data), []byte(before[file])) {
							t.Errorf("%s changed beyond its checksum", file)
						}
						changed = append(changed, file)
					}
				}
				slices.Sort(changed)
				var want []string
				for _, comp := range tc.restart {
					want = append(want, "manifests/"+comp+".yaml")
				}
				if !slices.Equal(changed, want) {
					t.Errorf("%s %s: manifests changed %v, want %v", tc.file, change, changed, want)
				}
			}
		})
	}
	// Rendering is repeatable: the same inputs give the same manifests.
	if again := manifests(base); !maps.Equal(again, before) {
		t.Error("the same inputs gave other manifests")
	}
}

// TestOptionsOf reads the options back from what render wrote, and
// refuses what it did not write.
func TestOptionsFromManifest(t *testing.T) {
	o := render.Options{Root: "/srv/k8s", ImageRepository: "registry.example/k8s", KubernetesVersion: "v1.36.1", EtcdVersion: "3.6.9-0"}
	for _, f := range derived(t, testutil.Plan(t, threeNodes), o, none) {
		if layout.Classify(f.Path) != layout.Manifest {
			continue
		}
		got, comp, ok := render.OptionsFromManifest(f.Data)
		if !ok {
			t.Fatalf("%s not read back", f.Path)
		}
		want := render.Options{Root: o.Root, ImageRepository: o.ImageRepository}
		if comp == hardening.Etcd {
			want.EtcdVersion = o.EtcdVersion
		} else {
			want.KubernetesVersion = o.KubernetesVersion
		}
		if got != want {
			t.Errorf("%s (%s): %+v, want %+v", f.Path, comp, got, want)
		}
	}
	// A manifest of an earlier release mounted files one by one: the root
	// is read from its flags.
	old := "apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {" + layout.ManagedByLabel + ": " + layout.ManagedBy + "}\n" +
		"spec:\n  containers:\n  - name: kube-scheduler\n    image: registry.k8s.io/kube-scheduler:v1.36.3\n" +
		"    command: [kube-scheduler, --kubeconfig=/opt/k/scheduler.conf, --client-ca-file=/opt/k/pki/ca.crt]\n"
	if got, _, ok := render.OptionsFromManifest([]byte(old)); !ok || got.Root != "/opt/k" || got.KubernetesVersion != "v1.36.3" {
		t.Errorf("earlier manifest: %+v %v", got, ok)
	}
	for _, doc := range []string{
		"apiVersion: v1\nkind: Pod\nmetadata: {name: kube-apiserver}\nspec:\n  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.36.3\n",
		"kind: ConfigMap\n",
		"\x00not yaml",
	} {
		if _, _, ok := render.OptionsFromManifest([]byte(doc)); ok {
			t.Errorf("%q read as bulwark's", doc)
		}
	}
}

func ExampleRendered_Files() {
	// The checksum is known only once the files exist.
	p := mustPlan(oneNode)
	r, _ := render.Derived(p, render.Options{})
	files, _ := r.Files(folder{"scheduler.conf": "a kubeconfig"}.read)
	for _, f := range files {
		if f.Path == "manifests/kube-scheduler.yaml" {
			got, _, _ := render.OptionsFromManifest(f.Data)
			fmt.Println(got.Root)
		}
	}
	// Output: /etc/kubernetes
}

func mustPlan(doc string) *plan.Plan {
	c, err := config.Parse([]byte(doc), "node-a")
	if err != nil {
		panic(err)
	}
	p, err := plan.New(c)
	if err != nil {
		panic(err)
	}
	return p
}
