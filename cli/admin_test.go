package cli_test

// Several administrators, with real keys (ssh-keygen, age-keygen), the
// real binary and the real age command line tool.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/layout"
)

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps)", tool)
		}
	}
}

// person is someone with a real key: an SSH key pair or an age identity.
type person struct {
	name, id, pub string // identity file, public key text
}

func sshPerson(t *testing.T, name, typ, bits string) person {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	args := []string{"-q", "-t", typ, "-N", "", "-C", name + "@laptop", "-f", p}
	if bits != "" {
		args = append(args, "-b", bits)
	}
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return person{name, p, strings.TrimSpace(string(pub))}
}

func agePerson(t *testing.T, name string) person {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".age")
	if out, err := exec.Command("age-keygen", "-o", p).CombinedOutput(); err != nil {
		t.Fatalf("age-keygen: %v\n%s", err, out)
	}
	pub, err := exec.Command("age-keygen", "-y", p).Output()
	if err != nil {
		t.Fatal(err)
	}
	return person{name, p, name + "=" + strings.TrimSpace(string(pub))}
}

// ageDecrypt runs the real age binary.
func ageDecrypt(t *testing.T, identity, file string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command("age", "-d", "-i", identity, file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// secretFiles lists the files of dir whose kind is a secret.
func secretFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, f := range files(t, dir) {
		if layout.Classify(f).Secret() {
			out = append(out, f)
		}
	}
	return out
}

// vault follows one encrypted folder through a test: it knows every
// secret's plaintext (read with the real age binary) and checks, after
// every command, that none is in the folder or in the command's output.
type vault struct {
	t   *testing.T
	dir string
	km  *keyMaterial
}

// learn decrypts every secret with the real age binary and the identity,
// and remembers its key material.
func (v *vault) learn(identity string) {
	v.t.Helper()
	plain := v.t.TempDir()
	for _, f := range secretFiles(v.t, v.dir) {
		data, err := ageDecrypt(v.t, identity, filepath.Join(v.dir, f))
		if err != nil {
			v.t.Fatalf("age -d %s: %v", f, err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(plain, f)), 0o700); err != nil {
			v.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(plain, f), data, 0o600); err != nil {
			v.t.Fatal(err)
		}
	}
	v.km.harvest(v.t, plain)
	v.forgetPublic()
}

// forgetPublic drops the windows that public files hold too.
func (v *vault) forgetPublic() {
	// A private key's encoding holds its public key, which certificates
	// hold too: windows that public files have are not secret.
	for _, f := range files(v.t, v.dir) {
		if layout.Classify(f).Secret() {
			continue
		}
		for _, s := range []string{string(readFile(v.t, v.dir, f)), strings.Join(strings.Fields(string(readFile(v.t, v.dir, f))), "")} {
			for i := 0; i+window <= len(s); i++ {
				delete(v.km.windows, s[i:i+window])
			}
		}
	}
}

// scan checks the folder: every secret is an age file, and no file holds
// a private key or any known key material in plaintext.
func (v *vault) scan(after string) {
	v.t.Helper()
	for _, f := range files(v.t, v.dir) {
		data := readFile(v.t, v.dir, f)
		if layout.Classify(f).Secret() && !atrest.IsSealed(data) {
			v.t.Fatalf("after %s: %s is not encrypted", after, f)
		}
		if atrest.IsSealed(data) {
			continue
		}
		if leak := v.km.leak(string(data)); leak != "" {
			v.t.Fatalf("after %s: %s holds %s in plaintext", after, f, leak)
		}
	}
}

// run runs the real binary and checks its output and the folder.
func (v *vault) run(want int, args ...string) result {
	v.t.Helper()
	r := runBin(v.t, args...)
	if r.code != want {
		v.t.Fatalf("want exit %d\n%v", want, r)
	}
	if want != cli.ExitOK && want != cli.ExitFindings {
		errorLine(v.t, r)
	}
	if leak := v.km.leak(r.stdout + r.stderr); leak != "" {
		v.t.Fatalf("%s printed %s", strings.Join(args, " "), leak)
	}
	v.scan(strings.Join(args[:min(2, len(args))], " "))
	return r
}

// TestAdministrators: the whole life of a folder with several
// administrators: ssh-ed25519, ssh-rsa and X25519 holders; the real age
// decrypts with each; requests, enrolment, issuance, refusals; removal.
func TestAdministrators(t *testing.T) {
	needTools(t, "ssh-keygen", "age", "age-keygen", "openssl")
	alice, bob, reader := sshPerson(t, "alice", "ed25519", ""), sshPerson(t, "bob", "rsa", "2048"), agePerson(t, "reader")
	carol, mallory := sshPerson(t, "carol", "ed25519", ""), sshPerson(t, "mallory", "ed25519", "")
	dir := filepath.Join(t.TempDir(), "cluster")
	v := &vault{t: t, dir: dir, km: newKeyMaterial()}
	cfg := writeFile(t, "cluster.yaml", "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\ncontrolPlane:\n  - {name: cp-1, ips: [127.0.0.1]}\n")
	r := runBin(t, "init", "--dir", dir, "--config", cfg, "--recipient", alice.pub, "--recipient", bob.pub, "--recipient", reader.pub, "--identity", alice.id)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	v.learn(alice.id)
	v.scan("init")
	if len(v.km.windows) == 0 {
		t.Fatal("no key material learnt: the scan would be vacuous")
	}

	t.Run("the real age decrypts every secret with each identity", func(t *testing.T) {
		for _, p := range []person{alice, bob, reader} {
			for _, f := range secretFiles(t, dir) {
				if _, err := ageDecrypt(t, p.id, filepath.Join(dir, f)); err != nil {
					t.Errorf("%s: age -d -i %s: %v", f, p.name, err)
				}
			}
		}
		key, err := ageDecrypt(t, reader.id, filepath.Join(dir, "pki/ca.key"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseKeyPEM(key); err != nil {
			t.Fatalf("decrypted pki/ca.key: %v", err)
		}
		if _, err := ageDecrypt(t, mallory.id, filepath.Join(dir, "pki/ca.key")); err == nil {
			t.Fatal("an outsider's identity decrypted pki/ca.key")
		}
	})

	t.Run("commands read the encrypted folder with an identity, public parts without", func(t *testing.T) {
		v.run(cli.ExitOK, "init", "--dir", dir, "--identity", bob.id)
		v.run(cli.ExitOK, "certs", "renew", "apiserver", "--dir", dir, "--identity", bob.id)
		r := v.run(cli.ExitOK, "certs", "check-expiration", "--dir", dir)
		if !strings.Contains(r.stderr, "skipped") || !strings.Contains(r.stdout, "pki/ca.crt") {
			t.Fatalf("check-expiration without identity:\n%v", r)
		}
		r = v.run(cli.ExitOK, "certs", "check-expiration", "--dir", dir, "--identity", reader.id)
		if strings.Contains(r.stderr, "skipped") || !strings.Contains(r.stdout, "admin.conf") {
			t.Fatalf("check-expiration with the reader's identity:\n%v", r)
		}
		// The environment names the identity too.
		cmd := binCmd("certs", "renew", "apiserver", "--dir", dir)
		cmd.Env = append(cmd.Env, cli.IdentityEnv+"="+alice.id)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("with %s: %v\n%s", cli.IdentityEnv, err, out)
		}
		v.scan("renew with " + cli.IdentityEnv)
	})

	t.Run("bad inputs: one line, the documented exit code, nothing changed", func(t *testing.T) {
		before := snapshot(t, dir)
		garbage := writeFile(t, "garbage", "not a key\n")
		for _, c := range []struct {
			name string
			want int
			args []string
			says string
		}{
			{"no identity", cli.ExitUsage, []string{"certs", "renew", "apiserver", "--dir", dir}, "give --identity"},
			{"malformed identity", cli.ExitUsage, []string{"certs", "renew", "apiserver", "--dir", dir, "--identity", garbage}, "identity"},
			{"missing identity file", cli.ExitUsage, []string{"certs", "renew", "apiserver", "--dir", dir, "--identity", garbage + ".missing"}, "identity"},
			{"wrong identity", cli.ExitError, []string{"certs", "renew", "apiserver", "--dir", dir, "--identity", mallory.id}, "not a holder"},
			{"read-only identity writes", cli.ExitError, []string{"certs", "renew", "apiserver", "--new-key", "--dir", dir, "--identity", reader.id}, "read-only"},
			{"read-only identity renews a certificate", cli.ExitError, []string{"certs", "renew", "apiserver", "front-proxy-client", "--dir", dir, "--identity", reader.id}, "read-only"},
			{"read-only identity renders", cli.ExitError, []string{"render", "--dir", dir, "--identity", reader.id, "--image-repository", "x.example.com/k"}, "read-only"},
			{"read-only identity inits", cli.ExitError, []string{"init", "--dir", dir, "--identity", reader.id}, "read-only"},
			{"read-only identity creates a token", cli.ExitError, []string{"token", "create", "--dir", dir, "--identity", reader.id}, "read-only"},
			{"malformed recipient", cli.ExitUsage, []string{"admin", "add", "dave", "--dir", dir, "--recipient", "ssh-ed25519 AAAAgarbage", "--identity", alice.id}, "malformed key"},
			{"bad name", cli.ExitUsage, []string{"admin", "add", "Dave!", "--dir", dir, "--recipient", carol.pub, "--identity", alice.id}, "invalid administrator name"},
			{"reader adds", cli.ExitError, []string{"admin", "add", "dave", "--dir", dir, "--recipient", carol.pub, "--identity", reader.id}, "read-only"},
			{"outsider adds", cli.ExitError, []string{"admin", "add", "dave", "--dir", dir, "--recipient", carol.pub, "--identity", mallory.id}, "not a holder"},
			{"encrypt again", cli.ExitUsage, []string{"encrypt", "--dir", dir, "--identity", alice.id, "--recipient", carol.pub}, "encrypted already"},
			{"init with other recipients", cli.ExitError, []string{"init", "--dir", dir, "--recipient", carol.pub, "--identity", carol.id}, "not a holder"},
			{"export into the folder", cli.ExitError, []string{"export", "--node", "cp-1", "--dir", dir, "--identity", alice.id, "--out", filepath.Join(dir, "node")}, "inside the cluster folder"},
		} {
			r := runBin(t, c.args...)
			if r.code != c.want || !strings.Contains(errorLine(t, r), c.says) {
				t.Errorf("%s: want exit %d saying %q\n%v", c.name, c.want, c.says, r)
			}
		}
		if d := diff(before, snapshot(t, dir)); len(d) != 0 {
			t.Fatalf("refused commands changed the folder: %v", d)
		}
	})

	reqDir := t.TempDir()
	t.Run("a request from someone not enrolled is refused", func(t *testing.T) {
		v.run(cli.ExitOK, "admin", "request", "--name", "carol", "--key", carol.id, "--out", reqDir)
		r := v.run(cli.ExitError, "admin", "sign", filepath.Join(reqDir, "carol.request"), "--dir", dir, "--identity", alice.id)
		if !strings.Contains(r.stderr, "not an enrolled administrator") {
			t.Fatalf("%v", r)
		}
	})

	t.Run("enrol carol; the real age decrypts with her key; her request is issued once", func(t *testing.T) {
		v.run(cli.ExitOK, "admin", "add", "carol", "--dir", dir, "--recipient", carol.pub, "--identity", alice.id)
		for _, f := range secretFiles(t, dir) {
			if _, err := ageDecrypt(t, carol.id, filepath.Join(dir, f)); err != nil {
				t.Fatalf("%s: carol cannot decrypt: %v", f, err)
			}
		}
		out := t.TempDir()
		r := v.run(cli.ExitOK, "admin", "sign", filepath.Join(reqDir, "carol.request"), "--dir", dir, "--identity", bob.id, "--ttl", "2h", "--out", out)
		crt, err := parseCertPEM(readFile(t, out, "carol.crt"))
		if err != nil {
			t.Fatal(err)
		}
		if crt.Subject.CommonName != "bulwark-admin:carol" || strings.Join(crt.Subject.Organization, ",") != "bulwark:cluster-admins" || crt.NotAfter.Sub(crt.NotBefore) > 2*60*60e9+5*60e9 {
			t.Fatalf("issued %v %v %v..%v\n%v", crt.Subject.CommonName, crt.Subject.Organization, crt.NotBefore, crt.NotAfter, r)
		}
		if out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(dir, "pki/ca.crt"), filepath.Join(out, "carol.crt")).CombinedOutput(); err != nil {
			t.Fatalf("openssl verify: %v\n%s", err, out)
		}
		// The kubeconfig names the key carol kept; it holds none.
		if kc := string(readFile(t, out, "carol.conf")); !strings.Contains(kc, "client-key: carol.key") || strings.Contains(kc, "client-key-data") {
			t.Fatalf("kubeconfig:\n%s", kc)
		}
		r = v.run(cli.ExitError, "admin", "sign", filepath.Join(reqDir, "carol.request"), "--dir", dir, "--identity", alice.id, "--out", out, "--overwrite")
		if !strings.Contains(r.stderr, "already issued") {
			t.Fatalf("replayed request: %v", r)
		}
		r = v.run(cli.ExitOK, "admin", "list", "--dir", dir)
		if !strings.Contains(r.stdout, "carol") || !strings.Contains(r.stdout, "1 certificates in the issuance log") {
			t.Fatalf("%v", r)
		}
	})

	t.Run("requests signed by another key, asking for system:masters, or too long are refused", func(t *testing.T) {
		forged := t.TempDir()
		v.run(cli.ExitOK, "admin", "request", "--name", "carol", "--key", mallory.id, "--out", forged)
		r := v.run(cli.ExitError, "admin", "sign", filepath.Join(forged, "carol.request"), "--dir", dir, "--identity", alice.id)
		if !strings.Contains(r.stderr, "not by \"carol\"'s enrolled key") {
			t.Fatalf("%v", r)
		}
		r = v.run(cli.ExitUsage, "admin", "request", "--name", "carol", "--key", carol.id, "--group", "system:masters", "--out", t.TempDir())
		if !strings.Contains(r.stderr, "system:masters") {
			t.Fatalf("%v", r)
		}
		fresh := t.TempDir()
		v.run(cli.ExitOK, "admin", "request", "--name", "carol", "--key", carol.id, "--out", fresh)
		for _, c := range []struct {
			args []string
			want int
			says string
		}{
			{[]string{"--group", "system:masters"}, cli.ExitError, "system:masters"},
			{[]string{"--group", "system:nodes"}, cli.ExitError, "system group"},
			{[]string{"--group", "unbound-group"}, cli.ExitError, "no RBAC binding"},
			{[]string{"--ttl", "13h"}, cli.ExitUsage, "--ttl"},
			{[]string{"--ttl", "30s"}, cli.ExitUsage, "--ttl"},
		} {
			r := v.run(c.want, append([]string{"admin", "sign", filepath.Join(fresh, "carol.request"), "--dir", dir, "--identity", alice.id, "--out", t.TempDir()}, c.args...)...)
			if !strings.Contains(r.stderr, c.says) {
				t.Errorf("%v: %v", c.args, r)
			}
		}
	})

	t.Run("a manifest or key file swapped by a non-administrator is refused before use", func(t *testing.T) {
		// Mallory can write the repository: she adds herself to the
		// manifest, and she puts a CA key she knows in place of the real
		// one, encrypted to everyone with the real age.
		swapped := copyOf(t, dir)
		m := filepath.Join(swapped, layout.RecipientsFile(3))
		data := bytes.Replace(readFile(t, swapped, layout.RecipientsFile(2)), []byte("holders:\n"), []byte("holders:\n- key: "+mallory.pub[:strings.LastIndex(mallory.pub, " ")]+"\n  name: mallory\n  role: admin\n"), 1)
		if err := os.WriteFile(m, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r := runBin(t, "admin", "list", "--dir", swapped)
		if r.code != cli.ExitError || !strings.Contains(errorLine(t, r), "recipients manifest refused") {
			t.Fatalf("edited manifest: %v", r)
		}
		os.Remove(m)
		keyFile := writeFile(t, "mallory-ca.key", "")
		if out, err := exec.Command("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", keyFile).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		args := []string{"-o", filepath.Join(swapped, "pki/ca.key")}
		for _, p := range []person{alice, bob, reader, carol} {
			args = append(args, "-r", strings.TrimPrefix(p.pub, p.name+"="))
		}
		if out, err := exec.Command("age", append(args, keyFile)...).CombinedOutput(); err != nil {
			t.Fatalf("age: %v\n%s", err, out)
		}
		fresh := t.TempDir()
		runBin(t, "admin", "request", "--name", "carol", "--key", carol.id, "--out", fresh)
		for _, cmd := range [][]string{
			{"admin", "sign", filepath.Join(fresh, "carol.request"), "--dir", swapped, "--identity", alice.id, "--out", t.TempDir()},
			{"certs", "renew", "apiserver", "--dir", swapped, "--identity", alice.id},
			{"export", "--node", "cp-1", "--dir", swapped, "--identity", alice.id, "--out", t.TempDir()},
		} {
			r := runBin(t, cmd...)
			if r.code != cli.ExitError || !strings.Contains(errorLine(t, r), "not signed by an administrator") {
				t.Errorf("swapped pki/ca.key, %s: %v", cmd[1], r)
			}
		}
	})

	t.Run("removal: fresh file keys, the removed identity decrypts nothing, rotation required", func(t *testing.T) {
		r := v.run(cli.ExitOK, "admin", "remove", "bob", "--dir", dir, "--identity", carol.id)
		if !strings.Contains(r.stdout, "rotation required") {
			t.Fatalf("%v", r)
		}
		for _, f := range files(t, dir) {
			if _, err := ageDecrypt(t, bob.id, filepath.Join(dir, f)); err == nil {
				t.Errorf("bob still decrypts %s", f)
			}
		}
		for _, f := range secretFiles(t, dir) {
			if _, err := ageDecrypt(t, reader.id, filepath.Join(dir, f)); err != nil {
				t.Errorf("the reader lost %s: %v", f, err)
			}
		}
		// Without an identity: the marks, and each root's recorded step,
		// not checked against the sealed keys.
		r = v.run(cli.ExitFindings, "rotate", "status", "--dir", dir)
		if !strings.Contains(r.stdout, "pki/ca.key") || !strings.Contains(r.stderr, "rotation required") || !strings.Contains(r.stdout, "UNCHECKED") {
			t.Fatalf("%v", r)
		}
		r = v.run(cli.ExitError, "certs", "renew", "apiserver", "--dir", dir, "--identity", bob.id)
		if !strings.Contains(r.stderr, "not a holder") {
			t.Fatalf("%v", r)
		}
		v.run(cli.ExitError, "admin", "remove", "carol", "--dir", dir, "--identity", carol.id)
	})
}

// copyTree copies a folder with its modes.
func copyOf(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	copyTree(t, dir, dst)
	return dst
}

// TestAgentKeys: passphrase-protected ed25519 and RSA keys held by a real
// ssh-agent sign requests that an administrator then issues.
func TestAgentKeys(t *testing.T) {
	needTools(t, "ssh-keygen", "ssh-agent", "ssh-add")
	tmp := t.TempDir()
	sock := filepath.Join(tmp, "agent.sock")
	agentCmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agentCmd.Process.Kill(); _ = agentCmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ssh-agent made no socket in 10s")
		}
		runtime.Gosched()
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	askpass := filepath.Join(tmp, "askpass")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho secret-passphrase\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	alice := sshPerson(t, "alice", "ed25519", "")
	var people []person
	for _, k := range []struct{ name, typ, bits string }{{"dave", "ed25519", ""}, {"erin", "rsa", "3072"}} {
		p := filepath.Join(tmp, k.name)
		args := []string{"-q", "-t", k.typ, "-N", "secret-passphrase", "-C", k.name + "@laptop", "-f", p}
		if k.bits != "" {
			args = append(args, "-b", k.bits)
		}
		if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		add := exec.Command("ssh-add", p)
		add.Env = append(os.Environ(), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none")
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add: %v\n%s", err, out)
		}
		pub, err := os.ReadFile(p + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		people = append(people, person{k.name, p, strings.TrimSpace(string(pub))})
	}
	dir := filepath.Join(tmp, "cluster")
	cfg := writeFile(t, "cluster.yaml", "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\ncontrolPlane:\n  - {name: cp-1, ips: [127.0.0.1]}\n")
	mustRunBin(t, "init", "--dir", dir, "--config", cfg, "--recipient", alice.pub, "--recipient", people[0].pub, "--recipient", people[1].pub, "--identity", alice.id)
	for _, p := range people {
		for _, key := range []string{p.id, p.id + ".pub"} {
			out := t.TempDir()
			if r := runBin(t, "admin", "request", "--name", p.name, "--key", key, "--out", out); r.code != cli.ExitOK {
				t.Fatalf("request with %s in the agent: %v", filepath.Base(key), r)
			}
			if r := runBin(t, "admin", "sign", filepath.Join(out, p.name+".request"), "--dir", dir, "--identity", alice.id, "--out", t.TempDir()); r.code != cli.ExitOK {
				t.Fatalf("sign %s's request made through the agent: %v", p.name, r)
			}
		}
	}
}
