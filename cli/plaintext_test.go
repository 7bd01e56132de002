package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/cli"
)

// TestEncryptRefusesPlaintextCopies: credentials that encryption would
// leave in plaintext, whatever their names, are refused one line each,
// nothing written; in an encrypted folder, audit reports one at high
// (by content) and encrypt refuses it as well.
func TestEncryptRefusesPlaintextCopies(t *testing.T) {
	needTools(t, "ssh-keygen")
	alice := sshPerson(t, "alice", "ed25519", "")
	dir := binTree(t, threeNodeConfig)
	key := readFile(t, dir, "pki/ca.key")
	conf := readFile(t, dir, "super-admin.conf")
	copies := map[string][]byte{
		"pki/ca.key.bak": key, "tmp/kubeadm-backup-certs/ca.key": key, "super-admin.conf.old": conf,
		"pki/sa-key.pem": readFile(t, dir, "pki/sa.key"), "nodes/cp-1/pki/front-proxy-ca.key": readFile(t, dir, "pki/front-proxy-ca.key"),
	}
	for rel, data := range copies {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, dir)
	r := runBin(t, "encrypt", "--dir", dir, "--recipient", alice.pub, "--identity", alice.id)
	lines := expectRefusal(t, r, cli.ExitError)
	if len(lines) != len(copies) {
		t.Errorf("want one line per copy (%d)\n%v", len(copies), r)
	}
	for rel := range copies {
		if !strings.Contains(r.stderr, rel+" holds") {
			t.Errorf("no line names %s\n%v", rel, r)
		}
	}
	unchanged(t, dir, before)

	for rel := range copies {
		if err := os.Remove(filepath.Join(dir, rel)); err != nil {
			t.Fatal(err)
		}
	}
	mustRunBin(t, "encrypt", "--dir", dir, "--recipient", alice.pub, "--identity", alice.id)
	r = runBin(t, "audit", "--dir", dir, "--identity", alice.id)
	if r.code != cli.ExitOK {
		t.Fatalf("audit of a fresh encrypted folder\n%v", r)
	}
	if err := os.WriteFile(filepath.Join(dir, "pki/ca.key.bak"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	r = runBin(t, "audit", "--dir", dir, "--identity", alice.id)
	if r.code != cli.ExitFindings || !strings.Contains(r.stdout, "admins:plaintext-key") || !strings.Contains(r.stdout, "pki/ca.key.bak") {
		t.Fatalf("audit of a plaintext key in an encrypted folder\n%v", r)
	}
	before = snapshot(t, dir)
	expectRefusal(t, runBin(t, "encrypt", "--dir", dir, "--identity", alice.id), cli.ExitError, "pki/ca.key.bak holds a private key")
	unchanged(t, dir, before)
}
