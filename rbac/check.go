package rbac

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

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
	// Check, the first from Authorize (shared between Authorize's answers:
	// do not modify them).
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
	var buf [32]match
	for _, m := range e.candidates(&u, &a, buf[:0]) {
		if m.b.role != nil && m.b.role.grants().first(&a) >= 0 {
			return true
		}
	}
	return false
}

// candidates are the bindings whose subjects name u and that apply to a:
// the ClusterRoleBindings, then the RoleBindings of a's namespace, each
// once per subject that names u.
func (e *Engine) candidates(u *User, a *Action, buf []match) []match {
	buf = e.crbSubjects.collect(u, buf)
	if a.Namespace != "" && a.IsResource() {
		if ix := e.rbSubjects[a.Namespace]; ix != nil {
			buf = ix.collect(u, buf)
		}
	}
	return buf
}

// grant is one binding that allows a request, with its first allowing
// rule.
type grant struct {
	b       *binding
	rule    int
	subject int32 // the first subject of b that names the user
}

// rbac finds the grants of the user's bindings: the first (in the order of
// the bindings: ClusterRoleBindings, then RoleBindings, each by name) or
// all, and the bindings whose role is missing.
func (e *Engine) rbac(u *User, a *Action, all bool, errs *[]string, out []grant) []grant {
	var buf [32]match
	ms := e.candidates(u, a, buf[:0])
	var mbuf [8]*binding
	missing := mbuf[:0]
	if all {
		slices.SortFunc(ms, func(x, y match) int { return cmp.Compare(x.b.order, y.b.order) })
		ms = slices.CompactFunc(ms, func(x, y match) bool { return x.b == y.b })
		for _, m := range ms {
			if m.b.role == nil {
				missing = append(missing, m.b)
			} else if i := m.b.role.grants().first(a); i >= 0 {
				out = append(out, grant{b: m.b, rule: i})
			}
		}
	} else {
		// The first grant in the order of the bindings: candidates by
		// order, the first that allows.
		if len(ms) > 1 {
			slices.SortFunc(ms, func(x, y match) int { return cmp.Compare(x.b.order, y.b.order) })
		}
		for i, m := range ms {
			if i > 0 && ms[i-1].b == m.b {
				continue
			}
			if m.b.role == nil {
				missing = append(missing, m.b)
				continue
			}
			if r := m.b.role.grants().first(a); r >= 0 {
				return append(out, grant{b: m.b, rule: r})
			}
		}
	}
	if errs != nil && len(missing) > 0 {
		slices.SortFunc(missing, func(x, y *binding) int { return cmp.Compare(x.order, y.order) })
		for _, b := range slices.Compact(missing) {
			*errs = append(*errs, b.error)
		}
	}
	return out
}

func (e *Engine) paths(u *User, gs []grant) []Path {
	if len(gs) == 0 {
		return nil
	}
	out := make([]Path, len(gs))
	for i := range gs {
		gs[i].subject = gs[i].b.firstSubject(u)
		out[i] = gs[i].b.path(gs[i].subject, gs[i].rule)
	}
	return out
}

const mastersReason = "allowed: the user is in group " + GroupMasters + ", which the API server's privileged-group authorizer allows everything before Node and RBAC run"

func (e *Engine) decide(u *User, a *Action, all bool) Decision {
	if !a.IsResource() {
		a.Namespace = ""
	}
	if u.InGroup(GroupMasters) {
		d := Decision{Allowed: true, By: ByMasters, Reason: mastersReason}
		if all {
			d.Paths = e.paths(u, e.rbac(u, a, true, &d.Errors, nil))
		}
		return d
	}
	nodeAllowed, nodeRule, dependsOnNode := e.node(u, a)
	var d Decision
	var first [1]grant
	var gs []grant
	if all || !nodeAllowed {
		gs = e.rbac(u, a, all, &d.Errors, first[:0])
		if all || len(gs) == 0 {
			d.Paths = e.paths(u, gs)
		} else {
			g := &gs[0]
			g.subject = g.b.firstSubject(u)
			d.Paths = g.b.explain(g.subject, g.rule).paths
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
		d.Reason = gs[0].b.explain(gs[0].subject, gs[0].rule).reason
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

// explanation is how one grant of a binding is told: its path and the
// reason naming it.
type explanation struct {
	key    uint64 // subject << 32 | rule
	paths  []Path // the one path
	reason string
}

// maxExplanations bounds the explanations a binding keeps.
const maxExplanations = 32

// explain is the path and the "allowed by" reason of one subject and rule
// of b. They are kept: the same grant answers many questions, and
// Authorize's answers share them (callers must not modify Decision.Paths).
func (b *binding) explain(subject int32, rule int) *explanation {
	key := uint64(uint32(subject))<<32 | uint64(uint32(rule))
	old := b.explained.Load()
	if old != nil {
		for i := range *old {
			if (*old)[i].key == key {
				return &(*old)[i]
			}
		}
	}
	p := b.path(subject, rule)
	var sb strings.Builder
	sb.Grow(192)
	sb.WriteString("allowed by ")
	p.write(&sb)
	x := explanation{key: key, paths: []Path{p}, reason: sb.String()}
	for {
		var n []explanation
		if old != nil {
			if len(*old) >= maxExplanations {
				return &x
			}
			n = append(make([]explanation, 0, len(*old)+1), *old...)
		}
		n = append(n, x)
		if b.explained.CompareAndSwap(old, &n) {
			return &n[len(n)-1]
		}
		old = b.explained.Load()
	}
}
