package provision

import (
	"cmp"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/bulwark-k8s/bulwark/bootstraptoken"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
)

// Names lists every name Renew accepts, sorted: the plan's and the
// service-account key pair's.
func Names(p *plan.Plan) []string {
	names := append(p.Names(), ServiceAccountName)
	sort.Strings(names)
	return names
}

// ErrUnknownName is wrapped by Renew's error for a name it does not know.
var ErrUnknownName = errors.New("no certificate or kubeconfig of that name")

// renewal is the state of one Renew.
type renewal struct {
	d      *store.Dir
	p      *plan.Plan
	opts   Options
	newKey bool
	fix    fixer
	b      *store.Batch
	sum    Summary
	cas    map[string]*pki.Issuer // as they will be after this run
	// trusted are the CAs' trust files as they will be after this run:
	// the signing certificate and, during a rotation, the other CA.
	trusted map[string][]*x509.Certificate
	// rotated are the CAs that get a new key in this run.
	rotated map[string]bool
	// written are the files added to b, for the static Pods' refresh.
	written []store.File
}

// Renew issues new certificates for the named certificates, CAs and
// kubeconfigs. Keys are kept unless newKey is set.
//
// What a certificate says comes from the configuration when there is one
// (a saved or given one); when the plan was derived from the folder
// (opts.Derived), it comes from the existing certificate itself, as
// kubeadm's certs renew does: its subject, its names, its usages, the CA
// that signed it, the server and cluster of its kubeconfig. Nothing comes
// from the machine bulwark runs on.
//
// A CA renewed with its own key keeps every certificate it signed valid.
// A CA that gets a new key (--new-key, or because both its files are
// gone) is a rotation: every certificate it signed is renewed with it, in
// the same run. Renewing bootstrap-kubelet makes a new bootstrap token.
// Renewing sa rewrites sa.pub from sa.key, or with newKey makes a new pair
// (every service-account token becomes invalid).
//
// Everything is checked and signed before the first file is replaced; a
// failure leaves the folder as it was.
func Renew(d *store.Dir, p *plan.Plan, names []string, newKey bool, opts Options) (Summary, error) {
	rn := &renewal{d: d, p: p, opts: opts, newKey: newKey, fix: fixer{args: opts.FixArgs}, b: d.NewBatch(),
		cas: map[string]*pki.Issuer{}, trusted: map[string][]*x509.Certificate{}, rotated: map[string]bool{}}
	sum, err := rn.run(names)
	if err != nil {
		rn.b.Discard()
		return nil, err
	}
	if s := saveConfig(d, rn.b, opts); s != nil {
		sum = append(sum, *s)
	}
	// The renewed files reach the running static Pods in the same batch.
	pods, err := refreshPods(d, p, rn.written, opts)
	if err != nil {
		rn.b.Discard()
		return nil, err
	}
	for _, f := range pods.writes {
		rn.b.Add(f)
	}
	if err := rn.b.Commit(); err != nil {
		return nil, err
	}
	return sortSummary(append(sum, pods.sum...)), nil
}

func (rn *renewal) run(names []string) (Summary, error) {
	var (
		cas   []plan.CA
		items []any
		sa    bool
	)
	seen := map[string]bool{}
	for _, name := range names {
		if name == ServiceAccountName {
			sa = true
			continue
		}
		item, err := rn.p.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrUnknownName, name)
		}
		switch it := item.(type) {
		case plan.CA:
			if !seen[it.Name] {
				cas = append(cas, it)
			}
			seen[it.Name] = true
		case plan.Cert:
			if !seen[it.Name] {
				items = append(items, it)
			}
			seen[it.Name] = true
		case plan.Kubeconfig:
			if !seen[it.Name] {
				items = append(items, it)
			}
			seen[it.Name] = true
		}
	}
	// CAs first: what they sign is signed by their new selves.
	for _, ca := range cas {
		if err := rn.renewCA(ca); err != nil {
			return nil, err
		}
	}
	// A rotated CA takes every certificate it signed with it (their keys
	// stay: only the signature changes).
	keep := map[string]bool{}
	for _, dep := range rn.dependents() {
		name := itemName(dep)
		if !seen[name] {
			seen[name], keep[name] = true, true
			items = append(items, dep)
		}
	}
	if sa {
		if err := rn.renewServiceAccount(); err != nil {
			return nil, err
		}
	}
	for _, it := range items {
		var err error
		switch it := it.(type) {
		case plan.Cert:
			err = rn.renewLeaf(it, rn.newKey && !keep[it.Name])
		case plan.Kubeconfig:
			// A bootstrap kubeconfig renewed by name gets a new token.
			err = rn.renewKubeconfig(it, (rn.newKey || it.UsesToken()) && !keep[it.Name])
		}
		if err != nil {
			return nil, err
		}
	}
	fixed, err := fixModes(rn.d, rn.b)
	if err != nil {
		return nil, err
	}
	return append(rn.sum, fixed...), nil
}

func itemName(it any) string {
	switch it := it.(type) {
	case plan.Cert:
		return it.Name
	case plan.Kubeconfig:
		return it.Name
	}
	return ""
}

func (rn *renewal) write(f store.File) {
	// Keys (and token Secrets) before the certificates (and kubeconfigs)
	// that name them.
	switch layout.Classify(f.Rel) {
	case layout.PrivateKey, layout.TokenSecret:
		f.Stage = stageKeys
	default:
		f.Stage = stageCerts
	}
	rn.written = append(rn.written, f)
	rn.b.Add(f)
}

func (rn *renewal) note(a Action, file string) {
	rn.sum = append(rn.sum, Result{File: file, Action: a})
}

// problem is a Problem as Renew's error.
func problem(code Code, file, reason, fix string) error {
	return Problems{{Code: code, File: file, Reason: reason, Fix: fix}}
}

// oldCA reads a CA's trust file as it is on disk (nil if missing or
// unreadable): what the existing certificates were signed by (during a
// rotation, the old or the new CA).
func (rn *renewal) oldCA(spec plan.CA) []*x509.Certificate {
	certs, err := readCerts(rn.d, spec.CertFile())
	if err != nil {
		return nil
	}
	return certs
}

// signedByAny reports whether one of cas signed c.
func signedByAny(c *x509.Certificate, cas []*x509.Certificate) bool {
	return c != nil && slices.ContainsFunc(cas, func(ca *x509.Certificate) bool { return pki.SignedBy(c, ca) })
}

// issuer is the CA that signs for name: as renewed in this run, or as on
// disk.
func (rn *renewal) issuer(name string) (*pki.Issuer, error) {
	if iss, ok := rn.cas[name]; ok {
		return iss, nil
	}
	spec, _ := rn.p.CA(name)
	key, kerr := readKey(rn.d, spec.KeyFile())
	bundle, cerr := readCerts(rn.d, spec.CertFile())
	if err := firstFatal(kerr, cerr); err != nil {
		return nil, err
	}
	// During a rotation the trust file holds two CAs: the one that signs
	// matches the key.
	cert := signingCert(bundle, key)
	switch {
	case kerr != nil:
		return nil, problem(problemCode(kerr, CodeCorruptCAKey), spec.KeyFile(), reasonOf(kerr)+" (restore it from a backup; a new CA key invalidates every certificate it signed)", fixFor(kerr, rn.fix.renew(true, spec.Name)))
	case key == nil && cert == nil && cerr == nil:
		return nil, problem(CodeOrphan, spec.CertFile(), "is missing, with its key (a new CA must sign what it signed)", rn.fix.renew(false, spec.Name))
	case key == nil:
		return nil, problem(CodeMissingCAKey, spec.KeyFile(), "is missing: cannot sign (an external CA signs its certificates itself)", "")
	case cerr != nil:
		return nil, problem(problemCode(cerr, CodeCorruptCert), spec.CertFile(), reasonOf(cerr), fixFor(cerr, rn.fix.renew(false, spec.Name)))
	case cert == nil:
		return nil, problem(CodeOrphan, spec.CertFile(), "is missing", rn.fix.renew(false, spec.Name))
	case !pki.KeyMatches(cert, key):
		return nil, problem(CodeCAKeyMismatch, spec.CertFile(), "does not match "+spec.KeyFile(), rn.fix.renew(false, spec.Name))
	}
	rn.cas[name] = &pki.Issuer{Cert: cert, Key: key}
	rn.trusted[name] = bundle
	return rn.cas[name], nil
}

// renewCA reissues a CA's certificate, for its own key or a new one.
func (rn *renewal) renewCA(spec plan.CA) error {
	key, kerr := readKey(rn.d, spec.KeyFile())
	bundle, cerr := readCerts(rn.d, spec.CertFile())
	if err := firstFatal(kerr, cerr); err != nil {
		return err
	}
	cert := signingCert(bundle, key)
	fresh := rn.newKey
	if len(bundle) > 1 && (fresh || key == nil) {
		// A new key now would drop the other CA and the rotation with it.
		return fmt.Errorf("%s holds %d CAs: %s is being rotated (see `bulwark rotate status --dir %s`); finish the rotation before giving it a new key",
			spec.CertFile(), len(bundle), spec.Root, rn.d.Root())
	}
	switch {
	case kerr != nil && !rn.newKey:
		return problem(problemCode(kerr, CodeCorruptCAKey), spec.KeyFile(), reasonOf(kerr)+" (restore it from a backup, or make a new CA: every certificate it signed is renewed with it)", fixFor(kerr, rn.fix.renew(true, spec.Name)))
	case key == nil && kerr == nil && cert != nil && !rn.newKey:
		return problem(CodeMissingCAKey, spec.KeyFile(), "is missing: "+spec.CertFile()+" is an external CA's, renewed where its key is", "")
	case key == nil:
		// Lost (or corrupt, with --new-key): a new CA is the way on.
		fresh = true
	}
	req := spec.Request()
	if rn.opts.Derived && cert != nil {
		req.CommonName, req.Organizations = cert.Subject.CommonName, slices.Clone(cert.Subject.Organization)
		req.DNSNames, req.IPs = slices.Clone(cert.DNSNames), slices.Clone(cert.IPAddresses)
	}
	if fresh {
		k, err := pki.GenerateKey(rn.p.Algorithm, rn.opts.rand())
		if err != nil {
			return err
		}
		data, err := pki.MarshalPrivateKey(k)
		if err != nil {
			return err
		}
		rn.write(store.File{Rel: spec.KeyFile(), Data: data, Secret: true, Replace: true})
		if key == nil && kerr == nil {
			rn.note(Created, spec.KeyFile())
		} else {
			rn.note(Renewed, spec.KeyFile())
		}
		key = k
		rn.rotated[spec.Name] = true
	}
	c, err := pki.NewSelfSignedCA(req, key, rn.opts.now(), rn.opts.rand())
	if err != nil {
		return err
	}
	rn.cas[spec.Name] = &pki.Issuer{Cert: c, Key: key}
	// A recorded rotation's other CA stays trusted (the renewed
	// certificate takes the old one's place); any other certificate in the
	// file is an extra CA (package trust), dropped.
	trusted := []*x509.Certificate{c}
	if !fresh && cert != nil {
		allowed := rn.opts.Rotating[spec.Name]
		trusted = nil
		for _, t := range bundle {
			switch {
			case t == cert:
				trusted = append(trusted, c)
			case slices.ContainsFunc(allowed, func(k crypto.PublicKey) bool { return pki.PublicKeysEqual(k, t.PublicKey) }):
				trusted = append(trusted, t)
			}
		}
	}
	rn.trusted[spec.Name] = trusted
	var data []byte
	for _, t := range trusted {
		data = append(data, pki.MarshalCert(t)...)
	}
	rn.write(store.File{Rel: spec.CertFile(), Data: data, Replace: true})
	if spec.Signer {
		// The controller manager's signing certificate, alone.
		rn.write(store.File{Rel: spec.SignerCertFile(), Data: pki.MarshalCert(c), Replace: true})
		rn.note(Renewed, spec.SignerCertFile())
	}
	if cert == nil && cerr == nil {
		rn.note(Created, spec.CertFile())
	} else {
		rn.note(Renewed, spec.CertFile())
	}
	return nil
}

// dependents are the existing certificates and kubeconfigs signed by a
// CA this run rotates: by the plan, and by their signatures (kubeadm's
// etcd peer certificate is its etcd CA's).
func (rn *renewal) dependents() []any {
	if len(rn.rotated) == 0 {
		return nil
	}
	old := map[string][]*x509.Certificate{}
	for name := range rn.rotated {
		spec, _ := rn.p.CA(name)
		old[name] = rn.oldCA(spec)
	}
	signedByRotated := func(planCA string, c *x509.Certificate) bool {
		if rn.rotated[planCA] {
			return true
		}
		for _, oc := range old {
			if signedByAny(c, oc) {
				return true
			}
		}
		return false
	}
	var out []any
	for _, spec := range rn.p.Certs {
		ok, _ := rn.d.Exists(spec.CertFile())
		if !ok {
			continue
		}
		c, _ := readCert(rn.d, spec.CertFile())
		if signedByRotated(spec.CA, c) {
			out = append(out, spec)
		}
	}
	for _, spec := range rn.p.Kubeconfigs {
		ok, _ := rn.d.Exists(spec.File())
		if !ok {
			continue
		}
		// Every kubeconfig trusts the cluster CA: a new one means a new file.
		if spec.UsesToken() || spec.CA == "" {
			if rn.rotated[plan.ClusterCA] {
				out = append(out, spec)
			}
			continue
		}
		var c *x509.Certificate
		if kc := rn.readKubeconfig(spec.File()); kc != nil {
			c = kc.Credentials.Cert
		}
		if signedByRotated(spec.CA, c) {
			out = append(out, spec)
		}
	}
	return out
}

func (rn *renewal) readKubeconfig(file string) *kubeconfig.Parsed {
	data, err := readFile(rn.d, file, true)
	if err != nil || data == nil {
		return nil
	}
	kc, err := kubeconfig.Parse(data)
	if err != nil {
		return nil
	}
	return kc
}

// signerOf is the name of the plan's CA whose certificate on disk signed
// c, or "".
func (rn *renewal) signerOf(c *x509.Certificate) string {
	for _, spec := range rn.p.CAs {
		if signedByAny(c, rn.oldCA(spec)) {
			return spec.Name
		}
	}
	return ""
}

// requestOf is what an existing certificate says, as a request for the
// same: kubeadm's renewal. Its lifetime is the one it was issued for.
func requestOf(c *x509.Certificate, fallback pki.Request) pki.Request {
	req := pki.Request{Subject: pki.Subject{
		CommonName: c.Subject.CommonName, Organizations: slices.Clone(c.Subject.Organization),
		DNSNames: slices.Clone(c.DNSNames), IPs: slices.Clone(c.IPAddresses),
	}, Usages: pki.UsagesOf(c), Validity: lifetime(c)}
	if len(req.Usages) == 0 {
		req.Usages = fallback.Usages
	}
	if req.Validity <= 0 {
		req.Validity = fallback.Validity
	}
	return req
}

// leafKey is the key to certify: the existing one, a new one with
// --new-key, or a new one where there is none.
func (rn *renewal) leafKey(file, name string, newKey bool, existing crypto.Signer, kerr error) (crypto.Signer, bool, error) {
	if newKey || (existing == nil && kerr == nil) {
		k, err := pki.GenerateKey(rn.p.Algorithm, rn.opts.rand())
		return k, true, err
	}
	if kerr != nil {
		return nil, false, problem(problemCode(kerr, CodeCorruptKey), file, reasonOf(kerr), fixFor(kerr, rn.fix.renew(true, name)))
	}
	return existing, false, nil
}

func (rn *renewal) renewLeaf(spec plan.Cert, newKey bool) error {
	key, kerr := readKey(rn.d, spec.KeyFile())
	old, cerr := readCert(rn.d, spec.CertFile())
	if err := firstFatal(kerr, cerr); err != nil {
		return err
	}
	req, caName := spec.Request(), spec.CA
	if rn.opts.Derived && old != nil {
		req = requestOf(old, req)
		if s := rn.signerOf(old); s != "" {
			caName = s
		}
	}
	iss, err := rn.issuer(caName)
	if err != nil {
		return err
	}
	key, fresh, err := rn.leafKey(spec.KeyFile(), spec.Name, newKey, key, kerr)
	if err != nil {
		return err
	}
	c, err := iss.Sign(req, key.Public(), rn.opts.now(), rn.opts.rand())
	if err != nil {
		return err
	}
	if fresh {
		data, err := pki.MarshalPrivateKey(key)
		if err != nil {
			return err
		}
		rn.write(store.File{Rel: spec.KeyFile(), Data: data, Secret: true, Replace: true})
		rn.note(Renewed, spec.KeyFile())
	}
	rn.write(store.File{Rel: spec.CertFile(), Data: pki.MarshalCert(c), Replace: true})
	rn.note(Renewed, spec.CertFile())
	return nil
}

func (rn *renewal) renewKubeconfig(spec plan.Kubeconfig, newKey bool) error {
	file := spec.File()
	data, err := readFile(rn.d, file, true)
	if err := firstFatal(err); err != nil {
		return err
	}
	var old *kubeconfig.Parsed
	if data != nil {
		old, _ = kubeconfig.Parse(data)
	}
	clusterName, server, user := rn.p.Config.ClusterName, spec.Server, spec.Subject.CommonName
	if spec.UsesToken() {
		server = rn.p.Config.APIServerURL()
	}
	if rn.opts.Derived && old != nil {
		clusterName, server, user = old.ClusterName, old.Server, old.User
	}
	if spec.UsesToken() {
		var keep *bootstraptoken.Token
		if !newKey && old != nil {
			// Taken along by a rotation of the cluster CA: the same token,
			// trusting the new CA.
			if t, err := bootstraptoken.Parse(old.Credentials.Token); err == nil {
				keep = &t
			}
		}
		return rn.renewBootstrap(spec, clusterName, server, keep)
	}
	req, caName := spec.Request(), spec.CA
	var existing crypto.Signer
	var kerr error
	switch {
	case old != nil && old.Credentials.Key != nil:
		existing = old.Credentials.Key
		if rn.opts.Derived && old.Credentials.Cert != nil {
			req = requestOf(old.Credentials.Cert, req)
			if s := rn.signerOf(old.Credentials.Cert); s != "" {
				caName = s
			}
		}
	case data != nil:
		kerr = &fileErr{code: CodeCorruptKubeconfig, reason: "holds no readable client key"}
	}
	iss, err := rn.issuer(caName)
	if err != nil {
		return err
	}
	key, _, err := rn.leafKey(file, spec.Name, newKey, existing, kerr)
	if err != nil {
		return err
	}
	c, err := iss.Sign(req, key.Public(), rn.opts.now(), rn.opts.rand())
	if err != nil {
		return err
	}
	// The issuer call loads the cluster CA's trust file.
	if _, err := rn.issuer(plan.ClusterCA); err != nil {
		return err
	}
	out, err := kubeconfig.Build(kubeconfig.Spec{ClusterName: clusterName, Server: server, CAs: rn.trusted[plan.ClusterCA],
		User: user, Credentials: kubeconfig.Credentials{Cert: c, Key: key}})
	if err != nil {
		return err
	}
	rn.write(store.File{Rel: file, Data: out, Secret: true, Replace: true})
	rn.note(Renewed, file)
	return nil
}

// renewBootstrap makes a new bootstrap token, its Secret, and the
// bootstrap kubeconfig that carries it. The old token's Secret manifest,
// if any, stays: it may be applied to the cluster, and `bulwark token
// delete` removes it there and here.
func (rn *renewal) renewBootstrap(spec plan.Kubeconfig, clusterName, server string, keep *bootstraptoken.Token) error {
	if _, err := rn.issuer(plan.ClusterCA); err != nil {
		return err
	}
	var (
		tok bootstraptoken.Token
		err error
	)
	if keep != nil {
		tok = *keep
	} else {
		if tok, err = bootstraptoken.New(rn.opts.now(), rn.p.TokenTTL, nil, rn.p.TokenGroups, initTokenDescription); err != nil {
			return err
		}
		secret, err := tok.MarshalSecret()
		if err != nil {
			return err
		}
		rn.write(store.File{Rel: layout.TokenSecretFile(tok.ID), Data: secret, Secret: true})
		rn.note(Created, layout.TokenSecretFile(tok.ID))
	}
	kc, err := kubeconfig.Build(kubeconfig.Spec{ClusterName: clusterName, Server: server, CAs: rn.trusted[plan.ClusterCA],
		User: "kubelet-bootstrap", Credentials: kubeconfig.Credentials{Token: tok.String()}})
	if err != nil {
		return err
	}
	rn.write(store.File{Rel: spec.File(), Data: kc, Secret: true, Replace: true})
	rn.note(Renewed, spec.File())
	return nil
}

// renewServiceAccount rewrites sa.pub from sa.key, or makes a new pair.
func (rn *renewal) renewServiceAccount() error {
	const keyFile, pubFile = plan.ServiceAccountKeyFile, plan.ServiceAccountPubFile
	if len(rn.opts.Rotating[ServiceAccountName]) > 0 {
		// sa.pub from sa.key alone would drop the rotation's other key,
		// and every token it signed or will sign with it.
		return fmt.Errorf("%s is being rotated (see `bulwark rotate status%s`): %s trusts its old and its new key; finish the rotation (`bulwark rotate %s%s`) before renewing it",
			ServiceAccountName, rn.fix.args, pubFile, ServiceAccountName, rn.fix.args)
	}
	key, kerr := readKey(rn.d, keyFile)
	if err := firstFatal(kerr); err != nil {
		return err
	}
	switch {
	case rn.newKey:
		k, err := pki.GenerateKey(rn.p.Algorithm, rn.opts.rand())
		if err != nil {
			return err
		}
		data, err := pki.MarshalPrivateKey(k)
		if err != nil {
			return err
		}
		rn.write(store.File{Rel: keyFile, Data: data, Secret: true, Replace: true})
		rn.note(Renewed, keyFile)
		key = k
	case kerr != nil:
		return problem(problemCode(kerr, CodeCorruptKey), keyFile, reasonOf(kerr)+" (restore it from a backup; a new key invalidates every service-account token)", fixFor(kerr, rn.fix.renew(true, ServiceAccountName)))
	case key == nil:
		return problem(CodeMissingSAKey, keyFile, "is missing (restore it from a backup; a new key invalidates every service-account token)", rn.fix.renew(true, ServiceAccountName))
	}
	pub, err := pki.MarshalPublicKey(key.Public())
	if err != nil {
		return err
	}
	rn.write(store.File{Rel: pubFile, Data: pub, Replace: true})
	rn.note(Renewed, pubFile)
	return nil
}

// refreshPods prepares what makes files that a batch is about to write
// reach the static Pods bulwark rendered: each Pod's links to them made
// again (a Pod mounts its folder of links, so a replaced link reaches the
// running container, and a component that reloads the file takes it by
// itself), and its manifest rendered again with the new inputs checksum
// (so the kubelet recreates the Pods that read a changed file only at
// start). It renders with the configuration's render settings (or, where
// it has none, the options read back from the existing manifests) and
// touches only Pods whose manifest bulwark wrote. A manifest that
// bulwark did not render (kubeadm's) is left alone and named: its
// component must be restarted by hand.
func refreshPods(d *store.Dir, p *plan.Plan, writes []store.File, opts Options) (*renderRun, error) {
	var (
		// The saved settings first; what the folder's configuration does
		// not say is read back from the manifests.
		o    = render.OptionsOf(p.Config.Render)
		ours = map[string]bool{}
		rr   = &renderRun{}
	)
	for _, file := range slices.Sorted(maps.Keys(render.ManifestFiles(p))) {
		data, err := d.Read(file)
		if err != nil {
			if ok, xerr := d.Exists(file); xerr == nil && !ok {
				continue
			}
			return nil, fmt.Errorf("failed to read %s: %w", file, err)
		}
		got, comp, ok := render.OptionsFromManifest(data)
		if !ok {
			rr.sum = append(rr.sum, Result{File: file, Action: Kept, Note: NoteForeign})
			continue
		}
		ours[file] = true
		o.Root = cmp.Or(o.Root, got.Root)
		o.ImageRepository = cmp.Or(o.ImageRepository, got.ImageRepository)
		if comp == hardening.Etcd {
			o.EtcdVersion = cmp.Or(o.EtcdVersion, got.EtcdVersion)
		} else {
			o.KubernetesVersion = cmp.Or(o.KubernetesVersion, got.KubernetesVersion)
		}
	}
	if len(ours) == 0 {
		return rr, nil
	}
	r, err := render.Derived(p, o)
	if err != nil {
		return nil, fmt.Errorf("cannot render the existing manifests again: %w", err)
	}
	pending := map[string][]byte{}
	for _, w := range writes {
		if !w.Remove {
			pending[w.Rel] = w.Data
		}
	}
	fresh, err := prepareRender(d, p, r, opts, pending, ours)
	if err != nil {
		return nil, err
	}
	fresh.sum = append(fresh.sum, rr.sum...)
	return fresh, nil
}

// RefreshPods prepares, for a batch that writes the given files, what
// makes them reach the running static Pods (see refreshPods): the Pods'
// links made again and their manifests rendered again with their new
// inputs checksums, to add to the same batch. The files a batch removes
// must be no Pod's input (a rotation's pki/next/). With no writes, it gives what brings Pods left
// behind by a run killed part-way up to date with the files as they are.
// Package rotate's steps use it, as Renew does.
func RefreshPods(d *store.Dir, p *plan.Plan, writes []store.File, opts Options) ([]store.File, Summary, error) {
	rr, err := refreshPods(d, p, writes, opts)
	if err != nil {
		return nil, nil, err
	}
	return rr.writes, rr.sum, nil
}

// NoteForeign is on a static Pod manifest that bulwark did not render.
const NoteForeign = "not rendered by bulwark: restart its component by hand to use renewed files"
