package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/pinned"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
)

// TestExportedNodeAndAdminCertificates: a folder encrypted to its
// administrators from init on; `export --node` writes the node's files
// (decrypted, with their modes, without the CA keys and kubeconfigs the
// node does not need) and the control plane starts from them. Then an
// administrator certificate issued for 2 minutes works, and gets 401 once
// it has expired; deleting its group's binding revokes another at once.
func TestExportedNodeAndAdminCertificates(t *testing.T) {
	for _, tool := range []string{"ssh-keygen", "age"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps)", tool)
		}
	}
	keys := t.TempDir()
	sshKey := func(name string) (string, string) {
		p := filepath.Join(keys, name)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		pub, err := os.ReadFile(p + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		return p, strings.TrimSpace(string(pub))
	}
	alice, alicePub := sshKey("alice")
	carol, carolPub := sshKey("carol")

	dir := filepath.Join(t.TempDir(), "cluster") // the encrypted folder
	out := t.TempDir()                           // the node's folder, its --root
	c := &cluster{dir: out, apiPort: pinned.FreePort(t)}
	c.apiPorts = map[string]int{"127.0.0.1": c.apiPort}
	cfg := filepath.Join(t.TempDir(), "cluster.yaml")
	doc := fmt.Sprintf("apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\napiEndpoint: 127.0.0.1:%d\ncontrolPlane:\n  - {name: cp-1, ips: [127.0.0.1]}\n", c.apiPort)
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	bulwark(t, "init", "--dir", dir, "--config", cfg, "--root", out, "--recipient", "alice="+alicePub, "--identity", alice)
	bulwark(t, "export", "--node", "cp-1", "--dir", dir, "--identity", alice, "--out", out, "--root", out)

	t.Run("the node gets what its components mount, nothing more", func(t *testing.T) {
		kcm, api, etcd := layout.MountsDir+"/kube-controller-manager/", layout.MountsDir+"/kube-apiserver/", layout.MountsDir+"/etcd/"
		for _, f := range []string{kcm + "pki/ca.key", kcm + "pki/sa.key", api + "pki/sa.key", api + "pki/apiserver.key", etcd + "pki/etcd/server.key",
			kcm + "controller-manager.conf", layout.MountsDir + "/kube-scheduler/scheduler.conf", api + "encryption-config.yaml",
			"manifests/kube-apiserver.yaml", "kubelet/config.yaml", "bootstrap-kubelet.conf"} {
			fi, err := os.Stat(c.path(f))
			if err != nil {
				t.Errorf("%s not exported: %v", f, err)
				continue
			}
			own := f
			if _, rest, ok := strings.Cut(f, layout.MountsDir+"/"); ok {
				_, own, _ = strings.Cut(rest, "/") // the Pod's copy of a file of the folder
			}
			if want := layout.Classify(own).Mode(); fi.Mode().Perm() != want {
				t.Errorf("%s: mode %04o, want %04o", f, fi.Mode().Perm(), want)
			}
		}
		for _, f := range []string{"pki/ca.key", "pki/sa.key", "pki/apiserver.key"} {
			if _, err := os.Stat(c.path(f)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exported outside the Pods' folders: %v", f, err)
			}
		}
		for _, f := range []string{"pki/etcd/ca.key", "pki/etcd/peer-ca.key", "pki/front-proxy-ca.key", "admin.conf", "super-admin.conf", layout.RecipientsDir} {
			if _, err := os.Stat(c.path(f)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exported to a node: %v", f, err)
			}
		}
		if _, err := pki.ParsePrivateKey(readOut(t, c.path(kcm+"pki/ca.key"))); err != nil {
			t.Fatalf("exported pki/ca.key is not a plaintext key: %v", err)
		}
	})

	// The test's etcd health probe needs a client certificate that no
	// node runs with (etcd's own probe is plain HTTP on the metrics
	// port): the test decrypts it beside the node's files for itself.
	for _, f := range []string{"pki/etcd/healthcheck-client.key", "pki/etcd/healthcheck-client.crt", "pki/etcd/ca.crt"} {
		data := readOut(t, filepath.Join(dir, f))
		if layout.Classify(f).Secret() {
			data = decrypt(t, alice, filepath.Join(dir, f))
		}
		if err := os.MkdirAll(filepath.Dir(c.path(f)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.path(f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.startEtcd(t, "cp-1")
	c.startAPIServer(t)
	kcmPort, schedPort := pinned.FreePort(t), pinned.FreePort(t)
	c.startSidecar(t, "kube-controller-manager", kcmPort)
	c.startSidecar(t, "kube-scheduler", schedPort)

	// super-admin.conf, decrypted for the test only (outside both
	// folders), applies the bindings.
	super := filepath.Join(t.TempDir(), "super-admin.conf")
	if err := os.WriteFile(super, decrypt(t, alice, filepath.Join(dir, "super-admin.conf")), 0o600); err != nil {
		t.Fatal(err)
	}
	mustKubectlAt(t, super, "apply", "-f", filepath.Join(dir, "cluster", "rbac.yaml"))
	pinned.WaitFor(t, "the controller manager's leader lease", 90*time.Second, func() error {
		_, err := kubectlAt(t, super, "get", "lease", "-n", "kube-system", "kube-controller-manager")
		return err
	})

	bulwark(t, "admin", "add", "carol", "--dir", dir, "--recipient", carolPub, "--identity", alice)
	issue := func(ttl string) string {
		t.Helper()
		req := t.TempDir()
		bulwark(t, "admin", "request", "--name", "carol", "--key", carol, "--out", req)
		bulwark(t, "admin", "sign", filepath.Join(req, "carol.request"), "--dir", dir, "--identity", alice, "--ttl", ttl, "--out", req)
		return filepath.Join(req, "carol.conf")
	}

	t.Run("a 2-minute certificate works, then gets 401 once expired", func(t *testing.T) {
		conf := issue("2m")
		crt, err := pki.ParseCert(readOut(t, filepath.Join(filepath.Dir(conf), "carol.crt")))
		if err != nil {
			t.Fatal(err)
		}
		if life := crt.NotAfter.Sub(crt.NotBefore); life > 2*time.Minute+pki.Backdate {
			t.Fatalf("certificate lives %v", life)
		}
		outp := mustKubectlAt(t, conf, "auth", "whoami")
		if !strings.Contains(outp, "bulwark-admin:carol") || !strings.Contains(outp, "bulwark:cluster-admins") {
			t.Fatalf("whoami: %s", outp)
		}
		mustKubectlAt(t, conf, "get", "namespaces")
		pinned.WaitFor(t, "401 after the certificate's end", time.Until(crt.NotAfter)+90*time.Second, func() error {
			o, err := kubectlAt(t, conf, "get", "namespaces")
			if err == nil {
				if time.Now().After(crt.NotAfter.Add(30 * time.Second)) {
					t.Fatalf("still accepted 30s after its end (%s)", crt.NotAfter)
				}
				return errors.New("still accepted")
			}
			if !strings.Contains(o, "Unauthorized") {
				return fmt.Errorf("not a 401: %s", o)
			}
			if time.Now().Before(crt.NotAfter) {
				t.Fatalf("refused before its end (%s): %s", crt.NotAfter, o)
			}
			return nil
		})
	})

	t.Run("deleting the group's binding revokes at once", func(t *testing.T) {
		conf := issue("10m")
		mustKubectlAt(t, conf, "get", "namespaces")
		mustKubectlAt(t, super, "delete", "clusterrolebinding", "bulwark:cluster-admins")
		pinned.WaitFor(t, "403 after the binding is gone", 10*time.Second, func() error {
			o, err := kubectlAt(t, conf, "get", "namespaces")
			if err == nil {
				return errors.New("still allowed")
			}
			if !strings.Contains(o, "Forbidden") {
				return fmt.Errorf("not a 403: %s", o)
			}
			return nil
		})
	})
}

func readOut(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// decrypt runs the real age binary.
func decrypt(t *testing.T, identity, file string) []byte {
	t.Helper()
	out, err := exec.Command("age", "-d", "-i", identity, file).Output()
	if err != nil {
		t.Fatalf("age -d %s: %v", file, err)
	}
	return out
}

func kubectlAt(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return pinned.Run(ctx, pinned.Path(t, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
}

func mustKubectlAt(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	out, err := kubectlAt(t, kubeconfig, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}
