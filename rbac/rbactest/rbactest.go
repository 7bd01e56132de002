// Package rbactest generates random RBAC policies, identities and
// questions for the differential test against kube-apiserver and for the
// benchmarks: roles and cluster roles with resourceNames, subresources,
// "*/subresource", wildcards and non-resource URLs; aggregated cluster roles
// (also feeding the built-in admin, edit and view); bindings to users,
// groups (the implicit ones too) and service accounts, with and without
// namespaces, and to missing roles. Every object is valid, so the API
// server accepts it. The same seed gives the same policy.
package rbactest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/rbac"
)

// Size shapes a generated policy.
type Size struct {
	Namespaces          int
	ClusterRoles        int // besides the aggregated ones
	AggregatedRoles     int
	RolesPerNamespace   int
	RulesPerRole        int // on average
	ClusterRoleBindings int
	BindingsPerNS       int
	Users, Groups       int
	ServiceAccounts     int // per namespace
	// APIGroups and Resources widen the vocabulary beyond the built-in
	// resources, for realistically sparse large policies.
	APIGroups, Resources int
	// Wildcards is the chance that a rule's verbs, apiGroups or resources
	// hold "*"; Implicit the chance that a group subject is an implicit
	// group (system:authenticated, system:serviceaccounts...).
	Wildcards, Implicit float64
	// AggregationSpan, when set, chains aggregated roles: each is
	// aggregated (with a chance of 0.9) by one of the next AggregationSpan
	// aggregated roles, so that aggregation is about
	// AggregatedRoles/(AggregationSpan+1) levels deep.
	AggregationSpan int
	// BindAggregated is the chance that a ClusterRoleBinding or a
	// RoleBinding of a ClusterRole names an aggregated role.
	BindAggregated float64
}

// Shape is a named size, for benchmarks over policies of several shapes.
type Shape struct {
	Name string
	Size Size
}

// Shapes are the benchmarks' policies: three shapes at about 10k and 100k
// rules as written. "mixed" is Large and a tenth of it: many roles of
// about 20 rules, a few aggregated; "few-large-roles" puts the rules in a
// few dozen roles of thousands of rules each; "deep-aggregation" in tens
// of thousands of roles of one or two rules, hundreds of aggregated roles
// that aggregate one another about ten levels deep, and bindings that
// often name them.
var Shapes = []Shape{
	{"mixed-10k", Large10k},
	{"mixed-100k", Large},
	{"few-large-roles-10k", Size{Namespaces: 8, ClusterRoles: 12, AggregatedRoles: 2, RolesPerNamespace: 1, RulesPerRole: 500,
		ClusterRoleBindings: 300, BindingsPerNS: 20, Users: 300, Groups: 30, ServiceAccounts: 6, APIGroups: 40, Resources: 400,
		Wildcards: 0.0005, Implicit: 0.01}},
	{"few-large-roles-100k", Size{Namespaces: 16, ClusterRoles: 24, AggregatedRoles: 4, RolesPerNamespace: 1, RulesPerRole: 2500,
		ClusterRoleBindings: 3000, BindingsPerNS: 60, Users: 2000, Groups: 200, ServiceAccounts: 6, APIGroups: 40, Resources: 400,
		Wildcards: 0.0005, Implicit: 0.01}},
	{"deep-aggregation-10k", Size{Namespaces: 20, ClusterRoles: 5500, AggregatedRoles: 60, RolesPerNamespace: 50, RulesPerRole: 1,
		ClusterRoleBindings: 400, BindingsPerNS: 10, Users: 400, Groups: 40, ServiceAccounts: 4, APIGroups: 40, Resources: 400,
		Wildcards: 0.0005, Implicit: 0.01, AggregationSpan: 6, BindAggregated: 0.5}},
	{"deep-aggregation-100k", Size{Namespaces: 100, ClusterRoles: 55000, AggregatedRoles: 300, RolesPerNamespace: 100, RulesPerRole: 1,
		ClusterRoleBindings: 3000, BindingsPerNS: 20, Users: 3000, Groups: 300, ServiceAccounts: 4, APIGroups: 40, Resources: 400,
		Wildcards: 0.0005, Implicit: 0.01, AggregationSpan: 30, BindAggregated: 0.5}},
}

// Small is the differential test's policy: a narrow vocabulary, so that
// random questions often hit a rule, and every kind of grant.
var Small = Size{Namespaces: 3, ClusterRoles: 24, AggregatedRoles: 4, RolesPerNamespace: 4, RulesPerRole: 4,
	ClusterRoleBindings: 24, BindingsPerNS: 8, Users: 5, Groups: 4, ServiceAccounts: 2, Wildcards: 0.04, Implicit: 0.23}

// Medium has roles of many rules, so that questions go through the rule
// index rather than a scan of the user's roles.
var Medium = Size{Namespaces: 4, ClusterRoles: 40, AggregatedRoles: 6, RolesPerNamespace: 6, RulesPerRole: 16,
	ClusterRoleBindings: 40, BindingsPerNS: 10, Users: 8, Groups: 6, ServiceAccounts: 3, Wildcards: 0.01, Implicit: 0.05}

// Large is the benchmarks' policy: about 100k rules in 300 namespaces,
// thousands of roles and bindings, with the built-in policy beside it.
var Large = Size{Namespaces: 300, ClusterRoles: 2200, AggregatedRoles: 40, RolesPerNamespace: 8, RulesPerRole: 21,
	ClusterRoleBindings: 3000, BindingsPerNS: 12, Users: 3000, Groups: 300, ServiceAccounts: 6, APIGroups: 40, Resources: 400,
	Wildcards: 0.002, Implicit: 0.01}

// Large10k is Large at a tenth: about 10k rules.
var Large10k = Size{Namespaces: 30, ClusterRoles: 220, AggregatedRoles: 8, RolesPerNamespace: 8, RulesPerRole: 21,
	ClusterRoleBindings: 300, BindingsPerNS: 12, Users: 300, Groups: 30, ServiceAccounts: 6, APIGroups: 40, Resources: 400,
	Wildcards: 0.002, Implicit: 0.01}

// Vocabulary is every name a policy and its questions draw from.
type Vocabulary struct {
	Namespaces, Users, Groups        []string
	ServiceAccounts                  []string // names, in every namespace
	Verbs, APIGroups, Resources      []string // Resources without subresources
	Subresources, Names, URLs, Paths []string
}

// Vocab is the vocabulary of a size.
func (s Size) Vocab() Vocabulary {
	v := Vocabulary{
		Verbs:        []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "impersonate", "escalate", "bind", "approve", "use"},
		APIGroups:    []string{"", "apps", "batch", "rbac.authorization.k8s.io", "certificates.k8s.io", "example.com"},
		Resources:    []string{"pods", "secrets", "configmaps", "services", "deployments", "nodes", "serviceaccounts", "roles", "clusterroles", "certificatesigningrequests", "widgets"},
		Subresources: []string{"log", "exec", "status", "scale", "proxy", "token", "approval"},
		Names:        []string{"a", "b", "web", "kube-root-ca.crt"},
		URLs:         []string{"/healthz", "/healthz/*", "/api", "/api/*", "/apis/*", "/metrics", "/logs/*", "/version", "/readyz", "/openapi/v2", "/*"},
		Paths:        []string{"/healthz", "/healthz/etcd", "/api", "/api/v1", "/apis", "/apis/apps/v1", "/metrics", "/logs/kube.log", "/version", "/readyz", "/livez", "/openapi/v2", "/other"},
	}
	for i := range s.Namespaces {
		v.Namespaces = append(v.Namespaces, fmt.Sprintf("ns-%d", i))
	}
	for i := range s.Users {
		v.Users = append(v.Users, fmt.Sprintf("user-%d", i))
	}
	for i := range s.Groups {
		v.Groups = append(v.Groups, fmt.Sprintf("group-%d", i))
	}
	for i := range s.ServiceAccounts {
		v.ServiceAccounts = append(v.ServiceAccounts, fmt.Sprintf("sa-%d", i))
	}
	for i := range s.APIGroups {
		v.APIGroups = append(v.APIGroups, fmt.Sprintf("g%d.example.com", i))
	}
	for i := range s.Resources {
		v.Resources = append(v.Resources, fmt.Sprintf("things%d", i))
	}
	return v
}

type gen struct {
	r *rand.Rand
	s Size
	v Vocabulary
}

func (g *gen) pick(l []string) string { return l[g.r.IntN(len(l))] }
func (g *gen) chance(p float64) bool  { return g.r.Float64() < p }

// some picks between 1 and max distinct values of l.
func (g *gen) some(l []string, max int) []string {
	n := 1 + g.r.IntN(max)
	var out []string
	seen := map[string]bool{}
	for range n {
		x := g.pick(l)
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func (g *gen) rule(namespaced bool) rbacv1.PolicyRule {
	if !namespaced && g.chance(0.12) {
		r := rbacv1.PolicyRule{Verbs: g.some([]string{"get", "post", "put", "head", "delete"}, 2), NonResourceURLs: g.some(g.v.URLs, 2)}
		if g.chance(g.s.Wildcards) {
			r.Verbs = []string{"*"}
		}
		if g.chance(g.s.Wildcards) {
			r.NonResourceURLs = []string{"*"}
		}
		return r
	}
	r := rbacv1.PolicyRule{Verbs: g.some(g.v.Verbs, 3), APIGroups: g.some(g.v.APIGroups, 2)}
	w := g.s.Wildcards
	if g.chance(w) {
		r.Verbs = append(r.Verbs, "*")
	}
	if g.chance(w) {
		r.APIGroups = []string{"*"}
	}
	n := 1 + g.r.IntN(3)
	for range n {
		switch x := g.r.Float64(); {
		case x < w:
			r.Resources = append(r.Resources, "*")
		case x < 3*w:
			r.Resources = append(r.Resources, "*/"+g.pick(g.v.Subresources))
		case x < 0.35:
			r.Resources = append(r.Resources, g.pick(g.v.Resources)+"/"+g.pick(g.v.Subresources))
		default:
			r.Resources = append(r.Resources, g.pick(g.v.Resources))
		}
	}
	if g.chance(0.2) {
		r.ResourceNames = g.some(g.v.Names, 2)
	}
	return r
}

func (g *gen) rules(namespaced bool) []rbacv1.PolicyRule {
	n := 1 + g.r.IntN(2*g.s.RulesPerRole)
	out := make([]rbacv1.PolicyRule, n)
	for i := range out {
		out[i] = g.rule(namespaced)
	}
	return out
}

const aggPrefix = "bulwark.test/agg-"

var builtinAggregates = []string{"rbac.authorization.k8s.io/aggregate-to-view", "rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin"}

// aggLabels are the labels a role that aggregated role `above` may carry
// without making a cycle: only those of aggregated roles after it (-1 for
// plain roles: any).
func (g *gen) aggLabels(above int) map[string]string {
	l := map[string]string{}
	if span := g.s.AggregationSpan; span > 0 && above >= 0 {
		if g.s.AggregatedRoles > above+1 && g.chance(0.9) {
			k := above + 1 + g.r.IntN(min(span, g.s.AggregatedRoles-above-1))
			l[fmt.Sprintf("%s%d", aggPrefix, k)] = "true"
		}
	} else if g.s.AggregatedRoles > above+1 && g.chance(0.3) {
		k := above + 1 + g.r.IntN(g.s.AggregatedRoles-above-1)
		l[fmt.Sprintf("%s%d", aggPrefix, k)] = "true"
	}
	if g.chance(0.08) {
		l[g.pick(builtinAggregates)] = "true"
	}
	tiers := 0.2
	if g.s.AggregationSpan > 0 {
		tiers = 0.002 // deep, not wide: few roles in the tier selectors
	}
	if above < 0 && g.chance(tiers) {
		l["bulwark.test/tier"] = g.pick([]string{"gold", "silver", "bronze"})
	}
	if len(l) == 0 {
		return nil
	}
	return l
}

func (g *gen) subject(namespaced bool, ns string) rbacv1.Subject {
	switch x := g.r.Float64(); {
	case x < 0.4:
		u := g.pick(g.v.Users)
		if g.chance(0.05) {
			u = rbac.ServiceAccountUser(g.pick(g.v.Namespaces), g.pick(g.v.ServiceAccounts)) // a service account named as a User
		}
		if g.chance(0.05) {
			u = rbac.NodePrefix + "node-1"
		}
		return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u}
	case x < 0.7:
		grp := g.pick(g.v.Groups)
		if g.chance(g.s.Implicit) {
			grp = g.pick([]string{rbac.GroupAuthenticated, rbac.GroupUnauthenticated, rbac.GroupServiceAccounts, rbac.GroupNodes,
				rbac.ServiceAccountNamespaceGroup(g.pick(g.v.Namespaces)), rbac.ServiceAccountNamespaceGroup(g.pick(g.v.Namespaces))})
		}
		return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: grp}
	default:
		s := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: g.pick(g.v.ServiceAccounts), Namespace: g.pick(g.v.Namespaces)}
		if namespaced {
			switch y := g.r.Float64(); {
			case y < 0.4:
				s.Namespace = "" // defaults to the binding's
			case y < 0.7:
				s.Namespace = ns
			}
		}
		return s
	}
}

func (g *gen) subjects(namespaced bool, ns string) []rbacv1.Subject {
	n := 1 + g.r.IntN(3)
	out := make([]rbacv1.Subject, n)
	for i := range out {
		out[i] = g.subject(namespaced, ns)
	}
	return out
}

var builtinTargets = []string{"view", "edit", "admin", "system:basic-user", "system:discovery", "system:node-proxier", "system:aggregate-to-view"}

// Policy generates a random policy of the given size (without the built-in
// one, which the API server and rbac.Builtin add).
func Policy(r *rand.Rand, s Size) *rbac.Policy {
	g := &gen{r: r, s: s, v: s.Vocab()}
	p := &rbac.Policy{}
	var clusterRoles []string
	for k := range s.AggregatedRoles {
		cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gen-agg-%d", k), Labels: g.aggLabels(k)},
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{fmt.Sprintf("%s%d", aggPrefix, k): "true"}}}}}
		if g.chance(0.5) {
			cr.AggregationRule.ClusterRoleSelectors = append(cr.AggregationRule.ClusterRoleSelectors, metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "bulwark.test/tier", Operator: metav1.LabelSelectorOpIn, Values: g.some([]string{"gold", "silver", "bronze"}, 2)}}})
		}
		if g.chance(0.3) {
			cr.Rules = g.rules(false) // overwritten by aggregation
		}
		_ = p.Add(cr, "")
		clusterRoles = append(clusterRoles, cr.Name)
	}
	for i := range s.ClusterRoles {
		cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gen-cr-%d", i), Labels: g.aggLabels(-1)}, Rules: g.rules(false)}
		_ = p.Add(cr, "")
		clusterRoles = append(clusterRoles, cr.Name)
	}
	roleRef := func(names []string, cluster bool) string {
		switch x := g.r.Float64(); {
		case x < 0.05:
			return fmt.Sprintf("missing-%d", g.r.IntN(3))
		case x < 0.2:
			return g.pick(builtinTargets)
		}
		if cluster && s.BindAggregated > 0 && s.AggregatedRoles > 0 && g.chance(s.BindAggregated) {
			return g.pick(clusterRoles[:s.AggregatedRoles])
		}
		return g.pick(names)
	}
	for i := range s.ClusterRoleBindings {
		_ = p.Add(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gen-crb-%d", i)},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: rbac.KindClusterRole, Name: roleRef(clusterRoles, true)},
			Subjects: g.subjects(false, "")}, "")
	}
	for _, ns := range g.v.Namespaces {
		var roles []string
		for i := range s.RolesPerNamespace {
			ro := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gen-role-%d", i), Namespace: ns}, Rules: g.rules(true)}
			_ = p.Add(ro, "")
			roles = append(roles, ro.Name)
		}
		for i := range s.BindingsPerNS {
			rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gen-rb-%d", i), Namespace: ns}, Subjects: g.subjects(true, ns)}
			if len(roles) > 0 && g.chance(0.5) {
				rb.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: rbac.KindRole, Name: roleRef(roles, false)}
				if slices.Contains(builtinTargets, rb.RoleRef.Name) {
					rb.RoleRef.Kind = rbac.KindClusterRole
				}
			} else {
				rb.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: rbac.KindClusterRole, Name: roleRef(clusterRoles, true)}
			}
			_ = p.Add(rb, "")
		}
	}
	return p
}

// Action generates a random question about a policy of this vocabulary,
// in one of its namespaces, kube-system, or cluster-wide.
func (v Vocabulary) Action(r *rand.Rand) rbac.Action {
	g := &gen{r: r, v: v}
	if g.chance(0.12) {
		return rbac.Action{Verb: g.pick([]string{"get", "post", "put", "head", "delete", "patch"}), Path: g.pick(v.Paths)}
	}
	a := rbac.Action{Verb: g.pick(v.Verbs), APIGroup: g.pick(v.APIGroups), Resource: g.pick(v.Resources)}
	if g.chance(0.3) {
		a.Subresource = g.pick(v.Subresources)
	}
	if g.chance(0.4) {
		a.Name = g.pick(v.Names)
	}
	switch x := g.r.Float64(); {
	case x < 0.25:
	case x < 0.32:
		a.Namespace = "kube-system"
	default:
		a.Namespace = g.pick(v.Namespaces)
	}
	if g.chance(0.02) {
		a.Resource = "*"
	}
	if g.chance(0.02) {
		a.Verb = "*"
	}
	return a
}

// Identities are users as the API server would see them: each user alone
// and in groups, service accounts, a node, the anonymous user, a member of
// system:masters, and a few raw identities without implicit groups.
func (v Vocabulary) Identities(r *rand.Rand, n int) []rbac.User {
	g := &gen{r: r, v: v}
	out := []rbac.User{
		rbac.Impersonate(rbac.NodePrefix+"node-1", rbac.GroupNodes),
		rbac.Impersonate(rbac.NodePrefix + "node-1"), // not in system:nodes: no Node authorizer
		rbac.Impersonate(rbac.UserAnonymous),
		rbac.Impersonate("root", rbac.GroupMasters),
		{Name: g.pick(v.Users)}, // no groups at all
	}
	for len(out) < n {
		switch x := g.r.Float64(); {
		case x < 0.35:
			out = append(out, rbac.Impersonate(g.pick(v.Users)))
		case x < 0.6:
			out = append(out, rbac.Impersonate(g.pick(v.Users), g.some(v.Groups, 2)...))
		case x < 0.9:
			out = append(out, rbac.Impersonate(rbac.ServiceAccountUser(g.pick(v.Namespaces), g.pick(v.ServiceAccounts))))
		default:
			out = append(out, rbac.Impersonate(rbac.ServiceAccountUser(g.pick(v.Namespaces), g.pick(v.ServiceAccounts)), g.pick(v.Groups)))
		}
	}
	return out
}

// YAML writes a policy as multi-document YAML that kubectl apply and
// rbac.Decode read.
func YAML(p *rbac.Policy) ([]byte, error) {
	var b strings.Builder
	write := func(o any) error {
		data, err := yaml.Marshal(o)
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(data)
		return nil
	}
	for i := range p.ClusterRoles {
		o := p.ClusterRoles[i]
		o.TypeMeta = metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: rbac.KindClusterRole}
		if err := write(o); err != nil {
			return nil, err
		}
	}
	for i := range p.ClusterRoleBindings {
		o := p.ClusterRoleBindings[i]
		o.TypeMeta = metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: rbac.KindClusterRoleBinding}
		if err := write(o); err != nil {
			return nil, err
		}
	}
	for i := range p.Roles {
		o := p.Roles[i]
		o.TypeMeta = metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: rbac.KindRole}
		if err := write(o); err != nil {
			return nil, err
		}
	}
	for i := range p.RoleBindings {
		o := p.RoleBindings[i]
		o.TypeMeta = metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: rbac.KindRoleBinding}
		if err := write(o); err != nil {
			return nil, err
		}
	}
	return []byte(b.String()), nil
}

// Mutate returns a copy of a generated policy with random changes, as a
// pull request to an RBAC repository might make them: bindings removed,
// added and given other subjects or roles; rules added to roles and
// removed from them; aggregation labels moved. Every object stays valid.
func Mutate(r *rand.Rand, p *rbac.Policy, s Size) *rbac.Policy {
	g := &gen{r: r, s: s, v: s.Vocab()}
	q := &rbac.Policy{}
	var clusterRoles []string
	for i := range p.ClusterRoles {
		cr := *p.ClusterRoles[i].DeepCopy()
		switch x := r.Float64(); {
		case x < 0.1 && cr.AggregationRule == nil:
			cr.Rules = append(cr.Rules, g.rule(false))
		case x < 0.2 && len(cr.Rules) > 1:
			cr.Rules = slices.Delete(cr.Rules, 0, 1)
		case x < 0.25 && cr.AggregationRule == nil:
			cr.Labels = g.aggLabels(-1)
		}
		_ = q.Add(&cr, "")
		clusterRoles = append(clusterRoles, cr.Name)
	}
	rolesIn := map[string][]string{}
	for i := range p.Roles {
		ro := *p.Roles[i].DeepCopy()
		switch x := r.Float64(); {
		case x < 0.1:
			ro.Rules = append(ro.Rules, g.rule(true))
		case x < 0.2 && len(ro.Rules) > 1:
			ro.Rules = slices.Delete(ro.Rules, len(ro.Rules)-1, len(ro.Rules))
		}
		_ = q.Add(&ro, "")
		rolesIn[ro.Namespace] = append(rolesIn[ro.Namespace], ro.Name)
	}
	for i := range p.ClusterRoleBindings {
		b := *p.ClusterRoleBindings[i].DeepCopy()
		switch x := r.Float64(); {
		case x < 0.08:
			continue // removed
		case x < 0.16:
			b.Subjects = append(b.Subjects, g.subject(false, ""))
		case x < 0.2:
			b.RoleRef.Name = g.pick(clusterRoles)
		}
		_ = q.Add(&b, "")
	}
	for i := range p.RoleBindings {
		b := *p.RoleBindings[i].DeepCopy()
		switch x := r.Float64(); {
		case x < 0.08:
			continue
		case x < 0.16:
			b.Subjects = g.subjects(true, b.Namespace)
		}
		_ = q.Add(&b, "")
	}
	for i := range max(1, s.ClusterRoleBindings/10) {
		_ = q.Add(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gen-crb-new-%d", i)},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: rbac.KindClusterRole, Name: g.pick(append(slices.Clone(clusterRoles), builtinTargets...))},
			Subjects: g.subjects(false, "")}, "")
	}
	for _, ns := range g.v.Namespaces {
		if !g.chance(0.5) {
			continue
		}
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "gen-rb-new", Namespace: ns}, Subjects: g.subjects(true, ns),
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: rbac.KindClusterRole, Name: g.pick(clusterRoles)}}
		if roles := rolesIn[ns]; len(roles) > 0 && g.chance(0.5) {
			rb.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: rbac.KindRole, Name: g.pick(roles)}
		}
		_ = q.Add(rb, "")
	}
	return q
}
