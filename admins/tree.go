package admins

import (
	"errors"
	"fmt"
	"slices"
	"time"

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
	t := &Tree{D: d, History: h, Identity: id}
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
	t.Sealer = &atrest.Sealer{Recipients: rs, Serial: m.Serial, Identity: id, Trusted: t.History.trusted}
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
	all, err := d.Walk(".")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range all {
		if layout.Classify(f).Secret() {
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
	if err := d.Create(layout.RecipientsFile(1), file, layout.RecipientsManifest.Mode()); err != nil {
		return nil, err
	}
	return Open(d, id)
}

// firstManifest is serial 1 listing recipients, to be signed by id, which
// must be one of its administrators.
func firstManifest(recipients []NamedRecipient, id *atrest.Identity, now time.Time) (*Manifest, error) {
	m := &Manifest{APIVersion: apiVersion, Kind: kindManifest, Serial: 1, Time: now.UTC().Truncate(time.Second), Change: "create"}
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
	t := &Tree{D: d, History: History{m}, Identity: id}
	if err := t.seal(m, id); err != nil {
		return nil, err
	}
	// Files sealed by an earlier, killed run of this conversion are
	// sealed to set 1 by an administrator of this manifest.
	t.Sealer.AcceptPlain = true
	return t.reseal(func(b *store.Batch) {
		b.Add(store.File{Rel: layout.RecipientsFile(1), Data: file, Mode: layout.RecipientsManifest.Mode(), Stage: 1})
	}, true)
}

// Resume re-encrypts every secret still sealed to an earlier set to the
// current one (after a change that was interrupted). Plaintext secrets are
// refused, not adopted.
func (t *Tree) Resume() (*Result, error) {
	if _, err := t.Actor(); err != nil {
		return nil, err
	}
	return t.reseal(nil, false)
}

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
	opener.AcceptOlder = true
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
			if seal.Serial == t.Sealer.Serial {
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
	// Nothing may be pending: every file is readable now.
	cur := t.History.Current()
	m := &Manifest{APIVersion: apiVersion, Kind: kindManifest, Serial: cur.Serial + 1, Previous: cur.digest,
		Time: now.UTC().Truncate(time.Second), Change: what, SignedBy: actor.Name, Holders: holders}
	file, err := m.encode(t.Identity)
	if err != nil {
		return nil, err
	}
	if err := t.checkAllReadable(); err != nil {
		return nil, err
	}
	if before != nil {
		if err := before(); err != nil {
			return nil, err
		}
	}
	if err := t.D.Create(layout.RecipientsFile(m.Serial), file, layout.RecipientsManifest.Mode()); err != nil {
		return nil, err
	}
	t.History = append(t.History, m)
	if err := t.seal(m, t.Identity); err != nil {
		return nil, err
	}
	return t.reseal(nil, false)
}

// checkAllReadable opens every secret: a change is refused while any file
// is unreadable to the actor or forged.
func (t *Tree) checkAllReadable() error {
	files, err := SecretFiles(t.D)
	if err != nil {
		return err
	}
	opener := *t.Sealer
	opener.AcceptOlder = true
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
		if s, err := atrest.Inspect(stored); err != nil || s.Serial != t.Sealer.Serial {
			out = append(out, f)
		}
	}
	return out, nil
}

// mountedFiles lists the static Pods' links of the folder.
func mountedFiles(d *store.Dir) ([]string, error) {
	files, err := d.Walk(".")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		if layout.Classify(f) == layout.Mounted {
			out = append(out, f)
		}
	}
	return out, nil
}
