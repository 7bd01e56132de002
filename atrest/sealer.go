package atrest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

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
	stanzaV1   = "v1"
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
	ErrStale = errors.New("still encrypted to an earlier set of administrators: run `bulwark encrypt` to finish re-encrypting")
	// ErrCannotSign: sealing needs an SSH identity.
	ErrCannotSign = errors.New("writing a secret needs an administrator's SSH identity (an age X25519 identity is read-only)")
)

// IsSealed reports whether data is an age file.
func IsSealed(data []byte) bool { return bytes.HasPrefix(data, []byte(Header)) }

// Sealer seals secrets to a set of recipients, signed by the writer, and
// opens them with one identity after checking the signature. It
// implements store.Secrets.
type Sealer struct {
	// Recipients is the current set; Serial numbers it.
	Recipients []Recipient
	Serial     int
	// Identity opens files and, if it is an SSH key, signs new ones. Nil:
	// every sealed file is ErrLocked.
	Identity *Identity
	// Trusted says whether key was an administrator (a signer) of the set
	// numbered serial. Required.
	Trusted func(serial int, key ssh.PublicKey) error
	// AcceptOlder opens files sealed to an earlier set (to re-encrypt
	// them); otherwise they are ErrStale.
	AcceptOlder bool
	// AcceptPlain returns unencrypted files as they are (to convert a
	// folder); otherwise they are ErrNotSealed.
	AcceptPlain bool
}

// sealedMessage is what a sealed file's signature covers.
func sealedMessage(rel string, serial int, plaintext []byte) []byte {
	return ssh.Marshal(struct {
		Rel    string
		Serial uint32
		Data   []byte
	}{rel, uint32(serial), plaintext})
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
	sig, err := sshsig.SignRaw(s.Identity.Signer, NamespaceSeal, sealedMessage(rel, s.Serial, plaintext))
	if err != nil {
		return nil, err
	}
	rs := make([]age.Recipient, 0, len(s.Recipients)+1)
	for _, r := range s.Recipients {
		rs = append(rs, r.age)
	}
	rs = append(rs, signature{&age.Stanza{Type: stanzaType, Args: []string{stanzaV1, strconv.Itoa(s.Serial)}, Body: sig}})
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

// Seal is what Inspect finds in a sealed file's header.
type Seal struct {
	Serial    int
	signature []byte
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
	if len(st.Args) != 2 || st.Args[0] != stanzaV1 {
		return Seal{}, ErrUnsigned
	}
	serial, err := strconv.Atoi(st.Args[1])
	if err != nil || serial < 1 || strconv.Itoa(serial) != st.Args[1] {
		return Seal{}, ErrUnsigned
	}
	return Seal{Serial: serial, signature: st.Body}, nil
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
	switch {
	case seal.Serial > s.Serial:
		return nil, fmt.Errorf("%w (sealed to set %d, newer than the manifest's %d)", ErrUnsigned, seal.Serial, s.Serial)
	case seal.Serial < s.Serial && !s.AcceptOlder:
		return nil, ErrStale
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
	pub, err := sshsig.VerifyRaw(seal.signature, NamespaceSeal, sealedMessage(rel, seal.Serial, plaintext))
	if err != nil {
		return nil, ErrUnsigned
	}
	if s.Trusted == nil {
		return nil, ErrUnsigned
	}
	if err := s.Trusted(seal.Serial, pub); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsigned, err)
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
