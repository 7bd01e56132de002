package provision

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/store"
)

// readKey reads a private key if present: (nil, nil) when missing.
func readKey(d *store.Dir, file, fix string) (crypto.Signer, error) {
	ok, err := d.Exists(file)
	if err != nil || !ok {
		return nil, err
	}
	data, err := d.ReadSecret(file)
	if err != nil {
		return nil, &Problem{File: file, Reason: "cannot be read: " + err.Error(), Fix: fix}
	}
	key, err := pki.ParsePrivateKey(data)
	if err != nil {
		return nil, &Problem{File: file, Reason: "is not a valid PEM private key", Fix: fix}
	}
	return key, nil
}

// readCerts reads every certificate of a file if present: (nil, nil) when
// missing.
func readCerts(d *store.Dir, file, fix string) ([]*x509.Certificate, error) {
	ok, err := d.Exists(file)
	if err != nil || !ok {
		return nil, err
	}
	data, err := d.Read(file)
	if err != nil {
		return nil, &Problem{File: file, Reason: "cannot be read: " + err.Error(), Fix: fix}
	}
	certs, err := pki.ParseCerts(data)
	if err != nil {
		return nil, &Problem{File: file, Reason: "is not a valid PEM certificate", Fix: fix}
	}
	return certs, nil
}

// readCert reads a certificate if present: (nil, nil) when missing.
func readCert(d *store.Dir, file, fix string) (*x509.Certificate, error) {
	ok, err := d.Exists(file)
	if err != nil || !ok {
		return nil, err
	}
	data, err := d.Read(file)
	if err != nil {
		return nil, &Problem{File: file, Reason: "cannot be read: " + err.Error(), Fix: fix}
	}
	cert, err := pki.ParseCert(data)
	if err != nil {
		return nil, &Problem{File: file, Reason: "is not a valid PEM certificate", Fix: fix}
	}
	return cert, nil
}

// checkLeaf checks an existing leaf certificate against what the plan wants.
func checkLeaf(file string, cert *x509.Certificate, key crypto.Signer, ca *loadedCA, req pki.Request, now time.Time, fix string) error {
	if key != nil && !pki.KeyMatches(cert, key) {
		return &Problem{File: file, Reason: "does not match its private key", Fix: fix}
	}
	if !ca.signedByAny(cert) {
		return &Problem{File: file, Reason: fmt.Sprintf("is not signed by %s", ca.spec.CertFile()), Fix: fix}
	}
	if now.After(cert.NotAfter) {
		return &Problem{File: file, Reason: "expired on " + cert.NotAfter.UTC().Format(time.RFC3339), Fix: fix}
	}
	if cert.Subject.CommonName != req.CommonName {
		return &Problem{File: file, Reason: fmt.Sprintf("has CN %q, want %q", cert.Subject.CommonName, req.CommonName), Fix: fix}
	}
	if !sameSet(cert.Subject.Organization, req.Organizations) {
		return &Problem{File: file, Reason: fmt.Sprintf("has O %q, want %q", cert.Subject.Organization, req.Organizations), Fix: fix}
	}
	if !sameSet(usageNames(pki.UsagesOf(cert)), usageNames(req.Usages)) {
		return &Problem{File: file, Reason: fmt.Sprintf("has usages %v, want %v", pki.UsagesOf(cert), req.Usages), Fix: fix}
	}
	if missing := missingSANs(cert, req.Subject); len(missing) > 0 {
		return &Problem{File: file, Reason: "does not cover " + strings.Join(missing, ", "), Fix: fix}
	}
	return nil
}

// missingSANs lists the names a certificate should cover and does not.
func missingSANs(cert *x509.Certificate, want pki.Subject) []string {
	var missing []string
	for _, n := range want.DNSNames {
		if !slices.Contains(cert.DNSNames, n) {
			missing = append(missing, n)
		}
	}
	for _, ip := range want.IPs {
		if !slices.ContainsFunc(cert.IPAddresses, func(x net.IP) bool { return x.Equal(ip) }) {
			missing = append(missing, ip.String())
		}
	}
	return missing
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func usageNames(us []pki.Usage) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = string(u)
	}
	return out
}
