package pki_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/pki"
)

// readTestdata reads a file of testdata/. Its keys are TEST KEYS, public
// in this repository (see testdata/README.md).
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// testKey loads a pre-generated TEST KEY: fast and deterministic where a
// test does not care about generation.
func testKey(t testing.TB, name string) crypto.Signer {
	t.Helper()
	k, err := pki.ParsePrivateKey(readTestdata(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return k
}

func TestParseAlgorithm(t *testing.T) {
	for _, a := range pki.Algorithms() {
		for _, s := range []string{string(a), strings.ToUpper(string(a))} {
			got, err := pki.ParseAlgorithm(s)
			if err != nil || got != a {
				t.Errorf("ParseAlgorithm(%q) = %q, %v", s, got, err)
			}
		}
	}
	if pki.Algorithms()[0] != pki.ECDSAP256 {
		t.Errorf("default algorithm %s, want %s", pki.Algorithms()[0], pki.ECDSAP256)
	}
	for _, s := range []string{"", "rsa", "rsa-1024", "ed25519", "ecdsa-p521", " ecdsa-p256"} {
		if _, err := pki.ParseAlgorithm(s); err == nil {
			t.Errorf("ParseAlgorithm(%q) accepted", s)
		}
	}
	if _, err := pki.GenerateKey("rsa-1024", nil); err == nil {
		t.Error("GenerateKey(rsa-1024) accepted")
	}
}

// TestGenerateKey generates, signs with, encodes and decodes a key of every
// algorithm. RSA-3072 and RSA-4096 take seconds on two cores: -short skips them.
func TestGenerateKey(t *testing.T) {
	for _, alg := range pki.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			if testing.Short() && (alg == pki.RSA3072 || alg == pki.RSA4096) {
				t.Skip("slow RSA key generation; run without -short")
			}
			t.Parallel()
			key, err := pki.GenerateKey(alg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := pki.AlgorithmOf(key.Public()); got != alg {
				t.Errorf("AlgorithmOf = %q", got)
			}
			digest := sha256.Sum256([]byte("bulwark"))
			sig, err := key.Sign(nil, digest[:], crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			switch pub := key.Public().(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(pub, digest[:], sig) {
					t.Error("ECDSA signature does not verify")
				}
			case *rsa.PublicKey:
				if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
					t.Error(err)
				}
			default:
				t.Fatalf("unexpected key type %T", pub)
			}
			pemKey, err := pki.MarshalPrivateKey(key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(pemKey, []byte("-----BEGIN PRIVATE KEY-----\n")) {
				t.Errorf("not PKCS#8 PEM: %.30q", pemKey)
			}
			back, err := pki.ParsePrivateKey(pemKey)
			if err != nil {
				t.Fatal(err)
			}
			if !back.(interface{ Equal(crypto.PrivateKey) bool }).Equal(key) {
				t.Error("key changed through PEM")
			}
			pemPub, err := pki.MarshalPublicKey(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			pub, err := pki.ParsePublicKey(pemPub)
			if err != nil {
				t.Fatal(err)
			}
			if !pki.PublicKeysEqual(pub, key.Public()) {
				t.Error("public key changed through PEM")
			}
		})
	}
}

// TestParseTestdataKeys reads keys written by OpenSSL in every encoding
// kubeadm and bulwark use. The files were made with:
//
//	openssl ecparam -name prime256v1 -genkey -out test-key-ecdsa-p256-sec1.pem
//	openssl pkcs8 -topk8 -nocrypt -in test-key-ecdsa-p256-sec1.pem -out test-key-ecdsa-p256-pkcs8.pem
//	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out test-key-ecdsa-p384-pkcs8.pem
//	openssl genrsa -traditional -out test-key-rsa-2048-pkcs1.pem 2048
//	openssl pkcs8 -topk8 -nocrypt -in test-key-rsa-2048-pkcs1.pem -out test-key-rsa-2048-pkcs8.pem
//	openssl genpkey -algorithm ED25519 -out test-key-ed25519-pkcs8.pem
//	openssl pkey -in test-key-ecdsa-p256-pkcs8.pem -pubout -out test-pub-ecdsa-p256.pem
//	openssl rsa -in test-key-rsa-2048-pkcs1.pem -RSAPublicKey_out -out test-pub-rsa-2048-pkcs1.pem
//	openssl rsa -in test-key-rsa-2048-pkcs1.pem -pubout -out test-pub-rsa-2048.pem
//	openssl req -x509 -new -key test-key-ecdsa-p256-pkcs8.pem -subj /CN=bulwark-test-ca -days 3650 \
//	  -addext basicConstraints=critical,CA:TRUE,pathlen:0 -addext keyUsage=critical,keyCertSign,cRLSign -out test-ca.crt
//	openssl req -new -key test-key-rsa-2048-pkcs1.pem -subj "/CN=bulwark-test-leaf/O=test-group" -out leaf.csr
//	openssl x509 -req -in leaf.csr -CA test-ca.crt -CAkey test-key-ecdsa-p256-pkcs8.pem -days 3650 \
//	  -extfile ext -out test-leaf.crt   # ext: CA:FALSE, digitalSignature+keyEncipherment, serverAuth+clientAuth, SANs
func TestParseTestdataKeys(t *testing.T) {
	for _, tc := range []struct {
		file, same string
		alg        pki.Algorithm
	}{
		{"test-key-ecdsa-p256-sec1.pem", "test-key-ecdsa-p256-pkcs8.pem", pki.ECDSAP256},
		{"test-key-ecdsa-p384-pkcs8.pem", "", pki.ECDSAP384},
		{"test-key-rsa-2048-pkcs1.pem", "test-key-rsa-2048-pkcs8.pem", pki.RSA2048},
		{"test-key-ed25519-pkcs8.pem", "", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			key := testKey(t, tc.file)
			if got := pki.AlgorithmOf(key.Public()); got != tc.alg {
				t.Errorf("AlgorithmOf = %q, want %q", got, tc.alg)
			}
			if tc.same != "" && !pki.PublicKeysEqual(key.Public(), testKey(t, tc.same).Public()) {
				t.Errorf("%s and %s hold different keys", tc.file, tc.same)
			}
		})
	}
	if _, ok := testKey(t, "test-key-ed25519-pkcs8.pem").(ed25519.PrivateKey); !ok {
		t.Error("Ed25519 key not parsed as ed25519.PrivateKey")
	}
	rsaKey := testKey(t, "test-key-rsa-2048-pkcs1.pem")
	for _, f := range []string{"test-pub-rsa-2048.pem", "test-pub-rsa-2048-pkcs1.pem"} {
		pub, err := pki.ParsePublicKey(readTestdata(t, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !pki.PublicKeysEqual(pub, rsaKey.Public()) {
			t.Errorf("%s is not the public half of the RSA test key", f)
		}
	}
	pub, err := pki.ParsePublicKey(readTestdata(t, "test-pub-ecdsa-p256.pem"))
	if err != nil || !pki.PublicKeysEqual(pub, testKey(t, "test-key-ecdsa-p256-pkcs8.pem").Public()) {
		t.Errorf("test-pub-ecdsa-p256.pem: %v", err)
	}
}

func TestParsePrivateKeyErrors(t *testing.T) {
	// A block whose bytes are distinctive enough to spot in an error.
	secret := bytes.Repeat([]byte("SECRET-KEY-MATERIAL-"), 8)
	garbage := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: secret})
	for _, tc := range []struct {
		name  string
		data  []byte
		noPEM bool
	}{
		{"empty", nil, true},
		{"not PEM", []byte("hello"), true},
		{"only EC parameters", []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"), true},
		{"certificate", readTestdata(t, "test-ca.crt"), false},
		{"public key", readTestdata(t, "test-pub-ecdsa-p256.pem"), false},
		{"malformed PKCS#8", garbage, false},
		{"malformed PKCS#1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: secret}), false},
		{"malformed SEC 1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: secret}), false},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: secret}), false},
		{"too large", append(bytes.Repeat([]byte("#"), 1<<20), readTestdata(t, "test-key-ecdsa-p256-pkcs8.pem")...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := pki.ParsePrivateKey(tc.data)
			if err == nil {
				t.Fatalf("parsed a %T", k)
			}
			if errors.Is(err, pki.ErrNoPEM) != tc.noPEM {
				t.Errorf("errors.Is(%v, ErrNoPEM) = %v, want %v", err, !tc.noPEM, tc.noPEM)
			}
			assertNoSecret(t, err, secret)
		})
	}
	// The key of a real file never shows either, even when another block
	// type makes the parse fail after it.
	real := readTestdata(t, "test-key-rsa-2048-pkcs1.pem")
	block, _ := pem.Decode(real)
	mangled := bytes.Replace(real, []byte("RSA PRIVATE KEY"), []byte("EC PRIVATE KEY"), 2)
	if _, err := pki.ParsePrivateKey(mangled); err == nil {
		t.Error("parsed an RSA key labelled EC")
	} else {
		assertNoSecret(t, err, block.Bytes)
	}
}

func assertNoSecret(t *testing.T, err error, secret []byte) {
	t.Helper()
	msg := err.Error()
	for _, enc := range []string{string(secret[:16]), base64.StdEncoding.EncodeToString(secret)[:16], hex.EncodeToString(secret[:8])} {
		if strings.Contains(msg, enc) {
			t.Errorf("error %q quotes the key", msg)
		}
	}
}

func TestParsePublicKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"private key", readTestdata(t, "test-key-ecdsa-p256-pkcs8.pem")},
		{"certificate", readTestdata(t, "test-ca.crt")},
		{"malformed PKIX", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})},
		{"malformed PKCS#1", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: []byte{1, 2, 3}})},
		{"too large", append(bytes.Repeat([]byte("#"), 1<<20+1), readTestdata(t, "test-pub-ecdsa-p256.pem")...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if pub, err := pki.ParsePublicKey(tc.data); err == nil {
				t.Fatalf("parsed a %T", pub)
			}
			if pubs, err := pki.ParsePublicKeys(tc.data); err == nil {
				t.Fatalf("parsed %d keys", len(pubs))
			}
		})
	}
	// Every block counts: a good key before a bad one is no excuse.
	good := readTestdata(t, "test-pub-ecdsa-p256.pem")
	if pubs, err := pki.ParsePublicKeys(append(slices.Clone(good), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})...)); err == nil {
		t.Fatalf("a malformed second key: parsed %d keys", len(pubs))
	}
}

// TestParsePublicKeys: sa.pub during a rotation holds two keys, in order.
func TestParsePublicKeys(t *testing.T) {
	a, b := readTestdata(t, "test-pub-ecdsa-p256.pem"), readTestdata(t, "test-pub-rsa-2048.pem")
	pubs, err := pki.ParsePublicKeys(append(slices.Clone(a), b...))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := pki.ParsePublicKey(a)
	second, _ := pki.ParsePublicKey(b)
	if len(pubs) != 2 || !pki.PublicKeysEqual(pubs[0], first) || !pki.PublicKeysEqual(pubs[1], second) {
		t.Fatalf("got %d keys, want the two in order", len(pubs))
	}
}

func TestPublicKeysEqual(t *testing.T) {
	a, b := testKey(t, "test-key-ecdsa-p256-pkcs8.pem"), testKey(t, "test-key-ecdsa-p384-pkcs8.pem")
	if !pki.PublicKeysEqual(a.Public(), a.Public()) {
		t.Error("a key differs from itself")
	}
	if pki.PublicKeysEqual(a.Public(), b.Public()) || pki.PublicKeysEqual(a.Public(), nil) || pki.PublicKeysEqual(nil, a.Public()) {
		t.Error("different keys compare equal")
	}
	if pki.PublicKeysEqual("not a key", "not a key") {
		t.Error("strings compare equal as keys")
	}
}
