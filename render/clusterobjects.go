package render

// The cluster objects that go with the PKI (the RBAC bindings of
// plan.Bindings, the default ServiceAccounts of plan.QuietNamespaces),
// written under cluster/ as YAML manifests to apply.

import (
	"bytes"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
)

// ClusterRoleBindings turns the plan's binding table into objects.
func ClusterRoleBindings() []rbacv1.ClusterRoleBinding {
	var out []rbacv1.ClusterRoleBinding
	for _, b := range plan.Bindings() {
		out = append(out, rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
			ObjectMeta: objectMeta(b.Name, "", b.Why),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: b.ClusterRole},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: b.SubjectKind, Name: b.Subject}},
		})
	}
	return out
}

// RBAC is the multi-document manifest of ClusterRoleBindings.
func RBAC() ([]byte, error) {
	crbs := ClusterRoleBindings()
	return documents(len(crbs), func(i int) (any, string) { return crbs[i], "ClusterRoleBinding " + crbs[i].Name })
}

// objectMeta labels an object as bulwark's and says why it is there.
func objectMeta(name, namespace, why string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:        name,
		Namespace:   namespace,
		Labels:      map[string]string{layout.ManagedByLabel: layout.ManagedBy},
		Annotations: map[string]string{"bulwark.dev/why": why},
	}
}

// documents encodes n objects as one multi-document YAML manifest.
func documents(n int, obj func(i int) (o any, what string)) ([]byte, error) {
	var buf bytes.Buffer
	for i := range n {
		o, what := obj(i)
		doc, err := yaml.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("failed to encode %s: %w", what, err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(doc)
	}
	return buf.Bytes(), nil
}
