package pki_test

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/pki"
)

// now is the fixed clock of these tests.
var now = time.Date(2027, 3, 1, 12, 30, 45, 123456789, time.UTC)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
)

// fixedRand is a deterministic randomness source: serial numbers and
// signatures come out the same run after run where the standard library
// honours it.
func fixedRand(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

// keysByAlg are TEST KEYS from testdata/, for each algorithm the
// certificate tests run with: a key of that algorithm, and another key
// (of another algorithm) to sign it with.
var keysByAlg = map[pki.Algorithm][2]string{
	pki.ECDSAP256: {"test-key-ecdsa-p256-sec1.pem", "test-key-rsa-2048-pkcs8.pem"},
	pki.ECDSAP384: {"test-key-ecdsa-p384-pkcs8.pem", "test-key-ecdsa-p256-pkcs8.pem"},
	pki.RSA2048:   {"test-key-rsa-2048-pkcs1.pem", "test-key-ecdsa-p384-pkcs8.pem"},
}

func newCA(t testing.TB, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	ca, err := pki.NewSelfSignedCA(pki.Request{Subject: pki.Subject{CommonName: cn}, IsCA: true, Validity: caValidity}, key, now, fixedRand(1))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestNewSelfSignedCA(t *testing.T) {
	for alg, files := range keysByAlg {
		t.Run(string(alg), func(t *testing.T) {
			key := testKey(t, files[0])
			ca := newCA(t, key, "test-ca")
			if !ca.IsCA || !ca.BasicConstraintsValid {
				t.Error("not a CA")
			}
			if ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
				t.Errorf("pathlen %d (zero %v), want 0", ca.MaxPathLen, ca.MaxPathLenZero)
			}
			if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature; ca.KeyUsage != want {
				t.Errorf("key usage %b, want %b", ca.KeyUsage, want)
			}
			if len(ca.ExtKeyUsage) != 0 {
				t.Errorf("CA has extended key usages %v", ca.ExtKeyUsage)
			}
			if ca.Subject.CommonName != "test-ca" || !bytes.Equal(ca.RawIssuer, ca.RawSubject) {
				t.Errorf("subject %s, issuer %s", ca.Subject, ca.Issuer)
			}
			if !pki.SignedBy(ca, ca) || !pki.KeyMatches(ca, key) {
				t.Error("not self-signed by its key")
			}
			checkValidity(t, ca, caValidity)
			checkSerial(t, ca)
			if want := keyID(t, key.Public()); !bytes.Equal(ca.SubjectKeyId, want) {
				t.Errorf("SKI %x, want SHA-1 of the key %x", ca.SubjectKeyId, want)
			}
			if pki.AlgorithmOf(ca.PublicKey) != alg {
				t.Errorf("CA key is %s", pki.AlgorithmOf(ca.PublicKey))
			}
		})
	}
}

func TestSign(t *testing.T) {
	for alg, files := range keysByAlg {
		t.Run(string(alg), func(t *testing.T) {
			leafKey, caKey := testKey(t, files[0]), testKey(t, files[1])
			ca := newCA(t, caKey, "test-ca")
			iss := pki.Issuer{Cert: ca, Key: caKey}
			req := pki.Request{
				Subject: pki.Subject{CommonName: "leaf", Organizations: []string{"o1", "o2"},
					DNSNames: []string{"leaf.example.com", "localhost"}, IPs: []net.IP{net.ParseIP("10.0.0.1"), net.IPv6loopback}},
				Usages:   []pki.Usage{pki.ServerAuth, pki.ClientAuth},
				Validity: leafValidity,
			}
			leaf, err := iss.Sign(req, leafKey.Public(), now, fixedRand(2))
			if err != nil {
				t.Fatal(err)
			}
			if leaf.IsCA || !leaf.BasicConstraintsValid {
				t.Error("leaf is a CA or has no basic constraints")
			}
			if leaf.KeyUsage&x509.KeyUsageCertSign != 0 || leaf.KeyUsage&x509.KeyUsageCRLSign != 0 {
				t.Errorf("leaf key usage %b has cert-sign or crl-sign", leaf.KeyUsage)
			}
			wantKU := x509.KeyUsageDigitalSignature
			if alg == pki.RSA2048 {
				wantKU |= x509.KeyUsageKeyEncipherment
			}
			if leaf.KeyUsage != wantKU {
				t.Errorf("key usage %b, want %b", leaf.KeyUsage, wantKU)
			}
			if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
				t.Errorf("EKU %v", leaf.ExtKeyUsage)
			}
			if !slices.Equal(pki.UsagesOf(leaf), req.Usages) {
				t.Errorf("UsagesOf = %v", pki.UsagesOf(leaf))
			}
			if leaf.Subject.CommonName != "leaf" || !slices.Equal(leaf.Subject.Organization, []string{"o1", "o2"}) {
				t.Errorf("subject %s", leaf.Subject)
			}
			if !slices.Equal(leaf.DNSNames, req.DNSNames) || len(leaf.IPAddresses) != 2 ||
				!leaf.IPAddresses[0].Equal(req.IPs[0]) || !leaf.IPAddresses[1].Equal(req.IPs[1]) {
				t.Errorf("SANs %v %v", leaf.DNSNames, leaf.IPAddresses)
			}
			if !bytes.Equal(leaf.AuthorityKeyId, ca.SubjectKeyId) || len(ca.SubjectKeyId) == 0 {
				t.Errorf("AKI %x, want the CA's SKI %x", leaf.AuthorityKeyId, ca.SubjectKeyId)
			}
			if want := keyID(t, leafKey.Public()); !bytes.Equal(leaf.SubjectKeyId, want) {
				t.Errorf("SKI %x, want %x", leaf.SubjectKeyId, want)
			}
			checkValidity(t, leaf, leafValidity)
			checkSerial(t, leaf)
			if !pki.KeyMatches(leaf, leafKey) || pki.KeyMatches(leaf, caKey) {
				t.Error("KeyMatches is wrong")
			}
			if !pki.SignedBy(leaf, ca) || pki.SignedBy(ca, leaf) {
				t.Error("SignedBy is wrong")
			}
			for _, u := range [][]pki.Usage{nil, {pki.ServerAuth}, {pki.ClientAuth}, req.Usages} {
				if err := pki.VerifyLeaf(leaf, ca, u, now); err != nil {
					t.Errorf("VerifyLeaf(%v): %v", u, err)
				}
			}
			other := newCA(t, leafKey, "test-ca") // same name, other key
			if err := pki.VerifyLeaf(leaf, other, nil, now); err == nil {
				t.Error("leaf verifies against a CA of the same name and another key")
			}
			if pki.SignedBy(leaf, other) {
				t.Error("SignedBy accepts a CA of the same name and another key")
			}
			if err := pki.VerifyLeaf(leaf, ca, nil, leaf.NotAfter.Add(time.Second)); err == nil {
				t.Error("VerifyLeaf accepts an expired leaf")
			}
			if !pki.SignedBy(leaf, ca) {
				t.Error("SignedBy depends on the time")
			}
		})
	}
}

func TestSignUsageIsEnforced(t *testing.T) {
	caKey := testKey(t, "test-key-ecdsa-p256-pkcs8.pem")
	ca := newCA(t, caKey, "test-ca")
	iss := pki.Issuer{Cert: ca, Key: caKey}
	pub := testKey(t, "test-key-ecdsa-p384-pkcs8.pem").Public()
	client, err := iss.Sign(pki.Request{Subject: pki.Subject{CommonName: "c"}, Usages: []pki.Usage{pki.ClientAuth}, Validity: time.Hour}, pub, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.VerifyLeaf(client, ca, []pki.Usage{pki.ServerAuth}, now); err == nil {
		t.Error("a client certificate verifies as a server")
	}
	var inv x509.CertificateInvalidError
	if err := pki.VerifyLeaf(client, ca, []pki.Usage{pki.ServerAuth}, now); !errors.As(err, &inv) || inv.Reason != x509.IncompatibleUsage {
		t.Errorf("error %v, want IncompatibleUsage", err)
	}
}

// TestLeafNeverOutlivesCA clamps a leaf to its CA's end.
func TestLeafNeverOutlivesCA(t *testing.T) {
	key := testKey(t, "test-key-ecdsa-p256-pkcs8.pem")
	ca, err := pki.NewSelfSignedCA(pki.Request{Subject: pki.Subject{CommonName: "short-ca"}, IsCA: true, Validity: 30 * 24 * time.Hour}, key, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.Issuer{Cert: ca, Key: key}.Sign(pki.Request{Subject: pki.Subject{CommonName: "leaf"}, Usages: []pki.Usage{pki.ClientAuth}, Validity: leafValidity}, key.Public(), now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.NotAfter.Equal(ca.NotAfter) {
		t.Errorf("leaf ends %s, CA ends %s", leaf.NotAfter, ca.NotAfter)
	}
}

func TestRequestErrors(t *testing.T) {
	key := testKey(t, "test-key-ecdsa-p256-pkcs8.pem")
	ca := newCA(t, key, "test-ca")
	iss := pki.Issuer{Cert: ca, Key: key}
	ok := pki.Request{Subject: pki.Subject{CommonName: "x"}, Usages: []pki.Usage{pki.ClientAuth}, Validity: time.Hour}
	for _, tc := range []struct {
		name string
		edit func(*pki.Request)
	}{
		{"CA request to Sign", func(r *pki.Request) { r.IsCA = true }},
		{"no usages", func(r *pki.Request) { r.Usages = nil }},
		{"no common name", func(r *pki.Request) { r.CommonName = "" }},
		{"zero validity", func(r *pki.Request) { r.Validity = 0 }},
		{"negative validity", func(r *pki.Request) { r.Validity = -time.Hour }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			if c, err := iss.Sign(r, key.Public(), now, nil); err == nil {
				t.Fatalf("signed %s", c.Subject)
			}
		})
	}
	if _, err := pki.NewSelfSignedCA(ok, key, now, nil); err == nil {
		t.Error("NewSelfSignedCA accepted a leaf request")
	}
	if _, err := pki.NewSelfSignedCA(pki.Request{IsCA: true, Validity: time.Hour}, key, now, nil); err == nil {
		t.Error("NewSelfSignedCA accepted an empty common name")
	}
}

// TestSerialsAreRandom draws serials with the real randomness source:
// 128-bit, positive, all different.
func TestSerialsAreRandom(t *testing.T) {
	key := testKey(t, "test-key-ecdsa-p256-pkcs8.pem")
	ca := newCA(t, key, "test-ca")
	iss := pki.Issuer{Cert: ca, Key: key}
	seen := map[string]bool{}
	for range 64 {
		c, err := iss.Sign(pki.Request{Subject: pki.Subject{CommonName: "x"}, Usages: []pki.Usage{pki.ClientAuth}, Validity: time.Hour}, key.Public(), now, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkSerial(t, c)
		s := c.SerialNumber.String()
		if seen[s] {
			t.Fatalf("serial %s drawn twice", s)
		}
		seen[s] = true
	}
}

// TestInjectedRandomness: serial numbers come from the injected source.
func TestInjectedRandomness(t *testing.T) {
	key := testKey(t, "test-key-ecdsa-p256-pkcs8.pem")
	a, b := newCA(t, key, "ca"), newCA(t, key, "ca")
	if a.SerialNumber.Cmp(b.SerialNumber) != 0 {
		t.Errorf("same seed, serials %x and %x", a.SerialNumber, b.SerialNumber)
	}
	c, err := pki.NewSelfSignedCA(pki.Request{Subject: pki.Subject{CommonName: "ca"}, IsCA: true, Validity: caValidity}, key, now, fixedRand(9))
	if err != nil {
		t.Fatal(err)
	}
	if a.SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("different seeds, same serial")
	}
}

// TestOpenSSLCertificates reads certificates OpenSSL issued.
func TestOpenSSLCertificates(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) // inside their validity
	ca, err := pki.ParseCert(readTestdata(t, "test-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCerts(readTestdata(t, "test-chain.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || certs[0].Subject.CommonName != "bulwark-test-leaf" || !bytes.Equal(certs[1].Raw, ca.Raw) {
		t.Fatalf("chain = %d certificates", len(certs))
	}
	leaf := certs[0]
	if err := pki.VerifyLeaf(leaf, ca, []pki.Usage{pki.ServerAuth, pki.ClientAuth}, at); err != nil {
		t.Error(err)
	}
	if !pki.SignedBy(leaf, ca) || !pki.KeyMatches(leaf, testKey(t, "test-key-rsa-2048-pkcs1.pem")) {
		t.Error("OpenSSL leaf does not tie to its CA and key")
	}
	if !pki.KeyMatches(ca, testKey(t, "test-key-ecdsa-p256-sec1.pem")) {
		t.Error("OpenSSL CA does not match its key")
	}
}

func TestParseCertsErrors(t *testing.T) {
	caPEM := readTestdata(t, "test-ca.crt")
	block, _ := pem.Decode(caPEM)
	truncated := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes[:len(block.Bytes)-10]})
	for _, tc := range []struct {
		name  string
		data  []byte
		noPEM bool
	}{
		{"empty", nil, true},
		{"text", []byte("not a certificate"), true},
		{"only a key", readTestdata(t, "test-key-ecdsa-p256-pkcs8.pem"), true},
		{"truncated", truncated, false},
		{"good then bad", append(slices.Clone(caPEM), truncated...), false},
		{"too large", append(bytes.Repeat([]byte(" "), 1<<20), caPEM...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pki.ParseCerts(tc.data)
			if err == nil {
				t.Fatal("parsed")
			}
			if errors.Is(err, pki.ErrNoPEM) != tc.noPEM {
				t.Errorf("error %v: ErrNoPEM %v, want %v", err, !tc.noPEM, tc.noPEM)
			}
			if _, err := pki.ParseCert(tc.data); err == nil {
				t.Error("ParseCert parsed")
			}
		})
	}
	// Blocks of other types are skipped, in a bundle.
	mixed := append(readTestdata(t, "test-pub-ecdsa-p256.pem"), caPEM...)
	if certs, err := pki.ParseCerts(mixed); err != nil || len(certs) != 1 {
		t.Errorf("ParseCerts(key + cert) = %d, %v", len(certs), err)
	}
}

func TestMarshalCert(t *testing.T) {
	ca, err := pki.ParseCert(readTestdata(t, "test-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := pki.MarshalCert(ca); !bytes.Equal(got, readTestdata(t, "test-ca.crt")) {
		t.Errorf("MarshalCert differs from OpenSSL's PEM:\n%s", got)
	}
}

// checkValidity: NotBefore is backdated by pki.Backdate, NotAfter is
// now+validity, both whole seconds.
func checkValidity(t *testing.T, c *x509.Certificate, validity time.Duration) {
	t.Helper()
	if pki.Backdate != 5*time.Minute {
		t.Errorf("Backdate = %s, want 5m", pki.Backdate)
	}
	wantFrom := now.Add(-pki.Backdate).Truncate(time.Second)
	wantTo := now.Add(validity).Truncate(time.Second)
	if !c.NotBefore.Equal(wantFrom) || !c.NotAfter.Equal(wantTo) {
		t.Errorf("valid %s to %s, want %s to %s", c.NotBefore, c.NotAfter, wantFrom, wantTo)
	}
}

// checkSerial: a positive 128-bit DER integer (16 bytes, top bit clear),
// with at least 126 random bits.
func checkSerial(t *testing.T, c *x509.Certificate) {
	t.Helper()
	s := c.SerialNumber
	if s.Sign() <= 0 || s.BitLen() != 127 {
		t.Errorf("serial %x: %d bits, want 127 (a 16-byte positive DER integer)", s, s.BitLen())
	}
	der, err := asn1.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(der) != 2+16 {
		t.Errorf("serial DER is %d bytes, want 16 + header", len(der)-2)
	}
	if s.Cmp(new(big.Int).Lsh(big.NewInt(1), 127)) >= 0 {
		t.Errorf("serial %x does not fit 127 bits", s)
	}
}

// keyID is RFC 5280's method 1 key identifier, computed independently of
// the package.
func keyID(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:]
}
