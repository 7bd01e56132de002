package provision

import (
	"strings"

	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/trust"
)

// checkTrust refuses trust roots and certificates bulwark must not build
// on (package trust's Refusals): each a Problem whose fix renews what is
// at fault, with a new key where only one helps (for a CA, a rotation
// that takes everything it signed with it).
func (r *run) checkTrust() error {
	in := trust.RootsInput{}
	for _, spec := range r.p.CAs {
		ca := r.cas[spec.Name]
		if ca == nil || ca.certNew || ca.cert == nil {
			continue
		}
		root := trust.RootCA{Name: spec.Name, File: spec.CertFile(), CN: spec.CN, Cert: ca.cert, Rotating: r.opts.Rotating[spec.Name]}
		if data, err := readFile(r.d, spec.CertFile(), false); err == nil && data != nil {
			if all, err := pki.ParseCerts(data); err == nil && len(all) > 1 {
				root.Extra = all[1:]
			}
		}
		in.CAs = append(in.CAs, root)
	}
	for _, spec := range r.p.Certs {
		if c := r.leafCerts[spec.CertFile()]; c != nil {
			in.Certs = append(in.Certs, trust.Held{Name: spec.Name, File: spec.CertFile(), Cert: c})
		}
		if key, err := readKey(r.d, spec.KeyFile()); err == nil && key != nil {
			in.Keys = append(in.Keys, trust.HeldKey{Name: spec.Name, File: spec.KeyFile(), For: spec.CertFile(), Pub: key.Public()})
		}
	}
	for _, spec := range r.p.Kubeconfigs {
		if c := r.leafCerts[spec.File()]; c != nil {
			in.Certs = append(in.Certs, trust.Held{Name: spec.Name, File: spec.File(), Cert: c})
		}
	}
	if key, err := readKey(r.d, plan.ServiceAccountKeyFile); err == nil && key != nil {
		in.Keys = append(in.Keys, trust.HeldKey{Name: ServiceAccountName, File: plan.ServiceAccountKeyFile, Pub: key.Public()})
	}
	// One problem per file: every reason, and a new key if any needs one.
	type merged struct {
		name    string
		reasons []string
		newKey  bool
		ca      bool
	}
	var order []string
	byFile := map[string]*merged{}
	for _, ref := range trust.Refusals(in) {
		m := byFile[ref.File]
		if m == nil {
			m = &merged{name: ref.Name}
			byFile[ref.File] = m
			order = append(order, ref.File)
		}
		m.reasons = append(m.reasons, ref.Detail)
		m.newKey = m.newKey || ref.NewKey
		m.ca = m.ca || ref.CA
	}
	certOf := map[string]string{}
	for _, k := range in.Keys {
		certOf[k.File] = k.For
	}
	for _, f := range order {
		m := byFile[f]
		reason := strings.Join(m.reasons, "; ")
		// A key file whose certificate has a problem already: that
		// problem's fix takes the new key, one line for both.
		if cert := certOf[f]; cert != "" && r.probs.has(cert) {
			for _, p := range r.probs.list {
				if p.File == cert {
					p.Reason += " (" + f + ": " + reason + ")"
					p.Fix = r.fix.renew(m.newKey, m.name)
				}
			}
			continue
		}
		if m.ca && m.newKey {
			reason += " (a new CA key: everything it signed is renewed with it)"
		}
		r.problem(CodeTrust, f, reason, r.fix.renew(m.newKey, m.name))
	}
	return nil
}
