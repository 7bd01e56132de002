package provision

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-k8s/bulwark/bootstraptoken"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
)

// run is the state of one Init: what exists, what is to be made.
type run struct {
	d     *store.Dir
	p     *plan.Plan
	opts  Options
	now   time.Time
	fix   fixer
	probs problems

	cas  map[string]*loadedCA
	keys []*pendingKey // to generate
	// b receives every file as soon as it is made; nothing of it appears
	// before Commit. Keys go in the first stage, so that a run killed
	// part-way never leaves a certificate without its key.
	b       *store.Batch
	summary Summary
	// written holds the plaintext of every file added to b, for the
	// rendered Pods' checksums and links.
	mu      sync.Mutex
	written map[string][]byte
	// Steps that marshal keys and sign certificates: they run
	// concurrently with key generation, each waiting for what it needs.
	// They are only started once every existing file has passed.
	todo []func() error
	// leafKeys: the public key of every existing leaf and kubeconfig, by
	// file, for the trust checks.
	leafCerts map[string]*x509.Certificate
	// orphans: by CA, the existing files it signed while the CA itself is
	// gone; reported as one problem of the CA's.
	orphans map[string][]string
}

// initTokenDescription marks the bootstrap token init makes.
const initTokenDescription = "kubelet TLS bootstrap, made by bulwark init"

// Init makes everything in the plan that is missing and keeps everything
// that exists, after checking it. If any existing file does not fit the
// plan, it returns Problems (every problem at once) and writes nothing.
// The caller holds the folder's lock.
func Init(d *store.Dir, p *plan.Plan, opts Options) (Summary, error) {
	b := d.NewBatch()
	_, sum, err := prepareInit(d, p, opts, b)
	if err != nil {
		b.Discard()
		return nil, err
	}
	if err := b.Commit(); err != nil {
		return nil, err
	}
	return sortSummary(sum), nil
}

// Check runs Init's checks of every existing file, and writes nothing:
// the Problems Init would report, or nil.
func Check(d *store.Dir, p *plan.Plan, opts Options) error {
	b := d.NewBatch()
	defer b.Discard()
	r := newRun(d, p, opts, b)
	return r.check()
}

// InitAndRender is Init then Render, checked together before anything is
// written and written as one batch: a problem with the rendered files
// leaves the PKI untouched too.
//
// With opts.Config, the configuration the plan came from is kept beside it
// as layout.ConfigFile, after the keys: a run killed part-way is finished
// by a rerun with the same configuration.
func InitAndRender(d *store.Dir, p *plan.Plan, o render.Options, opts Options) (Summary, error) {
	// Both only read the folder until the batch is written. Encoding the
	// manifests is CPU work that overlaps key generation and signing;
	// their checksums and links, which need the files init makes, follow.
	b := d.NewBatch()
	var (
		rendered *render.Rendered
		rerr     error
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		rendered, rerr = render.Derived(p, o)
	}()
	r, sum, err := prepareInit(d, p, opts, b)
	<-done
	var rr *renderRun
	switch {
	case err == nil && rerr == nil:
		rr, err = prepareRender(d, p, rendered, opts, r.written, nil)
	case rerr == nil:
		// Report the rendered files' problems with the PKI's: every
		// problem at once.
		if _, perr := prepareRender(d, p, rendered, opts, nil, nil); perr != nil {
			err = joinProblems(err, perr)
		}
	default:
		err = joinProblems(err, rerr)
	}
	if err != nil {
		b.Discard()
		return nil, err
	}
	for _, f := range rr.writes {
		b.Add(f)
	}
	if s := saveConfig(d, b, opts); s != nil {
		sum = append(sum, *s)
	}
	if err := b.Commit(); err != nil {
		return nil, err
	}
	return sortSummary(append(sum, rr.sum...)), nil
}

// joinProblems merges two runs' errors: their Problems into one list, or
// the first other error.
func joinProblems(a, b error) error {
	var ps problems
	for _, err := range []error{a, b} {
		if e := ps.addErr(err); e != nil {
			return e
		}
	}
	return ps.err()
}

// saveConfig adds the configuration to the batch if it differs from the
// saved one.
func saveConfig(d *store.Dir, b *store.Batch, opts Options) *Result {
	if opts.Config == nil {
		return nil
	}
	have, err := d.Read(layout.ConfigFile)
	if err == nil && bytes.Equal(have, opts.Config) {
		return nil
	}
	b.Add(store.File{Rel: layout.ConfigFile, Data: opts.Config, Replace: err == nil, Stage: stageCerts})
	if err == nil {
		return &Result{File: layout.ConfigFile, Action: Renewed}
	}
	return &Result{File: layout.ConfigFile, Action: Created}
}

// Write stages: a key is on disk before any certificate that names it.
// Certificates need no order among themselves: a leaf left without its CA
// certificate by a crash is checked against the CA certificate the next run
// reissues from the same key. The encryption configuration goes with the
// keys; the other rendered files and the saved configuration with the
// certificates (a folder with either has its encryption key); static Pods'
// links after them, and their manifests last (stageLinks, stageManifests).
const (
	stageKeys = iota
	stageCerts
	stageRendered = stageCerts
)

func newRun(d *store.Dir, p *plan.Plan, opts Options, b *store.Batch) *run {
	return &run{d: d, p: p, opts: opts, now: opts.now(), fix: fixer{args: opts.FixArgs}, cas: map[string]*loadedCA{}, b: b,
		leafCerts: map[string]*x509.Certificate{}, orphans: map[string][]string{}, written: map[string][]byte{}}
}

// prepareInit checks what exists and makes what is missing, adding every
// file to b as soon as it is made. Problems come before any key is
// generated; after an error, nothing of b may be committed.
func prepareInit(d *store.Dir, p *plan.Plan, opts Options, b *store.Batch) (*run, Summary, error) {
	r := newRun(d, p, opts, b)
	if err := r.check(); err != nil {
		return nil, nil, err
	}
	if err := r.generate(); err != nil {
		return nil, nil, err
	}
	return r, r.summary, nil
}

// check loads and judges every existing file, collecting every problem.
func (r *run) check() error {
	for _, step := range []func() error{r.loadCAs, r.loadServiceAccount, r.loadLeaves, r.loadKubeconfigs, r.loadManifests} {
		if err := r.probs.addErr(step()); err != nil {
			return err
		}
	}
	for _, spec := range r.p.CAs {
		if files := r.orphans[spec.Name]; len(files) > 0 {
			r.problem(CodeOrphan, spec.CertFile(), fmt.Sprintf("is missing with its key, while %d certificates it signed remain (%s): a new CA must sign them again",
				len(files), strings.Join(files, ", ")), r.fix.renew(false, spec.Name))
		}
	}
	if err := r.probs.addErr(r.checkTrust()); err != nil {
		return err
	}
	if r.opts.Derived {
		if err := r.foreign(); err != nil {
			return err
		}
	}
	if err := r.probs.err(); err != nil {
		return err
	}
	return r.fixModes()
}

// foreign refuses a folder without a configuration whose identities are
// not bulwark's (kubeadm's, for one): init would have to change who its
// credentials are, and no existing RBAC binding would know them.
func (r *run) foreign() error {
	var differ []string
	for _, p := range r.probs.list {
		switch p.Code {
		case CodeIdentity, CodeWrongIssuer, CodeOrphan, CodeSANs, CodeServer, CodeUntrusted:
			differ = append(differ, p.File+": "+p.Reason)
		}
	}
	if len(differ) == 0 {
		return nil
	}
	if len(differ) > 3 {
		differ = append(differ[:3], fmt.Sprintf("%d more", len(differ)-3))
	}
	return Problems{{Code: CodeForeign, File: r.d.Root(), Reason: fmt.Sprintf(
		"has no %s, and its files differ from bulwark's tables (%s): bulwark init does not adopt a cluster it did not make, "+
			"since its credentials would change identity; `bulwark certs renew`, `certs check-expiration`, `token` and `audit` work on it as it is",
		layout.ConfigFile, strings.Join(differ, "; "))}}
}

func (r *run) fixModes() error {
	fixed, err := fixModes(r.d, r.b)
	r.summary = append(r.summary, fixed...)
	return err
}

// generate makes the new keys and runs the steps, each as soon as the keys
// and CA certificates it needs are there.
func (r *run) generate() error {
	errs := make([]error, len(r.todo))
	var wg sync.WaitGroup
	for i, step := range r.todo {
		wg.Go(func() { errs[i] = step() })
	}
	kerr := generateKeys(r.keys, r.opts.rand())
	wg.Wait()
	if kerr != nil {
		return kerr
	}
	// A step that waited for a key or a CA that was not made says so;
	// the step that failed to make it says why.
	var first error
	for _, err := range errs {
		if err != nil && !errors.Is(err, errNoKey) && !errors.Is(err, errNoCA) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// write adds a file to the batch in a stage.
func (r *run) write(stage int, f store.File) {
	f.Stage = stage
	r.mu.Lock()
	r.written[f.Rel] = f.Data
	r.mu.Unlock()
	r.b.Add(f)
}

func (r *run) note(a Action, files ...string) {
	for _, f := range files {
		r.summary = append(r.summary, Result{File: f, Action: a})
	}
}

// problem records a problem with a file.
func (r *run) problem(code Code, file, reason, fix string) {
	r.probs.add(&Problem{Code: code, File: file, Reason: reason, Fix: fix})
}

// newKey schedules a key and its write; the returned pointer is filled once
// keys are generated.
func (r *run) newKey(file string) *pendingKey {
	k := r.embeddedKey()
	r.todo = append(r.todo, func() error {
		key, err := k.get()
		if err != nil {
			return err
		}
		data, err := pki.MarshalPrivateKey(key)
		if err != nil {
			return err
		}
		r.write(stageKeys, store.File{Rel: file, Data: data, Secret: true})
		return nil
	})
	r.note(Created, file)
	return k
}

func (r *run) loadCAs() error {
	for _, spec := range r.p.CAs {
		if err := r.loadCA(spec); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) loadCA(spec plan.CA) error {
	ca := &loadedCA{spec: spec}
	r.cas[spec.Name] = ca
	fix := r.fix.renew(false, spec.Name)
	key, kerr := readKey(r.d, spec.KeyFile())
	bundle, cerr := readCerts(r.d, spec.CertFile())
	if err := firstFatal(kerr, cerr); err != nil {
		return err
	}
	// During a rotation the trust file holds the old and the new CA; the
	// one that signs is the one that matches the key.
	cert := signingCert(bundle, key)
	ca.cert, ca.key, ca.trusted = cert, key, bundle
	switch {
	case kerr != nil:
		ca.broken = true
		r.problem(problemCode(kerr, CodeCorruptCAKey), spec.KeyFile(), reasonOf(kerr)+
			" (restore it from a backup; a new CA key invalidates every certificate it signed)", fixFor(kerr, r.fix.renew(true, spec.Name)))
		return nil
	case cerr != nil:
		ca.broken = true
		if key == nil {
			// Neither a key nor a readable certificate: the CA is lost.
			r.problem(problemCode(cerr, CodeCorruptCert), spec.CertFile(), reasonOf(cerr)+", and "+spec.KeyFile()+" is missing (a new CA is the only way on)", fixFor(cerr, r.fix.renew(false, spec.Name)))
		} else {
			r.problem(problemCode(cerr, CodeCorruptCert), spec.CertFile(), reasonOf(cerr), fixFor(cerr, fix))
		}
		return nil
	}
	switch {
	case cert != nil:
		if slices.ContainsFunc(bundle, func(c *x509.Certificate) bool { return !c.IsCA || !pki.SignedBy(c, c) }) {
			ca.broken = true
			if key == nil {
				r.problem(CodeNotCA, spec.CertFile(), "is not a self-signed CA certificate, and "+spec.KeyFile()+" is missing", "")
			} else {
				r.problem(CodeNotCA, spec.CertFile(), "is not a self-signed CA certificate", fix)
			}
			return nil
		}
		if key != nil && !pki.KeyMatches(cert, key) {
			ca.broken = true
			r.problem(CodeCAKeyMismatch, spec.CertFile(), "does not match "+spec.KeyFile(), fix)
			return nil
		}
		if !r.now.Before(cert.NotAfter) {
			if key == nil {
				r.problem(CodeExpired, spec.CertFile(), "expired on "+cert.NotAfter.UTC().Format(time.RFC3339)+" (an external CA: renew it where its key is)", "")
			} else {
				r.problem(CodeExpired, spec.CertFile(), "expired on "+cert.NotAfter.UTC().Format(time.RFC3339), fix)
			}
			return nil
		}
		if key == nil {
			ca.external = true
			r.note(Kept, spec.CertFile())
			r.keepSigner(ca)
			return nil
		}
		r.note(Kept, spec.CertFile(), spec.KeyFile())
		r.keepSigner(ca)
	case key != nil:
		// A run killed between the key and the certificate: issue the
		// certificate for the key that is there.
		r.note(Kept, spec.KeyFile())
		r.note(Issued, spec.CertFile())
		// Signed now, so that leaves already signed by this key (with a
		// CA certificate since lost) are checked against it below.
		if err := r.signCA(ca, existingKey(key))(); err != nil {
			return err
		}
		if spec.Signer {
			action := Created
			if ok, _ := r.d.Exists(spec.SignerCertFile()); ok {
				action = Renewed
			}
			r.note(action, spec.SignerCertFile())
		}
	default:
		ca.keyNew, ca.certNew = true, true
		ca.ready = make(chan struct{})
		k := r.newKey(spec.KeyFile())
		r.note(Created, spec.CertFile())
		if spec.Signer {
			r.note(Created, spec.SignerCertFile())
		}
		r.todo = append(r.todo, r.signCA(ca, k))
	}
	return nil
}

// keepSigner brings a signing CA's single-certificate file in line with
// the certificate that signs: it is derived, never a key.
func (r *run) keepSigner(ca *loadedCA) {
	if !ca.spec.Signer {
		return
	}
	file, want := ca.spec.SignerCertFile(), pki.MarshalCert(ca.cert)
	have, err := r.d.Read(file)
	switch {
	case err == nil && bytes.Equal(have, want):
		r.note(Kept, file)
	case err == nil:
		r.write(stageCerts, store.File{Rel: file, Data: want, Replace: true})
		r.note(Renewed, file)
	default:
		r.write(stageCerts, store.File{Rel: file, Data: want, Replace: !errors.Is(err, fs.ErrNotExist)})
		r.note(Created, file)
	}
}

// signCA issues a CA's certificate for its key. The CA is ready for the
// steps waiting on it once this ends, whether or not it succeeded.
func (r *run) signCA(ca *loadedCA, k *pendingKey) func() error {
	return func() error {
		if ca.ready != nil {
			defer close(ca.ready)
		}
		key, err := k.get()
		if err != nil {
			return err
		}
		cert, err := pki.NewSelfSignedCA(ca.spec.Request(), key, r.now, r.opts.rand())
		if err != nil {
			return err
		}
		ca.key, ca.cert, ca.trusted = key, cert, []*x509.Certificate{cert}
		r.write(stageCerts, store.File{Rel: ca.spec.CertFile(), Data: pki.MarshalCert(cert)})
		if ca.spec.Signer {
			// Replace only what a killed run left: a new folder's batch
			// makes its files and folders, and removes them if it fails.
			exists, err := r.d.Exists(ca.spec.SignerCertFile())
			if err != nil {
				return err
			}
			r.write(stageCerts, store.File{Rel: ca.spec.SignerCertFile(), Data: pki.MarshalCert(cert), Replace: exists})
		}
		return nil
	}
}

// sign waits for a key and its CA, then issues the certificate.
func (r *run) sign(ca *loadedCA, k *pendingKey, req pki.Request) (*x509.Certificate, crypto.Signer, error) {
	key, err := k.get()
	if err != nil {
		return nil, nil, err
	}
	if err := ca.wait(); err != nil {
		return nil, nil, err
	}
	c, err := ca.issuer().Sign(req, key.Public(), r.now, r.opts.rand())
	return c, key, err
}

// embeddedKey schedules a key that no file of its own holds (a
// kubeconfig's).
func (r *run) embeddedKey() *pendingKey {
	k := &pendingKey{alg: r.p.Algorithm, done: make(chan struct{})}
	r.keys = append(r.keys, k)
	return k
}

// issuer returns a CA that can sign, or records why it cannot.
func (r *run) issuer(name, forFile string) *loadedCA {
	ca := r.cas[name]
	switch {
	case ca.broken:
		return nil
	case ca.external:
		r.problem(CodeMissingCAKey, ca.spec.KeyFile(), fmt.Sprintf("is missing, and %s must be signed by it (an external CA: sign it yourself and place it there)", forFile), "")
		return nil
	}
	return ca
}

func (r *run) loadServiceAccount() error {
	const keyFile, pubFile = plan.ServiceAccountKeyFile, plan.ServiceAccountPubFile
	key, kerr := readKey(r.d, keyFile)
	if err := firstFatal(kerr); err != nil {
		return err
	}
	if kerr != nil {
		r.problem(problemCode(kerr, CodeCorruptKey), keyFile, reasonOf(kerr)+" (restore it from a backup; a new key invalidates every service-account token)", fixFor(kerr, r.fix.renew(true, ServiceAccountName)))
		return nil
	}
	pubExists, err := r.d.Exists(pubFile)
	if err != nil {
		return err
	}
	var (
		pub  crypto.PublicKey
		pubs []crypto.PublicKey
	)
	if pubExists {
		data, err := r.d.Read(pubFile)
		if err != nil {
			return r.unreadable(pubFile, err)
		}
		if pubs, err = pki.ParsePublicKeys(data); err == nil {
			pub = pubs[0]
		} else {
			if key == nil {
				r.problem(CodeMissingSAKey, keyFile, "is missing, and "+pubFile+" is not a valid PEM public key", r.fix.renew(true, ServiceAccountName))
			} else {
				r.problem(CodeBadSAPub, pubFile, "is not a valid PEM public key", r.fix.renew(false, ServiceAccountName))
			}
			return nil
		}
	}
	switch {
	case key != nil && pub != nil:
		// During a rotation sa.pub holds the old and the new key, and
		// sa.key is one of them.
		in := func(keys []crypto.PublicKey) func(crypto.PublicKey) bool {
			return func(k crypto.PublicKey) bool {
				return slices.ContainsFunc(keys, func(o crypto.PublicKey) bool { return pki.PublicKeysEqual(k, o) })
			}
		}
		if rotating := r.opts.Rotating[ServiceAccountName]; len(pubs) > 1 && len(rotating) > 0 &&
			!slices.ContainsFunc(pubs, func(k crypto.PublicKey) bool { return !in(rotating)(k) }) && in(pubs)(key.Public()) {
			r.note(Kept, keyFile, pubFile)
			return nil
		}
		if !pki.PublicKeysEqual(key.Public(), pub) {
			r.problem(CodeBadSAPub, pubFile, "does not match "+keyFile, r.fix.renew(false, ServiceAccountName))
			return nil
		}
		if len(pubs) > 1 {
			r.problem(CodeTrust, pubFile, fmt.Sprintf("holds %d other key(s) beside %s's, and no rotation of sa that agrees with the files is recorded (see `bulwark rotate status`): tokens signed by each would be accepted", len(pubs)-1, keyFile), r.fix.renew(false, ServiceAccountName))
			return nil
		}
		r.note(Kept, keyFile, pubFile)
		return nil
	case key == nil && pub != nil:
		r.problem(CodeMissingSAKey, keyFile, "is missing while "+pubFile+" exists (restore it from a backup; a new key invalidates every service-account token)", r.fix.renew(true, ServiceAccountName))
		return nil
	}
	var k *pendingKey
	if key != nil {
		r.note(Kept, keyFile)
		k = existingKey(key)
	} else {
		k = r.newKey(keyFile)
	}
	r.note(Created, pubFile)
	r.todo = append(r.todo, func() error {
		key, err := k.get()
		if err != nil {
			return err
		}
		data, err := pki.MarshalPublicKey(key.Public())
		if err != nil {
			return err
		}
		r.write(stageCerts, store.File{Rel: pubFile, Data: data})
		return nil
	})
	return nil
}

// unreadable records a file that exists but cannot be read; a symbolic
// link or a non-regular file is returned as the run's error.
func (r *run) unreadable(file string, err error) error {
	if errors.Is(err, store.ErrUnsafe) {
		return err
	}
	r.probs.add(&Problem{Code: CodeUnreadable, File: file, Reason: "cannot be read: " + err.Error(), Cause: err})
	return nil
}

func (r *run) loadLeaves() error {
	for _, spec := range r.p.Certs {
		if err := r.loadLeaf(spec); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) loadLeaf(spec plan.Cert) error {
	keyFile, certFile := spec.KeyFile(), spec.CertFile()
	key, kerr := readKey(r.d, keyFile)
	cert, cerr := readCert(r.d, certFile)
	if err := firstFatal(kerr, cerr); err != nil {
		return err
	}
	fix := r.fix.renew(false, spec.Name)
	ca := r.cas[spec.CA]
	switch {
	case kerr != nil:
		r.problem(problemCode(kerr, CodeCorruptKey), keyFile, reasonOf(kerr), fixFor(kerr, r.fix.renew(true, spec.Name)))
		return nil
	case cerr != nil:
		r.problem(problemCode(cerr, CodeCorruptCert), certFile, reasonOf(cerr), fixFor(cerr, fix))
		return nil
	case cert != nil && key == nil:
		r.problem(CodeMissingKey, keyFile, "is missing while "+certFile+" exists", r.fix.renew(true, spec.Name))
		return nil
	case cert != nil:
		r.leafCerts[certFile] = cert
		if ca.broken {
			return nil
		}
		if ca.certNew {
			r.orphans[ca.spec.Name] = append(r.orphans[ca.spec.Name], certFile)
			return nil
		}
		if p := checkLeaf(certFile, cert, key, ca, spec.Request(), r.now, fix); p != nil {
			r.probs.add(p)
			return nil
		}
		r.note(Kept, certFile, keyFile)
		return nil
	}
	ca = r.issuer(spec.CA, certFile)
	if ca == nil {
		return nil
	}
	var k *pendingKey
	if key != nil {
		r.note(Kept, keyFile)
		r.note(Issued, certFile)
		k = existingKey(key)
	} else {
		k = r.newKey(keyFile)
		r.note(Created, certFile)
	}
	r.todo = append(r.todo, func() error {
		c, _, err := r.sign(ca, k, spec.Request())
		if err != nil {
			return err
		}
		r.write(stageCerts, store.File{Rel: certFile, Data: pki.MarshalCert(c)})
		return nil
	})
	return nil
}

func (r *run) loadKubeconfigs() error {
	for _, spec := range r.p.Kubeconfigs {
		if err := r.loadKubeconfig(spec); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) loadKubeconfig(spec plan.Kubeconfig) error {
	file := spec.File()
	fix := r.fix.renew(false, spec.Name)
	ok, err := r.d.Exists(file)
	if err != nil {
		return err
	}
	clusterCA := r.cas[plan.ClusterCA]
	if ok {
		data, err := r.d.ReadSecret(file)
		if err != nil {
			return r.unreadable(file, err)
		}
		kc, err := kubeconfig.Parse(data)
		if err != nil {
			// Its key cannot be read back: a new one is the only fix.
			code := CodeCorruptKubeconfig
			if spec.UsesToken() {
				code = CodeBootstrap
			}
			r.problem(code, file, err.Error(), r.fix.renew(!spec.UsesToken(), spec.Name))
			return nil
		}
		if kc.Credentials.Cert != nil {
			r.leafCerts[file] = kc.Credentials.Cert
		}
		if p := r.checkKubeconfig(spec, kc, clusterCA, fix); p != nil {
			r.probs.add(p)
			return nil
		}
		r.note(Kept, file)
		return nil
	}
	if spec.UsesToken() {
		return r.newBootstrapKubeconfig(spec)
	}
	ca := r.issuer(spec.CA, file)
	if ca == nil {
		return nil
	}
	k := r.embeddedKey()
	r.note(Created, file)
	r.todo = append(r.todo, func() error {
		c, key, err := r.sign(ca, k, spec.Request())
		if err != nil {
			return err
		}
		data, err := kubeconfig.Build(kubeconfig.Spec{
			ClusterName: r.p.Config.ClusterName, Server: spec.Server, CAs: ca.trusted,
			User: spec.Subject.CommonName, Credentials: kubeconfig.Credentials{Cert: c, Key: key},
		})
		if err != nil {
			return err
		}
		r.write(stageCerts, store.File{Rel: file, Data: data, Secret: true})
		return nil
	})
	return nil
}

func (r *run) checkKubeconfig(spec plan.Kubeconfig, kc *kubeconfig.Parsed, ca *loadedCA, fix string) *Problem {
	file := spec.File()
	code := CodeUntrusted
	if spec.UsesToken() {
		code = CodeBootstrap
	}
	// Trust is by key: a CA certificate reissued for the same key (after a
	// renewal) still verifies what the old one did.
	if !ca.broken && !ca.certNew && !slices.ContainsFunc(kc.CAs, func(c *x509.Certificate) bool { return pki.PublicKeysEqual(c.PublicKey, ca.cert.PublicKey) }) {
		return &Problem{Code: code, File: file, Reason: "does not trust " + ca.spec.CertFile(), Fix: fix}
	}
	// Nor may it trust a CA the folder does not (an old CA dropped from
	// the CA file): a server certificate that CA signs would be accepted.
	if !ca.broken && !ca.certNew {
		for _, c := range kc.CAs {
			if !slices.ContainsFunc(ca.trusted, func(t *x509.Certificate) bool { return pki.PublicKeysEqual(c.PublicKey, t.PublicKey) }) {
				return &Problem{Code: code, File: file, Reason: fmt.Sprintf("also trusts a CA %q (key %s) that %s does not hold", c.Subject.CommonName, pki.KeyID(c.PublicKey), ca.spec.CertFile()), Fix: fix}
			}
		}
	}
	if kc.Server != spec.Server {
		if spec.UsesToken() {
			code = CodeBootstrap
		} else {
			code = CodeServer
		}
		return &Problem{Code: code, File: file, Reason: fmt.Sprintf("points at %s, want %s", kc.Server, spec.Server), Fix: fix}
	}
	if spec.UsesToken() {
		return r.checkBootstrapToken(file, kc, fix)
	}
	if kc.Credentials.Cert == nil {
		return &Problem{Code: CodeNoClientCert, File: file, Reason: "holds no client certificate", Fix: r.fix.renew(true, spec.Name)}
	}
	if ca.broken {
		return nil
	}
	if ca.certNew {
		r.orphans[ca.spec.Name] = append(r.orphans[ca.spec.Name], file)
		return nil
	}
	return checkLeaf(file, kc.Credentials.Cert, kc.Credentials.Key, ca, spec.Request(), r.now, fix)
}

// checkBootstrapToken: the bootstrap kubeconfig carries a well-formed
// token whose Secret manifest is in the folder. Its Secret is reported
// with it; an expired token is kept (it is harmless) but said, since new
// nodes can no longer join with it.
func (r *run) checkBootstrapToken(file string, kc *kubeconfig.Parsed, fix string) *Problem {
	if kc.Credentials.Token == "" {
		return &Problem{Code: CodeBootstrap, File: file, Reason: "holds no bootstrap token", Fix: fix}
	}
	tok, err := bootstraptoken.Parse(kc.Credentials.Token)
	if err != nil {
		return &Problem{Code: CodeBootstrap, File: file, Reason: "holds a malformed bootstrap token", Fix: fix}
	}
	toks, err := ListTokenManifests(r.d)
	if err != nil {
		var p *Problem
		if errors.As(err, &p) {
			return p
		}
		return &Problem{Code: CodeUnreadable, File: layout.ClusterObjectsDir, Reason: err.Error()}
	}
	for _, t := range toks {
		if t.Token.ID == tok.ID {
			if t.Token.Secret != tok.Secret {
				return &Problem{Code: CodeBootstrap, File: file, Reason: "holds a token that differs from its Secret " + t.File, Fix: fix}
			}
			if t.Token.Expired(r.now) {
				r.note(Expired, t.File)
			} else {
				r.note(Kept, t.File)
			}
			return nil
		}
	}
	return &Problem{Code: CodeBootstrap, File: file, Reason: "holds token " + tok.ID + ", whose Secret " + layout.TokenSecretFile(tok.ID) + " is missing", Fix: fix}
}

// newBootstrapKubeconfig makes a bootstrap token, its Secret manifest and
// the kubeconfig that carries it. A token Secret left by a run killed
// before its kubeconfig was written is reused rather than orphaned.
func (r *run) newBootstrapKubeconfig(spec plan.Kubeconfig) error {
	tok, manifestFile, err := r.reusableToken()
	if err != nil {
		return err
	}
	if manifestFile == "" {
		tok, err = bootstraptoken.New(r.now, r.p.TokenTTL, nil, r.p.TokenGroups, initTokenDescription)
		if err != nil {
			return err
		}
		manifestFile = layout.TokenSecretFile(tok.ID)
		data, err := tok.MarshalSecret()
		if err != nil {
			return err
		}
		// The Secret goes out with the keys: it must exist before the
		// kubeconfig that uses it.
		r.write(stageKeys, store.File{Rel: manifestFile, Data: data, Secret: true})
		r.note(Created, manifestFile)
	} else {
		r.note(Kept, manifestFile)
	}
	r.note(Created, spec.File())
	ca := r.issuer(plan.ClusterCA, spec.File())
	if ca == nil {
		return nil
	}
	r.todo = append(r.todo, func() error {
		if err := ca.wait(); err != nil {
			return err
		}
		data, err := BootstrapKubeconfig(r.p, ca.trusted, tok)
		if err != nil {
			return err
		}
		r.write(stageCerts, store.File{Rel: spec.File(), Data: data, Secret: true})
		return nil
	})
	return nil
}

// BootstrapKubeconfig is the kubeconfig a kubelet bootstraps with; it
// trusts every CA of the cluster CA's trust file.
func BootstrapKubeconfig(p *plan.Plan, cas []*x509.Certificate, tok bootstraptoken.Token) ([]byte, error) {
	return kubeconfig.Build(kubeconfig.Spec{
		ClusterName: p.Config.ClusterName, Server: p.Config.APIServerURL(), CAs: cas,
		User: "kubelet-bootstrap", Credentials: kubeconfig.Credentials{Token: tok.String()},
	})
}

func (r *run) reusableToken() (bootstraptoken.Token, string, error) {
	toks, err := ListTokenManifests(r.d)
	if err != nil {
		return bootstraptoken.Token{}, "", err
	}
	for _, t := range toks {
		if !t.Token.Expired(r.now) && t.Token.Description == initTokenDescription {
			return t.Token, t.File, nil
		}
	}
	return bootstraptoken.Token{}, "", nil
}

func (r *run) loadManifests() error {
	for _, m := range []struct {
		file   string
		encode func() ([]byte, error)
	}{
		{plan.RBACManifestFile, render.RBAC},
		{plan.ServiceAccountsManifestFile, render.ServiceAccounts},
	} {
		if err := r.loadManifest(m.file, m.encode); err != nil {
			return err
		}
	}
	return nil
}

// loadManifest keeps a cluster-object manifest that matches its table and
// brings back one that does not: derived data, not a key.
func (r *run) loadManifest(file string, encode func() ([]byte, error)) error {
	want, err := encode()
	if err != nil {
		return err
	}
	ok, err := r.d.Exists(file)
	if err != nil {
		return err
	}
	if ok {
		have, err := r.d.Read(file)
		if errors.Is(err, store.ErrUnsafe) {
			return err
		}
		if err == nil && bytes.Equal(have, want) {
			r.note(Kept, file)
			return nil
		}
		r.write(stageCerts, store.File{Rel: file, Data: want, Replace: true})
		r.note(Renewed, file)
		return nil
	}
	r.write(stageCerts, store.File{Rel: file, Data: want})
	r.note(Created, file)
	return nil
}
