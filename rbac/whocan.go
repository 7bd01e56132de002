package rbac

import (
	"fmt"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// ruleIndex finds the rules that may allow a request without scanning
// every rule: resource rules by (apiGroup, resource) as written, URL rules
// by exact URL, prefix rules in a list.
type ruleIndex struct {
	resources map[grKey][]ruleRef
	urls      map[string][]ruleRef
	prefixes  map[string][]ruleRef // by the prefix, "*"s trimmed
	prefixSet []string             // the distinct prefixes
}

type grKey struct{ group, resource string }

type ruleRef struct {
	r *role
	i int
}

func newRuleIndex() ruleIndex {
	return ruleIndex{resources: map[grKey][]ruleRef{}, urls: map[string][]ruleRef{}, prefixes: map[string][]ruleRef{}}
}

func (ix *ruleIndex) add(r *role) {
	ix.addResources(r)
	for i := range r.rules {
		for _, u := range r.rules[i].NonResourceURLs {
			ref := ruleRef{r, i}
			if u != rbacv1.NonResourceAll && strings.HasSuffix(u, "*") {
				p := strings.TrimRight(u, "*")
				if _, ok := ix.prefixes[p]; !ok {
					ix.prefixSet = append(ix.prefixSet, p)
				}
				ix.prefixes[p] = append(ix.prefixes[p], ref)
			} else {
				ix.urls[u] = append(ix.urls[u], ref)
			}
		}
	}
}

func (ix *ruleIndex) addResources(r *role) {
	for i := range r.rules {
		for _, g := range r.rules[i].APIGroups {
			for _, res := range r.rules[i].Resources {
				k := grKey{g, res}
				ix.resources[k] = append(ix.resources[k], ruleRef{r, i})
			}
		}
	}
}

// buckets calls f with every list of rules that may allow a: those
// indexed under its URL, "*" and each matching prefix, or under its API
// group or "*" and its resource, "*" or "*/subresource".
func (ix *ruleIndex) buckets(a *Action, f func([]ruleRef)) {
	if !a.IsResource() {
		f(ix.urls[a.Path])
		if a.Path != rbacv1.NonResourceAll {
			f(ix.urls[rbacv1.NonResourceAll])
		}
		for _, p := range ix.prefixSet {
			if strings.HasPrefix(a.Path, p) {
				f(ix.prefixes[p])
			}
		}
		return
	}
	combined := a.Resource
	if a.Subresource != "" {
		combined += "/" + a.Subresource
	}
	resources := [3]string{combined, rbacv1.ResourceAll, ""}
	n := 2
	if combined == rbacv1.ResourceAll {
		n = 1
	}
	if a.Subresource != "" && "*/"+a.Subresource != combined {
		resources[n] = "*/" + a.Subresource
		n++
	}
	groups := [2]string{a.APIGroup, rbacv1.APIGroupAll}
	ng := 2
	if a.APIGroup == rbacv1.APIGroupAll {
		ng = 1
	}
	for _, g := range groups[:ng] {
		for _, r := range resources[:n] {
			f(ix.resources[grKey{g, r}])
		}
	}
}

// allowing records, for each role with a rule that allows a, the first
// such rule.
func (ix *ruleIndex) allowing(a *Action, found map[*role]int) {
	ix.buckets(a, func(refs []ruleRef) {
		for _, ref := range refs {
			if !RuleAllows(&ref.r.rules[ref.i], a) {
				continue
			}
			if j, ok := found[ref.r]; !ok || ref.i < j {
				found[ref.r] = ref.i
			}
		}
	})
}

// allowingRules appends every rule that allows a, unless that takes
// checking more than max rules (then it reports false): for a user bound
// to roles with many rules, the index finds the few that matter faster
// than scanning them.
func (e *Engine) allowingRules(a *Action, max int, out []ruleRef) ([]ruleRef, bool) {
	var lists [24][]ruleRef
	n, total := 0, 0
	add := func(refs []ruleRef) {
		if len(refs) > 0 && n < len(lists) {
			lists[n] = refs
			n++
			total += len(refs)
		} else if len(refs) > 0 {
			total = max + 1
		}
	}
	e.clusterRules.buckets(a, add)
	if a.IsResource() && a.Namespace != "" {
		if ix := e.nsRules[a.Namespace]; ix != nil {
			ix.buckets(a, add)
		}
	}
	if total > max {
		return out, false
	}
	for _, refs := range lists[:n] {
		for _, ref := range refs {
			if RuleAllows(&ref.r.rules[ref.i], a) {
				out = append(out, ref)
			}
		}
	}
	return out, true
}

// firstRule is the first rule of r among rules, or -1.
func firstRule(rules []ruleRef, r *role) int {
	best := -1
	for _, c := range rules {
		if c.r == r && (best < 0 || c.i < best) {
			best = c.i
		}
	}
	return best
}

// Access is one subject that may perform an action, with every path that
// grants it.
type Access struct {
	Subject rbacv1.Subject `json:"subject"`
	// By is ByMasters for the group system:masters, ByRBAC otherwise.
	By    string `json:"by"`
	Paths []Path `json:"paths,omitempty"`
}

// How the Node authorizer answers an action for nodes.
const (
	NodesNoOpinion = ""        // it allows nodes nothing more than RBAC does
	NodesAllowed   = "allowed" // every node, by a static rule
	NodesDepends   = "depends" // nodes, for objects related to their Pods
)

// Subjects is the answer to "who can do this?".
type Subjects struct {
	Action Action   `json:"action"`
	Access []Access `json:"subjects"`
	// Nodes says what the Node authorizer adds for node identities (user
	// system:node:<name> in group system:nodes), which no binding lists.
	Nodes      string             `json:"nodes,omitempty"`
	NodeRule   *rbacv1.PolicyRule `json:"nodeRule,omitempty"`
	NodeReason string             `json:"nodeReason,omitempty"`
}

// WhoCan lists every subject that may perform a, each once with all its
// paths: the group system:masters first, then every subject of every
// binding whose role allows it, users, groups and service accounts alike.
// A user may perform a exactly when it matches one of them (or, for node
// identities, when Nodes says so).
func (e *Engine) WhoCan(a Action) Subjects {
	if !a.IsResource() {
		a.Namespace = ""
	}
	found := map[*role]int{}
	e.clusterRules.allowing(&a, found)
	if a.IsResource() && a.Namespace != "" {
		if ix := e.nsRules[a.Namespace]; ix != nil {
			ix.allowing(&a, found)
		}
	}
	var bs []*binding
	for r := range found {
		if r.ref.Kind == KindClusterRole {
			bs = append(bs, e.crbsByRole[r.ref.Name]...)
		}
		if a.IsResource() && a.Namespace != "" {
			bs = append(bs, e.rbsByRole[a.Namespace][r.ref]...)
		}
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].order < bs[j].order })

	masters := rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: GroupMasters}
	out := Subjects{Action: a, Access: []Access{{Subject: masters, By: ByMasters}}}
	at := map[subjectKey]int{{rbacv1.GroupKind, "", GroupMasters}: 0}
	for _, b := range bs {
		rule := found[b.role]
		for i, s := range b.subjects {
			if !b.live[i] {
				continue
			}
			k := subjectKey{s.Kind, s.Namespace, s.Name}
			if s.Kind != rbacv1.ServiceAccountKind {
				k.ns = ""
			}
			j, ok := at[k]
			if !ok {
				j = len(out.Access)
				at[k] = j
				out.Access = append(out.Access, Access{Subject: normalSubject(s), By: ByRBAC})
			}
			acc := &out.Access[j]
			if n := len(acc.Paths); n > 0 && acc.Paths[n-1].Binding == b.ref {
				continue // the binding lists the subject twice
			}
			acc.Paths = append(acc.Paths, b.path(i, rule))
		}
	}
	sort.SliceStable(out.Access[1:], func(i, j int) bool {
		x, y := out.Access[1+i].Subject, out.Access[1+j].Subject
		if x.Kind != y.Kind {
			return kindOrder(x.Kind) < kindOrder(y.Kind)
		}
		if x.Namespace != y.Namespace {
			return x.Namespace < y.Namespace
		}
		return x.Name < y.Name
	})
	e.whoCanNodes(&a, &out)
	return out
}

type subjectKey struct{ kind, ns, name string }

func kindOrder(k string) int {
	switch k {
	case rbacv1.GroupKind:
		return 0
	case rbacv1.UserKind:
		return 1
	}
	return 2
}

// normalSubject is a subject as the API server would store it: users and
// groups in the RBAC API group, service accounts in none.
func normalSubject(s rbacv1.Subject) rbacv1.Subject {
	switch s.Kind {
	case rbacv1.UserKind, rbacv1.GroupKind:
		s.APIGroup, s.Namespace = rbacv1.GroupName, ""
	case rbacv1.ServiceAccountKind:
		s.APIGroup = ""
	}
	return s
}

func (e *Engine) whoCanNodes(a *Action, out *Subjects) {
	if e.opts.NoNodeAuthorizer {
		return
	}
	probe := User{Name: NodePrefix + "node", Groups: []string{GroupNodes}}
	allowed, rule, graph := e.node(&probe, a)
	switch {
	case allowed:
		r := e.nodeRules[rule]
		out.Nodes, out.NodeRule = NodesAllowed, &r
		out.NodeReason = fmt.Sprintf("every node (user %s<name> in group %s) is allowed by the Node authorizer's static rule %s", NodePrefix, GroupNodes, FormatRule(r))
	case graph:
		out.Nodes = NodesDepends
		out.NodeReason = fmt.Sprintf("nodes (user %s<name> in group %s) may be allowed by the Node authorizer for objects related to the Pods bound to them", NodePrefix, GroupNodes)
	}
}
