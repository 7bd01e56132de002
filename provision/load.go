package provision

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/store"
)

// ServiceAccountName is how commands name the service-account key pair
// (pki/sa.key, pki/sa.pub), e.g. `bulwark certs renew sa --new-key`.
const ServiceAccountName = "sa"

// fileErr is why an existing file cannot be used: it cannot be read, or
// does not parse. It becomes a Problem; any other error ends the run.
type fileErr struct {
	code   Code
	reason string
	cause  error // the I/O or parse error behind it, if any
}

func (e *fileErr) Error() string { return e.reason }

// Unwrap is the cause, for errors.Is (fs.ErrPermission, ...).
func (e *fileErr) Unwrap() error { return e.cause }

// firstFatal returns the first error that is not a *fileErr.
func firstFatal(errs ...error) error {
	for _, err := range errs {
		var fe *fileErr
		if err != nil && !errors.As(err, &fe) {
			return err
		}
	}
	return nil
}

// problemCode is a *fileErr's code: unreadable, or else the given one.
func problemCode(err error, corrupt Code) Code {
	var fe *fileErr
	if errors.As(err, &fe) && fe.code == CodeUnreadable {
		return CodeUnreadable
	}
	return corrupt
}

// fixFor is the fix of a *fileErr: none for a file that cannot be read
// (no command can give bulwark the right to read it).
func fixFor(err error, fix string) string {
	if problemCode(err, "") == CodeUnreadable {
		return ""
	}
	return fix
}

// reasonOf is a *fileErr's reason.
func reasonOf(err error) string {
	var fe *fileErr
	if errors.As(err, &fe) {
		return fe.reason
	}
	return err.Error()
}

// readFile reads a file if present: (nil, nil) when missing; a *fileErr
// when it cannot be read; a symbolic link or a non-regular file is the
// store's *UnsafeError.
func readFile(d *store.Dir, file string, secret bool) ([]byte, error) {
	ok, err := d.Exists(file)
	if err != nil || !ok {
		return nil, err
	}
	var data []byte
	if secret {
		data, err = d.ReadSecret(file)
	} else {
		data, err = d.Read(file)
	}
	if err != nil {
		if errors.Is(err, store.ErrUnsafe) {
			return nil, err
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &fileErr{code: CodeUnreadable, reason: "cannot be read: " + err.Error(), cause: err}
	}
	return data, nil
}

// readKey reads a private key if present: (nil, nil) when missing.
func readKey(d *store.Dir, file string) (crypto.Signer, error) {
	data, err := readFile(d, file, true)
	if err != nil || data == nil {
		return nil, err
	}
	key, err := pki.ParsePrivateKey(data)
	if err != nil {
		return nil, &fileErr{code: CodeCorruptKey, reason: "is not a valid PEM private key"}
	}
	return key, nil
}

// readCerts reads every certificate of a file if present: (nil, nil)
// when missing. A CA's trust file holds two during a rotation.
func readCerts(d *store.Dir, file string) ([]*x509.Certificate, error) {
	data, err := readFile(d, file, false)
	if err != nil || data == nil {
		return nil, err
	}
	certs, err := pki.ParseCerts(data)
	if err != nil {
		return nil, &fileErr{code: CodeCorruptCert, reason: "is not a valid PEM certificate"}
	}
	return certs, nil
}

// readCert reads a certificate if present: (nil, nil) when missing.
func readCert(d *store.Dir, file string) (*x509.Certificate, error) {
	data, err := readFile(d, file, false)
	if err != nil || data == nil {
		return nil, err
	}
	cert, err := pki.ParseCert(data)
	if err != nil {
		return nil, &fileErr{code: CodeCorruptCert, reason: "is not a valid PEM certificate"}
	}
	return cert, nil
}

// checkLeaf checks an existing leaf certificate against what the plan wants.
func checkLeaf(file string, cert *x509.Certificate, key crypto.Signer, ca *loadedCA, req pki.Request, now time.Time, fix string) *Problem {
	if key != nil && !pki.KeyMatches(cert, key) {
		return &Problem{Code: CodeKeyMismatch, File: file, Reason: "does not match its private key", Fix: fix}
	}
	if !ca.signedByAny(cert) {
		return &Problem{Code: CodeWrongIssuer, File: file, Reason: fmt.Sprintf("is not signed by %s", ca.spec.CertFile()), Fix: fix}
	}
	if !now.Before(cert.NotAfter) {
		return &Problem{Code: CodeExpired, File: file, Reason: "expired on " + cert.NotAfter.UTC().Format(time.RFC3339), Fix: fix}
	}
	if cert.Subject.CommonName != req.CommonName {
		return &Problem{Code: CodeIdentity, File: file, Reason: fmt.Sprintf("has CN %q, want %q", cert.Subject.CommonName, req.CommonName), Fix: fix}
	}
	if !sameSet(cert.Subject.Organization, req.Organizations) {
		return &Problem{Code: CodeIdentity, File: file, Reason: fmt.Sprintf("has O %q, want %q", cert.Subject.Organization, req.Organizations), Fix: fix}
	}
	if !sameSet(usageNames(pki.UsagesOf(cert)), usageNames(req.Usages)) {
		return &Problem{Code: CodeIdentity, File: file, Reason: fmt.Sprintf("has usages %v, want %v", pki.UsagesOf(cert), req.Usages), Fix: fix}
	}
	if missing := missingSANs(cert, req.Subject); len(missing) > 0 {
		return &Problem{Code: CodeSANs, File: file, Reason: "does not cover " + strings.Join(missing, ", "), Fix: fix}
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
