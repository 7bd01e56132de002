package render_test

import (
	"bytes"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/render"
)

// TestRBAC decodes the manifest strictly with the real API types and
// checks that it holds exactly the plan's binding table.
func TestRBAC(t *testing.T) {
	data, err := render.RBAC()
	if err != nil {
		t.Fatal(err)
	}
	again, err := render.RBAC()
	if err != nil || !bytes.Equal(data, again) {
		t.Fatal("RBAC output is not deterministic")
	}
	docs := bytes.Split(data, []byte("---\n"))
	table := plan.Bindings()
	if len(docs) != len(table) {
		t.Fatalf("%d documents, want %d", len(docs), len(table))
	}
	for i, doc := range docs {
		var crb rbacv1.ClusterRoleBinding
		if err := yaml.UnmarshalStrict(doc, &crb); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		b := table[i]
		if crb.APIVersion != "rbac.authorization.k8s.io/v1" || crb.Kind != "ClusterRoleBinding" {
			t.Errorf("%s: %s %s", b.Name, crb.APIVersion, crb.Kind)
		}
		if crb.Name != b.Name || crb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: b.ClusterRole}) {
			t.Errorf("%s: name %s roleRef %+v", b.Name, crb.Name, crb.RoleRef)
		}
		want := rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: b.SubjectKind, Name: b.Subject}
		if len(crb.Subjects) != 1 || crb.Subjects[0] != want {
			t.Errorf("%s: subjects %+v, want %+v", b.Name, crb.Subjects, want)
		}
		if crb.Labels["app.kubernetes.io/managed-by"] != "bulwark" || crb.Annotations["bulwark.dev/why"] != b.Why {
			t.Errorf("%s: labels %v annotations %v", b.Name, crb.Labels, crb.Annotations)
		}
		if crb.Namespace != "" {
			t.Errorf("%s: a ClusterRoleBinding with namespace %q", b.Name, crb.Namespace)
		}
		for _, s := range crb.Subjects {
			if s.Name == user.SystemPrivilegedGroup {
				t.Errorf("%s binds %s", b.Name, user.SystemPrivilegedGroup)
			}
		}
	}
	if got := render.ClusterRoleBindings(); len(got) != len(table) {
		t.Errorf("ClusterRoleBindings = %d objects", len(got))
	}
}
