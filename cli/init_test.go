package cli_test

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/layout"
)

// TestInitTwiceKeepsEverything: a second init on a complete folder keeps
// every file byte for byte (keys, certificates, kubeconfigs, manifests),
// does not even rewrite one, and says so.
func TestInitTwiceKeepsEverything(t *testing.T) {
	for _, tc := range []struct{ name, config string }{{"one node", oneNodeConfig}, {"three nodes", threeNodeConfig}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cluster")
			cfg := writeFile(t, "cluster.yaml", tc.config)
			first := parseSummary(t, mustRun(t, "init", "--dir", dir, "--config", cfg))
			made := fileSet(t, dir)
			// Everything init made, its saved configuration included, is
			// reported as created.
			if first.created != len(made) || first.issued+first.renewed+first.removed+first.kept != 0 {
				t.Fatalf("first init reported %+v for %d files: %v", first, len(made), made)
			}
			before := snapshot(t, dir)
			// An hour later; then again without --config (the folder's saved
			// configuration).
			for i, args := range [][]string{{"init", "--dir", dir, "--config", cfg}, {"init", "--dir", dir}} {
				r := mustRunAt(t, t0.Add(time.Duration(i+1)*time.Hour), args...)
				if got, want := parseSummary(t, r), (summary{kept: first.created - 1}); got != want {
					t.Errorf("run %d reported %+v, want everything (%d files) kept\n%s", i+2, got, first.created, r.stdout)
				}
				if strings.Count(r.stdout, "\n") != 1 {
					t.Errorf("run %d reported files as changed:\n%s", i+2, r.stdout)
				}
				if r.stderr != "" {
					t.Errorf("run %d wrote on stderr: %s", i+2, r.stderr)
				}
				if d := diff(before, snapshot(t, dir)); len(d) > 0 {
					t.Fatalf("run %d changed the folder: %v", i+2, d)
				}
			}
			checkTree(t, dir, t0)
		})
	}
}

// badCase is one bad input.
type badCase struct {
	name string
	// setup breaks a folder made by init from oneNodeConfig at t0; nil
	// means the run gets a fresh location, which must not exist afterwards.
	setup func(t *testing.T, dir string)
	args  func(t *testing.T, dir string) []string
	code  int
	// names are what the error line must name: the file, field or line at fault.
	names []string
	// fix is how the command the error names must start ("" for none); it
	// is run, and init must then pass on the folder.
	fix string
	// inCwd runs in an empty working directory, which must stay empty.
	inCwd bool
	// lines is how many error lines the run prints (one per problem); 0
	// means 1.
	lines int
}

func initDir(_ *testing.T, dir string) []string { return []string{"init", "--dir", dir} }

// breakWith replaces a file of the folder, keeping its mode.
func breakWith(rel string, data []byte) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, rel), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func garbagePEM(typ string) []byte {
	junk := make([]byte, 90)
	_, _ = rand.Read(junk)
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: junk})
}

func swap(a, b string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		da, db := readFile(t, dir, a), readFile(t, dir, b)
		breakWith(a, db)(t, dir)
		breakWith(b, da)(t, dir)
	}
}

func truncate(rel string, fraction float64) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		data := readFile(t, dir, rel)
		breakWith(rel, data[:int(float64(len(data))*fraction)])(t, dir)
	}
}

// resign returns cert (PEM) issued again, unchanged but for its issuer:
// the CA caCert (PEM) of caDir.
func resign(t *testing.T, certPEM []byte, caDir, caCert string) []byte {
	t.Helper()
	leaf, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := parseCertPEM(readFile(t, caDir, caCert))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := parseKeyPEM(readFile(t, caDir, strings.TrimSuffix(caCert, ".crt")+".key"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := *leaf
	tmpl.SignatureAlgorithm, tmpl.AuthorityKeyId = 0, nil
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca, leaf.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// signedBy makes a leaf of the folder signed by another CA.
func signedBy(leaf, caCert string, otherCluster bool) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		caDir := dir
		if otherCluster {
			caDir = newTree(t, oneNodeConfig)
		}
		breakWith(leaf, resign(t, readFile(t, dir, leaf), caDir, caCert))(t, dir)
	}
}

// kubeconfigSignedBy re-signs a kubeconfig's client certificate.
func kubeconfigSignedBy(conf, caCert string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		var doc map[string]any
		if err := yaml.Unmarshal(readFile(t, dir, conf), &doc); err != nil {
			t.Fatal(err)
		}
		user := doc["users"].([]any)[0].(map[string]any)["user"].(map[string]any)
		certPEM, err := base64.StdEncoding.DecodeString(user["client-certificate-data"].(string))
		if err != nil {
			t.Fatal(err)
		}
		user["client-certificate-data"] = base64.StdEncoding.EncodeToString(resign(t, certPEM, dir, caCert))
		data, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		breakWith(conf, data)(t, dir)
	}
}

func withConfig(doc string) func(t *testing.T, dir string) []string {
	return func(t *testing.T, dir string) []string {
		return []string{"init", "--dir", dir, "--config", writeFile(t, "bad.yaml", doc)}
	}
}

func argv(args ...string) func(t *testing.T, dir string) []string {
	return func(_ *testing.T, dir string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			out[i] = strings.ReplaceAll(a, "DIR", dir)
		}
		return out
	}
}

const (
	unknownFieldConfig = "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\ncontrolPlane:\n  - name: cp-1\n    ipz: [10.0.0.11]\n"
	badIPConfig        = "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\ncontrolPlane:\n  - name: cp-1\n    ips: [10.0.0.300]\n"
)

// TestBadInputs: every bad input gives one error line, the exit code of
// the table in cli.go, and writes or changes nothing; where the error
// names a fix, the fix works and keeps every other key.
func TestBadInputs(t *testing.T) {
	cases := []badCase{
		// Broken files in a folder: runtime errors.
		{name: "corrupted key", setup: breakWith("pki/apiserver.key", garbagePEM("PRIVATE KEY")), args: initDir,
			code: cli.ExitError, names: []string{"pki/apiserver.key"}, fix: "certs renew apiserver"},
		{name: "key that is not PEM", setup: breakWith("pki/etcd/healthcheck-client.key", []byte("not a key\n")), args: initDir,
			code: cli.ExitError, names: []string{"pki/etcd/healthcheck-client.key"}, fix: "certs renew etcd/healthcheck-client"},
		{name: "keys swapped", setup: swap("pki/apiserver-kubelet-client.key", "pki/front-proxy-client.key"), args: initDir,
			code: cli.ExitError, names: []string{"client."}, fix: "certs renew ", lines: 2},
		{name: "bad PEM certificate", setup: breakWith("pki/apiserver.crt", garbagePEM("CERTIFICATE")), args: initDir,
			code: cli.ExitError, names: []string{"pki/apiserver.crt"}, fix: "certs renew apiserver"},
		{name: "certificate that is not PEM", setup: breakWith("pki/etcd/peer.crt", []byte("{}\n")), args: initDir,
			code: cli.ExitError, names: []string{"pki/etcd/peer.crt"}, fix: "certs renew etcd/peer"},
		{name: "truncated kubeconfig", setup: truncate("admin.conf", 0.5), args: initDir,
			code: cli.ExitError, names: []string{"admin.conf"}, fix: "certs renew admin"},
		{name: "kubeconfig truncated in its key", setup: truncate("controller-manager.conf", 0.9), args: initDir,
			code: cli.ExitError, names: []string{"controller-manager.conf"}, fix: "certs renew controller-manager"},
		{name: "certificate signed by another channel's CA", setup: signedBy("pki/apiserver.crt", "pki/etcd/ca.crt", false), args: initDir,
			code: cli.ExitError, names: []string{"pki/apiserver.crt"}, fix: "certs renew apiserver"},
		{name: "certificate signed by another cluster's CA of the same name", setup: signedBy("pki/front-proxy-client.crt", "pki/front-proxy-ca.crt", true), args: initDir,
			code: cli.ExitError, names: []string{"pki/front-proxy-client.crt"}, fix: "certs renew front-proxy-client"},
		{name: "kubeconfig certificate signed by the wrong CA", setup: kubeconfigSignedBy("scheduler.conf", "pki/front-proxy-ca.crt"), args: initDir,
			code: cli.ExitError, names: []string{"scheduler.conf"}, fix: "certs renew scheduler"},
		{name: "corrupted CA key", setup: breakWith("pki/etcd/ca.key", garbagePEM("PRIVATE KEY")), args: initDir,
			code: cli.ExitError, names: []string{"pki/etcd/ca.key", "restore it from a backup"}, fix: "certs renew etcd/ca --new-key"},
		{name: "renew over a corrupted CA key", setup: breakWith("pki/ca.key", garbagePEM("PRIVATE KEY")), args: argv("certs", "renew", "--all", "--dir", "DIR"),
			code: cli.ExitError, names: []string{"pki/ca.key", "restore it from a backup"}, fix: "certs renew ca --new-key"},

		// Configuration errors: usage errors naming the field and its line.
		{name: "config with an unknown field", args: withConfig(unknownFieldConfig),
			code: cli.ExitUsage, names: []string{"controlPlane[0].ipz", "line 5"}},
		{name: "config with a bad IP", args: withConfig(badIPConfig),
			code: cli.ExitUsage, names: []string{"controlPlane[0].ips[0]", "line 5", "10.0.0.300"}},
		{name: "config with an unknown field, existing folder", setup: func(*testing.T, string) {}, args: withConfig(unknownFieldConfig),
			code: cli.ExitUsage, names: []string{"controlPlane[0].ipz", "line 5"}},
		{name: "saved config with a bad IP", setup: breakWith("bulwark.yaml", []byte(badIPConfig)), args: initDir,
			code: cli.ExitUsage, names: []string{"bulwark.yaml", "controlPlane[0].ips[0]", "line 5"}},
		{name: "config file missing", args: argv("init", "--dir", "DIR", "--config", "DIR.yaml"),
			code: cli.ExitUsage, names: []string{".yaml"}},

		// Flags.
		{name: "unknown flag", args: argv("init", "--dir", "DIR", "--frobnicate"), code: cli.ExitUsage, names: []string{"--frobnicate"}},
		{name: "unknown flag, existing folder", setup: func(*testing.T, string) {}, args: argv("certs", "renew", "--all", "--force", "--dir", "DIR"),
			code: cli.ExitUsage, names: []string{"--force"}},
		{name: "unknown output format: plan", args: argv("plan", "-o", "xml"), code: cli.ExitUsage, names: []string{"xml"}},
		{name: "unknown output format: certs list", setup: func(*testing.T, string) {}, args: argv("certs", "list", "--dir", "DIR", "-o", "xml"),
			code: cli.ExitUsage, names: []string{"xml"}},
		{name: "unknown output format: check-expiration", setup: func(*testing.T, string) {}, args: argv("certs", "check-expiration", "--dir", "DIR", "-o", "toml"),
			code: cli.ExitUsage, names: []string{"toml"}},
		{name: "unknown output format: token list", setup: func(*testing.T, string) {}, args: argv("token", "list", "--dir", "DIR", "-o", "csv"),
			code: cli.ExitUsage, names: []string{"csv"}},
		{name: "missing --dir: init", inCwd: true, args: argv("init"), code: cli.ExitUsage, names: []string{"dir"}},
		{name: "missing --dir: renew", inCwd: true, args: argv("certs", "renew", "apiserver"), code: cli.ExitUsage, names: []string{"dir"}},
		{name: "missing --dir: render", inCwd: true, args: argv("render"), code: cli.ExitUsage, names: []string{"dir"}},
		{name: "missing --dir: certs list", inCwd: true, args: argv("certs", "list"), code: cli.ExitUsage, names: []string{"dir"}},
		{name: "missing --dir: token create", inCwd: true, args: argv("token", "create"), code: cli.ExitUsage, names: []string{"dir"}},
		{name: "--dir without a value", inCwd: true, args: argv("init", "--dir"), code: cli.ExitUsage, names: []string{"dir"}},
		{name: "renew neither names nor --all", setup: func(*testing.T, string) {}, args: argv("certs", "renew", "--dir", "DIR"), code: cli.ExitUsage},
		{name: "renew an unknown name", setup: func(*testing.T, string) {}, args: argv("certs", "renew", "apiservr", "--dir", "DIR"),
			code: cli.ExitUsage, names: []string{"apiservr"}},
		{name: "bad --warn-within", setup: func(*testing.T, string) {}, args: argv("certs", "check-expiration", "--warn-within", "soon", "--dir", "DIR"),
			code: cli.ExitUsage, names: []string{"soon"}},

		// A folder that is not there: commands other than init create nothing.
		{name: "renew in a missing folder", args: argv("certs", "renew", "apiserver", "--dir", "DIR"), code: cli.ExitError, fix: "init --dir"},
		{name: "token create in a missing folder", args: argv("token", "create", "--dir", "DIR"), code: cli.ExitError, fix: "init --dir"},
		{name: "render in a missing folder", args: argv("render", "--dir", "DIR"), code: cli.ExitError, fix: "init --dir"},
		{name: "check-expiration of a missing folder", args: argv("certs", "check-expiration", "--dir", "DIR"), code: cli.ExitError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cluster")
			switch {
			case c.inCwd:
				dir = t.TempDir()
				t.Chdir(dir)
			case c.setup != nil:
				mustRun(t, "init", "--dir", dir, "--config", writeFile(t, "cluster.yaml", oneNodeConfig))
				c.setup(t, dir)
			}
			before := snapshot(t, dir)
			r := run(t, c.args(t, dir)...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\n%v", r.code, c.code, r)
			}
			want := max(c.lines, 1)
			lines := errorLines(t, r)
			if len(lines) != want {
				t.Fatalf("%d error lines, want %d\n%v", len(lines), want, r)
			}
			line := lines[0]
			if r.stdout != "" {
				t.Errorf("a failed run printed a report:\n%v", r)
			}
			for _, n := range c.names {
				if !strings.Contains(line, n) {
					t.Errorf("error does not name %q: %s", n, line)
				}
			}
			after := snapshot(t, dir)
			switch {
			case c.setup == nil && !c.inCwd && after != nil:
				t.Fatalf("a failed run on a fresh location created %v", diff(nil, after))
			default:
				if d := diff(before, after); len(d) > 0 {
					t.Fatalf("a failed run changed the folder: %v", d)
				}
			}
			fix := fixIn(line)
			switch {
			case c.fix == "" && fix != "":
				t.Fatalf("error names a fix where none can work: %s", line)
			case c.fix != "" && !strings.HasPrefix(fix, c.fix):
				t.Fatalf("error does not name the fix `bulwark %s…`: %s", c.fix, line)
			case c.fix != "":
				applyFixes(t, dir, fix)
			}
		})
	}
}

var fixRE = regexp.MustCompile("run `bulwark ([^`]+)`")

// fixIn returns the command an error line names as the fix, without
// "bulwark".
func fixIn(line string) string {
	if m := fixRE.FindStringSubmatch(line); m != nil {
		return m[1]
	}
	return ""
}

// shellWords splits a command line as a POSIX shell does for the forms
// bulwark prints: plain words and single-quoted ones.
func shellWords(t testing.TB, s string) []string {
	t.Helper()
	var (
		words []string
		cur   strings.Builder
		in    bool // a word has started
		quote bool
	)
	for _, r := range s {
		switch {
		case quote && r == '\'':
			quote = false
		case quote:
			cur.WriteRune(r)
		case r == '\'':
			quote, in = true, true
		case r == ' ':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case strings.ContainsRune("\"$`\\;&|<>()*?", r):
			t.Fatalf("command %q has shell syntax bulwark does not print", s)
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote {
		t.Fatalf("command %q has an unterminated quote", s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// applyFixes runs the named fix, then init; while init names another fix
// (one broken file may hide the next) it runs that too. At the end init
// passes, creates nothing, and every key is the one there before the
// fixes, except those a --new-key fix replaced.
func applyFixes(t *testing.T, dir, fix string) {
	t.Helper()
	keysBefore := keysOf(t, dir)
	replaced := map[string]bool{}
	for i := 0; ; i++ {
		if i == 4 {
			t.Fatalf("still broken after 4 fixes")
		}
		args := shellWords(t, fix)
		if !slices.Contains(args, "--dir") {
			t.Fatalf("fix `bulwark %s` does not name the folder", fix)
		}
		if slices.Contains(args, "--new-key") {
			for _, name := range args[2:] {
				if strings.HasPrefix(name, "--") {
					break
				}
				replaced["pki/"+name+".key"], replaced[name+".conf"] = true, true
			}
		}
		mustRun(t, args...)
		r := run(t, "init", "--dir", dir)
		if r.code == cli.ExitOK {
			if s := parseSummary(t, r); s.created != 0 || s.issued != 0 {
				t.Errorf("init after the fix made files: %+v\n%s", s, r.stdout)
			}
			break
		}
		if fix = fixIn(errorLines(t, r)[0]); fix == "" {
			t.Fatalf("init after `bulwark %s` fails without naming a fix\n%v", strings.Join(args, " "), r)
		}
	}
	keysAfter := keysOf(t, dir)
	for f, k := range keysBefore {
		switch {
		case replaced[f] && keysAfter[f] == k:
			t.Errorf("%s: a --new-key fix kept the key", f)
		case !replaced[f] && keysAfter[f] != k:
			t.Errorf("%s: the fix replaced a key", f)
		}
	}
	checkTree(t, dir, t0)
}

// keysOf maps every key file, and every kubeconfig, to the key it holds
// (its PEM, or what is there if it is broken).
func keysOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	keys := map[string]string{}
	for _, f := range files(t, dir) {
		data := readFile(t, dir, f)
		switch {
		case layout.Classify(f) == layout.Mounted:
		case strings.HasSuffix(f, ".key"):
			keys[f] = string(data)
		case layout.Classify(f) == layout.Kubeconfig:
			if kc, err := parseKubeconfig(data); err == nil {
				keys[f] = string(kc.Users[0].User.KeyData) + kc.Users[0].User.Token
			} else {
				keys[f] = "broken"
			}
		}
	}
	return keys
}

// TestPermissions: keys, kubeconfigs, token Secrets and the encryption
// configuration 0600, certificates and the service-account public key
// 0644, every folder 0700, whatever the umask, after init and after the
// commands that add or replace files.
func TestPermissions(t *testing.T) {
	for _, mask := range []int{0, 0o022, 0o077} {
		t.Run(fmt.Sprintf("umask %03o", mask), func(t *testing.T) {
			old := syscall.Umask(mask)
			defer syscall.Umask(old)
			dir := newTree(t, threeNodeConfig)
			check := func(after string) {
				t.Helper()
				n := map[string]int{}
				for p, e := range snapshot(t, dir) {
					var want fs.FileMode
					base := path.Base(p)
					switch {
					case e.mode.IsDir():
						want = fs.ModeDir | 0o700
						n["folders"]++
					case p == ".bulwark.lock":
						continue
					case strings.HasSuffix(p, ".key"), strings.HasSuffix(p, ".conf"), tokenIDInName.MatchString(p), base == "encryption-config.yaml":
						want = 0o600
						n["secrets"]++
					case strings.HasSuffix(p, ".crt"), p == "pki/sa.pub":
						want = 0o644
						n["public"]++
					default:
						// Configuration and manifests: either, never more.
						if e.mode != 0o600 && e.mode != 0o644 {
							t.Errorf("after %s: %s has mode %v", after, p, e.mode)
						}
						continue
					}
					if e.mode != want {
						t.Errorf("after %s: %s has mode %v, want %v", after, p, e.mode, want)
					}
				}
				if n["folders"] < 5 || n["secrets"] < 20 || n["public"] < 15 {
					t.Errorf("after %s: too few files checked: %v", after, n)
				}
			}
			check("init")
			mustRun(t, "token", "create", "--dir", dir)
			check("token create")
			mustRun(t, "certs", "renew", "--all", "--new-key", "--dir", dir)
			mustRun(t, "certs", "renew", "ca", "etcd/peer-ca", "--dir", dir)
			check("certs renew")
			// Files init puts back get the same modes.
			for _, f := range []string{"pki/apiserver.key", "pki/apiserver.crt", "admin.conf", "pki/etcd/cp-2/peer.key", "pki/etcd/cp-2/peer.crt"} {
				if err := os.Remove(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
			mustRun(t, "init", "--dir", dir)
			check("init that fills gaps")
		})
	}
}

// TestPlanPrintConfig: plan --print-config prints the configuration init
// saves, resolved from a partial one; given back as --config it plans
// the same.
func TestPlanPrintConfig(t *testing.T) {
	cfg := writeFile(t, "cluster.yaml", oneNodeConfig)
	printed := mustRunBin(t, "plan", "--config", cfg, "--print-config").stdout
	for _, field := range []string{"clusterName: kubernetes", "serviceCIDR: 10.96.0.0/12", "apiEndpoint:", "keyAlgorithm:", "kubernetesVersion:"} {
		if !strings.Contains(printed, field) {
			t.Errorf("--print-config has no %q:\n%s", field, printed)
		}
	}
	dir := binTree(t, oneNodeConfig)
	if saved := string(readFile(t, dir, "bulwark.yaml")); mustRunBin(t, "plan", "--dir", dir, "--print-config").stdout != saved {
		t.Errorf("--print-config on the folder differs from its bulwark.yaml")
	}
	again := writeFile(t, "printed.yaml", printed)
	if a, b := mustRunBin(t, "plan", "--config", cfg, "-o", "json").stdout, mustRunBin(t, "plan", "--config", again, "-o", "json").stdout; a != b {
		t.Errorf("the printed configuration plans otherwise than the one it came from")
	}
}
