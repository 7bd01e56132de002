package rbac

import (
	"cmp"
	"slices"
	"strings"

	"github.com/bulwark-k8s/bulwark/finding"
	rbacv1 "k8s.io/api/rbac/v1"
)

// Permission is one verb on one resource (or URL): a rule of a role
// split into the smallest grants it is made of. Its fields are written as
// in rules: "*" for any verb, API group or resource, "*/sub" for a
// subresource of any resource, a URL ending in "*" for a prefix; Name ""
// for any name.
type Permission struct {
	Verb     string `json:"verb"`
	APIGroup string `json:"apiGroup,omitempty"`
	Resource string `json:"resource,omitempty"`
	Name     string `json:"name,omitempty"`
	URL      string `json:"url,omitempty"`
}

func (p Permission) String() string {
	if p.URL != "" {
		return p.Verb + " " + p.URL
	}
	var b strings.Builder
	b.WriteString(p.Verb + " ")
	res, sub, _ := strings.Cut(p.Resource, "/")
	b.WriteString(res)
	if p.APIGroup != "" {
		b.WriteString("." + p.APIGroup)
	}
	if sub != "" {
		b.WriteString("/" + sub)
	}
	if p.Name != "" {
		b.WriteString(" " + p.Name)
	}
	return b.String()
}

// Scoped is a permission where it applies: Namespace "" for everywhere
// (a ClusterRoleBinding's), else one namespace.
type Scoped struct {
	Namespace string `json:"namespace,omitempty"`
	Permission
}

func (s Scoped) String() string {
	if s.Namespace == "" {
		return s.Permission.String() + " (cluster-wide)"
	}
	return s.Permission.String() + " in namespace " + s.Namespace
}

// Risk is a risky permission a subject gains, from bulwark's lint table.
type Risk struct {
	ID       string           `json:"id"`
	Severity finding.Severity `json:"severity"`
	Title    string           `json:"title"`
}

// Change is a permission a subject gained or lost.
type Change struct {
	Scoped
	// Except are the parts of it the subject held (for a gain: before;
	// for a loss: still holds): the change is the permission without
	// them.
	Except []Scoped `json:"except,omitempty"`
	// Via are the grants that give it: in the new policy for a gain, in
	// the old one for a loss.
	Via []Path `json:"via"`
	// Risks are the lint table's risky grants the gain brings.
	Risks []Risk `json:"risks,omitempty"`
}

// SubjectDiff is what one subject gained and lost.
type SubjectDiff struct {
	Subject rbacv1.Subject `json:"subject"`
	Gained  []Change       `json:"gained,omitempty"`
	Lost    []Change       `json:"lost,omitempty"`
}

// DiffReport is the difference between what subjects may do under two
// policies.
type DiffReport struct {
	Subjects []SubjectDiff `json:"subjects"`
	// Gained and Lost count the changes.
	Gained int `json:"gained"`
	Lost   int `json:"lost"`
}

// MaxRisk is the most serious risk of any gain, "" when none.
func (d *DiffReport) MaxRisk() finding.Severity {
	var max finding.Severity
	for _, s := range d.Subjects {
		for _, c := range s.Gained {
			for _, r := range c.Risks {
				if max == "" || r.Severity.AtLeast(max) {
					max = r.Severity
				}
			}
		}
	}
	return max
}

// Diff compares what every subject the two policies' bindings name (users,
// groups, service accounts) may do under each: RBAC grants after
// aggregation, with the implicit groups the API server gives each
// identity (system:authenticated to users and service accounts,
// system:serviceaccounts and system:serviceaccounts:<namespace> to service
// accounts, system:unauthenticated to system:anonymous). A group's change
// is what a member that is in no other group gains or loses; the group
// system:masters, allowed everything either way, has none. The Node
// authorizer, which does not read the policy, is left out.
//
// A subject gains a request exactly when one of its gains allows it (in
// the gain's scope) and none of the gain's exceptions does; likewise for
// losses.
func Diff(old, new *Engine) DiffReport {
	oldGrants, newGrants := old.grantsBySubject(), new.grantsBySubject()
	keys := map[subjectKey]bool{}
	for k := range oldGrants.own {
		keys[k] = true
	}
	for k := range newGrants.own {
		keys[k] = true
	}
	var rep DiffReport
	for k := range keys {
		if k.kind == rbacv1.GroupKind && k.name == GroupMasters {
			continue
		}
		o, n := oldGrants.held(k), newGrants.held(k)
		if sameHeld(o, n) {
			continue
		}
		sd := SubjectDiff{Subject: k.subject()}
		sd.Gained = changes(n, o, true)
		sd.Lost = changes(o, n, false)
		if extra := subjectRisks(sd.Subject); len(extra) > 0 {
			for i := range sd.Gained {
				sd.Gained[i].Risks = append(sd.Gained[i].Risks, extra...)
			}
		}
		if len(sd.Gained)+len(sd.Lost) == 0 {
			continue
		}
		rep.Gained += len(sd.Gained)
		rep.Lost += len(sd.Lost)
		rep.Subjects = append(rep.Subjects, sd)
	}
	slices.SortFunc(rep.Subjects, func(x, y SubjectDiff) int { return compareSubjects(&x.Subject, &y.Subject) })
	return rep
}

type subjectKey struct{ kind, ns, name string }

func (k subjectKey) subject() rbacv1.Subject {
	return normalSubject(rbacv1.Subject{Kind: k.kind, Namespace: k.ns, Name: k.name})
}

func compareSubjects(a, b *rbacv1.Subject) int {
	if c := cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)); c != 0 {
		return c
	}
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// held is one rule a subject holds through one binding.
type held struct {
	ns   string
	b    *binding
	s    int32
	rule int
}

func (h *held) policyRule() *rbacv1.PolicyRule { return h.b.role.grants().rule(h.rule) }

// subjectGrants are the rules each binding subject holds by name.
type subjectGrants struct {
	own map[subjectKey][]held
}

// grantsBySubject lists, for every subject of every binding, the rules
// that binding grants it.
func (e *Engine) grantsBySubject() subjectGrants {
	g := subjectGrants{own: map[subjectKey][]held{}}
	add := func(b *binding) {
		for i := range b.subjects {
			if !b.live[i] {
				continue
			}
			s := &b.subjects[i]
			k := subjectKey{s.Kind, s.Namespace, s.Name}
			if s.Kind != rbacv1.ServiceAccountKind {
				k.ns = ""
			}
			if b.role == nil {
				g.own[k] = append(g.own[k], held{}) // named, grants nothing
				continue
			}
			for r := range b.role.grants().len() {
				g.own[k] = append(g.own[k], held{b.ref.Namespace, b, int32(i), r})
			}
		}
	}
	for _, b := range e.crbs {
		add(b)
	}
	for _, bs := range e.rbs {
		for _, b := range bs {
			add(b)
		}
	}
	return g
}

// held is every rule the identity of subject k holds: its own grants and
// its implicit groups', and for a service account those of the user its
// username names.
func (g subjectGrants) held(k subjectKey) []held {
	var keys []subjectKey
	switch k.kind {
	case rbacv1.UserKind:
		u := Impersonate(k.name)
		keys = append(keys, k)
		if ns, name, ok := ParseServiceAccount(k.name); ok {
			keys = append(keys, subjectKey{rbacv1.ServiceAccountKind, ns, name})
		}
		for _, grp := range u.Groups {
			keys = append(keys, subjectKey{rbacv1.GroupKind, "", grp})
		}
	case rbacv1.ServiceAccountKind:
		u := Impersonate(ServiceAccountUser(k.ns, k.name))
		keys = append(keys, k, subjectKey{rbacv1.UserKind, "", u.Name})
		for _, grp := range u.Groups {
			keys = append(keys, subjectKey{rbacv1.GroupKind, "", grp})
		}
	default:
		keys = append(keys, k)
	}
	var out []held
	for i, key := range keys {
		if slices.Contains(keys[:i], key) {
			continue
		}
		for _, h := range g.own[key] {
			if h.b != nil {
				out = append(out, h)
			}
		}
	}
	return out
}

// sameHeld reports whether two lists hold the same rules in the same
// scopes.
func sameHeld(a, b []held) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(h held) (string, string) { return h.ns, ruleText(h.policyRule()) }
	sortHeld := func(l []held) []held {
		l = slices.Clone(l)
		slices.SortFunc(l, func(x, y held) int {
			xn, xr := key(x)
			yn, yr := key(y)
			if c := strings.Compare(xn, yn); c != 0 {
				return c
			}
			return strings.Compare(xr, yr)
		})
		return l
	}
	a, b = sortHeld(a), sortHeld(b)
	for i := range a {
		if a[i].ns != b[i].ns || !sameRule(a[i].policyRule(), b[i].policyRule()) {
			return false
		}
	}
	return true
}

func ruleText(r *rbacv1.PolicyRule) string {
	var b strings.Builder
	writeRule(&b, r)
	return b.String()
}

// atom is one scoped permission and the grant it comes from.
type atom struct {
	Scoped
	h held
}

// atoms splits rules into permissions. A RoleBinding's rules grant no URL.
func atoms(hs []held) []atom {
	var out []atom
	for _, h := range hs {
		r := h.policyRule()
		for _, v := range r.Verbs {
			if h.ns == "" {
				for _, u := range r.NonResourceURLs {
					out = append(out, atom{Scoped{"", Permission{Verb: v, URL: u}}, h})
				}
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					if len(r.ResourceNames) == 0 {
						out = append(out, atom{Scoped{h.ns, Permission{Verb: v, APIGroup: g, Resource: res}}, h})
					}
					for _, n := range r.ResourceNames {
						out = append(out, atom{Scoped{h.ns, Permission{Verb: v, APIGroup: g, Resource: res, Name: n}}, h})
					}
				}
			}
		}
	}
	return out
}

// changes lists the permissions of from that to does not hold whole: the
// gains (from = new, to = old) or the losses (from = old, to = new).
func changes(from, to []held, gains bool) []Change {
	toAtoms := atoms(to)
	byRes := map[string][]int{} // resource base or "" for URLs → atoms of to
	for i, a := range toAtoms {
		byRes[atomBase(&a.Permission)] = append(byRes[atomBase(&a.Permission)], i)
	}
	candidates := func(p *Permission) [][]int {
		if p.URL != "" {
			return [][]int{byRes[""]}
		}
		base := atomBase(p)
		if base == "*" {
			var all [][]int
			for k, l := range byRes {
				if k != "" {
					all = append(all, l)
				}
			}
			return all
		}
		return [][]int{byRes[base], byRes["*"]}
	}
	idx := map[Scoped]int{}
	var out []Change
	for _, a := range atoms(from) {
		if i, ok := idx[a.Scoped]; ok {
			out[i].Via = appendPath(out[i].Via, a.h)
			continue
		}
		covered := false
		var except []Scoped
		for _, l := range candidates(&a.Permission) {
			for _, j := range l {
				t := &toAtoms[j]
				if !scopeMeets(t.Namespace, a.Namespace) || !permMeets(&t.Permission, &a.Permission) {
					continue
				}
				if scopeCovers(t.Namespace, a.Namespace) && permCovers(&t.Permission, &a.Permission) {
					covered = true
					break
				}
				if !slices.Contains(except, t.Scoped) {
					except = append(except, t.Scoped)
				}
			}
			if covered {
				break
			}
		}
		if covered {
			continue
		}
		slices.SortFunc(except, compareScoped)
		c := Change{Scoped: a.Scoped, Except: except, Via: appendPath(nil, a.h)}
		if gains {
			c.Risks = risks(&c)
		}
		idx[a.Scoped] = len(out)
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y Change) int { return compareScoped(x.Scoped, y.Scoped) })
	return out
}

func appendPath(ps []Path, h held) []Path {
	p := h.b.path(h.s, h.rule)
	if h.ns != "" {
		p.PolicyRule.NonResourceURLs = nil
	}
	for _, q := range ps {
		if q.Binding == p.Binding && q.Rule == p.Rule && q.Subject == p.Subject {
			return ps
		}
	}
	return append(ps, p)
}

func compareScoped(x, y Scoped) int {
	return cmp.Or(strings.Compare(x.Namespace, y.Namespace), strings.Compare(x.URL, y.URL), strings.Compare(x.APIGroup, y.APIGroup),
		strings.Compare(x.Resource, y.Resource), strings.Compare(x.Name, y.Name), strings.Compare(x.Verb, y.Verb))
}

// atomBase is the resource a permission names before any "/", "" for a
// URL.
func atomBase(p *Permission) string {
	if p.URL != "" {
		return ""
	}
	base, _, _ := strings.Cut(p.Resource, "/")
	return base
}

// scopeCovers reports whether a grant in scope outer applies wherever one
// in inner does; scopeMeets whether they apply somewhere alike.
func scopeCovers(outer, inner string) bool { return outer == "" || outer == inner }
func scopeMeets(a, b string) bool          { return a == "" || b == "" || a == b }

// permCovers reports whether every request p allows, o allows too.
func permCovers(o, p *Permission) bool {
	if (o.URL == "") != (p.URL == "") || !(o.Verb == rbacv1.VerbAll || o.Verb == p.Verb) {
		return false
	}
	if o.URL != "" {
		if !strings.HasSuffix(o.URL, "*") {
			return o.URL == p.URL
		}
		return strings.HasPrefix(strings.TrimRight(p.URL, "*"), strings.TrimRight(o.URL, "*"))
	}
	if !(o.APIGroup == rbacv1.APIGroupAll || o.APIGroup == p.APIGroup) || !(o.Name == "" || o.Name == p.Name) {
		return false
	}
	if o.Resource == rbacv1.ResourceAll || o.Resource == p.Resource {
		return true
	}
	if sub, ok := strings.CutPrefix(o.Resource, "*/"); ok {
		_, psub, found := strings.Cut(p.Resource, "/")
		return found && psub == sub
	}
	return false
}

// permMeets reports whether some request is allowed by both.
func permMeets(o, p *Permission) bool {
	if (o.URL == "") != (p.URL == "") || !(o.Verb == rbacv1.VerbAll || p.Verb == rbacv1.VerbAll || o.Verb == p.Verb) {
		return false
	}
	if o.URL != "" {
		oa, op := strings.TrimRight(o.URL, "*"), strings.HasSuffix(o.URL, "*")
		pa, pp := strings.TrimRight(p.URL, "*"), strings.HasSuffix(p.URL, "*")
		switch {
		case op && pp:
			return strings.HasPrefix(oa, pa) || strings.HasPrefix(pa, oa)
		case op:
			return strings.HasPrefix(p.URL, oa)
		case pp:
			return strings.HasPrefix(o.URL, pa)
		}
		return o.URL == p.URL
	}
	if !(o.APIGroup == rbacv1.APIGroupAll || p.APIGroup == rbacv1.APIGroupAll || o.APIGroup == p.APIGroup) {
		return false
	}
	if !(o.Name == "" || p.Name == "" || o.Name == p.Name) {
		return false
	}
	if o.Resource == rbacv1.ResourceAll || p.Resource == rbacv1.ResourceAll || o.Resource == p.Resource {
		return true
	}
	_, osub, ofound := strings.Cut(o.Resource, "/")
	_, psub, pfound := strings.Cut(p.Resource, "/")
	return ofound && pfound && osub == psub && (strings.HasPrefix(o.Resource, "*/") || strings.HasPrefix(p.Resource, "*/"))
}

// Allows reports whether the change applies to a request: the permission
// allows it in its scope and no exception does.
func (c *Change) Allows(a Action) bool {
	if !a.IsResource() {
		a.Namespace = ""
	}
	if !c.Scoped.allows(&a) {
		return false
	}
	for _, e := range c.Except {
		if e.allows(&a) {
			return false
		}
	}
	return true
}

func (s *Scoped) allows(a *Action) bool {
	if s.Namespace != "" && (s.Namespace != a.Namespace || !a.IsResource()) {
		return false
	}
	r := s.rule()
	return RuleAllows(&r, a)
}

func (p *Permission) rule() rbacv1.PolicyRule {
	r := rbacv1.PolicyRule{Verbs: []string{p.Verb}}
	if p.URL != "" {
		r.NonResourceURLs = []string{p.URL}
		return r
	}
	r.APIGroups, r.Resources = []string{p.APIGroup}, []string{p.Resource}
	if p.Name != "" {
		r.ResourceNames = []string{p.Name}
	}
	return r
}

// risks are the lint table's risky grants a gain brings: a risky action
// it allows (where the table counts it) that the exceptions do not, a
// grant of everything, or any gain of the groups of every user.
func risks(c *Change) []Risk {
	var out []Risk
	add := func(id, title string, sev finding.Severity) {
		if !slices.ContainsFunc(out, func(r Risk) bool { return r.ID == id }) {
			out = append(out, Risk{ID: id, Severity: sev, Title: title})
		}
	}
	p := &c.Permission
	if p.Verb == rbacv1.VerbAll && p.APIGroup == rbacv1.APIGroupAll && p.Resource == rbacv1.ResourceAll && p.Name == "" && p.URL == "" {
		add(idEverything, "grants every permission on every resource", finding.Critical)
	}
	for _, g := range riskyGrants {
		ns := c.Namespace
		switch g.scope {
		case clusterScope:
			if ns != "" {
				continue
			}
		case systemScope:
			if ns != "" && ns != "kube-system" {
				continue
			}
			ns = "kube-system"
		case systemRoleBindingScope:
			if ns != "kube-system" {
				continue
			}
		default:
			if ns == "" {
				ns = "default"
			}
		}
		for _, act := range g.actions {
			if g.scope != clusterScope {
				act.Namespace = ns
			}
			if c.Allows(act) {
				add(g.id, g.title, g.severity)
				break
			}
		}
	}
	return out
}

// subjectRisks are the risks of any gain of a subject that stands for
// everyone.
func subjectRisks(s rbacv1.Subject) []Risk {
	switch {
	case s.Kind == rbacv1.GroupKind && s.Name == GroupUnauthenticated, s.Kind == rbacv1.UserKind && s.Name == UserAnonymous:
		return []Risk{{ID: idAnonymous, Severity: finding.Critical, Title: "grants anonymous requests"}}
	case s.Kind == rbacv1.GroupKind && s.Name == GroupAuthenticated:
		return []Risk{{ID: idAuthenticated, Severity: finding.High, Title: "grants every authenticated user"}}
	}
	return nil
}
