package trust_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/trust"
)

var rootsNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func rootsKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rootsCert(t *testing.T, tmpl *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer, parent *x509.Certificate) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(rootsNow.UnixNano() + int64(len(tmpl.Subject.CommonName)))
	tmpl.NotBefore, tmpl.NotAfter = rootsNow.Add(-time.Hour), rootsNow.Add(time.Hour)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rootsCA(t *testing.T, cn string, k crypto.Signer, edit func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	if edit != nil {
		edit(tmpl)
	}
	return rootsCert(t, tmpl, k.Public(), k, nil)
}

func rootsLeaf(t *testing.T, cn string, pub crypto.PublicKey, caKey crypto.Signer, caCert *x509.Certificate, edit func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true}
	if edit != nil {
		edit(tmpl)
	}
	return rootsCert(t, tmpl, pub, caKey, caCert)
}

// TestRefusals: a sound set of roots and leaves passes; each fault is
// one refusal of its rule, on its file, with a new key exactly where
// only one helps.
func TestRefusals(t *testing.T) {
	caKey, etcdKey, leafKey := rootsKey(t), rootsKey(t), rootsKey(t)
	good := func() trust.RootsInput {
		c, e := rootsCA(t, "kubernetes", caKey, nil), rootsCA(t, "etcd-ca", etcdKey, nil)
		return trust.RootsInput{
			CAs: []trust.RootCA{{Name: "ca", File: "pki/ca.crt", CN: "kubernetes", Cert: c}, {Name: "etcd/ca", File: "pki/etcd/ca.crt", CN: "etcd-ca", Cert: e}},
			Certs: []trust.Held{{Name: "apiserver", File: "pki/apiserver.crt",
				Cert: rootsLeaf(t, "kube-apiserver", leafKey.Public(), caKey, c, func(x *x509.Certificate) { x.DNSNames = []string{"kubernetes"} })}},
			Keys: []trust.HeldKey{{Name: "apiserver", File: "pki/apiserver.key", For: "pki/apiserver.crt", Pub: leafKey.Public()}},
		}
	}
	if got := trust.Refusals(good()); len(got) != 0 {
		t.Fatalf("a sound folder: %+v", got)
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(in *trust.RootsInput)
		rule   string
		file   string
		newKey bool
	}{
		{"a copied CA", func(in *trust.RootsInput) { in.CAs[1].Cert = rootsCA(t, "etcd-ca", caKey, nil) }, "pki:shared-ca", "pki/etcd/ca.crt", true},
		{"a swapped CA", func(in *trust.RootsInput) { in.CAs[0].Cert, in.CAs[1].Cert = in.CAs[1].Cert, in.CAs[0].Cert }, "pki:ca-role", "pki/ca.crt", false},
		{"a weak CA", func(in *trust.RootsInput) { in.CAs[1].Cert = rootsCA(t, "etcd-ca", weak, nil) }, "pki:weak-key", "pki/etcd/ca.crt", true},
		{"a CA without keyCertSign", func(in *trust.RootsInput) {
			in.CAs[0].Cert = rootsCA(t, "kubernetes", caKey, func(x *x509.Certificate) { x.KeyUsage = x509.KeyUsageDigitalSignature })
		}, "pki:ca-not-ca", "pki/ca.crt", false},
		{"a CA without a path length", func(in *trust.RootsInput) {
			in.CAs[0].Cert = rootsCA(t, "kubernetes", caKey, func(x *x509.Certificate) { x.MaxPathLenZero, x.MaxPathLen = false, -1 })
		}, "pki:ca-path-length", "pki/ca.crt", false},
		{"a CA:TRUE leaf", func(in *trust.RootsInput) {
			in.Certs[0].Cert = rootsLeaf(t, "kube-apiserver", leafKey.Public(), caKey, in.CAs[0].Cert, func(x *x509.Certificate) { x.IsCA = true })
		}, "pki:leaf-is-ca", "pki/apiserver.crt", false},
		{"a wildcard", func(in *trust.RootsInput) {
			in.Certs[0].Cert = rootsLeaf(t, "kube-apiserver", leafKey.Public(), caKey, in.CAs[0].Cert, func(x *x509.Certificate) { x.DNSNames = []string{"*.example.com"} })
		}, "pki:wildcard-san", "pki/apiserver.crt", false},
		{"every address", func(in *trust.RootsInput) {
			in.Certs[0].Cert = rootsLeaf(t, "kube-apiserver", leafKey.Public(), caKey, in.CAs[0].Cert, func(x *x509.Certificate) { x.IPAddresses = []net.IP{net.IPv4zero} })
		}, "pki:wildcard-san", "pki/apiserver.crt", false},
		{"a weak leaf", func(in *trust.RootsInput) {
			in.Certs[0].Cert = rootsLeaf(t, "kube-apiserver", weak.Public(), caKey, in.CAs[0].Cert, nil)
			in.Keys = nil
		}, "pki:weak-key", "pki/apiserver.crt", true},
		{"two certificates on one key", func(in *trust.RootsInput) {
			in.Certs = append(in.Certs, trust.Held{Name: "front-proxy-client", File: "pki/front-proxy-client.crt",
				Cert: rootsLeaf(t, "front-proxy-client", leafKey.Public(), caKey, in.CAs[0].Cert, nil)})
		}, "pki:key-reuse", "pki/front-proxy-client.crt", true},
		{"a leaf on a CA's key", func(in *trust.RootsInput) {
			in.Certs[0].Cert = rootsLeaf(t, "kube-apiserver", etcdKey.Public(), caKey, in.CAs[0].Cert, nil)
			in.Keys = nil
		}, "pki:ca-key-misplaced", "pki/apiserver.crt", true},
		{"the service-account key a CA's", func(in *trust.RootsInput) {
			in.Keys = append(in.Keys, trust.HeldKey{Name: "sa", File: "pki/sa.key", Pub: caKey.Public()})
		}, "pki:ca-key-misplaced", "pki/sa.key", true},
		{"a leaf's key file another's", func(in *trust.RootsInput) {
			other := rootsKey(t)
			in.Certs = append(in.Certs, trust.Held{Name: "front-proxy-client", File: "pki/front-proxy-client.crt",
				Cert: rootsLeaf(t, "front-proxy-client", other.Public(), caKey, in.CAs[0].Cert, nil)})
			in.Keys = append(in.Keys, trust.HeldKey{Name: "front-proxy-client", File: "pki/front-proxy-client.key", For: "pki/front-proxy-client.crt", Pub: leafKey.Public()})
		}, "pki:key-reuse", "pki/front-proxy-client.key", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := good()
			tc.edit(&in)
			got := trust.Refusals(in)
			i := slices.IndexFunc(got, func(r trust.Refusal) bool { return r.Rule == tc.rule && r.File == tc.file })
			if i < 0 {
				t.Fatalf("no %s on %s: %+v", tc.rule, tc.file, got)
			}
			if got[i].NewKey != tc.newKey || got[i].Detail == "" || got[i].Name == "" {
				t.Errorf("refusal %+v, want NewKey %v", got[i], tc.newKey)
			}
		})
	}
}
