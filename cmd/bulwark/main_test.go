package main

// Tests of the bulwark binary as users run it: exit codes, one-line
// errors, nothing written on failure, concurrent runs, runs killed
// part-way, and no key material in any output.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/components"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/pki"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// bin builds the bulwark binary once for the package's tests.
func bin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bulwark-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "bulwark")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	r := result{out.String(), errb.String(), code}
	outputs.add(r)
	return r
}

func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := run(t, args...)
	if r.code != 0 {
		t.Fatalf("bulwark %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// outputs collects everything every command printed, for the key scan.
var outputs = &collected{}

type collected struct {
	mu  sync.Mutex
	all []string
}

func (c *collected) add(r result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, r.stdout, r.stderr)
}

// snapshot is every file and folder under a root: content hash, mode and,
// for files, modification time.
type entry struct {
	hash  string
	mode  fs.FileMode
	mtime time.Time
}

func snapshot(t *testing.T, root string) map[string]entry {
	t.Helper()
	snap := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == root {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{mode: fi.Mode()}
		if !d.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			e.hash, e.mtime = hex.EncodeToString(sum[:]), fi.ModTime()
		}
		snap[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func diffSnapshots(a, b map[string]entry) []string {
	var diffs []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			diffs = append(diffs, "removed "+k)
		} else if v != w {
			diffs = append(diffs, "changed "+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diffs = append(diffs, "added "+k)
		}
	}
	sort.Strings(diffs)
	return diffs
}

func writeConfig(t *testing.T, doc string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

const threeNodes = `apiVersion: bulwark.dev/v1alpha1
kind: ClusterConfig
apiEndpoint: 10.0.0.10:6443
controlPlane:
  - {name: cp-1, ips: [10.0.0.11]}
  - {name: cp-2, ips: [10.0.0.12]}
  - {name: cp-3, ips: [10.0.0.13]}
`

// verifyTree checks a folder made by init: every certificate chains to
// the CA the table names, every key matches, kubeconfigs hold valid
// credentials, and there are no leftovers.
func verifyTree(t *testing.T, dir string) {
	t.Helper()
	cas := map[string]string{"": "pki/ca.crt", "etcd": "pki/etcd/ca.crt", "peer": "pki/etcd/peer-ca.crt", "proxy": "pki/front-proxy-ca.crt"}
	caOf := func(rel string) string {
		switch {
		case strings.HasSuffix(rel, "peer.crt"):
			return cas["peer"]
		case strings.HasPrefix(rel, "pki/etcd/") || rel == "pki/apiserver-etcd-client.crt":
			return cas["etcd"]
		case rel == "pki/front-proxy-client.crt":
			return cas["proxy"]
		}
		return cas[""]
	}
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.Contains(d.Name(), ".bulwark-tmp-") {
			t.Errorf("leftover temporary file %s", rel)
		}
		if d.IsDir() || !strings.HasSuffix(rel, ".crt") {
			return nil
		}
		n++
		if strings.HasSuffix(rel, "ca.crt") {
			return nil
		}
		if out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(dir, caOf(rel)), p).CombinedOutput(); err != nil {
			t.Errorf("openssl verify %s: %v %s", rel, err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, crt := range findAll(t, dir, ".crt") {
		cd, _ := os.ReadFile(filepath.Join(dir, crt))
		kd, err := os.ReadFile(filepath.Join(dir, strings.TrimSuffix(crt, ".crt")+".key"))
		if err != nil {
			t.Errorf("%s has no key: %v", crt, err)
			continue
		}
		c, err1 := pki.ParseCert(cd)
		k, err2 := pki.ParsePrivateKey(kd)
		if err1 != nil || err2 != nil || !pki.KeyMatches(c, k) {
			t.Errorf("%s: key and certificate do not match (%v %v)", crt, err1, err2)
		}
	}
	for _, conf := range []string{"admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf", "bootstrap-kubelet.conf"} {
		data, err := os.ReadFile(filepath.Join(dir, conf))
		if err != nil {
			t.Errorf("%s: %v", conf, err)
			continue
		}
		kc, err := kubeconfig.Parse(data)
		if err != nil {
			t.Errorf("%s: %v", conf, err)
			continue
		}
		if kc.Credentials.Cert != nil && !pki.KeyMatches(kc.Credentials.Cert, kc.Credentials.Key) {
			t.Errorf("%s: client key does not match", conf)
		}
	}
	if n < 11 {
		t.Errorf("only %d certificates in %s", n, dir)
	}
}

func findAll(t *testing.T, dir, suffix string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(filepath.Join(dir, "pki"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, suffix) {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestInitTwiceKeepsEveryKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	cfg := writeConfig(t, threeNodes)
	mustRun(t, "init", "--dir", dir, "--config", cfg)
	before := snapshot(t, dir)
	r := mustRun(t, "init", "--dir", dir, "--config", cfg)
	if !strings.Contains(r.stdout, " 0 created") {
		t.Fatalf("second init created files:\n%s", r.stdout)
	}
	if d := diffSnapshots(before, snapshot(t, dir)); len(d) > 0 {
		t.Fatalf("second init changed the folder: %v", d)
	}
	verifyTree(t, dir)
	// Without --config the folder's saved configuration is used.
	mustRun(t, "init", "--dir", dir)
	if d := diffSnapshots(before, snapshot(t, dir)); len(d) > 0 {
		t.Fatalf("init without --config changed the folder: %v", d)
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	mustRun(t, "init", "--dir", dir, "--config", writeConfig(t, threeNodes))
	mustRun(t, "token", "create", "--dir", dir)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		mode := fi.Mode().Perm()
		want := fs.FileMode(0o600)
		switch {
		case d.IsDir():
			want = 0o700
		case strings.HasSuffix(rel, ".crt"), rel == "pki/sa.pub", rel == "cluster/rbac.yaml", rel == "bulwark.yaml":
			want = 0o644
		}
		if mode != want {
			t.Errorf("%s: mode %o, want %o", rel, mode, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBadInputs: each gives one line on stderr, the documented exit code,
// and writes or changes nothing.
func TestBadInputs(t *testing.T) {
	good := writeConfig(t, threeNodes)
	type tc struct {
		name    string
		prepare func(t *testing.T, dir string) // on an initialised folder; nil: a fresh, empty location
		args    func(dir string) []string
		code    int
		want    string // in the error line
		fix     []string
	}
	initArgs := func(dir string) []string { return []string{"init", "--dir", dir, "--config", good} }
	corrupt := func(rel string, data []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, rel), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	swap := func(a, b string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			da, _ := os.ReadFile(filepath.Join(dir, a))
			db, _ := os.ReadFile(filepath.Join(dir, b))
			_ = os.WriteFile(filepath.Join(dir, a), db, 0o600)
			_ = os.WriteFile(filepath.Join(dir, b), da, 0o600)
		}
	}
	cases := []tc{
		{"corrupted key", corrupt("pki/apiserver.key", []byte("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")), initArgs, 1,
			"pki/apiserver.key: is not a valid PEM private key", []string{"certs", "renew", "apiserver", "--new-key"}},
		{"not PEM at all", corrupt("pki/etcd/healthcheck-client.key", []byte("garbage")), initArgs, 1, "pki/etcd/healthcheck-client.key", nil},
		{"mismatched keys", swap("pki/apiserver-kubelet-client.key", "pki/front-proxy-client.key"), initArgs, 1, "does not match its private key", nil},
		{"bad PEM certificate", corrupt("pki/apiserver.crt", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")), initArgs, 1,
			"pki/apiserver.crt: is not a valid PEM certificate", []string{"certs", "renew", "apiserver"}},
		{"truncated kubeconfig", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, "admin.conf"))
			_ = os.WriteFile(filepath.Join(dir, "admin.conf"), data[:len(data)/2], 0o600)
		}, initArgs, 1, "admin.conf", []string{"certs", "renew", "admin", "--new-key"}},
		{"leaf signed by another CA", swap("pki/apiserver-etcd-client.crt", "pki/front-proxy-client.crt"), initArgs, 1, "", nil},
		{"config with an unknown field", nil, func(dir string) []string {
			return []string{"init", "--dir", dir, "--config", writeConfig(t, "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\ncontrolPlane:\n  - name: cp-1\n    ipz: [10.0.0.1]\n")}
		}, 2, `line 5: controlPlane[0].ipz: unknown field (did you mean "ips"?)`, nil},
		{"config with a bad IP", nil, func(dir string) []string {
			return []string{"init", "--dir", dir, "--config", writeConfig(t, "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\ncontrolPlane:\n  - name: cp-1\n    ips: [10.0.0.300]\n")}
		}, 2, `line 5: controlPlane[0].ips[0]: invalid IP address "10.0.0.300"`, nil},
		{"config that is not YAML", nil, func(dir string) []string {
			return []string{"init", "--dir", dir, "--config", writeConfig(t, "apiVersion: [\n")}
		}, 2, "invalid YAML", nil},
		{"missing config file", nil, func(dir string) []string { return []string{"init", "--dir", dir, "--config", "/nonexistent/c.yaml"} }, 2, "/nonexistent/c.yaml", nil},
		{"unknown flag", nil, func(dir string) []string { return []string{"init", "--dir", dir, "--frobnicate"} }, 2, "unknown flag", nil},
		{"missing --dir", nil, func(dir string) []string { return []string{"init"} }, 2, `required flag(s) "dir" not set`, nil},
		{"unknown output format", nil, func(dir string) []string { return []string{"plan", "-o", "xml"} }, 2, `unknown output format "xml"`, nil},
		{"bad root", nil, func(dir string) []string { return []string{"init", "--dir", dir, "--root", "relative/path"} }, 2, "root", nil},
		{"token with a bad group", func(t *testing.T, dir string) {}, func(dir string) []string {
			return []string{"token", "create", "--dir", dir, "--groups", "admins"}
		}, 2, "system:bootstrappers:", nil},
		{"token with a bad TTL", func(t *testing.T, dir string) {}, func(dir string) []string { return []string{"token", "create", "--dir", dir, "--ttl", "-5m"} }, 2, "--ttl", nil},
		{"renew an unknown name", func(t *testing.T, dir string) {}, func(dir string) []string { return []string{"certs", "renew", "apiservr", "--dir", dir} }, 2, `"apiservr"`, nil},
		{"delete an unknown token", func(t *testing.T, dir string) {}, func(dir string) []string { return []string{"token", "delete", "abcdef", "--dir", dir} }, 1, "abcdef", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cluster")
			if c.prepare != nil {
				mustRun(t, "init", "--dir", dir, "--config", good)
				c.prepare(t, dir)
			}
			before := snapshot(t, dir)
			r := run(t, c.args(dir)...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, c.code, r.stdout, r.stderr)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "bulwark: error: ") || !strings.Contains(lines[0], c.want) {
				t.Fatalf("stderr %q, want one line `bulwark: error: …%s…`", r.stderr, c.want)
			}
			after := snapshot(t, dir)
			if c.prepare == nil {
				// Nothing at all: not even the folder.
				if len(after) != 0 {
					t.Fatalf("a failed run on a fresh location wrote %v", diffSnapshots(before, after))
				}
			} else if d := diffSnapshots(before, after); len(d) > 0 {
				t.Fatalf("a failed run changed the folder: %v", d)
			}
			if c.fix != nil {
				if !strings.Contains(lines[0], "bulwark "+strings.Join(c.fix, " ")) {
					t.Fatalf("error does not name the fix %v: %s", c.fix, lines[0])
				}
				mustRun(t, append(c.fix, "--dir", dir)...)
				mustRun(t, "init", "--dir", dir, "--config", good)
				verifyTree(t, dir)
			}
		})
	}
}

func TestConcurrentInits(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	cfg := writeConfig(t, threeNodes)
	var wg sync.WaitGroup
	results := make([]result, 8)
	for i := range results {
		wg.Go(func() { results[i] = run(t, "init", "--dir", dir, "--config", cfg) })
	}
	wg.Wait()
	created := 0
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, " 0 created") {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d runs created files, want exactly 1", created)
	}
	verifyTree(t, dir)
	if r := mustRun(t, "init", "--dir", dir, "--config", cfg); !strings.Contains(r.stdout, " 0 created") {
		t.Fatalf("tree incomplete after concurrent runs:\n%s", r.stdout)
	}
}

// TestKilledRunRecovers stops init at every point of its write phase
// (BULWARK_TEST_KILL_AFTER_LINKS makes the process SIGKILL itself after that
// many files are in place) and at random moments, and checks that what a
// kill leaves never has a certificate without its key, and that the next
// run completes the tree.
func TestKilledRunRecovers(t *testing.T) {
	cfg := writeConfig(t, threeNodes)
	ref := filepath.Join(t.TempDir(), "ref")
	start := time.Now()
	mustRun(t, "init", "--dir", ref, "--config", cfg)
	full := time.Since(start)
	want := fileSet(t, ref)
	check := func(t *testing.T, dir, what string) {
		t.Helper()
		for _, f := range fileSet(t, dir) {
			if strings.HasSuffix(f, ".crt") && !strings.HasSuffix(f, "ca.crt") {
				if _, err := os.Stat(filepath.Join(dir, strings.TrimSuffix(f, ".crt")+".key")); err != nil {
					t.Fatalf("%s: %s is there without its key", what, f)
				}
			}
		}
		mustRun(t, "init", "--dir", dir, "--config", cfg)
		if got := fileSet(t, dir); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: files %v, want %v", what, got, want)
		}
		verifyTree(t, dir)
	}
	partial := 0
	for n := 1; n < len(want); n += 3 {
		dir := filepath.Join(t.TempDir(), fmt.Sprint(n))
		cmd := exec.Command(bin(t), "init", "--dir", dir, "--config", cfg)
		cmd.Env = append(os.Environ(), fmt.Sprintf("BULWARK_TEST_KILL_AFTER_LINKS=%d", n))
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("run meant to be killed after %d files: %v", n, err)
		}
		if got := fileSet(t, dir); len(got) > 0 && len(got) < len(want) {
			partial++
		}
		check(t, dir, fmt.Sprintf("killed after %d files", n))
	}
	if partial == 0 {
		t.Fatal("no kill left a partial tree: the test proved nothing")
	}
	for i := range 10 {
		dir := filepath.Join(t.TempDir(), fmt.Sprint("random", i))
		cmd := exec.Command(bin(t), "init", "--dir", dir, "--config", cfg)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(full * time.Duration(i) / 10)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		check(t, dir, fmt.Sprintf("killed after %s", full*time.Duration(i)/10))
	}
}

// fileSet lists the files of a tree, without the bootstrap token's ID
// (random per run) and without the lock.
func fileSet(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == ".bulwark.lock" {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, regexp.MustCompile(`bootstrap-token-[a-z0-9]{6}`).ReplaceAllString(rel, "bootstrap-token-ID"))
		return nil
	})
	sort.Strings(out)
	return out
}

func TestCheckExpiration(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	mustRun(t, "init", "--dir", dir)
	r := mustRun(t, "certs", "check-expiration", "--dir", dir, "-o", "json")
	var entries []struct {
		File, Status string
		CA           bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) < 20 {
		t.Fatalf("%d entries", len(entries))
	}
	// Leaves end in a year: within 400 days they are expiring, CAs are not.
	r = run(t, "certs", "check-expiration", "--dir", dir, "--warn-within", "400d", "-o", "json")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3: %s", r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if want := map[bool]string{true: "ok", false: "expiring"}[e.CA]; e.Status != want {
			t.Errorf("%s (CA %v): %s, want %s", e.File, e.CA, e.Status, want)
		}
	}
	if r := run(t, "certs", "check-expiration", "--dir", t.TempDir()); r.code != 1 {
		t.Fatalf("empty folder: exit %d", r.code)
	}
}

// TestCheckExpirationReadsKubeadm runs the real kubeadm of the pinned
// release and reads its folder.
func TestCheckExpirationReadsKubeadm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real kubeadm")
	}
	kubeadm := components.Path(t, "kubeadm")
	out, err := exec.Command("hostname", "-I").Output()
	if err != nil || len(strings.Fields(string(out))) == 0 {
		t.Skip("no host address for kubeadm")
	}
	dir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: %s\n"+
		"nodeRegistration:\n  name: cp-1\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.36.3\ncertificatesDir: %s/pki\n",
		strings.Fields(string(out))[0], dir))
	for _, phase := range [][]string{{"certs", "all"}, {"kubeconfig", "all", "--kubeconfig-dir", dir}} {
		args := append(append([]string{"init", "phase"}, phase...), "--config", cfg)
		if out, err := exec.Command(kubeadm, args...).CombinedOutput(); err != nil {
			t.Fatalf("kubeadm %v: %v\n%s", phase, err, out)
		}
	}
	r := mustRun(t, "certs", "check-expiration", "--dir", dir, "-o", "json")
	var entries []struct{ File, Where, Status string }
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, e := range entries {
		files[e.File] = true
		if e.Status != "ok" {
			t.Errorf("%s %s: %s", e.File, e.Where, e.Status)
		}
	}
	for _, f := range []string{"pki/ca.crt", "pki/apiserver.crt", "pki/etcd/server.crt", "pki/front-proxy-client.crt", "admin.conf", "super-admin.conf", "kubelet.conf", "scheduler.conf"} {
		if !files[f] {
			t.Errorf("kubeadm's %s not reported", f)
		}
	}
}

func TestTokensOffline(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	mustRun(t, "init", "--dir", dir)
	r := mustRun(t, "token", "create", "--dir", dir, "--ttl", "2h", "--groups", "system:bootstrappers:workers", "--print")
	tok := regexp.MustCompile(`(?m)^([a-z0-9]{6})\.([a-z0-9]{16})$`).FindStringSubmatch(r.stdout)
	if tok == nil {
		t.Fatalf("--print did not print a token:\n%s", r.stdout)
	}
	id := tok[1]
	for _, f := range []string{"cluster/bootstrap-token-" + id + ".yaml", "bootstrap-kubelet-" + id + ".conf"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("token create did not write %s", f)
		}
	}
	kc, _ := os.ReadFile(filepath.Join(dir, "bootstrap-kubelet-"+id+".conf"))
	parsed, err := kubeconfig.Parse(kc)
	if err != nil || parsed.Credentials.Token != tok[0] {
		t.Fatalf("bootstrap kubeconfig does not carry the token: %v", err)
	}
	list := mustRun(t, "token", "list", "--dir", dir, "-o", "json").stdout
	if !strings.Contains(list, `"id": "`+id+`"`) || strings.Contains(list, tok[2]) {
		t.Fatalf("token list: id missing or secret shown:\n%s", list)
	}
	if r := mustRun(t, "token", "create", "--dir", dir); regexp.MustCompile(`[a-z0-9]{6}\.[a-z0-9]{16}`).MatchString(r.stdout) {
		t.Fatalf("token create printed a token without --print:\n%s", r.stdout)
	}
	mustRun(t, "token", "delete", id, "--dir", dir)
	for _, f := range []string{"cluster/bootstrap-token-" + id + ".yaml", "bootstrap-kubelet-" + id + ".conf"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Fatalf("token delete left %s", f)
		}
	}
}

// TestNoKeyMaterialInOutput runs every command, then scans everything any
// test of this package printed for private keys and token secrets.
func TestNoKeyMaterialInOutput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	cfg := writeConfig(t, threeNodes)
	mustRun(t, "init", "--dir", dir, "--config", cfg)
	for _, args := range [][]string{
		{"plan", "--config", cfg}, {"plan", "-o", "json", "--config", cfg}, {"plan", "-o", "yaml", "--config", cfg},
		{"render", "--dir", dir}, {"certs", "list", "--dir", dir}, {"certs", "list", "--dir", dir, "-o", "yaml"},
		{"certs", "check-expiration", "--dir", dir, "-o", "json"}, {"certs", "renew", "--all", "--dir", dir},
		{"certs", "renew", "admin", "--new-key", "--dir", dir},
		{"token", "create", "--dir", dir}, {"token", "list", "--dir", dir}, {"token", "list", "--dir", dir, "-o", "yaml"},
		{"audit", "--dir", dir, "--root", dir, "-o", "json"}, {"audit", "--dir", dir, "-o", "sarif"}, {"version"}, {"--help"},
	} {
		run(t, args...)
	}
	// Errors that name key files.
	_ = os.WriteFile(filepath.Join(dir, "pki/apiserver.key"), []byte("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"), 0o600)
	run(t, "init", "--dir", dir)

	var secrets []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(p)
		for _, m := range regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----\n(.*?)-----END`).FindAllSubmatch(data, -1) {
			body := strings.ReplaceAll(string(m[1]), "\n", "")
			for i := 0; i+40 <= len(body); i += 40 {
				secrets = append(secrets, body[i:i+40])
			}
		}
		for _, m := range regexp.MustCompile(`token: ([a-z0-9]{6}\.[a-z0-9]{16})`).FindAllSubmatch(data, -1) {
			secrets = append(secrets, string(m[1])[7:])
		}
		for _, m := range regexp.MustCompile(`client-key-data: (\S{40})`).FindAllSubmatch(data, -1) {
			secrets = append(secrets, string(m[1]))
		}
		return nil
	})
	if len(secrets) < 20 {
		t.Fatalf("found only %d secrets to look for", len(secrets))
	}
	outputs.mu.Lock()
	defer outputs.mu.Unlock()
	if len(outputs.all) < 30 {
		t.Fatalf("only %d outputs collected", len(outputs.all))
	}
	for _, out := range outputs.all {
		if strings.Contains(out, "PRIVATE KEY") {
			t.Fatalf("output holds a PEM private key:\n%s", out)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatalf("output holds key material %q…", s[:8])
			}
		}
	}
}
