package rbac_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bulwark-k8s/bulwark/rbac"
	"github.com/bulwark-k8s/bulwark/rbac/rbactest"
)

func mustDecode(t testing.TB, doc string) *rbac.Policy {
	t.Helper()
	p, err := rbac.Decode([]byte(doc), "test.yaml", rbac.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// semantics is a policy that exercises one matching rule per binding.
const semantics = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pods-reader}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: logs}
rules:
- {apiGroups: [""], resources: [pods/log], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: any-status}
rules:
- {apiGroups: ["*"], resources: ["*/status"], verbs: [update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: named-secret}
rules:
- {apiGroups: [""], resources: [secrets], resourceNames: [db], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: health}
rules:
- {nonResourceURLs: [/healthz, /logs/*], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-pods}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pods-reader}
subjects: [{kind: User, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: devs-status}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: any-status}
subjects: [{kind: Group, name: devs}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: everyone-health}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: health}
subjects: [{kind: Group, name: system:authenticated}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-logs, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: logs}
subjects: [{kind: User, name: bob}, {kind: ServiceAccount, name: builder}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: secret, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: named-secret}
subjects: [{kind: Group, name: "system:serviceaccounts:ci"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm, namespace: team}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: cm, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm}
subjects: [{kind: ServiceAccount, name: deployer, namespace: ci}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: gone, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: gone}
subjects: [{kind: User, name: carol}]
`

func TestCheckSemantics(t *testing.T) {
	e := rbac.Compile(mustDecode(t, semantics), rbac.Options{})
	pods := func(verb, ns string) rbac.Action {
		return rbac.Action{Verb: verb, Resource: "pods", Namespace: ns}
	}
	for _, c := range []struct {
		name    string
		user    rbac.User
		action  rbac.Action
		allowed bool
		via     string // binding of the first path
	}{
		{"user by name, in any namespace", rbac.Impersonate("alice"), pods("get", "x"), true, "alice-pods"},
		{"user by name, cluster-wide", rbac.Impersonate("alice"), pods("list", ""), true, "alice-pods"},
		{"verb not granted", rbac.Impersonate("alice"), pods("delete", "x"), false, ""},
		{"other user", rbac.Impersonate("alicia"), pods("get", "x"), false, ""},
		{"resource rule does not cover subresource", rbac.Impersonate("alice"), rbac.Action{Verb: "get", Resource: "pods", Subresource: "log", Namespace: "x"}, false, ""},
		{"resource/subresource", rbac.Impersonate("bob"), rbac.Action{Verb: "get", Resource: "pods", Subresource: "log", Namespace: "team"}, true, "bob-logs"},
		{"subresource rule does not cover resource", rbac.Impersonate("bob"), rbac.Action{Verb: "get", Resource: "pods", Namespace: "team"}, false, ""},
		{"RoleBinding of a ClusterRole is namespaced", rbac.Impersonate("bob"), rbac.Action{Verb: "get", Resource: "pods", Subresource: "log", Namespace: "other"}, false, ""},
		{"RoleBinding does not grant cluster-wide", rbac.Impersonate("bob"), rbac.Action{Verb: "get", Resource: "pods", Subresource: "log"}, false, ""},
		{"*/subresource, any group", rbac.Impersonate("dana", "devs"), rbac.Action{Verb: "update", APIGroup: "apps", Resource: "deployments", Subresource: "status"}, true, "devs-status"},
		{"*/subresource needs a subresource", rbac.Impersonate("dana", "devs"), rbac.Action{Verb: "update", APIGroup: "apps", Resource: "status"}, false, ""},
		{"*/subresource, other subresource", rbac.Impersonate("dana", "devs"), rbac.Action{Verb: "update", Resource: "pods", Subresource: "statusx"}, false, ""},
		{"group membership", rbac.User{Name: "dana", Groups: []string{"devs"}}, rbac.Action{Verb: "update", Resource: "pods", Subresource: "status", Namespace: "q"}, true, "devs-status"},
		{"implicit system:authenticated", rbac.Impersonate("anyone"), rbac.Action{Verb: "get", Path: "/healthz"}, true, "everyone-health"},
		{"no implicit group without impersonation", rbac.User{Name: "anyone"}, rbac.Action{Verb: "get", Path: "/healthz"}, false, ""},
		{"anonymous is not authenticated", rbac.Impersonate("system:anonymous"), rbac.Action{Verb: "get", Path: "/healthz"}, false, ""},
		{"URL prefix", rbac.Impersonate("anyone"), rbac.Action{Verb: "get", Path: "/logs/kube.log"}, true, "everyone-health"},
		{"URL prefix covers the bare prefix", rbac.Impersonate("anyone"), rbac.Action{Verb: "get", Path: "/logs/"}, true, "everyone-health"},
		{"URL prefix excludes shorter", rbac.Impersonate("anyone"), rbac.Action{Verb: "get", Path: "/logs"}, false, ""},
		{"URL exact only", rbac.Impersonate("anyone"), rbac.Action{Verb: "get", Path: "/healthz/etcd"}, false, ""},
		{"non-resource ignores namespace", rbac.Impersonate("anyone"), rbac.Action{Verb: "get", Path: "/healthz", Namespace: "team"}, true, "everyone-health"},
		{"service account defaulted to the binding's namespace", rbac.Impersonate("system:serviceaccount:team:builder"), rbac.Action{Verb: "get", Resource: "pods", Subresource: "log", Namespace: "team"}, true, "bob-logs"},
		{"service account in another namespace", rbac.Impersonate("system:serviceaccount:ci:builder"), rbac.Action{Verb: "get", Resource: "pods", Subresource: "log", Namespace: "team"}, false, ""},
		{"service account namespace group", rbac.Impersonate("system:serviceaccount:ci:x"), rbac.Action{Verb: "get", Resource: "secrets", Name: "db", Namespace: "team"}, true, "secret"},
		{"resourceNames: other name", rbac.Impersonate("system:serviceaccount:ci:x"), rbac.Action{Verb: "get", Resource: "secrets", Name: "web", Namespace: "team"}, false, ""},
		{"resourceNames: no name", rbac.Impersonate("system:serviceaccount:ci:x"), rbac.Action{Verb: "list", Resource: "secrets", Namespace: "team"}, false, ""},
		{"service account groups replaced by explicit groups", rbac.Impersonate("system:serviceaccount:ci:x", "devs"), rbac.Action{Verb: "get", Resource: "secrets", Name: "db", Namespace: "team"}, false, ""},
		{"Role in its namespace, wildcard verb", rbac.Impersonate("system:serviceaccount:ci:deployer"), rbac.Action{Verb: "escalate", Resource: "configmaps", Namespace: "team"}, true, "cm"},
		{"Role, wrong group", rbac.Impersonate("system:serviceaccount:ci:deployer"), rbac.Action{Verb: "get", APIGroup: "apps", Resource: "configmaps", Namespace: "team"}, false, ""},
		{"system:masters", rbac.Impersonate("root", "system:masters"), rbac.Action{Verb: "delete", Resource: "nodes"}, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := e.Check(c.user, c.action)
			if d.Allowed != c.allowed {
				t.Fatalf("allowed = %v, want %v: %s", d.Allowed, c.allowed, d.Reason)
			}
			if a := e.Authorize(c.user, c.action); a.Allowed != c.allowed {
				t.Fatalf("Authorize disagrees with Check: %s", a.Reason)
			}
			if a := e.Allowed(c.user, c.action); a != c.allowed {
				t.Fatalf("Allowed disagrees with Check")
			}
			if c.via != "" && (len(d.Paths) == 0 || d.Paths[0].Binding.Name != c.via) {
				t.Fatalf("paths %v, want the first through %s", d.Paths, c.via)
			}
		})
	}
	t.Run("masters reason names the authorizer", func(t *testing.T) {
		d := e.Check(rbac.Impersonate("root", "system:masters"), rbac.Action{Verb: "get", Resource: "pods"})
		if d.By != rbac.ByMasters || !strings.Contains(d.Reason, "privileged-group authorizer") {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("a binding to a missing role is reported", func(t *testing.T) {
		d := e.Check(rbac.Impersonate("carol"), rbac.Action{Verb: "get", Resource: "pods", Namespace: "team"})
		if d.Allowed || len(d.Errors) != 1 || !strings.Contains(d.Errors[0], `role "gone" not found`) {
			t.Fatalf("%+v", d)
		}
		if !slices.ContainsFunc(e.Problems(), func(p rbac.Problem) bool { return p.Object.Name == "gone" }) {
			t.Fatalf("problems %v", e.Problems())
		}
	})
}

func TestImpersonate(t *testing.T) {
	for _, c := range []struct {
		name   string
		groups []string
		want   []string
	}{
		{"alice", nil, []string{"system:authenticated"}},
		{"alice", []string{"devs"}, []string{"devs", "system:authenticated"}},
		{"alice", []string{"system:unauthenticated"}, []string{"system:unauthenticated"}},
		{"system:anonymous", nil, []string{"system:unauthenticated"}},
		{"system:anonymous", []string{"system:authenticated"}, []string{"system:authenticated", "system:unauthenticated"}},
		{"system:serviceaccount:ns:sa", nil, []string{"system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated"}},
		{"system:serviceaccount:ns:sa", []string{"g"}, []string{"g", "system:authenticated"}},
		{"system:serviceaccount:Bad_NS:sa", nil, []string{"system:authenticated"}},
		{"system:serviceaccount:ns:sa:extra", nil, []string{"system:authenticated"}},
	} {
		if got := rbac.Impersonate(c.name, c.groups...); !slices.Equal(got.Groups, c.want) {
			t.Errorf("Impersonate(%q, %q) groups = %q, want %q", c.name, c.groups, got.Groups, c.want)
		}
	}
}

func TestNodeAuthorizer(t *testing.T) {
	e := rbac.Compile(rbac.Builtin(), rbac.Options{})
	node := rbac.Impersonate("system:node:n1", "system:nodes")
	d := e.Check(node, rbac.Action{Verb: "create", Resource: "events", Namespace: "x"})
	if !d.Allowed || d.By != rbac.ByNode {
		t.Fatalf("node creating events: %+v", d)
	}
	d = e.Check(node, rbac.Action{Verb: "get", Resource: "secrets", Name: "s", Namespace: "x"})
	if d.Allowed || !d.DependsOnNode {
		t.Fatalf("node reading a secret: %+v", d)
	}
	d = e.Check(node, rbac.Action{Verb: "delete", Resource: "services", Namespace: "x"})
	if d.Allowed || d.DependsOnNode {
		t.Fatalf("node deleting a service: %+v", d)
	}
	notNode := rbac.Impersonate("system:node:n1")
	if d := e.Check(notNode, rbac.Action{Verb: "create", Resource: "events", Namespace: "x"}); d.Allowed || d.DependsOnNode {
		t.Fatalf("system:node:n1 outside system:nodes: %+v", d)
	}
	off := rbac.Compile(rbac.Builtin(), rbac.Options{NoNodeAuthorizer: true})
	if d := off.Check(node, rbac.Action{Verb: "create", Resource: "events", Namespace: "x"}); d.Allowed {
		t.Fatalf("without the Node authorizer: %+v", d)
	}
	w := e.WhoCan(rbac.Action{Verb: "create", Resource: "events", Namespace: "x"})
	if w.Nodes != rbac.NodesAllowed {
		t.Fatalf("who-can nodes = %q", w.Nodes)
	}
}

func TestBuiltin(t *testing.T) {
	if v := rbac.KubernetesVersion(); v != "v1.36.3" {
		t.Fatalf("built-in policy from %s", v)
	}
	e := rbac.Compile(rbac.Builtin(), rbac.Options{})
	if len(e.Problems()) != 0 {
		t.Fatalf("problems in the built-in policy: %v", e.Problems())
	}
	var admin, view *rbacv1.ClusterRole
	for i, cr := range e.Policy().ClusterRoles {
		switch cr.Name {
		case "admin":
			admin = &e.Policy().ClusterRoles[i]
		case "view":
			view = &e.Policy().ClusterRoles[i]
		}
	}
	if admin == nil || view == nil || len(admin.Rules) < 10 || len(view.Rules) < 5 {
		t.Fatalf("aggregated roles not aggregated: admin %v, view %v", admin, view)
	}
	// admin aggregates edit, which aggregates view.
	u := rbac.Impersonate("x")
	for _, c := range []struct {
		a    rbac.Action
		want bool
	}{
		{rbac.Action{Verb: "get", Path: "/healthz"}, true},  // system:public-info-viewer
		{rbac.Action{Verb: "get", Path: "/api/v1"}, true},   // system:discovery
		{rbac.Action{Verb: "get", Path: "/metrics"}, false}, // system:monitoring only
		{rbac.Action{Verb: "create", APIGroup: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}, true},
		{rbac.Action{Verb: "list", Resource: "pods", Namespace: "default"}, false},
	} {
		if got := e.Allowed(u, c.a); got != c.want {
			t.Errorf("authenticated user: %s = %v, want %v", c.a, got, c.want)
		}
	}
	kcm := rbac.Impersonate("system:kube-controller-manager")
	if !e.Allowed(kcm, rbac.Action{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Namespace: "kube-system"}) {
		t.Error("the controller manager cannot create tokens")
	}
}

func TestAggregation(t *testing.T) {
	p := mustDecode(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: top}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {agg: top}
rules:
- {apiGroups: [""], resources: [ignored], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: middle, labels: {agg: top}}
aggregationRule:
  clusterRoleSelectors:
  - matchExpressions: [{key: tier, operator: In, values: [a, b]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: z-leaf, labels: {tier: a}}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get]}
- {apiGroups: [""], resources: [services], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: a-leaf, labels: {tier: b, agg: top}}
rules:
- {apiGroups: [""], resources: [services], verbs: [get]}
`)
	e := rbac.Compile(p, rbac.Options{})
	rules := map[string][]rbacv1.PolicyRule{}
	for _, cr := range e.Policy().ClusterRoles {
		rules[cr.Name] = cr.Rules
	}
	// middle: a-leaf then z-leaf (name order), the duplicate dropped.
	if got := len(rules["middle"]); got != 2 || rules["middle"][0].Resources[0] != "services" || rules["middle"][1].Resources[0] != "pods" {
		t.Fatalf("middle = %v", rules["middle"])
	}
	// top: a-leaf, middle (its aggregated rules); its own rule replaced.
	if got := len(rules["top"]); got != 2 || rules["top"][0].Resources[0] != "services" || rules["top"][1].Resources[0] != "pods" {
		t.Fatalf("top = %v", rules["top"])
	}
	b := mustDecode(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: b}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: top}
subjects: [{kind: User, name: u}]
`)
	p.Merge(b)
	e = rbac.Compile(p, rbac.Options{})
	d := e.Check(rbac.Impersonate("u"), rbac.Action{Verb: "get", Resource: "pods"})
	if !d.Allowed || d.Paths[0].AggregatedFrom != "z-leaf" {
		t.Fatalf("%+v", d)
	}
	if e.Allowed(rbac.Impersonate("u"), rbac.Action{Verb: "get", Resource: "ignored"}) {
		t.Fatal("an aggregated role kept its own rules")
	}
}

func TestAggregationCycle(t *testing.T) {
	p := mustDecode(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: a, labels: {x: b}}
aggregationRule: {clusterRoleSelectors: [{matchLabels: {x: a}}]}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: b, labels: {x: a}}
aggregationRule: {clusterRoleSelectors: [{matchLabels: {x: b}}]}
rules: [{apiGroups: [""], resources: [services], verbs: [get]}]
`)
	e := rbac.Compile(p, rbac.Options{}) // must terminate
	if len(e.Problems()) != 1 || !strings.Contains(e.Problems()[0].Msg, "select each other") {
		t.Fatalf("problems: %v", e.Problems())
	}
}

// naive is an independent, unindexed reading of the rules, to check the
// engine's indexes against.
func naive(p *rbac.Policy, u rbac.User, a rbac.Action) bool {
	if slices.Contains(u.Groups, rbac.GroupMasters) {
		return true
	}
	if !a.IsResource() {
		a.Namespace = ""
	}
	applies := func(s rbacv1.Subject, ns string) bool {
		switch s.Kind {
		case "User":
			return s.Name == u.Name
		case "Group":
			return slices.Contains(u.Groups, s.Name)
		case "ServiceAccount":
			if s.Namespace != "" {
				ns = s.Namespace
			}
			return ns != "" && u.Name == "system:serviceaccount:"+ns+":"+s.Name
		}
		return false
	}
	roleAllows := func(kind, ns, name string) bool {
		var rules []rbacv1.PolicyRule
		switch kind {
		case "ClusterRole":
			for _, cr := range p.ClusterRoles {
				if cr.Name == name {
					rules = cr.Rules
				}
			}
		case "Role":
			for _, r := range p.Roles {
				if r.Namespace == ns && r.Name == name && ns != "" {
					rules = r.Rules
				}
			}
		}
		for i := range rules {
			if rbac.RuleAllows(&rules[i], &a) {
				return true
			}
		}
		return false
	}
	for _, b := range p.ClusterRoleBindings {
		if slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool { return applies(s, "") }) && roleAllows(b.RoleRef.Kind, "", b.RoleRef.Name) {
			return true
		}
	}
	if a.Namespace != "" {
		for _, b := range p.RoleBindings {
			if b.Namespace == a.Namespace && slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool { return applies(s, b.Namespace) }) && roleAllows(b.RoleRef.Kind, b.Namespace, b.RoleRef.Name) {
				return true
			}
		}
	}
	return false
}

// matches reports whether u is one of the subjects.
func matches(u rbac.User, s rbacv1.Subject) bool {
	switch s.Kind {
	case "User":
		return s.Name == u.Name
	case "Group":
		return slices.Contains(u.Groups, s.Name)
	case "ServiceAccount":
		return u.Name == rbac.ServiceAccountUser(s.Namespace, s.Name)
	}
	return false
}

// TestRandomPolicies checks, on random policies, that Check, Authorize and
// Allowed agree with each other and with an unindexed evaluation, and that
// WhoCan lists exactly the subjects that Check allows.
func TestRandomPolicies(t *testing.T) {
	seeds := 10
	if testing.Short() {
		seeds = 4
	}
	for seed := range uint64(seeds) {
		r := rand.New(rand.NewPCG(seed, 7))
		size := rbactest.Small
		if seed%2 == 1 {
			size = rbactest.Medium
		}
		p := rbac.Builtin()
		p.Merge(rbactest.Policy(r, size))
		e := rbac.Compile(p, rbac.Options{NoNodeAuthorizer: true})
		v := size.Vocab()
		users := v.Identities(r, 30)
		lists := map[string]rbac.Rules{}
		for _, u := range users {
			lists[u.Name+strings.Join(u.Groups, ",")] = e.RulesFor(u, rbac.AllNamespaces)
		}
		for range 300 {
			a := v.Action(r)
			w := e.WhoCan(a)
			for _, u := range users {
				d := e.Check(u, a)
				all := lists[u.Name+strings.Join(u.Groups, ",")]
				if got := all.Allows(a); got != d.Allowed {
					t.Fatalf("seed %d: %v %s: --list -A allows it %v, can-i %v (%s)", seed, u, a, got, d.Allowed, d.Reason)
				}
				ns := a.Namespace
				if !a.IsResource() {
					ns = ""
				}
				if in := e.RulesFor(u, ns); in.Allows(a) != d.Allowed {
					t.Fatalf("seed %d: %v %s: --list -n %q allows it %v, can-i %v", seed, u, a, ns, in.Allows(a), d.Allowed)
				}
				if want := naive(e.Policy(), u, a); d.Allowed != want {
					t.Fatalf("seed %d: %v %s: engine %v, unindexed %v: %s", seed, u, a, d.Allowed, want, d.Reason)
				}
				if f := e.Authorize(u, a); f.Allowed != d.Allowed || e.Allowed(u, a) != d.Allowed {
					t.Fatalf("seed %d: %v %s: Authorize/Allowed disagree with Check", seed, u, a)
				}
				listed := slices.ContainsFunc(w.Access, func(acc rbac.Access) bool { return matches(u, acc.Subject) })
				if listed != d.Allowed {
					t.Fatalf("seed %d: %v %s: who-can lists it %v, can-i %v (%s)", seed, u, a, listed, d.Allowed, d.Reason)
				}
			}
			seen := map[rbacv1.Subject]bool{}
			for _, acc := range w.Access {
				if seen[acc.Subject] {
					t.Fatalf("seed %d: %s: subject %v listed twice", seed, a, acc.Subject)
				}
				seen[acc.Subject] = true
				if acc.By == rbac.ByRBAC && len(acc.Paths) == 0 {
					t.Fatalf("seed %d: %s: %v without a path", seed, a, acc.Subject)
				}
				for _, path := range acc.Paths {
					if !rbac.RuleAllows(&path.PolicyRule, &a) {
						t.Fatalf("seed %d: %s: path %s does not allow it", seed, a, path)
					}
				}
			}
		}
	}
}

// An aggregated role whose selectors match no rules keeps the rules it was
// written with: the controller's server-side apply of no rules leaves the
// creator's.
func TestAggregationOfNothingKeepsRules(t *testing.T) {
	p := mustDecode(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: lonely}
aggregationRule: {clusterRoleSelectors: [{matchLabels: {nobody: here}}]}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
`)
	e := rbac.Compile(p, rbac.Options{})
	if got := e.Policy().ClusterRoles[0].Rules; len(got) != 1 || got[0].Resources[0] != "pods" {
		t.Fatalf("rules = %v", got)
	}
}

// cycleManifests writes n ClusterRoles that aggregate one another: in a
// ring (each selects the next) or all at once (one label, one selector),
// each with two rules of its own, and a binding to the last.
func cycleManifests(n int, ring bool) string {
	var b strings.Builder
	for i := range n {
		label, sel := "member: \"true\"", "member: \"true\""
		if ring {
			label, sel = fmt.Sprintf("ring: r%d", i), fmt.Sprintf("ring: r%d", (i+1)%n)
		}
		fmt.Fprintf(&b, `---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cycle-%d, labels: {%s}}
aggregationRule: {clusterRoleSelectors: [{matchLabels: {%s}}]}
rules:
- {apiGroups: [""], resources: [things%d], verbs: [get]}
- {apiGroups: [example.com], resources: [widgets], resourceNames: [w%d], verbs: [get, list]}
`, i, label, sel, i, i)
	}
	fmt.Fprintf(&b, `---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: to-cycle}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cycle-%d}
subjects: [{kind: User, name: alice}]
`, n-1)
	return b.String()
}

// 400 ClusterRoles that aggregate one another (about 100 KB): compiled at
// once, the cycle reported, and every role of it holding every rule any of
// them can reach, which is all the controller could ever have stored in
// it.
func TestAggregationCycleLarge(t *testing.T) {
	for _, ring := range []bool{false, true} {
		doc := cycleManifests(400, ring)
		e := rbac.Compile(mustDecode(t, doc), rbac.Options{})
		if len(e.Problems()) != 1 || !strings.Contains(e.Problems()[0].Msg, "400 ClusterRoles in a cycle") {
			t.Fatalf("ring %v: problems %v", ring, e.Problems())
		}
		for _, cr := range e.Policy().ClusterRoles {
			if len(cr.Rules) != 800 {
				t.Fatalf("ring %v: %s holds %d rules, want the 800 of the cycle", ring, cr.Name, len(cr.Rules))
			}
		}
		alice := rbac.Impersonate("alice")
		if !e.Allowed(alice, rbac.Action{Verb: "list", APIGroup: "example.com", Resource: "widgets", Name: "w7"}) ||
			!e.Check(alice, rbac.Action{Verb: "get", Resource: "things0"}).Allowed ||
			e.Allowed(alice, rbac.Action{Verb: "list", Resource: "things0"}) {
			t.Fatalf("ring %v: the cycle's rules are not granted as they should", ring)
		}
		if w := e.WhoCan(rbac.Action{Verb: "get", Resource: "things123"}); len(w.Access) != 2 || w.Access[1].Subject.Name != "alice" {
			t.Fatalf("ring %v: who-can %+v", ring, w.Access)
		}
		if rep := e.Lint(rbac.LintOptions{}); !slices.ContainsFunc(rep.Findings, func(f rbac.Finding) bool { return f.ID == "RBAC014" }) {
			t.Fatalf("ring %v: lint does not report the cycle", ring)
		}
	}
}

// BenchmarkAggregationCycle compiles cycles of n aggregated ClusterRoles
// and answers a question that needs their rules: the time and memory per
// role stay flat as n grows (linear in the input).
func BenchmarkAggregationCycle(b *testing.B) {
	for _, ring := range []bool{false, true} {
		for _, n := range []int{100, 400, 1600, 6400} {
			name := fmt.Sprintf("shared-selector/roles=%d", n)
			if ring {
				name = fmt.Sprintf("ring/roles=%d", n)
			}
			p := mustDecode(b, cycleManifests(n, ring))
			b.Run(name, func(b *testing.B) {
				a := rbac.Action{Verb: "get", Resource: "things1"}
				alice := rbac.Impersonate("alice")
				for b.Loop() {
					if !rbac.Compile(p, rbac.Options{}).Allowed(alice, a) {
						b.Fatal("denied")
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/role")
			})
		}
	}
}

// Aggregation that would make more rules than the API server could store
// stops, says so, and answers: a role over the bound on one object (700
// roles of 100 rules), a chain whose roles would hold 4.5 million rules
// in all.
func TestAggregationBounded(t *testing.T) {
	leaves := func(p *rbac.Policy, n, perLeaf int, label func(i int) map[string]string) {
		for i := range n {
			rules := make([]rbacv1.PolicyRule, perLeaf)
			for j := range rules {
				rules[j] = rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{fmt.Sprintf("r%d-%d", i, j)}}
			}
			_ = p.Add(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("leaf-%d", i), Labels: label(i)}, Rules: rules}, "")
		}
	}
	bind := func(p *rbac.Policy, role string) {
		_ = p.Add(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "top"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}},
			RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: role}}, "")
	}
	wide := &rbac.Policy{}
	leaves(wide, 700, 100, func(int) map[string]string { return map[string]string{"wide": "yes"} })
	_ = wide.Add(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "wide"},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"wide": "yes"}}}}}, "")
	bind(wide, "wide")

	const n = 300
	chain := &rbac.Policy{}
	leaves(chain, n, 100, func(i int) map[string]string { return map[string]string{"chain": fmt.Sprint(i)} })
	for i := range n {
		_ = chain.Add(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("agg-%d", i), Labels: map[string]string{"chain": fmt.Sprint(i - 1)}},
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"chain": fmt.Sprint(i)}}}}}, "")
	}
	bind(chain, "agg-0")

	for _, c := range []struct {
		name string
		p    *rbac.Policy
		want string
	}{{"one object", wide, "in one object"}, {"in all", chain, "in all"}} {
		e := rbac.Compile(c.p, rbac.Options{})
		ps := e.Problems()
		if len(ps) != 1 || !strings.Contains(ps[0].Msg, c.want) {
			t.Fatalf("%s: problems %v", c.name, ps)
		}
		if e.Rules() > 16*c.p.Rules()+1<<20+c.p.Rules() {
			t.Fatalf("%s: %d rules aggregated", c.name, e.Rules())
		}
		e.WhoCan(rbac.Action{Verb: "get", Resource: "r999-0"})
		e.Lint(rbac.LintOptions{})
	}
}
