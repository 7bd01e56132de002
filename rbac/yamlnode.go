package rbac

import (
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Decoding a YAML document goes one of two ways. The reference, which
// decides every document it is given as kubectl does: sigs.k8s.io/yaml
// (YAML 1.1, as kubectl reads manifests) turns the document into JSON,
// then encoding/json decodes the object strictly. The fast way parses the
// document once with go.yaml.in/yaml/v3 and reads the RBAC fields from its
// node tree; it takes only what both ways read alike (keys and values the
// objects' fields name, plain scalars that YAML 1.1 and 1.2 both read as
// strings, no aliases, tags or duplicate keys) and hands any other
// document to the reference, whole, so that both give the same objects and
// the same errors.

// nodeReader reads objects from a node tree; ok turns false at the first
// thing it leaves to the reference decoder.
type nodeReader struct{ ok bool }

func (d *nodeReader) fail() { d.ok = false }

// str reads a string scalar.
func (d *nodeReader) str(n *yamlv3.Node) string {
	if n.Kind != yamlv3.ScalarNode || n.Tag != "!!str" || n.Style&yamlv3.TaggedStyle != 0 {
		d.fail()
		return ""
	}
	if n.Style&(yamlv3.DoubleQuotedStyle|yamlv3.SingleQuotedStyle|yamlv3.LiteralStyle|yamlv3.FoldedStyle) == 0 && !plainString(n.Value) {
		d.fail()
	}
	return n.Value
}

// isNull reports whether n is null, which leaves a slice, map or pointer
// nil.
func isNull(n *yamlv3.Node) bool {
	return n.Kind == yamlv3.ScalarNode && n.Tag == "!!null" && n.Style&yamlv3.TaggedStyle == 0
}

// plainString reports whether an unquoted scalar that YAML 1.2 reads as a
// string is one in YAML 1.1 too: not a boolean (yes, on, y...), null,
// number, timestamp or merge key there.
func plainString(s string) bool {
	if s == "" {
		return false
	}
	switch c := s[0]; {
	case c >= '0' && c <= '9', c == '+', c == '-', c == '.', c == '<', c == '~', c == '=':
		return false
	}
	if len(s) > 5 {
		return true
	}
	switch strings.ToLower(s) {
	case "y", "yes", "n", "no", "on", "off", "true", "false", "null":
		return false
	}
	return true
}

// fields calls f for each key of a mapping, and fails on duplicate keys.
func (d *nodeReader) fields(n *yamlv3.Node, f func(key string, v *yamlv3.Node)) {
	if n.Kind != yamlv3.MappingNode || n.Tag != "!!map" || n.Style&yamlv3.TaggedStyle != 0 {
		d.fail()
		return
	}
	c := n.Content
	for i := 0; i+1 < len(c) && d.ok; i += 2 {
		k := d.str(c[i])
		for j := 0; j < i; j += 2 {
			if c[j].Value == k {
				d.fail()
				return
			}
		}
		if d.ok {
			f(k, c[i+1])
		}
	}
}

func (d *nodeReader) strings(n *yamlv3.Node) []string {
	if isNull(n) {
		return nil
	}
	if n.Kind != yamlv3.SequenceNode || n.Tag != "!!seq" || n.Style&yamlv3.TaggedStyle != 0 {
		d.fail()
		return nil
	}
	out := make([]string, len(n.Content))
	for i, c := range n.Content {
		out[i] = d.str(c)
	}
	return out
}

func (d *nodeReader) stringMap(n *yamlv3.Node) map[string]string {
	if isNull(n) {
		return nil
	}
	out := make(map[string]string, len(n.Content)/2)
	d.fields(n, func(k string, v *yamlv3.Node) { out[k] = d.str(v) })
	return out
}

func (d *nodeReader) seq(n *yamlv3.Node, f func(*yamlv3.Node)) {
	if isNull(n) {
		return
	}
	if n.Kind != yamlv3.SequenceNode || n.Tag != "!!seq" || n.Style&yamlv3.TaggedStyle != 0 {
		d.fail()
		return
	}
	for _, c := range n.Content {
		if !d.ok {
			return
		}
		f(c)
	}
}

func (d *nodeReader) meta(n *yamlv3.Node, m *metav1.ObjectMeta) {
	if isNull(n) {
		return
	}
	d.fields(n, func(k string, v *yamlv3.Node) {
		switch k {
		case "name":
			m.Name = d.str(v)
		case "namespace":
			m.Namespace = d.str(v)
		case "generateName":
			m.GenerateName = d.str(v)
		case "uid":
			m.UID = types.UID(d.str(v))
		case "resourceVersion":
			m.ResourceVersion = d.str(v)
		case "labels":
			m.Labels = d.stringMap(v)
		case "annotations":
			m.Annotations = d.stringMap(v)
		case "creationTimestamp":
			if !isNull(v) {
				d.fail()
			}
		default:
			d.fail()
		}
	})
}

// list reads a sequence of mappings, each into a T through field, which
// reports whether T has the key. A null sequence is nil, a null item T's
// zero value.
func list[T any](d *nodeReader, n *yamlv3.Node, field func(t *T, key string, v *yamlv3.Node) bool) []T {
	if isNull(n) {
		return nil
	}
	out := make([]T, 0, len(n.Content))
	d.seq(n, func(c *yamlv3.Node) {
		var t T
		if !isNull(c) {
			d.fields(c, func(k string, v *yamlv3.Node) {
				if !field(&t, k, v) {
					d.fail()
				}
			})
		}
		out = append(out, t)
	})
	return out
}

func (d *nodeReader) rules(n *yamlv3.Node) []rbacv1.PolicyRule {
	return list(d, n, func(r *rbacv1.PolicyRule, k string, v *yamlv3.Node) bool {
		switch k {
		case "verbs":
			r.Verbs = d.strings(v)
		case "apiGroups":
			r.APIGroups = d.strings(v)
		case "resources":
			r.Resources = d.strings(v)
		case "resourceNames":
			r.ResourceNames = d.strings(v)
		case "nonResourceURLs":
			r.NonResourceURLs = d.strings(v)
		default:
			return false
		}
		return true
	})
}

func (d *nodeReader) aggregationRule(n *yamlv3.Node) *rbacv1.AggregationRule {
	if isNull(n) {
		return nil
	}
	a := &rbacv1.AggregationRule{}
	d.fields(n, func(k string, v *yamlv3.Node) {
		if k != "clusterRoleSelectors" {
			d.fail()
			return
		}
		a.ClusterRoleSelectors = list(d, v, d.labelSelector)
	})
	return a
}

func (d *nodeReader) labelSelector(s *metav1.LabelSelector, k string, v *yamlv3.Node) bool {
	switch k {
	case "matchLabels":
		s.MatchLabels = d.stringMap(v)
	case "matchExpressions":
		s.MatchExpressions = list(d, v, func(r *metav1.LabelSelectorRequirement, k string, v *yamlv3.Node) bool {
			switch k {
			case "key":
				r.Key = d.str(v)
			case "operator":
				r.Operator = metav1.LabelSelectorOperator(d.str(v))
			case "values":
				r.Values = d.strings(v)
			default:
				return false
			}
			return true
		})
	default:
		return false
	}
	return true
}

func (d *nodeReader) subjects(n *yamlv3.Node) []rbacv1.Subject {
	return list(d, n, func(s *rbacv1.Subject, k string, v *yamlv3.Node) bool {
		switch k {
		case "kind":
			s.Kind = d.str(v)
		case "apiGroup":
			s.APIGroup = d.str(v)
		case "name":
			s.Name = d.str(v)
		case "namespace":
			s.Namespace = d.str(v)
		default:
			return false
		}
		return true
	})
}

func (d *nodeReader) roleRef(n *yamlv3.Node, r *rbacv1.RoleRef) {
	if isNull(n) {
		return
	}
	d.fields(n, func(k string, v *yamlv3.Node) {
		switch k {
		case "apiGroup":
			r.APIGroup = d.str(v)
		case "kind":
			r.Kind = d.str(v)
		case "name":
			r.Name = d.str(v)
		default:
			d.fail()
		}
	})
}

// typeMeta reads apiVersion, kind and items as the reference reads them
// (other fields ignored).
func (d *nodeReader) typeMeta(n *yamlv3.Node) (apiVersion, kind string, items []*yamlv3.Node, isList bool) {
	d.fields(n, func(k string, v *yamlv3.Node) {
		switch k {
		case "apiVersion":
			if !isNull(v) {
				apiVersion = d.str(v)
			}
		case "kind":
			if !isNull(v) {
				kind = d.str(v)
			}
		case "items":
			if isNull(v) {
				return
			}
			if v.Kind != yamlv3.SequenceNode || v.Tag != "!!seq" || v.Style&yamlv3.TaggedStyle != 0 {
				d.fail()
				return
			}
			items, isList = v.Content, true
		default:
			// encoding/json matches keys without regard to case.
			if strings.EqualFold(k, "apiVersion") || strings.EqualFold(k, "kind") || strings.EqualFold(k, "items") || !jsonable(v) {
				d.fail()
			}
		}
	})
	return
}

// jsonable reports whether the reference decoder turns a part of a
// document that the fast reading skips into JSON without error, as
// strings: only string and null scalars, string keys.
func jsonable(n *yamlv3.Node) bool {
	switch n.Kind {
	case yamlv3.ScalarNode:
		if isNull(n) {
			return true
		}
		d := nodeReader{ok: true}
		d.str(n)
		return d.ok
	case yamlv3.SequenceNode:
		for _, c := range n.Content {
			if !jsonable(c) {
				return false
			}
		}
		return n.Tag == "!!seq"
	case yamlv3.MappingNode:
		d := nodeReader{ok: true}
		d.fields(n, func(_ string, v *yamlv3.Node) {
			if !jsonable(v) {
				d.fail()
			}
		})
		return d.ok
	}
	return false
}

// object reads one RBAC object of a kind the reference would decode into,
// every field known.
func (d *nodeReader) object(n *yamlv3.Node, kind string) any {
	var (
		meta     metav1.ObjectMeta
		rules    []rbacv1.PolicyRule
		agg      *rbacv1.AggregationRule
		subjects []rbacv1.Subject
		ref      rbacv1.RoleRef
	)
	role := kind == KindRole || kind == KindClusterRole
	d.fields(n, func(k string, v *yamlv3.Node) {
		switch {
		case k == "apiVersion" || k == "kind":
		case k == "metadata":
			d.meta(v, &meta)
		case k == "rules" && role:
			rules = d.rules(v)
		case k == "aggregationRule" && kind == KindClusterRole:
			agg = d.aggregationRule(v)
		case k == "subjects" && !role:
			subjects = d.subjects(v)
		case k == "roleRef" && !role:
			d.roleRef(v, &ref)
		default:
			d.fail()
		}
	})
	if !d.ok {
		return nil
	}
	tm := metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: kind}
	switch kind {
	case KindRole:
		return &rbacv1.Role{TypeMeta: tm, ObjectMeta: meta, Rules: rules}
	case KindClusterRole:
		return &rbacv1.ClusterRole{TypeMeta: tm, ObjectMeta: meta, Rules: rules, AggregationRule: agg}
	case KindRoleBinding:
		return &rbacv1.RoleBinding{TypeMeta: tm, ObjectMeta: meta, Subjects: subjects, RoleRef: ref}
	case KindClusterRoleBinding:
		return &rbacv1.ClusterRoleBinding{TypeMeta: tm, ObjectMeta: meta, Subjects: subjects, RoleRef: ref}
	}
	d.fail()
	return nil
}
