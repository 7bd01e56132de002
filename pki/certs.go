package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"time"
)

// Usage is the role a certificate plays in TLS.
type Usage string

// The extended key usages bulwark issues.
const (
	ServerAuth Usage = "server"
	ClientAuth Usage = "client"
)

func (u Usage) ext() x509.ExtKeyUsage {
	if u == ServerAuth {
		return x509.ExtKeyUsageServerAuth
	}
	return x509.ExtKeyUsageClientAuth
}

// Subject is what a certificate says about its holder.
type Subject struct {
	CommonName    string
	Organizations []string
	DNSNames      []string
	IPs           []net.IP
}

// Request is everything needed to issue one certificate, apart from keys.
type Request struct {
	Subject
	IsCA     bool
	Usages   []Usage // leaves only
	Validity time.Duration
}

// Clock skew tolerated by every certificate bulwark issues: NotBefore is
// set this far in the past so a node whose clock lags a little still
// accepts a fresh certificate.
const Backdate = 5 * time.Minute

// Issuer is a CA that can sign: its certificate and private key.
type Issuer struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewSelfSignedCA issues a CA certificate for key. CAs are limited to
// pathlen 0: they sign leaves, never other CAs.
func NewSelfSignedCA(req Request, key crypto.Signer, now time.Time, random io.Reader) (*x509.Certificate, error) {
	if !req.IsCA {
		return nil, errors.New("self-signed certificate request is not a CA")
	}
	tmpl, err := template(req, key.Public(), now, random)
	if err != nil {
		return nil, err
	}
	return sign(tmpl, tmpl, key.Public(), key, random)
}

// Sign issues a leaf certificate for pub, signed by the issuer.
func (iss Issuer) Sign(req Request, pub crypto.PublicKey, now time.Time, random io.Reader) (*x509.Certificate, error) {
	if req.IsCA {
		return nil, errors.New("bulwark's CAs sign leaves only (pathlen 0)")
	}
	if len(req.Usages) == 0 {
		return nil, fmt.Errorf("certificate %q has no extended key usage", req.CommonName)
	}
	tmpl, err := template(req, pub, now, random)
	if err != nil {
		return nil, err
	}
	// A leaf may not outlive its CA: an expired CA breaks the chain anyway,
	// and a clamped leaf shows its real end date.
	if tmpl.NotAfter.After(iss.Cert.NotAfter) {
		tmpl.NotAfter = iss.Cert.NotAfter
	}
	return sign(tmpl, iss.Cert, pub, iss.Key, random)
}

func template(req Request, pub crypto.PublicKey, now time.Time, random io.Reader) (*x509.Certificate, error) {
	if req.CommonName == "" {
		return nil, errors.New("certificate request has no common name")
	}
	if req.Validity <= 0 {
		return nil, fmt.Errorf("certificate %q: validity must be positive", req.CommonName)
	}
	if random == nil {
		random = rand.Reader
	}
	// 128 random bits, top bit clear so the DER integer stays positive and
	// 16 bytes long.
	serial, err := rand.Int(random, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("failed to draw a serial number: %w", err)
	}
	serial.SetBit(serial, 126, 1)
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   req.CommonName,
			Organization: append([]string(nil), req.Organizations...),
		},
		NotBefore:             now.Add(-Backdate).UTC().Truncate(time.Second),
		NotAfter:              now.Add(req.Validity).UTC().Truncate(time.Second),
		SubjectKeyId:          ski,
		DNSNames:              append([]string(nil), req.DNSNames...),
		IPAddresses:           append([]net.IP(nil), req.IPs...),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	if req.IsCA {
		t.IsCA = true
		t.MaxPathLen = 0
		t.MaxPathLenZero = true
		t.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		return t, nil
	}
	if _, isRSA := pub.(*rsa.PublicKey); isRSA {
		// RSA key exchange in TLS 1.2 encrypts to the server key.
		t.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	for _, u := range req.Usages {
		t.ExtKeyUsage = append(t.ExtKeyUsage, u.ext())
	}
	return t, nil
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer, random io.Reader) (*x509.Certificate, error) {
	if random == nil {
		random = rand.Reader
	}
	der, err := x509.CreateCertificate(random, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("failed to sign certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// subjectKeyID is the RFC 5280 method 1 identifier: SHA-1 of the
// subjectPublicKey bit string.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("failed to encode public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("failed to decode public key: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

// MarshalCert encodes a certificate as PEM.
func MarshalCert(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// ParseCerts decodes every CERTIFICATE block in PEM data, in order. Other
// block types are skipped, so a bundle with comments still reads.
func ParseCerts(data []byte) ([]*x509.Certificate, error) {
	if len(data) > maxPEMSize {
		return nil, fmt.Errorf("certificate file larger than %d bytes", maxPEMSize)
	}
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("certificate: %w", ErrNoPEM)
	}
	return certs, nil
}

// ParseCert decodes the first certificate in PEM data.
func ParseCert(data []byte) (*x509.Certificate, error) {
	certs, err := ParseCerts(data)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// KeyMatches reports whether key is the private half of cert's public key.
func KeyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	return PublicKeysEqual(key.Public(), cert.PublicKey)
}

// VerifyLeaf checks that leaf chains to ca (and only ca) for the given
// usages at time now.
func VerifyLeaf(leaf, ca *x509.Certificate, usages []Usage, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	opts := x509.VerifyOptions{Roots: roots, CurrentTime: now}
	for _, u := range usages {
		opts.KeyUsages = append(opts.KeyUsages, u.ext())
	}
	if len(opts.KeyUsages) == 0 {
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	}
	_, err := leaf.Verify(opts)
	return err
}

// SignedBy reports whether cert's signature was made by ca's key,
// regardless of validity dates.
func SignedBy(cert, ca *x509.Certificate) bool {
	return bytes.Equal(cert.RawIssuer, ca.RawSubject) && cert.CheckSignatureFrom(ca) == nil
}

// UsagesOf lists the client/server extended key usages of a certificate.
func UsagesOf(cert *x509.Certificate) []Usage {
	var us []Usage
	for _, u := range cert.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageServerAuth:
			us = append(us, ServerAuth)
		case x509.ExtKeyUsageClientAuth:
			us = append(us, ClientAuth)
		}
	}
	return us
}
