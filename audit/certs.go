package audit

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/bulwark-k8s/bulwark/expiry"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
)

// caFile returns the CA file a component trusts for a flag: the effective
// flag when the component is known, else the table's file.
func (n *node) caFile(comp hardening.Component, flag, caName string) (string, string) {
	if c := n.find(comp); c != nil {
		if v, ok := c.Flags[flag]; ok {
			return n.local(v.Value), fmt.Sprintf("%s --%s", comp, flag)
		}
	}
	ca, _ := n.plan.CA(caName)
	return n.dir.Path(ca.CertFile()), ca.CertFile()
}

func (n *node) loadCerts(file string) []*x509.Certificate {
	data, err := n.read(file)
	if err != nil {
		return nil
	}
	certs, err := pki.ParseCerts(data)
	if err != nil {
		return nil
	}
	return certs
}

// sharesKey reports whether two bundles hold a certificate with the same
// public key: the same CA, however the files are named.
func sharesKey(a, b []*x509.Certificate) bool {
	for _, x := range a {
		for _, y := range b {
			if pki.PublicKeysEqual(x.PublicKey, y.PublicKey) {
				return true
			}
		}
	}
	return false
}

// checkCAs compares trust roots by key, never by file name.
func (n *node) checkCAs(r *Report) {
	etcdFile, etcdWhat := n.caFile(hardening.Etcd, "trusted-ca-file", plan.EtcdCA)
	peerFile, peerWhat := n.caFile(hardening.Etcd, "peer-trusted-ca-file", plan.EtcdPeerCA)
	clusterFile, clusterWhat := n.caFile(hardening.APIServer, "client-ca-file", plan.ClusterCA)
	proxyFile, proxyWhat := n.caFile(hardening.APIServer, "requestheader-client-ca-file", plan.FrontProxyCA)
	etcdCAs, peerCAs, clusterCAs, proxyCAs := n.loadCerts(etcdFile), n.loadCerts(peerFile), n.loadCerts(clusterFile), n.loadCerts(proxyFile)
	pairs := []struct {
		a, b               []*x509.Certificate
		aWhat, bWhat, file string
		id                 string
		sev                hardening.Severity
		title, fix, cis    string
	}{
		{etcdCAs, clusterCAs, etcdWhat, clusterWhat, etcdFile, "etcd:separate-ca", hardening.Critical,
			"etcd trusts the cluster CA: any Kubernetes client certificate can read and write etcd",
			"give etcd its own CA (bulwark's etcd/ca) for --trusted-ca-file and reissue the etcd and apiserver-etcd-client certificates from it", "2.7"},
		{peerCAs, clusterCAs, peerWhat, clusterWhat, peerFile, "etcd:separate-peer-ca-from-cluster", hardening.Critical,
			"etcd peers trust the cluster CA: any Kubernetes client certificate can join etcd as a member",
			"give etcd peers their own CA (bulwark's etcd/peer-ca)", "2.7"},
		{peerCAs, etcdCAs, peerWhat, etcdWhat, peerFile, "etcd:separate-peer-ca", hardening.Low,
			"etcd peers and etcd clients share a CA: a stolen etcd client certificate (the API server's) can join etcd as a member",
			"sign peer certificates with a CA of their own (bulwark's etcd/peer-ca) and point --peer-trusted-ca-file at it", ""},
		{proxyCAs, clusterCAs, proxyWhat, clusterWhat, proxyFile, "kube-apiserver:separate-front-proxy-ca", hardening.High,
			"the front-proxy CA is the cluster CA: a client certificate can be used to assert any identity through request headers",
			"sign front-proxy-client with its own CA (bulwark's front-proxy-ca)", ""},
	}
	for _, p := range pairs {
		if len(p.a) == 0 || len(p.b) == 0 {
			continue
		}
		r.Checked++
		if sharesKey(p.a, p.b) {
			r.add(Finding{ID: p.id, Severity: p.sev, Title: p.title, CIS: p.cis, Remediation: p.fix,
				Evidence: Evidence{File: p.file, Detail: fmt.Sprintf("%s and %s hold the same CA key", p.aWhat, p.bWhat)}})
		}
	}
}

// role finds the table entry for a certificate file of the folder.
func (n *node) role(rel string) (plan.Cert, bool) {
	for _, c := range n.plan.Certs {
		if c.CertFile() == rel {
			if c.Member != "" && n.defaulted {
				c.Subject.CommonName = "" // the member's name: not known here
			}
			return c, true
		}
	}
	// Per-member etcd certificates: pki/etcd/<member>/{server,peer}.crt.
	parts := strings.Split(rel, "/")
	if len(parts) == 4 && parts[0] == "pki" && parts[1] == "etcd" {
		kind := "etcd/" + strings.TrimSuffix(parts[3], ".crt")
		for _, c := range n.plan.Certs {
			if c.Kind == kind {
				c.Subject.CommonName = "" // the member's name: not known here
				return c, true
			}
		}
	}
	return plan.Cert{}, false
}

func (n *node) caCert(name string) *x509.Certificate {
	ca, _ := n.plan.CA(name)
	certs := n.loadCerts(n.dir.Path(ca.CertFile()))
	if len(certs) == 0 {
		return nil
	}
	return certs[0]
}

func (n *node) checkCerts(r *Report) {
	files, err := n.dir.Walk("pki")
	if err != nil {
		return
	}
	for _, rel := range files {
		switch {
		case strings.HasSuffix(rel, ".crt"):
			n.checkCertFile(r, rel)
		case strings.HasSuffix(rel, ".key"):
			n.checkCAKey(r, rel)
		}
	}
}

func (n *node) checkExpiry(r *Report, file, what string, c *x509.Certificate) {
	r.Checked++
	switch expiry.Judge(c, n.opts.Now, n.opts.WarnWithin) {
	case expiry.Expired:
		r.add(Finding{ID: "cert:expired", Severity: hardening.Critical, Title: what + " has expired",
			Evidence:    Evidence{File: file, Detail: fmt.Sprintf("%s ended %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))},
			Remediation: "bulwark certs renew (or kubeadm certs renew)"})
	case expiry.Expiring:
		r.add(Finding{ID: "cert:expiring", Severity: hardening.Medium, Title: what + " expires soon",
			Evidence:    Evidence{File: file, Detail: fmt.Sprintf("%s ends %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))},
			Remediation: "bulwark certs renew (or kubeadm certs renew)"})
	}
}

func (n *node) checkCertFile(r *Report, rel string) {
	certs := n.loadCerts(n.dir.Path(rel))
	if len(certs) == 0 {
		r.add(Finding{ID: "cert:unreadable", Severity: hardening.High, Title: "a certificate file does not parse",
			Evidence: Evidence{File: rel, Detail: "not a PEM certificate"}, Remediation: "restore or reissue it"})
		return
	}
	cert := certs[0]
	n.checkExpiry(r, rel, "certificate "+rel, cert)
	n.checkMasters(r, rel, cert, false)
	keyRel := strings.TrimSuffix(rel, ".crt") + ".key"
	if data, err := n.dir.ReadSecret(keyRel); err == nil {
		r.Checked++
		if key, err := pki.ParsePrivateKey(data); err != nil || !pki.KeyMatches(cert, key) {
			r.add(Finding{ID: "cert:key-mismatch", Severity: hardening.High, Title: "a certificate does not match its private key",
				Evidence: Evidence{File: rel, Detail: keyRel + " is not its key"}, Remediation: "bulwark certs renew (keeps the key) or restore the matching key"})
		}
	}
	spec, ok := n.role(rel)
	if !ok {
		return
	}
	r.Checked++
	if ca := n.caCert(spec.CA); ca != nil && !pki.SignedBy(cert, ca) {
		caSpec, _ := n.plan.CA(spec.CA)
		r.add(Finding{ID: "cert:wrong-ca", Severity: hardening.High, Title: fmt.Sprintf("%s is not signed by %s", rel, caSpec.CertFile()),
			Evidence:    Evidence{File: rel, Detail: fmt.Sprintf("issuer %q", cert.Issuer.CommonName)},
			Remediation: "reissue it from " + caSpec.CertFile() + " (bulwark certs renew " + spec.Name + ")"})
	}
	if spec.Subject.CommonName != "" && cert.Subject.CommonName != spec.Subject.CommonName {
		r.add(Finding{ID: "cert:cn", Severity: hardening.Medium, Title: rel + " has an unexpected CN",
			Evidence:    Evidence{File: rel, Detail: fmt.Sprintf("CN %q, want %q", cert.Subject.CommonName, spec.Subject.CommonName)},
			Remediation: "bulwark certs renew " + spec.Name})
	}
	if !slices.Equal(sorted(cert.Subject.Organization), sorted(spec.Subject.Organizations)) && !slices.Contains(cert.Subject.Organization, user.SystemPrivilegedGroup) {
		r.add(Finding{ID: "cert:organization", Severity: hardening.Medium, Title: rel + " carries groups it should not",
			Evidence:    Evidence{File: rel, Detail: fmt.Sprintf("O %q, want %q", cert.Subject.Organization, spec.Subject.Organizations)},
			Remediation: "bulwark certs renew " + spec.Name})
	}
	if !slices.Equal(sortedUsages(pki.UsagesOf(cert)), sortedUsages(spec.Usages)) {
		r.add(Finding{ID: "cert:usages", Severity: hardening.Medium, Title: rel + " has unexpected extended key usages",
			Evidence:    Evidence{File: rel, Detail: fmt.Sprintf("usages %v, want %v", pki.UsagesOf(cert), spec.Usages)},
			Remediation: "bulwark certs renew " + spec.Name})
	}
	if spec.Kind == plan.CertAPIServer {
		for _, name := range plan.ServiceNames(n.plan.Config.ClusterDomain) {
			if !slices.Contains(cert.DNSNames, name) {
				r.add(Finding{ID: "cert:apiserver-sans", Severity: hardening.High, Title: "the API server certificate does not cover the in-cluster names",
					Evidence: Evidence{File: rel, Detail: "missing DNS name " + name}, Remediation: "bulwark certs renew apiserver"})
			}
		}
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func sortedUsages(us []pki.Usage) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = string(u)
	}
	slices.Sort(out)
	return out
}

// checkMasters reports every credential in system:masters but the
// break-glass one: RBAC cannot take that group's access away.
func (n *node) checkMasters(r *Report, file string, cert *x509.Certificate, breakGlass bool) {
	r.Checked++
	if slices.Contains(cert.Subject.Organization, user.SystemPrivilegedGroup) && !breakGlass && !cert.IsCA {
		r.add(Finding{ID: "rbac:system-masters", Severity: hardening.High,
			Title:       "a credential is in system:masters, which bypasses RBAC and cannot be revoked",
			Evidence:    Evidence{File: file, Detail: fmt.Sprintf("CN %q, O %q", cert.Subject.CommonName, cert.Subject.Organization)},
			Remediation: "reissue it in a group bound to the roles it needs (bulwark's admin.conf uses bulwark:cluster-admins); keep system:masters for super-admin.conf only"})
	}
}

// checkCAKey notes CA keys on the node that need not be there.
func (n *node) checkCAKey(r *Report, rel string) {
	for _, ca := range n.plan.CAs {
		if ca.KeyFile() != rel {
			continue
		}
		why := "needed only to issue new certificates: keep it offline"
		if ca.Name == plan.ClusterCA {
			why = "needed by the controller manager to sign kubelet certificates; elsewhere keep it offline"
		}
		r.add(Finding{ID: "pki:ca-key-present", Severity: hardening.Info, Title: "a CA private key is on this node",
			Evidence: Evidence{File: rel, Detail: why}, Remediation: "move " + rel + " off nodes that do not sign"})
	}
}

func (n *node) checkKubeconfigs(r *Report) {
	files, err := n.dir.Walk(".")
	if err != nil {
		return
	}
	for _, rel := range files {
		if layout.Classify(rel) != layout.Kubeconfig {
			continue
		}
		data, err := n.dir.ReadSecret(rel)
		if err != nil {
			continue
		}
		certs, err := kubeconfig.Certificates(data)
		if err != nil {
			r.add(Finding{ID: "kubeconfig:unreadable", Severity: hardening.Medium, Title: "a kubeconfig does not parse",
				Evidence: Evidence{File: rel, Detail: err.Error()}, Remediation: "restore or regenerate it"})
			continue
		}
		breakGlass := rel == layout.KubeconfigFile(plan.KubeconfigSuperAdmin)
		for where, c := range certs {
			n.checkExpiry(r, rel, fmt.Sprintf("%s (%s)", rel, where), c)
			if strings.HasPrefix(where, "user ") {
				n.checkMasters(r, rel, c, breakGlass)
			}
		}
		if breakGlass {
			r.add(Finding{ID: "kubeconfig:super-admin-present", Severity: hardening.Info, Title: "the break-glass system:masters credential is on this node",
				Evidence: Evidence{File: rel, Detail: "system:masters cannot be revoked"}, Remediation: "keep super-admin.conf offline once the cluster objects are applied"})
		}
	}
}
