package admins

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/ssh"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/sshsig"
)

const kindRequest = "AdminRequest"

// Freshness of a request: signed at most MaxRequestAge ago, and not more
// than RequestSkew in the future.
const (
	MaxRequestAge = 24 * time.Hour
	RequestSkew   = 5 * time.Minute
	// maxRequestSize caps a request file.
	maxRequestSize = 64 << 10
)

// Request is what a new (or returning) administrator sends to be issued a
// certificate: a CSR for a key that never leaves their machine, signed
// with their SSH key.
type Request struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Name       string    `json:"name"`
	Key        string    `json:"key"`
	Created    time.Time `json:"created"`
	CSR        string    `json:"csr"`
}

// ErrRequest is wrapped by every refusal of a request.
var ErrRequest = errors.New("request refused")

// NewRequest makes a client key and a CSR for the administrator name (the
// CSR asks for groups, if any) and signs the request with signer (the
// administrator's SSH key, from a file or an ssh-agent). It returns the
// request file and the client key (PEM), which stays with the requester.
func NewRequest(name string, groups []string, signer ssh.Signer, now time.Time, random io.Reader) (request, key []byte, err error) {
	if err := ValidateName(name); err != nil {
		return nil, nil, err
	}
	for _, g := range groups {
		if err := checkGroupName(g); err != nil {
			return nil, nil, err
		}
	}
	pub, err := atrest.FromSSH(signer.PublicKey())
	if err != nil {
		return nil, nil, err
	}
	k, err := pki.GenerateKey(pki.ECDSAP256, random)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(random, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: UserName(name), Organization: groups},
	}, k)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to make the CSR: %w", err)
	}
	r := Request{APIVersion: apiVersion, Kind: kindRequest, Name: name, Key: pub.Key,
		Created: now.UTC().Truncate(time.Second), CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}
	body, err := yaml.Marshal(r)
	if err != nil {
		return nil, nil, err
	}
	sig, err := sshsig.Sign(signer, NamespaceRequest, body)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := pki.MarshalPrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return append(body, sig...), keyPEM, nil
}

// verifiedRequest is a request whose signature, key and CSR check out.
type verifiedRequest struct {
	Request
	csr    *x509.CertificateRequest
	groups []string
	digest string
	pub    crypto.PublicKey
}

// verifyRequest checks a request against the manifest: the name is an
// enrolled administrator, the request is signed by that administrator's
// enrolled key (not by whatever key it carries), fresh, and its CSR is
// well-formed, self-signed and for that administrator's user.
func verifyRequest(data []byte, m *Manifest, now time.Time) (*verifiedRequest, error) {
	if len(data) > maxRequestSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrRequest, maxRequestSize)
	}
	i := bytes.Index(data, []byte(sigBegin))
	if i < 0 {
		return nil, fmt.Errorf("%w: not signed (make it with `bulwark admin request`)", ErrRequest)
	}
	body, sig := data[:i], data[i:]
	var r Request
	if err := yaml.UnmarshalStrict(body, &r); err != nil || r.Kind != kindRequest || r.APIVersion != apiVersion {
		return nil, fmt.Errorf("%w: not a %s %s", ErrRequest, apiVersion, kindRequest)
	}
	h, ok := m.Holder(r.Name)
	if !ok || h.Role != RoleAdmin {
		return nil, fmt.Errorf("%w: %q is not an enrolled administrator (enrol them with `bulwark admin add`)", ErrRequest, r.Name)
	}
	signer, err := sshsig.Verify(sig, NamespaceRequest, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRequest, err)
	}
	enrolled, _, err := atrest.ParseRecipient(h.Key)
	if err != nil {
		return nil, err
	}
	if !enrolled.Is(signer) {
		return nil, fmt.Errorf("%w: signed by %s, not by %q's enrolled key %s", ErrRequest, ssh.FingerprintSHA256(signer), r.Name, enrolled.Fingerprint())
	}
	if r.Key != h.Key {
		return nil, fmt.Errorf("%w: names a key that is not %q's enrolled one", ErrRequest, r.Name)
	}
	switch {
	case r.Created.After(now.Add(RequestSkew)):
		return nil, fmt.Errorf("%w: made in the future (%s); check the clocks", ErrRequest, r.Created.Format(time.RFC3339))
	case now.Sub(r.Created) > MaxRequestAge:
		return nil, fmt.Errorf("%w: expired: made %s, more than %s ago; make a new one with `bulwark admin request`", ErrRequest, r.Created.Format(time.RFC3339), MaxRequestAge)
	}
	block, rest := pem.Decode([]byte(r.CSR))
	if block == nil || block.Type != "CERTIFICATE REQUEST" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: the CSR is not one PEM CERTIFICATE REQUEST", ErrRequest)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed CSR", ErrRequest)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: the CSR's own signature does not verify", ErrRequest)
	}
	if csr.Subject.CommonName != UserName(r.Name) {
		return nil, fmt.Errorf("%w: the CSR is for %q, not %q", ErrRequest, csr.Subject.CommonName, UserName(r.Name))
	}
	if len(csr.DNSNames)+len(csr.IPAddresses)+len(csr.EmailAddresses)+len(csr.URIs) != 0 {
		return nil, fmt.Errorf("%w: a client certificate request carries no alternative names", ErrRequest)
	}
	if pki.AlgorithmOf(csr.PublicKey) == "" {
		return nil, fmt.Errorf("%w: the CSR's key is not one bulwark issues for (ECDSA P-256/P-384, RSA 2048/3072/4096)", ErrRequest)
	}
	return &verifiedRequest{Request: r, csr: csr, groups: csr.Subject.Organization, digest: digest(data), pub: csr.PublicKey}, nil
}

// RequestName is the administrator name a request says it is for, read
// without checking anything else (Sign verifies it): where its
// certificate will be written.
func RequestName(data []byte) (string, error) {
	i := bytes.Index(data, []byte(sigBegin))
	if i < 0 {
		return "", fmt.Errorf("%w: not signed", ErrRequest)
	}
	var r Request
	if err := yaml.UnmarshalStrict(data[:i], &r); err != nil || r.Kind != kindRequest {
		return "", fmt.Errorf("%w: not a %s", ErrRequest, kindRequest)
	}
	if err := ValidateName(r.Name); err != nil {
		return "", fmt.Errorf("%w: %v", ErrRequest, err)
	}
	return r.Name, nil
}
