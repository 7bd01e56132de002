package rotate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"math/big"
	"strings"
)

// Service-account tokens are JWS compact serialisations (RFC 7515) signed
// with ES256/ES384 or RS256. These helpers verify one against a public key
// and sign a probe; nothing else of JWT is needed here.

func jwsAlg(pub crypto.PublicKey) (alg string, h func() hash.Hash, size int, err error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 256:
			return "ES256", sha256.New, 32, nil
		case 384:
			return "ES384", sha512.New384, 48, nil
		}
	case *rsa.PublicKey:
		return "RS256", sha256.New, 0, nil
	}
	return "", nil, 0, errors.New("unsupported service-account key type")
}

// verifyJWS reports whether a token's signature was made by pub.
func verifyJWS(token string, pub crypto.PublicKey) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	_, newHash, size, err := jwsAlg(pub)
	if err != nil {
		return false
	}
	h := newHash()
	h.Write([]byte(parts[0] + "." + parts[1]))
	digest := h.Sum(nil)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest, r, s)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) == nil
	}
	return false
}

// jwsClaims decodes a token's payload (without verifying it).
func jwsClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWS compact token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// signJWS signs claims with key.
func signJWS(claims map[string]any, key crypto.Signer, random io.Reader) (string, error) {
	if random == nil {
		random = rand.Reader
	}
	alg, newHash, size, err := jwsAlg(key.Public())
	if err != nil {
		return "", err
	}
	header, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	h := newHash()
	h.Write([]byte(input))
	digest := h.Sum(nil)
	var sig []byte
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(random, k, digest)
		if err != nil {
			return "", err
		}
		sig = make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
	case *rsa.PrivateKey:
		if sig, err = rsa.SignPKCS1v15(random, k, crypto.SHA256, digest); err != nil {
			return "", err
		}
	default:
		return "", errors.New("unsupported service-account key type")
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
