package rbac

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// ClusterRole aggregation, as kube-controller-manager's
// clusterrole-aggregation controller computes it: an aggregated
// ClusterRole holds the rules of every other ClusterRole its selectors
// match, taken selector by selector and role by role in name order, each
// rule once (rules equal field by field count once; an empty list equals a
// missing one). When that is no rule at all, the role keeps the rules it
// was written with: the controller applies its result with server-side
// apply, and an apply without rules leaves the rules another field manager
// wrote.
//
// The controller recomputes a role whenever a role it aggregates changes,
// so in a policy without cycles each aggregated role ends with the rules of
// its sources' final rules. Compile links every aggregated role to the
// roles its selectors match (selectors written alike share one list of
// matches); a role's rules are computed when first needed, after its
// sources'. Roles that select each other (a cycle) end with rules that
// depend on the order in which the controller sees them: bulwark gives
// every role of a cycle the same rules, every rule any of them can reach,
// which holds whatever the controller may have stored, and reports the
// cycle. Each role and each distinct selector's matches are visited once,
// so the work is linear in the policy's size plus the aggregated rules.

// aggRole is an aggregated ClusterRole's selectors.
type aggRole struct {
	sels   []*selNode
	scc    *cycle // the roles of a cycle it belongs to
	budget *aggBudget
	node   int // in the graph findCycles walks
}

// aggBudget bounds what aggregation makes: an aggregated role holds at
// most maxAggregatedRules rules (the API server could not store more in
// one object: etcd refuses requests over 1.5 MiB), and all of them
// together at most total rules (a multiple of the rules written), so that
// no input makes bulwark's memory grow out of proportion to it. A role
// over either bound is taken as written, as the controller, unable to
// apply its result, would leave it; the problem is reported.
type aggBudget struct {
	total int64
	used  atomic.Int64

	mu       sync.Mutex
	problems []Problem
	overrun  int // roles refused for the total: the first is reported
}

// maxAggregatedRules is the most rules an aggregated role may hold;
// budgetFactor times the rules written (and a million) the most all
// aggregated roles hold together.
const (
	maxAggregatedRules = 1 << 16
	budgetFactor       = 16
)

func (b *aggBudget) report(p Problem) {
	b.mu.Lock()
	b.problems = append(b.problems, p)
	b.mu.Unlock()
}

// limit is the most rules the next aggregated role may hold.
func (b *aggBudget) limit() int {
	return int(min(maxAggregatedRules, max(0, b.total-b.used.Load())+1))
}

// admit charges n aggregated rules of r to the budget, or reports why not:
// over says that the deduper stopped at its limit.
func (b *aggBudget) admit(r *role, n int, over bool) bool {
	if over && n >= maxAggregatedRules {
		b.report(Problem{Kind: ProblemAggregation, Object: r.ref,
			Msg: fmt.Sprintf("aggregates more than %d rules, more than the API server can store in one object: the controller cannot apply it, so bulwark takes the role as written", maxAggregatedRules)})
		return false
	}
	if over || b.used.Add(int64(n)) > b.total {
		if !over {
			b.used.Add(-int64(n))
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.overrun++; b.overrun == 1 {
			b.problems = append(b.problems, Problem{Kind: ProblemAggregation, Object: r.ref,
				Msg: fmt.Sprintf("aggregation makes more than %d rules in all (%d times the rules written, and a million): bulwark takes this role, and any other over the bound, as written", b.total, budgetFactor)})
		}
		return false
	}
	return true
}

// report lists the problems, with how many roles were over the total.
func (b *aggBudget) list() []Problem {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := slices.Clone(b.problems)
	for i := range out {
		if b.overrun > 1 && strings.Contains(out[i].Msg, "in all") {
			out[i].Msg += fmt.Sprintf(" (%d roles)", b.overrun)
		}
	}
	return out
}

// selNode is one distinct selector and the ClusterRoles it matches, by
// name.
type selNode struct {
	id      int
	members []*role
}

// cycle is a set of aggregated ClusterRoles that select each other.
type cycle struct {
	members []*role // by name
	once    sync.Once
	list    *ruleList
}

// ruleList is the rules one or more roles grant, in the order the API
// server holds them: a role's own rules, or an aggregated ClusterRole's,
// which refer to the rules of the roles they come from.
type ruleList struct {
	id    int32
	owner *role     // the rules are owner.written
	agg   []ruleRef // or these

	ixOnce sync.Once
	ix     *ruleIndex[int32]
}

// ruleRef is one written rule of a role: src.written[i].
type ruleRef struct {
	src *role
	i   int32
}

func (r ruleRef) rule() *rbacv1.PolicyRule { return &r.src.written[r.i] }

func (l *ruleList) len() int {
	if l.owner != nil {
		return len(l.owner.written)
	}
	return len(l.agg)
}

func (l *ruleList) rule(i int) *rbacv1.PolicyRule {
	if l.owner != nil {
		return &l.owner.written[i]
	}
	return l.agg[i].rule()
}

// origin is the ClusterRole an aggregated rule came from, "" for a role's
// own rule.
func (l *ruleList) origin(i int) string {
	if l.owner != nil {
		return ""
	}
	return l.agg[i].src.ref.Name
}

// materialize copies the rules.
func (l *ruleList) materialize() []rbacv1.PolicyRule {
	if l.owner != nil {
		return l.owner.written
	}
	out := make([]rbacv1.PolicyRule, len(l.agg))
	for i, r := range l.agg {
		out[i] = *r.rule()
	}
	return out
}

// grants is the rules the role grants, computed on first use.
func (r *role) grants() *ruleList {
	r.once.Do(func() { r.list = r.resolve() })
	return r.list
}

func (r *role) resolve() *ruleList {
	if r.agg == nil {
		return &ruleList{id: r.id, owner: r}
	}
	if c := r.agg.scc; c != nil {
		c.once.Do(func() { c.list = c.resolve() })
		if c.list == nil {
			return &ruleList{id: r.id, owner: r}
		}
		return c.list
	}
	d := deduper{limit: r.agg.budget.limit()}
	for _, sel := range r.agg.sels {
		for _, m := range sel.members {
			if m != r && !d.over {
				d.addList(m.grants())
			}
		}
	}
	if len(d.out) == 0 || !r.agg.budget.admit(r, len(d.out), d.over) {
		return &ruleList{id: r.id, owner: r}
	}
	return &ruleList{id: r.id, agg: d.out}
}

// resolve computes the rules of a cycle's roles: every rule any of them
// can reach, their own written rules included (the controller may have
// copied one before replacing it).
func (c *cycle) resolve() *ruleList {
	d := deduper{limit: c.members[0].agg.budget.limit()}
	in := func(m *role) bool { return m.agg != nil && m.agg.scc == c }
	seen := map[*selNode]bool{}
	for _, r := range c.members {
		for _, sel := range r.agg.sels {
			if seen[sel] {
				continue
			}
			seen[sel] = true
			for _, m := range sel.members {
				if in(m) {
					for i := range m.written {
						d.add(m, int32(i))
					}
				} else {
					d.addList(m.grants())
				}
			}
		}
	}
	for _, r := range c.members {
		for i := range r.written {
			d.add(r, int32(i))
		}
	}
	if len(d.out) == 0 || !c.members[0].agg.budget.admit(c.members[0], len(d.out), d.over) {
		return nil
	}
	return &ruleList{id: c.members[0].id, agg: d.out}
}

var ruleSeed = maphash.MakeSeed()

// hash is the hash of written rule i, for the duplicate check.
func (r *role) hash(i int32) uint64 {
	r.hashOnce.Do(func() {
		r.hashes = make([]uint64, len(r.written))
		var h maphash.Hash
		h.SetSeed(ruleSeed)
		for j := range r.written {
			h.Reset()
			w := &r.written[j]
			for _, l := range [...][]string{w.Verbs, w.APIGroups, w.Resources, w.ResourceNames, w.NonResourceURLs} {
				for _, s := range l {
					h.WriteString(s)
					h.WriteByte(0)
				}
				h.WriteByte(1)
			}
			r.hashes[j] = h.Sum64()
		}
	})
	return r.hashes[i]
}

// deduper appends rules, each distinct rule once, up to limit (then over
// is set).
type deduper struct {
	out   []ruleRef
	head  map[uint64]int32 // hash → 1 + position of the first rule with it
	next  []int32          // per position: 1 + position of the next rule with the same hash
	limit int
	over  bool
}

func (d *deduper) addList(l *ruleList) {
	if l.owner != nil {
		for i := range l.owner.written {
			d.add(l.owner, int32(i))
		}
		return
	}
	for _, r := range l.agg {
		d.add(r.src, r.i)
	}
}

func (d *deduper) add(src *role, i int32) {
	if d.over {
		return
	}
	if d.head == nil {
		d.head = map[uint64]int32{}
	}
	h := src.hash(i)
	rule := &src.written[i]
	first := d.head[h]
	for p := first; p != 0; p = d.next[p-1] {
		if sameRule(d.out[p-1].rule(), rule) {
			return
		}
	}
	if d.limit > 0 && len(d.out) >= d.limit {
		d.over = true
		return
	}
	d.out = append(d.out, ruleRef{src, i})
	d.next = append(d.next, first)
	d.head[h] = int32(len(d.out))
}

// sameRule compares two rules field by field, an empty list equal to a
// missing one, as the controller's duplicate check does.
func sameRule(a, b *rbacv1.PolicyRule) bool {
	return slices.Equal(a.Verbs, b.Verbs) && slices.Equal(a.APIGroups, b.APIGroups) && slices.Equal(a.Resources, b.Resources) &&
		slices.Equal(a.ResourceNames, b.ResourceNames) && slices.Equal(a.NonResourceURLs, b.NonResourceURLs)
}

type labelKV struct{ k, v string }

// linkAggregation links every aggregated ClusterRole to the roles its
// selectors match and finds the cycles.
func (e *Engine) linkAggregation(crs []rbacv1.ClusterRole) {
	var aggregated []*role
	for i := range crs {
		if crs[i].AggregationRule != nil && !e.crRoles[i].shadowed {
			aggregated = append(aggregated, e.crRoles[i])
		}
	}
	if len(aggregated) == 0 {
		return
	}
	// Every ClusterRole, by each of its labels and label keys.
	all := make([]*role, 0, len(e.clusterRoles))
	byLabel := map[labelKV][]*role{}
	byKey := map[string][]*role{}
	for _, r := range e.crRoles {
		if r.shadowed {
			continue
		}
		all = append(all, r)
		for k, v := range r.labels {
			byLabel[labelKV{k, v}] = append(byLabel[labelKV{k, v}], r)
			byKey[k] = append(byKey[k], r)
		}
	}
	written := 0
	for _, r := range e.crRoles {
		written += len(r.written)
	}
	e.budget = &aggBudget{total: budgetFactor*int64(written) + 1<<20}
	nodes := map[string]*selNode{}
	var sels []*selNode
	for _, r := range aggregated {
		rule := crs[r.id].AggregationRule
		a := &aggRole{budget: e.budget}
		ok := true
		for si := range rule.ClusterRoleSelectors {
			sel, err := metav1.LabelSelectorAsSelector(&rule.ClusterRoleSelectors[si])
			if err != nil {
				e.problems = append(e.problems, Problem{Kind: ProblemAggregation, Object: r.ref,
					Msg: fmt.Sprintf("aggregationRule selector %d is invalid, so the controller leaves the role's rules as they are: %v", si, err)})
				ok = false
				break
			}
			key := sel.String()
			n := nodes[key]
			if n == nil {
				n = &selNode{id: len(sels), members: matching(sel, all, byLabel, byKey)}
				nodes[key] = n
				sels = append(sels, n)
			}
			a.sels = append(a.sels, n)
		}
		if ok {
			r.agg = a
		}
	}
	e.findCycles(aggregated, sels)
}

// matching lists the ClusterRoles a selector matches, by name. A selector
// that requires a label value (or one of a few), or a label, looks among
// the roles that have it only.
func matching(sel labels.Selector, all []*role, byLabel map[labelKV][]*role, byKey map[string][]*role) []*role {
	candidates := all
	exact := false // the candidates are the matches
	reqs, _ := sel.Requirements()
	narrow := func(l []*role) {
		if len(l) < len(candidates) {
			candidates, exact = l, len(reqs) == 1
		}
	}
	for _, req := range reqs {
		switch req.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			var l []*role
			for _, v := range req.Values().UnsortedList() {
				l = append(l, byLabel[labelKV{req.Key(), v}]...)
			}
			narrow(l)
		case selection.Exists:
			narrow(byKey[req.Key()])
		}
	}
	var out []*role
	if exact {
		out = slices.Clone(candidates)
	} else {
		for _, r := range candidates {
			if sel.Matches(labels.Set(r.labels)) {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(x, y *role) int { return strings.Compare(x.ref.Name, y.ref.Name) })
	return out
}

// findCycles finds the strongly connected components of the graph of
// aggregated roles and selectors (Tarjan's algorithm, without recursion),
// and marks those with several roles as cycles. A role that selects itself
// is no cycle: the controller skips the role it computes.
func (e *Engine) findCycles(aggregated []*role, sels []*selNode) {
	// Nodes: aggregated roles 0..A-1, selectors A..A+S-1.
	A := len(aggregated)
	for i, r := range aggregated {
		if r.agg != nil {
			r.agg.node = i
		}
	}
	succ := func(v, k int) (w, next int, ok bool) {
		if v < A {
			r := aggregated[v]
			if r.agg == nil || k >= len(r.agg.sels) {
				return 0, 0, false
			}
			return A + r.agg.sels[k].id, k + 1, true
		}
		ms := sels[v-A].members
		for ; k < len(ms); k++ {
			if a := ms[k].agg; a != nil {
				return a.node, k + 1, true
			}
		}
		return 0, 0, false
	}
	n := A + len(sels)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	type frame struct{ v, k int }
	var calls []frame
	next := 0
	for root := range n {
		if index[root] >= 0 {
			continue
		}
		calls = append(calls, frame{root, 0})
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(calls) > 0 {
			f := &calls[len(calls)-1]
			w, k, ok := succ(f.v, f.k)
			if ok {
				f.k = k
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					calls = append(calls, frame{w, 0})
				} else if onStack[w] {
					low[f.v] = min(low[f.v], index[w])
				}
				continue
			}
			v := f.v
			calls = calls[:len(calls)-1]
			if len(calls) > 0 {
				p := calls[len(calls)-1].v
				low[p] = min(low[p], low[v])
			}
			if low[v] != index[v] {
				continue
			}
			var members []*role
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				if w < A {
					members = append(members, aggregated[w])
				}
				if w == v {
					break
				}
			}
			if len(members) < 2 {
				continue
			}
			slices.SortFunc(members, func(x, y *role) int { return strings.Compare(x.ref.Name, y.ref.Name) })
			c := &cycle{members: members}
			for _, m := range members {
				m.agg.scc = c
			}
			e.problems = append(e.problems, Problem{Kind: ProblemAggregation, Object: members[0].ref,
				Msg: fmt.Sprintf("aggregated roles select each other (%d ClusterRoles in a cycle): what the controller stores depends on the order in which it sees them; bulwark gives each every rule any of them can reach", len(members))})
		}
	}
}
