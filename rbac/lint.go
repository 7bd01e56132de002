package rbac

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Severity grades a finding; the same scale as bulwark's audit.
type Severity string

// Severities, from the least to the most serious.
const (
	Info     Severity = "info"
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

var severities = []Severity{Info, Low, Medium, High, Critical}

// ParseSeverity reads a severity name.
func ParseSeverity(s string) (Severity, error) {
	for _, v := range severities {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("unknown severity %q (want info, low, medium, high or critical)", s)
}

// AtLeast reports whether s is as serious as min or more.
func (s Severity) AtLeast(min Severity) bool {
	return slices.Index(severities, s) >= slices.Index(severities, min)
}

// Scopes of a risky grant: where a binding must grant it for it to count.
const (
	anyScope     = "any"         // any binding
	clusterScope = "cluster"     // ClusterRoleBindings only
	systemScope  = "kube-system" // ClusterRoleBindings, and RoleBindings in kube-system
)

// riskyGrant is one line of the table of risky permissions: a finding when
// a binding grants any of the actions in its scope.
type riskyGrant struct {
	id, title   string
	severity    Severity
	scope       string
	actions     []Action
	remediation string
}

func acts(verbs []string, group string, resources ...string) []Action {
	var out []Action
	for _, r := range resources {
		res, sub, _ := strings.Cut(r, "/")
		for _, v := range verbs {
			out = append(out, Action{Verb: v, APIGroup: group, Resource: res, Subresource: sub})
		}
	}
	return out
}

func concat(ls ...[]Action) []Action { return slices.Concat(ls...) }

// riskyGrants is the table of permissions that amount to (or open a path
// to) control of the cluster or of its secrets.
var riskyGrants = []riskyGrant{
	{"RBAC001", "reads Secrets cluster-wide", High, clusterScope, acts([]string{"get", "list", "watch"}, "", "secrets"),
		"grant Secret access per namespace with a RoleBinding, and per Secret with resourceNames"},
	{"RBAC002", "may escalate: create or change roles with permissions it does not hold", Critical, anyScope, acts([]string{"escalate"}, rbacv1.GroupName, "roles", "clusterroles"),
		"remove the escalate verb; only cluster administrators need it"},
	{"RBAC003", "may bind any role, including ones with permissions it does not hold", Critical, anyScope, acts([]string{"bind"}, rbacv1.GroupName, "roles", "clusterroles"),
		"remove the bind verb, or restrict it with resourceNames to the roles it may hand out"},
	{"RBAC004", "may impersonate users, groups or service accounts", Critical, anyScope,
		concat(acts([]string{"impersonate"}, "", "users", "groups", "serviceaccounts"), acts([]string{"impersonate"}, "authentication.k8s.io", "uids", "userextras")),
		"remove impersonate, or restrict it with resourceNames to the identities needed"},
	{"RBAC005", "may run commands in Pods (pods/exec, pods/attach)", High, anyScope, acts([]string{"create", "get"}, "", "pods/exec", "pods/attach"),
		"grant exec only to the few who debug, per namespace"},
	{"RBAC006", "may reach every kubelet's API through nodes/proxy (exec in any Pod on the node)", Critical, anyScope, acts([]string{"get", "create", "*"}, "", "nodes/proxy"),
		"remove nodes/proxy; monitoring needs nodes/metrics or nodes/stats only"},
	{"RBAC007", "may create Pods or workloads in kube-system (and so run as any of its service accounts)", High, systemScope,
		concat(acts([]string{"create"}, "", "pods", "replicationcontrollers"), acts([]string{"create"}, "apps", "deployments", "daemonsets", "statefulsets", "replicasets"), acts([]string{"create"}, "batch", "jobs", "cronjobs")),
		"keep workload creation in kube-system to cluster administrators"},
	{"RBAC008", "may approve certificate signing requests", High, anyScope, acts([]string{"update", "patch"}, "certificates.k8s.io", "certificatesigningrequests/approval"),
		"leave CSR approval to the controller manager and administrators; restrict signers with resourceNames on signers/approve"},
	{"RBAC009", "may mint service-account tokens (serviceaccounts/token)", High, anyScope, acts([]string{"create"}, "", "serviceaccounts/token"),
		"grant token creation per service account with resourceNames, in its namespace only"},
}

// Finding is one problem in a policy.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	// Object is the binding or role at fault, Source where it came from.
	Object Ref    `json:"object"`
	Source string `json:"source,omitempty"`
	// For grants: the subjects, the role and the rule, and the scope
	// (cluster-wide or a namespace).
	Subjects []rbacv1.Subject `json:"subjects,omitempty"`
	Role     *Ref             `json:"role,omitempty"`
	Rule     *int             `json:"rule,omitempty"`
	Scope    string           `json:"scope,omitempty"`
	Detail   string           `json:"detail"`
	// Remediation says what to change.
	Remediation string `json:"remediation"`
}

// LintOptions tune Lint.
type LintOptions struct {
	// IncludeBuiltin lints the objects of the built-in policy too (they
	// grant system components what they need, much of it risky).
	IncludeBuiltin bool
}

// LintReport is the outcome of Lint.
type LintReport struct {
	Findings []Finding `json:"findings"`
	// Bindings and Roles count what was examined.
	Bindings int `json:"bindings"`
	Roles    int `json:"roles"`
}

// Lint examines a compiled policy: risky grants (per binding, through its
// role; a grant of every permission is one finding), wildcards in roles, bindings to the groups of all authenticated or
// all anonymous users, bindings to missing roles, and what kept
// aggregation from settling.
func (e *Engine) Lint(opts LintOptions) LintReport {
	e.materializeForLint()
	p := e.Policy()
	var rep LintReport
	skip := func(r Ref, labels map[string]string) bool { return !opts.IncludeBuiltin && IsBuiltin(r, labels) }
	labelsOf := map[Ref]map[string]string{}
	for _, o := range p.ClusterRoleBindings {
		labelsOf[Ref{KindClusterRoleBinding, "", o.Name}] = o.Labels
	}
	for _, o := range p.RoleBindings {
		labelsOf[Ref{KindRoleBinding, o.Namespace, o.Name}] = o.Labels
	}
	bindings := append(append([]*binding{}, e.crbs...), e.rbList()...)
	for _, b := range bindings {
		if skip(b.ref, labelsOf[b.ref]) {
			continue
		}
		rep.Bindings++
		e.lintBinding(b, p.Source(b.ref), &rep)
	}
	for i := range p.ClusterRoles {
		cr := &p.ClusterRoles[i]
		r := Ref{KindClusterRole, "", cr.Name}
		if skip(r, cr.Labels) {
			continue
		}
		rep.Roles++
		if cr.AggregationRule == nil { // aggregated rules are linted where they come from
			lintWildcards(r, p.Source(r), cr.Rules, &rep)
		}
	}
	for i := range p.Roles {
		ro := &p.Roles[i]
		r := Ref{KindRole, ro.Namespace, ro.Name}
		if skip(r, ro.Labels) {
			continue
		}
		rep.Roles++
		lintWildcards(r, p.Source(r), ro.Rules, &rep)
	}
	for _, pr := range e.Problems() {
		if pr.Kind == ProblemAggregation {
			rep.Findings = append(rep.Findings, Finding{ID: "RBAC014", Severity: Low, Title: "ClusterRole aggregation cannot be computed reliably",
				Object: pr.Object, Source: p.Source(pr.Object), Detail: pr.Msg, Remediation: "fix the selector, or break the cycle between aggregated roles"})
		}
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if ra, rb := slices.Index(severities, a.Severity), slices.Index(severities, b.Severity); ra != rb {
			return ra > rb
		}
		return a.ID < b.ID
	})
	return rep
}

func (e *Engine) rbList() []*binding {
	var nss []string
	for ns := range e.rbs {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	var out []*binding
	for _, ns := range nss {
		out = append(out, e.rbs[ns]...)
	}
	return out
}

func (e *Engine) lintBinding(b *binding, src string, rep *LintReport) {
	scope := "cluster-wide"
	if b.ref.Namespace != "" {
		scope = "namespace " + b.ref.Namespace
	}
	var live []rbacv1.Subject
	for i, s := range b.subjects {
		if b.live[i] {
			live = append(live, normalSubject(s))
			continue
		}
		rep.Findings = append(rep.Findings, Finding{ID: "RBAC013", Severity: Low, Title: "subject matches no one", Object: b.ref, Source: src,
			Subjects: []rbacv1.Subject{s}, Detail: fmt.Sprintf("subject %d (%s %q) can never match a user: a ServiceAccount in a ClusterRoleBinding needs a namespace, and kinds are User, Group or ServiceAccount", i, s.Kind, s.Name),
			Remediation: "fix or remove the subject"})
	}
	for _, s := range live {
		if s.Kind == rbacv1.GroupKind && (s.Name == GroupUnauthenticated) || s.Kind == rbacv1.UserKind && s.Name == UserAnonymous {
			rep.Findings = append(rep.Findings, Finding{ID: "RBAC010", Severity: Critical, Title: "grants anonymous requests", Object: b.ref, Source: src,
				Subjects: []rbacv1.Subject{s}, Role: &b.roleRef, Scope: scope,
				Detail:      fmt.Sprintf("binds %s to %s %s: every unauthenticated request gets it", b.roleRef, s.Kind, s.Name),
				Remediation: "bind named users, groups or service accounts instead"})
		}
		if s.Kind == rbacv1.GroupKind && (s.Name == GroupAuthenticated) {
			rep.Findings = append(rep.Findings, Finding{ID: "RBAC011", Severity: High, Title: "grants every authenticated user", Object: b.ref, Source: src,
				Subjects: []rbacv1.Subject{s}, Role: &b.roleRef, Scope: scope,
				Detail:      fmt.Sprintf("binds %s to group %s: every user, node and service account of the cluster gets it", b.roleRef, s.Name),
				Remediation: "bind named users, groups or service accounts instead"})
		}
	}
	if b.role == nil {
		rep.Findings = append(rep.Findings, Finding{ID: "RBAC012", Severity: Medium, Title: "binds a missing role", Object: b.ref, Source: src,
			Subjects: live, Role: &b.roleRef, Scope: scope,
			Detail:      fmt.Sprintf("%s: whoever later creates a role of that name grants it to these subjects", b.missing),
			Remediation: "remove the binding, or create the role it names"})
		return
	}
	if len(live) == 0 {
		return
	}
	for i, r := range b.role.rules {
		if slices.Contains(r.Verbs, "*") && slices.Contains(r.APIGroups, "*") && slices.Contains(r.Resources, "*") && len(r.ResourceNames) == 0 {
			// One finding says it all; the table's would repeat it.
			n := i
			rep.Findings = append(rep.Findings, Finding{ID: "RBAC016", Severity: Critical, Title: "grants every permission on every resource", Object: b.ref, Source: src,
				Subjects: live, Role: &b.role.ref, Rule: &n, Scope: scope,
				Detail:      fmt.Sprintf("%s grants %s every verb on every resource (%s) through %s rule %d %s", b.ref, subjectList(live), scope, b.role.ref, i, FormatRule(r)),
				Remediation: "keep full control to a break-glass group of administrators; grant others the roles they need"})
			return
		}
	}
	for _, g := range riskyGrants {
		switch g.scope {
		case clusterScope:
			if b.ref.Namespace != "" {
				continue
			}
		case systemScope:
			if b.ref.Namespace != "" && b.ref.Namespace != "kube-system" {
				continue
			}
		}
		rule, act, ok := b.role.allows(g.actions)
		if !ok {
			continue
		}
		f := Finding{ID: g.id, Severity: g.severity, Title: g.title, Object: b.ref, Source: src, Subjects: live, Role: &b.role.ref, Rule: &rule, Scope: scope,
			Detail: fmt.Sprintf("%s grants %s %s through %s rule %d %s", b.ref, subjectList(live), act, b.role.ref, rule, FormatRule(b.role.rules[rule])), Remediation: g.remediation}
		if b.role.from[rule] != "" {
			f.Detail += " (aggregated from ClusterRole " + b.role.from[rule] + ")"
		}
		rep.Findings = append(rep.Findings, f)
	}
}

// allows returns the first rule that allows one of the actions.
func (r *role) allows(actions []Action) (int, string, bool) {
	for _, a := range actions {
		for i := range r.rules {
			if RuleAllows(&r.rules[i], &a) {
				desc := a.Verb + " " + a.Resource
				if a.Subresource != "" {
					desc += "/" + a.Subresource
				}
				return i, desc, true
			}
		}
	}
	return 0, "", false
}

func subjectList(ss []rbacv1.Subject) string {
	var parts []string
	for _, s := range ss {
		parts = append(parts, s.Kind+" "+subjectName(s))
	}
	return strings.Join(parts, ", ")
}

func lintWildcards(r Ref, src string, rules []rbacv1.PolicyRule, rep *LintReport) {
	for i, rule := range rules {
		var where []string
		for _, f := range []struct {
			name string
			list []string
		}{{"verbs", rule.Verbs}, {"apiGroups", rule.APIGroups}, {"resources", rule.Resources}, {"nonResourceURLs", rule.NonResourceURLs}} {
			if slices.Contains(f.list, "*") {
				where = append(where, f.name)
			}
		}
		if len(where) == 0 {
			continue
		}
		sev := Medium
		if slices.Contains(rule.Verbs, "*") && slices.Contains(rule.Resources, "*") {
			sev = High
		}
		n := i
		rep.Findings = append(rep.Findings, Finding{ID: "RBAC015", Severity: sev, Title: "wildcard in a rule", Object: r, Source: src, Rule: &n,
			Detail:      fmt.Sprintf("rule %d %s has * in %s: it grants verbs and resources that do not exist yet, including future ones", i, FormatRule(rule), strings.Join(where, ", ")),
			Remediation: "list the verbs, API groups and resources needed"})
	}
}

// LintFormats are the report formats of LintReport.Write.
var LintFormats = []string{"table", "json", "sarif"}

// Write encodes the report in one of LintFormats.
func (r *LintReport) Write(w io.Writer, format string) error {
	switch format {
	case "table":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tID\tOBJECT\tTITLE\tDETAIL")
		for _, f := range r.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Severity, f.ID, f.Object, f.Title, f.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		counts := map[Severity]int{}
		for _, f := range r.Findings {
			counts[f.Severity]++
		}
		_, err := fmt.Fprintf(w, "%d bindings and %d roles examined, %d findings: %d critical, %d high, %d medium, %d low, %d info\n",
			r.Bindings, r.Roles, len(r.Findings), counts[Critical], counts[High], counts[Medium], counts[Low], counts[Info])
		return err
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "sarif":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r.SARIF())
	}
	return fmt.Errorf("unknown format %q (want %s)", format, strings.Join(LintFormats, ", "))
}

func sarifLevel(s Severity) string {
	switch s {
	case Critical, High:
		return "error"
	case Medium, Low:
		return "warning"
	}
	return "note"
}

// SARIF is the report as a SARIF 2.1.0 log, in the shape of bulwark
// audit's.
func (r *LintReport) SARIF() map[string]any {
	rules := map[string]map[string]any{}
	results := []map[string]any{}
	for _, f := range r.Findings {
		if _, ok := rules[f.ID]; !ok {
			rules[f.ID] = map[string]any{
				"id":               f.ID,
				"shortDescription": map[string]any{"text": f.Title},
				"help":             map[string]any{"text": f.Remediation},
				"properties":       map[string]any{"severity": string(f.Severity)},
			}
		}
		res := map[string]any{
			"ruleId":  f.ID,
			"level":   sarifLevel(f.Severity),
			"message": map[string]any{"text": f.Title + ": " + f.Detail},
		}
		locs := []any{map[string]any{"logicalLocations": []any{map[string]any{"name": f.Object.String(), "kind": "resource"}}}}
		if file, _, ok := strings.Cut(f.Source, "#"); ok && file != "" {
			locs = []any{map[string]any{
				"physicalLocation": map[string]any{"artifactLocation": map[string]any{"uri": fileURI(file)}},
				"logicalLocations": []any{map[string]any{"name": f.Object.String(), "kind": "resource"}},
			}}
		}
		res["locations"] = locs
		results = append(results, res)
	}
	ids := make([]string, 0, len(rules))
	for id := range rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	ruleList := make([]any, 0, len(ids))
	for _, id := range ids {
		ruleList = append(ruleList, rules[id])
	}
	return map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []any{map[string]any{
			"tool": map[string]any{"driver": map[string]any{
				"name":           "bulwark",
				"informationUri": "https://github.com/bulwark-k8s/bulwark",
				"rules":          ruleList,
			}},
			"results": results,
		}},
	}
}

func fileURI(p string) string {
	if strings.HasPrefix(p, "/") {
		return "file://" + p
	}
	return p
}
