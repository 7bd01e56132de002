package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/layout"
)

// neverOnANode are the files of a three-node folder that go to no node.
var neverOnANode = []string{"pki/etcd/ca.key", "pki/etcd/peer-ca.key", "pki/front-proxy-ca.key", "admin.conf", "super-admin.conf", "bulwark.yaml"}

// TestExportFromTheTables: what a node gets follows from the tables and
// the saved configuration. A kubelet configuration or a manifest that
// names other files (super-admin.conf, the CA keys), another image, an
// extra hostPath, privileged, an extra flag: one line, exit 1, nothing
// written. Unchanged, the node gets its own files and none of the files
// that go to no node, whatever their names or contents.
func TestExportFromTheTables(t *testing.T) {
	base := binTree(t, threeNodeConfig)
	hostile := "x: [/etc/kubernetes/super-admin.conf, /etc/kubernetes/pki/etcd/ca.key, /etc/kubernetes/pki/front-proxy-ca.key, /etc/kubernetes/pki/etcd/peer-ca.key, /etc/kubernetes/admin.conf]\n"
	api := "nodes/cp-1/manifests/kube-apiserver.yaml"
	for _, c := range []struct {
		name, file string
		edit       func(string) string
	}{
		{"kubelet configuration names keys", layout.KubeletConfigFile, func(s string) string { return s + hostile }},
		{"kubelet configuration turns anonymous on", layout.KubeletConfigFile, func(s string) string {
			return strings.Replace(s, "anonymous:\n    enabled: false", "anonymous:\n    enabled: true", 1)
		}},
		{"manifest annotation names keys", api, func(s string) string {
			return strings.Replace(s, "annotations:\n", "annotations:\n    x: /etc/kubernetes/super-admin.conf\n", 1)
		}},
		{"image", api, func(s string) string {
			return strings.Replace(s, "image: registry.k8s.io/kube-apiserver", "image: evil.example.com/kube-apiserver", 1)
		}},
		{"hostPath of /", api, func(s string) string {
			return strings.Replace(s, "  volumes:\n", "  volumes:\n  - hostPath:\n      path: /\n    name: host\n", 1)
		}},
		{"privileged", api, func(s string) string {
			return strings.Replace(s, "      allowPrivilegeEscalation: false\n", "      allowPrivilegeEscalation: false\n      privileged: true\n", 1)
		}},
		{"extra flag", api, func(s string) string {
			return strings.Replace(s, "    - kube-apiserver\n", "    - kube-apiserver\n    - --anonymous-auth=true\n", 1)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := copyOf(t, base)
			old := string(readFile(t, dir, c.file))
			edited := c.edit(old)
			if edited == old {
				t.Fatalf("the edit changed nothing in %s:\n%s", c.file, old)
			}
			if err := os.WriteFile(filepath.Join(dir, c.file), []byte(edited), 0o600); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, dir)
			out := filepath.Join(t.TempDir(), "cp-1")
			r := runBin(t, "export", "--node", "cp-1", "--dir", dir, "--out", out)
			if r.code != cli.ExitError || !strings.Contains(errorLine(t, r), c.file) || !strings.Contains(r.stderr, "differs from what `bulwark render` makes") {
				t.Fatalf("want exit 1 naming %s\n%v", c.file, r)
			}
			if _, err := os.Lstat(out); err == nil {
				t.Errorf("a refused export wrote %v", files(t, out))
			}
			unchanged(t, dir, before)
		})
	}

	t.Run("unchanged: the node's own files, none that go to no node", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "cp-1")
		mustRunBin(t, "export", "--node", "cp-1", "--dir", base, "--out", out)
		got := files(t, out)
		for _, want := range []string{"manifests/kube-apiserver.yaml", "manifests/etcd.yaml", layout.KubeletConfigFile, "pki/ca.crt", "bootstrap-kubelet.conf",
			"nodes/cp-1/mounts/kube-controller-manager/pki/ca.key", "nodes/cp-1/mounts/kube-controller-manager/nodes/cp-1/controller-manager.conf"} {
			if !contains(got, want) {
				t.Errorf("%s not exported; got %v", want, got)
			}
		}
		never := map[string][]byte{}
		for _, f := range neverOnANode {
			never[f] = readFile(t, base, f)
		}
		for _, f := range got {
			for _, n := range neverOnANode {
				if f == n || strings.HasSuffix(f, "/"+n) {
					t.Errorf("%s exported", f)
				}
				if bytes.Equal(readFile(t, out, f), never[n]) {
					t.Errorf("%s holds %s", f, n)
				}
			}
			if strings.Contains(f, "cp-2") || strings.Contains(f, "cp-3") {
				t.Errorf("another node's file exported: %s", f)
			}
		}
		// What the node runs is what the folder holds, checksums included.
		for _, m := range []string{"kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler"} {
			if !bytes.Equal(readFile(t, out, "manifests/"+m+".yaml"), readFile(t, base, "nodes/cp-1/manifests/"+m+".yaml")) {
				t.Errorf("manifests/%s.yaml differs from the folder's", m)
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// TestExportOutPermissions: an existing --out, or a folder in it, that
// others may write to or that another user owns is refused before
// anything is written.
func TestExportOutPermissions(t *testing.T) {
	dir := binTree(t, threeNodeConfig)
	export := func(out string) result {
		return runBin(t, "export", "--node", "cp-1", "--dir", dir, "--out", out)
	}
	t.Run("out writable by others", func(t *testing.T) {
		out := t.TempDir()
		if err := os.Chmod(out, 0o777); err != nil {
			t.Fatal(err)
		}
		expectRefusal(t, export(out), cli.ExitError, out, "writable by others")
		if f := files(t, out); len(f) != 0 {
			t.Errorf("wrote %v", f)
		}
	})
	t.Run("a folder in out writable by the group", func(t *testing.T) {
		out := t.TempDir()
		if err := os.Mkdir(filepath.Join(out, "nodes"), 0o770); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(out, "nodes"), 0o770); err != nil {
			t.Fatal(err)
		}
		expectRefusal(t, export(out), cli.ExitError, filepath.Join(out, "nodes"), "writable by others")
		if f := files(t, out); len(f) != 0 {
			t.Errorf("wrote %v", f)
		}
	})
	t.Run("private out: written", func(t *testing.T) {
		out := t.TempDir()
		if err := os.Chmod(out, 0o700); err != nil {
			t.Fatal(err)
		}
		if r := export(out); r.code != 0 {
			t.Fatalf("%v", r)
		}
	})
	if os.Geteuid() != 0 {
		t.Skip("needs root to run as another user")
	}
	t.Run("out owned by another user", func(t *testing.T) {
		out := t.TempDir()
		if err := os.Chown(out, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		expectRefusal(t, export(out), cli.ExitError, out, fmt.Sprintf("owned by uid %d", nobody))
		if f := files(t, out); len(f) != 0 {
			t.Errorf("wrote %v", f)
		}
	})
	t.Run("another user's export into a world-writable out", func(t *testing.T) {
		reachable(t, bulwarkBin)
		theirs := copyOf(t, dir)
		if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", nobody, nobody), theirs).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
		reachable(t, theirs)
		out := filepath.Join(t.TempDir(), "shared")
		if err := os.Mkdir(out, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(out, 0o1777); err != nil {
			t.Fatal(err)
		}
		reachable(t, out)
		expectRefusal(t, runAs(t, nobody, "export", "--node", "cp-1", "--dir", theirs, "--out", out), cli.ExitError, "writable by others")
		if f := files(t, out); len(f) != 0 {
			t.Errorf("wrote %v", f)
		}
		// Into a folder of their own it works.
		own := filepath.Join(out, "mine")
		if r := runAs(t, nobody, "export", "--node", "cp-1", "--dir", theirs, "--out", own); r.code != 0 {
			t.Fatalf("%v", r)
		}
	})
}

// TestExportRefusesExtraCA: a CA file with another CA appended would make
// the node trust it: export refuses, one line naming the file, exit 1,
// nothing written.
func TestExportRefusesExtraCA(t *testing.T) {
	base := binTree(t, threeNodeConfig)
	for _, f := range []string{"pki/ca.crt", "pki/etcd/ca.crt", "pki/front-proxy-ca.crt"} {
		t.Run(f, func(t *testing.T) {
			dir := copyOf(t, base)
			foreign := readFile(t, dir, "pki/etcd/peer-ca.crt")
			if err := os.WriteFile(filepath.Join(dir, f), append(readFile(t, dir, f), foreign...), 0o644); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, dir)
			out := filepath.Join(t.TempDir(), "cp-1")
			r := runBin(t, "export", "--node", "cp-1", "--dir", dir, "--out", out)
			if r.code != cli.ExitError || !strings.Contains(errorLine(t, r), f+" holds 1 CA certificate(s) beside its own") {
				t.Fatalf("want exit 1 naming %s\n%v", f, r)
			}
			if _, err := os.Lstat(out); err == nil {
				t.Errorf("a refused export wrote %v", files(t, out))
			}
			unchanged(t, dir, before)
		})
	}
}
