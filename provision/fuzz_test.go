package provision_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/testutil"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
)

// FuzzDerive: a folder whose API server manifest and admin kubeconfig are
// anything (the parsers of untrusted input Derive adds: a static Pod's
// flags and image, a kubeconfig's server and cluster) is derived without
// a panic into a configuration that validates, or refused with
// ErrUnderivable.
func FuzzDerive(f *testing.F) {
	// One node: the fewest files for Derive to read per input.
	p := testutil.Plan(f, clusterDoc("ecdsa-p256", 1, 1))
	d, _ := initDir(f, p, clock(t0))
	if _, err := provision.Render(d, p, render.Options{}, clock(t0)); err != nil {
		f.Fatal(err)
	}
	var manifestFile string
	manifests, err := d.Walk(".")
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range manifests {
		if filepath.Base(m) == "kube-apiserver.yaml" && !strings.Contains(m, "/mounts/") && manifestFile == "" {
			manifestFile = m
		}
	}
	manifest, err := d.Read(manifestFile)
	if err != nil {
		f.Fatal(err)
	}
	admin, err := d.ReadSecret("admin.conf")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(manifest, admin)
	f.Add([]byte("kind: Pod\nspec: {containers: [{image: x/kube-apiserver:v1.2.3, command: [--service-cluster-ip-range=10.96.0.0/12, --client-ca-file=/a/pki/ca.crt]}]}\n"), admin)
	f.Add([]byte("{}"), []byte("apiVersion: v1\nkind: Config\n"))
	// One folder per fuzzing process, its two files rewritten for each
	// input: Derive only reads.
	dir := d.Root()
	_ = os.Remove(filepath.Join(dir, "bulwark.yaml"))
	f.Fuzz(func(t *testing.T, manifest, admin []byte) {
		if err := os.WriteFile(filepath.Join(dir, manifestFile), manifest, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "admin.conf"), admin, 0o600); err != nil {
			t.Fatal(err)
		}
		sd, err := store.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer sd.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			cfg, err := provision.Derive(sd)
			if err != nil {
				if !errors.Is(err, provision.ErrUnderivable) {
					t.Errorf("Derive: %v, not ErrUnderivable", err)
				}
				return
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("derived configuration does not validate: %v", err)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Derive did not end within 10s")
		}
	})
}
