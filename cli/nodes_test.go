package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/cli"
)

// TestWarnsWithoutLoadBalancer: init and plan warn, on stderr only, when
// several control-plane nodes sit behind one node's own address, and
// still succeed; behind a load balancer they do not warn.
func TestWarnsWithoutLoadBalancer(t *testing.T) {
	noLB := strings.Replace(threeNodeConfig, "apiEndpoint: 10.0.0.10:6443\n", "", 1)
	for _, tc := range []struct {
		name, config string
		warn         bool
	}{{"default endpoint", noLB, true}, {"load balancer", threeNodeConfig, false}, {"one node", oneNodeConfig, false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, "cluster.yaml", tc.config)
			dir := filepath.Join(t.TempDir(), "cluster")
			for _, args := range [][]string{{"plan", "--config", cfg}, {"plan", "--config", cfg, "-o", "json"}, {"init", "--dir", dir, "--config", cfg}} {
				r := mustRun(t, args...)
				warned := strings.Contains(r.stderr, "bulwark: warning: apiEndpoint 10.0.0.11:6443 is control-plane node cp-1's own address")
				if warned != tc.warn {
					t.Errorf("%v: warned %v, want %v", r, warned, tc.warn)
				}
				if strings.Contains(r.stdout, "warning") {
					t.Errorf("%v: warning on stdout", r)
				}
				if args[len(args)-1] == "json" {
					var items []map[string]any
					if err := json.Unmarshal([]byte(r.stdout), &items); err != nil {
						t.Errorf("plan -o json: %v", err)
					}
				}
			}
		})
	}
}

// TestPerNodeKubeconfigs: in a folder for several nodes, each node's
// controller manager and scheduler have their own kubeconfig naming their
// own node's API server; admin.conf and bootstrap-kubelet.conf name the
// shared endpoint. plan lists them with their servers, and renew takes
// their names.
func TestPerNodeKubeconfigs(t *testing.T) {
	dir := newTree(t, threeNodeConfig)
	servers := map[string]string{
		"admin.conf":             "https://10.0.0.10:6443",
		"super-admin.conf":       "https://10.0.0.10:6443",
		"bootstrap-kubelet.conf": "https://10.0.0.10:6443",
	}
	for i, n := range []string{"cp-1", "cp-2", "cp-3"} {
		for _, k := range []string{"controller-manager", "scheduler"} {
			servers["nodes/"+n+"/"+k+".conf"] = "https://10.0.0.1" + string(rune('1'+i)) + ":6443"
		}
	}
	for f, want := range servers {
		kc, err := parseKubeconfig(readFile(t, dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if got := kc.Clusters[0].Cluster.Server; got != want {
			t.Errorf("%s names %s, want %s", f, got, want)
		}
	}
	for _, f := range []string{"controller-manager.conf", "scheduler.conf"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s is at the top of a folder for several nodes", f)
		}
	}
	var items []struct{ Name, Kind, Server string }
	if err := json.Unmarshal([]byte(mustRun(t, "plan", "--config", writeFile(t, "c.yaml", threeNodeConfig), "-o", "json").stdout), &items); err != nil {
		t.Fatal(err)
	}
	listed := 0
	for _, it := range items {
		if want, ok := servers[it.Name+".conf"]; ok && it.Kind == "kubeconfig" {
			listed++
			if it.Server != want {
				t.Errorf("plan lists %s with server %s, want %s", it.Name, it.Server, want)
			}
		}
	}
	if listed != len(servers) {
		t.Errorf("plan lists %d of %d kubeconfigs", listed, len(servers))
	}
	before := string(readFile(t, dir, "nodes/cp-2/scheduler.conf"))
	r := mustRun(t, "certs", "renew", "nodes/cp-2/scheduler", "--dir", dir)
	if string(readFile(t, dir, "nodes/cp-2/scheduler.conf")) == before {
		t.Fatal("renew nodes/cp-2/scheduler did not renew it")
	}
	// The scheduler of cp-2 reads its kubeconfig only at start: its
	// manifest's checksum changes, so the kubelet restarts it, and only it.
	if !strings.Contains(r.stdout, "renewed  nodes/cp-2/manifests/kube-scheduler.yaml: restarted by the kubelet (checksum changed): nodes/cp-2/scheduler.conf") {
		t.Errorf("renew does not say the scheduler is restarted:\n%s", r.stdout)
	}
	for _, other := range []string{"nodes/cp-1/manifests/kube-scheduler.yaml", "nodes/cp-2/manifests/kube-controller-manager.yaml", "nodes/cp-2/manifests/kube-apiserver.yaml"} {
		if strings.Contains(r.stdout, other) {
			t.Errorf("renew of cp-2's scheduler names %s:\n%s", other, r.stdout)
		}
	}
	if r := run(t, "certs", "renew", "scheduler", "--dir", dir); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "nodes/cp-1/scheduler") {
		t.Errorf("renew of a per-node name without its node: %v", r)
	}
}

// TestRenewReachesPods: a renewal makes every running Pod's link to the
// renewed file again, in the same run. A Pod that reloads the file keeps
// its manifest byte for byte ("reloads by itself"); one that reads it only
// at start gets a new checksum ("restarted by the kubelet"); a manifest
// bulwark did not write is left alone and named.
func TestRenewReachesPods(t *testing.T) {
	dir := newTree(t, oneNodeConfig)
	manifests := func() map[string]string {
		out := map[string]string{}
		for _, c := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
			out[c] = string(readFile(t, dir, "manifests/"+c+".yaml"))
		}
		return out
	}
	sameInode := func(a, b string) bool {
		fa, err := os.Stat(filepath.Join(dir, a))
		if err != nil {
			t.Fatal(err)
		}
		fb, err := os.Stat(filepath.Join(dir, b))
		if err != nil {
			t.Fatal(err)
		}
		return os.SameFile(fa, fb)
	}
	before := manifests()
	r := mustRun(t, "certs", "renew", "apiserver", "front-proxy-client", "etcd/server", "etcd/peer", "--dir", dir)
	for _, want := range []string{
		"kept     manifests/kube-apiserver.yaml: reloads by itself: pki/apiserver.crt, pki/front-proxy-client.crt",
		"kept     manifests/etcd.yaml: reloads by itself: pki/etcd/peer.crt, pki/etcd/server.crt",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("renew does not say %q:\n%s", want, r.stdout)
		}
	}
	if got := manifests(); got["kube-apiserver"] != before["kube-apiserver"] || got["etcd"] != before["etcd"] {
		t.Error("a renewal of reloaded files changed a manifest")
	}
	for _, f := range []string{"pki/apiserver.crt", "pki/front-proxy-client.crt"} {
		if !sameInode(f, "mounts/kube-apiserver/"+f) {
			t.Errorf("mounts/kube-apiserver/%s is not the renewed %s", f, f)
		}
	}
	for _, f := range []string{"pki/etcd/server.crt", "pki/etcd/peer.crt"} {
		if !sameInode(f, "mounts/etcd/"+f) {
			t.Errorf("mounts/etcd/%s is not the renewed %s", f, f)
		}
	}

	r = mustRun(t, "certs", "renew", "apiserver-etcd-client", "controller-manager", "--dir", dir)
	for _, want := range []string{
		"renewed  manifests/kube-apiserver.yaml: restarted by the kubelet (checksum changed): pki/apiserver-etcd-client.crt",
		"renewed  manifests/kube-controller-manager.yaml: restarted by the kubelet (checksum changed): controller-manager.conf",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("renew does not say %q:\n%s", want, r.stdout)
		}
	}
	after := manifests()
	if after["etcd"] != before["etcd"] || after["kube-scheduler"] != before["kube-scheduler"] {
		t.Error("a renewal changed the manifest of a Pod that does not read the file")
	}
	// A plain render afterwards finds nothing to do.
	if s := parseSummary(t, mustRun(t, "render", "--dir", dir)); s.created+s.renewed+s.issued+s.removed != 0 {
		t.Errorf("render after renew changed files: %+v", s)
	}

	// kubeadm's manifest: not bulwark's, left as it is, named.
	foreign := "apiVersion: v1\nkind: Pod\nmetadata: {name: kube-apiserver, namespace: kube-system}\nspec:\n  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.36.3\n"
	if err := os.WriteFile(filepath.Join(dir, "manifests/kube-apiserver.yaml"), []byte(foreign), 0o600); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, "certs", "renew", "apiserver", "--dir", dir)
	if !strings.Contains(r.stdout, "manifests/kube-apiserver.yaml: not rendered by bulwark") {
		t.Errorf("renew does not name the foreign manifest:\n%s", r.stdout)
	}
	if got := string(readFile(t, dir, "manifests/kube-apiserver.yaml")); got != foreign {
		t.Error("renew rewrote a manifest bulwark did not render")
	}
}

// TestEarlierLayoutNamed: a folder for several hosts made by an earlier
// release kept manifests in manifests/<host>/ and one controller-manager.conf
// and scheduler.conf (naming the first node's API server) at the top. init
// makes the new files, leaves the old ones in place and names each.
func TestEarlierLayoutNamed(t *testing.T) {
	dir := newTree(t, threeNodeConfig)
	old := map[string]string{
		"manifests/cp-2/etcd.yaml": "nodes/cp-2/manifests/etcd.yaml",
		"controller-manager.conf":  "nodes/cp-1/controller-manager.conf",
		"scheduler.conf":           "nodes/cp-1/scheduler.conf",
	}
	for from, like := range old {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, from)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, from), readFile(t, dir, like), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := mustRun(t, "init", "--dir", dir)
	for from, like := range old {
		if !strings.Contains(r.stdout, "kept     "+from+": no longer used") {
			t.Errorf("init does not name %s:\n%s", from, r.stdout)
		}
		if string(readFile(t, dir, from)) != string(readFile(t, dir, like)) {
			t.Errorf("%s changed", from)
		}
	}
	if s := parseSummary(t, r); s.created+s.renewed+s.issued+s.removed != 0 {
		t.Errorf("init changed files: %+v", s)
	}
}
