package admins

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/store"
)

// UserName is the Kubernetes user of an administrator's certificates. The
// prefix keeps it apart from every system and component user.
func UserName(name string) string { return plan.AdminUserPrefix + name }

// ErrExists and ErrUnknown: adding a holder twice, removing one who is
// not there.
var (
	ErrExists  = errors.New("already a holder")
	ErrUnknown = errors.New("no such holder")
)

// Add enrols a holder (an SSH key: an administrator; an age X25519
// recipient: a reader) and re-encrypts every secret, with fresh file keys,
// to the new set. With clusterRole, an administrator also gets a
// ClusterRoleBinding of their own user to it under cluster/.
func (t *Tree) Add(name string, r atrest.Recipient, clusterRole string, now time.Time) (*Result, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	cur := t.History.Current()
	if _, ok := cur.Holder(name); ok {
		return nil, fmt.Errorf("%w: %q", ErrExists, name)
	}
	if h, ok := cur.holderFor(r); ok {
		return nil, fmt.Errorf("%w: that key is %q's", ErrExists, h.Name)
	}
	role := roleOf(r)
	if clusterRole != "" && role != RoleAdmin {
		return nil, errors.New("a reader (age X25519 recipient) holds no certificate: give --cluster-role only for an SSH key")
	}
	holders := append(slices.Clone(cur.Holders), Holder{Name: name, Key: r.Key, Role: role})
	var before func() error
	if clusterRole != "" {
		before = func() error {
			data, err := adminBinding(name, clusterRole)
			if err != nil {
				return err
			}
			return t.D.Replace(layout.AdminBindingFile(name), data, layout.ClusterObject.Mode())
		}
	}
	return t.change(holders, "add "+name, now, before)
}

// adminBinding is an administrator's own ClusterRoleBinding.
func adminBinding(name, clusterRole string) ([]byte, error) {
	if strings.ContainsAny(clusterRole, " /\n") || clusterRole == "" {
		return nil, fmt.Errorf("invalid cluster role %q", clusterRole)
	}
	b := rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: plan.AdminUserPrefix + name, Labels: map[string]string{layout.ManagedByLabel: layout.ManagedBy}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: UserName(name)}},
	}
	return yaml.Marshal(b)
}

// Removal is what Remove did.
type Removal struct {
	*Result
	// Bindings removed from cluster/ (delete them from the live cluster
	// too).
	Bindings []string
	// Compromised is what the removed holder could read.
	Compromised []Compromised
}

// Remove takes a holder out: every secret is re-encrypted with fresh file
// keys to the remaining set, their binding under cluster/ is removed, and
// every key and CA they could read is marked compromised in the rotation
// state (re-encryption does not un-leak what they already read: only
// rotation does). The marks are written first, so that no run killed
// part-way loses them.
func (t *Tree) Remove(name string, now time.Time) (*Removal, error) {
	cur := t.History.Current()
	gone, ok := cur.Holder(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	actor, err := t.Actor()
	if err != nil {
		return nil, err
	}
	if actor.Name == name {
		return nil, errors.New("an administrator cannot remove themselves: ask another administrator")
	}
	holders := slices.DeleteFunc(slices.Clone(cur.Holders), func(h Holder) bool { return h.Name == name })
	rem := &Removal{}
	before := func() error {
		marks, err := t.readable(gone, now)
		if err != nil {
			return err
		}
		rem.Compromised = marks
		if err := AddCompromised(t.D, marks); err != nil {
			return err
		}
		bindings, err := removeBindings(t.D, name)
		rem.Bindings = bindings
		return err
	}
	res, err := t.change(holders, "remove "+name, now, before)
	if err != nil {
		return nil, err
	}
	rem.Result = res
	return rem, nil
}

// readable lists every secret the holder could read: all of them, since
// every secret is sealed to every holder.
func (t *Tree) readable(h Holder, now time.Time) ([]Compromised, error) {
	files, err := SecretFiles(t.D)
	if err != nil {
		return nil, err
	}
	var out []Compromised
	for _, f := range files {
		c := Compromised{File: f, What: layout.Classify(f).String(), Holder: h.Name,
			Reason: fmt.Sprintf("readable by %s, removed", h.Name), Since: now.UTC().Truncate(time.Second)}
		c.CA = isCAKey(t.D, f)
		out = append(out, c)
	}
	return out, nil
}

// isCAKey reports whether a key file's certificate is a CA's.
func isCAKey(d *store.Dir, keyFile string) bool {
	if layout.Classify(keyFile) != layout.PrivateKey {
		return false
	}
	data, err := d.Read(strings.TrimSuffix(keyFile, layout.KeyExt) + layout.CertExt)
	if err != nil {
		return false
	}
	c, err := pki.ParseCert(data)
	return err == nil && c.IsCA
}

// removeBindings removes the administrator's own binding file.
func removeBindings(d *store.Dir, name string) ([]string, error) {
	f := layout.AdminBindingFile(name)
	ok, err := d.Exists(f)
	if err != nil || !ok {
		return nil, err
	}
	return []string{f}, d.Remove(f)
}

// caCert reads the cluster CA's certificate, for kubeconfigs.
func caCert(d *store.Dir) (*x509.Certificate, error) {
	f := layout.CertFile(plan.ClusterCA)
	data, err := d.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s is missing: run `bulwark init` first", f)
	}
	c, err := pki.ParseCert(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f, err)
	}
	return c, nil
}
