package cli_test

// Helpers shared by the CLI behaviour tests: running bulwark in-process
// (cli.Run with a fixed clock) and as the real binary, snapshots of a
// folder, and an independent check of a whole tree (chains, key matches,
// kubeconfigs, tokens) that reads the files with the standard library and
// openssl rather than with bulwark's own packages.

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/layout"
)

// bulwarkBin is the real binary, built once by TestMain.
var bulwarkBin string

// cleanups run after every test, for what tests share (kubeadm's tree).
var cleanups []func()

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bulwark-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bulwarkBin = filepath.Join(dir, "bulwark")
	// With the test hooks (BULWARK_TEST_*): the crash and rollback tests
	// kill or fail real runs with them. Release builds have none
	// (cmd/bulwark's tests check that).
	build := exec.Command("go", "build", "-tags", "bulwarktest", "-o", bulwarkBin, "github.com/bulwark-k8s/bulwark/cmd/bulwark")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// t0 is the fixed clock of in-process runs: a time no real run happens at,
// so that a test reading the real clock by mistake shows.
var t0 = time.Date(2031, 3, 14, 15, 9, 26, 0, time.UTC)

// testHost is the host name in-process runs see.
const testHost = "cp-test"

type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("bulwark %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// runAt runs one command line in-process with the clock at now.
func runAt(t testing.TB, now time.Time, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := cli.Env{
		Now:      func() time.Time { return now },
		Rand:     rand.Reader,
		Hostname: func() (string, error) { return testHost, nil },
		Stdin:    strings.NewReader(""),
		Stdout:   &stdout,
		Stderr:   &stderr,
	}
	code := cli.Run(env, args)
	return result{args: args, stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func run(t testing.TB, args ...string) result { t.Helper(); return runAt(t, t0, args...) }

func mustRunAt(t testing.TB, now time.Time, args ...string) result {
	t.Helper()
	r := runAt(t, now, args...)
	if r.code != cli.ExitOK {
		t.Fatalf("%v", r)
	}
	return r
}

func mustRun(t testing.TB, args ...string) result { t.Helper(); return mustRunAt(t, t0, args...) }

// binCmd is the real binary with a clean environment: no test hooks.
func binCmd(args ...string) *exec.Cmd { return withoutBulwarkEnv(exec.Command(bulwarkBin, args...)) }

// withoutBulwarkEnv gives cmd this process's environment without the
// BULWARK_ variables a test may have set for itself.
func withoutBulwarkEnv(cmd *exec.Cmd) *exec.Cmd {
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "BULWARK_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	return cmd
}

// runBin runs the real binary to completion.
func runBin(t testing.TB, args ...string) result {
	t.Helper()
	return runCmd(t, binCmd(args...), args)
}

// runCmd runs cmd to completion; args are what the result names.
func runCmd(t testing.TB, cmd *exec.Cmd, args []string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
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

func mustRunBin(t testing.TB, args ...string) result {
	t.Helper()
	r := runBin(t, args...)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	return r
}

// summary is the counts line every folder command ends its report with.
type summary struct{ created, issued, renewed, removed, kept int }

var summaryRE = regexp.MustCompile(`(?m)^.*: (\d+) created, (\d+) issued for existing keys, (\d+) renewed, (\d+) removed, (\d+) kept(, \d+ modes fixed)?$`)

func parseSummary(t testing.TB, r result) summary {
	t.Helper()
	m := summaryRE.FindAllStringSubmatch(r.stdout, -1)
	if len(m) != 1 {
		t.Fatalf("want one summary line in the report\n%v", r)
	}
	n := make([]int, 5)
	for i := range n {
		n[i], _ = strconv.Atoi(m[0][i+1])
	}
	return summary{n[0], n[1], n[2], n[3], n[4]}
}

// writeFile writes a test input outside any cluster folder.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Configurations. Node names and addresses are explicit, so that the
// in-process runs and the binary make the same tree.
const (
	oneNodeConfig = `apiVersion: bulwark.dev/v1alpha1
kind: ClusterConfig
controlPlane:
  - name: cp-1
    ips: [10.0.0.11]
`
	threeNodeConfig = `apiVersion: bulwark.dev/v1alpha1
kind: ClusterConfig
apiEndpoint: 10.0.0.10:6443
controlPlane:
  - {name: cp-1, ips: [10.0.0.11]}
  - {name: cp-2, ips: [10.0.0.12]}
  - {name: cp-3, ips: [10.0.0.13]}
`
	rsaConfig = `apiVersion: bulwark.dev/v1alpha1
kind: ClusterConfig
keyAlgorithm: rsa-2048
apiEndpoint: 10.0.0.10:6443
controlPlane:
  - {name: cp-1, ips: [10.0.0.11]}
  - {name: cp-2, ips: [10.0.0.12]}
`
)

// newTree makes a cluster folder in-process at t0 and returns its path.
func newTree(t testing.TB, config string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cluster")
	mustRun(t, "init", "--dir", dir, "--config", writeFile(t, "cluster.yaml", config))
	return dir
}

// entry is one path of a snapshot.
type entry struct {
	mode  fs.FileMode // type and permission bits
	hash  string      // files only
	mtime time.Time   // files only
}

// snapshot is every path under root (root itself as "."), or nil when
// root does not exist.
func snapshot(t testing.TB, root string) map[string]entry {
	t.Helper()
	if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	snap := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		e := entry{mode: fi.Mode()}
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			e.hash, e.mtime = hex.EncodeToString(sum[:]), fi.ModTime()
		}
		snap[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// diff lists what changed between two snapshots.
func diff(before, after map[string]entry) []string {
	var out []string
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			out = append(out, "removed "+p)
		case a.hash != b.hash:
			out = append(out, "content changed "+p)
		case a.mode != b.mode:
			out = append(out, fmt.Sprintf("mode changed %s: %v -> %v", p, b.mode, a.mode))
		case !a.mtime.Equal(b.mtime):
			out = append(out, "rewritten "+p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			out = append(out, "added "+p)
		}
	}
	sort.Strings(out)
	return out
}

func readFile(t testing.TB, dir, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// files lists the regular files under dir, relative and sorted.
func files(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	for p, e := range snapshot(t, dir) {
		if e.mode.IsRegular() {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

var tokenIDInName = regexp.MustCompile(`bootstrap-token-[a-z0-9]{6}\.yaml$`)

// fileSet is files without the lock, with the random token ID masked.
func fileSet(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	for _, f := range files(t, dir) {
		if layout.Classify(f) == layout.Mounted {
			// A static Pod's folder of links is reported as one.
			i := strings.Index(f, layout.MountsDir+"/") + len(layout.MountsDir) + 1
			f = f[:i+strings.Index(f[i:], "/")+1]
		}
		if f != ".bulwark.lock" && !slices.Contains(out, f) {
			out = append(out, tokenIDInName.ReplaceAllString(f, "bootstrap-token-ID.yaml"))
		}
	}
	return out
}

// parseCertPEM reads exactly one PEM certificate.
func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("more than one PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

// parseKeyPEM reads a PKCS#8, PKCS#1 or SEC 1 private key.
func parseKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T is not a signer", k)
	}
	return s, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// kubeconfigFile is the part of a kubeconfig the checks read.
type kubeconfigFile struct {
	CurrentContext string `json:"current-context"`
	Clusters       []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server string `json:"server"`
			CAData []byte `json:"certificate-authority-data"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			CertData []byte `json:"client-certificate-data"`
			KeyData  []byte `json:"client-key-data"`
			Token    string `json:"token"`
		} `json:"user"`
	} `json:"users"`
}

func parseKubeconfig(data []byte) (*kubeconfigFile, error) {
	var kc kubeconfigFile
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return nil, err
	}
	if len(kc.Clusters) != 1 || len(kc.Users) != 1 {
		return nil, fmt.Errorf("%d clusters and %d users, want one of each", len(kc.Clusters), len(kc.Users))
	}
	return &kc, nil
}

// tokenSecret is a bootstrap token Secret manifest.
type tokenSecret struct {
	Kind     string                           `json:"kind"`
	Type     string                           `json:"type"`
	Metadata struct{ Name, Namespace string } `json:"metadata"`
	Data     map[string][]byte                `json:"data"`
}

func parseTokenSecret(data []byte) (*tokenSecret, error) {
	var s tokenSecret
	if err := yaml.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	if s.Kind != "Secret" || s.Type != "bootstrap.kubernetes.io/token" || s.Metadata.Namespace != "kube-system" {
		return nil, fmt.Errorf("not a bootstrap token Secret: %s %s in %q", s.Kind, s.Type, s.Metadata.Namespace)
	}
	return &s, nil
}

var tokenRE = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)

// The trust roots and which of them signs a leaf, as DESIGN.md's table
// says: separate roots per channel.
var caFiles = []string{"pki/ca.crt", "pki/etcd/ca.crt", "pki/etcd/peer-ca.crt", "pki/front-proxy-ca.crt"}

func caOf(leaf string) string {
	switch {
	case strings.HasPrefix(leaf, "pki/etcd/") && path.Base(leaf) == "peer.crt":
		return "pki/etcd/peer-ca.crt"
	case strings.HasPrefix(leaf, "pki/etcd/"), leaf == "pki/apiserver-etcd-client.crt":
		return "pki/etcd/ca.crt"
	case leaf == "pki/front-proxy-client.crt":
		return "pki/front-proxy-ca.crt"
	}
	return "pki/ca.crt"
}

// treeReport is what checkTree verified, for tests that go on with openssl.
type treeReport struct {
	leaves      []string          // pki/**/*.crt that are not CAs
	clientCerts map[string][]byte // kubeconfig file -> its client certificate, PEM
}

// checkTree checks a complete cluster folder with crypto/x509 at time at:
// four self-signed CAs whose keys match; every leaf under pki/ verifies
// against exactly the CA its channel names and against none of the others,
// and matches its key; no key without its certificate; sa.key matches
// sa.pub; every kubeconfig trusts the cluster CA and holds either a client
// certificate of that CA with its matching key, or a well-formed bootstrap
// token whose Secret manifest is in cluster/; no temporary files.
func checkTree(t testing.TB, dir string, at time.Time) treeReport {
	t.Helper()
	all := files(t, dir)
	rep := treeReport{clientCerts: map[string][]byte{}}
	for _, f := range all {
		if strings.Contains(path.Base(f), ".bulwark-tmp-") {
			t.Errorf("%s: temporary file left behind", f)
		}
	}
	roots := map[string]*x509.Certificate{}
	for _, f := range caFiles {
		c, err := parseCertPEM(readFile(t, dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !c.IsCA || c.CheckSignatureFrom(c) != nil {
			t.Errorf("%s is not a self-signed CA", f)
		}
		k, err := parseKeyPEM(readFile(t, dir, strings.TrimSuffix(f, ".crt")+".key"))
		if err != nil || !samePublicKey(c.PublicKey, k.Public()) {
			t.Errorf("%s does not match its key (%v)", f, err)
		}
		roots[f] = c
	}
	pool := func(c *x509.Certificate) *x509.CertPool { p := x509.NewCertPool(); p.AddCert(c); return p }
	verify := func(name string, leaf *x509.Certificate, want string) {
		for f, root := range roots {
			_, err := leaf.Verify(x509.VerifyOptions{Roots: pool(root), CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			switch {
			case f == want && err != nil:
				t.Errorf("%s does not verify against %s: %v", name, f, err)
			case f != want && err == nil:
				t.Errorf("%s verifies against %s: one channel's CA must not open another", name, f)
			}
		}
	}
	for _, f := range all {
		switch {
		case layout.Classify(f) == layout.Mounted:
			// Links to the files checked here.
		case f == "pki/ca-signer.crt":
			// The cluster CA's signing certificate alone, for the
			// controller manager: the certificate of pki/ca.crt itself.
			if !bytes.Equal(readFile(t, dir, f), roots["pki/ca.crt"].Raw) && !bytes.Equal(readFile(t, dir, f), readFile(t, dir, "pki/ca.crt")) {
				t.Errorf("%s is not pki/ca.crt's certificate", f)
			}
		case strings.HasPrefix(f, "pki/") && strings.HasSuffix(f, ".crt") && !slices.Contains(caFiles, f):
			rep.leaves = append(rep.leaves, f)
			c, err := parseCertPEM(readFile(t, dir, f))
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			verify(f, c, caOf(f))
			keyFile := strings.TrimSuffix(f, ".crt") + ".key"
			k, err := parseKeyPEM(readFile(t, dir, keyFile))
			if err != nil || !samePublicKey(c.PublicKey, k.Public()) {
				t.Errorf("%s does not match %s (%v)", f, keyFile, err)
			}
		case strings.HasSuffix(f, ".key") && f != "pki/sa.key":
			if !slices.Contains(all, strings.TrimSuffix(f, ".key")+".crt") {
				t.Errorf("%s has no certificate", f)
			}
		case f == "pki/sa.key":
			k, err := parseKeyPEM(readFile(t, dir, f))
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			block, _ := pem.Decode(readFile(t, dir, "pki/sa.pub"))
			if block == nil {
				t.Errorf("pki/sa.pub is not PEM")
				continue
			}
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil || !samePublicKey(pub, k.Public()) {
				t.Errorf("pki/sa.pub does not match pki/sa.key (%v)", err)
			}
		case layout.Classify(f) == layout.Kubeconfig:
			kc, err := parseKubeconfig(readFile(t, dir, f))
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			ca, err := parseCertPEM(kc.Clusters[0].Cluster.CAData)
			if err != nil || !samePublicKey(ca.PublicKey, roots["pki/ca.crt"].PublicKey) {
				t.Errorf("%s does not trust pki/ca.crt (%v)", f, err)
			}
			if kc.Clusters[0].Cluster.Server == "" {
				t.Errorf("%s names no server", f)
			}
			u := kc.Users[0].User
			if u.Token != "" {
				checkTokenKubeconfig(t, dir, f, u.Token, all)
				continue
			}
			c, err := parseCertPEM(u.CertData)
			if err != nil {
				t.Errorf("%s: client certificate: %v", f, err)
				continue
			}
			verify(f, c, "pki/ca.crt")
			k, err := parseKeyPEM(u.KeyData)
			if err != nil || !samePublicKey(c.PublicKey, k.Public()) {
				t.Errorf("%s: client key does not match its certificate (%v)", f, err)
			}
			rep.clientCerts[f] = u.CertData
		}
	}
	if len(rep.leaves) < 7 || len(rep.clientCerts) < 4 {
		t.Errorf("only %d leaves and %d kubeconfig certificates in %s", len(rep.leaves), len(rep.clientCerts), dir)
	}
	return rep
}

func checkTokenKubeconfig(t testing.TB, dir, f, token string, all []string) {
	t.Helper()
	if !tokenRE.MatchString(token) {
		t.Errorf("%s: malformed bootstrap token", f)
		return
	}
	id, secret, _ := strings.Cut(token, ".")
	manifest := "cluster/bootstrap-token-" + id + ".yaml"
	if !slices.Contains(all, manifest) {
		t.Errorf("%s carries token %s, which has no %s", f, id, manifest)
		return
	}
	s, err := parseTokenSecret(readFile(t, dir, manifest))
	if err != nil || string(s.Data["token-id"]) != id || string(s.Data["token-secret"]) != secret {
		t.Errorf("%s: %s does not hold the token of %s (%v)", manifest, id, f, err)
	}
}

// opensslVerify checks every leaf of a tree with openssl: it verifies
// against its own CA and fails against another.
func opensslVerify(t testing.TB, dir string, rep treeReport) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed to check chains independently")
	}
	tmp := t.TempDir()
	type leaf struct{ name, file, ca string }
	var leaves []leaf
	for _, f := range rep.leaves {
		leaves = append(leaves, leaf{f, filepath.Join(dir, f), caOf(f)})
	}
	for f, data := range rep.clientCerts {
		p := filepath.Join(tmp, strings.ReplaceAll(f, "/", "_")+".crt")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leaf{f, p, "pki/ca.crt"})
	}
	for _, l := range leaves {
		out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(dir, l.ca), l.file).CombinedOutput()
		if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), ": OK") {
			t.Errorf("openssl verify -CAfile %s %s: %v\n%s", l.ca, l.name, err, out)
		}
		other := "pki/ca.crt"
		if l.ca == other {
			other = "pki/etcd/ca.crt"
		}
		if out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(dir, other), l.file).CombinedOutput(); err == nil {
			t.Errorf("openssl verifies %s against %s too:\n%s", l.name, other, out)
		}
	}
}

// errorLines checks that a failed run printed only lines of the form
// "bulwark: error: …" on stderr, at least one, and returns them.
func errorLines(t testing.TB, r result) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if r.stderr == "" || !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("want lines `bulwark: error: …` on stderr\n%v", r)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "bulwark: error: ") || len(l) == len("bulwark: error: ") {
			t.Fatalf("want only lines `bulwark: error: …` on stderr\n%v", r)
		}
	}
	return lines
}

// errorLine checks that a failed run printed exactly one line on stderr,
// "bulwark: error: …", and returns it.
func errorLine(t testing.TB, r result) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasSuffix(r.stderr, "\n") || !strings.HasPrefix(lines[0], "bulwark: error: ") || len(lines[0]) == len("bulwark: error: ") {
		t.Fatalf("want exactly one line `bulwark: error: …` on stderr\n%v", r)
	}
	return lines[0]
}

// keyMaterial collects every secret of a folder: 40-character windows of
// each private key's base64 body (as in PEM and as in a kubeconfig's
// client-key-data) and of its hex form, encryption keys, and bootstrap
// token secrets (plain and base64, as in the Secret's data).
type keyMaterial struct {
	windows map[string]string // window -> where it comes from
	tokens  map[string]string // token secret -> where it comes from
}

const window = 40

func newKeyMaterial() *keyMaterial {
	return &keyMaterial{windows: map[string]string{}, tokens: map[string]string{}}
}

func (k *keyMaterial) addWindows(s, from string) {
	for i := 0; i+window <= len(s); i++ {
		k.windows[s[i:i+window]] = from
	}
}

func (k *keyMaterial) addPEM(data []byte, from string) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return
		}
		if strings.Contains(block.Type, "PRIVATE KEY") {
			k.addWindows(base64.StdEncoding.EncodeToString(block.Bytes), from)
			k.addWindows(hex.EncodeToString(block.Bytes), from)
		}
	}
}

func (k *keyMaterial) addToken(secret, from string) {
	k.tokens[secret] = from
	k.tokens[base64.StdEncoding.EncodeToString([]byte(secret))] = from
}

var encryptionSecretRE = regexp.MustCompile(`(?m)^\s*secret:\s*(\S+)\s*$`)

// harvest adds what is in dir now.
func (k *keyMaterial) harvest(t testing.TB, dir string) {
	t.Helper()
	for _, f := range files(t, dir) {
		data := readFile(t, dir, f)
		k.addPEM(data, f)
		switch {
		case strings.HasSuffix(f, ".conf"):
			kc, err := parseKubeconfig(data)
			if err != nil {
				continue // broken on purpose by a test
			}
			u := kc.Users[0].User
			if len(u.KeyData) > 0 {
				k.addWindows(base64.StdEncoding.EncodeToString(u.KeyData), f+" client-key-data")
				k.addPEM(u.KeyData, f+" client-key-data")
			}
			if _, secret, ok := strings.Cut(u.Token, "."); ok {
				k.addToken(secret, f)
			}
		case tokenIDInName.MatchString(f):
			if s, err := parseTokenSecret(data); err == nil {
				k.addToken(string(s.Data["token-secret"]), f)
			}
		case f == "encryption-config.yaml":
			for _, m := range encryptionSecretRE.FindAllStringSubmatch(string(data), -1) {
				k.tokens[m[1]] = f
			}
		}
	}
}

var clientKeyField = regexp.MustCompile(`client-key-data"?\s*:\s*"?[A-Za-z0-9+/=]`)

// leak reports the first secret found in out, or "". Whitespace is
// dropped first, so that a key body wrapped over lines is still found.
func (k *keyMaterial) leak(out string, allowed ...string) string {
	if strings.Contains(out, "PRIVATE KEY") {
		return `"PRIVATE KEY"`
	}
	if clientKeyField.MatchString(out) {
		return "a client-key-data field"
	}
	for s, from := range k.tokens {
		if strings.Contains(out, s) && !slices.Contains(allowed, s) {
			return "the secret of " + from
		}
	}
	flat := strings.Join(strings.Fields(out), "")
	for i := 0; i+window <= len(flat); i++ {
		if from, ok := k.windows[flat[i:i+window]]; ok {
			return "key material of " + from
		}
	}
	return ""
}
