package plan

import (
	"slices"
	"strings"

	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
)

// Item is one row of the plan: something init writes, flattened for
// reports (table, JSON, YAML).
type Item struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	Files    []string `json:"files"`
	CA       string   `json:"ca,omitempty"`
	CN       string   `json:"cn,omitempty"`
	O        []string `json:"o,omitempty"`
	SANs     []string `json:"sans,omitempty"`
	Usages   []string `json:"usages,omitempty"`
	Validity string   `json:"validity,omitempty"`
	Key      string   `json:"key,omitempty"`
	// Server is the API server a kubeconfig names.
	Server  string `json:"server,omitempty"`
	Purpose string `json:"purpose,omitempty"`
}

// Item kinds.
const (
	KindCA         = "ca"
	KindCert       = "certificate"
	KindKeyPair    = "key-pair"
	KindKubeconfig = "kubeconfig"
	KindManifest   = "manifest"
)

// Files of the cluster objects written under cluster/.
const (
	RBACManifestFile = layout.ClusterObjectsDir + "/rbac.yaml"
	// ServiceAccountsManifestFile holds the default ServiceAccounts of
	// QuietNamespaces.
	ServiceAccountsManifestFile = layout.ClusterObjectsDir + "/service-accounts.yaml"
)

// Items lists everything init writes, in the order it is written.
func (p *Plan) Items() []Item {
	alg := string(p.Algorithm)
	var items []Item
	for _, c := range p.CAs {
		files := []string{c.CertFile(), c.KeyFile()}
		if c.Signer {
			files = append(files, c.SignerCertFile())
		}
		items = append(items, Item{Name: c.Name, Kind: KindCA, Files: files, CN: c.CN,
			Usages: []string{"cert-sign", "crl-sign"}, Validity: config.Duration(c.Validity).String(), Key: alg, Purpose: "signs " + c.Signs})
	}
	items = append(items, Item{Name: "sa", Kind: KindKeyPair, Files: []string{ServiceAccountKeyFile, ServiceAccountPubFile}, Key: alg,
		Purpose: "signs service-account tokens"})
	for _, c := range p.Certs {
		items = append(items, Item{Name: c.Name, Kind: KindCert, Files: []string{c.CertFile(), c.KeyFile()}, CA: c.CA, CN: c.Subject.CommonName,
			O: slices.Clone(c.Subject.Organizations), SANs: SANStrings(c.Subject), Usages: usageStrings(c.Usages),
			Validity: config.Duration(c.Validity).String(), Key: alg, Purpose: c.Purpose})
	}
	for _, k := range p.Kubeconfigs {
		it := Item{Name: k.Name, Kind: KindKubeconfig, Files: []string{k.File()}, Server: k.Server, Purpose: k.Purpose}
		if k.UsesToken() {
			it.CN = bootstrapapi.BootstrapUserPrefix + "<token-id>"
			it.O = append([]string{bootstrapapi.BootstrapDefaultGroup}, p.TokenGroups...)
			it.Validity = config.Duration(p.TokenTTL).String()
		} else {
			it.CA, it.CN, it.O = k.CA, k.Subject.CommonName, slices.Clone(k.Subject.Organizations)
			it.Usages, it.Validity, it.Key = usageStrings(k.Request().Usages), config.Duration(k.Validity).String(), alg
		}
		items = append(items, it)
	}
	items = append(items,
		Item{Name: "bootstrap-token", Kind: KindManifest, Files: []string{layout.TokenSecretFile("<token-id>")},
			Validity: config.Duration(p.TokenTTL).String(), Purpose: "bootstrap token Secret for kube-system"},
		Item{Name: "rbac", Kind: KindManifest, Files: []string{RBACManifestFile}, Purpose: "ClusterRoleBindings for admins, kubelet API and TLS bootstrap"},
		Item{Name: "service-accounts", Kind: KindManifest, Files: []string{ServiceAccountsManifestFile},
			Purpose: "default ServiceAccounts of " + strings.Join(QuietNamespaces(), ", ") + " without token automount"},
	)
	return items
}

// SANStrings lists a subject's DNS names then IP addresses.
func SANStrings(s pki.Subject) []string {
	out := slices.Clone(s.DNSNames)
	for _, ip := range s.IPs {
		out = append(out, ip.String())
	}
	return out
}

func usageStrings(us []pki.Usage) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = string(u)
	}
	return out
}
