package pki_test

import (
	"bytes"
	"crypto"
	"crypto/dsa" //lint:ignore SA1019 DSA keys are parsed here only to check that they are refused
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/pki"
)

// addTestdataSeeds adds every testdata file whose name has one of the
// prefixes: keys and certificates written by OpenSSL, so the fuzzers start
// from real inputs. Regressions live in testdata/fuzz/<FuzzName>/.
func addTestdataSeeds(f *testing.F, prefixes ...string) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		for _, p := range prefixes {
			if !e.IsDir() && strings.HasPrefix(e.Name(), p) {
				data, err := os.ReadFile(filepath.Join("testdata", e.Name()))
				if err != nil {
					f.Fatal(err)
				}
				f.Add(data)
			}
		}
	}
}

// FuzzParsePrivateKey: no input panics, and a key that parses survives
// marshal → parse unchanged.
func FuzzParsePrivateKey(f *testing.F) {
	addTestdataSeeds(f, "test-key-")
	for _, alg := range []pki.Algorithm{pki.ECDSAP256, pki.ECDSAP384} {
		k, err := pki.GenerateKey(alg, nil)
		if err != nil {
			f.Fatal(err)
		}
		data, err := pki.MarshalPrivateKey(k)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := pki.ParsePrivateKey(data)
		if err != nil {
			if key != nil {
				t.Fatal("key returned with an error")
			}
			return
		}
		out, err := pki.MarshalPrivateKey(key)
		if err != nil {
			t.Fatalf("parsed a %T that does not marshal: %v", key, err)
		}
		again, err := pki.ParsePrivateKey(out)
		if err != nil {
			t.Fatalf("marshalled key does not parse: %v", err)
		}
		eq, ok := again.(interface{ Equal(crypto.PrivateKey) bool })
		if !ok || !eq.Equal(key) {
			t.Fatalf("%T changed through marshal → parse", key)
		}
		out2, err := pki.MarshalPrivateKey(again)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("marshal is not stable: %v", err)
		}
	})
}

// FuzzParseCerts: no input panics, and certificates that parse survive
// marshal → parse with the same DER, in the same order.
func FuzzParseCerts(f *testing.F) {
	addTestdataSeeds(f, "test-ca", "test-leaf", "test-chain")
	key, err := pki.GenerateKey(pki.ECDSAP256, nil)
	if err != nil {
		f.Fatal(err)
	}
	ca, err := pki.NewSelfSignedCA(pki.Request{Subject: pki.Subject{CommonName: "fuzz-ca"}, IsCA: true, Validity: time.Hour}, key, time.Now(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pki.MarshalCert(ca))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := pki.ParseCerts(data)
		if err != nil {
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		var out []byte
		for _, c := range certs {
			out = append(out, pki.MarshalCert(c)...)
		}
		again, err := pki.ParseCerts(out)
		if err != nil {
			t.Fatalf("marshalled certificates do not parse: %v", err)
		}
		if len(again) != len(certs) {
			t.Fatalf("%d certificates became %d", len(certs), len(again))
		}
		for i := range certs {
			if !bytes.Equal(certs[i].Raw, again[i].Raw) {
				t.Fatalf("certificate %d changed", i)
			}
		}
		first, err := pki.ParseCert(data)
		if err != nil || !bytes.Equal(first.Raw, certs[0].Raw) {
			t.Fatalf("ParseCert disagrees with ParseCerts: %v", err)
		}
		_ = pki.UsagesOf(certs[0])
		_ = pki.AlgorithmOf(certs[0].PublicKey)
	})
}

// FuzzParsePublicKey: no input panics, and a public key that parses
// survives marshal → parse.
func FuzzParsePublicKey(f *testing.F) {
	addTestdataSeeds(f, "test-pub-")
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := pki.ParsePublicKey(data)
		if err != nil {
			return
		}
		out, err := pki.MarshalPublicKey(pub)
		if err != nil {
			if _, isDSA := pub.(*dsa.PublicKey); isDSA {
				// The standard library parses DSA keys but cannot write
				// them; bulwark never issues or uses one (sa.pub of a
				// DSA key never matches sa.key).
				return
			}
			t.Fatalf("parsed a %T that does not marshal: %v", pub, err)
		}
		again, err := pki.ParsePublicKey(out)
		if err != nil {
			t.Fatalf("marshalled key does not parse: %v", err)
		}
		if !pki.PublicKeysEqual(again, pub) {
			t.Fatalf("%T changed through marshal → parse", pub)
		}
	})
}
