package cli_test

import (
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/cli"
)

// TestNoCommandPrintsKeyMaterial runs every command, and the error cases
// that read secret files, and scans everything they print for private
// keys (a PEM header; any 40 characters of a key's base64 body, as in PEM
// or in client-key-data, or of its hex), client-key-data fields,
// encryption keys and bootstrap token secrets. Secrets are collected from
// the folder after every command, so keys a command replaced are looked
// for too. Only `token create --print` may print a token, its own.
func TestNoCommandPrintsKeyMaterial(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	cfg := writeFile(t, "cluster.yaml", threeNodeConfig)
	km := newKeyMaterial()
	var outputs []result
	do := func(code int, args ...string) result {
		t.Helper()
		r := run(t, args...)
		if r.code != code {
			t.Fatalf("exit %d, want %d\n%v", r.code, code, r)
		}
		outputs = append(outputs, r)
		km.harvest(t, dir)
		return r
	}
	ok := func(args ...string) result { t.Helper(); return do(cli.ExitOK, args...) }

	ok("init", "--dir", dir, "--config", cfg)
	ok("init", "--dir", dir)
	for _, o := range []string{"table", "json", "yaml"} {
		ok("plan", "--dir", dir, "-o", o)
		ok("certs", "list", "--dir", dir, "-o", o)
		ok("certs", "check-expiration", "--dir", dir, "-o", o)
		ok("token", "list", "--dir", dir, "-o", o)
	}
	ok("plan", "--config", cfg)
	ok("render", "--dir", dir)
	for _, o := range []string{"table", "json"} {
		r := run(t, "audit", "--dir", dir, "-o", o)
		if r.code != cli.ExitOK && r.code != cli.ExitFindings {
			t.Fatalf("%v", r)
		}
		outputs = append(outputs, r)
	}
	ok("certs", "renew", "--all", "--dir", dir)
	ok("certs", "renew", "--all", "--new-key", "--dir", dir)
	ok("certs", "renew", "ca", "admin", "--dir", dir)
	// A rotation of every root, with new keys, and of the bootstrap token.
	for _, root := range []string{"ca", "etcd-ca", "etcd-peer-ca", "front-proxy-ca", "sa"} {
		for i, o := range []string{"table", "json", "yaml"} {
			args := []string{"rotate", root, "--dir", dir, "-o", o, "--force"}
			if i == 1 {
				args = append(args, "--new-key")
			}
			ok(args...)
			ok("rotate", "status", "--dir", dir, "-o", o)
		}
	}
	ok("token", "rotate", "--dir", dir, "--grace", "1h")
	ok("token", "rotate", "--dir", dir, "--grace", "0", "-o", "json")

	// token create prints the token only with --print, and then its own.
	before := tokens(t, dir)
	created := ok("token", "create", "--dir", dir)
	quiet := newToken(t, dir, before)
	if strings.Contains(created.stdout+created.stderr, quiet[7:]) {
		t.Errorf("token create without --print printed the token's secret:\n%v", created)
	}
	before = tokens(t, dir)
	printed := ok("token", "create", "--dir", dir, "--print", "--ttl", "1h")
	loud := newToken(t, dir, before)
	if !slices.Contains(strings.Fields(printed.stdout), loud) {
		t.Errorf("token create --print did not print the token %s…:\n%v", loud[:6], printed)
	}
	ok("token", "list", "--dir", dir)
	ok("token", "list", "--dir", dir, "-o", "json")
	ok("token", "delete", quiet[:6], "--dir", dir)
	ok("token", "delete", loud, "--dir", dir) // a whole token names its ID
	km.addToken("0123456789abcdef", "a token that does not exist")
	do(cli.ExitError, "token", "delete", "abcdef.0123456789abcdef", "--dir", dir)
	ok("version")
	ok("--help")
	ok("certs", "renew", "--help")
	ok("token", "create", "--help")

	// Errors about files that hold secrets, and secret files given where
	// a configuration is expected.
	for _, f := range []string{"pki/ca.key", "admin.conf", "encryption-config.yaml", tokenFile(t, dir)} {
		do(cli.ExitUsage, "init", "--dir", dir, "--config", filepath.Join(dir, f))
		do(cli.ExitUsage, "plan", "--config", filepath.Join(dir, f))
	}
	broken := func(rel string, data []byte, code int, args ...string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		keep, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		do(code, args...)
		if err := os.WriteFile(p, keep, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	key := readFile(t, dir, "pki/apiserver.key")
	other := readFile(t, dir, "pki/front-proxy-client.key")
	admin := readFile(t, dir, "admin.conf")
	initArgs := []string{"init", "--dir", dir}
	// A key that is not the certificate's; a key PEM with its body cut; a
	// certificate file holding a key; a kubeconfig holding another key,
	// cut in its key, or with its key where the certificate goes.
	broken("pki/apiserver.key", other, cli.ExitError, initArgs...)
	broken("pki/apiserver.key", key[:len(key)-40], cli.ExitError, initArgs...)
	broken("pki/apiserver.crt", key, cli.ExitError, initArgs...)
	broken("pki/apiserver.crt", key, cli.ExitFindings, "certs", "check-expiration", "--dir", dir)
	otherB64 := base64.StdEncoding.EncodeToString(other)
	adminKey := kubeconfigKeyB64(t, admin)
	broken("admin.conf", []byte(strings.Replace(string(admin), adminKey, otherB64, 1)), cli.ExitError, initArgs...)
	broken("admin.conf", admin[:strings.Index(string(admin), adminKey)+len(adminKey)/2], cli.ExitError, initArgs...)
	broken("admin.conf", admin[:strings.Index(string(admin), adminKey)+len(adminKey)/2], cli.ExitError, "certs", "renew", "admin", "--dir", dir)
	certB64 := strings.Fields(string(admin)[strings.Index(string(admin), "client-certificate-data:"):])[1]
	broken("admin.conf", []byte(strings.Replace(string(admin), certB64, adminKey, 1)), cli.ExitError, initArgs...)
	broken("admin.conf", []byte(strings.Replace(string(admin), certB64, adminKey, 1)), cli.ExitFindings, "certs", "check-expiration", "--dir", dir)

	if len(km.windows) < 1000 || len(km.tokens) < 6 {
		t.Fatalf("found too few secrets to look for: %d key windows, %d tokens", len(km.windows), len(km.tokens))
	}
	// The scan finds what it looks for.
	if km.leak(string(readFile(t, dir, "pki/etcd/peer-ca.key"))) == "" ||
		km.leak(strings.ReplaceAll(string(pem.EncodeToMemory(&pem.Block{Type: "X", Bytes: mustDecodeKey(t, readFile(t, dir, "pki/sa.key"))})), "X", "Y")) == "" ||
		km.leak(string(readFile(t, dir, "nodes/cp-2/scheduler.conf"))) == "" ||
		km.leak(printed.stdout) == "" {
		t.Fatal("the scan misses key material")
	}
	for _, r := range outputs {
		for _, out := range []string{r.stdout, r.stderr} {
			var allowed []string
			if len(r.args) > 0 && slices.Contains(r.args, "--print") {
				allowed = append(allowed, loud[7:])
			}
			if what := km.leak(out, allowed...); what != "" {
				t.Errorf("bulwark %s printed %s:\n%s", strings.Join(r.args, " "), what, out)
			}
		}
	}
	t.Logf("%d outputs scanned for %d key windows and %d other secrets", len(outputs), len(km.windows), len(km.tokens))
}

// tokens maps each token Secret manifest of the folder to its token.
func tokens(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range files(t, dir) {
		if tokenIDInName.MatchString(f) {
			s, err := parseTokenSecret(readFile(t, dir, f))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[f] = string(s.Data["token-id"]) + "." + string(s.Data["token-secret"])
		}
	}
	return out
}

// newToken returns the one token whose manifest was not there before.
func newToken(t *testing.T, dir string, before map[string]string) string {
	t.Helper()
	var made []string
	for f, tok := range tokens(t, dir) {
		if _, ok := before[f]; !ok {
			made = append(made, tok)
		}
	}
	if len(made) != 1 || !tokenRE.MatchString(made[0]) {
		t.Fatalf("want one new well-formed token, have %d", len(made))
	}
	return made[0]
}

func tokenFile(t *testing.T, dir string) string {
	t.Helper()
	for f := range tokens(t, dir) {
		return f
	}
	t.Fatal("no token Secret manifest")
	return ""
}

func kubeconfigKeyB64(t *testing.T, data []byte) string {
	t.Helper()
	kc, err := parseKubeconfig(data)
	if err != nil || len(kc.Users[0].User.KeyData) == 0 {
		t.Fatalf("no client key: %v", err)
	}
	return base64.StdEncoding.EncodeToString(kc.Users[0].User.KeyData)
}

func mustDecodeKey(t *testing.T, data []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM")
	}
	return block.Bytes
}
