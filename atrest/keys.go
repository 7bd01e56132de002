// Package atrest keeps a cluster folder's secrets encrypted at rest with
// age (filippo.io/age; agessh for SSH keys), to every current
// administrator, and authenticated: each sealed file carries, in a stanza
// of its age header, an SSHSIG signature by the administrator who wrote it
// over its path, its plaintext and the recipient set it was sealed to.
// age alone cannot tell who wrote a file — anyone can encrypt to public
// keys — so a key file swapped by someone who is not an administrator is
// refused before its content is used. The files stay readable by the real
// age command line tool, which ignores the extra stanza.
//
// Sealer implements store.Secrets; the generators never see it.
package atrest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// MinRSABits is the smallest RSA administrator key accepted.
const MinRSABits = 2048

// Key types of recipients.
const (
	TypeEd25519 = ssh.KeyAlgoED25519
	TypeRSA     = ssh.KeyAlgoRSA
	TypeX25519  = "X25519"
)

// ErrMalformedKey is wrapped by every refusal of a public key or identity.
var ErrMalformedKey = errors.New("malformed key")

// Recipient is one holder's public key: an SSH key (ssh-ed25519, or ssh-rsa
// of at least MinRSABits; it both decrypts and signs: an administrator) or
// an age X25519 recipient (decrypts only: a read-only holder).
type Recipient struct {
	// Key is the canonical text: "ssh-ed25519 AAAA…" without comment, or
	// "age1…".
	Key  string
	Type string
	ssh  ssh.PublicKey
	age  age.Recipient
}

// ParseRecipient reads one public key: an authorized_keys line
// ("ssh-ed25519 AAAA… comment", options not allowed) or an age X25519
// recipient ("age1…"). It returns the key's comment too.
func ParseRecipient(s string) (Recipient, string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "age1") {
		if strings.ContainsAny(s, " \t") {
			return Recipient{}, "", fmt.Errorf("%w: an age recipient is one word", ErrMalformedKey)
		}
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return Recipient{}, "", fmt.Errorf("%w: not an age X25519 recipient (age1…)", ErrMalformedKey)
		}
		return Recipient{Key: r.String(), Type: TypeX25519, age: r}, "", nil
	}
	pub, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil || len(options) != 0 || len(bytes.TrimSpace(rest)) != 0 {
		return Recipient{}, "", fmt.Errorf("%w: want one ssh-ed25519 or ssh-rsa public key (authorized_keys format) or an age1… recipient", ErrMalformedKey)
	}
	r, err := FromSSH(pub)
	return r, comment, err
}

// FromSSH makes a recipient of an SSH public key, from a file or from
// ssh-agent (whose keys are parsed again from their wire form: an agent's
// key does not give its crypto key).
func FromSSH(pub ssh.PublicKey) (Recipient, error) {
	var (
		ar  age.Recipient
		err error
	)
	if _, ok := pub.(ssh.CryptoPublicKey); !ok {
		if pub, err = ssh.ParsePublicKey(pub.Marshal()); err != nil {
			return Recipient{}, fmt.Errorf("%w: %v", ErrMalformedKey, err)
		}
	}
	switch pub.Type() {
	case TypeEd25519:
		ar, err = agessh.NewEd25519Recipient(pub)
	case TypeRSA:
		cpk, ok := pub.(ssh.CryptoPublicKey)
		if !ok {
			return Recipient{}, fmt.Errorf("%w: unreadable RSA key", ErrMalformedKey)
		}
		if rk, ok := cpk.CryptoPublicKey().(*rsa.PublicKey); !ok || rk.N.BitLen() < MinRSABits {
			return Recipient{}, fmt.Errorf("%w: RSA keys must have at least %d bits", ErrMalformedKey, MinRSABits)
		}
		ar, err = agessh.NewRSARecipient(pub)
	default:
		return Recipient{}, fmt.Errorf("%w: %s keys are not supported (want ssh-ed25519, ssh-rsa of %d bits or more, or age1…)", ErrMalformedKey, pub.Type(), MinRSABits)
	}
	if err != nil {
		return Recipient{}, fmt.Errorf("%w: %v", ErrMalformedKey, err)
	}
	text := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	return Recipient{Key: text, Type: pub.Type(), ssh: pub, age: ar}, nil
}

// CanSign reports whether the holder can sign: SSH keys can, age X25519
// recipients cannot (they are read-only).
func (r Recipient) CanSign() bool { return r.ssh != nil }

// SSHKey is the SSH public key, nil for an X25519 recipient.
func (r Recipient) SSHKey() ssh.PublicKey { return r.ssh }

// Fingerprint is "SHA256:…" for SSH keys and the recipient itself for age.
func (r Recipient) Fingerprint() string {
	if r.ssh != nil {
		return ssh.FingerprintSHA256(r.ssh)
	}
	return r.Key
}

// Is reports whether the SSH key is this recipient's.
func (r Recipient) Is(pub ssh.PublicKey) bool {
	return r.ssh != nil && pub != nil && bytes.Equal(r.ssh.Marshal(), pub.Marshal())
}

// Identity is what a holder decrypts (and, for an SSH key, signs) with.
type Identity struct {
	age age.Identity
	// Signer is nil for an age X25519 identity.
	Signer ssh.Signer
	// Public is the identity's recipient.
	Public Recipient
}

// ErrPassphrase is returned for a passphrase-protected SSH key.
var ErrPassphrase = errors.New("the SSH key is passphrase-protected")

// ParseIdentity reads an identity file: an unencrypted OpenSSH or PEM
// private key (ed25519, or RSA of at least MinRSABits), or an age identity
// file (AGE-SECRET-KEY-1…, as age-keygen writes; exactly one key). Errors
// never quote the file.
func ParseIdentity(data []byte) (*Identity, error) {
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		raw, err := ssh.ParseRawPrivateKey(data)
		var pe *ssh.PassphraseMissingError
		if errors.As(err, &pe) {
			return nil, ErrPassphrase
		}
		if err != nil {
			return nil, fmt.Errorf("%w: not a readable SSH private key", ErrMalformedKey)
		}
		switch k := raw.(type) {
		case *ed25519.PrivateKey:
			raw = *k
		case ed25519.PrivateKey, *rsa.PrivateKey:
		default:
			return nil, fmt.Errorf("%w: %T SSH keys are not supported (want ed25519 or RSA)", ErrMalformedKey, raw)
		}
		signer, err := ssh.NewSignerFromKey(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformedKey, err)
		}
		pub, err := FromSSH(signer.PublicKey())
		if err != nil {
			return nil, err
		}
		id, err := agessh.ParseIdentity(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformedKey, err)
		}
		return &Identity{age: id, Signer: signer, Public: pub}, nil
	}
	var found *age.X25519Identity
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: the identity file holds more than one key", ErrMalformedKey)
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("%w: not an SSH private key or an age identity (AGE-SECRET-KEY-1…)", ErrMalformedKey)
		}
		found = id
	}
	if found == nil {
		return nil, fmt.Errorf("%w: the identity file holds no key", ErrMalformedKey)
	}
	r := found.Recipient()
	return &Identity{age: found, Public: Recipient{Key: r.String(), Type: TypeX25519, age: r}}, nil
}

// WithSigner is an identity whose signing is done elsewhere (an ssh-agent)
// for a key whose private half is not at hand: it signs, it cannot decrypt.
func WithSigner(s ssh.Signer) (*Identity, error) {
	pub, err := FromSSH(s.PublicKey())
	if err != nil {
		return nil, err
	}
	return &Identity{Signer: s, Public: pub}, nil
}
