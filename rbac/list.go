package rbac

import (
	"cmp"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Grant is one rule a user holds through one binding, and where it
// applies.
type Grant struct {
	// Namespace is where the rule applies: "" for a ClusterRoleBinding's
	// rules (every namespace and cluster-scoped resources), else the
	// RoleBinding's namespace.
	Namespace string `json:"namespace,omitempty"`
	Path
}

// Rules is everything a user may do: the answer to can-i --list.
type Rules struct {
	User User `json:"user"`
	// Namespace is the namespace asked about; AllNamespaces when every
	// namespace was.
	Namespace     string `json:"namespace,omitempty"`
	AllNamespaces bool   `json:"allNamespaces,omitempty"`
	// Masters is set when the user is in system:masters: allowed
	// everything, whatever the grants say.
	Masters bool    `json:"masters,omitempty"`
	Grants  []Grant `json:"grants"`
	// NodeRules are the Node authorizer's static rules, when the user is a
	// node; NodeNote says what it decides beyond them.
	NodeRules []rbacv1.PolicyRule `json:"nodeRules,omitempty"`
	NodeNote  string              `json:"nodeNote,omitempty"`
	// Errors are the user's bindings whose role is missing.
	Errors []string `json:"errors,omitempty"`
}

// AllNamespaces asks RulesFor about every namespace.
const AllNamespaces = "*"

// RulesFor lists every rule u holds that applies in namespace ns (the
// rules of ClusterRoleBindings and of the RoleBindings of ns; with ns ""
// only ClusterRoleBindings', which alone apply to cluster-scoped
// resources and URLs; with AllNamespaces those of every RoleBinding too,
// each with its namespace), each through every binding that grants it,
// in the order the API server visits them. A RoleBinding's grant never
// covers non-resource URLs: those parts of its rules are left out. u may
// do a request exactly when one of the rules allows it in the request's
// namespace (or Masters is set, or a node rule allows it).
func (e *Engine) RulesFor(u User, ns string) Rules {
	out := Rules{User: u, Namespace: ns, Masters: u.InGroup(GroupMasters)}
	if ns == AllNamespaces {
		out.Namespace, out.AllNamespaces = "", true
	}
	ms := e.crbSubjects.collect(&u, nil)
	switch {
	case out.AllNamespaces:
		nss := make([]string, 0, len(e.rbSubjects))
		for n := range e.rbSubjects {
			nss = append(nss, n)
		}
		slices.Sort(nss)
		for _, n := range nss {
			ms = e.rbSubjects[n].collect(&u, ms)
		}
	case ns != "":
		if ix := e.rbSubjects[ns]; ix != nil {
			ms = ix.collect(&u, ms)
		}
	}
	slices.SortFunc(ms, func(x, y match) int {
		if c := cmp.Compare(x.b.order, y.b.order); c != 0 {
			return c
		}
		return cmp.Compare(x.s, y.s)
	})
	ms = slices.CompactFunc(ms, func(x, y match) bool { return x.b == y.b })
	for _, m := range ms {
		b := m.b
		if b.role == nil {
			out.Errors = append(out.Errors, b.error)
			continue
		}
		l := b.role.grants()
		for i := range l.len() {
			p := b.path(m.s, i)
			if b.ref.Namespace != "" {
				if len(p.PolicyRule.Resources) == 0 {
					continue // only non-resource URLs: nothing in a namespace
				}
				p.PolicyRule.NonResourceURLs = nil
			}
			out.Grants = append(out.Grants, Grant{Namespace: b.ref.Namespace, Path: p})
		}
	}
	if name, ok := u.Node(); ok && !e.opts.NoNodeAuthorizer && name != "" {
		out.NodeRules = slices.Clone(e.nodeRules)
		var graph []string
		for gr := range graphResources {
			graph = append(graph, gr[1]+groupSuffix(gr[0]))
		}
		slices.Sort(graph)
		out.NodeNote = "the Node authorizer also allows node " + name + " requests on " + strings.Join(graph, ", ") +
			" for objects related to the Pods bound to it, which a policy does not hold"
	}
	return out
}

func groupSuffix(g string) string {
	if g == "" {
		return ""
	}
	return "." + g
}

// Allows reports whether the rules allow a request, as the API server
// would answer it.
func (r *Rules) Allows(a Action) bool {
	if !a.IsResource() {
		a.Namespace = ""
	}
	if r.Masters {
		return true
	}
	for i := range r.Grants {
		g := &r.Grants[i]
		if g.Namespace != "" && (g.Namespace != a.Namespace || !a.IsResource()) {
			continue
		}
		if RuleAllows(&g.PolicyRule, &a) {
			return true
		}
	}
	return false
}
