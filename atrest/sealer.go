package atrest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/bulwark-k8s/bulwark/sshsig"
)

// Header is how every age file begins.
const Header = "age-encryption.org/v1\n"

// The stanza that carries a sealed file's signature, and the SSHSIG
// namespace it is made in.
const (
	stanzaType = "bulwark-seal"
	// stanzaV1 seals (before manifest digests) name only the serial of
	// the set; stanzaV2 seals name its digest too.
	stanzaV1 = "v1"
	stanzaV2 = "v2"
	// NamespaceSeal is the SSHSIG namespace of a sealed file's signature.
	NamespaceSeal = "bulwark-seal-v1@bulwark-k8s"
)

// maxPlaintext caps what Open decrypts: nothing bulwark keeps is larger
// than the store's own cap.
const maxPlaintext = 4 << 20

// Errors that callers branch on.
var (
	// ErrLocked: the file is sealed and no identity was given.
	ErrLocked = errors.New("encrypted at rest: give --identity (or BULWARK_IDENTITY) to read it")
	// ErrNotRecipient: the identity is not among the file's recipients.
	ErrNotRecipient = errors.New("not encrypted to this identity")
	// ErrUnsigned: the file carries no valid signature of an administrator.
	ErrUnsigned = errors.New("not signed by an administrator (refused: replaced by someone who is not one?)")
	// ErrNotSealed: a plaintext file where an encrypted one is expected.
	ErrNotSealed = errors.New("is not encrypted, in a folder whose secrets are (refused: replaced by someone who is not an administrator?)")
	// ErrStale: sealed to an earlier set of administrators.
	ErrStale = errors.New("still encrypted to an earlier set of administrators: an interrupted `bulwark admin add` or `admin remove`? `bulwark encrypt --dir DIR --identity FILE` finishes it (it accepts only the files as they were when the change began)")
	// ErrOldFormat: sealed by a bulwark that did not bind the manifest's
	// digest.
	ErrOldFormat = errors.New("sealed in the format before manifest digests: `bulwark encrypt --dir DIR --identity FILE` re-seals the folder once (it accepts only files signed by a current administrator)")
	// ErrFork: sealed under a manifest version other than the folder's.
	ErrFork = errors.New("sealed under another manifest version of the same number: the manifest history was rewritten (a fork by someone removed?)")
	// ErrCannotSign: sealing needs an SSH identity.
	ErrCannotSign = errors.New("writing a secret needs an administrator's SSH identity (an age X25519 identity is read-only)")
)

// IsSealed reports whether data is an age file.
func IsSealed(data []byte) bool { return bytes.HasPrefix(data, []byte(Header)) }

// Sealer seals secrets to a set of recipients, signed by the writer, and
// opens them with one identity after checking the signature. It
// implements store.Secrets.
type Sealer struct {
	// Recipients is the current set; Serial numbers it and Manifest is
	// the digest of that version, which every seal names and signs.
	Recipients []Recipient
	Serial     int
	Manifest   string
	// Identity opens files and, if it is an SSH key, signs new ones. Nil:
	// every sealed file is ErrLocked.
	Identity *Identity
	// Trusted says whether key was an administrator (a signer) of the set
	// the seal names (its serial and, for a v2 seal, its digest).
	// Required.
	Trusted func(seal Seal, key ssh.PublicKey) error
	// AcceptOlder, when set, decides whether a file sealed to an earlier
	// set (or in the old format) may be opened, to re-encrypt it; it is
	// called after the signature is checked, with the stored bytes.
	// Without it such files are ErrStale (or ErrOldFormat).
	AcceptOlder func(rel string, seal Seal, key ssh.PublicKey, stored []byte) error
	// AcceptPlain returns unencrypted files as they are (to convert a
	// folder); otherwise they are ErrNotSealed.
	AcceptPlain bool
}

// sealedMessage is what a sealed file's signature covers: its path, the
// manifest version (serial and, from v2, digest) and its content.
func sealedMessage(seal Seal, rel string, plaintext []byte) []byte {
	if seal.Version == 1 {
		return ssh.Marshal(struct {
			Rel    string
			Serial uint32
			Data   []byte
		}{rel, uint32(seal.Serial), plaintext})
	}
	return ssh.Marshal(struct {
		Version  string
		Rel      string
		Serial   uint32
		Manifest string
		Data     []byte
	}{stanzaV2, rel, uint32(seal.Serial), seal.Manifest, plaintext})
}

// signature is a recipient that adds the signature stanza: age's header
// MAC then covers it, and identities that do not know it skip it.
type signature struct{ stanza *age.Stanza }

func (s signature) Wrap([]byte) ([]*age.Stanza, error) { return []*age.Stanza{s.stanza}, nil }

// Seal encrypts plaintext to the current set with a fresh file key and
// signs it with the identity.
func (s *Sealer) Seal(rel string, plaintext []byte) ([]byte, error) {
	if s.Identity == nil || s.Identity.Signer == nil {
		return nil, ErrCannotSign
	}
	if len(s.Recipients) == 0 {
		return nil, errors.New("no recipients")
	}
	if !validDigest(s.Manifest) {
		return nil, errors.New("no manifest digest to seal under")
	}
	seal := Seal{Version: 2, Serial: s.Serial, Manifest: s.Manifest}
	sig, err := sshsig.SignRaw(s.Identity.Signer, NamespaceSeal, sealedMessage(seal, rel, plaintext))
	if err != nil {
		return nil, err
	}
	rs := make([]age.Recipient, 0, len(s.Recipients)+1)
	for _, r := range s.Recipients {
		rs = append(rs, r.age)
	}
	rs = append(rs, signature{&age.Stanza{Type: stanzaType, Args: []string{stanzaV2, strconv.Itoa(s.Serial), s.Manifest}, Body: sig}})
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	if err != nil {
		return nil, fmt.Errorf("failed to encrypt: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("failed to encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("failed to encrypt: %w", err)
	}
	return buf.Bytes(), nil
}

// Seal is what Inspect finds in a sealed file's header: the manifest
// version the file was sealed under. Without an identity it is what the
// header says, not yet checked (the signature covers it).
type Seal struct {
	// Version is the seal's format: 1 (serial only) or 2 (serial and
	// digest).
	Version int
	Serial  int
	// Manifest is "sha256:…" of the manifest version; empty for v1.
	Manifest  string
	signature []byte
}

// validDigest reports whether s is "sha256:" and 64 lowercase hex digits.
func validDigest(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

// capture is an identity that records the signature stanza and matches
// nothing.
type capture struct {
	found []*age.Stanza
}

func (c *capture) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, st := range stanzas {
		if st.Type == stanzaType {
			c.found = append(c.found, st)
		}
	}
	return nil, age.ErrIncorrectIdentity
}

// Inspect reads a sealed file's header, without any identity: which set
// it was sealed to. It fails with ErrUnsigned if the file has no (or more
// than one) well-formed signature stanza.
func Inspect(stored []byte) (Seal, error) {
	if !IsSealed(stored) {
		return Seal{}, ErrNotSealed
	}
	hdr, err := age.ExtractHeader(bytes.NewReader(stored))
	if err != nil {
		return Seal{}, fmt.Errorf("damaged age file: %w", err)
	}
	c := &capture{}
	_, _ = age.DecryptHeader(hdr, c)
	if len(c.found) != 1 {
		return Seal{}, ErrUnsigned
	}
	st := c.found[0]
	var seal Seal
	switch {
	case len(st.Args) == 2 && st.Args[0] == stanzaV1:
		seal.Version = 1
	case len(st.Args) == 3 && st.Args[0] == stanzaV2 && validDigest(st.Args[2]):
		seal.Version, seal.Manifest = 2, st.Args[2]
	default:
		return Seal{}, ErrUnsigned
	}
	serial, err := strconv.Atoi(st.Args[1])
	if err != nil || serial < 1 || strconv.Itoa(serial) != st.Args[1] {
		return Seal{}, ErrUnsigned
	}
	seal.Serial, seal.signature = serial, st.Body
	return seal, nil
}

// Open decrypts a sealed file and checks, before returning anything, that
// an administrator of the set it was sealed to signed this content for
// this path.
func (s *Sealer) Open(rel string, stored []byte) ([]byte, error) {
	if !IsSealed(stored) {
		if s.AcceptPlain {
			return stored, nil
		}
		return nil, ErrNotSealed
	}
	seal, err := Inspect(stored)
	if err != nil {
		return nil, err
	}
	// Anything but a v2 seal under this very version is for AcceptOlder
	// to take or leave.
	other := seal.Serial < s.Serial || seal.Version == 1 || seal.Manifest != s.Manifest
	switch {
	case seal.Serial > s.Serial:
		return nil, fmt.Errorf("%w (sealed to set %d, newer than the manifest's %d: its newest versions were removed?)", ErrUnsigned, seal.Serial, s.Serial)
	case !other || s.AcceptOlder != nil:
	case seal.Serial < s.Serial:
		return nil, ErrStale
	case seal.Version == 1:
		return nil, ErrOldFormat
	default:
		return nil, fmt.Errorf("%w (version %d: sealed under %s, the folder's is %s)", ErrFork, seal.Serial, seal.Manifest, s.Manifest)
	}
	if s.Identity == nil || s.Identity.age == nil {
		return nil, ErrLocked
	}
	r, err := age.Decrypt(bytes.NewReader(stored), s.Identity.age)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, ErrNotRecipient
		}
		return nil, fmt.Errorf("cannot decrypt: %w", err)
	}
	plaintext, err := io.ReadAll(io.LimitReader(r, maxPlaintext+1))
	if err != nil {
		return nil, fmt.Errorf("damaged age file: %w", err)
	}
	if len(plaintext) > maxPlaintext {
		return nil, fmt.Errorf("larger than %d bytes", maxPlaintext)
	}
	pub, err := sshsig.VerifyRaw(seal.signature, NamespaceSeal, sealedMessage(seal, rel, plaintext))
	if err != nil {
		return nil, ErrUnsigned
	}
	if s.Trusted == nil {
		return nil, ErrUnsigned
	}
	if err := s.Trusted(seal, pub); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsigned, err)
	}
	if other {
		if err := s.AcceptOlder(rel, seal, pub, stored); err != nil {
			return nil, err
		}
	}
	return plaintext, nil
}

// Locked stands in for a Sealer when no identity was given: files that
// are not sealed are refused as by a Sealer, sealed ones are ErrLocked.
type Locked struct{}

// Seal refuses: writing a secret needs an identity.
func (Locked) Seal(string, []byte) ([]byte, error) { return nil, ErrCannotSign }

// Open refuses.
func (Locked) Open(_ string, stored []byte) ([]byte, error) {
	if !IsSealed(stored) {
		return nil, ErrNotSealed
	}
	return nil, ErrLocked
}
