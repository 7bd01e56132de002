package rbac_test

import (
	"slices"
	"testing"

	"github.com/bulwark-k8s/bulwark/rbac"
)

func findingIDs(rep rbac.LintReport, object string) []string {
	var ids []string
	for _, f := range rep.Findings {
		if f.Object.Name == object {
			ids = append(ids, f.ID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func TestLint(t *testing.T) {
	p := rbac.Builtin()
	p.Merge(mustDecode(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: risky}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [list]}
- {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [escalate, bind]}
- {apiGroups: [""], resources: [users], verbs: [impersonate]}
- {apiGroups: [""], resources: [pods/exec, nodes/proxy, serviceaccounts/token], verbs: [create]}
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval], verbs: [update]}
- {apiGroups: [apps], resources: [deployments], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: narrow}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get], resourceNames: [one]}
- {apiGroups: ["*"], resources: [configmaps], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: Group, name: admins}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: risky-everywhere}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: risky}
subjects: [{kind: User, name: alice}, {kind: ServiceAccount, name: nowhere}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: risky-in-web, namespace: web}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: risky}
subjects: [{kind: User, name: bob}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: risky-in-kube-system, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: narrow}
subjects: [{kind: Group, name: system:unauthenticated}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: to-everyone}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: Group, name: system:authenticated}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dangling}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: not-there}
subjects: [{kind: User, name: carol}]
`))
	rep := rbac.Compile(p, rbac.Options{}).Lint(rbac.LintOptions{})
	for object, want := range map[string][]string{
		"risky-everywhere":     {"RBAC001", "RBAC002", "RBAC003", "RBAC004", "RBAC005", "RBAC006", "RBAC007", "RBAC008", "RBAC009", "RBAC013"},
		"risky-in-web":         {"RBAC002", "RBAC003", "RBAC004", "RBAC005", "RBAC006", "RBAC008", "RBAC009"}, // not cluster-wide, not kube-system
		"risky-in-kube-system": {"RBAC010"},                                                                   // resourceNames make the Secret grant narrow
		"to-everyone":          {"RBAC011"},
		"dangling":             {"RBAC012"},
		"admins":               {"RBAC017"}, // named administrators: info (RBAC016 is for workloads and broad groups)
		"narrow":               {"RBAC015"},
		"system:node-proxier":  nil, // built in: skipped
		"cluster-admin":        nil,
	} {
		if got := findingIDs(rep, object); !slices.Equal(got, want) {
			t.Errorf("%s: findings %v, want %v", object, got, want)
		}
	}
	all := rbac.Compile(p, rbac.Options{}).Lint(rbac.LintOptions{IncludeBuiltin: true})
	if got := findingIDs(all, "cluster-admin"); !slices.Contains(got, "RBAC015") {
		t.Errorf("cluster-admin with the built-in policy included: %v", got)
	}
	for i := 1; i < len(rep.Findings); i++ {
		if rep.Findings[i].Severity.AtLeast(rep.Findings[i-1].Severity) && rep.Findings[i].Severity != rep.Findings[i-1].Severity {
			t.Fatalf("findings not sorted by severity: %v before %v", rep.Findings[i-1].Severity, rep.Findings[i].Severity)
		}
	}
}
