package cli_test

// Existing trees, each through the real binary: kubeadm's, bulwark's that
// lost its bulwark.yaml, settings given once, drift, loose modes, symbolic
// links and named pipes in every position, an empty --dir, runs that fail
// part-way (as an unprivileged user, on a full disk, at every point of the
// writes), concurrent runs with different configurations.

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/layout"
)

// runBinIn runs the real binary with extra environment and in a working
// directory ("" for the test's), with a deadline: a run that blocks (on a
// named pipe, say) fails the test instead of hanging it.
func runBinIn(t testing.TB, cwd string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := binCmd(args...)
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "BULWARK_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = cwd
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("bulwark %s did not end within its deadline (blocked?)", strings.Join(args, " "))
	}
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return result{args: args, stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// expectRefusal checks a failed run: its exit code, every stderr line of
// the form "bulwark: error: …", one naming each of names, nothing on
// stdout.
func expectRefusal(t testing.TB, r result, code int, names ...string) []string {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\n%v", r.code, code, r)
	}
	lines := errorLines(t, r)
	if r.stdout != "" {
		t.Errorf("a refused run printed a report\n%v", r)
	}
	all := strings.Join(lines, "\n")
	if strings.Contains(all, "temporary files") {
		t.Errorf("a refusal blamed on cleaning temporary files\n%v", r)
	}
	for _, n := range names {
		if !strings.Contains(all, n) {
			t.Errorf("no error line names %q\n%v", n, r)
		}
	}
	return lines
}

// unchanged fails the test if dir differs from before.
func unchanged(t testing.TB, dir string, before map[string]entry) {
	t.Helper()
	if d := diff(before, snapshot(t, dir)); len(d) > 0 {
		t.Fatalf("a refused run changed %s: %v", dir, d)
	}
}

// binTree makes a tree with the real binary from a configuration.
func binTree(t testing.TB, config string, extra ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cluster")
	mustRunBin(t, append([]string{"init", "--dir", dir, "--config", writeFile(t, "cluster.yaml", config)}, extra...)...)
	return dir
}

// The real kubeadm's /etc/kubernetes, made once per test process
// (certificates, kubeconfigs, static Pods, local etcd), copied for each
// test that needs it.
var (
	kubeadmOnce sync.Once
	kubeadmSrc  string
	kubeadmErr  error
)

// kubeadmAddr is an address kubeadm accepts as the API server's (it
// refuses loopback).
func kubeadmAddr(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("hostname", "-I").Output()
	if err != nil || len(strings.Fields(string(out))) == 0 {
		t.Skipf("no host address for kubeadm's advertise address: %v", err)
	}
	return strings.Fields(string(out))[0]
}

// kubeadmTree returns a fresh copy of kubeadm's /etc/kubernetes.
func kubeadmTree(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real kubeadm")
	}
	kubeadm := kubeadmPath(t)
	addr := kubeadmAddr(t)
	kubeadmOnce.Do(func() {
		root, err := os.MkdirTemp("", "bulwark-kubeadm-")
		if err != nil {
			kubeadmErr = err
			return
		}
		cleanups = append(cleanups, func() { os.RemoveAll(root) })
		cfg := "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: " + addr +
			"\nnodeRegistration:\n  name: cp-1\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.36.3\n" +
			"apiServer:\n  certSANs: [api.example.com, 10.0.0.10]\n"
		if kubeadmErr = os.WriteFile(filepath.Join(root, "kubeadm.yaml"), []byte(cfg), 0o600); kubeadmErr != nil {
			return
		}
		for _, phase := range [][]string{{"certs", "all"}, {"kubeconfig", "all"}, {"control-plane", "all"}, {"etcd", "local"}} {
			args := append(append([]string{"init", "phase"}, phase...), "--config", "/kubeadm.yaml", "--rootfs", root)
			if out, err := exec.Command(kubeadm, args...).CombinedOutput(); err != nil {
				kubeadmErr = fmt.Errorf("kubeadm %v: %v\n%s", phase, err, out)
				return
			}
		}
		kubeadmSrc = filepath.Join(root, "etc", "kubernetes")
	})
	if kubeadmErr != nil {
		t.Fatal(kubeadmErr)
	}
	dst := filepath.Join(t.TempDir(), "kubernetes")
	if out, err := exec.Command("cp", "-a", kubeadmSrc, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return dst
}

// certText is what `openssl x509 -text` says of a certificate (a file, or
// a kubeconfig's client certificate), without what a renewal changes:
// serial, dates, signature, and the key identifier bulwark adds.
func certText(t testing.TB, dir, rel string) string {
	t.Helper()
	var pemData []byte
	if strings.HasSuffix(rel, ".conf") {
		kc, err := parseKubeconfig(readFile(t, dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		pemData = kc.Users[0].User.CertData
	} else {
		pemData = readFile(t, dir, rel)
	}
	cmd := exec.Command("openssl", "x509", "-noout", "-text")
	cmd.Stdin = bytes.NewReader(pemData)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl x509 %s: %v", rel, err)
	}
	var keep []string
	skip := false
	for _, l := range strings.Split(string(out), "\n") {
		trimmed := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(trimmed, "Serial Number"), strings.HasPrefix(trimmed, "X509v3 Subject Key Identifier"):
			skip = true
			continue
		case strings.HasPrefix(trimmed, "Not Before"), strings.HasPrefix(trimmed, "Not After"):
			continue
		case strings.HasPrefix(trimmed, "Signature Value"):
			return strings.Join(keep, "\n")
		case skip && regexp.MustCompile(`^([0-9a-f]{2}:)*[0-9a-f]{2}:?$`).MatchString(strings.ToLower(trimmed)):
			continue
		}
		skip = false
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// keyIDs maps every key file and kubeconfig of a folder to its key's
// public half (a kubeconfig rewritten keeps its key, perhaps in another
// PEM encoding).
func keyIDs(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range files(t, dir) {
		var keyPEM []byte
		switch {
		case layout.Classify(f) == layout.Mounted:
			continue // a static Pod's link: the same file as the key it names
		case strings.HasSuffix(f, ".key"):
			keyPEM = readFile(t, dir, f)
		case !strings.Contains(f, "/") && strings.HasSuffix(f, ".conf"):
			kc, err := parseKubeconfig(readFile(t, dir, f))
			if err != nil {
				out[f] = "broken"
				continue
			}
			keyPEM = kc.Users[0].User.KeyData
			if len(keyPEM) == 0 {
				out[f] = "token " + kc.Users[0].User.Token
				continue
			}
		default:
			continue
		}
		k, err := parseKeyPEM(keyPEM)
		if err != nil {
			out[f] = "broken"
			continue
		}
		der, _ := x509.MarshalPKIXPublicKey(k.Public())
		out[f] = string(der)
	}
	return out
}

// serverOf is a kubeconfig's server.
func serverOf(t testing.TB, dir, conf string) string {
	t.Helper()
	kc, err := parseKubeconfig(readFile(t, dir, conf))
	if err != nil {
		t.Fatal(err)
	}
	return kc.Clusters[0].Cluster.Server
}

// TestKubeadmTree: on kubeadm's own /etc/kubernetes, renew keeps every
// subject, name, usage, issuer and server (openssl x509 -text, line for
// line, but for serial, dates and signature), the admin stays in
// kubeadm:cluster-admins, and nothing of this machine (its name) appears;
// init and render refuse to adopt the folder, changing nothing; the
// expiry check lists it like kubeadm's own.
func TestKubeadmTree(t *testing.T) {
	dir := kubeadmTree(t)
	certs := []string{"pki/apiserver.crt", "pki/apiserver-kubelet-client.crt", "pki/apiserver-etcd-client.crt", "pki/front-proxy-client.crt",
		"pki/etcd/server.crt", "pki/etcd/peer.crt", "pki/etcd/healthcheck-client.crt"}
	confs := []string{"admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"}
	text, servers := map[string]string{}, map[string]string{}
	for _, f := range append(slices.Clone(certs), confs...) {
		text[f] = certText(t, dir, f)
	}
	for _, f := range confs {
		servers[f] = serverOf(t, dir, f)
	}
	keys := keyIDs(t, dir)
	host, _ := os.Hostname()

	t.Run("init and render refuse to adopt it", func(t *testing.T) {
		for _, args := range [][]string{{"init", "--dir", dir}, {"render", "--dir", dir}} {
			before := snapshot(t, dir)
			r := runBin(t, args...)
			expectRefusal(t, r, cli.ExitError, "has no bulwark.yaml", "kubeadm:cluster-admins", "does not adopt")
			unchanged(t, dir, before)
		}
	})

	t.Run("renew by name, then --all", func(t *testing.T) {
		r := mustRunBin(t, "certs", "renew", "apiserver", "admin", "--dir", dir)
		if s := parseSummary(t, r); s.renewed != 2 {
			t.Errorf("renew apiserver admin: %+v\n%s", s, r.stdout)
		}
		r = mustRunBin(t, "certs", "renew", "--all", "--dir", dir)
		if s := parseSummary(t, r); s.renewed != len(certs)+len(confs) || s.created != 0 {
			t.Errorf("renew --all: %+v, want %d renewed\n%s", s, len(certs)+len(confs), r.stdout)
		}
		for _, f := range append(slices.Clone(certs), confs...) {
			if got := certText(t, dir, f); got != text[f] {
				t.Errorf("%s: openssl x509 -text differs after renew:\n--- before\n%s\n--- after\n%s", f, text[f], got)
			}
		}
		for _, f := range confs {
			if got := serverOf(t, dir, f); got != servers[f] {
				t.Errorf("%s: server %s, was %s", f, got, servers[f])
			}
		}
		if !strings.Contains(text["admin.conf"], "O = kubeadm:cluster-admins") {
			t.Errorf("admin.conf is not kubeadm's admin:\n%s", text["admin.conf"])
		}
		if strings.Contains(text["pki/apiserver.crt"], "DNS:"+host+",") && host != "cp-1" {
			t.Errorf("this machine's name is in the API server's names")
		}
		for f, k := range keyIDs(t, dir) {
			if k != keys[f] {
				t.Errorf("%s: renew replaced its key", f)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "bulwark.yaml")); err == nil {
			t.Error("renew saved a bulwark.yaml in kubeadm's folder")
		}
		// Chains: each renewed leaf verifies against the CA that signed it.
		for _, f := range certs {
			ca := "pki/ca.crt"
			switch {
			case strings.HasPrefix(f, "pki/etcd/"), f == "pki/apiserver-etcd-client.crt":
				ca = "pki/etcd/ca.crt"
			case f == "pki/front-proxy-client.crt":
				ca = "pki/front-proxy-ca.crt"
			}
			if out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(dir, ca), filepath.Join(dir, f)).CombinedOutput(); err != nil {
				t.Errorf("openssl verify %s: %v\n%s", f, err, out)
			}
		}
	})

	t.Run("check-expiration lists kubeadm's certificates, none missing", func(t *testing.T) {
		r := mustRunBin(t, "certs", "check-expiration", "--dir", dir)
		if strings.Contains(r.stdout, "MISSING") {
			t.Errorf("a kubeadm folder reported missing certificates:\n%s", r.stdout)
		}
		if err := os.Remove(filepath.Join(dir, "pki/front-proxy-client.crt")); err != nil {
			t.Fatal(err)
		}
		r = runBin(t, "certs", "check-expiration", "--dir", dir)
		if r.code != cli.ExitFindings || !regexp.MustCompile(`(?m)^pki/front-proxy-client\.crt .*!MISSING!.*missing$`).MatchString(r.stdout) {
			t.Errorf("a removed certificate is not listed !MISSING!\n%v", r)
		}
	})
}

// TestLostConfig: a bulwark folder that lost its bulwark.yaml is derived
// from its own files: a plain init (on another host name, where unshare
// can give one) keeps every file, writes bulwark.yaml back as it was, and
// renew keeps every name. Nothing comes from the machine.
func TestLostConfig(t *testing.T) {
	for _, tc := range []struct{ name, config string }{
		{"one node", oneNodeConfig},
		{"three nodes, node DNS names, extra SANs, a leaf lifetime", strings.Replace(threeNodeConfig,
			"  - {name: cp-1, ips: [10.0.0.11]}\n", "  - {name: cp-1, ips: [10.0.0.11], dnsNames: [cp-1.example.com]}\n", 1) +
			"extraSANs: [api.example.com, 192.0.2.9]\nvalidity: {leaf: 90d}\n"},
		{"host defaults", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dir string
			if tc.config == "" {
				dir = filepath.Join(t.TempDir(), "cluster")
				if r := runOnHost(t, "first-host", "init", "--dir", dir, "--root", "/srv/k8s"); r.code != 0 {
					t.Fatalf("%v", r)
				}
			} else {
				dir = binTree(t, tc.config, "--root", "/srv/k8s", "--image-repository", "registry.example.com:5000/k8s")
			}
			saved := readFile(t, dir, "bulwark.yaml")
			if err := os.Remove(filepath.Join(dir, "bulwark.yaml")); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, dir)
			r := runOnHost(t, "another-host", "init", "--dir", dir)
			if r.code != 0 {
				t.Fatalf("%v", r)
			}
			if s := parseSummary(t, r); s.created != 1 || s.renewed+s.issued != 0 {
				t.Errorf("plain init on a folder without bulwark.yaml: %+v\n%s", s, r.stdout)
			}
			after := snapshot(t, dir)
			delete(after, "bulwark.yaml")
			if d := diff(before, after); len(d) > 0 {
				t.Errorf("init changed files: %v", d)
			}
			if got := readFile(t, dir, "bulwark.yaml"); !bytes.Equal(got, saved) {
				t.Errorf("bulwark.yaml derived from the files differs:\n%s\nwas:\n%s", got, saved)
			}
			// Renew without it again: every name kept.
			if err := os.Remove(filepath.Join(dir, "bulwark.yaml")); err != nil {
				t.Fatal(err)
			}
			apiserver := certText(t, dir, "pki/apiserver.crt")
			if r := runOnHost(t, "another-host", "certs", "renew", "apiserver", "admin", "--dir", dir); r.code != 0 {
				t.Fatalf("%v", r)
			}
			if got := certText(t, dir, "pki/apiserver.crt"); got != apiserver {
				t.Errorf("renew changed the API server's certificate:\n%s\nwas:\n%s", got, apiserver)
			}
		})
	}
}

// runOnHost runs the binary with another host name (a new UTS namespace),
// where this machine allows it; otherwise with its own.
func runOnHost(t testing.TB, host string, args ...string) result {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err == nil {
		if out, err := exec.Command("unshare", "--uts", "true").CombinedOutput(); err == nil {
			script := `hostname "$1" && shift && exec "$@"`
			return runBinVia(t, append([]string{"unshare", "--uts", "sh", "-c", script, "sh", host, bulwarkBin}, args...))
		} else {
			t.Logf("unshare --uts: %v %s: running on this host's name", err, out)
		}
	}
	return runBin(t, args...)
}

// runBinVia runs a command line that execs the binary (unshare, sh).
func runBinVia(t testing.TB, argv []string) result {
	t.Helper()
	return runCmd(t, withoutBulwarkEnv(exec.Command(argv[0], argv[1:]...)), argv)
}

// TestSettingsSaved: --root, --image-repository and the versions given
// once are saved resolved, with the node name this host gave; a plain
// init and a plain render (on another host name) keep every file.
func TestSettingsSaved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	r := runOnHost(t, "first-host", "init", "--dir", dir, "--root", "/srv/kubernetes", "--image-repository", "registry.example.com:5000/k8s",
		"--kubernetes-version", "v1.36.2", "--etcd-version", "3.6.15-0")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	saved := string(readFile(t, dir, "bulwark.yaml"))
	for _, want := range []string{"root: /srv/kubernetes", "imageRepository: registry.example.com:5000/k8s", "kubernetesVersion: v1.36.2", "etcdVersion: 3.6.15-0"} {
		if !strings.Contains(saved, want) {
			t.Errorf("bulwark.yaml lacks %q:\n%s", want, saved)
		}
	}
	manifest := string(readFile(t, dir, "manifests/kube-apiserver.yaml"))
	if !strings.Contains(manifest, "registry.example.com:5000/k8s/kube-apiserver:v1.36.2") || !strings.Contains(manifest, "/srv/kubernetes/pki/ca.crt") {
		t.Errorf("the manifest does not use the settings:\n%s", manifest)
	}
	before := snapshot(t, dir)
	for _, args := range [][]string{{"init", "--dir", dir}, {"render", "--dir", dir}} {
		r := runOnHost(t, "second-host", args...)
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		if s := parseSummary(t, r); s.created+s.renewed+s.issued != 0 {
			t.Errorf("plain %s: %+v\n%s", args[0], s, r.stdout)
		}
		unchanged(t, dir, before)
	}
	// A setting given again, different: saved, and the manifests follow.
	mustRunBin(t, "render", "--dir", dir, "--image-repository", "mirror.example.com/k8s")
	if !strings.Contains(string(readFile(t, dir, "bulwark.yaml")), "imageRepository: mirror.example.com/k8s") {
		t.Error("render --image-repository was not saved")
	}
	if r := mustRunBin(t, "init", "--dir", dir); parseSummary(t, r).renewed != 0 {
		t.Errorf("init after render --image-repository changed files:\n%s", r.stdout)
	}
}

// TestDrift: a configuration that disagrees with the folder's keys
// (algorithm, lifetimes, names) is refused with exit 2 and a line per
// disagreement, nothing written (bulwark.yaml included); the fix named,
// where there is one, brings the folder to the configuration.
func TestDrift(t *testing.T) {
	one := binTree(t, oneNodeConfig)
	three := binTree(t, threeNodeConfig)
	for _, tc := range []struct {
		name, base, config string
		names              []string
		// fix: every disagreement has a fix, and following them all
		// brings the folder to the configuration.
		fix bool
	}{
		{"key algorithm", one, oneNodeConfig + "keyAlgorithm: rsa-2048\n", []string{"drift: keyAlgorithm", "ecdsa-p256"}, false},
		{"CA lifetime", one, oneNodeConfig + "validity: {ca: 1825d}\n", []string{"drift: validity.ca", "3650d"}, true},
		{"leaf lifetime", one, oneNodeConfig + "validity: {leaf: 90d}\n", []string{"drift: validity.leaf", "365d"}, true},
		{"cluster name", one, oneNodeConfig + "clusterName: other\n", []string{"drift: clusterName", `"kubernetes"`}, true},
		{"a node address dropped", one, strings.Replace(oneNodeConfig, "ips: [10.0.0.11]", "ips: [10.0.0.12]", 1),
			[]string{"drift: names", "no 10.0.0.11 for apiserver"}, true},
		{"the one etcd member renamed", one, oneNodeConfig + "etcdMembers: [{name: etcd-x, ips: [10.0.0.11]}]\n",
			[]string{"drift: names", "no cp-1 for etcd/server", "no cp-1 for etcd/peer"}, true},
		{"a node removed", three, strings.Replace(threeNodeConfig, "  - {name: cp-3, ips: [10.0.0.13]}\n", "", 1),
			[]string{"drift: names", "no cp-3, 10.0.0.13 for apiserver", "drift: etcdMembers", `"cp-3"`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "cluster")
			if out, err := exec.Command("cp", "-a", tc.base, d).CombinedOutput(); err != nil {
				t.Fatalf("%v %s", err, out)
			}
			cfg := writeFile(t, "drift.yaml", tc.config)
			before := snapshot(t, d)
			for _, cmd := range []string{"render", "init"} {
				r := runBin(t, cmd, "--dir", d, "--config", cfg)
				lines := expectRefusal(t, r, cli.ExitUsage, tc.names...)
				unchanged(t, d, before)
				var fixes []string
				for _, l := range lines {
					if f := fixIn(l); f != "" && !slices.Contains(fixes, f) {
						fixes = append(fixes, f)
					}
				}
				if all := len(fixes) == len(lines); all != tc.fix {
					t.Fatalf("%d fixes for %d lines; want a fix for each: %v\n%v", len(fixes), len(lines), tc.fix, r)
				}
				if cmd == "render" || !tc.fix {
					continue
				}
				for _, f := range fixes {
					followFix(t, d, f)
				}
				converge(t, d, "--config", cfg)
			}
		})
	}
}

// converge runs init on dir (with args), follows every fix it names and
// runs it again, until it succeeds; a problem without a fix fails the
// test. It returns the fixes it followed.
func converge(t testing.TB, dir string, args ...string) []string {
	t.Helper()
	var followed []string
	for round := 0; ; round++ {
		r := runBin(t, append([]string{"init", "--dir", dir}, args...)...)
		if r.code == 0 {
			// What the fixes made, init keeps: no key, certificate or
			// kubeconfig of its own (a bootstrap token and its kubeconfig
			// where a fix deleted them; rendered files, and the per-host
			// kubeconfigs under nodes/, that a new configuration shapes
			// differently: a folder that comes to have several hosts).
			for _, l := range strings.Split(r.stdout, "\n") {
				if f, ok := strings.CutPrefix(l, "  created  "); ok && !strings.HasPrefix(f, layout.NodesDir+"/") && (strings.HasPrefix(f, "pki/") || strings.HasSuffix(f, ".conf") && f != "bootstrap-kubelet.conf") {
					t.Errorf("init after the fixes still made %s\n%s", f, r.stdout)
				}
				if strings.HasPrefix(l, "  issued") {
					t.Errorf("init after the fixes still issued a certificate\n%s", r.stdout)
				}
			}
			return followed
		}
		if round == 6 {
			t.Fatalf("still refused after 6 rounds of fixes\n%v", r)
		}
		var fixes []string
		for _, l := range errorLines(t, r) {
			f := fixIn(l)
			if f == "" {
				t.Fatalf("a problem without a fix: %s", l)
			}
			if !slices.Contains(fixes, f) {
				fixes = append(fixes, f)
			}
		}
		for _, f := range fixes {
			followFix(t, dir, f)
		}
		followed = append(followed, fixes...)
	}
}

// followFix runs a fix exactly as printed, through a shell whose PATH
// finds the binary.
func followFix(t testing.TB, dir, fix string) result {
	t.Helper()
	if !strings.Contains(fix, "--dir") {
		t.Fatalf("fix `bulwark %s` does not name the folder", fix)
	}
	cmd := exec.Command("sh", "-c", "bulwark "+fix)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bulwarkBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: []string{fix}, stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		t.Fatalf("the fix `bulwark %s` failed: %v\n%v", fix, err, r)
	}
	return r
}

// TestLooseModes: files and folders looser than the layout allows are
// tightened by init and renew, each with a line; a refused run leaves
// them as they were.
func TestLooseModes(t *testing.T) {
	dir := binTree(t, oneNodeConfig)
	loosen := map[string]fs.FileMode{".": 0o777, "pki": 0o775, "pki/ca.key": 0o644, "admin.conf": 0o640, "pki/ca.crt": 0o666, "pki/etcd/server.key": 0o604}
	want := map[string]fs.FileMode{".": 0o755, "pki": 0o755, "pki/ca.key": 0o600, "admin.conf": 0o600, "pki/ca.crt": 0o644, "pki/etcd/server.key": 0o600}
	set := func() {
		for f, m := range loosen {
			if err := os.Chmod(filepath.Join(dir, f), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Refused (a corrupt key): modes untouched.
	set()
	key := readFile(t, dir, "pki/front-proxy-client.key")
	breakWith("pki/front-proxy-client.key", garbagePEM("PRIVATE KEY"))(t, dir)
	before := snapshot(t, dir)
	expectRefusal(t, runBin(t, "init", "--dir", dir), cli.ExitError, "pki/front-proxy-client.key")
	unchanged(t, dir, before)
	breakWith("pki/front-proxy-client.key", key)(t, dir)
	for _, args := range [][]string{{"init", "--dir", dir}, {"certs", "renew", "apiserver", "--dir", dir}, {"token", "create", "--dir", dir}, {"render", "--dir", dir}} {
		set()
		r := mustRunBin(t, args...)
		for f, m := range want {
			fi, err := os.Stat(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != m {
				t.Errorf("%s: %s is %04o, want %04o", args[0], f, fi.Mode().Perm(), m)
			}
			line := fmt.Sprintf("fixed    %s: mode %04o -> %04o", f, loosen[f], m)
			if !strings.Contains(r.stdout, line) {
				t.Errorf("%s does not say %q:\n%s", strings.Join(args[:2], " "), line, r.stdout)
			}
		}
		if again := mustRunBin(t, "init", "--dir", dir); strings.Contains(again.stdout, "fixed") {
			t.Errorf("a second run fixed modes again:\n%s", again.stdout)
		}
	}
}

// symlinkCase puts a symbolic link somewhere in a tree.
type symlinkCase struct {
	name string
	// rel is replaced by a link to a copy of itself outside the tree (or,
	// if it does not exist, a dangling link to a file outside).
	rel string
}

// TestSymlinks: a symbolic link anywhere in the folder, to a copy
// outside it or dangling where a file is to be made, is refused by every
// command, naming it: exit 1, the folder and the outside untouched.
func TestSymlinks(t *testing.T) {
	base := binTree(t, oneNodeConfig)
	mustRunBin(t, "token", "create", "--dir", base)
	token := ""
	for _, f := range files(t, base) {
		if tokenIDInName.MatchString(f) && f != "" {
			token = f
		}
	}
	cases := []symlinkCase{
		{"the pki folder", "pki"},
		{"the etcd folder", "pki/etcd"},
		{"a CA key", "pki/ca.key"},
		{"a leaf certificate", "pki/apiserver.crt"},
		{"a missing certificate (dangling)", "pki/front-proxy-client.crt"},
		{"a kubeconfig", "admin.conf"},
		{"bulwark.yaml", "bulwark.yaml"},
		{"the encryption configuration", "encryption-config.yaml"},
		{"the manifests folder", "manifests"},
		{"a manifest", "manifests/kube-apiserver.yaml"},
		{"the cluster objects folder", "cluster"},
		{"a token Secret", token},
		{"the kubelet folder", "kubelet"},
		{"a temporary file", ".bulwark-tmp-left"},
	}
	commands := [][]string{
		{"init", "--dir", "DIR"},
		{"certs", "renew", "--all", "--dir", "DIR"},
		{"render", "--dir", "DIR"},
		{"token", "create", "--dir", "DIR"},
		{"certs", "check-expiration", "--dir", "DIR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, argv := range commands {
				dir := filepath.Join(t.TempDir(), "cluster")
				if out, err := exec.Command("cp", "-a", base, dir).CombinedOutput(); err != nil {
					t.Fatalf("%v %s", err, out)
				}
				outside := filepath.Join(t.TempDir(), "outside")
				target := filepath.Join(outside, filepath.Base(c.rel))
				if err := os.MkdirAll(outside, 0o700); err != nil {
					t.Fatal(err)
				}
				src := filepath.Join(dir, c.rel)
				switch {
				case c.name == "a missing certificate (dangling)":
					_ = os.Remove(src)
					_ = os.Remove(filepath.Join(dir, "pki/front-proxy-client.key"))
				case c.rel == ".bulwark-tmp-left":
					if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
						t.Fatal(err)
					}
				default:
					if err := os.Rename(src, target); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Symlink(target, src); err != nil {
					t.Fatal(err)
				}
				before, outBefore := snapshot(t, dir), snapshot(t, outside)
				args := slices.Clone(argv)
				for i, a := range args {
					if a == "DIR" {
						args[i] = dir
					}
				}
				r := runBinIn(t, "", nil, args...)
				expectRefusal(t, r, cli.ExitError, c.rel+": is a symbolic link")
				unchanged(t, dir, before)
				unchanged(t, outside, outBefore)
			}
		})
	}
}

// TestNonRegularFiles: a named pipe (or a device) where a file is
// expected is refused at once, naming it, by every command; nothing
// blocks, nothing changes. A named pipe as --config is refused too.
func TestNonRegularFiles(t *testing.T) {
	base := binTree(t, oneNodeConfig)
	for _, rel := range []string{"pki/ca.key", "pki/front-proxy-client.crt", "admin.conf", "bulwark.yaml", "encryption-config.yaml",
		"manifests/kube-apiserver.yaml", "cluster/bootstrap-token-abcdef.yaml", "kubelet/config.yaml"} {
		t.Run(rel, func(t *testing.T) {
			for _, argv := range [][]string{{"init"}, {"certs", "renew", "--all"}, {"render"}, {"certs", "check-expiration"}, {"token", "list"}} {
				dir := filepath.Join(t.TempDir(), "cluster")
				if out, err := exec.Command("cp", "-a", base, dir).CombinedOutput(); err != nil {
					t.Fatalf("%v %s", err, out)
				}
				p := filepath.Join(dir, rel)
				_ = os.Remove(p)
				if err := syscall.Mkfifo(p, 0o600); err != nil {
					t.Fatal(err)
				}
				before := snapshot(t, dir)
				r := runBinIn(t, "", nil, append(slices.Clone(argv), "--dir", dir)...)
				expectRefusal(t, r, cli.ExitError, rel+": is a named pipe (FIFO)")
				unchanged(t, dir, before)
			}
		})
	}
	t.Run("a character device", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "cluster")
		if out, err := exec.Command("cp", "-a", base, dir).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		p := filepath.Join(dir, "pki/sa.key")
		_ = os.Remove(p)
		if err := syscall.Mknod(p, syscall.S_IFCHR|0o600, int(unixMkdev(1, 3))); err != nil {
			t.Skipf("mknod: %v", err)
		}
		before := snapshot(t, dir)
		expectRefusal(t, runBinIn(t, "", nil, "init", "--dir", dir), cli.ExitError, "pki/sa.key: is a character device")
		unchanged(t, dir, before)
	})
	t.Run("--config", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "cluster.yaml")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "cluster")
		expectRefusal(t, runBinIn(t, "", nil, "init", "--dir", dir, "--config", fifo), cli.ExitUsage, "not a regular file")
		if _, err := os.Lstat(dir); err == nil {
			t.Error("a refused init made the folder")
		}
	})
}

func unixMkdev(major, minor uint32) uint64 {
	return uint64(major)<<8 | uint64(minor)
}

// TestEmptyDir: --dir "" is refused by every command that takes a
// folder (exit 2), and the working directory stays empty.
func TestEmptyDir(t *testing.T) {
	for _, argv := range [][]string{
		{"init"}, {"render"}, {"plan"}, {"certs", "renew", "apiserver"}, {"certs", "list"}, {"certs", "check-expiration"},
		{"token", "create"}, {"token", "list"}, {"token", "delete", "abcdef"},
	} {
		t.Run(strings.Join(argv, " "), func(t *testing.T) {
			cwd := t.TempDir()
			for _, empty := range []string{"", " "} {
				r := runBinIn(t, cwd, nil, append(slices.Clone(argv), "--dir", empty)...)
				expectRefusal(t, r, cli.ExitUsage)
				if entries, _ := os.ReadDir(cwd); len(entries) > 0 {
					t.Fatalf("--dir %q wrote into the working directory: %v", empty, entries)
				}
			}
		})
	}
}

// TestMissingEncryptionConfig: on a folder bulwark initialised, a lost
// encryption configuration is refused (restore it), never replaced by a
// new key that would leave every Secret unreadable.
func TestMissingEncryptionConfig(t *testing.T) {
	for _, lost := range []string{"", "bulwark.yaml"} {
		dir := binTree(t, oneNodeConfig)
		for _, f := range []string{"encryption-config.yaml", lost} {
			if f != "" {
				if err := os.Remove(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
		}
		before := snapshot(t, dir)
		for _, cmd := range []string{"init", "render"} {
			expectRefusal(t, runBin(t, cmd, "--dir", dir), cli.ExitError, "encryption-config.yaml: is missing", "restore it from a backup")
			unchanged(t, dir, before)
		}
	}
}

// TestFailedRunLeavesTreeAsItWas: a run that fails after some of its
// files are in place (the store's test hook fails the Nth link, for every
// N) puts everything back: the folder is byte for byte what it was, no
// temporary file left; for init in a new folder, the folder is gone.
func TestFailedRunLeavesTreeAsItWas(t *testing.T) {
	base := binTree(t, threeNodeConfig)
	mustRunBin(t, "token", "create", "--dir", base)
	remove := []string{"pki/apiserver.key", "pki/apiserver.crt", "pki/etcd/cp-2/peer.key", "pki/etcd/cp-2/peer.crt", "admin.conf",
		layout.NodeFile("cp-3", "manifests/kube-scheduler.yaml"), "cluster/rbac.yaml"}
	tokenID := ""
	for _, f := range files(t, base) {
		if m := regexp.MustCompile(`bootstrap-token-([a-z0-9]{6})\.yaml$`).FindStringSubmatch(f); m != nil && tokenID == "" && !strings.Contains(string(readFile(t, base, "bootstrap-kubelet.conf")), m[1]+".") {
			tokenID = m[1]
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(dir string)
		args  []string
	}{
		{"init filling gaps", func(dir string) {
			for _, f := range remove {
				if err := os.Remove(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
			// Loose modes are fixed last: undone too.
			_ = os.Chmod(filepath.Join(dir, "pki/ca.key"), 0o640)
		}, []string{"init", "--dir", "DIR"}},
		{"init in a new folder", nil, []string{"init", "--dir", "DIR", "--config", writeFile(t, "c.yaml", threeNodeConfig)}},
		{"renew --all --new-key", func(string) {}, []string{"certs", "renew", "--all", "--new-key", "--dir", "DIR"}},
		{"CA rotation", func(string) {}, []string{"certs", "renew", "etcd/peer-ca", "--new-key", "--dir", "DIR"}},
		{"token delete", func(string) {}, []string{"token", "delete", tokenID, "--dir", "DIR"}},
		{"token create", func(string) {}, []string{"token", "create", "--dir", "DIR"}},
		{"render with new settings", func(string) {}, []string{"render", "--dir", "DIR", "--root", "/srv/elsewhere"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for n := 1; ; n++ {
				dir := filepath.Join(t.TempDir(), "cluster")
				if tc.setup != nil {
					if out, err := exec.Command("cp", "-a", base, dir).CombinedOutput(); err != nil {
						t.Fatalf("%v %s", err, out)
					}
					tc.setup(dir)
				}
				before := snapshot(t, dir)
				args := slices.Clone(tc.args)
				for i, a := range args {
					if a == "DIR" {
						args[i] = dir
					}
				}
				r := runBinIn(t, "", []string{"BULWARK_TEST_FAIL_AFTER_STEPS=" + strconv.Itoa(n)}, args...)
				if r.code == 0 {
					if n == 1 {
						t.Fatalf("the hook did not fail the run: is it compiled in?\n%v", r)
					}
					t.Logf("failed at each of its %d steps, then succeeded", n-1)
					break
				}
				expectRefusal(t, r, cli.ExitError, "BULWARK_TEST_FAIL_AFTER_STEPS")
				if tc.setup == nil {
					if _, err := os.Lstat(dir); err == nil {
						t.Fatalf("failed after %d files, init left the new folder: %v", n, files(t, dir))
					}
					continue
				}
				if d := diff(before, snapshot(t, dir)); len(d) > 0 {
					t.Fatalf("failed after %d files, the folder changed: %v", n, d)
				}
				if n > 200 {
					t.Fatal("the run never got through")
				}
			}
		})
	}
}

// nobody is the unprivileged user the permission tests run as.
const nobody = 65534

// runAs runs the binary as another user (the test runs as root: the
// kernel's permission checks apply to that user).
func runAs(t testing.TB, uid int, args ...string) result {
	t.Helper()
	cmd := binCmd(args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	return runCmd(t, cmd, args)
}

// reachable lets another user reach p: every folder above it searchable.
func reachable(t testing.TB, p string) {
	t.Helper()
	for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o111); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUnprivilegedFailureMidway: run as an unprivileged user who owns the
// folder but may not write one of its subfolders, init gets part-way
// through its writes (files in the folders it may write are in place)
// and fails on the first file of the one it may not: everything is put
// back, byte for byte. In a new folder under one it may not write, init
// fails and leaves nothing.
func TestUnprivilegedFailureMidway(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run as another user")
	}
	reachable(t, bulwarkBin)
	dir := binTree(t, threeNodeConfig)
	for _, f := range []string{"pki/apiserver.key", "pki/apiserver.crt", "admin.conf", "pki/etcd/cp-2/peer.key", "pki/etcd/cp-2/peer.crt", "cluster/rbac.yaml"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", nobody, nobody), dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	// pki/etcd/cp-2 stays readable, not writable, for the user.
	if err := os.Chown(filepath.Join(dir, "pki/etcd/cp-2"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "pki/etcd/cp-2"), 0o755); err != nil {
		t.Fatal(err)
	}
	reachable(t, dir)
	before := snapshot(t, dir)
	r := runAs(t, nobody, "init", "--dir", dir)
	expectRefusal(t, r, cli.ExitError, "pki/etcd/cp-2/peer", "permission denied")
	unchanged(t, dir, before)

	parent := filepath.Join(t.TempDir(), "root-only")
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	reachable(t, parent)
	fresh := filepath.Join(parent, "cluster")
	expectRefusal(t, runAs(t, nobody, "init", "--dir", fresh), cli.ExitError, "permission denied")
	if _, err := os.Lstat(fresh); err == nil {
		t.Error("a failed init left its folder")
	}
}

// TestFullDisk: on a file system that fills up (a small tmpfs), init in
// a new folder fails and leaves nothing; init filling gaps in an existing
// folder fails and leaves it byte for byte, no temporary file behind.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	tmpfs := func(size string) string {
		mnt := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs here (%v: %s); the failure at every step is tested with the store's fault hook", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
		return mnt
	}
	mnt := tmpfs("96k")
	fresh := filepath.Join(mnt, "cluster")
	r := runBin(t, "init", "--dir", fresh, "--config", writeFile(t, "c.yaml", threeNodeConfig))
	expectRefusal(t, r, cli.ExitError, "no space left on device")
	if _, err := os.Lstat(fresh); err == nil {
		t.Errorf("a failed init left %v", files(t, fresh))
	}

	// A tree that fits, less some files; then the disk filled to the brim.
	base := binTree(t, oneNodeConfig)
	mnt = tmpfs("2m")
	dir := filepath.Join(mnt, "existing")
	if out, err := exec.Command("cp", "-a", base, dir).CombinedOutput(); err != nil {
		t.Fatalf("the tree does not fit in the tmpfs: %v %s", err, out)
	}
	for _, f := range []string{"pki/apiserver.key", "pki/apiserver.crt", "admin.conf", "super-admin.conf", "manifests/kube-apiserver.yaml", "kubelet/config.yaml"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	filler, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := filler.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	filler.Close()
	before := snapshot(t, dir)
	r = runBin(t, "init", "--dir", dir)
	expectRefusal(t, r, cli.ExitError, "no space left on device")
	unchanged(t, dir, before)
	// Room again: the same init finishes the tree.
	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		t.Fatal(err)
	}
	if s := parseSummary(t, mustRunBin(t, "init", "--dir", dir)); s.created != 6 {
		t.Errorf("init after the disk had room: %+v", s)
	}
	checkTree(t, dir, time.Now())
}

// TestConcurrentConfigs: runs with different configurations started
// together on one new folder: the first to take the lock makes the tree
// and saves its configuration; every run of the other configuration is
// refused (drift for another key algorithm, a problem for names the tree
// does not cover), so no update is lost: bulwark.yaml is the winner's,
// and the tree is the one it describes.
func TestConcurrentConfigs(t *testing.T) {
	a := writeFile(t, "a.yaml", oneNodeConfig)
	variants := map[string]string{
		"key algorithm": oneNodeConfig + "keyAlgorithm: ecdsa-p384\n",
		"extra SANs":    oneNodeConfig + "extraSANs: [api.example.com]\n",
	}
	for name, doc := range variants {
		t.Run(name, func(t *testing.T) {
			b := writeFile(t, "b.yaml", doc)
			for round := range 3 {
				dir := filepath.Join(t.TempDir(), "cluster")
				type proc struct {
					cfg    string
					cmd    *exec.Cmd
					out    bytes.Buffer
					errOut bytes.Buffer
				}
				var procs []*proc
				for i := range 6 {
					cfg := a
					if i%2 == 1 {
						cfg = b
					}
					p := &proc{cfg: cfg, cmd: binCmd("init", "--dir", dir, "--config", cfg)}
					p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errOut
					procs = append(procs, p)
				}
				for _, p := range procs {
					if err := p.cmd.Start(); err != nil {
						t.Fatal(err)
					}
				}
				won := map[string]int{}
				for _, p := range procs {
					err := p.cmd.Wait()
					code := 0
					var ee *exec.ExitError
					if errors.As(err, &ee) {
						code = ee.ExitCode()
					} else if err != nil {
						t.Fatal(err)
					}
					if code == 0 {
						won[p.cfg]++
					} else if code != cli.ExitUsage && code != cli.ExitError {
						t.Fatalf("round %d: exit %d\n%s", round, code, p.errOut.String())
					}
				}
				if len(won) != 1 {
					t.Fatalf("round %d: runs of both configurations succeeded: %v", round, won)
				}
				for winner, n := range won {
					if n != 3 {
						t.Errorf("round %d: %d of 3 runs of the winning configuration succeeded", round, n)
					}
					// bulwark.yaml is the winner's: a plain init keeps all, and
					// the winner's configuration is no drift from it.
					saved := string(readFile(t, dir, "bulwark.yaml"))
					if (winner == b) != (strings.Contains(saved, "p384") || strings.Contains(saved, "api.example.com")) {
						t.Errorf("round %d: bulwark.yaml is not the winner's:\n%s", round, saved)
					}
					if s := parseSummary(t, mustRunBin(t, "init", "--dir", dir, "--config", winner)); s.created+s.renewed != 0 {
						t.Errorf("round %d: the winner's configuration does not describe the tree: %+v", round, s)
					}
				}
				checkTree(t, dir, time.Now())
			}
		})
	}
}

// TestTerminalSafe: text read from files (a token's description, a
// certificate's subject, a kubeconfig's server) reaches the terminal with
// its control characters escaped, in reports and in error lines.
func TestTerminalSafe(t *testing.T) {
	dir := binTree(t, oneNodeConfig)
	evil := "\x1b]0;owned\x07\x1b[2J\u009b31m\u202e"
	mustRunBin(t, "token", "create", "--dir", dir, "--description", "join "+evil)
	r := mustRunBin(t, "token", "list", "--dir", dir)
	if !strings.Contains(r.stdout, `join \u001b]0;owned\u0007\u001b[2J\u009b31m\u202e`) {
		t.Errorf("token list does not show the description escaped:\n%q", r.stdout)
	}
	// YAML spells the control characters as escapes in the file.
	conf := strings.Replace(string(readFile(t, dir, "scheduler.conf")), "server: https://10.0.0.11:6443",
		`server: "https://10.0.0.11:6443/\e]0;owned\a\e[2J\u009b31m\u202e"`, 1)
	breakWith("scheduler.conf", []byte(conf))(t, dir)
	r = runBin(t, "init", "--dir", dir)
	expectRefusal(t, r, cli.ExitError, `scheduler.conf: points at https://10.0.0.11:6443/\u001b]0;owned`)
	for _, out := range []string{r.stdout, r.stderr} {
		for _, c := range out {
			if (c < 0x20 && c != '\n' && c != '\t') || (c >= 0x80 && c < 0xa0) || c == '\u202e' {
				t.Fatalf("raw control character %U printed:\n%q", c, out)
			}
		}
	}
}

// TestUnknownSubcommands: a subcommand no command has is a usage error
// (exit 2, one line), for the root and for every command that groups
// others; a group alone prints its help.
func TestUnknownSubcommands(t *testing.T) {
	for _, argv := range [][]string{{"bogus"}, {"certs", "bogus"}, {"token", "bogus"}, {"rbac", "bogus"}, {"admin", "bogus"}, {"rotate", "bogus"}, {"completion", "tcsh"}, {"certs", "renw", "--all"}} {
		r := runBin(t, argv...)
		expectRefusal(t, r, cli.ExitUsage, argv[len(argv)-1])
	}
	for _, group := range []string{"certs", "token", "rbac", "admin", "rotate", "completion"} {
		r := mustRunBin(t, group)
		if !strings.Contains(r.stdout, "Available Commands") {
			t.Errorf("bulwark %s printed no help:\n%s", group, r.stdout)
		}
	}
}

// TestCheckExpirationJSON: JSON never shows a zero date, and gives how long
// ago an expired certificate ended as a negative remainingSeconds; a
// missing certificate has neither.
func TestCheckExpirationJSON(t *testing.T) {
	dir := binTree(t, oneNodeConfig)
	if err := os.Remove(filepath.Join(dir, "pki/front-proxy-client.crt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "pki/front-proxy-client.key")); err != nil {
		t.Fatal(err)
	}
	r := runAt(t, time.Now().Add(400*24*time.Hour), "certs", "check-expiration", "--dir", dir, "-o", "json")
	if r.code != cli.ExitFindings {
		t.Fatalf("%v", r)
	}
	if strings.Contains(r.stdout, "0001-01-01") {
		t.Errorf("a zero date in the JSON:\n%s", r.stdout)
	}
	var entries []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		switch e["status"] {
		case "missing":
			seen["missing"] = true
			if _, ok := e["notAfter"]; ok {
				t.Errorf("a missing certificate has a date: %v", e)
			}
			if _, ok := e["remainingSeconds"]; ok {
				t.Errorf("a missing certificate has a remaining time: %v", e)
			}
		case "expired":
			seen["expired"] = true
			if s, ok := e["remainingSeconds"].(float64); !ok || s > -30*24*3600 {
				t.Errorf("an expired certificate's remainingSeconds %v, want about -35 days", e["remainingSeconds"])
			}
		}
	}
	if !seen["missing"] || !seen["expired"] {
		t.Errorf("statuses seen %v\n%s", seen, r.stdout)
	}
}
