package admins

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/store"
)

// The head (layout.HeadFile) is what the administrators last signed about
// the folder as a whole: the latest manifest version and its digest,
// whether every secret has been re-encrypted to it, and the issuance log's
// length and last entry. It is replaced (never removed) by every change of
// administrators, every finished re-encryption and every issuance; it is
// written before the first manifest version, so a folder whose manifest
// has a format-2 version always has one. It catches what the chains alone
// cannot: a manifest version replaced by a fork of the same number, the
// newest versions removed, and entries cut from the end of the log.

// NamespaceHead is the SSHSIG namespace of the head's signature.
const NamespaceHead = "bulwark-head-v1@bulwark-k8s"

const kindHead = "AdministratorsHead"

// formatDigests is the manifest format whose versions record Sealed and
// Head and whose files' seals name the version's digest.
const formatDigests = 2

// Head is the document at layout.HeadFile.
type Head struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Serial and Manifest name the latest manifest version the head was
	// signed under.
	Serial   int    `json:"serial"`
	Manifest string `json:"manifest"`
	// Reencrypted is true once every secret is sealed to that version.
	Reencrypted bool `json:"reencrypted"`
	// LogEntries and LogLast are the issuance log's length and the
	// SHA-256 of its last line.
	LogEntries int       `json:"logEntries"`
	LogLast    string    `json:"logLast,omitempty"`
	Time       time.Time `json:"time"`
	SignedBy   string    `json:"signedBy"`

	digest string
}

// loadHead reads and checks the head against the history: signed by an
// administrator of the version it names, which must be the folder's
// version of that number. It returns nil if there is none; a history
// with a format-2 version must have one.
func loadHead(d *store.Dir, h History) (*Head, error) {
	data, err := d.Read(layout.HeadFile)
	if errors.Is(err, fs.ErrNotExist) {
		if h.hasDigests() {
			return nil, fmt.Errorf("%w: %s is missing (removed? it is never deleted): restore it from a trusted copy", ErrRefused, layout.HeadFile)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var hd Head
	pub, err := openDoc(data, NamespaceHead, &hd)
	switch {
	case errors.Is(err, errNotSigned):
		return nil, fmt.Errorf("%w: %s is not signed", ErrRefused, layout.HeadFile)
	case errors.Is(err, errMalformed), err == nil && (hd.Kind != kindHead || hd.APIVersion != apiVersion):
		return nil, fmt.Errorf("%w: %s is not a %s document", ErrRefused, layout.HeadFile, kindHead)
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %v", ErrRefused, layout.HeadFile, err)
	}
	hd.digest = digest(data)
	m, ok := h.Version(hd.Serial)
	if !ok {
		return nil, fmt.Errorf("%w: %s was signed under manifest version %d, but the folder has %d versions: its newest versions were removed", ErrRefused, layout.HeadFile, hd.Serial, len(h))
	}
	if hd.Manifest != m.digest {
		return nil, fmt.Errorf("%w: %s was signed under manifest version %d %s, but the folder's version %d is %s: the manifest history was rewritten (a fork, by someone removed?)", ErrRefused, layout.HeadFile, hd.Serial, hd.Manifest, hd.Serial, m.digest)
	}
	if a, ok := m.AdminFor(pub); !ok || a.Name != hd.SignedBy {
		return nil, fmt.Errorf("%w: %s is not signed by administrator %q of version %d", ErrRefused, layout.HeadFile, hd.SignedBy, hd.Serial)
	}
	// A head older than the current version must be the one that version
	// was made from (only a finished re-encryption or an issuance writes
	// a newer one).
	if cur := h.Current(); hd.Serial < cur.Serial && cur.Format >= formatDigests && cur.Head != hd.digest {
		return nil, fmt.Errorf("%w: %s is not the head version %d was made from (put back from before?)", ErrRefused, layout.HeadFile, cur.Serial)
	}
	return &hd, nil
}

// hasDigests reports whether some version is of format 2: from there on,
// the folder has a head.
func (h History) hasDigests() bool {
	for _, m := range h {
		if m.Format >= formatDigests {
			return true
		}
	}
	return false
}

// makeHead signs a head for manifest m and the log as it is in d,
// checked against the head there is (first: none yet, the first version
// is written after its head).
func makeHead(d *store.Dir, h History, m *Manifest, reencrypted, first bool, id *atrest.Identity, now time.Time) ([]byte, error) {
	signer, ok := m.AdminFor(id.Signer.PublicKey())
	if !ok {
		return nil, fmt.Errorf("the identity %s is not an administrator of version %d", id.Public.Fingerprint(), m.Serial)
	}
	hd := Head{APIVersion: apiVersion, Kind: kindHead, Serial: m.Serial, Manifest: m.digest, Reencrypted: reencrypted,
		Time: now.UTC().Truncate(time.Second), SignedBy: signer.Name}
	var (
		entries int
		last    string
	)
	if !first {
		n, l, err := logTail(d, h)
		if err != nil {
			return nil, err
		}
		entries, last = n, l
	} else {
		// The first version: its head is written before it.
		data, err := d.Read(layout.IssuanceLogFile)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		_, digests, err := verifyLog(data, h)
		if err != nil {
			return nil, err
		}
		if entries = len(digests); entries > 0 {
			last = digests[entries-1]
		}
	}
	hd.LogEntries, hd.LogLast = entries, last
	return signDoc(id.Signer, NamespaceHead, hd)
}

// writeHead replaces the head: the current version, reencrypted or not.
func (t *Tree) writeHead(reencrypted bool, now time.Time) error {
	data, err := makeHead(t.D, t.History, t.History.Current(), reencrypted, false, t.Identity, now)
	if err != nil {
		return err
	}
	if err := t.D.Replace(layout.HeadFile, data, layout.AdminsHead.Mode()); err != nil {
		return err
	}
	hd, err := loadHead(t.D, t.History)
	if err != nil {
		return err
	}
	t.head = hd
	return nil
}

// reencrypted reports whether the head says every secret is sealed to
// the current version.
func (t *Tree) reencrypted() bool {
	return t.head != nil && t.head.Serial == t.History.Current().Serial && t.head.Reencrypted
}

// headDigest is the digest of the head as it is now ("" if none).
func headDigest(d *store.Dir) (string, error) {
	data, err := d.Read(layout.HeadFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return digest(data), nil
}

// checkSeals reads every sealed secret's header (no identity needed): a
// seal that names a version of the history by a digest other than the
// folder's, or a version the folder does not have, shows the history was
// rewritten or cut.
func checkSeals(d *store.Dir, h History) error {
	files, err := SecretFiles(d)
	if err != nil {
		return err
	}
	for _, f := range files {
		data, err := d.Read(f)
		if err != nil || !atrest.IsSealed(data) {
			continue
		}
		s, err := atrest.Inspect(data)
		if err != nil {
			continue // refused when it is opened
		}
		m, ok := h.Version(s.Serial)
		switch {
		case !ok:
			return fmt.Errorf("%w: %s was sealed under manifest version %d, but the folder has %d versions: its newest versions were removed", ErrRefused, f, s.Serial, len(h))
		case s.Version >= formatDigests && s.Manifest != m.digest:
			return fmt.Errorf("%w: %s was sealed under manifest version %d %s, but the folder's version %d is %s: the manifest history was rewritten (a fork, by someone removed?)", ErrRefused, f, s.Serial, s.Manifest, s.Serial, m.digest)
		}
	}
	return nil
}

// signerName names the administrator whose key this is, in some version.
func (h History) signerName(key ssh.PublicKey) string {
	for i := len(h) - 1; i >= 0; i-- {
		if a, ok := h[i].AdminFor(key); ok {
			return fmt.Sprintf("%q (%s)", a.Name, ssh.FingerprintSHA256(key))
		}
	}
	return ssh.FingerprintSHA256(key)
}
