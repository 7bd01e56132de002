package trust

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"github.com/bulwark-k8s/bulwark/pki"
)

// The rules Refusals applies are Check's (Rules), by the same IDs: what
// init refuses, audit names.
const (
	ruleWeakKey       = WeakKey
	ruleWeakSignature = WeakSignature
	ruleCANotCA       = CANotCA
	ruleCAPathLength  = CAPathLength
	ruleCARole        = CARole
	ruleExtraCA       = ExtraCA
	ruleSharedCA      = SharedCA
	ruleLeafIsCA      = LeafIsCA
	ruleWildcardSAN   = WildcardSAN
	ruleKeyReuse      = KeyReuse
	ruleCAKeyReused   = CAKeyMisplaced
)

// RootCA is one of the plan's CAs as found in a folder.
type RootCA struct {
	// Name is the plan's name (ca, etcd/ca…); File its certificate's path.
	Name, File string
	// CN is the common name its role has in the plan.
	CN   string
	Cert *x509.Certificate // nil: absent
	// Extra are the file's certificates beyond the first, and Rotating
	// the keys a recorded rotation allows there (Input.Rotating).
	Extra    []*x509.Certificate
	Rotating []crypto.PublicKey
}

// Held is a certificate a folder holds for a role: a leaf's file, a
// kubeconfig's client certificate.
type Held struct {
	Name, File string
	Cert       *x509.Certificate
}

// HeldKey is a private key a folder holds: the service-account key, or a
// leaf's key file (For names its certificate's file, which may share it).
type HeldKey struct {
	Name, File string
	For        string
	Pub        crypto.PublicKey
}

// RootsInput is what Refusals judges: everything parsed, nothing read.
type RootsInput struct {
	CAs   []RootCA
	Certs []Held
	Keys  []HeldKey
}

// Refusal is one reason a folder's trust cannot be used as it is: bulwark
// init refuses the folder, naming the renewal that fixes it.
type Refusal struct {
	Rule   string
	Name   string // the plan's name of the CA, certificate or key at fault
	File   string
	Detail string
	// NewKey: only a new key fixes it (weak, shared or reused); otherwise
	// a certificate issued again for the same key does.
	NewKey bool
	// CA: the fault is a CA's (a new key for it is a rotation).
	CA bool
}

// Refusals judges a folder's trust roots and the certificates and keys
// that hang off them, for what bulwark init must not build on: a CA that
// is not a CA (basic constraints, keyCertSign, path length 0) or not the
// role its file says (a swapped CA), two CAs on one key (a copied or
// shared CA), a weak key (RSA below 2048 bits, elliptic curves below 256)
// or signature (SHA-1, MD5), a leaf that is a CA or names a wildcard or
// every address, two certificates on one key, a CA's key reused by a
// leaf. It is pure: nothing is read from disk or the clock.
func Refusals(in RootsInput) []Refusal {
	var out []Refusal
	add := func(r Refusal) { out = append(out, r) }
	seenCA := map[string]RootCA{}
	var caOrder []RootCA
	for _, ca := range in.CAs {
		c := ca.Cert
		if c == nil {
			continue
		}
		if why := WeakKeyReason(c.PublicKey); why != "" {
			add(Refusal{Rule: ruleWeakKey, Name: ca.Name, File: ca.File, CA: true, NewKey: true, Detail: "its key is weak (" + why + ")"})
		}
		if weakSignature(c.SignatureAlgorithm) {
			add(Refusal{Rule: ruleWeakSignature, Name: ca.Name, File: ca.File, CA: true, Detail: "it is signed with " + c.SignatureAlgorithm.String()})
		}
		if extra := ExtraCAs(append([]*x509.Certificate{c}, ca.Extra...), ca.Rotating); len(extra) > 0 {
			add(Refusal{Rule: ruleExtraCA, Name: ca.Name, File: ca.File, CA: true, Detail: "it holds " + describeExtra(extra) + ": each would be trusted as this channel's CA"})
		}
		switch {
		case !c.BasicConstraintsValid || !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0:
			add(Refusal{Rule: ruleCANotCA, Name: ca.Name, File: ca.File, CA: true,
				Detail: fmt.Sprintf("it is not marked as a CA (basicConstraints CA:%t, keyCertSign %t)", c.BasicConstraintsValid && c.IsCA, c.KeyUsage&x509.KeyUsageCertSign != 0)})
		case c.MaxPathLen != 0 || !c.MaxPathLenZero:
			add(Refusal{Rule: ruleCAPathLength, Name: ca.Name, File: ca.File, CA: true, Detail: "it may sign other CAs (no path length 0)"})
		}
		if ca.CN != "" && c.Subject.CommonName != ca.CN {
			detail := fmt.Sprintf("it is CA %q where %q belongs", c.Subject.CommonName, ca.CN)
			for _, other := range in.CAs {
				if other.CN == c.Subject.CommonName && other.Name != ca.Name {
					detail += " (swapped with or copied from " + other.File + "?)"
				}
			}
			add(Refusal{Rule: ruleCARole, Name: ca.Name, File: ca.File, CA: true, Detail: detail})
		}
		for _, prev := range caOrder {
			if pki.PublicKeysEqual(prev.Cert.PublicKey, c.PublicKey) {
				add(Refusal{Rule: ruleSharedCA, Name: ca.Name, File: ca.File, CA: true, NewKey: true,
					Detail: "it holds the same key as " + prev.File + ": a certificate for one channel would open the other"})
			}
		}
		seenCA[ca.Name] = ca
		caOrder = append(caOrder, ca)
	}
	type holder struct {
		name, file string
		cert       *x509.Certificate
	}
	var held []holder
	for _, h := range in.Certs {
		c := h.Cert
		if c == nil {
			continue
		}
		if why := WeakKeyReason(c.PublicKey); why != "" {
			add(Refusal{Rule: ruleWeakKey, Name: h.Name, File: h.File, NewKey: true, Detail: "its key is weak (" + why + ")"})
		}
		if weakSignature(c.SignatureAlgorithm) {
			add(Refusal{Rule: ruleWeakSignature, Name: h.Name, File: h.File, Detail: "it is signed with " + c.SignatureAlgorithm.String()})
		}
		if c.IsCA {
			add(Refusal{Rule: ruleLeafIsCA, Name: h.Name, File: h.File, Detail: "it is a CA (basicConstraints CA:TRUE): its key could sign certificates"})
		}
		if bad := broadNames(c); len(bad) > 0 {
			add(Refusal{Rule: ruleWildcardSAN, Name: h.Name, File: h.File, Detail: "it names " + strings.Join(bad, ", ") + ", valid for hosts it does not serve"})
		}
		reused := false
		for _, ca := range caOrder {
			if pki.PublicKeysEqual(ca.Cert.PublicKey, c.PublicKey) {
				add(Refusal{Rule: ruleCAKeyReused, Name: h.Name, File: h.File, NewKey: true, Detail: "its key is " + ca.File + "'s"})
				reused = true
			}
		}
		for _, o := range held {
			if !reused && pki.PublicKeysEqual(o.cert.PublicKey, c.PublicKey) && !o.cert.Equal(c) {
				add(Refusal{Rule: ruleKeyReuse, Name: h.Name, File: h.File, NewKey: true, Detail: "it is on the same key as " + o.file})
				break
			}
		}
		held = append(held, holder{h.Name, h.File, c})
	}
	for _, k := range in.Keys {
		if k.Pub == nil {
			continue
		}
		if why := WeakKeyReason(k.Pub); why != "" && k.For == "" {
			add(Refusal{Rule: ruleWeakKey, Name: k.Name, File: k.File, NewKey: true, Detail: "it is weak (" + why + ")"})
		}
		for _, ca := range caOrder {
			if pki.PublicKeysEqual(ca.Cert.PublicKey, k.Pub) {
				add(Refusal{Rule: ruleCAKeyReused, Name: k.Name, File: k.File, NewKey: true, Detail: "it is " + ca.File + "'s key"})
			}
		}
		for _, o := range held {
			if o.file != k.For && pki.PublicKeysEqual(o.cert.PublicKey, k.Pub) {
				add(Refusal{Rule: ruleKeyReuse, Name: k.Name, File: k.File, NewKey: true, Detail: "it is the key of " + o.file})
				break
			}
		}
	}
	return out
}

// broadNames are a certificate's wildcard names and catch-all addresses.
func broadNames(c *x509.Certificate) []string {
	var out []string
	for _, n := range c.DNSNames {
		if strings.Contains(n, "*") {
			out = append(out, n)
		}
	}
	for _, ip := range c.IPAddresses {
		if slices.ContainsFunc(wildcardIP, ip.Equal) {
			out = append(out, ip.String())
		}
	}
	return out
}
