package sshsig_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bulwark-k8s/bulwark/sshsig"
)

// keygen makes a real key with ssh-keygen and returns its path and signer.
func keygen(t *testing.T, typ string, bits string) (string, ssh.Signer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "id_"+typ)
	args := []string{"-q", "-t", typ, "-N", "", "-C", "test", "-f", path}
	if bits != "" {
		args = append(args, "-b", bits)
	}
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	return path, s
}

func needKeygen(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
}

// TestInteropWithSSHKeygen: what Sign writes, ssh-keygen -Y verifies, and
// what ssh-keygen -Y sign writes, Verify accepts; for ed25519 and RSA.
func TestInteropWithSSHKeygen(t *testing.T) {
	needKeygen(t)
	const ns = "bulwark-test@bulwark-k8s"
	msg := []byte("the message\n")
	for _, k := range []struct{ typ, bits string }{{"ed25519", ""}, {"rsa", "2048"}} {
		t.Run(k.typ, func(t *testing.T) {
			keyPath, signer := keygen(t, k.typ, k.bits)
			dir := t.TempDir()
			msgFile := filepath.Join(dir, "msg")
			if err := os.WriteFile(msgFile, msg, 0o600); err != nil {
				t.Fatal(err)
			}
			// bulwark signs, ssh-keygen verifies.
			sig, err := sshsig.Sign(signer, ns, msg)
			if err != nil {
				t.Fatal(err)
			}
			sigFile := filepath.Join(dir, "ours.sig")
			if err := os.WriteFile(sigFile, sig, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("ssh-keygen", "-Y", "check-novalidate", "-n", ns, "-s", sigFile)
			cmd.Stdin = bytes.NewReader(msg)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen refused bulwark's signature: %v\n%s", err, out)
			}
			cmd = exec.Command("ssh-keygen", "-Y", "check-novalidate", "-n", "other@x", "-s", sigFile)
			cmd.Stdin = bytes.NewReader(msg)
			if err := cmd.Run(); err == nil {
				t.Fatal("ssh-keygen accepted bulwark's signature in another namespace")
			}
			// ssh-keygen signs, bulwark verifies.
			if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-f", keyPath, "-n", ns, msgFile).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
			}
			theirs, err := os.ReadFile(msgFile + ".sig")
			if err != nil {
				t.Fatal(err)
			}
			pub, err := sshsig.Verify(theirs, ns, msg)
			if err != nil {
				t.Fatalf("Verify refused ssh-keygen's signature: %v", err)
			}
			if !bytes.Equal(pub.Marshal(), signer.PublicKey().Marshal()) {
				t.Fatal("Verify returned another key")
			}
			for name, c := range map[string]struct {
				sig []byte
				ns  string
				msg []byte
			}{
				"other namespace":  {theirs, "other@x", msg},
				"other message":    {theirs, ns, []byte("the message!\n")},
				"empty message":    {sig, ns, nil},
				"not armored":      {[]byte("garbage"), ns, msg},
				"trailing garbage": {append(append([]byte{}, sig...), "x"...), ns, msg},
			} {
				if _, err := sshsig.Verify(c.sig, c.ns, c.msg); !errors.Is(err, sshsig.ErrInvalid) {
					t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
				}
			}
		})
	}
}

// TestTamperedBlob: flipping any byte of a signature blob makes it invalid.
func TestTamperedBlob(t *testing.T) {
	needKeygen(t)
	_, signer := keygen(t, "ed25519", "")
	raw, err := sshsig.SignRaw(signer, "n@x", []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sshsig.VerifyRaw(raw, "n@x", []byte("m")); err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x01
		if pub, err := sshsig.VerifyRaw(bad, "n@x", []byte("m")); err == nil && bytes.Equal(pub.Marshal(), signer.PublicKey().Marshal()) {
			t.Fatalf("byte %d flipped: still verifies", i)
		}
	}
}

func FuzzVerifyRaw(f *testing.F) {
	f.Add([]byte("SSHSIG"), "n", []byte("m"))
	f.Fuzz(func(t *testing.T, raw []byte, ns string, msg []byte) {
		_, _ = sshsig.VerifyRaw(raw, ns, msg)
	})
}
