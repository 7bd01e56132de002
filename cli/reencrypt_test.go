package cli_test

import (
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

// TestKilledReencryption: `admin remove` and `encrypt` (converting a
// plaintext folder) are killed after each file in place
// (BULWARK_TEST_KILL_AFTER_LINKS). Whatever a kill leaves, every secret is
// decryptable by the old set or the new one — never by neither, never
// torn — and `bulwark encrypt` finishes the job; after it the removed
// holder decrypts nothing.
func TestKilledReencryption(t *testing.T) {
	needTools(t, "ssh-keygen", "age", "age-keygen")
	alice, reader := sshPerson(t, "alice", "ed25519", ""), agePerson(t, "reader")
	plain := filepath.Join(t.TempDir(), "plain")
	mustRunBin(t, "init", "--dir", plain)
	enc := copyOf(t, plain)
	mustRunBin(t, "encrypt", "--dir", enc, "--recipient", alice.pub, "--recipient", reader.pub, "--identity", alice.id)
	n := len(secretFiles(t, enc))
	// The static Pods' links of the plaintext folder are removed in the
	// same batch: more writes to be killed after.
	links := 0
	for _, f := range files(t, plain) {
		if layout.Classify(f) == layout.Mounted {
			links++
		}
	}

	killed := func(args ...string) func(k int) (string, error) {
		return func(k int) (string, error) {
			src := plain
			if args[0] == "admin" {
				src = enc
			}
			dir := copyOf(t, src)
			cmd := binCmd(append(args, "--dir", dir)...)
			cmd.Env = append(cmd.Env, fmt.Sprintf("BULWARK_TEST_KILL_AFTER_LINKS=%d", k))
			_, err := cmd.CombinedOutput()
			return dir, err
		}
	}
	for _, c := range []struct {
		name string
		run  func(int) (string, error)
		// old reports whether a file is still as before: plaintext, or
		// sealed to set 1 (the reader decrypts it).
		old func(dir, f string) bool
	}{
		{"encrypt a plaintext folder", killed("encrypt", "--recipient", alice.pub, "--identity", alice.id),
			func(dir, f string) bool { return !atrest.IsSealed(readFile(t, dir, f)) }},
		{"admin remove", killed("admin", "remove", "reader", "--identity", alice.id),
			func(dir, f string) bool {
				_, err := ageDecrypt(t, reader.id, filepath.Join(dir, f))
				return err == nil
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			partial := 0
			for k := 1; ; k++ {
				dir, err := c.run(k)
				var ee *exec.ExitError
				if err != nil && !strings.Contains(err.Error(), "killed") {
					if ok := errorsAs(err, &ee); !ok {
						t.Fatal(err)
					}
				}
				olds := 0
				for _, f := range secretFiles(t, dir) {
					if c.old(dir, f) {
						olds++
						continue
					}
					// Otherwise it is sealed to the new set: alice reads it.
					if _, err := ageDecrypt(t, alice.id, filepath.Join(dir, f)); err != nil {
						t.Fatalf("killed after %d files: %s is neither old nor new: %v", k, f, err)
					}
				}
				if olds > 0 && olds < n {
					partial++
				}
				// A removal killed before its new manifest was written did
				// not happen (only its rotation marks may be there): it is
				// run again. Then encrypt finishes what was interrupted.
				if c.name == "admin remove" {
					if _, serr := os.Stat(filepath.Join(dir, layout.RecipientsFile(2))); serr != nil {
						mustRunBin(t, "admin", "remove", "reader", "--dir", dir, "--identity", alice.id)
					}
				}
				args := []string{"encrypt", "--dir", dir, "--identity", alice.id}
				if _, serr := os.Stat(filepath.Join(dir, layout.RecipientsFile(1))); serr != nil {
					args = append(args, "--recipient", alice.pub)
				}
				mustRunBin(t, args...)
				for _, f := range secretFiles(t, dir) {
					if _, err := ageDecrypt(t, alice.id, filepath.Join(dir, f)); err != nil {
						t.Fatalf("killed after %d, then encrypt: %s: %v", k, f, err)
					}
					if _, err := ageDecrypt(t, reader.id, filepath.Join(dir, f)); err == nil {
						t.Fatalf("killed after %d, then encrypt: the reader still decrypts %s", k, f)
					}
				}
				r := runBin(t, "certs", "check-expiration", "--dir", dir, "--identity", alice.id)
				if r.code != cli.ExitOK {
					t.Fatalf("killed after %d, then encrypt: %v", k, r)
				}
				if err == nil {
					break
				}
				if k > 2*n+links+4 {
					t.Fatalf("still killed after %d files, of %d", k, n)
				}
			}
			if partial < n/2 {
				t.Errorf("only %d kills left a partly re-encrypted folder", partial)
			}
		})
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// TestEncryptKubeadmFolder: a folder the real kubeadm made (certs and
// kubeconfig phases) is encrypted in place: every key and kubeconfig is an
// age file the real age decrypts back to kubeadm's bytes, nothing is left
// in plaintext, and check-expiration reads it with an identity.
func TestEncryptKubeadmFolder(t *testing.T) {
	needTools(t, "ssh-keygen", "age")
	kubeadm := kubeadmPath(t)
	out, err := exec.Command("hostname", "-I").Output()
	if err != nil || len(strings.Fields(string(out))) == 0 {
		t.Skipf("no host address for kubeadm's advertise address: %v", err)
	}
	dir := t.TempDir()
	cfg := writeFile(t, "kubeadm.yaml", fmt.Sprintf("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: %s\nnodeRegistration:\n  name: cp-1\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.36.3\ncertificatesDir: %s\n",
		strings.Fields(string(out))[0], filepath.Join(dir, "pki")))
	for _, phase := range [][]string{{"certs", "all"}, {"kubeconfig", "all", "--kubeconfig-dir", dir}} {
		args := append(append([]string{"init", "phase"}, phase...), "--config", cfg)
		if out, err := exec.Command(kubeadm, args...).CombinedOutput(); err != nil {
			t.Fatalf("kubeadm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	original := map[string][]byte{}
	for _, f := range secretFiles(t, dir) {
		original[f] = readFile(t, dir, f)
	}
	if len(original) < 15 {
		t.Fatalf("kubeadm made only %d secrets: %v", len(original), original)
	}
	alice := sshPerson(t, "alice", "ed25519", "")
	v := &vault{t: t, dir: dir, km: newKeyMaterial()}
	v.km.harvest(t, dir)
	v.forgetPublic()
	r := v.run(cli.ExitOK, "encrypt", "--dir", dir, "--recipient", alice.pub, "--identity", alice.id)
	if !strings.Contains(r.stdout, fmt.Sprintf("%d secrets encrypted", len(original))) {
		t.Fatalf("%v", r)
	}
	for f, want := range original {
		got, err := ageDecrypt(t, alice.id, filepath.Join(dir, f))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: age -d gives back other bytes (%v)", f, err)
		}
	}
	r = v.run(cli.ExitOK, "certs", "check-expiration", "--dir", dir, "--identity", alice.id)
	for _, f := range []string{"kubelet.conf", "admin.conf", "super-admin.conf"} {
		if !strings.Contains(r.stdout, f) {
			t.Errorf("check-expiration did not read %s:\n%s", f, r.stdout)
		}
	}
}
