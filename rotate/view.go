package rotate

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
)

// anchor is one entry of a trust file: a CA certificate, or (sa) a
// public key.
type anchor struct {
	fp   string
	cert *x509.Certificate // CAs
	pub  crypto.PublicKey
}

func certAnchor(c *x509.Certificate) *anchor {
	return &anchor{fp: Fingerprint(c.PublicKey), cert: c, pub: c.PublicKey}
}

func pubAnchor(p crypto.PublicKey) *anchor { return &anchor{fp: Fingerprint(p), pub: p} }

// leaf is a certificate that a root's old or new CA signed: a file under
// pki/ or a kubeconfig user's.
type leaf struct {
	file  string
	user  string // kubeconfig user; "" for a file under pki/
	cert  *x509.Certificate
	byNew bool
}

func (l leaf) String() string {
	if l.user != "" {
		return l.file + " (user " + l.user + ")"
	}
	return l.file
}

// kcTrust is a kubeconfig cluster entry that trusts the old or new CA.
type kcTrust struct {
	file, cluster string
	fps           []string // every CA of the entry, in order
}

// view is one root as the folder holds it.
type view struct {
	root string
	ca   *plan.CA // nil: the service-account key

	trustFile, keyFile, nextKeyFile, nextCertFile, signerFile string

	trust   []*anchor
	key     crypto.Signer
	nextKey crypto.Signer
	// pendingKey is a new key made by this run, not yet written.
	pendingKey crypto.Signer
	nextCert   *x509.Certificate
	signer     *x509.Certificate

	rec      *RootRecord // nil: not being rotated
	last     *RootRecord // the finished rotation, when not rotating
	old, new *anchor     // the key being replaced and its successor, when known

	leaves []leaf
	kcs    []kcTrust
	// kcCAs are every CA certificate the kubeconfigs embed, where find
	// looks for a CA a trust file no longer holds.
	kcCAs []*x509.Certificate
}

// step is the recorded step (None if never rotated).
func (v *view) step() Step {
	if v.rec == nil {
		return None
	}
	return v.rec.Step
}

func (v *view) isCA() bool { return v.ca != nil }

// what names the root's keys in messages.
func (v *view) what() string {
	if v.isCA() {
		return "CA"
	}
	return "key"
}

// loadView reads one root. It fails only when the files cannot be read
// or parsed; whether they agree with the record is check's business.
func (t *tree) loadView(root string) (*view, error) {
	v := &view{root: root}
	if ca, ok := t.p.CAOfRoot(root); ok {
		v.ca = &ca
		v.trustFile, v.keyFile = ca.CertFile(), ca.KeyFile()
		v.nextKeyFile, v.nextCertFile = layout.NextKeyFile(ca.Name), layout.NextCertFile(ca.Name)
		if ca.Signer {
			v.signerFile = ca.SignerCertFile()
		}
	} else if root == plan.RootServiceAccount {
		v.trustFile, v.keyFile = plan.ServiceAccountPubFile, plan.ServiceAccountKeyFile
		v.nextKeyFile = layout.NextKeyFile(plan.RootServiceAccount)
	} else {
		return nil, inputErr("unknown root %q (want one of %s)", root, strings.Join(t.p.Roots(), ", "))
	}
	var err error
	if v.key, err = t.readKey(v.keyFile); err != nil {
		return nil, err
	}
	if v.nextKey, err = t.readKey(v.nextKeyFile); err != nil {
		return nil, err
	}
	if v.isCA() {
		certs, err := t.readCerts(v.trustFile)
		if err != nil {
			return nil, err
		}
		for _, c := range certs {
			v.trust = append(v.trust, certAnchor(c))
		}
		if next, err := t.readCerts(v.nextCertFile); err != nil {
			return nil, err
		} else if len(next) > 0 {
			v.nextCert = next[0]
		}
		if v.signerFile != "" {
			if s, err := t.readCerts(v.signerFile); err != nil {
				return nil, err
			} else if len(s) > 0 {
				v.signer = s[0]
			}
		}
	} else {
		pubs, err := t.readPublicKeys(v.trustFile)
		if err != nil {
			return nil, err
		}
		for _, p := range pubs {
			v.trust = append(v.trust, pubAnchor(p))
		}
	}
	if len(v.trust) == 0 {
		return nil, &absentError{inputErr("%s: %s is missing: run `bulwark init` first", root, v.trustFile).(*InputError)}
	}
	if v.isCA() {
		for _, f := range t.kubeconfigFiles() {
			cas, _, err := kubeconfigCerts(t.kubeconfigs[f])
			if err != nil {
				continue
			}
			for _, name := range sortedNames(cas) {
				v.kcCAs = append(v.kcCAs, cas[name]...)
			}
		}
	}
	v.rec = t.rec.Roots[root]
	v.identify()
	if v.isCA() {
		v.findLeaves(t)
	}
	if r := v.rec; r != nil && r.Step == Finish && v.new != nil && len(v.pending(Finish)) == 0 {
		// Finished: the root is as one never rotated, with its new key.
		v.last, v.rec = r, nil
		v.leaves, v.kcs = nil, nil
		v.identify()
		if v.isCA() {
			v.findLeaves(t)
		}
	}
	return v, nil
}

// identify finds the old and the new key: from the record during a
// rotation, else the trust file's signing entry (old) and no new one.
func (v *view) identify() {
	if v.rec == nil {
		v.old, v.new = v.signing(), nil
		return
	}
	v.old, v.new = v.find(v.rec.Old), v.find(v.rec.New)
}

// signing is the trust file's entry that matches the key (the first when
// there is no key).
func (v *view) signing() *anchor {
	if v.key != nil {
		fp := Fingerprint(v.key.Public())
		for _, a := range v.trust {
			if a.fp == fp {
				return a
			}
		}
	}
	return v.trust[0]
}

// find looks for a key by fingerprint wherever the folder may hold it.
func (v *view) find(fp string) *anchor {
	for _, a := range v.trust {
		if a.fp == fp {
			return a
		}
	}
	if v.nextCert != nil && Fingerprint(v.nextCert.PublicKey) == fp {
		return certAnchor(v.nextCert)
	}
	if v.signer != nil && Fingerprint(v.signer.PublicKey) == fp {
		return certAnchor(v.signer)
	}
	for _, c := range v.kcCAs {
		if c.IsCA && Fingerprint(c.PublicKey) == fp {
			return certAnchor(c)
		}
	}
	for _, k := range []crypto.Signer{v.nextKey, v.key} {
		if k != nil && Fingerprint(k.Public()) == fp {
			// A key whose certificate is not (yet) anywhere: a trust step
			// killed before it, or the service-account key.
			return &anchor{fp: fp, pub: k.Public()}
		}
	}
	return nil
}

// findLeaves collects the certificates the old or new CA signed.
func (v *view) findLeaves(t *tree) {
	signedBy := func(c *x509.Certificate) (bool, bool) {
		switch {
		case v.old != nil && v.old.cert != nil && pki.SignedBy(c, v.old.cert):
			return true, false
		case v.new != nil && v.new.cert != nil && pki.SignedBy(c, v.new.cert):
			return true, true
		}
		return false, false
	}
	for _, f := range t.leafFiles() {
		if ok, byNew := signedBy(t.certs[f][0]); ok {
			v.leaves = append(v.leaves, leaf{file: f, cert: t.certs[f][0], byNew: byNew})
		}
	}
	for _, f := range t.kubeconfigFiles() {
		cas, users, err := kubeconfigCerts(t.kubeconfigs[f])
		if err != nil {
			continue
		}
		for _, name := range sortedNames(users) {
			if ok, byNew := signedBy(users[name]); ok {
				v.leaves = append(v.leaves, leaf{file: f, user: name, cert: users[name], byNew: byNew})
			}
		}
		for _, name := range sortedNames(cas) {
			kt := kcTrust{file: f, cluster: name}
			ours := false
			for _, c := range cas[name] {
				fp := Fingerprint(c.PublicKey)
				kt.fps = append(kt.fps, fp)
				ours = ours || (v.old != nil && fp == v.old.fp) || (v.new != nil && fp == v.new.fp)
			}
			if ours {
				v.kcs = append(v.kcs, kt)
			}
		}
	}
}

func sortedNames[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// trustTarget is what the trust file (and a kubeconfig's CAs of this root)
// holds once step s is complete, as fingerprints in order.
func (v *view) trustTarget(s Step) []string {
	switch s {
	case Trust, Reissue:
		return []string{v.old.fp, v.new.fp}
	case Finish:
		return []string{v.new.fp}
	}
	return []string{v.old.fp}
}

// signerAt is which key signs once step s is complete.
func (v *view) signerAt(s Step) *anchor {
	if s == Reissue || s == Finish {
		return v.new
	}
	return v.old
}

// ours keeps the fingerprints of this root's old and new keys.
func (v *view) ours(fps []string) []string {
	var out []string
	for _, fp := range fps {
		if (v.old != nil && fp == v.old.fp) || (v.new != nil && fp == v.new.fp) {
			out = append(out, fp)
		}
	}
	return out
}

// state says, for each file of the root, whether it is as step s leaves
// it. pending lists the files that are not; it is empty when s is
// complete.
func (v *view) pending(s Step) []string {
	var out []string
	add := func(ok bool, file string) {
		if !ok && !slices.Contains(out, file) {
			out = append(out, file)
		}
	}
	target := v.trustTarget(s)
	add(slices.Equal(fps(v.trust), target), v.trustFile)
	signs := v.signerAt(s)
	if v.key != nil || s == Reissue || s == Finish {
		add(v.key != nil && Fingerprint(v.key.Public()) == signs.fp, v.keyFile)
	}
	if s == Trust {
		add(v.nextKey != nil && Fingerprint(v.nextKey.Public()) == v.new.fp, v.nextKeyFile)
		if v.isCA() {
			add(v.nextCert != nil && Fingerprint(v.nextCert.PublicKey) == v.new.fp, v.nextCertFile)
		}
	} else {
		add(v.nextKey == nil, v.nextKeyFile)
		if v.isCA() {
			add(v.nextCert == nil, v.nextCertFile)
		}
	}
	if v.signerFile != "" && s != None {
		add(v.signer != nil && Fingerprint(v.signer.PublicKey) == signs.fp && v.signer.IsCA, v.signerFile)
	}
	for _, l := range v.leaves {
		add(l.byNew == (s == Reissue || s == Finish), l.file)
	}
	for _, k := range v.kcs {
		add(slices.Equal(v.ours(k.fps), target), k.file)
	}
	return out
}

func fps(as []*anchor) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.fp
	}
	return out
}

// check compares the folder with the record: every file must be as the
// recorded step leaves it or as the step before left it. It returns the
// files still to change for the recorded step, or an InputError naming
// the first file that fits neither.
func (v *view) check() ([]string, error) {
	s := v.step()
	if s == None {
		return v.checkIdle()
	}
	if v.old == nil && s != Finish {
		return nil, disagree("%s: %s records %s %s %s as the old %s, which %s does not hold", v.root, layout.RotationFile,
			v.root, s, short(v.rec.Old), v.what(), v.trustFile)
	}
	if v.new == nil {
		if s == Trust && v.nextKey == nil {
			// A trust step killed after its record, before the new key:
			// nothing names the new key; the step makes another.
			if p := v.pending(None); len(p) > 0 {
				return nil, disagree("%s: %s records a trust step whose new %s is nowhere, but %s differs from the old %s alone",
					v.root, layout.RotationFile, v.what(), p[0], v.what())
			}
			return []string{v.nextKeyFile}, nil
		}
		return nil, disagree("%s: the new %s %s recorded in %s is in no file of the folder (%s is missing?)",
			v.root, v.what(), short(v.rec.New), layout.RotationFile, v.nextKeyFile)
	}
	if s == Reissue || s == Finish {
		// The new key must be there to sign with.
		have := (v.key != nil && Fingerprint(v.key.Public()) == v.new.fp) || (v.nextKey != nil && Fingerprint(v.nextKey.Public()) == v.new.fp)
		if !have {
			return nil, disagree("%s: the new %s's key is neither %s nor %s", v.root, v.what(), v.keyFile, v.nextKeyFile)
		}
	}
	if s == Trust && v.nextKey != nil && Fingerprint(v.nextKey.Public()) != v.new.fp {
		return nil, disagree("%s: %s is not the new %s %s recorded in %s", v.root, v.nextKeyFile, v.what(), short(v.new.fp), layout.RotationFile)
	}
	if s == Trust && v.nextKey == nil && v.new != nil && v.new.fp != "" {
		if v.key == nil || Fingerprint(v.key.Public()) != v.new.fp {
			return nil, disagree("%s: %s trusts the new %s %s, whose key %s is missing", v.root, v.trustFile, v.what(), short(v.new.fp), v.nextKeyFile)
		}
	}
	if v.old != nil {
		for _, a := range v.trust {
			if a.fp != v.old.fp && a.fp != v.new.fp {
				return nil, disagree("%s: %s holds %s, neither the old nor the new %s recorded in %s", v.root, v.trustFile, short(a.fp), v.what(), layout.RotationFile)
			}
		}
	}
	now := v.pending(s)
	if len(now) == 0 {
		return nil, nil
	}
	if v.old == nil {
		// A finish whose old CA is gone from every file but some file is
		// still not as finish leaves it.
		return now, nil
	}
	before := v.pending(s.prev())
	for _, f := range now {
		if slices.Contains(before, f) {
			return nil, disagree("%s: %s is neither as %s leaves it nor as %s left it (%s records %s)", v.root, f,
				s, s.prev(), layout.RotationFile, s)
		}
	}
	return now, nil
}

// checkIdle checks a root that is not being rotated: one key, that signs,
// in its trust file.
func (v *view) checkIdle() ([]string, error) {
	if len(v.trust) != 1 {
		return nil, disagree("%s: %s holds %d %ss but %s records no rotation of %s in progress", v.root, v.trustFile,
			len(v.trust), v.what(), layout.RotationFile, v.root)
	}
	if v.key != nil && Fingerprint(v.key.Public()) != v.trust[0].fp {
		return nil, disagree("%s: %s does not match %s", v.root, v.keyFile, v.trustFile)
	}
	if v.nextKey != nil {
		return nil, disagree("%s: %s exists but %s records no trust step of %s", v.root, v.nextKeyFile, layout.RotationFile, v.root)
	}
	return nil, nil
}

// describe is a short description of an anchor for reports.
func (a *anchor) describe() string {
	if a == nil {
		return "-"
	}
	if a.cert != nil {
		return fmt.Sprintf("%s (CN %s, until %s)", short(a.fp), a.cert.Subject.CommonName, a.cert.NotAfter.UTC().Format("2006-01-02"))
	}
	return short(a.fp)
}

// absentError: the folder has no trust file for the root (kubeadm's
// folders have no etcd peer CA: their peers trust etcd-ca).
type absentError struct{ *InputError }
