// Package pki is bulwark's crypto core: key generation, certificate
// issuance, PEM encoding and the checks that tie a key, its certificate and
// its issuer together. It uses the standard library alone and never touches
// the disk; the store package does that.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Algorithm names a key type and size.
type Algorithm string

// The key algorithms bulwark issues. ECDSAP256 is the default: small keys,
// fast generation and signatures, accepted by every component.
const (
	ECDSAP256 Algorithm = "ecdsa-p256"
	ECDSAP384 Algorithm = "ecdsa-p384"
	RSA2048   Algorithm = "rsa-2048"
	RSA3072   Algorithm = "rsa-3072"
	RSA4096   Algorithm = "rsa-4096"
)

// Algorithms lists every supported algorithm, default first.
func Algorithms() []Algorithm {
	return []Algorithm{ECDSAP256, ECDSAP384, RSA2048, RSA3072, RSA4096}
}

// ParseAlgorithm accepts the names above, case-insensitively.
func ParseAlgorithm(s string) (Algorithm, error) {
	for _, a := range Algorithms() {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	names := make([]string, 0, len(Algorithms()))
	for _, a := range Algorithms() {
		names = append(names, string(a))
	}
	return "", fmt.Errorf("unknown key algorithm %q (want one of %s)", s, strings.Join(names, ", "))
}

// GenerateKey makes a new private key. The random source is only honoured
// where the standard library still honours one; keys always come from a
// cryptographically secure source.
func GenerateKey(alg Algorithm, random io.Reader) (crypto.Signer, error) {
	if random == nil {
		random = rand.Reader
	}
	switch alg {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), random)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), random)
	case RSA2048:
		return rsa.GenerateKey(random, 2048)
	case RSA3072:
		return rsa.GenerateKey(random, 3072)
	case RSA4096:
		return rsa.GenerateKey(random, 4096)
	}
	return nil, fmt.Errorf("unknown key algorithm %q", alg)
}

// AlgorithmOf reports the algorithm of a public key, or "" if bulwark does
// not issue keys of that kind.
func AlgorithmOf(pub crypto.PublicKey) Algorithm {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return ECDSAP256
		case elliptic.P384():
			return ECDSAP384
		}
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return RSA2048
		case 3072:
			return RSA3072
		case 4096:
			return RSA4096
		}
	}
	return ""
}

// Describe names a public key's type and size for messages: "RSA 1024
// bits", "ECDSA P-224", "Ed25519".
func Describe(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d bits", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// maxPEMSize caps what the decoders read. The largest object bulwark parses
// is an RSA-4096 private key (about 3.3 KiB of PEM) or a certificate chain in
// a kubeconfig; 1 MiB leaves room for bundles of hundreds of CAs while
// refusing to buffer arbitrary files.
const maxPEMSize = 1 << 20

// ErrNoPEM is returned when the input holds no PEM block of the wanted kind.
var ErrNoPEM = errors.New("no PEM data found")

// MarshalPrivateKey encodes a key as PKCS#8 PEM ("PRIVATE KEY"), which
// every Kubernetes component and etcd reads.
func MarshalPrivateKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("failed to encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes the first private key in PEM data: PKCS#8,
// PKCS#1 RSA or SEC 1 EC, so that kubeadm's files read too. Errors never
// include the input.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	if len(data) > maxPEMSize {
		return nil, fmt.Errorf("private key file larger than %d bytes", maxPEMSize)
	}
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("private key: %w", ErrNoPEM)
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "EC PARAMETERS":
			continue
		default:
			return nil, fmt.Errorf("private key: unexpected PEM block %q", block.Type)
		}
		if err != nil {
			// The parse error text names structure, never key bytes.
			return nil, fmt.Errorf("private key: malformed %s block", block.Type)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("private key: unsupported key type %T", key)
		}
		return signer, nil
	}
}

// MarshalPublicKey encodes a public key as PKIX PEM ("PUBLIC KEY"), the
// form of kubeadm's sa.pub.
func MarshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("failed to encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey decodes the first PKIX public key in PEM data.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	if len(data) > maxPEMSize {
		return nil, fmt.Errorf("public key file larger than %d bytes", maxPEMSize)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("public key: %w", ErrNoPEM)
	}
	switch block.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("public key: malformed PUBLIC KEY block")
		}
		return pub, nil
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("public key: malformed RSA PUBLIC KEY block")
		}
		return pub, nil
	}
	return nil, fmt.Errorf("public key: unexpected PEM block %q", block.Type)
}

// ParsePublicKeys decodes every public key block of PEM data, in order
// (sa.pub holds two during a rotation: the API server verifies tokens
// against each). Data with none is an error.
func ParsePublicKeys(data []byte) ([]crypto.PublicKey, error) {
	if len(data) > maxPEMSize {
		return nil, fmt.Errorf("public key file larger than %d bytes", maxPEMSize)
	}
	var out []crypto.PublicKey
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		pub, err := ParsePublicKey(pem.EncodeToMemory(block))
		if err != nil {
			return nil, err
		}
		out = append(out, pub)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("public key: %w", ErrNoPEM)
	}
	return out, nil
}

// PublicKeysEqual reports whether two public keys are the same key.
func PublicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// Fingerprint names a public key: "sha256:" and the hex SHA-256 of its
// SubjectPublicKeyInfo, the same for a certificate and its private key.
// Empty for a key that cannot be encoded.
func Fingerprint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// KeyID is the first 12 hex digits of a key's Fingerprint, as `rotate
// status` shows keys: enough to tell two CAs of one name apart.
func KeyID(pub crypto.PublicKey) string {
	fp := strings.TrimPrefix(Fingerprint(pub), "sha256:")
	if len(fp) > 12 {
		fp = fp[:12]
	}
	return fp
}
