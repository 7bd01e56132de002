// Package kubeconfig builds and reads kubeconfig files through client-go's
// clientcmd, the code every Kubernetes client uses to load them.
package kubeconfig

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/bulwark-k8s/bulwark/pki"
)

// Credentials is how a kubeconfig's user authenticates: a client
// certificate and key, or a bearer token.
type Credentials struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Token string
}

// Spec is one kubeconfig: one cluster, one user, one context.
type Spec struct {
	ClusterName string
	Server      string
	CA          *x509.Certificate
	// CAs, when set, are trusted instead of CA alone, in this order: a
	// CA bundle during a rotation.
	CAs         []*x509.Certificate
	User        string
	Credentials Credentials
}

// Build encodes a kubeconfig with everything embedded.
func Build(s Spec) ([]byte, error) {
	cas := s.CAs
	if len(cas) == 0 && s.CA != nil {
		cas = []*x509.Certificate{s.CA}
	}
	if s.Server == "" || len(cas) == 0 || s.User == "" {
		return nil, errors.New("kubeconfig needs a server, a CA and a user")
	}
	var bundle []byte
	for _, c := range cas {
		bundle = append(bundle, pki.MarshalCert(c)...)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[s.ClusterName] = &clientcmdapi.Cluster{
		Server:                   s.Server,
		CertificateAuthorityData: bundle,
	}
	auth := &clientcmdapi.AuthInfo{}
	switch {
	case s.Credentials.Token != "":
		auth.Token = s.Credentials.Token
	case s.Credentials.Cert != nil && s.Credentials.Key != nil:
		keyPEM, err := pki.MarshalPrivateKey(s.Credentials.Key)
		if err != nil {
			return nil, err
		}
		auth.ClientCertificateData = pki.MarshalCert(s.Credentials.Cert)
		auth.ClientKeyData = keyPEM
	default:
		return nil, errors.New("kubeconfig needs a client certificate and key, or a token")
	}
	cfg.AuthInfos[s.User] = auth
	ctx := s.User + "@" + s.ClusterName
	cfg.Contexts[ctx] = &clientcmdapi.Context{Cluster: s.ClusterName, AuthInfo: s.User}
	cfg.CurrentContext = ctx
	return clientcmd.Write(*cfg)
}

// Parsed is what a kubeconfig's current context resolves to.
type Parsed struct {
	ClusterName string
	Server      string
	CAs         []*x509.Certificate
	User        string
	Credentials Credentials
	// CertPEM is the client certificate as written, for reports.
	CertPEM []byte
}

// maxSize caps kubeconfig input: a kubeconfig with embedded certificates is
// a few KiB; 1 MiB allows large CA bundles.
const maxSize = 1 << 20

// Parse decodes a kubeconfig and resolves its current context. Only
// embedded data is read: file references are refused, since a kubeconfig
// that points elsewhere cannot be checked on its own. Errors never quote
// key material.
func Parse(data []byte) (*Parsed, error) {
	if len(data) > maxSize {
		return nil, fmt.Errorf("kubeconfig larger than %d bytes", maxSize)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, errors.New("not a valid kubeconfig")
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok || ctx == nil {
		return nil, fmt.Errorf("kubeconfig: current context %q not found", cfg.CurrentContext)
	}
	cl, ok := cfg.Clusters[ctx.Cluster]
	if !ok || cl == nil {
		return nil, fmt.Errorf("kubeconfig: cluster %q not found", ctx.Cluster)
	}
	auth, ok := cfg.AuthInfos[ctx.AuthInfo]
	if !ok || auth == nil {
		return nil, fmt.Errorf("kubeconfig: user %q not found", ctx.AuthInfo)
	}
	p := &Parsed{ClusterName: ctx.Cluster, Server: cl.Server, User: ctx.AuthInfo}
	if len(cl.CertificateAuthorityData) == 0 {
		return nil, fmt.Errorf("kubeconfig: cluster %q has no embedded certificate-authority-data", ctx.Cluster)
	}
	if p.CAs, err = pki.ParseCerts(cl.CertificateAuthorityData); err != nil {
		return nil, fmt.Errorf("kubeconfig: certificate-authority-data: %w", err)
	}
	switch {
	case auth.Token != "":
		p.Credentials.Token = auth.Token
	case len(auth.ClientCertificateData) > 0:
		if p.Credentials.Cert, err = pki.ParseCert(auth.ClientCertificateData); err != nil {
			return nil, fmt.Errorf("kubeconfig: client-certificate-data: %w", err)
		}
		p.CertPEM = auth.ClientCertificateData
		if len(auth.ClientKeyData) == 0 {
			return nil, fmt.Errorf("kubeconfig: user %q has no client-key-data", ctx.AuthInfo)
		}
		if p.Credentials.Key, err = pki.ParsePrivateKey(auth.ClientKeyData); err != nil {
			return nil, fmt.Errorf("kubeconfig: client-key-data: %w", err)
		}
	case auth.ClientCertificate != "" || auth.ClientKey != "" || auth.TokenFile != "":
		return nil, fmt.Errorf("kubeconfig: user %q refers to files; bulwark reads embedded credentials only", ctx.AuthInfo)
	default:
		return nil, fmt.Errorf("kubeconfig: user %q has no client certificate or token", ctx.AuthInfo)
	}
	return p, nil
}

// Certificates returns every certificate embedded in a kubeconfig, by
// where it sits, for expiry reports. Unlike Parse it reads every cluster
// and user, not just the current context, and needs no private key.
func Certificates(data []byte) (map[string]*x509.Certificate, error) {
	if len(data) > maxSize {
		return nil, fmt.Errorf("kubeconfig larger than %d bytes", maxSize)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, errors.New("not a valid kubeconfig")
	}
	out := map[string]*x509.Certificate{}
	for name, cl := range cfg.Clusters {
		if len(cl.CertificateAuthorityData) == 0 {
			continue
		}
		certs, err := pki.ParseCerts(cl.CertificateAuthorityData)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: cluster %q: %w", name, err)
		}
		for i, c := range certs {
			key := "cluster " + name + " CA"
			if len(certs) > 1 {
				key = fmt.Sprintf("%s #%d", key, i+1)
			}
			out[key] = c
		}
	}
	for name, a := range cfg.AuthInfos {
		if len(a.ClientCertificateData) == 0 {
			continue
		}
		c, err := pki.ParseCert(a.ClientCertificateData)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: user %q: %w", name, err)
		}
		out["user "+name] = c
	}
	return out, nil
}

// WithServer returns a copy of a kubeconfig pointed at another server,
// for tests and for moving a cluster behind a new endpoint.
func WithServer(data []byte, server string) ([]byte, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, errors.New("not a valid kubeconfig")
	}
	for _, cl := range cfg.Clusters {
		cl.Server = server
	}
	return clientcmd.Write(*cfg)
}

// Edit rewrites a kubeconfig in place: every cluster's embedded CAs through
// cas, every user's embedded client certificate and key through client
// (which returns them unchanged, or new ones). Everything else is kept as
// it was. It reports whether anything changed. A rotation uses it: trust
// files grow and shrink, client certificates are reissued under a new CA.
func Edit(data []byte, cas func(cluster string, certs []*x509.Certificate) []*x509.Certificate,
	client func(user string, cert *x509.Certificate, key crypto.Signer) (*x509.Certificate, crypto.Signer, error)) ([]byte, bool, error) {
	if len(data) > maxSize {
		return nil, false, fmt.Errorf("kubeconfig larger than %d bytes", maxSize)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, false, errors.New("not a valid kubeconfig")
	}
	changed := false
	for _, name := range sortedKeys(cfg.Clusters) {
		cl := cfg.Clusters[name]
		if cl == nil || len(cl.CertificateAuthorityData) == 0 || cas == nil {
			continue
		}
		certs, err := pki.ParseCerts(cl.CertificateAuthorityData)
		if err != nil {
			return nil, false, fmt.Errorf("kubeconfig: cluster %q: %w", name, err)
		}
		var bundle []byte
		for _, c := range cas(name, certs) {
			bundle = append(bundle, pki.MarshalCert(c)...)
		}
		if string(bundle) != string(cl.CertificateAuthorityData) {
			cl.CertificateAuthorityData, changed = bundle, true
		}
	}
	for _, name := range sortedKeys(cfg.AuthInfos) {
		a := cfg.AuthInfos[name]
		if a == nil || len(a.ClientCertificateData) == 0 || client == nil {
			continue
		}
		cert, err := pki.ParseCert(a.ClientCertificateData)
		if err != nil {
			return nil, false, fmt.Errorf("kubeconfig: user %q: %w", name, err)
		}
		key, err := pki.ParsePrivateKey(a.ClientKeyData)
		if err != nil {
			return nil, false, fmt.Errorf("kubeconfig: user %q: client-key-data: %w", name, err)
		}
		nc, nk, err := client(name, cert, key)
		if err != nil {
			return nil, false, err
		}
		if nc != cert {
			a.ClientCertificateData, changed = pki.MarshalCert(nc), true
		}
		if nk != key {
			if a.ClientKeyData, err = pki.MarshalPrivateKey(nk); err != nil {
				return nil, false, err
			}
			changed = true
		}
	}
	if !changed {
		return data, false, nil
	}
	out, err := clientcmd.Write(*cfg)
	return out, true, err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
