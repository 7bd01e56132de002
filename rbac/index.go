package rbac

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// resKey is where a resource rule is indexed: an API group and a resource
// as written ("*" and "*/subresource" included), split at the first "/".
type resKey struct{ group, resource, sub string }

// ruleIndex finds the rules that may allow a request without looking at
// every rule: resource rules by (API group, resource), URL rules by URL,
// prefix rules ("/logs/*", "*") by prefix. Entries are positions in a role
// (int32) or rules of several roles (ruleRef).
type ruleIndex[T comparable] struct {
	res  map[resKey][]T
	urls map[string][]T
	pfx  map[string][]T // by prefix, the trailing *s trimmed
	pfxs []string       // the distinct prefixes
}

func newRuleIndex[T comparable]() *ruleIndex[T] {
	return &ruleIndex[T]{res: map[resKey][]T{}, urls: map[string][]T{}, pfx: map[string][]T{}}
}

// add indexes one rule; resources says whether its resource rules count
// (not for Roles: a namespaced grant of non-resource URLs applies nowhere,
// but the resource part does), urls whether its URL rules do.
func (ix *ruleIndex[T]) add(r *rbacv1.PolicyRule, v T, urls bool) {
	for _, g := range r.APIGroups {
		for _, res := range r.Resources {
			name, sub, _ := strings.Cut(res, "/")
			k := resKey{g, name, sub}
			l := ix.res[k]
			if n := len(l); n == 0 || l[n-1] != v {
				ix.res[k] = append(l, v)
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
	groups := [2]string{a.APIGroup, rbacv1.APIGroupAll}
	ng := 2
	if a.APIGroup == rbacv1.APIGroupAll {
		ng = 1
	}
	keys := [3]resKey{{"", a.Resource, a.Subresource}}
	nk := 1
	if a.Resource != rbacv1.ResourceAll || a.Subresource != "" {
		keys[nk] = resKey{"", rbacv1.ResourceAll, ""}
		nk++
	}
	if a.Subresource != "" && a.Resource != rbacv1.ResourceAll {
		keys[nk] = resKey{"", rbacv1.ResourceAll, a.Subresource}
		nk++
	}
	for _, g := range groups[:ng] {
		for _, k := range keys[:nk] {
			k.group = g
			if l := ix.res[k]; len(l) > 0 {
				out = append(out, l)
			}
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
