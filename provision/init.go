package provision

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
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
	d    *store.Dir
	p    *plan.Plan
	opts Options
	now  time.Time

	cas  map[string]*loadedCA
	keys []*pendingKey // to generate
	// b receives every file as soon as it is made; nothing of it appears
	// before Commit. Keys go in the first stage, so that a run killed
	// part-way never leaves a certificate without its key.
	b       *store.Batch
	summary Summary
	// Steps that marshal keys and sign certificates: they run
	// concurrently with key generation, each waiting for what it needs.
	todo []func() error
}

// Init makes everything in the plan that is missing and keeps everything
// that exists, after checking it. If any existing file does not fit the
// plan, it returns a *Problem and writes nothing. The caller holds the
// folder's lock.
func Init(d *store.Dir, p *plan.Plan, opts Options) (Summary, error) {
	b := d.NewBatch()
	sum, err := prepareInit(d, p, opts, b)
	if err != nil {
		b.Discard()
		return nil, err
	}
	if err := b.Commit(); err != nil {
		return nil, err
	}
	return sortSummary(sum), nil
}

// InitAndRender is Init then Render, checked together before anything is
// written and written as one batch: a problem with the rendered files
// leaves the PKI untouched too.
//
// With opts.Config, the configuration the plan came from is kept beside it
// as layout.ConfigFile, in the batch's first stage: a run killed part-way is
// finished by a rerun with the same configuration.
func InitAndRender(d *store.Dir, p *plan.Plan, o render.Options, opts Options) (Summary, error) {
	// Both only read the folder until the batch is written; rendering is
	// CPU work that overlaps key generation and signing.
	b := d.NewBatch()
	var (
		rsum Summary
		rerr error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		var rfiles []store.File
		if rfiles, rsum, rerr = prepareRender(d, p, o, opts); rerr == nil {
			for _, f := range rfiles {
				f.Stage = stageRendered
				b.Add(f)
			}
		}
	}()
	sum, err := prepareInit(d, p, opts, b)
	<-done
	if err == nil {
		err = rerr
	}
	if err != nil {
		b.Discard()
		return nil, err
	}
	if opts.Config != nil {
		if have, err := d.Read(layout.ConfigFile); err != nil || !bytes.Equal(have, opts.Config) {
			b.Add(store.File{Rel: layout.ConfigFile, Data: opts.Config, Replace: err == nil, Stage: stageKeys})
		}
	}
	if err := b.Commit(); err != nil {
		return nil, err
	}
	return sortSummary(append(sum, rsum...)), nil
}

// Write stages: a key is on disk before any certificate that names it.
// Certificates need no order among themselves: a leaf left without its CA
// certificate by a crash is checked against the CA certificate the next run
// reissues from the same key. Rendered files name paths only, so they go
// with the keys.
const (
	stageKeys = iota
	stageCerts
	stageRendered = stageKeys
)

// prepareInit checks what exists and makes what is missing, adding every
// file to b as soon as it is made. A *Problem comes before any key is
// generated; after an error, nothing of b may be committed.
func prepareInit(d *store.Dir, p *plan.Plan, opts Options, b *store.Batch) (Summary, error) {
	r := &run{d: d, p: p, opts: opts, now: opts.now(), cas: map[string]*loadedCA{}, b: b}
	steps := []func() error{r.loadCAs, r.loadServiceAccount, r.loadLeaves, r.loadKubeconfigs, r.loadManifests}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := r.generate(); err != nil {
		return nil, err
	}
	return r.summary, nil
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
	r.b.Add(f)
}

func (r *run) note(a Action, files ...string) {
	for _, f := range files {
		r.summary = append(r.summary, Result{File: f, Action: a})
	}
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
		fix := renewFix(spec.Name, false)
		key, err := readKey(r.d, spec.KeyFile(), "")
		if err != nil {
			if pr, ok := err.(*Problem); ok {
				pr.Reason += " (restore it from a backup: a new CA key would invalidate every certificate it signed)"
			}
			return err
		}
		cert, err := readCert(r.d, spec.CertFile(), fix)
		if err != nil {
			return err
		}
		ca := &loadedCA{spec: spec, cert: cert, key: key}
		r.cas[spec.Name] = ca
		switch {
		case cert != nil:
			if !cert.IsCA || !pki.SignedBy(cert, cert) {
				return &Problem{File: spec.CertFile(), Reason: "is not a self-signed CA certificate"}
			}
			if r.now.After(cert.NotAfter) {
				return &Problem{File: spec.CertFile(), Reason: "expired on " + cert.NotAfter.UTC().Format(time.RFC3339), Fix: fix}
			}
			if key == nil {
				ca.external = true
				r.note(Kept, spec.CertFile())
				continue
			}
			if !pki.KeyMatches(cert, key) {
				return &Problem{File: spec.CertFile(), Reason: "does not match " + spec.KeyFile(), Fix: fix}
			}
			r.note(Kept, spec.CertFile(), spec.KeyFile())
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
		default:
			ca.keyNew, ca.certNew = true, true
			ca.ready = make(chan struct{})
			k := r.newKey(spec.KeyFile())
			r.note(Created, spec.CertFile())
			r.todo = append(r.todo, r.signCA(ca, k))
		}
	}
	return nil
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
		ca.key, ca.cert = key, cert
		r.write(stageCerts, store.File{Rel: ca.spec.CertFile(), Data: pki.MarshalCert(cert)})
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

// issuer returns a CA that can sign, or a Problem naming what is missing.
func (r *run) issuer(name, forFile string) (*loadedCA, error) {
	ca := r.cas[name]
	if ca.external {
		return nil, &Problem{File: ca.spec.KeyFile(), Reason: fmt.Sprintf("is missing, and %s must be signed by it (external CA: sign it yourself and place it there)", forFile)}
	}
	return ca, nil
}

func (r *run) loadServiceAccount() error {
	const keyFile, pubFile = plan.ServiceAccountKeyFile, plan.ServiceAccountPubFile
	key, err := readKey(r.d, keyFile, "")
	if err != nil {
		return err
	}
	pubExists, err := r.d.Exists(pubFile)
	if err != nil {
		return err
	}
	var pub crypto.PublicKey
	if pubExists {
		data, err := r.d.Read(pubFile)
		if err != nil {
			return &Problem{File: pubFile, Reason: "cannot be read: " + err.Error()}
		}
		if pub, err = pki.ParsePublicKey(data); err != nil {
			return &Problem{File: pubFile, Reason: "is not a valid PEM public key"}
		}
	}
	switch {
	case key != nil && pub != nil:
		if !pki.PublicKeysEqual(key.Public(), pub) {
			return &Problem{File: pubFile, Reason: "does not match " + keyFile}
		}
		r.note(Kept, keyFile, pubFile)
		return nil
	case key == nil && pub != nil:
		return &Problem{File: keyFile, Reason: "is missing while " + pubFile + " exists (restore it: tokens signed by it would stop working)"}
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
	key, err := readKey(r.d, keyFile, renewFix(spec.Name, true))
	if err != nil {
		return err
	}
	fix := renewFix(spec.Name, false)
	cert, err := readCert(r.d, certFile, fix)
	if err != nil {
		return err
	}
	ca := r.cas[spec.CA]
	switch {
	case cert != nil && key == nil:
		return &Problem{File: keyFile, Reason: "is missing while " + certFile + " exists", Fix: renewFix(spec.Name, true)}
	case cert != nil:
		if ca.certNew {
			return &Problem{File: certFile, Reason: fmt.Sprintf("exists but its CA %s does not", ca.spec.CertFile()), Fix: fix}
		}
		if err := checkLeaf(certFile, cert, key, ca, spec.Request(), r.now, fix); err != nil {
			return err
		}
		r.note(Kept, certFile, keyFile)
		return nil
	}
	ca, err = r.issuer(spec.CA, certFile)
	if err != nil {
		return err
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
	fix := renewFix(spec.Name, false)
	ok, err := r.d.Exists(file)
	if err != nil {
		return err
	}
	clusterCA := r.cas[plan.ClusterCA]
	if ok {
		data, err := r.d.ReadSecret(file)
		if err != nil {
			return &Problem{File: file, Reason: "cannot be read: " + err.Error(), Fix: fix}
		}
		kc, err := kubeconfig.Parse(data)
		if err != nil {
			// Its key cannot be read back: a new one is the only fix.
			return &Problem{File: file, Reason: err.Error(), Fix: renewFix(spec.Name, true)}
		}
		if err := r.checkKubeconfig(spec, kc, clusterCA, fix); err != nil {
			return err
		}
		r.note(Kept, file)
		return nil
	}
	if spec.UsesToken() {
		return r.newBootstrapKubeconfig(spec)
	}
	ca, err := r.issuer(spec.CA, file)
	if err != nil {
		return err
	}
	k := r.embeddedKey()
	r.note(Created, file)
	r.todo = append(r.todo, func() error {
		c, key, err := r.sign(ca, k, spec.Request())
		if err != nil {
			return err
		}
		data, err := kubeconfig.Build(kubeconfig.Spec{
			ClusterName: r.p.Config.ClusterName, Server: spec.Server, CA: ca.cert,
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

func (r *run) checkKubeconfig(spec plan.Kubeconfig, kc *kubeconfig.Parsed, ca *loadedCA, fix string) error {
	file := spec.File()
	// Trust is by key: a CA certificate reissued for the same key (after a
	// renewal) still verifies what the old one did.
	if !ca.certNew && !slices.ContainsFunc(kc.CAs, func(c *x509.Certificate) bool { return pki.PublicKeysEqual(c.PublicKey, ca.cert.PublicKey) }) {
		return &Problem{File: file, Reason: "does not trust " + ca.spec.CertFile(), Fix: fix}
	}
	if kc.Server != spec.Server {
		return &Problem{File: file, Reason: fmt.Sprintf("points at %s, want %s", kc.Server, spec.Server), Fix: fix}
	}
	if spec.UsesToken() {
		if kc.Credentials.Token == "" {
			return &Problem{File: file, Reason: "holds no bootstrap token", Fix: "bulwark token create"}
		}
		tok, err := bootstraptoken.Parse(kc.Credentials.Token)
		if err != nil {
			return &Problem{File: file, Reason: "holds a malformed bootstrap token", Fix: "bulwark token create"}
		}
		// Report the token's Secret with it; an expired token is kept (it is
		// harmless) but said, since new nodes can no longer join with it.
		toks, err := ListTokenManifests(r.d)
		if err != nil {
			return err
		}
		for _, t := range toks {
			if t.Token.ID == tok.ID {
				if t.Token.Expired(r.now) {
					r.note(Expired, t.File)
				} else {
					r.note(Kept, t.File)
				}
			}
		}
		return nil
	}
	if kc.Credentials.Cert == nil {
		return &Problem{File: file, Reason: "holds no client certificate", Fix: fix}
	}
	if ca.certNew {
		return &Problem{File: file, Reason: fmt.Sprintf("exists but its CA %s does not", ca.spec.CertFile()), Fix: fix}
	}
	return checkLeaf(file, kc.Credentials.Cert, kc.Credentials.Key, ca, spec.Request(), r.now, fix)
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
		tok, err = bootstraptoken.New(r.now, r.p.TokenTTL, nil, r.p.TokenGroups, "kubelet TLS bootstrap, made by bulwark init")
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
	r.todo = append(r.todo, func() error {
		ca := r.cas[plan.ClusterCA]
		if err := ca.wait(); err != nil {
			return err
		}
		data, err := BootstrapKubeconfig(r.p, ca.cert, tok)
		if err != nil {
			return err
		}
		r.write(stageCerts, store.File{Rel: spec.File(), Data: data, Secret: true})
		return nil
	})
	return nil
}

// BootstrapKubeconfig is the kubeconfig a kubelet bootstraps with.
func BootstrapKubeconfig(p *plan.Plan, ca *x509.Certificate, tok bootstraptoken.Token) ([]byte, error) {
	return kubeconfig.Build(kubeconfig.Spec{
		ClusterName: p.Config.ClusterName, Server: p.Config.APIServerURL(), CA: ca,
		User: "kubelet-bootstrap", Credentials: kubeconfig.Credentials{Token: tok.String()},
	})
}

func (r *run) reusableToken() (bootstraptoken.Token, string, error) {
	toks, err := ListTokenManifests(r.d)
	if err != nil {
		return bootstraptoken.Token{}, "", err
	}
	for _, t := range toks {
		if !t.Token.Expired(r.now) && t.Token.Description == "kubelet TLS bootstrap, made by bulwark init" {
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
