package rbac

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// ruleIndex finds the rules that may allow a request without looking at
// every rule: resource rules by resource (as written before any "/": a
// name or "*"), then by API group and subresource; URL rules by URL,
// prefix rules ("/logs/*", "*") by prefix. Entries are positions in a role
// (int32) or rules of several roles (ruleRef).
type ruleIndex[T comparable] struct {
	res  map[string]*resBuckets[T]
	urls map[string][]T
	pfx  map[string][]T // by prefix, the trailing *s trimmed
	pfxs []string       // the distinct prefixes
}

// resBuckets are the entries of one resource name by API group and
// subresource as written; with many keys, found through a map.
type resBuckets[T comparable] struct {
	keys    []groupSub
	entries [][]T
	byKey   map[groupSub]int
}

// manyKeys is the number of keys above which resBuckets uses a map.
const manyKeys = 8

func (rb *resBuckets[T]) find(k groupSub) int {
	if rb.byKey != nil {
		if i, ok := rb.byKey[k]; ok {
			return i
		}
		return -1
	}
	return slices.Index(rb.keys, k)
}

// match appends the entries under group g (or "*") and subresource sub
// (or, with anySub, no subresource).
func (rb *resBuckets[T]) match(g, sub string, anySub bool, out [][]T) [][]T {
	if rb.byKey == nil {
		for i, k := range rb.keys {
			if (k.sub == sub || anySub && k.sub == "") && (k.group == g || k.group == rbacv1.APIGroupAll) {
				out = append(out, rb.entries[i])
			}
		}
		return out
	}
	groups := [2]string{g, rbacv1.APIGroupAll}
	subs := [2]string{sub, ""}
	ng, ns := 2, 1
	if g == rbacv1.APIGroupAll {
		ng = 1
	}
	if anySub && sub != "" {
		ns = 2
	}
	for _, gg := range groups[:ng] {
		for _, ss := range subs[:ns] {
			if i, ok := rb.byKey[groupSub{gg, ss}]; ok {
				out = append(out, rb.entries[i])
			}
		}
	}
	return out
}

type groupSub struct{ group, sub string }

func newRuleIndex[T comparable]() *ruleIndex[T] {
	return &ruleIndex[T]{res: map[string]*resBuckets[T]{}, urls: map[string][]T{}, pfx: map[string][]T{}}
}

// add indexes one rule; urls says whether its URL rules count (not for
// Roles: non-resource requests have no namespace).
func (ix *ruleIndex[T]) add(r *rbacv1.PolicyRule, v T, urls bool) {
	for _, res := range r.Resources {
		name, sub, _ := strings.Cut(res, "/")
		rb := ix.res[name]
		if rb == nil {
			rb = &resBuckets[T]{}
			ix.res[name] = rb
		}
		for _, g := range r.APIGroups {
			k := groupSub{g, sub}
			i := rb.find(k)
			if i < 0 {
				i = len(rb.keys)
				rb.keys = append(rb.keys, k)
				rb.entries = append(rb.entries, nil)
				if rb.byKey != nil {
					rb.byKey[k] = i
				} else if len(rb.keys) > manyKeys {
					rb.byKey = make(map[groupSub]int, 2*len(rb.keys))
					for j, k := range rb.keys {
						rb.byKey[k] = j
					}
				}
			}
			if l := rb.entries[i]; len(l) == 0 || l[len(l)-1] != v {
				rb.entries[i] = append(l, v)
			}
		}
	}
	if !urls {
		return
	}
	for _, u := range r.NonResourceURLs {
		if strings.HasSuffix(u, "*") {
			p := strings.TrimRight(u, "*")
			l, ok := ix.pfx[p]
			if !ok {
				ix.pfxs = append(ix.pfxs, p)
			}
			if n := len(l); n == 0 || l[n-1] != v {
				ix.pfx[p] = append(l, v)
			}
			continue
		}
		l := ix.urls[u]
		if n := len(l); n == 0 || l[n-1] != v {
			ix.urls[u] = append(l, v)
		}
	}
}

// buckets appends every list of entries that may allow a. ok is false when
// a cannot be looked up (a resource name with "/" in it): then every rule
// must be checked.
func (ix *ruleIndex[T]) buckets(a *Action, out [][]T) ([][]T, bool) {
	if !a.IsResource() {
		if l := ix.urls[a.Path]; len(l) > 0 {
			out = append(out, l)
		}
		for _, p := range ix.pfxs {
			if strings.HasPrefix(a.Path, p) {
				out = append(out, ix.pfx[p])
			}
		}
		return out, true
	}
	if strings.IndexByte(a.Resource, '/') >= 0 {
		return out, false
	}
	// The resource as named: its subresource exactly.
	if rb := ix.res[a.Resource]; rb != nil {
		out = rb.match(a.APIGroup, a.Subresource, false, out)
	}
	// "*" (every resource and subresource), and "*/sub" for a subresource;
	// a request for resource "*" itself matched "*/sub" above.
	if rb := ix.res[rbacv1.ResourceAll]; rb != nil {
		if a.Resource != rbacv1.ResourceAll {
			out = rb.match(a.APIGroup, a.Subresource, true, out)
		} else if a.Subresource != "" {
			out = rb.match(a.APIGroup, "", false, out)
		}
	}
	return out, true
}

// indexMin is the number of rules above which a role's rules are indexed
// rather than checked one by one.
const indexMin = 12

func (l *ruleList) index() *ruleIndex[int32] {
	l.ixOnce.Do(func() {
		ix := newRuleIndex[int32]()
		for i, n := 0, l.len(); i < n; i++ {
			ix.add(l.rule(i), int32(i), true)
		}
		l.ix = ix
	})
	return l.ix
}

// first is the position of the first rule of l that allows a, or -1.
func (l *ruleList) first(a *Action) int {
	if l.len() > indexMin {
		var buf [8][]int32
		if bs, ok := l.index().buckets(a, buf[:0]); ok {
			best := -1
			for _, b := range bs {
				for _, p := range b {
					if best >= 0 && int(p) >= best {
						break
					}
					if RuleAllows(l.rule(int(p)), a) {
						best = int(p)
						break
					}
				}
			}
			return best
		}
	}
	if l.owner != nil {
		rules := l.owner.written
		for i := range rules {
			if RuleAllows(&rules[i], a) {
				return i
			}
		}
		return -1
	}
	for i, r := range l.agg {
		if RuleAllows(r.rule(), a) {
			return i
		}
	}
	return -1
}
