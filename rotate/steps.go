package rotate

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/store"
)

// Write stages of a step: the record before anything it describes, keys
// before the certificates that name them; then (provision's) the static
// Pods' links with the certificates and their manifests; removals last.
const (
	stageRecord = iota - 1
	stageKeys
	stageCerts
	stageManifests
	stageCleanup
)

// Change is one file a step wrote or removed.
type Change struct {
	File   string `json:"file"`
	Action string `json:"action"` // created, replaced, removed
	What   string `json:"what"`
}

// Actions of a Change.
const (
	Created  = "created"
	Replaced = "replaced"
	Removed  = "removed"
)

// work is what a step writes.
type work struct {
	t       *tree
	files   []store.File
	removes []string
	what    map[string]string
}

func (w *work) put(f store.File, what string) {
	for i := range w.files {
		if w.files[i].Rel == f.Rel {
			w.files[i] = f
			w.what[f.Rel] = what
			return
		}
	}
	w.files = append(w.files, f)
	w.what[f.Rel] = what
}

// exists reports whether a file of the folder is there now.
func (w *work) exists(rel string) bool { return slices.Contains(w.t.files, rel) }

func (w *work) write(rel string, data []byte, stage int, secret bool, what string) {
	w.put(store.File{Rel: rel, Data: data, Stage: stage, Secret: secret, Replace: w.exists(rel)}, what)
}

func (w *work) remove(rel string, what string) {
	if w.exists(rel) && !slices.Contains(w.removes, rel) {
		w.removes = append(w.removes, rel)
		w.what[rel] = what
	}
}

// batch is what the step writes and removes, as one batch's files.
func (w *work) batch() []store.File {
	out := slices.Clone(w.files)
	for _, r := range w.removes {
		out = append(out, store.File{Rel: r, Remove: true, Stage: stageCleanup})
	}
	return out
}

// pod notes a write of provision's refresh of the static Pods.
func (w *work) pod(f store.File) {
	var what string
	switch {
	case f.Remove:
		what = "a static Pod's link to a file it no longer reads"
		w.removes = append(w.removes, f.Rel)
		w.what[f.Rel] = what
		return
	case f.Link != "":
		what = "the static Pod's link to " + f.Link + ", made again: the running container reads the new file"
	case layout.Classify(f.Rel) == layout.Manifest:
		what = "rendered again with its inputs checksum"
	default:
		what = "rendered again"
	}
	w.files = append(w.files, f)
	w.what[f.Rel] = what
}

// changes lists what was written and removed, sorted by file.
func (w *work) changes() []Change {
	var out []Change
	for _, f := range w.files {
		a := Created
		if f.Replace {
			a = Replaced
		}
		out = append(out, Change{File: f.Rel, Action: a, What: w.what[f.Rel]})
	}
	for _, r := range w.removes {
		out = append(out, Change{File: r, Action: Removed, What: w.what[r]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// bring computes the writes that take the root to step s complete. It
// starts from a folder that check accepted for s (or for the step before,
// when s starts now).
func (v *view) bring(s Step, w *work, o Options, now time.Time) error {
	if s == Trust {
		if err := v.ensureNew(w, o, now); err != nil {
			return err
		}
	}
	newKey := v.newKey()
	if newKey == nil {
		return disagree("%s: the new %s's key is missing", v.root, v.what())
	}
	// The trust file.
	target := v.trustTarget(s)
	if !slices.Equal(fps(v.trust), target) {
		data, err := v.encodeTrust(target)
		if err != nil {
			return err
		}
		w.write(v.trustFile, data, stageCerts, false, trustWhat(s, v.what()))
	}
	// The next key and certificate, until the new key signs.
	if s == Trust {
		if v.nextKey == nil {
			data, err := pki.MarshalPrivateKey(newKey)
			if err != nil {
				return err
			}
			w.write(v.nextKeyFile, data, stageKeys, true, "the new "+v.what()+"'s key, kept here until it signs")
		}
		if v.isCA() && (v.nextCert == nil || Fingerprint(v.nextCert.PublicKey) != v.new.fp) {
			w.write(v.nextCertFile, pki.MarshalCert(v.new.cert), stageCerts, false, "the new CA, kept here until it signs")
		}
	} else {
		w.remove(v.nextKeyFile, "the new "+v.what()+"'s key is "+v.keyFile+" now")
		w.remove(v.nextCertFile, "the new CA is in "+v.trustFile+" now")
	}
	// The key that signs.
	signs := v.signerAt(s)
	if s != Trust && (v.key == nil || Fingerprint(v.key.Public()) != signs.fp) {
		data, err := pki.MarshalPrivateKey(newKey)
		if err != nil {
			return err
		}
		w.write(v.keyFile, data, stageKeys, true, "the new "+v.what()+"'s key: it signs from now on")
	}
	if v.signerFile != "" && (v.signer == nil || Fingerprint(v.signer.PublicKey) != signs.fp || !v.signer.IsCA) {
		if signs.cert == nil {
			return disagree("%s: the certificate of the %s that signs is in no file", v.root, v.what())
		}
		w.write(v.signerFile, pki.MarshalCert(signs.cert), stageCerts, false, "the signing CA alone, for the controller manager's CSR signers")
	}
	if !v.isCA() {
		return nil
	}
	// Leaves and kubeconfigs.
	reissue := s == Reissue || s == Finish
	kcEdits := map[string]bool{}
	for _, l := range v.leaves {
		if l.user != "" {
			kcEdits[l.file] = true
			continue
		}
		if reissue && !l.byNew {
			if err := v.reissueLeaf(w, l, newKey, o, now); err != nil {
				return err
			}
		}
	}
	for _, k := range v.kcs {
		if !slices.Equal(v.ours(k.fps), target) {
			kcEdits[k.file] = true
		}
	}
	for _, f := range sortedNames(kcEdits) {
		if err := v.editKubeconfig(w, f, target, reissue, newKey, o, now); err != nil {
			return err
		}
	}
	return nil
}

func trustWhat(s Step, what string) string {
	switch s {
	case Trust:
		return "trusts the old and the new " + what
	case Finish:
		return "trusts the new " + what + " only"
	}
	return "trusts the old and the new " + what
}

// ensureNew finds or makes the new key (and, for a CA, its certificate).
func (v *view) ensureNew(w *work, o Options, now time.Time) error {
	if v.new != nil && v.new.cert == nil && v.isCA() && v.nextKey != nil {
		// A trust step killed between the key and the certificate.
		v.new = nil
	}
	if v.new != nil {
		return nil
	}
	key := v.nextKey
	if key == nil {
		var err error
		if key, err = pki.GenerateKey(w.t.p.Algorithm, o.Rand); err != nil {
			return err
		}
		v.pendingKey = key // bring writes it
	}
	if !v.isCA() {
		v.new = pubAnchor(key.Public())
		return nil
	}
	cert, err := pki.NewSelfSignedCA(v.ca.Request(), key, now, o.Rand)
	if err != nil {
		return err
	}
	v.new = certAnchor(cert)
	return nil
}

// newKey is the new key, wherever it is.
func (v *view) newKey() crypto.Signer {
	for _, k := range []crypto.Signer{v.pendingKey, v.nextKey, v.key} {
		if k != nil && v.new != nil && Fingerprint(k.Public()) == v.new.fp {
			return k
		}
	}
	return nil
}

// encodeTrust writes a trust file holding the given keys, in order.
func (v *view) encodeTrust(target []string) ([]byte, error) {
	byFP := map[string]*anchor{v.old.fp: v.old}
	if v.new != nil {
		byFP[v.new.fp] = v.new
	}
	if v.isCA() {
		var certs []*x509.Certificate
		for _, fp := range target {
			if byFP[fp] == nil || byFP[fp].cert == nil {
				return nil, disagree("%s: the certificate of %s is in no file", v.root, short(fp))
			}
			certs = append(certs, byFP[fp].cert)
		}
		return marshalCerts(certs), nil
	}
	var pubs []crypto.PublicKey
	for _, fp := range target {
		pubs = append(pubs, byFP[fp].pub)
	}
	return marshalPublicKeys(pubs)
}

// request is what a leaf is issued again with: its own names and usages,
// and the configuration's leaf validity.
func (v *view) request(w *work, c *x509.Certificate) pki.Request {
	return pki.Request{Subject: pki.Subject{CommonName: c.Subject.CommonName, Organizations: slices.Clone(c.Subject.Organization),
		DNSNames: slices.Clone(c.DNSNames), IPs: slices.Clone(c.IPAddresses)},
		Usages: pki.UsagesOf(c), Validity: w.t.p.Config.Validity.Leaf.D()}
}

func (v *view) issuer(newKey crypto.Signer) pki.Issuer {
	return pki.Issuer{Cert: v.new.cert, Key: newKey}
}

// reissueLeaf issues a leaf under pki/ again, by the new CA.
func (v *view) reissueLeaf(w *work, l leaf, newKey crypto.Signer, o Options, now time.Time) error {
	pub := l.cert.PublicKey
	keyFile := strings.TrimSuffix(l.file, layout.CertExt) + layout.KeyExt
	if o.NewKey {
		key, err := w.t.readKey(keyFile)
		if err != nil {
			return err
		}
		// A key that does not match its certificate is the new key of a
		// run killed before the certificate: use it.
		if key == nil || pki.KeyMatches(l.cert, key) {
			alg := pki.AlgorithmOf(pub)
			if alg == "" {
				alg = w.t.p.Algorithm
			}
			if key, err = pki.GenerateKey(alg, o.Rand); err != nil {
				return err
			}
			data, err := pki.MarshalPrivateKey(key)
			if err != nil {
				return err
			}
			w.write(keyFile, data, stageKeys, true, "a new key for "+l.file)
		}
		pub = key.Public()
	}
	cert, err := v.issuer(newKey).Sign(v.request(w, l.cert), pub, now, o.Rand)
	if err != nil {
		return fmt.Errorf("%s: %w", l.file, err)
	}
	w.write(l.file, pki.MarshalCert(cert), stageCerts, false, "issued again by the new CA")
	return nil
}

// editKubeconfig brings one kubeconfig to the step: its CAs of this root
// as the trust file's, its client certificates issued by the new CA.
func (v *view) editKubeconfig(w *work, file string, target []string, reissue bool, newKey crypto.Signer, o Options, now time.Time) error {
	byFP := map[string]*x509.Certificate{v.old.fp: v.old.cert, v.new.fp: v.new.cert}
	var whats []string
	data, changed, err := kubeconfig.Edit(w.t.kubeconfigs[file], func(_ string, certs []*x509.Certificate) []*x509.Certificate {
		var out []*x509.Certificate
		placed := false
		for _, c := range certs {
			fp := Fingerprint(c.PublicKey)
			if fp != v.old.fp && fp != v.new.fp {
				out = append(out, c)
				continue
			}
			if !placed {
				for _, t := range target {
					out = append(out, byFP[t])
				}
				placed = true
			}
		}
		if !slices.Equal(fps(anchorsOf(out)), fps(anchorsOf(certs))) && !slices.Contains(whats, "CA data") {
			whats = append(whats, "CA data")
		}
		return out
	}, func(_ string, cert *x509.Certificate, key crypto.Signer) (*x509.Certificate, crypto.Signer, error) {
		if !reissue || !pki.SignedBy(cert, v.old.cert) {
			return cert, key, nil
		}
		if o.NewKey {
			alg := pki.AlgorithmOf(key.Public())
			if alg == "" {
				alg = w.t.p.Algorithm
			}
			nk, err := pki.GenerateKey(alg, o.Rand)
			if err != nil {
				return nil, nil, err
			}
			key = nk
		}
		nc, err := v.issuer(newKey).Sign(v.request(w, cert), key.Public(), now, o.Rand)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		whats = append(whats, "client certificate issued again by the new CA")
		return nc, key, nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if changed {
		w.write(file, data, stageCerts, true, strings.Join(whats, "; "))
	}
	return nil
}

func anchorsOf(certs []*x509.Certificate) []*anchor {
	out := make([]*anchor, len(certs))
	for i, c := range certs {
		out[i] = certAnchor(c)
	}
	return out
}
