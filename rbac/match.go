package rbac

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Action is what a request does: a verb on a resource (namespaced or not,
// with an optional subresource and object name), or a verb on a
// non-resource URL such as /healthz.
type Action struct {
	Verb string `json:"verb"`
	// Namespace of a resource request; empty for cluster-scoped resources
	// and for requests across all namespaces, which only
	// ClusterRoleBindings can allow.
	Namespace   string `json:"namespace,omitempty"`
	APIGroup    string `json:"apiGroup,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Subresource string `json:"subresource,omitempty"`
	Name        string `json:"name,omitempty"`
	// Path makes the action a non-resource request (the resource fields
	// are then ignored).
	Path string `json:"path,omitempty"`
}

// IsResource reports whether the action is a resource request.
func (a Action) IsResource() bool { return a.Path == "" }

func (a Action) String() string {
	if !a.IsResource() {
		return a.Verb + " " + a.Path
	}
	var b strings.Builder
	b.WriteString(a.Verb + " " + a.Resource)
	if a.APIGroup != "" {
		b.WriteString("." + a.APIGroup)
	}
	if a.Subresource != "" {
		b.WriteString("/" + a.Subresource)
	}
	if a.Name != "" {
		b.WriteString(" " + a.Name)
	}
	if a.Namespace != "" {
		b.WriteString(" in namespace " + a.Namespace)
	} else {
		b.WriteString(" cluster-wide")
	}
	return b.String()
}

// RuleAllows reports whether one rule allows the action, with the API
// server's matching:
//   - verbs, apiGroups: the value or "*";
//   - resources: "*", the resource, "resource/subresource" for a
//     subresource, or "*/subresource";
//   - resourceNames: empty matches every name (and requests without one),
//     otherwise the request's name must be listed;
//   - nonResourceURLs: "*", the path, or a prefix ending in "*".
func RuleAllows(r *rbacv1.PolicyRule, a *Action) bool {
	if !has(r.Verbs, a.Verb) {
		return false
	}
	if !a.IsResource() {
		return urlMatches(r.NonResourceURLs, a.Path)
	}
	return has(r.APIGroups, a.APIGroup) && resourceMatches(r.Resources, a.Resource, a.Subresource) && nameMatches(r.ResourceNames, a.Name)
}

// has reports whether list holds v or the wildcard "*".
func has(list []string, v string) bool {
	for _, s := range list {
		if s == v || s == rbacv1.VerbAll {
			return true
		}
	}
	return false
}

func resourceMatches(list []string, resource, sub string) bool {
	for _, r := range list {
		if r == rbacv1.ResourceAll || isCombined(r, resource, sub) {
			return true
		}
		if sub != "" && len(r) == len(sub)+2 && r[0] == '*' && r[1] == '/' && r[2:] == sub {
			return true
		}
	}
	return false
}

// isCombined reports whether r is resource, or resource/sub when sub is
// set, without building the string.
func isCombined(r, resource, sub string) bool {
	if sub == "" {
		return r == resource
	}
	return len(r) == len(resource)+1+len(sub) && r[len(resource)] == '/' && r[:len(resource)] == resource && r[len(resource)+1:] == sub
}

func nameMatches(names []string, name string) bool {
	if len(names) == 0 {
		return true
	}
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

func urlMatches(urls []string, path string) bool {
	for _, u := range urls {
		if u == rbacv1.NonResourceAll || u == path {
			return true
		}
		if strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimRight(u, "*")) {
			return true
		}
	}
	return false
}

// FormatRule writes a rule compactly: verbs on apiGroups/resources (names),
// or verbs on URLs.
func FormatRule(r rbacv1.PolicyRule) string {
	var b strings.Builder
	writeRule(&b, &r)
	return b.String()
}

func writeRule(b *strings.Builder, r *rbacv1.PolicyRule) {
	b.WriteByte('{')
	first := true
	add := func(k string, v []string) {
		if len(v) == 0 {
			return
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(k)
		b.WriteByte('=')
		for i, s := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if s == "" {
				s = `""`
			}
			b.WriteString(s)
		}
	}
	add("verbs", r.Verbs)
	add("apiGroups", r.APIGroups)
	add("resources", r.Resources)
	add("resourceNames", r.ResourceNames)
	add("nonResourceURLs", r.NonResourceURLs)
	b.WriteByte('}')
}
