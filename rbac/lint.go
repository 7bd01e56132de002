package rbac

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"github.com/bulwark-k8s/bulwark/finding"
)

// Scopes of a risky grant: where a binding must grant it for it to count.
const (
	anyScope     = "any"         // any binding
	clusterScope = "cluster"     // ClusterRoleBindings only
	systemScope  = "kube-system" // ClusterRoleBindings, and RoleBindings in kube-system
	// RoleBindings in kube-system only (a ClusterRoleBinding of the same
	// grant is a cluster-wide rule's finding).
	systemRoleBindingScope = "kube-system-rolebindings"
)

// riskyGrant is one line of the table of risky permissions: a finding when
// a binding grants any of the actions in its scope.
type riskyGrant struct {
	id, title   string
	severity    finding.Severity
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

// grantCIS are the CIS recommendations of the risky grants.
var grantCIS = map[string]string{"RBAC001": "5.1.2", "RBAC019": "5.1.2", "RBAC002": "5.1.8", "RBAC003": "5.1.8", "RBAC004": "5.1.8", "RBAC005": "5.1.4",
	"RBAC006": "5.1.10", "RBAC007": "5.1.4", "RBAC008": "5.1.11", "RBAC009": "5.1.13"}

// grantTitles state each risky grant as the problem it is.
var grantTitles = map[string]string{
	"RBAC001": "a binding lets its subjects read Secrets cluster-wide",
	"RBAC002": "a binding lets its subjects escalate: create or change roles with permissions they do not hold",
	"RBAC003": "a binding lets its subjects bind any role, including ones with permissions they do not hold",
	"RBAC004": "a binding lets its subjects impersonate users, groups or service accounts",
	"RBAC005": "a binding lets its subjects run commands in Pods (pods/exec, pods/attach)",
	"RBAC006": "a binding lets its subjects reach every kubelet's API through nodes/proxy (exec in any Pod on the node)",
	"RBAC007": "a binding lets its subjects create Pods or workloads in kube-system (and so run as any of its service accounts)",
	"RBAC008": "a binding lets its subjects approve certificate signing requests",
	"RBAC009": "a binding lets its subjects mint service-account tokens (serviceaccounts/token)",
	"RBAC019": "a binding lets its subjects read Secrets in kube-system (bootstrap tokens, the control plane's credentials)",
}

// riskyGrants is the table of permissions that amount to (or open a path
// to) control of the cluster or of its secrets.
var riskyGrants = []riskyGrant{
	{"RBAC001", "reads Secrets cluster-wide", finding.High, clusterScope, acts([]string{"get", "list", "watch"}, "", "secrets"),
		"grant Secret access per namespace with a RoleBinding, and per Secret with resourceNames"},
	{"RBAC002", "may escalate: create or change roles with permissions it does not hold", finding.Critical, anyScope, acts([]string{"escalate"}, rbacv1.GroupName, "roles", "clusterroles"),
		"remove the escalate verb; only cluster administrators need it"},
	{"RBAC003", "may bind any role, including ones with permissions it does not hold", finding.Critical, anyScope, acts([]string{"bind"}, rbacv1.GroupName, "roles", "clusterroles"),
		"remove the bind verb, or restrict it with resourceNames to the roles it may hand out"},
	{"RBAC004", "may impersonate users, groups or service accounts", finding.Critical, anyScope,
		concat(acts([]string{"impersonate"}, "", "users", "groups", "serviceaccounts"), acts([]string{"impersonate"}, "authentication.k8s.io", "uids", "userextras")),
		"remove impersonate, or restrict it with resourceNames to the identities needed"},
	{"RBAC005", "may run commands in Pods (pods/exec, pods/attach)", finding.High, anyScope, acts([]string{"create", "get"}, "", "pods/exec", "pods/attach"),
		"grant exec only to the few who debug, per namespace"},
	{"RBAC006", "may reach every kubelet's API through nodes/proxy (exec in any Pod on the node)", finding.Critical, anyScope, acts([]string{"get", "create", "*"}, "", "nodes/proxy"),
		"remove nodes/proxy; monitoring needs nodes/metrics or nodes/stats only"},
	{"RBAC007", "may create Pods or workloads in kube-system (and so run as any of its service accounts)", finding.High, systemScope,
		concat(acts([]string{"create"}, "", "pods", "replicationcontrollers"), acts([]string{"create"}, "apps", "deployments", "daemonsets", "statefulsets", "replicasets"), acts([]string{"create"}, "batch", "jobs", "cronjobs")),
		"keep workload creation in kube-system to cluster administrators"},
	{"RBAC008", "may approve certificate signing requests", finding.High, anyScope, acts([]string{"update", "patch"}, "certificates.k8s.io", "certificatesigningrequests/approval"),
		"leave CSR approval to the controller manager and administrators; restrict signers with resourceNames on signers/approve"},
	{"RBAC009", "may mint service-account tokens (serviceaccounts/token)", finding.High, anyScope, acts([]string{"create"}, "", "serviceaccounts/token"),
		"grant token creation per service account with resourceNames, in its namespace only"},
	{"RBAC019", "reads Secrets in kube-system", finding.High, systemRoleBindingScope, acts([]string{"get", "list", "watch"}, "", "secrets"),
		"keep Secret access in kube-system to the control plane; grant others single Secrets with resourceNames"},
}

// Finding is one problem in a policy.
type Finding struct {
	ID       string           `json:"id"`
	Severity finding.Severity `json:"severity"`
	Title    string           `json:"title"`
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
	// KubeletClients are the users the API server reaches kubelets as (its
	// --kubelet-client-certificate's CN): the built-in
	// system:kubelet-api-admin role bound to them is its designed use
	// (info); to anyone else it is a risky grant. Empty: any user.
	KubeletClients []string
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
		e.lintBinding(b, p.Source(b.ref), opts, &rep)
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
			rep.Findings = append(rep.Findings, Finding{ID: "RBAC014", Severity: finding.Low, Title: "ClusterRole aggregation cannot be computed reliably",
				Object: pr.Object, Source: p.Source(pr.Object), Detail: pr.Msg, Remediation: "fix the selector, or break the cycle between aggregated roles"})
		}
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if ra, rb := a.Severity.Rank(), b.Severity.Rank(); ra != rb {
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

func (e *Engine) lintBinding(b *binding, src string, opts LintOptions, rep *LintReport) {
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
		rep.Findings = append(rep.Findings, Finding{ID: "RBAC013", Severity: finding.Low, Title: "subject matches no one", Object: b.ref, Source: src,
			Subjects: []rbacv1.Subject{s}, Detail: fmt.Sprintf("subject %d (%s %q) can never match a user: a ServiceAccount in a ClusterRoleBinding needs a namespace, and kinds are User, Group or ServiceAccount", i, s.Kind, s.Name),
			Remediation: "fix or remove the subject"})
	}
	for _, s := range live {
		if (s.Kind == rbacv1.GroupKind && (s.Name == GroupUnauthenticated) || s.Kind == rbacv1.UserKind && s.Name == UserAnonymous) && !publicGrant(b) {
			rep.Findings = append(rep.Findings, Finding{ID: idAnonymous, Severity: finding.Critical, Title: "grants anonymous requests", Object: b.ref, Source: src,
				Subjects: []rbacv1.Subject{s}, Role: &b.roleRef, Scope: scope,
				Detail:      fmt.Sprintf("binds %s to %s %s: every unauthenticated request gets it", b.roleRef, s.Kind, s.Name),
				Remediation: "bind named users, groups or service accounts instead"})
		}
		if s.Kind == rbacv1.GroupKind && (s.Name == GroupAuthenticated) && !discoveryRoles[b.roleRef.Name] {
			rep.Findings = append(rep.Findings, Finding{ID: idAuthenticated, Severity: finding.High, Title: "grants every authenticated user", Object: b.ref, Source: src,
				Subjects: []rbacv1.Subject{s}, Role: &b.roleRef, Scope: scope,
				Detail:      fmt.Sprintf("binds %s to group %s: every user, node and service account of the cluster gets it", b.roleRef, s.Name),
				Remediation: "bind named users, groups or service accounts instead"})
		}
	}
	if b.role == nil {
		rep.Findings = append(rep.Findings, Finding{ID: "RBAC012", Severity: finding.Medium, Title: "binds a missing role", Object: b.ref, Source: src,
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
			// One finding says it all; the table's would repeat it. Named
			// users and groups with full control are the cluster's
			// administrators (an inventory); a workload identity or a
			// broad group with it is a takeover waiting to happen.
			n := i
			id, sev, title := idAdmins, finding.Info, "gives named users or groups every permission (administrators)"
			if slices.ContainsFunc(live, broadSubject) {
				id, sev, title = idEverything, finding.Critical, "grants every permission on every resource to a workload identity or a broad group"
			}
			rep.Findings = append(rep.Findings, Finding{ID: id, Severity: sev, Title: title, Object: b.ref, Source: src,
				Subjects: live, Role: &b.role.ref, Rule: &n, Scope: scope,
				Detail:      fmt.Sprintf("%s grants %s every verb on every resource (%s) through %s rule %d %s", b.ref, subjectList(live), scope, b.role.ref, i, FormatRule(r)),
				Remediation: "keep full control to a break-glass group of administrators; grant others the roles they need"})
			return
		}
	}
	if b.role.ref.Kind == KindClusterRole && b.role.ref.Name == kubeletAPIAdmin && !slices.ContainsFunc(live, func(s rbacv1.Subject) bool {
		return s.Kind != rbacv1.UserKind || len(opts.KubeletClients) > 0 && !slices.Contains(opts.KubeletClients, s.Name)
	}) {
		// The built-in role exists for the API server's kubelet client
		// (its --kubelet-client-certificate, a User): that is its designed
		// use, not a risky grant.
		rep.Findings = append(rep.Findings, Finding{ID: idKubeletAPI, Severity: finding.Info, Title: "a user holds the kubelet API (system:kubelet-api-admin)", Object: b.ref, Source: src,
			Subjects: live, Role: &b.role.ref, Scope: scope,
			Detail:      fmt.Sprintf("%s grants %s the kubelet API through %s: it should be the API server's kubelet client only", b.ref, subjectList(live), b.role.ref),
			Remediation: "bind system:kubelet-api-admin only to the identity of the API server's --kubelet-client-certificate"})
		return
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
		case systemRoleBindingScope:
			if b.ref.Namespace != "kube-system" {
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

// kubeletAPIAdmin is the built-in ClusterRole for the API server's access
// to kubelets.
const kubeletAPIAdmin = "system:kubelet-api-admin"

// discoveryRoles are the built-in roles Kubernetes itself binds to
// system:authenticated: binding them again gives nothing new.
var discoveryRoles = map[string]bool{"system:basic-user": true, "system:discovery": true, "system:public-info-viewer": true}

// publicGrant reports whether a binding gives only what Kubernetes and
// kubeadm give anonymous requests by design: the built-in
// system:public-info-viewer (health and version), or reading named
// ConfigMaps of kube-public (kubeadm's cluster-info, which joining nodes
// read before they have credentials).
func publicGrant(b *binding) bool {
	onlyGet := func(r rbacv1.PolicyRule) bool {
		return !slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" })
	}
	if b.roleRef.Kind == "ClusterRole" && b.roleRef.Name == "system:public-info-viewer" && b.role != nil {
		// As long as the role is still what Kubernetes defines: health
		// and version paths, read only.
		return !slices.ContainsFunc(b.role.rules, func(r rbacv1.PolicyRule) bool { return len(r.Resources) > 0 || !onlyGet(r) })
	}
	if b.ref.Namespace != "kube-public" || b.role == nil || len(b.role.rules) == 0 {
		return false
	}
	for _, r := range b.role.rules {
		if len(r.ResourceNames) == 0 || len(r.NonResourceURLs) > 0 || !slices.Equal(r.APIGroups, []string{""}) || !slices.Equal(r.Resources, []string{"configmaps"}) ||
			!onlyGet(r) {
			return false
		}
	}
	return true
}

// broadSubject reports whether a subject is a workload identity or a group
// that holds many of them: service accounts, their groups, nodes,
// bootstrap tokens, every authenticated or anonymous user.
func broadSubject(s rbacv1.Subject) bool {
	if s.Kind == rbacv1.ServiceAccountKind {
		return true
	}
	if s.Kind == rbacv1.UserKind {
		return strings.HasPrefix(s.Name, serviceaccount.ServiceAccountUsernamePrefix) || strings.HasPrefix(s.Name, NodePrefix) || s.Name == UserAnonymous
	}
	return strings.HasPrefix(s.Name, serviceaccount.AllServiceAccountsGroup) || s.Name == GroupNodes || strings.HasPrefix(s.Name, bootstrapapi.BootstrapDefaultGroup) ||
		s.Name == GroupAuthenticated || s.Name == GroupUnauthenticated
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
		sev := finding.Medium
		if slices.Contains(rule.Verbs, "*") && slices.Contains(rule.Resources, "*") {
			sev = finding.High
		}
		n := i
		rep.Findings = append(rep.Findings, Finding{ID: idWildcard, Severity: sev, Title: "wildcard in a rule", Object: r, Source: src, Rule: &n,
			Detail:      fmt.Sprintf("rule %d %s has * in %s: it grants verbs and resources that do not exist yet, including future ones", i, FormatRule(rule), strings.Join(where, ", ")),
			Remediation: "list the verbs, API groups and resources needed"})
	}
}

// LintFormats are the report formats of LintReport.Write.
var LintFormats = finding.Formats

// Rules of lint beyond the risky-grant table.
const (
	idAnonymous     = "RBAC010"
	idAuthenticated = "RBAC011"
	idMissingRole   = "RBAC012"
	idNoOne         = "RBAC013"
	idAggregation   = "RBAC014"
	idWildcard      = "RBAC015"
	idEverything    = "RBAC016"
	idAdmins        = "RBAC017"
	idKubeletAPI    = "RBAC018"
)

// LintRules is lint's table of rules: every ID a lint finding has.
func LintRules() []finding.Rule {
	var out []finding.Rule
	for _, g := range riskyGrants {
		out = append(out, finding.Rule{ID: g.id, Severity: g.severity, CIS: grantCIS[g.id], Title: grantTitles[g.id], Remediation: g.remediation})
	}
	return append(out,
		finding.Rule{ID: idAnonymous, Severity: finding.Critical, CIS: "5.1.1", Title: "a binding grants anonymous requests (system:anonymous or system:unauthenticated)", Remediation: "bind named users, groups or service accounts instead"},
		finding.Rule{ID: idAuthenticated, Severity: finding.High, CIS: "5.1.1", Title: "a binding grants every authenticated user (system:authenticated) more than discovery", Remediation: "bind named users, groups or service accounts instead"},
		finding.Rule{ID: idMissingRole, Severity: finding.Medium, Title: "a binding names a role that does not exist: whoever creates it later grants it", Remediation: "remove the binding, or create the role it names"},
		finding.Rule{ID: idNoOne, Severity: finding.Low, Title: "a binding's subject matches no one", Remediation: "fix or remove the subject"},
		finding.Rule{ID: idAggregation, Severity: finding.Low, Title: "ClusterRole aggregation cannot be computed reliably", Remediation: "fix the selector, or break the cycle between aggregated roles"},
		finding.Rule{ID: idWildcard, Severity: finding.Medium, CIS: "5.1.3", Title: "a role rule has a wildcard: it grants verbs or resources that do not exist yet (high when every verb on every resource)", Remediation: "list the verbs, API groups and resources needed"},
		finding.Rule{ID: idEverything, Severity: finding.Critical, CIS: "5.1.1", Title: "a binding gives a workload identity or a broad group every permission on every resource", Remediation: "keep full control to a break-glass group of administrators; grant workloads the roles they need"},
		finding.Rule{ID: idAdmins, Severity: finding.Info, CIS: "5.1.1", Title: "a binding gives named users or groups every permission (the cluster's administrators)", Remediation: "keep the list of administrators short and reviewed"},
		finding.Rule{ID: idKubeletAPI, Severity: finding.Info, CIS: "5.1.10", Title: "a user holds the built-in system:kubelet-api-admin role (the API server's kubelet client)", Remediation: "bind system:kubelet-api-admin only to the identity of the API server's --kubelet-client-certificate"},
	)
}

var lintRules = finding.NewRules(LintRules())

// Report is the lint report in bulwark's one finding model (for SARIF,
// JUnit and the table).
func (r *LintReport) Report() *finding.Report {
	rep := finding.NewReport(lintRules)
	if r.Bindings+r.Roles > 0 {
		for _, ru := range lintRules.All() {
			rep.Check(ru.ID)
		}
	}
	for _, f := range r.Findings {
		file, _, _ := strings.Cut(f.Source, "#")
		ru, _ := lintRules.Get(f.ID)
		rep.Add(finding.Finding{ID: f.ID, Severity: f.Severity, Title: or(ru.Title, f.Title), Remediation: f.Remediation, CIS: ru.CIS,
			Evidence: finding.Evidence{File: file, Object: f.Object.String(), Detail: f.Detail}})
	}
	rep.Checked = r.Bindings + r.Roles
	return rep
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Write encodes the report in one of LintFormats.
func (r *LintReport) Write(w io.Writer, format string, o finding.Output) error {
	if format == "json" {
		o.JSON = r
	}
	if o.Tool.Name == "" {
		o.Tool.Name = "bulwark rbac lint"
	}
	if format == "table" {
		rep := r.Report()
		if err := rep.Write(w, format, o); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "%d bindings and %d roles examined\n", r.Bindings, r.Roles)
		return err
	}
	return r.Report().Write(w, format, o)
}
