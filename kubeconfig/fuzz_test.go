package kubeconfig_test

import (
	"bytes"
	"crypto"
	"testing"

	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/pki"
)

// FuzzParse: no input panics, and a kubeconfig that parses, rebuilt from
// what Parse returned, parses to the same thing.
func FuzzParse(f *testing.F) {
	fx := newFixture(f)
	f.Add(build(f, fx.certSpec))
	f.Add(build(f, fx.tokenSpec))
	f.Add([]byte(kubeconfigDoc("ctx", "    certificate-authority: /ca.crt\n    server: https://x:1", "    client-certificate: /a.crt\n    client-key: /a.key")))
	f.Add([]byte("apiVersion: v1\nkind: Config\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Config","current-context":"a","contexts":[{"name":"a","context":{"cluster":"c","user":"u"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := kubeconfig.Parse(data)
		if err != nil {
			return
		}
		if len(p.CAs) == 0 {
			t.Fatal("parsed without a CA")
		}
		hasCert := p.Credentials.Cert != nil && p.Credentials.Key != nil
		if (p.Credentials.Token == "") != hasCert {
			t.Fatalf("credentials neither token nor certificate and key: %+v", p.Credentials)
		}
		_, _ = kubeconfig.Certificates(data)
		if p.Server == "" || p.User == "" {
			return // Build needs both; Parse does not
		}
		out, err := kubeconfig.Build(kubeconfig.Spec{ClusterName: p.ClusterName, Server: p.Server, CA: p.CAs[0], User: p.User, Credentials: p.Credentials})
		if err != nil {
			t.Fatalf("Build of a parsed kubeconfig: %v", err)
		}
		q, err := kubeconfig.Parse(out)
		if err != nil {
			t.Fatalf("rebuilt kubeconfig does not parse: %v\n%s", err, out)
		}
		if q.ClusterName != p.ClusterName || q.Server != p.Server || q.User != p.User || q.Credentials.Token != p.Credentials.Token {
			t.Fatalf("round trip changed names: %q %q %q → %q %q %q", p.ClusterName, p.Server, p.User, q.ClusterName, q.Server, q.User)
		}
		if !bytes.Equal(q.CAs[0].Raw, p.CAs[0].Raw) {
			t.Fatal("round trip changed the CA")
		}
		if hasCert {
			if !bytes.Equal(q.Credentials.Cert.Raw, p.Credentials.Cert.Raw) {
				t.Fatal("round trip changed the certificate")
			}
			if !q.Credentials.Key.(interface{ Equal(crypto.PrivateKey) bool }).Equal(p.Credentials.Key) {
				t.Fatal("round trip changed the key")
			}
			if !bytes.Equal(q.CertPEM, pki.MarshalCert(p.Credentials.Cert)) {
				t.Fatal("CertPEM is not the certificate")
			}
		}
	})
}
