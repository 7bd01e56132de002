package admins

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/sshsig"
	"github.com/bulwark-k8s/bulwark/store"
)

// threeAdmins is a folder made by init, encrypted to alice, bob and
// carol.
func threeAdmins(t *testing.T) (tr *Tree, alice, bob, carol *atrest.Identity) {
	t.Helper()
	tr, alice, carol = encryptedTree(t)
	bob = edIdentity(t)
	tr.Identity = alice
	if _, err := tr.Add("bob", bob.Public, "", now); err != nil {
		t.Fatal(err)
	}
	return tr, alice, bob, carol
}

// snapshotFiles is the stored bytes of every file of the folder.
func snapshotFiles(t *testing.T, d *store.Dir) map[string][]byte {
	t.Helper()
	files, err := d.Walk(".")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		if out[f], err = d.Read(f); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// put writes the bytes as they are (the store would seal a secret):
// what someone with write access to the repository does.
func put(t *testing.T, d *store.Dir, rel string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(d.Path(rel)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Path(rel), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// reopen opens the folder afresh, as the next command does.
func reopen(t *testing.T, d *store.Dir, id *atrest.Identity) (*Tree, error) {
	t.Helper()
	d2, err := store.Open(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	return Open(d2, id)
}

// forgedVersion is what a removed administrator can sign: a version of
// the same number as the one that removed them, following the version
// before it (where they were an administrator), keeping them and adding
// a reader of their own.
func forgedVersion(t *testing.T, h History, serial int, by *atrest.Identity, byName string) *Manifest {
	t.Helper()
	before := h[serial-2]
	m := &Manifest{APIVersion: apiVersion, Kind: kindManifest, Serial: serial, Previous: before.digest, Time: now, Change: "add reader",
		SignedBy: byName, Holders: append(append([]Holder{}, before.Holders...), Holder{Name: "spare", Key: "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p", Role: RoleReader}),
		Format: formatDigests, Head: before.Head}
	return m
}

// TestForkByRemovedAdministrator: bob, removed in version 3, writes his
// own version 3 (following version 2, signed by him: he was an
// administrator of version 2). The signed head names the real version 3
// by digest, and so does every file sealed since: the fork is refused by
// every command, with or without an identity, even when bob signs a head
// of his own or removes it; removing the newest version (undoing the
// removal) is refused too.
func TestForkByRemovedAdministrator(t *testing.T) {
	tr, alice, bob, _ := threeAdmins(t)
	if _, err := tr.Remove("bob", now); err != nil {
		t.Fatal(err)
	}
	genuine := snapshotFiles(t, tr.D)
	restore := func() {
		for f, data := range genuine {
			put(t, tr.D, f, data)
		}
	}
	forged := forgedVersion(t, tr.History, 3, bob, "bob")
	forgedFile, err := forged.encode(bob)
	if err != nil {
		t.Fatal(err)
	}
	// Bob's head names his version 3 and is signed by him.
	forgedHistory := append(History{}, tr.History[:2]...)
	forgedHistory = append(forgedHistory, forged)
	bobsHead, err := makeHead(tr.D, forgedHistory, forged, true, true, bob, now)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		apply func()
		says  string
	}{
		"forged version, the real head":    {func() { put(t, tr.D, layout.RecipientsFile(3), forgedFile) }, layout.HeadFile + " was signed under manifest version 3"},
		"forged version, bob's own head":   {func() { put(t, tr.D, layout.RecipientsFile(3), forgedFile); put(t, tr.D, layout.HeadFile, bobsHead) }, "was sealed under manifest version 3"},
		"forged version, the head removed": {func() { put(t, tr.D, layout.RecipientsFile(3), forgedFile); _ = tr.D.Remove(layout.HeadFile) }, layout.HeadFile + " is missing"},
		"the removal itself removed":       {func() { _ = tr.D.Remove(layout.RecipientsFile(3)) }, "its newest versions were removed"},
	} {
		restore()
		c.apply()
		for _, id := range []*atrest.Identity{nil, alice} {
			_, err := reopen(t, tr.D, id)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("%s (identity %v): Open = %v, want refused saying %q", name, id != nil, err, c.says)
			}
		}
		if _, err := VerifyIssuanceLog(tr.D); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: the audit's check = %v, want refused", name, err)
		}
	}
	// A file of the real version 3 opened under bob's version 3 (both
	// checks of the folder passed by): the seal's signature covers the
	// digest.
	restore()
	fork := &Tree{D: tr.D, History: forgedHistory, Identity: alice}
	if err := fork.seal(forged, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.D.ReadSecret("pki/ca.key"); !errors.Is(err, atrest.ErrFork) {
		t.Errorf("a file sealed under the real version 3, opened under the fork: %v, want ErrFork", err)
	}
	restore()
	if _, err := reopen(t, tr.D, alice); err != nil {
		t.Fatalf("the genuine folder: %v", err)
	}
}

// interruptedRemoval is a folder where alice's removal of bob was
// interrupted after its version was written: the head and some files are
// as they were before it (the same bytes a killed run leaves).
func interruptedRemoval(t *testing.T) (tr *Tree, before map[string][]byte, alice, bob, carol *atrest.Identity) {
	t.Helper()
	tr, alice, bob, carol = threeAdmins(t)
	before = snapshotFiles(t, tr.D)
	if _, err := tr.Remove("bob", now); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{layout.HeadFile, "pki/sa.key", "pki/ca.key", "admin.conf"} {
		put(t, tr.D, f, before[f])
	}
	return tr, before, alice, bob, carol
}

// TestResumeTakesOnlyWhatWasThere: re-encryption (encrypt's Resume, and
// admin add and remove, which check every file first) takes a file
// sealed to an earlier version only if it is the very file the change
// began with and the head does not say the change finished; a file bob
// sealed after his removal (he was an administrator of the earlier
// version) is refused, naming it, and the refusal sends nobody to a
// command that would take it.
func TestResumeTakesOnlyWhatWasThere(t *testing.T) {
	tr, _, alice, bob, carol := interruptedRemoval(t)
	v2, _ := tr.History.Version(2)
	rs, err := v2.Recipients()
	if err != nil {
		t.Fatal(err)
	}
	bobs := &atrest.Sealer{Recipients: rs, Serial: 2, Manifest: v2.digest, Identity: bob}
	forged, err := bobs.Seal("pki/sa.key", []byte("-----BEGIN EC PRIVATE KEY-----\nbob's\n-----END EC PRIVATE KEY-----\n"))
	if err != nil {
		t.Fatal(err)
	}
	genuine, _ := tr.D.Read("pki/sa.key")
	put(t, tr.D, "pki/sa.key", forged)
	before := snapshotFiles(t, tr.D)
	dave := edIdentity(t)
	for name, run := range map[string]func(*Tree) error{
		"resume":       func(x *Tree) error { _, err := x.Resume(now); return err },
		"admin add":    func(x *Tree) error { _, err := x.Add("dave", dave.Public, "", now); return err },
		"admin remove": func(x *Tree) error { _, err := x.Remove("carol", now); return err },
	} {
		x, err := reopen(t, tr.D, alice)
		if err != nil {
			t.Fatal(err)
		}
		err = run(x)
		if !errors.Is(err, ErrNotAsBefore) || !strings.HasPrefix(err.Error(), "pki/sa.key: ") || strings.Contains(err.Error(), "bulwark") {
			t.Errorf("%s with bob's pki/sa.key: %v", name, err)
		}
		if got := snapshotFiles(t, tr.D); !sameFiles(got, before) {
			t.Errorf("%s refused but changed the folder", name)
		}
	}
	// The file as it was: the re-encryption finishes, the head says so.
	put(t, tr.D, "pki/sa.key", genuine)
	x, err := reopen(t, tr.D, carol)
	if err != nil {
		t.Fatal(err)
	}
	res, err := x.Resume(now)
	if err != nil || len(res.Sealed) != 3 {
		t.Fatalf("resume of the genuine interrupted removal: %v %+v", err, res)
	}
	if pending, _ := x.Pending(); len(pending) != 0 || !x.reencrypted() {
		t.Fatalf("after resume: pending %v, head %+v", pending, x.head)
	}
	if _, err := x.D.ReadSecret("pki/sa.key"); err != nil {
		t.Fatal(err)
	}
	// Finished: even the genuine file from before is not taken back.
	put(t, tr.D, "admin.conf", before["admin.conf"])
	x, err = reopen(t, tr.D, carol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Resume(now); !errors.Is(err, ErrNotAsBefore) || !strings.Contains(err.Error(), "recorded finished") {
		t.Errorf("a file put back after the re-encryption finished: %v", err)
	}
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for f, d := range a {
		if !bytes.Equal(d, b[f]) {
			return false
		}
	}
	return true
}

// TestIssuanceLogTruncated: entries cut from the end of the log (all of
// them, or the file removed) are found against the signed head, and
// admin sign refuses to go on from a cut log.
func TestIssuanceLogTruncated(t *testing.T) {
	tr, alice, carol := encryptedTree(t)
	tr.Identity = alice
	var reqs [][]byte
	for i := range 3 {
		reqs = append(reqs, request(t, carol.Signer, "carol", nil, now.Add(time.Duration(i)*time.Second)))
		if _, err := tr.Sign(reqs[i], SignOptions{Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	good, _ := tr.D.Read(layout.IssuanceLogFile)
	lines := bytes.SplitAfter(good, []byte("\n"))[:3]
	for name, data := range map[string][]byte{
		"last entry cut":  append(append([]byte{}, lines[0]...), lines[1]...),
		"two entries cut": lines[0],
		"all cut":         {},
		"removed":         nil,
	} {
		if data == nil {
			_ = tr.D.Remove(layout.IssuanceLogFile)
		} else {
			put(t, tr.D, layout.IssuanceLogFile, data)
		}
		if _, err := VerifyIssuanceLog(tr.D); !errors.Is(err, ErrChain) || !strings.Contains(err.Error(), "cut from its end") {
			t.Errorf("%s: %v, want ErrChain (cut from its end)", name, err)
		}
		if _, err := tr.Sign(reqs[2], SignOptions{Now: now}); !errors.Is(err, ErrChain) {
			t.Errorf("%s: the cut request signed again: %v", name, err)
		}
	}
	put(t, tr.D, layout.IssuanceLogFile, good)
	if n, err := VerifyIssuanceLog(tr.D); err != nil || n != 3 {
		t.Fatalf("the whole log: %d %v", n, err)
	}
}

// sealV1 seals as bulwark did before seals named the manifest's digest
// (stanza "bulwark-seal v1 SERIAL", signature over path, serial and
// content): what folders written then hold.
func sealV1(t *testing.T, by *atrest.Identity, serial int, to []*atrest.Identity, rel string, plaintext []byte) []byte {
	t.Helper()
	msg := ssh.Marshal(struct {
		Rel    string
		Serial uint32
		Data   []byte
	}{rel, uint32(serial), plaintext})
	sig, err := sshsig.SignRaw(by.Signer, atrest.NamespaceSeal, msg)
	if err != nil {
		t.Fatal(err)
	}
	var rs []age.Recipient
	for _, id := range to {
		r, err := agessh.NewEd25519Recipient(id.Public.SSHKey())
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	rs = append(rs, stanzaRecipient{&age.Stanza{Type: "bulwark-seal", Args: []string{"v1", strconv.Itoa(serial)}, Body: sig}})
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plaintext); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type stanzaRecipient struct{ s *age.Stanza }

func (r stanzaRecipient) Wrap([]byte) ([]*age.Stanza, error) { return []*age.Stanza{r.s}, nil }

// TestUpgradeOldFormat: a folder written before seals named the
// manifest's digest (no head, format-0 versions, v1 seals) is refused
// file by file until `encrypt` (Resume) upgrades it: a new version of
// the same holders, every file re-sealed, a head. The upgrade takes a
// file sealed to an earlier version only if its signer is still an
// administrator: bob, removed in version 2, could have written it.
func TestUpgradeOldFormat(t *testing.T) {
	alice, bob, carol := edIdentity(t), edIdentity(t), edIdentity(t)
	d, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	holders := []Holder{{"alice", alice.Public.Key, RoleAdmin}, {"bob", bob.Public.Key, RoleAdmin}, {"carol", carol.Public.Key, RoleAdmin}}
	v1 := &Manifest{APIVersion: apiVersion, Kind: kindManifest, Serial: 1, Time: now, Change: "create", SignedBy: "alice", Holders: holders}
	f1, err := v1.encode(alice)
	if err != nil {
		t.Fatal(err)
	}
	v2 := &Manifest{APIVersion: apiVersion, Kind: kindManifest, Serial: 2, Previous: v1.digest, Time: now, Change: "remove bob", SignedBy: "alice",
		Holders: []Holder{holders[0], holders[2]}}
	f2, err := v2.encode(alice)
	if err != nil {
		t.Fatal(err)
	}
	put(t, d, layout.RecipientsFile(1), f1)
	put(t, d, layout.RecipientsFile(2), f2)
	plain := map[string][]byte{"pki/ca.key": []byte("ca key\n"), "admin.conf": []byte("kubeconfig\n"), "pki/sa.key": []byte("sa key\n")}
	put(t, d, "pki/ca.key", sealV1(t, alice, 2, []*atrest.Identity{alice, carol}, "pki/ca.key", plain["pki/ca.key"]))
	put(t, d, "admin.conf", sealV1(t, carol, 2, []*atrest.Identity{alice, carol}, "admin.conf", plain["admin.conf"]))
	put(t, d, "pki/sa.key", sealV1(t, bob, 1, []*atrest.Identity{alice, bob, carol}, "pki/sa.key", plain["pki/sa.key"]))

	tr, err := Open(d, alice)
	if err != nil {
		t.Fatalf("a folder from before digests: %v", err)
	}
	if _, err := d.ReadSecret("pki/ca.key"); !errors.Is(err, atrest.ErrOldFormat) {
		t.Errorf("reading a v1 seal: %v, want ErrOldFormat", err)
	}
	before := snapshotFiles(t, d)
	if _, err := tr.Resume(now); !errors.Is(err, ErrNotAsBefore) || !strings.HasPrefix(err.Error(), "pki/sa.key: ") || !strings.Contains(err.Error(), "no longer an administrator") {
		t.Errorf("upgrade with bob's pki/sa.key: %v", err)
	}
	if !sameFiles(before, snapshotFiles(t, d)) {
		t.Fatal("a refused upgrade changed the folder")
	}
	put(t, d, "pki/sa.key", sealV1(t, carol, 1, []*atrest.Identity{alice, bob, carol}, "pki/sa.key", plain["pki/sa.key"]))
	if tr, err = Open(d, alice); err != nil {
		t.Fatal(err)
	}
	res, err := tr.Resume(now)
	if err != nil || res.Serial != 3 || len(res.Sealed) != 3 {
		t.Fatalf("upgrade: %+v %v", res, err)
	}
	tr, err = reopen(t, d, carol)
	if err != nil || tr.History.Current().Format != formatDigests || !tr.reencrypted() {
		t.Fatalf("after the upgrade: %v", err)
	}
	for f, want := range plain {
		if got, err := tr.D.ReadSecret(f); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after the upgrade: %q %v", f, got, err)
		}
		if s, _ := atrest.Inspect(before[f]); s.Version != 1 {
			t.Fatalf("the fixture's %s is not a v1 seal", f)
		}
	}
	if err := d.Remove(layout.HeadFile); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHistory(d); !errors.Is(err, ErrRefused) {
		t.Errorf("upgraded folder without its head: %v", err)
	}
}
