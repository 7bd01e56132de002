package rbac_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/rbac"
)

func TestDecode(t *testing.T) {
	p := mustDecode(t, `
# a comment-only document
---
apiVersion: v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: Role
  metadata: {name: r}
  rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: skipped}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBindingList
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata: {name: b}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
  subjects: [{kind: User, name: alice}]
---
{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb", "namespace": "web"},
 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}, "subjects": [{"kind": "Group", "name": "g"}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: skipped}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
`)
	if len(p.Roles) != 1 || p.Roles[0].Namespace != "default" || p.Roles[0].Rules[0].Resources[0] != "secrets" {
		t.Fatalf("roles (the later document replaces the earlier, namespace defaulted): %+v", p.Roles)
	}
	if len(p.ClusterRoleBindings) != 1 || len(p.RoleBindings) != 1 || p.RoleBindings[0].Subjects[0].APIGroup != "rbac.authorization.k8s.io" {
		t.Fatalf("bindings: %+v %+v", p.ClusterRoleBindings, p.RoleBindings)
	}
	if src := p.Source(rbac.Ref{Kind: "Role", Namespace: "default", Name: "r"}); src != "test.yaml#6" {
		t.Fatalf("source %q", src)
	}
	ns, err := rbac.Decode([]byte("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\n"), "x", rbac.DecodeOptions{Namespace: "team"})
	if err != nil || ns.Roles[0].Namespace != "team" {
		t.Fatalf("namespace option: %v %+v", err, ns)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		name, doc, want string
		is              error
	}{
		{"old API version", "apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: Role\nmetadata: {name: r}\n", "v1beta1", rbac.ErrUnsupportedVersion},
		{"unknown field", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrulez: []\n", `unknown field "rulez"`, nil},
		{"no name", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {}\n", "without metadata.name", nil},
		{"unknown kind", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Rolle\nmetadata: {name: r}\n", "unknown kind Rolle", nil},
		{"not YAML", "a: [b\n", "document 1", nil},
		{"in a List", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: rbac.authorization.k8s.io/v1\n  kind: Role\n  metadata: {name: r}\n  bad: 1\n", "items[0]", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := rbac.Decode([]byte(c.doc), "in.yaml", rbac.DecodeOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "in.yaml") {
				t.Fatalf("error %v, want one naming in.yaml and %q", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("error %v is not %v", err, c.is)
			}
		})
	}
}

// FuzzDecode: no input panics, and what decodes compiles and answers.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(semantics))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: List, items: []}]\n"))
	f.Add([]byte(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"x"},"aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"a":"b"}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := rbac.Decode(data, "fuzz", rbac.DecodeOptions{})
		if err != nil {
			return
		}
		e := rbac.Compile(p, rbac.Options{})
		e.Check(rbac.Impersonate("alice"), rbac.Action{Verb: "get", Resource: "pods", Namespace: "default"})
		e.WhoCan(rbac.Action{Verb: "get", Path: "/healthz"})
		e.Lint(rbac.LintOptions{})
	})
}
