package rbac

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

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

// whoIndex answers WhoCan: every rule a role grants by where it applies,
// and every subject numbered in the order WhoCan lists subjects. It is
// built on the first WhoCan.
type whoIndex struct {
	// The rules that lists of rules are made of: of ClusterRoles that
	// grant their own rules or belong to a cycle of aggregated roles, and
	// of Roles by namespace.
	cluster *ruleIndex[ruleRef]
	sources []*role // those ClusterRoles
	ns      map[string]*ruleIndex[ruleRef]
	// Where each of those ClusterRole rules appears in aggregated
	// ClusterRoles: occ[occStart[base[role]+i] : occStart[base[role]+i+1]].
	base     []int32 // by role id
	occStart []int32
	occ      []occurrence
	// The roles that grant each list of rules (by list id).
	listRoles [][]*role
	// Bindings by role id: ClusterRoleBindings, and RoleBindings by
	// namespace.
	crbsByRole [][]*binding
	rbsByRole  map[string]map[int32][]*binding
	// Subjects by number (binding.sids), and the position of each in
	// WhoCan's order: groups, users, service accounts, each by namespace
	// and name.
	subjects []rbacv1.Subject
	rank     []int32
	masters  int32 // the number of group system:masters, or -1
}

type occurrence struct {
	list *ruleList
	pos  int32
}

func (e *Engine) whoIndex() *whoIndex {
	e.whoOnce.Do(func() { e.who = e.buildWhoIndex() })
	return e.who
}

func (e *Engine) buildWhoIndex() *whoIndex {
	w := &whoIndex{
		cluster:    newRuleIndex[ruleRef](),
		ns:         map[string]*ruleIndex[ruleRef]{},
		base:       make([]int32, e.nroles),
		listRoles:  make([][]*role, e.nroles),
		crbsByRole: make([][]*binding, e.nroles),
		rbsByRole:  map[string]map[int32][]*binding{},
		masters:    -1,
	}
	roles := e.allRoles()
	nbase := int32(0)
	for _, r := range roles {
		l := r.grants()
		w.listRoles[l.id] = append(w.listRoles[l.id], r)
		if l.owner != r && (r.agg == nil || r.agg.scc == nil) {
			continue
		}
		if r.ref.Kind == KindClusterRole {
			w.sources = append(w.sources, r)
			w.base[r.id] = nbase
			nbase += int32(len(r.written))
			for i := range r.written {
				w.cluster.add(&r.written[i], ruleRef{r, int32(i)}, true)
			}
			continue
		}
		ix := w.ns[r.ref.Namespace]
		if ix == nil {
			ix = newRuleIndex[ruleRef]()
			w.ns[r.ref.Namespace] = ix
		}
		for i := range r.written {
			// Non-resource rules of a Role never apply: non-resource
			// requests have no namespace.
			ix.add(&r.written[i], ruleRef{r, int32(i)}, false)
		}
	}
	// Occurrences of ClusterRole rules in aggregated lists, grouped by rule.
	w.occStart = make([]int32, nbase+1)
	var lists []*ruleList
	for _, r := range roles {
		if l := r.grants(); l.owner == nil && w.listRoles[l.id][0] == r {
			lists = append(lists, l)
			for _, ref := range l.agg {
				w.occStart[w.base[ref.src.id]+ref.i+1]++
			}
		}
	}
	for i := 1; i < len(w.occStart); i++ {
		w.occStart[i] += w.occStart[i-1]
	}
	w.occ = make([]occurrence, w.occStart[nbase])
	fill := slices.Clone(w.occStart[:nbase])
	for _, l := range lists {
		for p, ref := range l.agg {
			k := w.base[ref.src.id] + ref.i
			w.occ[fill[k]] = occurrence{l, int32(p)}
			fill[k]++
		}
	}
	// Bindings by role; subjects numbered.
	type key struct{ kind, ns, name string }
	numbers := map[key]int32{}
	sids := make([]int32, 0, e.nbindings*2)
	number := func(b *binding) {
		n := len(b.subjects)
		start := len(sids)
		for i := range b.subjects {
			s := &b.subjects[i]
			if !b.live[i] {
				sids = append(sids, -1)
				continue
			}
			k := key{s.Kind, s.Namespace, s.Name}
			if s.Kind != rbacv1.ServiceAccountKind {
				k.ns = ""
			}
			id, ok := numbers[k]
			if !ok {
				id = int32(len(w.subjects))
				numbers[k] = id
				w.subjects = append(w.subjects, normalSubject(*s))
				if s.Kind == rbacv1.GroupKind && s.Name == GroupMasters {
					w.masters = id
				}
			}
			sids = append(sids, id)
		}
		b.sids = sids[start : start+n : start+n]
	}
	for _, b := range e.crbs {
		number(b)
		if b.role != nil {
			w.crbsByRole[b.role.id] = append(w.crbsByRole[b.role.id], b)
		}
	}
	for ns, bs := range e.rbs {
		m := map[int32][]*binding{}
		w.rbsByRole[ns] = m
		for _, b := range bs {
			number(b)
			if b.role != nil {
				m[b.role.id] = append(m[b.role.id], b)
			}
		}
	}
	byRank := make([]int32, len(w.subjects))
	for i := range byRank {
		byRank[i] = int32(i)
	}
	slices.SortFunc(byRank, func(x, y int32) int {
		a, b := &w.subjects[x], &w.subjects[y]
		if c := cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)); c != 0 {
			return c
		}
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	w.rank = make([]int32, len(w.subjects))
	for r, id := range byRank {
		w.rank[id] = int32(r)
	}
	return w
}

// scratch is one WhoCan's working memory, reused.
type scratch struct {
	gen      uint32
	listGen  []uint32 // by list id
	listPos  []int32  // the first allowing rule of each list seen
	lists    []*ruleList
	bindings []*binding
	subjGen  []uint32 // by subject number
	subjAcc  []int32  // its position among the answer's subjects
	subjLast []int32  // the order of the last binding that listed it
	accs     []int32  // subject numbers, in the answer's order
	counts   []int32  // paths per answer subject
}

func (e *Engine) getScratch(w *whoIndex) *scratch {
	s, _ := e.scratch.Get().(*scratch)
	if s == nil {
		s = &scratch{listGen: make([]uint32, e.nroles), listPos: make([]int32, e.nroles),
			subjGen: make([]uint32, len(w.subjects)), subjAcc: make([]int32, len(w.subjects)), subjLast: make([]int32, len(w.subjects))}
	}
	s.gen++
	if s.gen == 0 { // wrapped: forget every mark
		clear(s.listGen)
		clear(s.subjGen)
		s.gen = 1
	}
	s.lists, s.bindings, s.accs, s.counts = s.lists[:0], s.bindings[:0], s.accs[:0], s.counts[:0]
	return s
}

func (s *scratch) note(l *ruleList, pos int32) {
	if s.listGen[l.id] != s.gen {
		s.listGen[l.id] = s.gen
		s.listPos[l.id] = pos
		s.lists = append(s.lists, l)
	} else if pos < s.listPos[l.id] {
		s.listPos[l.id] = pos
	}
}

// WhoCan lists every subject that may perform a, each once with all its
// paths: the group system:masters first, then every subject of every
// binding whose role allows it (groups, users, service accounts, each by
// namespace and name). A user may perform a exactly when it matches one of
// them (or, for node identities, when Nodes says so).
func (e *Engine) WhoCan(a Action) Subjects {
	if !a.IsResource() {
		a.Namespace = ""
	}
	w := e.whoIndex()
	s := e.getScratch(w)
	defer e.scratch.Put(s)

	// The lists of rules with a rule that allows a, and the first such rule
	// of each.
	var buf [8][]ruleRef
	noteRule := func(ref ruleRef) {
		if !RuleAllows(ref.rule(), &a) {
			return
		}
		if l := ref.src.grants(); l.owner == ref.src {
			s.note(l, ref.i)
		}
		if ref.src.ref.Kind == KindClusterRole {
			k := w.base[ref.src.id] + ref.i
			for _, o := range w.occ[w.occStart[k]:w.occStart[k+1]] {
				s.note(o.list, o.pos)
			}
		}
	}
	scan := func(ix *ruleIndex[ruleRef], roles func(func(*role))) {
		if bs, ok := ix.buckets(&a, buf[:0]); ok {
			for _, b := range bs {
				for _, ref := range b {
					noteRule(ref)
				}
			}
			return
		}
		roles(func(r *role) {
			for i := range r.written {
				noteRule(ruleRef{r, int32(i)})
			}
		})
	}
	scan(w.cluster, func(f func(*role)) {
		for _, r := range w.sources {
			f(r)
		}
	})
	namespaced := a.IsResource() && a.Namespace != ""
	if namespaced {
		if ix := w.ns[a.Namespace]; ix != nil {
			scan(ix, func(f func(*role)) {
				for ref, r := range e.roles {
					if ref.Namespace == a.Namespace {
						f(r)
					}
				}
			})
		}
	}

	// The bindings of those roles, in order.
	rbs := w.rbsByRole[a.Namespace]
	for _, l := range s.lists {
		for _, r := range w.listRoles[l.id] {
			s.bindings = append(s.bindings, w.crbsByRole[r.id]...)
			if namespaced {
				s.bindings = append(s.bindings, rbs[r.id]...)
			}
		}
	}
	slices.SortFunc(s.bindings, func(x, y *binding) int { return cmp.Compare(x.order, y.order) })

	// Their subjects, each once, with a path per binding.
	out := Subjects{Action: a}
	mastersAcc := int32(-1)
	for _, b := range s.bindings {
		for _, id := range b.sids {
			if id < 0 {
				continue
			}
			if s.subjGen[id] != s.gen {
				s.subjGen[id] = s.gen
				s.subjLast[id] = -1
				s.subjAcc[id] = int32(len(s.accs))
				s.accs = append(s.accs, id)
				s.counts = append(s.counts, 0)
				if id == w.masters {
					mastersAcc = s.subjAcc[id]
				}
			}
			if s.subjLast[id] == b.order {
				continue // the binding lists the subject twice
			}
			s.subjLast[id] = b.order
			s.counts[s.subjAcc[id]]++
		}
	}
	// Order: system:masters first, then by rank.
	order := make([]int32, len(s.accs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int {
		if x == mastersAcc {
			return -1
		}
		if y == mastersAcc {
			return 1
		}
		return cmp.Compare(w.rank[s.accs[x]], w.rank[s.accs[y]])
	})
	n := len(order)
	if mastersAcc < 0 {
		n++
	}
	out.Access = make([]Access, 0, n)
	if mastersAcc < 0 {
		out.Access = append(out.Access, Access{Subject: rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: GroupMasters}, By: ByMasters})
	}
	total := 0
	for _, c := range s.counts {
		total += int(c)
	}
	paths := make([]Path, total)
	next := make([]int32, len(s.accs)) // where each subject's next path goes
	off := 0
	for _, k := range order {
		acc := Access{Subject: w.subjects[s.accs[k]], By: ByRBAC}
		if k == mastersAcc {
			acc.By = ByMasters
		}
		c := int(s.counts[k])
		acc.Paths = paths[off : off : off+c]
		next[k] = int32(len(out.Access))
		out.Access = append(out.Access, acc)
		off += c
	}
	for _, b := range s.bindings {
		l := b.role.grants()
		rule := int(s.listPos[l.id])
		for i, id := range b.sids {
			if id < 0 {
				continue
			}
			acc := &out.Access[next[s.subjAcc[id]]]
			if n := len(acc.Paths); n > 0 && acc.Paths[n-1].Binding == b.ref {
				continue
			}
			acc.Paths = append(acc.Paths, Path{Binding: b.ref, Subject: b.subjects[i], Role: b.role.ref, Rule: rule, PolicyRule: *l.rule(rule), AggregatedFrom: l.origin(rule)})
		}
	}
	e.whoCanNodes(&a, &out)
	return out
}

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
