package cli_test

// What a removed administrator, or anyone with write access to the
// folder's repository, tries (the attacker's review of the
// administrators), with real keys, the real ssh-keygen and age, and the
// real binary.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/layout"
)

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(s[:])
}

// removedBob is a folder made by init for alice and bob, from which alice
// then removed bob.
func removedBob(t *testing.T) (dir string, alice, bob person) {
	t.Helper()
	needTools(t, "ssh-keygen", "age", "age-keygen")
	alice, bob = sshPerson(t, "alice", "ed25519", ""), sshPerson(t, "bob", "ed25519", "")
	dir = filepath.Join(t.TempDir(), "cluster")
	cfg := writeFile(t, "cluster.yaml", "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\ncontrolPlane:\n  - {name: cp-1, ips: [127.0.0.1]}\n")
	mustRunBin(t, "init", "--dir", dir, "--config", cfg, "--recipient", alice.pub, "--recipient", bob.pub, "--identity", alice.id)
	mustRunBin(t, "admin", "remove", "bob", "--dir", dir, "--identity", alice.id)
	return dir, alice, bob
}

// TestAdminRemovedForksTheManifest: bob, removed in version 2, writes his
// own version 2 — following version 1, signed by him with ssh-keygen
// (he was an administrator of version 1), keeping himself and adding a
// reader of his own. Every command refuses the folder, admin list and
// audit say the history was rewritten, and nothing is ever encrypted to
// bob again.
func TestAdminRemovedForksTheManifest(t *testing.T) {
	dir, alice, bob := removedBob(t)
	spare := agePerson(t, "spare")
	v1 := readFile(t, dir, layout.RecipientsFile(1))
	genuine := readFile(t, dir, layout.RecipientsFile(2))
	key := func(p person) string {
		return strings.Join(strings.Fields(strings.TrimPrefix(p.pub, p.name+"="))[:2], " ")
	}
	// As the bulwark bob had wrote versions, and as this one does (he
	// names the head version 1 was followed by: any digest).
	for _, extra := range []string{"", "format: 2\nhead: " + sha([]byte("a head")) + "\n"} {
		body := fmt.Sprintf(`apiVersion: bulwark.dev/v1alpha1
change: add spare
holders:
- key: %s
  name: alice
  role: admin
- key: %s
  name: bob
  role: admin
- key: %s
  name: spare
  role: reader
kind: Recipients
previous: %s
serial: 2
signedBy: bob
time: "2026-12-03T00:00:00Z"
%s`, key(alice), key(bob), strings.TrimPrefix(spare.pub, "spare="), sha(v1), extra)
		bodyFile := writeFile(t, "forged.yaml", body)
		os.Remove(bodyFile + ".sig")
		if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-f", bob.id, "-n", "bulwark-recipients-v1@bulwark-k8s", bodyFile).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
		}
		sig, err := os.ReadFile(bodyFile + ".sig")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, layout.RecipientsFile(2)), append([]byte(body), sig...), 0o644); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, dir)
		for _, c := range []struct {
			args []string
			want int
		}{
			{[]string{"admin", "list", "--dir", dir}, cli.ExitError},
			{[]string{"certs", "renew", "sa", "--new-key", "--dir", dir, "--identity", alice.id}, cli.ExitError},
			{[]string{"encrypt", "--dir", dir, "--identity", alice.id}, cli.ExitError},
			{[]string{"admin", "add", "carol", "--dir", dir, "--recipient", sshPerson(t, "carol", "ed25519", "").pub, "--identity", alice.id}, cli.ExitError},
		} {
			r := runBin(t, c.args...)
			if line := errorLine(t, r); r.code != c.want || !strings.Contains(line, "recipients manifest refused") || !strings.Contains(line, "rewritten") {
				t.Errorf("%q, %s on the forked folder: want exit %d saying the history was rewritten\n%v", extra, strings.Join(c.args[:2], " "), c.want, r)
			}
		}
		r := runBin(t, "audit", "--dir", dir)
		if r.code != cli.ExitFindings || !strings.Contains(r.stdout, "admins:recipients-manifest") || !strings.Contains(r.stdout, "rewritten") {
			t.Errorf("%q: audit of the forked folder:\n%v", extra, r)
		}
		if d := diff(before, snapshot(t, dir)); len(d) != 0 {
			t.Fatalf("refused commands changed the folder: %v", d)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, layout.RecipientsFile(2)), genuine, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRunBin(t, "admin", "list", "--dir", dir)
	for _, f := range secretFiles(t, dir) {
		for _, p := range []person{bob, spare} {
			if _, err := ageDecrypt(t, p.id, filepath.Join(dir, f)); err == nil {
				t.Errorf("%s decrypts %s", p.name, f)
			}
		}
	}
}

// TestAdminRemovedForgesAFile: bob, removed in version 2, puts a service
// account key of his own in pki/sa.key, sealed to version 1 and signed
// by him (an administrator of version 1). The commands that re-encrypt
// (encrypt, admin add, admin remove) refuse it, naming the file, and
// never send anyone to a command that would take it; nothing changes.
func TestAdminRemovedForgesAFile(t *testing.T) {
	dir, alice, bob := removedBob(t)
	carol, reader := sshPerson(t, "carol", "ed25519", ""), agePerson(t, "reader")
	mustRunBin(t, "admin", "add", "reader", "--dir", dir, "--recipient", strings.TrimPrefix(reader.pub, "reader="), "--identity", alice.id)
	bobID, err := atrest.ParseIdentity(readFile(t, filepath.Dir(bob.id), filepath.Base(bob.id)))
	if err != nil {
		t.Fatal(err)
	}
	var rs []atrest.Recipient
	for _, p := range []person{alice, bob} {
		r, _, err := atrest.ParseRecipient(p.pub)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	keyFile := filepath.Join(t.TempDir(), "bob-sa.key")
	if out, err := exec.Command("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", keyFile).CombinedOutput(); err != nil {
		t.Skipf("openssl: %v\n%s", err, out)
	}
	forged, err := (&atrest.Sealer{Recipients: rs, Serial: 1, Manifest: sha(readFile(t, dir, layout.RecipientsFile(1))), Identity: bobID}).
		Seal("pki/sa.key", readFile(t, filepath.Dir(keyFile), filepath.Base(keyFile)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pki/sa.key"), forged, 0o600); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	if r := runBin(t, "certs", "renew", "apiserver", "--dir", dir, "--identity", alice.id); r.code == cli.ExitOK {
		t.Errorf("renew with bob's pki/sa.key: %v", r)
	}
	for _, args := range [][]string{
		{"encrypt", "--dir", dir, "--identity", alice.id},
		{"admin", "add", "carol", "--dir", dir, "--recipient", carol.pub, "--identity", alice.id},
		{"admin", "remove", "reader", "--dir", dir, "--identity", alice.id},
	} {
		r := runBin(t, args...)
		line := errorLine(t, r)
		if r.code != cli.ExitError || !strings.Contains(line, "pki/sa.key") || !strings.Contains(line, "bob") || strings.Contains(line, "bulwark encrypt") || strings.Contains(line, "bulwark admin") {
			t.Errorf("%s with bob's pki/sa.key: want exit 1 naming the file and bob, sending nobody to re-encrypt\n%v", strings.Join(args[:2], " "), r)
		}
	}
	if d := diff(before, snapshot(t, dir)); len(d) != 0 {
		t.Fatalf("refused commands changed the folder: %v", d)
	}
	if got, err := ageDecrypt(t, alice.id, filepath.Join(dir, "pki/sa.key")); err != nil || !bytes.Contains(got, []byte("PRIVATE KEY")) {
		t.Fatalf("the fixture: %v", err)
	}
}

// TestAdminSignOut: admin sign writes NAME.crt and NAME.conf only outside
// the cluster folder (an administrator named "admin" or "super-admin"
// would replace the folder's own kubeconfig) and never over an existing
// file without --overwrite: one line, exit 2, nothing issued, logged or
// written.
func TestAdminSignOut(t *testing.T) {
	needTools(t, "ssh-keygen", "age")
	alice, admin := sshPerson(t, "alice", "ed25519", ""), sshPerson(t, "admin", "ed25519", "")
	dir := filepath.Join(t.TempDir(), "cluster")
	cfg := writeFile(t, "cluster.yaml", "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\ncontrolPlane:\n  - {name: cp-1, ips: [127.0.0.1]}\n")
	mustRunBin(t, "init", "--dir", dir, "--config", cfg, "--recipient", alice.pub, "--identity", alice.id)
	mustRunBin(t, "admin", "add", "super-admin", "--dir", dir, "--recipient", admin.pub, "--identity", alice.id)
	reqs := t.TempDir()
	mustRunBin(t, "admin", "request", "--name", "super-admin", "--key", admin.id, "--out", reqs)
	req := filepath.Join(reqs, "super-admin.request")
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "super-admin.conf"), []byte("mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	before, outBefore := snapshot(t, dir), snapshot(t, out)
	for _, c := range []struct {
		out, says string
	}{
		{dir, "inside the cluster folder"},
		{filepath.Join(dir, "pki"), "inside the cluster folder"},
		{filepath.Join(dir, "new"), "inside the cluster folder"},
		{link, "inside the cluster folder"},
		{out, "exists: not replaced"},
	} {
		r := runBin(t, "admin", "sign", req, "--dir", dir, "--identity", alice.id, "--out", c.out)
		if r.code != cli.ExitUsage || !strings.Contains(errorLine(t, r), c.says) {
			t.Errorf("--out %s: want exit 2 saying %q\n%v", c.out, c.says, r)
		}
	}
	if d := diff(before, snapshot(t, dir)); len(d) != 0 {
		t.Fatalf("refused admin sign changed the folder: %v", d)
	}
	if d := diff(outBefore, snapshot(t, out)); len(d) != 0 {
		t.Fatalf("refused admin sign changed --out: %v", d)
	}
	r := mustRunBin(t, "admin", "sign", req, "--dir", dir, "--identity", alice.id, "--out", out, "--overwrite")
	if kc := string(readFile(t, out, "super-admin.conf")); !strings.Contains(kc, "client-key: super-admin.key") {
		t.Fatalf("--overwrite did not write the kubeconfig: %v\n%s", r, kc)
	}
}

// TestAdminIssuanceLogCut: entries cut from the end of the issuance log
// (as `head -1 issued.log`) are found by admin list and audit, and the
// cut request is not signed again.
func TestAdminIssuanceLogCut(t *testing.T) {
	needTools(t, "ssh-keygen", "age")
	alice := sshPerson(t, "alice", "ed25519", "")
	dir := filepath.Join(t.TempDir(), "cluster")
	cfg := writeFile(t, "cluster.yaml", "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\ncontrolPlane:\n  - {name: cp-1, ips: [127.0.0.1]}\n")
	mustRunBin(t, "init", "--dir", dir, "--config", cfg, "--recipient", alice.pub, "--identity", alice.id)
	var reqs []string
	for i := range 2 {
		d := t.TempDir()
		mustRunBin(t, "admin", "request", "--name", "alice", "--key", alice.id, "--out", d)
		reqs = append(reqs, filepath.Join(d, "alice.request"))
		mustRunBin(t, "admin", "sign", reqs[i], "--dir", dir, "--identity", alice.id, "--out", t.TempDir())
	}
	log := readFile(t, dir, layout.IssuanceLogFile)
	first := log[:bytes.IndexByte(log, '\n')+1]
	if err := os.WriteFile(filepath.Join(dir, layout.IssuanceLogFile), first, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runBin(t, "admin", "list", "--dir", dir)
	if r.code != cli.ExitError || !strings.Contains(errorLine(t, r), "cut from its end") {
		t.Errorf("admin list of a cut log: %v", r)
	}
	r = runBin(t, "audit", "--dir", dir)
	if r.code != cli.ExitFindings || !strings.Contains(r.stdout, "admins:issuance-log") || !strings.Contains(r.stdout, "cut from its end") {
		t.Errorf("audit of a cut log:\n%v", r)
	}
	r = runBin(t, "admin", "sign", reqs[1], "--dir", dir, "--identity", alice.id, "--out", t.TempDir())
	if r.code != cli.ExitError || !strings.Contains(errorLine(t, r), "issuance log broken") {
		t.Errorf("the cut request signed again: %v", r)
	}
}
