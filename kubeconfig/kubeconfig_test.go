package kubeconfig_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/pki"
)

var now = time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)

type fixture struct {
	ca        *x509.Certificate
	caKey     crypto.Signer
	cert      *x509.Certificate
	key       crypto.Signer
	certSpec  kubeconfig.Spec
	tokenSpec kubeconfig.Spec
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	caKey, err := pki.GenerateKey(pki.ECDSAP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewSelfSignedCA(pki.Request{Subject: pki.Subject{CommonName: "kubernetes"}, IsCA: true, Validity: 24 * time.Hour}, caKey, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.GenerateKey(pki.ECDSAP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.Issuer{Cert: ca, Key: caKey}.Sign(pki.Request{
		Subject: pki.Subject{CommonName: "kubernetes-admin", Organizations: []string{"bulwark:cluster-admins"}},
		Usages:  []pki.Usage{pki.ClientAuth}, Validity: time.Hour,
	}, key.Public(), now, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{
		ca: ca, caKey: caKey, cert: cert, key: key,
		certSpec: kubeconfig.Spec{ClusterName: "kubernetes", Server: "https://10.0.0.10:6443", CA: ca,
			User: "kubernetes-admin", Credentials: kubeconfig.Credentials{Cert: cert, Key: key}},
		tokenSpec: kubeconfig.Spec{ClusterName: "prod", Server: "https://api.example.com:443", CA: ca,
			User: "kubelet-bootstrap", Credentials: kubeconfig.Credentials{Token: "abcdef.0123456789abcdef"}},
	}
}

func build(t testing.TB, s kubeconfig.Spec) []byte {
	t.Helper()
	data, err := kubeconfig.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRoundTripCertificate(t *testing.T) {
	f := newFixture(t)
	data := build(t, f.certSpec)
	p, err := kubeconfig.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if p.ClusterName != "kubernetes" || p.Server != "https://10.0.0.10:6443" || p.User != "kubernetes-admin" {
		t.Errorf("parsed %+v", p)
	}
	if len(p.CAs) != 1 || !bytes.Equal(p.CAs[0].Raw, f.ca.Raw) {
		t.Error("CA changed")
	}
	if p.Credentials.Cert == nil || !bytes.Equal(p.Credentials.Cert.Raw, f.cert.Raw) {
		t.Error("client certificate changed")
	}
	if p.Credentials.Key == nil || !pki.PublicKeysEqual(p.Credentials.Key.Public(), f.key.Public()) {
		t.Error("client key changed")
	}
	if !bytes.Equal(p.CertPEM, pki.MarshalCert(f.cert)) {
		t.Error("CertPEM is not the certificate as written")
	}
	if p.Credentials.Token != "" {
		t.Error("token set on a certificate kubeconfig")
	}
	// The file is an ordinary kubeconfig for client-go.
	cfg, err := clientcmd.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "kubernetes-admin@kubernetes" {
		t.Errorf("current context %q", cfg.CurrentContext)
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != f.certSpec.Server || len(rc.TLSClientConfig.CertData) == 0 || len(rc.TLSClientConfig.KeyData) == 0 || len(rc.TLSClientConfig.CAData) == 0 {
		t.Errorf("client-go reads %+v", rc.TLSClientConfig)
	}
}

func TestRoundTripToken(t *testing.T) {
	f := newFixture(t)
	p, err := kubeconfig.Parse(build(t, f.tokenSpec))
	if err != nil {
		t.Fatal(err)
	}
	if p.Credentials.Token != "abcdef.0123456789abcdef" || p.Credentials.Cert != nil || p.Credentials.Key != nil || p.CertPEM != nil {
		t.Errorf("credentials %+v", p.Credentials)
	}
	if p.ClusterName != "prod" || p.Server != "https://api.example.com:443" || p.User != "kubelet-bootstrap" {
		t.Errorf("parsed %+v", p)
	}
}

func TestBuildErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		edit func(*kubeconfig.Spec)
	}{
		{"no server", func(s *kubeconfig.Spec) { s.Server = "" }},
		{"no CA", func(s *kubeconfig.Spec) { s.CA = nil }},
		{"no user", func(s *kubeconfig.Spec) { s.User = "" }},
		{"no credentials", func(s *kubeconfig.Spec) { s.Credentials = kubeconfig.Credentials{} }},
		{"certificate without key", func(s *kubeconfig.Spec) { s.Credentials.Key = nil }},
		{"key without certificate", func(s *kubeconfig.Spec) { s.Credentials.Cert = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := f.certSpec
			tc.edit(&s)
			if _, err := kubeconfig.Build(s); err == nil {
				t.Fatal("built")
			}
		})
	}
}

// kubeconfigDoc writes a kubeconfig by hand, for the shapes Build never makes.
func kubeconfigDoc(current, cluster, user string) string {
	return `apiVersion: v1
kind: Config
current-context: ` + current + `
contexts:
- name: ctx
  context: {cluster: c, user: u}
clusters:
- name: c
  cluster:
` + cluster + `
users:
- name: u
  user:
` + user
}

func TestParseRejects(t *testing.T) {
	f := newFixture(t)
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	caData := "    certificate-authority-data: " + b64(pki.MarshalCert(f.ca)) + "\n    server: https://10.0.0.1:6443"
	keyPEM, err := pki.MarshalPrivateKey(f.key)
	if err != nil {
		t.Fatal(err)
	}
	certData := "    client-certificate-data: " + b64(pki.MarshalCert(f.cert))
	keyData := "    client-key-data: " + b64(keyPEM)
	// A key block whose content is distinctive and malformed.
	secret := bytes.Repeat([]byte("TOPSECRETKEYBYTES"), 6)
	badKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: secret})
	good := kubeconfigDoc("ctx", caData, certData+"\n"+keyData)
	if _, err := kubeconfig.Parse([]byte(good)); err != nil {
		t.Fatalf("the hand-written kubeconfig itself does not parse: %v", err)
	}
	for _, tc := range []struct {
		name, doc, msg string
	}{
		{"client certificate file", kubeconfigDoc("ctx", caData, "    client-certificate: /etc/kubernetes/pki/admin.crt\n    client-key: /etc/kubernetes/pki/admin.key"), "refers to files"},
		{"token file", kubeconfigDoc("ctx", caData, "    tokenFile: /var/run/token"), "refers to files"},
		{"CA file", kubeconfigDoc("ctx", "    certificate-authority: /etc/kubernetes/pki/ca.crt\n    server: https://10.0.0.1:6443", certData+"\n"+keyData), "no embedded certificate-authority-data"},
		{"no current context", kubeconfigDoc(`""`, caData, certData+"\n"+keyData), "current context"},
		{"missing current context", kubeconfigDoc("other", caData, certData+"\n"+keyData), `current context "other" not found`},
		{"missing cluster", strings.Replace(good, "{cluster: c,", "{cluster: nope,", 1), `cluster "nope" not found`},
		{"missing user", strings.Replace(good, "user: u}", "user: nope}", 1), `user "nope" not found`},
		{"no credentials", kubeconfigDoc("ctx", caData, "    username: admin"), "no client certificate or token"},
		{"certificate without key", kubeconfigDoc("ctx", caData, certData), "no client-key-data"},
		{"bad CA PEM", kubeconfigDoc("ctx", "    certificate-authority-data: "+b64([]byte("not pem"))+"\n    server: https://x:1", certData+"\n"+keyData), "certificate-authority-data"},
		{"bad certificate PEM", kubeconfigDoc("ctx", caData, "    client-certificate-data: "+b64([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))+"\n"+keyData), "client-certificate-data"},
		{"bad key PEM", kubeconfigDoc("ctx", caData, certData+"\n    client-key-data: "+b64(badKey)), "client-key-data"},
		{"key bytes in invalid YAML", "apiVersion: v1\nkind: Config\nusers: [" + string(secret) + "\n" + b64(secret), "not a valid kubeconfig"},
		{"not base64", kubeconfigDoc("ctx", caData, "    client-key-data: "+string(secret)+"!!"), ""},
		{"empty", "", ""},
		{"too large", good + "#" + strings.Repeat("x", 1<<20), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := kubeconfig.Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("parsed %+v", p)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
			// Errors never quote key material, in any encoding.
			for _, s := range []string{string(secret[:17]), b64(secret)[:20], b64(keyPEM)[40:60], string(keyPEM[40:60])} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q quotes key bytes", err)
				}
			}
		})
	}
}

func TestCertificates(t *testing.T) {
	f := newFixture(t)
	certs, err := kubeconfig.Certificates(build(t, f.certSpec))
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || !bytes.Equal(certs["cluster kubernetes CA"].Raw, f.ca.Raw) || !bytes.Equal(certs["user kubernetes-admin"].Raw, f.cert.Raw) {
		t.Errorf("Certificates = %v", certs)
	}
	certs, err = kubeconfig.Certificates(build(t, f.tokenSpec))
	if err != nil || len(certs) != 1 {
		t.Errorf("token kubeconfig: %v, %v", certs, err)
	}
	if _, err := kubeconfig.Certificates([]byte("{{{")); err == nil {
		t.Error("Certificates accepted garbage")
	}
}

func TestWithServer(t *testing.T) {
	f := newFixture(t)
	moved, err := kubeconfig.WithServer(build(t, f.certSpec), "https://127.0.0.1:16443")
	if err != nil {
		t.Fatal(err)
	}
	p, err := kubeconfig.Parse(moved)
	if err != nil {
		t.Fatal(err)
	}
	if p.Server != "https://127.0.0.1:16443" || !bytes.Equal(p.Credentials.Cert.Raw, f.cert.Raw) || !bytes.Equal(p.CAs[0].Raw, f.ca.Raw) {
		t.Errorf("moved kubeconfig %+v", p)
	}
	if _, err := kubeconfig.WithServer([]byte("{{{"), "https://x"); err == nil {
		t.Error("WithServer accepted garbage")
	}
}
