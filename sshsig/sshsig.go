// Package sshsig signs and verifies messages in OpenSSH's SSHSIG format
// (PROTOCOL.sshsig, what `ssh-keygen -Y sign` writes): a signature is bound
// to a namespace, so that a signature made for one purpose can never be
// replayed for another. Keys are ssh-ed25519 and ssh-rsa (signed with
// rsa-sha2-512); the message is hashed with SHA-512.
package sshsig

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"

	"golang.org/x/crypto/ssh"
)

const (
	magic      = "SSHSIG"
	version    = 1
	pemType    = "SSH SIGNATURE"
	hashSHA512 = "sha512"
	hashSHA256 = "sha256"
	// maxArmored caps what Unarmor reads: an RSA-16384 signature blob is
	// under 5 KiB.
	maxArmored = 16 << 10
)

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("invalid SSH signature")

// signedData is the blob the key signs (PROTOCOL.sshsig §"Signed Data").
type signedData struct {
	Magic     [6]byte
	Namespace string
	Reserved  string
	HashAlg   string
	Hash      string
}

// blob is the signature as stored (PROTOCOL.sshsig §"Blob format").
type blob struct {
	Magic     [6]byte
	Version   uint32
	PublicKey string
	Namespace string
	Reserved  string
	HashAlg   string
	Signature string
}

func newHash(alg string) (hash.Hash, bool) {
	switch alg {
	case hashSHA512:
		return sha512.New(), true
	case hashSHA256:
		return sha256.New(), true
	}
	return nil, false
}

func toSign(namespace, hashAlg string, message io.Reader) ([]byte, error) {
	h, ok := newHash(hashAlg)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported hash %q", ErrInvalid, hashAlg)
	}
	if _, err := io.Copy(h, message); err != nil {
		return nil, err
	}
	sd := signedData{Namespace: namespace, HashAlg: hashAlg, Hash: string(h.Sum(nil))}
	copy(sd.Magic[:], magic)
	return ssh.Marshal(sd), nil
}

// Sign signs message for namespace and returns the armored signature
// ("-----BEGIN SSH SIGNATURE-----"), as ssh-keygen -Y sign does.
func Sign(signer ssh.Signer, namespace string, message []byte) ([]byte, error) {
	raw, err := SignRaw(signer, namespace, message)
	if err != nil {
		return nil, err
	}
	return Armor(raw), nil
}

// SignRaw is Sign without the armor: the binary blob.
func SignRaw(signer ssh.Signer, namespace string, message []byte) ([]byte, error) {
	if namespace == "" {
		return nil, errors.New("an SSH signature needs a namespace")
	}
	data, err := toSign(namespace, hashSHA512, bytes.NewReader(message))
	if err != nil {
		return nil, err
	}
	var sig *ssh.Signature
	switch signer.PublicKey().Type() {
	case ssh.KeyAlgoRSA:
		as, ok := signer.(ssh.AlgorithmSigner)
		if !ok {
			return nil, errors.New("this RSA signer cannot sign with rsa-sha2-512")
		}
		sig, err = as.SignWithAlgorithm(nil, data, ssh.KeyAlgoRSASHA512)
	case ssh.KeyAlgoED25519:
		sig, err = signer.Sign(nil, data)
	default:
		return nil, fmt.Errorf("unsupported signing key type %s (want ssh-ed25519 or ssh-rsa)", signer.PublicKey().Type())
	}
	if err != nil {
		return nil, fmt.Errorf("failed to sign: %w", err)
	}
	b := blob{Version: version, PublicKey: string(signer.PublicKey().Marshal()), Namespace: namespace,
		HashAlg: hashSHA512, Signature: string(ssh.Marshal(sig))}
	copy(b.Magic[:], magic)
	return ssh.Marshal(b), nil
}

// Armor wraps a binary signature blob in PEM (64 columns; ssh-keygen
// writes 70 and reads any).
func Armor(raw []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: raw})
}

// Unarmor returns the binary blob of an armored signature. Nothing may
// follow the signature but white space.
func Unarmor(armored []byte) ([]byte, error) {
	if len(armored) > maxArmored {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, maxArmored)
	}
	block, rest := pem.Decode(armored)
	if block == nil || block.Type != pemType || len(bytes.TrimSpace(rest)) != 0 || len(block.Headers) != 0 {
		return nil, fmt.Errorf("%w: not one armored SSH SIGNATURE block", ErrInvalid)
	}
	return block.Bytes, nil
}

// Verify checks an armored signature of message in namespace and returns
// the key that made it. The caller decides whether that key is trusted.
func Verify(armored []byte, namespace string, message []byte) (ssh.PublicKey, error) {
	raw, err := Unarmor(armored)
	if err != nil {
		return nil, err
	}
	return VerifyRaw(raw, namespace, message)
}

// VerifyRaw is Verify of a binary blob.
func VerifyRaw(raw []byte, namespace string, message []byte) (ssh.PublicKey, error) {
	var b blob
	if err := ssh.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("%w: malformed blob", ErrInvalid)
	}
	if string(b.Magic[:]) != magic {
		return nil, fmt.Errorf("%w: bad preamble", ErrInvalid)
	}
	if b.Version != version {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrInvalid, b.Version)
	}
	if b.Namespace != namespace {
		return nil, fmt.Errorf("%w: made for namespace %q, not %q", ErrInvalid, b.Namespace, namespace)
	}
	pub, err := ssh.ParsePublicKey([]byte(b.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("%w: bad public key", ErrInvalid)
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal([]byte(b.Signature), &sig); err != nil {
		return nil, fmt.Errorf("%w: malformed signature", ErrInvalid)
	}
	switch pub.Type() {
	case ssh.KeyAlgoED25519:
		if sig.Format != ssh.KeyAlgoED25519 {
			return nil, fmt.Errorf("%w: signature format %q for an ed25519 key", ErrInvalid, sig.Format)
		}
	case ssh.KeyAlgoRSA:
		// SHA-1 (ssh-rsa) signatures are refused, as OpenSSH refuses them.
		if sig.Format != ssh.KeyAlgoRSASHA512 && sig.Format != ssh.KeyAlgoRSASHA256 {
			return nil, fmt.Errorf("%w: RSA signature format %q (want rsa-sha2-512 or rsa-sha2-256)", ErrInvalid, sig.Format)
		}
	default:
		return nil, fmt.Errorf("%w: unsupported key type %s", ErrInvalid, pub.Type())
	}
	data, err := toSign(namespace, b.HashAlg, bytes.NewReader(message))
	if err != nil {
		return nil, err
	}
	if err := pub.Verify(data, &sig); err != nil {
		return nil, fmt.Errorf("%w: does not verify", ErrInvalid)
	}
	return pub, nil
}
