package rbac

import (
	"fmt"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// aggregated is the outcome of ClusterRole aggregation.
type aggregated struct {
	rules    [][]rbacv1.PolicyRule // per cluster role, in the policy's order
	from     [][]string            // per rule: the non-aggregated ClusterRole it came from ("" for a role's own rules)
	problems []Problem
}

// aggregate computes what kube-controller-manager's clusterrole-aggregation
// controller makes of every ClusterRole with an aggregationRule: the rules
// of every other ClusterRole matched by its selectors, taken selector by
// selector and role by role in name order, each rule once (rules equal
// field by field count once). When that is no rule at all, the role keeps
// the rules it was written with: the controller applies its result with
// server-side apply, and an apply without rules leaves the rules another
// field manager wrote. It repeats until nothing changes, as the controller
// does when a role it aggregated changes; a cycle that keeps changing is
// reported.
func aggregate(crs []rbacv1.ClusterRole) aggregated {
	out := aggregated{rules: make([][]rbacv1.PolicyRule, len(crs)), from: make([][]string, len(crs))}
	type target struct {
		i       int
		sources [][]int // per selector, matching roles in name order
	}
	var targets []target
	for i := range crs {
		out.rules[i] = crs[i].Rules
		out.from[i] = make([]string, len(crs[i].Rules))
		if crs[i].AggregationRule == nil {
			continue
		}
		t := target{i: i}
		ok := true
		for si := range crs[i].AggregationRule.ClusterRoleSelectors {
			sel, err := metav1.LabelSelectorAsSelector(&crs[i].AggregationRule.ClusterRoleSelectors[si])
			if err != nil {
				out.problems = append(out.problems, Problem{Kind: ProblemAggregation, Object: Ref{KindClusterRole, "", crs[i].Name},
					Msg: fmt.Sprintf("aggregationRule selector %d is invalid, so the controller leaves the role's rules as they are: %v", si, err)})
				ok = false
				break
			}
			var src []int
			for j := range crs {
				if j != i && sel.Matches(labels.Set(crs[j].Labels)) {
					src = append(src, j)
				}
			}
			sort.SliceStable(src, func(a, b int) bool { return crs[src[a]].Name < crs[src[b]].Name })
			t.sources = append(t.sources, src)
		}
		if ok {
			targets = append(targets, t)
		}
	}
	sort.SliceStable(targets, func(a, b int) bool { return crs[targets[a].i].Name < crs[targets[b].i].Name })
	at := make(map[int]int, len(targets)) // cluster role → its target
	for k, t := range targets {
		at[t.i] = k
	}
	sync := func(t target) bool {
		var rules []rbacv1.PolicyRule
		var from []string
		seen := map[string]bool{}
		for _, src := range t.sources {
			for _, j := range src {
				for k := range out.rules[j] {
					key := ruleKey(&out.rules[j][k])
					if seen[key] {
						continue
					}
					seen[key] = true
					rules = append(rules, out.rules[j][k])
					f := out.from[j][k]
					if f == "" {
						f = crs[j].Name
					}
					from = append(from, f)
				}
			}
		}
		if len(rules) == 0 {
			rules, from = crs[t.i].Rules, make([]string, len(crs[t.i].Rules))
		}
		changed := !sameRules(rules, out.rules[t.i])
		out.rules[t.i], out.from[t.i] = rules, from
		return changed
	}
	// Sources first: in an acyclic policy one sync per role reaches the
	// controller's fixed point.
	state := make([]int8, len(targets)) // 0 to do, 1 in progress, 2 done
	cycle := false
	var visit func(k int)
	visit = func(k int) {
		switch state[k] {
		case 1:
			if !cycle {
				out.problems = append(out.problems, Problem{Kind: ProblemAggregation, Object: Ref{KindClusterRole, "", crs[targets[k].i].Name},
					Msg: "aggregated roles select each other: what the controller stores depends on the order in which it sees them"})
			}
			cycle = true
			return
		case 2:
			return
		}
		state[k] = 1
		for _, src := range targets[k].sources {
			for _, j := range src {
				if d, ok := at[j]; ok {
					visit(d)
				}
			}
		}
		sync(targets[k])
		state[k] = 2
	}
	for k := range targets {
		visit(k)
	}
	if !cycle {
		return out
	}
	// Roles that select each other: sync all until nothing changes, as the
	// controller does on every change, within a bound.
	for pass := 0; ; pass++ {
		changed := false
		for _, t := range targets {
			if sync(t) {
				changed = true
			}
		}
		if !changed {
			break
		}
		if pass > len(targets)+1 {
			break
		}
	}
	return out
}

func sameRules(a, b []rbacv1.PolicyRule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if ruleKey(&a[i]) != ruleKey(&b[i]) {
			return false
		}
	}
	return true
}
