package rbac

import (
	"fmt"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Options tune Compile.
type Options struct {
	// NoNodeAuthorizer models an API server without Node in
	// --authorization-mode. By default the chain is Node,RBAC, as bulwark
	// renders it.
	NoNodeAuthorizer bool
}

// Problem is something in a policy that the API server tolerates but that
// changes or blocks what it grants: a binding to a missing role, an
// aggregation that cannot be computed.
type Problem struct {
	Kind   string `json:"kind"` // ProblemRoleRef or ProblemAggregation
	Object Ref    `json:"object"`
	Msg    string `json:"message"`
}

// Kinds of Problem.
const (
	ProblemRoleRef     = "role-ref"    // a binding's role is missing or cannot be referenced
	ProblemAggregation = "aggregation" // an aggregationRule cannot be computed reliably
)

func (p Problem) String() string { return p.Object.String() + ": " + p.Msg }

// Engine answers questions about one compiled policy. It is immutable and
// safe for concurrent use.
type Engine struct {
	opts      Options
	policy    *Policy // with aggregated rules
	nodeRules []rbacv1.PolicyRule

	clusterRoles map[string]*role
	roles        map[Ref]*role
	crbs         []*binding
	rbs          map[string][]*binding // by namespace

	crbSubjects subjectIndex
	rbSubjects  map[string]*subjectIndex // by namespace

	// for WhoCan
	clusterRules ruleIndex
	nsRules      map[string]*ruleIndex // rules of the Roles of each namespace
	crbsByRole   map[string][]*binding // ClusterRole name → ClusterRoleBindings
	rbsByRole    map[string]map[Ref][]*binding
	nroles       int

	problems []Problem
}

type role struct {
	id    int
	ref   Ref
	rules []rbacv1.PolicyRule
	from  []string // aggregated rules: their source ClusterRole
}

type binding struct {
	order    int
	ref      Ref
	roleRef  Ref
	subjects []rbacv1.Subject // as written, ServiceAccount namespaces defaulted
	live     []bool           // subjects that can match a user at all
	role     *role            // nil: the role does not exist (or cannot be referenced)
	missing  string
}

// match is one subject of one binding that a user may match.
type match struct {
	b *binding
	s int
}

type subjectIndex struct {
	users, groups, serviceAccounts map[string][]match
}

func newSubjectIndex() *subjectIndex {
	return &subjectIndex{users: map[string][]match{}, groups: map[string][]match{}, serviceAccounts: map[string][]match{}}
}

func (ix *subjectIndex) add(b *binding) {
	for i, s := range b.subjects {
		if !b.live[i] {
			continue
		}
		m := match{b, i}
		switch s.Kind {
		case rbacv1.UserKind:
			ix.users[s.Name] = append(ix.users[s.Name], m)
		case rbacv1.GroupKind:
			ix.groups[s.Name] = append(ix.groups[s.Name], m)
		case rbacv1.ServiceAccountKind:
			u := ServiceAccountUser(s.Namespace, s.Name)
			ix.serviceAccounts[u] = append(ix.serviceAccounts[u], m)
		}
	}
}

// collect appends the bindings u matches, each once with the first
// subject that matches it (as the API server names it), in binding order.
func (ix *subjectIndex) collect(u *User, buf []match) []match {
	start := len(buf)
	buf = append(buf, ix.users[u.Name]...)
	buf = append(buf, ix.serviceAccounts[u.Name]...)
	for _, g := range u.Groups {
		buf = append(buf, ix.groups[g]...)
	}
	got := buf[start:]
	if len(got) > 1 {
		sort.Slice(got, func(i, j int) bool {
			if got[i].b.order != got[j].b.order {
				return got[i].b.order < got[j].b.order
			}
			return got[i].s < got[j].s
		})
		n := 1
		for i := 1; i < len(got); i++ {
			if got[i].b != got[n-1].b {
				got[n] = got[i]
				n++
			}
		}
		buf = buf[:start+n]
	}
	return buf
}

// Compile builds an engine: it aggregates ClusterRoles, resolves every
// binding's role and indexes bindings by subject and rules by resource.
// The policy is not modified.
func Compile(p *Policy, opts Options) *Engine {
	e := &Engine{
		opts:         opts,
		nodeRules:    NodeRules(),
		clusterRoles: map[string]*role{},
		roles:        map[Ref]*role{},
		rbs:          map[string][]*binding{},
		crbSubjects:  *newSubjectIndex(),
		rbSubjects:   map[string]*subjectIndex{},
		clusterRules: newRuleIndex(),
		nsRules:      map[string]*ruleIndex{},
		crbsByRole:   map[string][]*binding{},
		rbsByRole:    map[string]map[Ref][]*binding{},
	}
	agg := aggregate(p.ClusterRoles)
	e.problems = append(e.problems, agg.problems...)
	compiled := &Policy{
		ClusterRoles:        make([]rbacv1.ClusterRole, len(p.ClusterRoles)),
		ClusterRoleBindings: p.ClusterRoleBindings,
		Roles:               p.Roles,
		RoleBindings:        p.RoleBindings,
		Sources:             p.Sources,
	}
	for i := range p.ClusterRoles {
		cr := p.ClusterRoles[i]
		cr.Rules = agg.rules[i]
		compiled.ClusterRoles[i] = cr
		r := &role{id: e.nroles, ref: Ref{KindClusterRole, "", cr.Name}, rules: agg.rules[i], from: agg.from[i]}
		e.nroles++
		e.clusterRoles[cr.Name] = r
		e.clusterRules.add(r)
	}
	e.policy = compiled
	for i := range p.Roles {
		ro := &p.Roles[i]
		r := &role{id: e.nroles, ref: Ref{KindRole, ro.Namespace, ro.Name}, rules: ro.Rules, from: make([]string, len(ro.Rules))}
		e.nroles++
		e.roles[r.ref] = r
		ix := e.nsRules[ro.Namespace]
		if ix == nil {
			nix := newRuleIndex()
			ix = &nix
			e.nsRules[ro.Namespace] = ix
		}
		// Non-resource rules of a Role never apply: non-resource requests
		// have no namespace.
		ix.addResources(r)
	}
	order := 0
	crbs := make([]*binding, 0, len(p.ClusterRoleBindings))
	for i := range p.ClusterRoleBindings {
		b := &p.ClusterRoleBindings[i]
		crbs = append(crbs, e.newBinding(Ref{KindClusterRoleBinding, "", b.Name}, b.RoleRef, b.Subjects))
	}
	sort.SliceStable(crbs, func(i, j int) bool { return crbs[i].ref.Name < crbs[j].ref.Name })
	for _, b := range crbs {
		b.order = order
		order++
		e.crbs = append(e.crbs, b)
		e.crbSubjects.add(b)
		if b.role != nil {
			e.crbsByRole[b.role.ref.Name] = append(e.crbsByRole[b.role.ref.Name], b)
		}
	}
	rbs := make([]*binding, 0, len(p.RoleBindings))
	for i := range p.RoleBindings {
		b := &p.RoleBindings[i]
		rbs = append(rbs, e.newBinding(Ref{KindRoleBinding, b.Namespace, b.Name}, b.RoleRef, b.Subjects))
	}
	sort.SliceStable(rbs, func(i, j int) bool {
		if rbs[i].ref.Namespace != rbs[j].ref.Namespace {
			return rbs[i].ref.Namespace < rbs[j].ref.Namespace
		}
		return rbs[i].ref.Name < rbs[j].ref.Name
	})
	for _, b := range rbs {
		b.order = order
		order++
		ns := b.ref.Namespace
		e.rbs[ns] = append(e.rbs[ns], b)
		ix := e.rbSubjects[ns]
		if ix == nil {
			ix = newSubjectIndex()
			e.rbSubjects[ns] = ix
		}
		ix.add(b)
		if b.role != nil {
			m := e.rbsByRole[ns]
			if m == nil {
				m = map[Ref][]*binding{}
				e.rbsByRole[ns] = m
			}
			m[b.role.ref] = append(m[b.role.ref], b)
		}
	}
	return e
}

// newBinding resolves a binding's role as the API server does: a
// ClusterRoleBinding's role is looked up as a ClusterRole (or, for kind
// Role, in no namespace: never found); a RoleBinding's Role in its own
// namespace.
func (e *Engine) newBinding(ref Ref, rr rbacv1.RoleRef, subjects []rbacv1.Subject) *binding {
	b := &binding{ref: ref, subjects: make([]rbacv1.Subject, len(subjects)), live: make([]bool, len(subjects))}
	for i, s := range subjects {
		b.live[i] = true
		if s.Kind == rbacv1.ServiceAccountKind && s.Namespace == "" {
			if ref.Namespace == "" {
				b.live[i] = false // the API server cannot default it: matches nobody
			}
			s.Namespace = ref.Namespace
		}
		switch s.Kind {
		case rbacv1.UserKind, rbacv1.GroupKind, rbacv1.ServiceAccountKind:
		default:
			b.live[i] = false
		}
		b.subjects[i] = s
	}
	switch rr.Kind {
	case KindClusterRole:
		b.roleRef = Ref{KindClusterRole, "", rr.Name}
		b.role = e.clusterRoles[rr.Name]
	case KindRole:
		b.roleRef = Ref{KindRole, ref.Namespace, rr.Name}
		if ref.Namespace != "" {
			b.role = e.roles[b.roleRef]
		}
	default:
		b.roleRef = Ref{rr.Kind, "", rr.Name}
		b.missing = fmt.Sprintf("unsupported role reference kind %q", rr.Kind)
		e.problems = append(e.problems, Problem{Kind: ProblemRoleRef, Object: ref, Msg: b.missing})
		return b
	}
	if b.role == nil {
		b.missing = fmt.Sprintf("%s %q not found", strings.ToLower(rr.Kind), rr.Name)
		if rr.Kind == KindRole && ref.Namespace == "" {
			b.missing = fmt.Sprintf("a ClusterRoleBinding cannot reference Role %q", rr.Name)
		}
		e.problems = append(e.problems, Problem{Kind: ProblemRoleRef, Object: ref, Msg: b.missing + ": the binding grants nothing"})
	}
	return b
}

// Policy is the compiled policy: the input with ClusterRole aggregation
// applied. Do not modify it.
func (e *Engine) Policy() *Policy { return e.policy }

// Problems lists bindings whose role is missing and aggregations that
// could not be computed.
func (e *Engine) Problems() []Problem { return e.problems }

// Path is one way a grant reaches a subject: binding → role → rule.
type Path struct {
	Binding Ref `json:"binding"`
	// Subject is the binding's subject that matched (a ServiceAccount's
	// namespace filled in from the RoleBinding when the manifest omits it).
	Subject rbacv1.Subject `json:"subject"`
	Role    Ref            `json:"role"`
	// Rule is the index of the allowing rule in the role's rules (after
	// aggregation), PolicyRule the rule itself.
	Rule       int               `json:"rule"`
	PolicyRule rbacv1.PolicyRule `json:"policyRule"`
	// AggregatedFrom names the ClusterRole an aggregated rule came from.
	AggregatedFrom string `json:"aggregatedFrom,omitempty"`
}

func (p Path) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s %s) → %s → rule %d %s", p.Binding, p.Subject.Kind, subjectName(p.Subject), p.Role, p.Rule, FormatRule(p.PolicyRule))
	if p.AggregatedFrom != "" {
		fmt.Fprintf(&b, " aggregated from ClusterRole %s", p.AggregatedFrom)
	}
	return b.String()
}

func subjectName(s rbacv1.Subject) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		return s.Namespace + "/" + s.Name
	}
	return s.Name
}

// Authorizers of the chain, as Decision.By names them.
const (
	ByMasters = GroupMasters
	ByNode    = "Node"
	ByRBAC    = "RBAC"
)

// Decision is the answer to one question.
type Decision struct {
	Allowed bool `json:"allowed"`
	// By is the authorizer that allowed the request first in the chain:
	// ByMasters, ByNode or ByRBAC; empty when denied.
	By string `json:"by,omitempty"`
	// Paths are the RBAC grants that allow the request: all of them from
	// Check, the first from Authorize.
	Paths []Path `json:"paths,omitempty"`
	// NodeRule is the Node authorizer's static rule that allows it, when By
	// is ByNode.
	NodeRule *rbacv1.PolicyRule `json:"nodeRule,omitempty"`
	// DependsOnNode is set when RBAC denies a node identity a request the
	// Node authorizer decides from the node's Pods and volumes (its graph),
	// which a policy alone does not hold: the API server may allow it.
	DependsOnNode bool `json:"dependsOnNode,omitempty"`
	// Errors are the user's bindings whose role is missing, as the API
	// server lists them in its reason for a denial.
	Errors []string `json:"errors,omitempty"`
	Reason string   `json:"reason"`
}

// Check answers whether u may perform a, with every RBAC path that allows
// it. Give u as the API server sees it, implicit groups included (see
// Impersonate).
func (e *Engine) Check(u User, a Action) Decision { return e.decide(&u, &a, true) }

// Authorize answers as the API server's authorizer chain does: it stops
// at the first grant.
func (e *Engine) Authorize(u User, a Action) Decision { return e.decide(&u, &a, false) }

// Allowed is Authorize without the explanation.
func (e *Engine) Allowed(u User, a Action) bool {
	if !a.IsResource() {
		a.Namespace = ""
	}
	if u.InGroup(GroupMasters) {
		return true
	}
	if allowed, _, _ := e.node(&u, &a); allowed {
		return true
	}
	var buf [16]match
	ok, _ := e.rbac(&u, &a, buf[:0], nil)
	return ok
}

func (e *Engine) decide(u *User, a *Action, all bool) Decision {
	if !a.IsResource() {
		a.Namespace = ""
	}
	if u.InGroup(GroupMasters) {
		d := Decision{Allowed: true, By: ByMasters,
			Reason: "allowed: the user is in group system:masters, which the API server's privileged-group authorizer allows everything before Node and RBAC run"}
		if all {
			var buf [16]match
			_, d.Paths = e.rbacPaths(u, a, buf[:0], &d.Errors)
		}
		return d
	}
	nodeAllowed, nodeRule, dependsOnNode := e.node(u, a)
	var d Decision
	var buf [16]match
	if all || !nodeAllowed {
		if all {
			_, d.Paths = e.rbacPaths(u, a, buf[:0], &d.Errors)
		} else {
			var p *Path
			d.Allowed, p = e.rbac(u, a, buf[:0], &d.Errors)
			if p != nil {
				d.Paths = []Path{*p}
			}
		}
	}
	switch {
	case nodeAllowed:
		d.Allowed, d.By = true, ByNode
		r := e.nodeRules[nodeRule]
		d.NodeRule = &r
		d.Reason = fmt.Sprintf("allowed by the Node authorizer's static rule for nodes %s (the user is node %q: %s in group %s)", FormatRule(r), strings.TrimPrefix(u.Name, NodePrefix), u.Name, GroupNodes)
	case len(d.Paths) > 0:
		d.Allowed, d.By = true, ByRBAC
		d.Reason = "allowed by " + d.Paths[0].String()
		if len(d.Paths) > 1 {
			d.Reason += fmt.Sprintf(" (and %d more)", len(d.Paths)-1)
		}
	default:
		d.Allowed = false
		d.Reason = "no RBAC rule allows it"
		if len(d.Errors) > 0 {
			d.Reason += "; bindings of this user that grant nothing: " + strings.Join(d.Errors, "; ")
		}
		if dependsOnNode {
			d.DependsOnNode = true
			d.Reason += fmt.Sprintf("; but the user is node %q, and the Node authorizer allows nodes such requests for objects related to the Pods bound to them, which a policy does not hold: the API server may allow it", strings.TrimPrefix(u.Name, NodePrefix))
		}
	}
	return d
}

// graphResources are the resources the Node authorizer decides from its
// graph of Pods and volumes rather than from static rules (with the
// release's default feature gates: AuthorizeNodeWithSelectors is locked
// on, PodCertificateRequest off).
var graphResources = map[[2]string]bool{
	{"", "secrets"}: true, {"", "configmaps"}: true, {"", "persistentvolumeclaims"}: true, {"", "persistentvolumes"}: true,
	{"resource.k8s.io", "resourceclaims"}: true, {"storage.k8s.io", "volumeattachments"}: true, {"", "serviceaccounts"}: true,
	{"coordination.k8s.io", "leases"}: true, {"storage.k8s.io", "csinodes"}: true, {"resource.k8s.io", "resourceslices"}: true,
	{"", "nodes"}: true, {"", "pods"}: true,
}

// node is the Node authorizer's answer: allowed by a static rule (its
// index), or a graph decision bulwark cannot make.
func (e *Engine) node(u *User, a *Action) (allowed bool, rule int, graph bool) {
	if e.opts.NoNodeAuthorizer {
		return false, 0, false
	}
	name, ok := u.Node()
	if !ok || name == "" {
		return false, 0, false
	}
	if a.IsResource() {
		gr := [2]string{a.APIGroup, a.Resource}
		if graphResources[gr] {
			return false, 0, true
		}
		if gr == [2]string{"certificates.k8s.io", "podcertificaterequests"} {
			return false, 0, false
		}
	}
	for i := range e.nodeRules {
		if RuleAllows(&e.nodeRules[i], a) {
			return true, i, false
		}
	}
	return false, 0, false
}

// indexThreshold is the number of rules of a user's roles above which
// looking the request up in the rule index beats scanning them.
const indexThreshold = 24

// candidates collects the user's bindings in the order the API server
// visits them (ClusterRoleBindings, then the RoleBindings of the
// namespace), and, when that is cheaper than scanning their roles, the
// rules that allow the request.
func (e *Engine) candidates(u *User, a *Action, buf []match, rules []ruleRef) ([]match, []ruleRef, bool) {
	buf = e.crbSubjects.collect(u, buf)
	if a.Namespace != "" && a.IsResource() {
		if ix := e.rbSubjects[a.Namespace]; ix != nil {
			buf = ix.collect(u, buf)
		}
	}
	scan := 0
	for _, m := range buf {
		if m.b.role != nil {
			scan += len(m.b.role.rules)
		}
	}
	if scan <= indexThreshold {
		return buf, rules, false
	}
	rules, ok := e.allowingRules(a, scan, rules)
	return buf, rules, ok
}

// firstAllowing is the first rule of b's role that allows a, or -1.
func firstAllowing(b *binding, a *Action, rules []ruleRef, indexed bool) int {
	if indexed {
		return firstRule(rules, b.role)
	}
	for i := range b.role.rules {
		if RuleAllows(&b.role.rules[i], a) {
			return i
		}
	}
	return -1
}

// rbac finds the first RBAC grant, ClusterRoleBindings first, as the API
// server's RBAC authorizer does.
func (e *Engine) rbac(u *User, a *Action, buf []match, errs *[]string) (bool, *Path) {
	var rbuf [32]ruleRef
	buf, rules, indexed := e.candidates(u, a, buf, rbuf[:0])
	for _, m := range buf {
		if m.b.role == nil {
			if errs != nil {
				*errs = append(*errs, m.b.ref.String()+": "+m.b.missing)
			}
			continue
		}
		if i := firstAllowing(m.b, a, rules, indexed); i >= 0 {
			p := m.b.path(m.s, i)
			return true, &p
		}
	}
	return false, nil
}

// rbacPaths finds every binding that allows the request, each with its
// first allowing rule.
func (e *Engine) rbacPaths(u *User, a *Action, buf []match, errs *[]string) (bool, []Path) {
	var rbuf [32]ruleRef
	buf, rules, indexed := e.candidates(u, a, buf, rbuf[:0])
	var paths []Path
	for _, m := range buf {
		if m.b.role == nil {
			*errs = append(*errs, m.b.ref.String()+": "+m.b.missing)
			continue
		}
		if i := firstAllowing(m.b, a, rules, indexed); i >= 0 {
			paths = append(paths, m.b.path(m.s, i))
		}
	}
	return len(paths) > 0, paths
}

func (b *binding) path(subject, rule int) Path {
	return Path{Binding: b.ref, Subject: b.subjects[subject], Role: b.role.ref, Rule: rule, PolicyRule: b.role.rules[rule], AggregatedFrom: b.role.from[rule]}
}
