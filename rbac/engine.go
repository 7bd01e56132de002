package rbac

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

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

// Engine answers questions about one compiled policy. It is safe for
// concurrent use.
//
// Compiling does work in proportion to the number of objects: it resolves
// every binding's role, indexes bindings by subject and links aggregated
// ClusterRoles to the roles their selectors match. Work in proportion to
// the number of rules is done when a question first needs it, once: the
// rules of an aggregated ClusterRole when a question reaches it, an index
// of a role's rules when it has many, the index of every rule for WhoCan.
type Engine struct {
	opts      Options
	input     *Policy
	nodeRules []rbacv1.PolicyRule

	crRoles      []*role // parallel to input.ClusterRoles
	clusterRoles map[string]*role
	roles        map[Ref]*role
	nroles       int

	crbs      []*binding            // by name
	rbs       map[string][]*binding // by namespace, each by name
	nbindings int

	crbSubjects subjectIndex
	rbSubjects  map[string]*subjectIndex // by namespace

	problems []Problem
	budget   *aggBudget // of aggregation, nil without aggregated roles

	policyOnce sync.Once
	policy     *Policy
	whoOnce    sync.Once
	who        *whoIndex
	lintOnce   sync.Once
	groupsOnce sync.Once
	groups     map[string][]string // resource → the API groups rules name it in
	scratch    sync.Pool           // *scratch
}

// role is a Role or ClusterRole.
type role struct {
	id      int32
	ref     Ref
	written []rbacv1.PolicyRule
	labels  map[string]string
	agg     *aggRole // a ClusterRole whose aggregationRule the controller computes
	// shadowed marks a ClusterRole that a later one of the same name
	// replaces (a Policy built without Merge may hold both).
	shadowed bool

	once sync.Once
	list *ruleList // the rules it grants, resolved on first use

	hashOnce sync.Once
	hashes   []uint64 // of written rules, for aggregation's duplicate check

	// rules and from are the rules it grants and, for aggregated rules,
	// the ClusterRole each came from: filled for Lint.
	rules []rbacv1.PolicyRule
	from  []string
}

// binding is a RoleBinding or ClusterRoleBinding with its role resolved.
type binding struct {
	order    int32
	ref      Ref
	roleRef  Ref
	subjects []rbacv1.Subject // as written, ServiceAccount namespaces defaulted
	live     []bool           // subjects that can match a user at all
	role     *role            // nil: the role does not exist (or cannot be referenced)
	missing  string
	error    string  // the binding and why it grants nothing, as denials list it
	sids     []int32 // the live subjects' numbers, for WhoCan (-1: not live)
	// explained keeps how its grants were told (Authorize).
	explained atomic.Pointer[[]explanation]
}

// match is one subject of one binding that a user may match.
type match struct {
	b *binding
	s int32
}

// subjectIndex finds the bindings whose subjects name a user: users by
// name and service accounts by username in names, groups in groups.
type subjectIndex struct {
	names, groups map[string][]match
}

func newSubjectIndex() *subjectIndex {
	return &subjectIndex{names: map[string][]match{}, groups: map[string][]match{}}
}

func (ix *subjectIndex) add(b *binding) {
	for i := range b.subjects {
		if !b.live[i] {
			continue
		}
		s := &b.subjects[i]
		m := match{b, int32(i)}
		switch s.Kind {
		case rbacv1.UserKind:
			ix.names[s.Name] = append(ix.names[s.Name], m)
		case rbacv1.GroupKind:
			ix.groups[s.Name] = append(ix.groups[s.Name], m)
		case rbacv1.ServiceAccountKind:
			u := ServiceAccountUser(s.Namespace, s.Name)
			ix.names[u] = append(ix.names[u], m)
		}
	}
}

// collect appends the bindings whose subjects name u, in no order, a
// binding once per subject that names u.
func (ix *subjectIndex) collect(u *User, buf []match) []match {
	buf = append(buf, ix.names[u.Name]...)
	for _, g := range u.Groups {
		buf = append(buf, ix.groups[g]...)
	}
	return buf
}

// Compile builds an engine. The policy is not modified, and the engine
// keeps references to its objects: do not modify them while the engine is
// in use.
func Compile(p *Policy, opts Options) *Engine {
	e := &Engine{
		opts:         opts,
		input:        p,
		nodeRules:    NodeRules(),
		clusterRoles: make(map[string]*role, len(p.ClusterRoles)),
		roles:        make(map[Ref]*role, len(p.Roles)),
		rbs:          map[string][]*binding{},
		crbSubjects:  *newSubjectIndex(),
		rbSubjects:   map[string]*subjectIndex{},
	}
	roles := make([]role, len(p.ClusterRoles)+len(p.Roles))
	e.crRoles = make([]*role, len(p.ClusterRoles))
	for i := range p.ClusterRoles {
		cr := &p.ClusterRoles[i]
		r := &roles[i]
		r.id, r.ref, r.written, r.labels = int32(i), Ref{KindClusterRole, "", cr.Name}, cr.Rules, cr.Labels
		e.crRoles[i] = r
		if old := e.clusterRoles[cr.Name]; old != nil {
			old.shadowed = true // a later object of the same name replaces it
		}
		e.clusterRoles[cr.Name] = r
	}
	e.linkAggregation(p.ClusterRoles)
	for i := range p.Roles {
		ro := &p.Roles[i]
		r := &roles[len(p.ClusterRoles)+i]
		r.id, r.ref, r.written = int32(len(p.ClusterRoles)+i), Ref{KindRole, ro.Namespace, ro.Name}, ro.Rules
		e.roles[r.ref] = r
	}
	e.nroles = len(roles)

	nsubjects := 0
	for i := range p.ClusterRoleBindings {
		nsubjects += len(p.ClusterRoleBindings[i].Subjects)
	}
	for i := range p.RoleBindings {
		nsubjects += len(p.RoleBindings[i].Subjects)
	}
	bindings := make([]binding, len(p.ClusterRoleBindings)+len(p.RoleBindings))
	live := make([]bool, nsubjects)
	e.nbindings = len(bindings)

	e.crbs = make([]*binding, len(p.ClusterRoleBindings))
	for i := range p.ClusterRoleBindings {
		o := &p.ClusterRoleBindings[i]
		b := &bindings[i]
		n := len(o.Subjects)
		e.initBinding(b, Ref{KindClusterRoleBinding, "", o.Name}, o.RoleRef, o.Subjects, live[:n:n])
		live = live[n:]
		e.crbs[i] = b
	}
	slices.SortStableFunc(e.crbs, func(x, y *binding) int { return strings.Compare(x.ref.Name, y.ref.Name) })
	for i, b := range e.crbs {
		b.order = int32(i)
		e.crbSubjects.add(b)
	}
	for i := range p.RoleBindings {
		o := &p.RoleBindings[i]
		b := &bindings[len(p.ClusterRoleBindings)+i]
		n := len(o.Subjects)
		e.initBinding(b, Ref{KindRoleBinding, o.Namespace, o.Name}, o.RoleRef, o.Subjects, live[:n:n])
		live = live[n:]
		e.rbs[o.Namespace] = append(e.rbs[o.Namespace], b)
	}
	order := int32(len(e.crbs))
	for ns, bs := range e.rbs {
		slices.SortStableFunc(bs, func(x, y *binding) int { return strings.Compare(x.ref.Name, y.ref.Name) })
		ix := newSubjectIndex()
		e.rbSubjects[ns] = ix
		for _, b := range bs {
			b.order = order
			order++
			ix.add(b)
		}
	}
	return e
}

// initBinding resolves a binding's role as the API server does: a
// ClusterRoleBinding's role is looked up as a ClusterRole (or, for kind
// Role, in no namespace: never found); a RoleBinding's Role in its own
// namespace.
func (e *Engine) initBinding(b *binding, ref Ref, rr rbacv1.RoleRef, subjects []rbacv1.Subject, live []bool) {
	b.ref, b.subjects, b.live = ref, subjects, live
	copied := false
	for i := range subjects {
		s := &subjects[i]
		live[i] = s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind || s.Kind == rbacv1.ServiceAccountKind
		if s.Kind == rbacv1.ServiceAccountKind && s.Namespace == "" {
			if ref.Namespace == "" {
				live[i] = false // the API server cannot default it: matches nobody
				continue
			}
			if !copied {
				b.subjects, copied = slices.Clone(subjects), true
			}
			b.subjects[i].Namespace = ref.Namespace
		}
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
		b.error = ref.String() + ": " + b.missing
		e.problems = append(e.problems, Problem{Kind: ProblemRoleRef, Object: ref, Msg: b.missing})
		return
	}
	if b.role == nil {
		b.missing = fmt.Sprintf("%s %q not found", strings.ToLower(rr.Kind), rr.Name)
		if rr.Kind == KindRole && ref.Namespace == "" {
			b.missing = fmt.Sprintf("a ClusterRoleBinding cannot reference Role %q", rr.Name)
		}
		b.error = ref.String() + ": " + b.missing
		e.problems = append(e.problems, Problem{Kind: ProblemRoleRef, Object: ref, Msg: b.missing + ": the binding grants nothing"})
	}
}

// Policy is the compiled policy: the input with ClusterRole aggregation
// applied. Do not modify it.
func (e *Engine) Policy() *Policy {
	e.policyOnce.Do(func() {
		p := e.input
		q := &Policy{
			ClusterRoles:        slices.Clone(p.ClusterRoles),
			ClusterRoleBindings: p.ClusterRoleBindings,
			Roles:               p.Roles,
			RoleBindings:        p.RoleBindings,
			Sources:             p.Sources,
		}
		for i := range q.ClusterRoles {
			if r := e.crRoles[i]; r.agg != nil && !r.shadowed {
				q.ClusterRoles[i].Rules = r.grants().materialize()
			}
		}
		e.policy = q
	})
	return e.policy
}

// Problems lists bindings whose role is missing and aggregations that
// could not be computed (every aggregation computed first).
func (e *Engine) Problems() []Problem {
	if e.budget == nil {
		return e.problems
	}
	for _, r := range e.crRoles {
		r.grants()
	}
	return append(slices.Clone(e.problems), e.budget.list()...)
}

// Rules is the number of rules the compiled policy's roles grant, with
// aggregated ClusterRoles counted with the rules they aggregate.
func (e *Engine) Rules() int {
	n := 0
	for _, r := range e.allRoles() {
		n += r.grants().len()
	}
	return n
}

// allRoles lists every role the engine resolves bindings to.
func (e *Engine) allRoles() []*role {
	out := make([]*role, 0, e.nroles)
	for _, r := range e.crRoles {
		if !r.shadowed {
			out = append(out, r)
		}
	}
	for _, r := range e.roles {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y *role) int { return cmp.Compare(x.id, y.id) })
	return out
}

// materializeForLint fills every role's rules and from.
func (e *Engine) materializeForLint() {
	e.lintOnce.Do(func() {
		for _, r := range e.allRoles() {
			l := r.grants()
			r.rules = l.materialize()
			r.from = make([]string, l.len())
			for i := range r.from {
				r.from[i] = l.origin(i)
			}
		}
	})
}

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
	b.Grow(128)
	p.write(&b)
	return b.String()
}

func (p *Path) write(b *strings.Builder) {
	p.Binding.write(b)
	b.WriteString(" (")
	b.WriteString(p.Subject.Kind)
	b.WriteByte(' ')
	if p.Subject.Kind == rbacv1.ServiceAccountKind {
		b.WriteString(p.Subject.Namespace)
		b.WriteByte('/')
	}
	b.WriteString(p.Subject.Name)
	b.WriteString(") → ")
	p.Role.write(b)
	b.WriteString(" → rule ")
	writeInt(b, p.Rule)
	b.WriteByte(' ')
	writeRule(b, &p.PolicyRule)
	if p.AggregatedFrom != "" {
		b.WriteString(" aggregated from ClusterRole ")
		b.WriteString(p.AggregatedFrom)
	}
}

func writeInt(b *strings.Builder, n int) {
	var buf [20]byte
	i := len(buf)
	if n == 0 {
		b.WriteByte('0')
		return
	}
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		b.WriteByte('-')
	}
	b.Write(buf[i:])
}

func subjectName(s rbacv1.Subject) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		return s.Namespace + "/" + s.Name
	}
	return s.Name
}

// path is the Path of one binding's subject and one rule of its role.
func (b *binding) path(subject int32, rule int) Path {
	l := b.role.grants()
	return Path{Binding: b.ref, Subject: b.subjects[subject], Role: b.role.ref, Rule: rule, PolicyRule: *l.rule(rule), AggregatedFrom: l.origin(rule)}
}

// matches reports whether subject i of b names u.
func (b *binding) matches(i int, u *User) bool {
	if !b.live[i] {
		return false
	}
	s := &b.subjects[i]
	switch s.Kind {
	case rbacv1.UserKind:
		return s.Name == u.Name
	case rbacv1.GroupKind:
		return slices.Contains(u.Groups, s.Name)
	case rbacv1.ServiceAccountKind:
		return isServiceAccount(u.Name, s.Namespace, s.Name)
	}
	return false
}

// firstSubject is the first subject of b that names u, as the API server
// reports it.
func (b *binding) firstSubject(u *User) int32 {
	for i := range b.subjects {
		if b.matches(i, u) {
			return int32(i)
		}
	}
	return -1
}
