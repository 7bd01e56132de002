package atrest_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bulwark-k8s/bulwark/atrest"
)

// holder is a real key made by ssh-keygen or age-keygen.
type holder struct {
	name    string
	idFile  string // private key / identity file
	pubText string
	id      *atrest.Identity
	r       atrest.Recipient
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps)", tool)
		}
	}
}

func newSSH(t *testing.T, typ, bits string) *holder {
	t.Helper()
	need(t, "ssh-keygen")
	path := filepath.Join(t.TempDir(), "id_"+typ+bits)
	args := []string{"-q", "-t", typ, "-N", "", "-C", typ + "@test", "-f", path}
	if bits != "" {
		args = append(args, "-b", bits)
	}
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return load(t, typ+bits, path, path+".pub")
}

func newX25519(t *testing.T) *holder {
	t.Helper()
	need(t, "age-keygen")
	path := filepath.Join(t.TempDir(), "age.key")
	if out, err := exec.Command("age-keygen", "-o", path).CombinedOutput(); err != nil {
		t.Fatalf("age-keygen: %v\n%s", err, out)
	}
	out, err := exec.Command("age-keygen", "-y", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "age.pub")
	if err := os.WriteFile(pub, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return load(t, "x25519", path, pub)
}

func load(t *testing.T, name, idFile, pubFile string) *holder {
	t.Helper()
	data, err := os.ReadFile(idFile)
	if err != nil {
		t.Fatal(err)
	}
	id, err := atrest.ParseIdentity(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	pubText, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := atrest.ParseRecipient(string(pubText))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if r.Key != id.Public.Key {
		t.Fatalf("%s: identity's public key %q differs from %q", name, id.Public.Key, r.Key)
	}
	return &holder{name: name, idFile: idFile, pubText: string(pubText), id: id, r: r}
}

// trust accepts signers among the given holders, for any serial.
func trust(hs ...*holder) func(atrest.Seal, ssh.PublicKey) error {
	return func(_ atrest.Seal, k ssh.PublicKey) error {
		for _, h := range hs {
			if h.r.Is(k) {
				return nil
			}
		}
		return errors.New("not an administrator")
	}
}

// version is the digest of manifest version serial (of the fork f: 0 is
// the folder's).
func version(serial, f int) string {
	return fmt.Sprintf("sha256:%064x", serial*1000+f)
}

func sealer(signer *holder, serial int, to []*holder, admins ...*holder) *atrest.Sealer {
	s := &atrest.Sealer{Serial: serial, Manifest: version(serial, 0), Identity: signer.id, Trusted: trust(admins...)}
	for _, h := range to {
		s.Recipients = append(s.Recipients, h.r)
	}
	return s
}

// ageDecrypt runs the real age command line tool.
func ageDecrypt(t *testing.T, idFile string, data []byte) ([]byte, error) {
	t.Helper()
	cmd := exec.Command("age", "-d", "-i", idFile)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, stderr.String())
	}
	return out, nil
}

const secret = "-----BEGIN EC PRIVATE KEY-----\nnot really a key, but a secret all the same\n-----END EC PRIVATE KEY-----\n"

// TestRealAgeDecryptsWithEveryIdentity: a file sealed to an ssh-ed25519,
// an ssh-rsa and an X25519 recipient is decrypted by the real age binary
// with each identity, and by Open with each; the signature stanza does not
// get in age's way.
func TestRealAgeDecryptsWithEveryIdentity(t *testing.T) {
	need(t, "age")
	ed, rsa, x := newSSH(t, "ed25519", ""), newSSH(t, "rsa", "3072"), newX25519(t)
	all := []*holder{ed, rsa, x}
	for _, signer := range []*holder{ed, rsa} {
		sealed, err := sealer(signer, 1, all, ed, rsa).Seal("pki/ca.key", []byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte("not really a key")) {
			t.Fatal("sealed file holds the plaintext")
		}
		for _, h := range all {
			got, err := ageDecrypt(t, h.idFile, sealed)
			if err != nil || string(got) != secret {
				t.Errorf("signed by %s, age -d -i %s: %v %q", signer.name, h.name, err, got)
			}
			got, err = sealer(h, 1, all, ed, rsa).Open("pki/ca.key", sealed)
			if err != nil || string(got) != secret {
				t.Errorf("signed by %s, Open with %s: %v", signer.name, h.name, err)
			}
		}
	}
}

// TestOpenRefuses: every file not sealed by an administrator, for this
// path and this set, is refused before its content is returned.
func TestOpenRefuses(t *testing.T) {
	need(t, "age")
	admin, outsider, reader := newSSH(t, "ed25519", ""), newSSH(t, "ed25519", ""), newX25519(t)
	set := []*holder{admin, reader}
	good, err := sealer(admin, 2, set, admin).Seal("pki/ca.key", []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	// What the outsider can do: encrypt a key of their own to the set's
	// public keys, with age itself or with a signature of their own.
	byOutsider, err := sealer(outsider, 2, set, outsider).Seal("pki/ca.key", []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("age", "-r", strings.TrimSpace(admin.pubText), "-r", strings.TrimSpace(reader.pubText))
	cmd.Stdin = strings.NewReader(secret)
	byAgeCLI, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	older, err := sealer(admin, 1, set, admin).Seal("pki/ca.key", []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	// A fork: another version 2, same number, another digest.
	forked := sealer(admin, 2, set, admin)
	forked.Manifest = version(2, 1)
	fromFork, err := forked.Seal("pki/ca.key", []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	torn := bytes.Clone(good)
	torn[len(torn)-1] ^= 1
	open := sealer(reader, 2, set, admin)
	for name, c := range map[string]struct {
		rel  string
		data []byte
		want error
	}{
		"signed by a non-administrator":   {"pki/ca.key", byOutsider, atrest.ErrUnsigned},
		"encrypted with the age CLI":      {"pki/ca.key", byAgeCLI, atrest.ErrUnsigned},
		"moved to another path":           {"pki/etcd/ca.key", good, atrest.ErrUnsigned},
		"plaintext":                       {"pki/ca.key", []byte(secret), atrest.ErrNotSealed},
		"sealed to an earlier set":        {"pki/ca.key", older, atrest.ErrStale},
		"sealed to a set not yet written": {"pki/ca.key", good, atrest.ErrUnsigned},
		"sealed under a fork":             {"pki/ca.key", fromFork, atrest.ErrFork},
	} {
		s := open
		if name == "sealed to a set not yet written" {
			s = sealer(reader, 1, set, admin)
		}
		got, err := s.Open(c.rel, c.data)
		if !errors.Is(err, c.want) || got != nil {
			t.Errorf("%s: Open = %v, want %v", name, err, c.want)
		}
	}
	if _, err := open.Open("pki/ca.key", torn); err == nil || errors.Is(err, atrest.ErrUnsigned) {
		t.Errorf("torn file: %v", err)
	}
	if _, err := sealer(outsider, 2, set, admin).Open("pki/ca.key", good); !errors.Is(err, atrest.ErrNotRecipient) {
		t.Errorf("outsider's identity: %v, want ErrNotRecipient", err)
	}
	if _, err := (atrest.Locked{}).Open("pki/ca.key", good); !errors.Is(err, atrest.ErrLocked) {
		t.Errorf("no identity: %v", err)
	}
	if _, err := sealer(reader, 2, set, admin).Seal("pki/ca.key", []byte(secret)); !errors.Is(err, atrest.ErrCannotSign) {
		t.Errorf("X25519 identity sealed: %v", err)
	}
	// AcceptOlder decides, after the signature is checked, with what the
	// seal names and the stored bytes.
	older2 := sealer(reader, 2, set, admin)
	var asked []string
	older2.AcceptOlder = func(rel string, s atrest.Seal, key ssh.PublicKey, stored []byte) error {
		asked = append(asked, fmt.Sprintf("%s %d %s %v %v", rel, s.Serial, s.Manifest, admin.r.Is(key), bytes.Equal(stored, older)))
		return nil
	}
	if got, err := older2.Open("pki/ca.key", older); err != nil || string(got) != secret {
		t.Errorf("AcceptOlder: %v", err)
	}
	if want := "pki/ca.key 1 " + version(1, 0) + " true true"; len(asked) != 1 || asked[0] != want {
		t.Errorf("AcceptOlder asked %q, want %q", asked, want)
	}
	if _, err := older2.Open("pki/ca.key", good); err != nil || len(asked) != 1 {
		t.Errorf("a file of the current version went to AcceptOlder (%v) or failed: %v", asked, err)
	}
	refuse := errors.New("not as it was")
	older2.AcceptOlder = func(string, atrest.Seal, ssh.PublicKey, []byte) error { return refuse }
	if got, err := older2.Open("pki/ca.key", older); !errors.Is(err, refuse) || got != nil {
		t.Errorf("AcceptOlder refused, Open = %v", err)
	}
	if s, err := atrest.Inspect(older); err != nil || s.Serial != 1 || s.Manifest != version(1, 0) || s.Version != 2 {
		t.Errorf("Inspect = %+v, %v", s, err)
	}
}

// TestParseRefuses: keys bulwark does not take, each with ErrMalformedKey
// (or ErrPassphrase), and no key material in the message.
func TestParseRefuses(t *testing.T) {
	need(t, "ssh-keygen")
	dir := t.TempDir()
	gen := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		if out, err := exec.Command("ssh-keygen", append([]string{"-q", "-f", p, "-C", ""}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return p
	}
	rsa1024 := gen("rsa1024", "-t", "rsa", "-b", "1024", "-N", "")
	ecdsa := gen("ecdsa", "-t", "ecdsa", "-N", "")
	locked := gen("locked", "-t", "ed25519", "-N", "correct horse")
	for _, p := range []string{rsa1024, ecdsa} {
		pub, _ := os.ReadFile(p + ".pub")
		if _, _, err := atrest.ParseRecipient(string(pub)); !errors.Is(err, atrest.ErrMalformedKey) {
			t.Errorf("%s recipient: %v", filepath.Base(p), err)
		}
		priv, _ := os.ReadFile(p)
		if _, err := atrest.ParseIdentity(priv); !errors.Is(err, atrest.ErrMalformedKey) {
			t.Errorf("%s identity: %v", filepath.Base(p), err)
		}
	}
	priv, _ := os.ReadFile(locked)
	if _, err := atrest.ParseIdentity(priv); !errors.Is(err, atrest.ErrPassphrase) {
		t.Errorf("passphrase-protected identity: %v", err)
	}
	for _, s := range []string{"", "age1notvalid", "ssh-ed25519 AAAAnot-base64", "command=\"x\" " + mustRead(t, locked+".pub"), "hello"} {
		if _, _, err := atrest.ParseRecipient(s); !errors.Is(err, atrest.ErrMalformedKey) {
			t.Errorf("recipient %q: %v", s, err)
		}
	}
	for _, s := range []string{"", "AGE-SECRET-KEY-1NOTVALID", "-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n-----END OPENSSH PRIVATE KEY-----\n"} {
		_, err := atrest.ParseIdentity([]byte(s))
		if !errors.Is(err, atrest.ErrMalformedKey) {
			t.Errorf("identity %q: %v", s, err)
		}
		if err != nil && strings.Contains(err.Error(), "garbage") {
			t.Errorf("error quotes the file: %v", err)
		}
	}
}

func mustRead(t *testing.T, p string) string {
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func FuzzOpen(f *testing.F) {
	f.Add([]byte(atrest.Header + "-> X25519 abc\nAAAA\n--- AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &atrest.Sealer{Serial: 1, Manifest: version(1, 0), Trusted: func(atrest.Seal, ssh.PublicKey) error { return nil }}
		if got, err := s.Open("f", data); err == nil && atrest.IsSealed(data) {
			t.Fatalf("opened without an identity: %q", got)
		}
		_, _ = atrest.Inspect(data)
	})
}
