package pki_test

import (
	"fmt"
	"net"
	"time"

	"github.com/bulwark-k8s/bulwark/pki"
)

// Issue a CA and a serving certificate it signs, then check the chain.
func ExampleIssuer_Sign() {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) // inject the clock
	caKey, err := pki.GenerateKey(pki.ECDSAP256, nil)
	if err != nil {
		panic(err)
	}
	caCert, err := pki.NewSelfSignedCA(pki.Request{
		Subject:  pki.Subject{CommonName: "etcd-ca"},
		IsCA:     true,
		Validity: 10 * 365 * 24 * time.Hour,
	}, caKey, now, nil)
	if err != nil {
		panic(err)
	}

	leafKey, err := pki.GenerateKey(pki.ECDSAP256, nil)
	if err != nil {
		panic(err)
	}
	ca := pki.Issuer{Cert: caCert, Key: caKey}
	leaf, err := ca.Sign(pki.Request{
		Subject: pki.Subject{
			CommonName: "etcd-1",
			DNSNames:   []string{"etcd-1", "localhost"},
			IPs:        []net.IP{net.ParseIP("10.0.0.11"), net.ParseIP("127.0.0.1")},
		},
		Usages:   []pki.Usage{pki.ServerAuth},
		Validity: 365 * 24 * time.Hour,
	}, leafKey.Public(), now, nil)
	if err != nil {
		panic(err)
	}

	fmt.Println("CA:", caCert.Subject.CommonName, "pathlen", caCert.MaxPathLen, "until", caCert.NotAfter.Format(time.DateOnly))
	fmt.Println("leaf:", leaf.Subject.CommonName, pki.UsagesOf(leaf), leaf.DNSNames, leaf.IPAddresses)
	fmt.Println("valid from", leaf.NotBefore.Format(time.DateTime), "to", leaf.NotAfter.Format(time.DateTime))
	fmt.Println("key matches:", pki.KeyMatches(leaf, leafKey))
	fmt.Println("verifies as server:", pki.VerifyLeaf(leaf, caCert, []pki.Usage{pki.ServerAuth}, now) == nil)
	fmt.Println("verifies as client:", pki.VerifyLeaf(leaf, caCert, []pki.Usage{pki.ClientAuth}, now) == nil)
	// Output:
	// CA: etcd-ca pathlen 0 until 2036-12-29
	// leaf: etcd-1 [server] [etcd-1 localhost] [10.0.0.11 127.0.0.1]
	// valid from 2026-12-31 23:55:00 to 2028-01-01 00:00:00
	// key matches: true
	// verifies as server: true
	// verifies as client: false
}

// Keys are written as PKCS#8 PEM, and read back from PKCS#8, PKCS#1 or
// SEC 1 PEM, so kubeadm's files read too.
func ExampleParsePrivateKey() {
	key, err := pki.GenerateKey(pki.ECDSAP384, nil)
	if err != nil {
		panic(err)
	}
	pemData, err := pki.MarshalPrivateKey(key)
	if err != nil {
		panic(err)
	}
	back, err := pki.ParsePrivateKey(pemData)
	if err != nil {
		panic(err)
	}
	fmt.Println(pki.AlgorithmOf(back.Public()), pki.PublicKeysEqual(back.Public(), key.Public()))

	_, err = pki.ParsePrivateKey([]byte("not a key"))
	fmt.Println(err)
	// Output:
	// ecdsa-p384 true
	// private key: no PEM data found
}
