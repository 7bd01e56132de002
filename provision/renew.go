package provision

import (
	"crypto"
	"fmt"

	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/store"
)

// Renew issues new certificates for the named certificates, CAs and
// kubeconfigs, from the configuration as it is now. Keys are kept unless
// newKey is set; a CA is renewed with its own key only, which keeps every
// certificate it signed valid (rotating a CA key is another operation).
// Everything is checked and signed before the first file is replaced.
func Renew(d *store.Dir, p *plan.Plan, names []string, newKey bool, opts Options) (Summary, error) {
	now := opts.now()
	var (
		writes []store.File
		sum    Summary
	)
	cas := map[string]*loadedCA{}
	caFor := func(name string) (*loadedCA, error) {
		if ca, ok := cas[name]; ok {
			return ca, nil
		}
		spec, _ := p.CA(name)
		key, err := readKey(d, spec.KeyFile(), "")
		if err != nil {
			return nil, err
		}
		if key == nil {
			return nil, &Problem{File: spec.KeyFile(), Reason: "is missing: cannot sign"}
		}
		cert, err := readCert(d, spec.CertFile(), "")
		if err != nil {
			return nil, err
		}
		if cert == nil {
			return nil, &Problem{File: spec.CertFile(), Reason: "is missing", Fix: "bulwark init"}
		}
		if !pki.KeyMatches(cert, key) {
			return nil, &Problem{File: spec.CertFile(), Reason: "does not match " + spec.KeyFile()}
		}
		cas[name] = &loadedCA{spec: spec, cert: cert, key: key}
		return cas[name], nil
	}
	// leafKey returns the key to certify: the existing one, or a new one.
	leafKey := func(file string, existing func() (crypto.Signer, error)) (crypto.Signer, bool, error) {
		if newKey {
			k, err := pki.GenerateKey(p.Algorithm, opts.rand())
			return k, true, err
		}
		k, err := existing()
		if err != nil {
			return nil, false, err
		}
		if k == nil {
			return nil, false, &Problem{File: file, Reason: "is missing", Fix: "bulwark init"}
		}
		return k, false, nil
	}
	for _, name := range names {
		item, err := p.Lookup(name)
		if err != nil {
			return nil, err
		}
		switch it := item.(type) {
		case plan.CA:
			if newKey {
				return nil, fmt.Errorf("%s: renewing a CA keeps its key; a new CA key is a CA rotation, not a renewal", name)
			}
			ca, err := caFor(it.Name)
			if err != nil {
				return nil, err
			}
			cert, err := pki.NewSelfSignedCA(it.Request(), ca.key, now, opts.rand())
			if err != nil {
				return nil, err
			}
			ca.cert = cert
			writes = append(writes, store.File{Rel: it.CertFile(), Data: pki.MarshalCert(cert), Replace: true})
			sum = append(sum, Result{File: it.CertFile(), Action: Renewed})
		case plan.Cert:
			ca, err := caFor(it.CA)
			if err != nil {
				return nil, err
			}
			key, fresh, err := leafKey(it.KeyFile(), func() (crypto.Signer, error) { return readKey(d, it.KeyFile(), renewFix(it.Name, true)) })
			if err != nil {
				return nil, err
			}
			cert, err := ca.issuer().Sign(it.Request(), key.Public(), now, opts.rand())
			if err != nil {
				return nil, err
			}
			if fresh {
				data, err := pki.MarshalPrivateKey(key)
				if err != nil {
					return nil, err
				}
				writes = append(writes, store.File{Rel: it.KeyFile(), Data: data, Secret: true, Replace: true})
				sum = append(sum, Result{File: it.KeyFile(), Action: Renewed})
			}
			writes = append(writes, store.File{Rel: it.CertFile(), Data: pki.MarshalCert(cert), Replace: true})
			sum = append(sum, Result{File: it.CertFile(), Action: Renewed})
		case plan.Kubeconfig:
			if it.UsesToken() {
				return nil, fmt.Errorf("%s authenticates with a bootstrap token: use `bulwark token create`", it.File())
			}
			ca, err := caFor(it.CA)
			if err != nil {
				return nil, err
			}
			key, _, err := leafKey(it.File(), func() (crypto.Signer, error) {
				data, err := d.ReadSecret(it.File())
				if err != nil {
					return nil, nil
				}
				kc, err := kubeconfig.Parse(data)
				if err != nil || kc.Credentials.Key == nil {
					return nil, &Problem{File: it.File(), Reason: "holds no readable client key", Fix: renewFix(it.Name, true)}
				}
				return kc.Credentials.Key, nil
			})
			if err != nil {
				return nil, err
			}
			cert, err := ca.issuer().Sign(it.Request(), key.Public(), now, opts.rand())
			if err != nil {
				return nil, err
			}
			data, err := kubeconfig.Build(kubeconfig.Spec{ClusterName: p.Config.ClusterName, Server: it.Server, CA: ca.cert,
				User: it.Subject.CommonName, Credentials: kubeconfig.Credentials{Cert: cert, Key: key}})
			if err != nil {
				return nil, err
			}
			writes = append(writes, store.File{Rel: it.File(), Data: data, Secret: true, Replace: true})
			sum = append(sum, Result{File: it.File(), Action: Renewed})
		}
	}
	// Keys before the certificates that name them.
	for i := range writes {
		if layout.Classify(writes[i].Rel) != layout.PrivateKey {
			writes[i].Stage = 1
		}
	}
	if err := d.WriteBatch(writes); err != nil {
		return nil, err
	}
	return sortSummary(sum), nil
}
