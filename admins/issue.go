package admins

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/store"
)

// Lifetimes of administrator certificates. Kubernetes has no revocation
// list for client certificates: a short life, and groups that RBAC
// bindings grant (and can take back), are the revocation.
const (
	DefaultTTL = 8 * time.Hour
	MaxTTL     = 12 * time.Hour
	MinTTL     = time.Minute
)

// SignOptions are the choices of the approving administrator.
type SignOptions struct {
	// TTL is the certificate's lifetime; 0 is DefaultTTL.
	TTL time.Duration
	// Groups override the groups the request asks for; with neither,
	// plan.GroupClusterAdmins.
	Groups []string
	// Server and ClusterName go into the kubeconfig.
	Server      string
	ClusterName string
	// KeyFile is what the kubeconfig names as its client key: the file
	// the requester keeps beside it.
	KeyFile string
	Now     time.Time
	Rand    io.Reader
}

// Issued is one administrator certificate and the kubeconfig that uses it.
type Issued struct {
	Name       string
	Cert       *x509.Certificate
	CertPEM    []byte
	Kubeconfig []byte
	Entry      Issuance
}

// DefaultGroup is the group of a certificate whose request and approver
// name none.
func DefaultGroup() string { return plan.GroupClusterAdmins }

// ErrGroup is wrapped by every refused group.
var ErrGroup = errors.New("group refused")

func checkGroupName(g string) error {
	switch {
	case g == user.SystemPrivilegedGroup:
		return fmt.Errorf("%w: %s bypasses RBAC and cannot be revoked; it is never issued to an administrator (super-admin.conf is the break-glass credential)", ErrGroup, g)
	case strings.HasPrefix(g, "system:"):
		return fmt.Errorf("%w: %s is a Kubernetes system group, not an administrators' group", ErrGroup, g)
	case g == "" || strings.ContainsAny(g, "\n\t"):
		return fmt.Errorf("%w: %q is not a group name", ErrGroup, g)
	}
	return nil
}

// BoundGroups lists the groups that the RBAC bindings under cluster/ grant
// something to: the only groups an administrator certificate may carry.
func BoundGroups(d *store.Dir) ([]string, error) {
	files, err := d.Walk(layout.ClusterObjectsDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		if layout.Classify(f) != layout.ClusterObject {
			continue
		}
		data, err := d.Read(f)
		if err != nil {
			return nil, err
		}
		for _, doc := range splitYAML(data) {
			var b struct {
				Kind     string           `json:"kind"`
				Subjects []rbacv1.Subject `json:"subjects"`
			}
			if yaml.Unmarshal(doc, &b) != nil || (b.Kind != "ClusterRoleBinding" && b.Kind != "RoleBinding") {
				continue
			}
			for _, s := range b.Subjects {
				if s.Kind == rbacv1.GroupKind && !slices.Contains(out, s.Name) {
					out = append(out, s.Name)
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

func splitYAML(data []byte) [][]byte {
	var out [][]byte
	for _, part := range strings.Split("\n"+string(data), "\n---") {
		if strings.TrimSpace(part) != "" {
			out = append(out, []byte(part))
		}
	}
	return out
}

// Sign verifies a request against the administrator's enrolled key and
// issues a short-lived client certificate, signed by the cluster CA,
// after appending it to the issuance log. The identity must be an
// administrator's: they are the approver.
func (t *Tree) Sign(request []byte, o SignOptions) (*Issued, error) {
	approver, err := t.Actor()
	if err != nil {
		return nil, err
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < MinTTL || ttl > MaxTTL {
		return nil, fmt.Errorf("invalid lifetime %s: administrator certificates live between %s and %s", ttl, MinTTL, MaxTTL)
	}
	req, err := verifyRequest(request, t.History.Current(), o.Now)
	if err != nil {
		return nil, err
	}
	groups := o.Groups
	if len(groups) == 0 {
		groups = req.groups
	}
	if len(groups) == 0 {
		groups = []string{DefaultGroup()}
	}
	bound, err := BoundGroups(t.D)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if err := checkGroupName(g); err != nil {
			return nil, err
		}
		if !slices.Contains(bound, g) {
			return nil, fmt.Errorf("%w: no RBAC binding under %s/ grants anything to %s (bound: %s)", ErrGroup, layout.ClusterObjectsDir, g, strings.Join(bound, ", "))
		}
	}
	log, err := ReadLog(t.D, t.History)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(log, func(e Issuance) bool { return e.Request == req.digest }) {
		return nil, fmt.Errorf("%w: already issued once; make a new one with `bulwark admin request`", ErrRequest)
	}
	ca, err := t.clusterCA()
	if err != nil {
		return nil, err
	}
	cert, err := ca.Sign(pki.Request{Subject: pki.Subject{CommonName: UserName(req.Name), Organizations: slices.Clone(groups)},
		Usages: []pki.Usage{pki.ClientAuth}, Validity: ttl}, req.pub, o.Now, o.Rand)
	if err != nil {
		return nil, err
	}
	entry := Issuance{Serial: cert.SerialNumber.Text(16), Subject: cert.Subject.CommonName, Groups: slices.Clone(groups),
		NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), Lifetime: cert.NotAfter.Sub(o.Now.UTC().Truncate(time.Second)).String(),
		Approver: approver.Name, Request: req.digest, Time: o.Now.UTC().Truncate(time.Second)}
	entry, err = appendLog(t.D, log, entry, t.Identity.Signer)
	if err != nil {
		return nil, err
	}
	// The head counts the entry: cutting it from the log is then found.
	if err := t.writeHead(t.reencrypted(), o.Now); err != nil {
		return nil, err
	}
	kc, err := kubeconfigFor(req.Name, cert, ca.Cert, o)
	if err != nil {
		return nil, err
	}
	return &Issued{Name: req.Name, Cert: cert, CertPEM: pki.MarshalCert(cert), Kubeconfig: kc, Entry: entry}, nil
}

// clusterCA reads the cluster CA's certificate and (decrypted in memory)
// key.
func (t *Tree) clusterCA() (pki.Issuer, error) {
	cert, err := caCert(t.D)
	if err != nil {
		return pki.Issuer{}, err
	}
	f := layout.KeyFile(plan.ClusterCA)
	data, err := t.D.ReadSecret(f)
	if err != nil {
		return pki.Issuer{}, fmt.Errorf("%s: %w", f, err)
	}
	key, err := pki.ParsePrivateKey(data)
	if err != nil {
		return pki.Issuer{}, fmt.Errorf("%s: %w", f, err)
	}
	if !pki.KeyMatches(cert, key) {
		return pki.Issuer{}, fmt.Errorf("%s does not match %s", f, layout.CertFile(plan.ClusterCA))
	}
	return pki.Issuer{Cert: cert, Key: key}, nil
}

// kubeconfigFor is a kubeconfig that embeds the certificate and names the
// requester's key file, which never left their machine.
func kubeconfigFor(name string, cert, ca *x509.Certificate, o SignOptions) ([]byte, error) {
	cluster := o.ClusterName
	if cluster == "" {
		cluster = config.DefaultClusterName
	}
	keyFile := o.KeyFile
	if keyFile == "" {
		keyFile = name + ".key"
	}
	u := UserName(name)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: o.Server, CertificateAuthorityData: pki.MarshalCert(ca)}
	cfg.AuthInfos[u] = &clientcmdapi.AuthInfo{ClientCertificateData: pki.MarshalCert(cert), ClientKey: keyFile}
	ctx := u + "@" + cluster
	cfg.Contexts[ctx] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: u}
	cfg.CurrentContext = ctx
	return clientcmd.Write(*cfg)
}
