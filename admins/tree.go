package admins

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/store"
)

// Tree is a cluster folder whose secrets are encrypted to its
// administrators, opened with one identity (or none).
type Tree struct {
	D       *store.Dir
	History History
	// Identity is nil when none was given: sealed files are then
	// atrest.ErrLocked.
	Identity *atrest.Identity
	Sealer   *atrest.Sealer
	// head is the signed head, nil in a folder from before heads.
	head *Head
}

// Encrypted reports whether the folder has a recipients manifest.
func Encrypted(d *store.Dir) (bool, error) {
	files, err := d.Walk(layout.RecipientsDir)
	return len(files) > 0, err
}

// Open checks the folder's manifest history and puts a Sealer behind the
// folder's Secrets. Without a manifest it returns ErrNoManifest and leaves
// the folder as it is. With id nil, every sealed file is atrest.ErrLocked.
func Open(d *store.Dir, id *atrest.Identity) (*Tree, error) {
	h, err := LoadHistory(d)
	if err != nil {
		return nil, err
	}
	hd, err := loadHead(d, h)
	if err != nil {
		return nil, err
	}
	t := &Tree{D: d, History: h, Identity: id, head: hd}
	if err := t.seal(h.Current(), id); err != nil {
		return nil, err
	}
	if id != nil {
		if _, ok := h.Current().holderFor(id.Public); !ok {
			return nil, fmt.Errorf("%w: the identity %s is not a holder of this folder's secrets", atrest.ErrNotRecipient, id.Public.Fingerprint())
		}
	}
	return t, nil
}

// seal puts a Sealer for manifest m behind the folder.
func (t *Tree) seal(m *Manifest, id *atrest.Identity) error {
	rs, err := m.Recipients()
	if err != nil {
		return err
	}
	t.Sealer = &atrest.Sealer{Recipients: rs, Serial: m.Serial, Manifest: m.digest, Identity: id, Trusted: t.History.trusted}
	if id == nil {
		t.D.Secrets = atrest.Locked{}
	} else {
		t.D.Secrets = t.Sealer
	}
	return nil
}

// Actor is the administrator the identity is, or an error saying why it
// may not change anything.
func (t *Tree) Actor() (Holder, error) {
	if t.Identity == nil {
		return Holder{}, errors.New("this needs an administrator's identity: give --identity (or BULWARK_IDENTITY)")
	}
	if t.Identity.Signer == nil {
		return Holder{}, atrest.ErrCannotSign
	}
	h, ok := t.History.Current().AdminFor(t.Identity.Signer.PublicKey())
	if !ok {
		return Holder{}, fmt.Errorf("the identity %s is not an administrator of this folder", t.Identity.Public.Fingerprint())
	}
	return h, nil
}

// SecretFiles lists every file of the folder whose kind is a secret.
func SecretFiles(d *store.Dir) ([]string, error) {
	return filesOf(d, func(k layout.Kind) bool { return k.Secret() })
}

// filesOf lists every file of the folder whose kind is one of want's.
func filesOf(d *store.Dir, want func(layout.Kind) bool) ([]string, error) {
	all, err := d.Walk(".")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range all {
		if want(layout.Classify(f)) {
			out = append(out, f)
		}
	}
	return out, nil
}

// Bootstrap writes the first manifest, signed by id, listing recipients;
// id must be one of them. If the folder has a manifest already, it must
// list exactly these recipients (a rerun of an interrupted init).
func Bootstrap(d *store.Dir, recipients []NamedRecipient, id *atrest.Identity, now time.Time) (*Tree, error) {
	if id == nil || id.Signer == nil {
		return nil, errors.New("the first recipients manifest is signed by an administrator: give --identity with the private half of one of the SSH recipients")
	}
	m, err := firstManifest(recipients, id, now)
	if err != nil {
		return nil, err
	}
	if enc, err := Encrypted(d); err != nil {
		return nil, err
	} else if enc {
		t, err := Open(d, id)
		if err != nil {
			return nil, err
		}
		if !sameHolders(t.History.Current().Holders, m.Holders) {
			return nil, errors.New("the folder has administrators already; change them with `bulwark admin add` and `bulwark admin remove`")
		}
		return t, nil
	}
	file, err := m.encode(id)
	if err != nil {
		return nil, err
	}
	// The head first: a folder with a format-2 manifest always has one.
	head, err := makeHead(d, History{m}, m, true, true, id, now)
	if err != nil {
		return nil, err
	}
	if err := d.Replace(layout.HeadFile, head, layout.AdminsHead.Mode()); err != nil {
		return nil, err
	}
	if err := d.Create(layout.RecipientsFile(1), file, layout.RecipientsManifest.Mode()); err != nil {
		return nil, err
	}
	return Open(d, id)
}

// firstManifest is serial 1 listing recipients, to be signed by id, which
// must be one of its administrators.
func firstManifest(recipients []NamedRecipient, id *atrest.Identity, now time.Time) (*Manifest, error) {
	m := &Manifest{APIVersion: apiVersion, Kind: kindManifest, Serial: 1, Time: now.UTC().Truncate(time.Second), Change: "create", Format: formatDigests}
	for _, r := range recipients {
		m.Holders = append(m.Holders, Holder{Name: r.Name, Key: r.Key, Role: roleOf(r.Recipient)})
	}
	signer, ok := m.AdminFor(id.Signer.PublicKey())
	if !ok {
		return nil, fmt.Errorf("the identity %s is not among the SSH recipients given: the first manifest is signed by one of its own administrators", id.Public.Fingerprint())
	}
	m.SignedBy = signer.Name
	return m, nil
}

func sameHolders(a, b []Holder) bool {
	key := func(h Holder) string { return h.Name + " " + h.Key }
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		ka[i] = key(a[i])
	}
	for i := range b {
		kb[i] = key(b[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// Result is what a conversion or re-encryption did.
type Result struct {
	// Sealed lists the files encrypted (or re-encrypted) to the current
	// set; Kept those that already were.
	Sealed []string
	Kept   []string
	Serial int
}

// Convert encrypts an existing folder whose secrets are plaintext (made by
// bulwark or kubeadm) to recipients, signed by id. Every secret file is
// sealed first and the manifest written last, in one batch: a run killed
// part-way leaves every file either plaintext or sealed to the new set,
// and the same command run again finishes it. Nothing plaintext is left.
func Convert(d *store.Dir, recipients []NamedRecipient, id *atrest.Identity, now time.Time) (*Result, error) {
	if enc, err := Encrypted(d); err != nil {
		return nil, err
	} else if enc {
		return nil, errors.New("the folder's secrets are encrypted already; change who can read them with `bulwark admin add` and `bulwark admin remove`")
	}
	if id == nil || id.Signer == nil {
		return nil, errors.New("encrypting a folder needs an administrator's SSH identity (--identity): it signs the manifest and every file")
	}
	m, err := firstManifest(recipients, id, now)
	if err != nil {
		return nil, err
	}
	file, err := m.encode(id)
	if err != nil {
		return nil, err
	}
	head, err := makeHead(d, History{m}, m, true, true, id, now)
	if err != nil {
		return nil, err
	}
	t := &Tree{D: d, History: History{m}, Identity: id}
	if err := t.seal(m, id); err != nil {
		return nil, err
	}
	// Files sealed by an earlier, killed run of this conversion are
	// sealed to set 1 by an administrator of this manifest; a file sealed
	// to anything else is refused.
	// (the digest of that run's version 1, never written, is not this
	// one's: its time differs).
	t.Sealer.AcceptPlain = true
	t.Sealer.Trusted = func(s atrest.Seal, key ssh.PublicKey) error {
		if _, ok := m.AdminFor(key); s.Serial != 1 || !ok {
			return fmt.Errorf("sealed to version %d by %s in a folder that has no manifest, not by one of its new administrators", s.Serial, ssh.FingerprintSHA256(key))
		}
		return nil
	}
	t.Sealer.AcceptOlder = func(string, atrest.Seal, ssh.PublicKey, []byte) error { return nil }
	// The head before the manifest: a folder with a format-2 manifest
	// always has one.
	return t.reseal(func(b *store.Batch) {
		b.Add(store.File{Rel: layout.HeadFile, Data: head, Mode: layout.AdminsHead.Mode(), Replace: true, Stage: 1})
		b.Add(store.File{Rel: layout.RecipientsFile(1), Data: file, Mode: layout.RecipientsManifest.Mode(), Stage: 2})
	}, true)
}

// Resume re-encrypts every secret still sealed to an earlier set to the
// current one (after a change that was interrupted) and records it done
// in the head. A file sealed to an earlier set is taken only as it was
// when the change began (Manifest.Sealed), and only until the head says
// the re-encryption finished; a file from before manifest digests only if
// its signer is still an administrator. Plaintext secrets are refused,
// not adopted.
//
// A folder whose manifest is from before digests is upgraded: a new
// version with the same holders, to which every secret is re-sealed.
func (t *Tree) Resume(now time.Time) (*Result, error) {
	if _, err := t.Actor(); err != nil {
		return nil, err
	}
	if !t.History.hasDigests() {
		return t.change(t.History.Current().Holders, "upgrade: seals name the manifest's digest", now, nil)
	}
	res, err := t.reseal(nil, false)
	if err != nil {
		return nil, err
	}
	if !t.reencrypted() {
		if err := t.writeHead(true, now); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// acceptOlder decides whether a file sealed to an earlier version (or in
// the format before digests) may be re-encrypted; its signature and
// signer (an administrator of that version) are checked already.
func (t *Tree) acceptOlder(rel string, s atrest.Seal, key ssh.PublicKey, stored []byte) error {
	cur := t.History.Current()
	if cur.Format < formatDigests {
		// Upgrading a folder from before digests: there is no record of
		// what the files were, so only a current administrator's
		// signature is taken.
		if _, ok := cur.AdminFor(key); !ok {
			return fmt.Errorf("%w: sealed to version %d by %s, who is no longer an administrator: it cannot be told apart from a file they forged; restore it from a trusted copy", ErrNotAsBefore, s.Serial, t.History.signerName(key))
		}
		return nil
	}
	if t.reencrypted() {
		return fmt.Errorf("%w: sealed to version %d (by %s), but the re-encryption to version %d was recorded finished in %s: put back from before? restore it from a trusted copy", ErrNotAsBefore, s.Serial, t.History.signerName(key), cur.Serial, layout.HeadFile)
	}
	if want, ok := cur.Sealed[rel]; !ok || want != digest(stored) {
		return fmt.Errorf("%w: sealed to version %d (by %s), but not the file that was there when version %d (%s) began: it may be forged; restore it from a trusted copy", ErrNotAsBefore, s.Serial, t.History.signerName(key), cur.Serial, cur.Change)
	}
	return nil
}

// ErrNotAsBefore is wrapped by every refusal of a file sealed to an
// earlier version that is not the one the interrupted re-encryption
// started from.
var ErrNotAsBefore = errors.New("refused")

// reseal reads every secret file and seals again, with fresh file keys,
// those not sealed to the current set (all of them with all), in one
// batch of atomic replacements; extra adds files to the batch.
func (t *Tree) reseal(extra func(*store.Batch), all bool) (*Result, error) {
	files, err := SecretFiles(t.D)
	if err != nil {
		return nil, err
	}
	res := &Result{Serial: t.Sealer.Serial}
	opener := *t.Sealer
	if opener.AcceptOlder == nil {
		opener.AcceptOlder = t.acceptOlder
	}
	type todo struct {
		rel  string
		data []byte
	}
	var work []todo
	for _, f := range files {
		stored, err := t.D.Read(f)
		if err != nil {
			return nil, err
		}
		if atrest.IsSealed(stored) && !all {
			seal, err := atrest.Inspect(stored)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if seal.Serial == t.Sealer.Serial && seal.Version >= formatDigests {
				// Checked all the same: a forged file is not kept.
				if _, err := opener.Open(f, stored); err != nil {
					return nil, fmt.Errorf("%s: %w", f, err)
				}
				res.Kept = append(res.Kept, f)
				continue
			}
		}
		plain, err := opener.Open(f, stored)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		work = append(work, todo{f, plain})
	}
	b := t.D.NewBatch()
	for _, w := range work {
		b.Add(store.File{Rel: w.rel, Data: w.data, Secret: true, Replace: true})
		res.Sealed = append(res.Sealed, w.rel)
	}
	// Static Pods' links to the files (made in a plaintext folder) would
	// keep the old contents, plaintext or sealed to the old set: they go.
	links, err := mountedFiles(t.D)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		b.Add(store.File{Rel: l, Remove: true, Stage: 1})
	}
	if extra != nil {
		extra(b)
	}
	if err := b.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

// change writes the next manifest version, with holders, signed by the
// actor, then re-encrypts every secret to it. The version is written
// first: a run killed after it leaves files sealed to the old set or the
// new, and `Resume` (bulwark encrypt) finishes the job.
func (t *Tree) change(holders []Holder, what string, now time.Time, before func() error) (*Result, error) {
	actor, err := t.Actor()
	if err != nil {
		return nil, err
	}
	cur := t.History.Current()
	m := &Manifest{APIVersion: apiVersion, Kind: kindManifest, Serial: cur.Serial + 1, Previous: cur.digest,
		Time: now.UTC().Truncate(time.Second), Change: what, SignedBy: actor.Name, Holders: holders, Format: formatDigests}
	if err := m.validate(); err != nil {
		return nil, err
	}
	// Every file is readable now (forged ones refused), and the log
	// holds what the head counts.
	if err := t.checkAllReadable(); err != nil {
		return nil, err
	}
	if _, err := ReadLog(t.D, t.History); err != nil {
		return nil, err
	}
	if before != nil {
		if err := before(); err != nil {
			return nil, err
		}
	}
	// The version records the files as they are: until its re-encryption
	// is recorded finished, only these bytes are taken under an earlier
	// version.
	if m.Sealed, err = storedDigests(t.D); err != nil {
		return nil, err
	}
	if t.head == nil {
		// A folder from before heads: its first, for the version it has,
		// so that the new version can name it.
		if err := t.writeHead(false, now); err != nil {
			return nil, err
		}
	}
	if m.Head, err = headDigest(t.D); err != nil {
		return nil, err
	}
	file, err := m.encode(t.Identity)
	if err != nil {
		return nil, err
	}
	if err := t.D.Create(layout.RecipientsFile(m.Serial), file, layout.RecipientsManifest.Mode()); err != nil {
		return nil, err
	}
	t.History = append(t.History, m)
	if err := t.seal(m, t.Identity); err != nil {
		return nil, err
	}
	res, err := t.reseal(nil, false)
	if err != nil {
		return nil, err
	}
	if err := t.writeHead(true, now); err != nil {
		return nil, err
	}
	return res, nil
}

// storedDigests is the digest of every secret file as stored.
func storedDigests(d *store.Dir) (map[string]string, error) {
	files, err := SecretFiles(d)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(files))
	for _, f := range files {
		data, err := d.Read(f)
		if err != nil {
			return nil, err
		}
		out[f] = digest(data)
	}
	return out, nil
}

// checkAllReadable opens every secret: a change is refused while any file
// is unreadable to the actor or forged.
func (t *Tree) checkAllReadable() error {
	files, err := SecretFiles(t.D)
	if err != nil {
		return err
	}
	opener := *t.Sealer
	opener.AcceptOlder = t.acceptOlder
	for _, f := range files {
		stored, err := t.D.Read(f)
		if err != nil {
			return err
		}
		if _, err := opener.Open(f, stored); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}

// Pending lists the secrets not sealed to the current set.
func (t *Tree) Pending() ([]string, error) {
	files, err := SecretFiles(t.D)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		stored, err := t.D.Read(f)
		if err != nil {
			return nil, err
		}
		if s, err := atrest.Inspect(stored); err != nil || s.Serial != t.Sealer.Serial || s.Version < formatDigests {
			out = append(out, f)
		}
	}
	return out, nil
}

// mountedFiles lists the static Pods' links of the folder.
func mountedFiles(d *store.Dir) ([]string, error) {
	return filesOf(d, func(k layout.Kind) bool { return k == layout.Mounted })
}
