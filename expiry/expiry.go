// Package expiry reports when every certificate of a cluster folder ends:
// the PKI's certificates and those embedded in kubeconfigs. It reads
// bulwark's folders and kubeadm's alike.
package expiry

import (
	"crypto/x509"
	"fmt"
	"sort"
	"time"

	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/store"
)

// Status of one certificate.
type Status string

// Statuses, from good to bad.
const (
	OK       Status = "ok"
	Expiring Status = "expiring"
	Expired  Status = "expired"
	// Missing: a certificate the folder's configuration has, absent from
	// the folder (kubeadm's !MISSING!).
	Missing Status = "missing"
	Invalid Status = "invalid"
	// Stale: a CA still trusted that no rotation keeps there (the old CA
	// a finished rotation left behind); set by the caller, which knows the
	// folder's rotations.
	Stale Status = "stale"
)

// DefaultWarnWithin is how soon before its end a certificate is reported
// as expiring, unless a command is told otherwise.
const DefaultWarnWithin = 30 * 24 * time.Hour

// Judge is a certificate's status at now: expired from its NotAfter on,
// invalid before its NotBefore, expiring when it ends within warnWithin.
// Every command that reports expiry (certs, audit, the live audit) asks it.
func Judge(c *x509.Certificate, now time.Time, warnWithin time.Duration) Status {
	switch {
	case !now.Before(c.NotAfter):
		return Expired
	case now.Before(c.NotBefore):
		return Invalid
	case c.NotAfter.Sub(now) <= warnWithin:
		return Expiring
	}
	return OK
}

// Entry is one certificate.
type Entry struct {
	File    string `json:"file"`
	Where   string `json:"where,omitempty"` // inside a kubeconfig: which cluster or user
	Subject string `json:"subject,omitempty"`
	Issuer  string `json:"issuer,omitempty"`
	CA      bool   `json:"ca"`
	// NotAfter is when the certificate ends; nil (and absent from JSON)
	// when there is no certificate to read: missing or unreadable.
	NotAfter *time.Time `json:"notAfter,omitempty"`
	// Remaining is NotAfter less now: negative once expired.
	Remaining time.Duration `json:"-"`
	// RemainingSeconds is Remaining for JSON readers, negative once
	// expired; absent with NotAfter.
	RemainingSeconds *int64 `json:"remainingSeconds,omitempty"`
	Status           Status `json:"status"`
	Error            string `json:"error,omitempty"`
	// Key is the certificate's public key (pki.Fingerprint), to tell two
	// CAs of one trust file apart.
	Key string `json:"key,omitempty"`
	// Note says more: e.g. a CA's part in a rotation in progress.
	Note string `json:"note,omitempty"`
}

// Scan lists every certificate under pki/ and in the folder's top-level
// kubeconfigs, with its status at now: expiring when it ends within
// warnWithin. Each file of expected that is not there is listed as
// Missing.
func Scan(d *store.Dir, now time.Time, warnWithin time.Duration, expected ...string) ([]Entry, error) {
	files, err := d.Walk(".")
	if err != nil {
		return nil, fmt.Errorf("failed to list %s: %w", d.Root(), err)
	}
	var out []Entry
	present := map[string]bool{}
	for _, f := range files {
		present[f] = true
		switch {
		case layout.Classify(f) == layout.Certificate:
			out = append(out, certEntries(d, f, now, warnWithin)...)
		case layout.Classify(f) == layout.Kubeconfig:
			out = append(out, kubeconfigEntries(d, f, now, warnWithin)...)
		}
	}
	for _, f := range expected {
		if !present[f] {
			present[f] = true
			out = append(out, Entry{File: f, Status: Missing})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Where < out[j].Where
	})
	return out, nil
}

func certEntries(d *store.Dir, f string, now time.Time, warn time.Duration) []Entry {
	data, err := d.Read(f)
	if err != nil {
		return []Entry{{File: f, Status: Invalid, Error: "cannot be read"}}
	}
	certs, err := pki.ParseCerts(data)
	if err != nil {
		return []Entry{{File: f, Status: Invalid, Error: "not a valid PEM certificate"}}
	}
	var out []Entry
	for i, c := range certs {
		e := entry(f, c, now, warn)
		if len(certs) > 1 {
			e.Where = fmt.Sprintf("#%d", i+1)
		}
		out = append(out, e)
	}
	return out
}

func kubeconfigEntries(d *store.Dir, f string, now time.Time, warn time.Duration) []Entry {
	data, err := d.ReadSecret(f)
	if err != nil {
		return []Entry{{File: f, Status: Invalid, Error: "cannot be read"}}
	}
	certs, err := kubeconfig.Certificates(data)
	if err != nil {
		return []Entry{{File: f, Status: Invalid, Error: err.Error()}}
	}
	var out []Entry
	for where, c := range certs {
		e := entry(f, c, now, warn)
		e.Where = where
		out = append(out, e)
	}
	return out
}

func entry(f string, c *x509.Certificate, now time.Time, warn time.Duration) Entry {
	end := c.NotAfter.UTC()
	e := Entry{File: f, Subject: c.Subject.CommonName, Issuer: c.Issuer.CommonName, CA: c.IsCA, Key: pki.Fingerprint(c.PublicKey),
		NotAfter: &end, Remaining: c.NotAfter.Sub(now).Truncate(time.Second), Status: Judge(c, now, warn)}
	if e.Status == Invalid {
		e.Error = "not valid before " + c.NotBefore.UTC().Format(time.RFC3339)
	}
	secs := int64(e.Remaining / time.Second)
	e.RemainingSeconds = &secs
	return e
}

// Worst is the worst status among entries.
func Worst(es []Entry) Status {
	rank := map[Status]int{OK: 0, Expiring: 1, Stale: 2, Expired: 3, Missing: 4, Invalid: 5}
	w := OK
	for _, e := range es {
		if rank[e.Status] > rank[w] {
			w = e.Status
		}
	}
	return w
}
