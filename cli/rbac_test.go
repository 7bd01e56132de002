package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/cli"
)

const rbacManifest = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pod-reader}
rules:
- {apiGroups: [""], resources: [pods, pods/log], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-reads, namespace: web}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-reader}
subjects: [{kind: User, name: alice}, {kind: ServiceAccount, name: ci}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: everyone-reads-secrets}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects: [{kind: Group, name: system:authenticated}]
`

// rbacResult is one in-process run (these tests need no clock, randomness
// or host name).
type rbacResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r rbacResult) String() string {
	return fmt.Sprintf("bulwark %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

func runRBAC(t *testing.T, args ...string) rbacResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(cli.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr}, args)
	return rbacResult{args, stdout.String(), stderr.String(), code}
}

func rbacDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rbac.yaml"), []byte(rbacManifest), 0o600); err != nil {
		t.Fatal(err)
	}
	// Other manifests in the folder are skipped.
	if err := os.WriteFile(filepath.Join(dir, "ns.yaml"), []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCanIExitCodes(t *testing.T) {
	dir := rbacDir(t)
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"can-i", "get", "pods", "-n", "web", "--as", "alice"}, cli.ExitOK, "yes\n  allowed by RoleBinding web/alice-reads (User alice) → ClusterRole pod-reader → rule 0"},
		{[]string{"can-i", "get", "pods/log", "x", "-n", "web", "--as", "system:serviceaccount:web:ci"}, cli.ExitOK, "(ServiceAccount web/ci)"},
		{[]string{"can-i", "get", "pods", "-n", "other", "--as", "alice"}, 1, "no\n  no RBAC rule allows it"},
		{[]string{"can-i", "get", "pods", "-A", "--as", "alice"}, 1, "no"},
		{[]string{"can-i", "delete", "nodes", "--as", "root", "--as-group", "system:masters"}, cli.ExitOK, "privileged-group authorizer"},
		{[]string{"can-i", "get", "/healthz", "--as", "alice"}, cli.ExitOK, "system:public-info-viewer"},
		{[]string{"can-i", "get", "secrets", "-n", "web", "--as", "alice"}, 1, `clusterrole "secret-reader" not found`},
		{[]string{"can-i", "get", "pods", "-n", "web", "--as", "alice", "-q"}, cli.ExitOK, ""},
		{[]string{"can-i", "get", "pods", "-n", "web"}, cli.ExitUsage, ""},
		{[]string{"can-i", "get", "pods", "-n", "web", "--as-group", "g", "--as", ""}, cli.ExitUsage, ""},
		{[]string{"can-i", "get", "--as", "alice"}, cli.ExitUsage, ""},
		{[]string{"can-i", "get", "/healthz", "x", "--as", "alice"}, cli.ExitUsage, ""},
		{[]string{"can-i", "get", "pods", "--as", "alice", "-o", "xml"}, cli.ExitUsage, ""},
	} {
		r := runRBAC(t, append(c.args, "-f", dir)...)
		if r.code != c.code || !strings.Contains(r.stdout, c.out) {
			t.Errorf("%s\nwant exit %d and %q", r, c.code, c.out)
		}
		if c.code == cli.ExitOK && r.stderr != "" {
			t.Errorf("%s\nwrote to stderr on success", r)
		}
		// A "no" is an answer, not an error: exit 1 and nothing on stderr,
		// as kubectl auth can-i. Every other failure is one error line.
		if c.code == cli.ExitError && r.stderr != "" {
			t.Errorf("%s\na denied can-i wrote to stderr", r)
		}
		if c.code != cli.ExitOK && c.code != cli.ExitError && strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s\nwant one line on stderr", r)
		}
	}
	if r := runRBAC(t, "can-i", "get", "pods", "--as", "alice"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "-f FILE|DIR or --kubeconfig") {
		t.Errorf("%s\nwithout a policy", r)
	}
	if r := runRBAC(t, "can-i", "get", "pods", "--as", "alice", "-f", filepath.Join(dir, "missing.yaml")); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "missing.yaml") {
		t.Errorf("%s\nmissing file", r)
	}
	// A kubeconfig that cannot be read or is not one is a bad argument
	// (2), not a cluster that did not answer (4).
	notKubeconfig := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notKubeconfig, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kc := range []string{filepath.Join(dir, "missing.conf"), notKubeconfig} {
		for _, args := range [][]string{{"can-i", "get", "pods", "--as", "alice"}, {"who-can", "get", "pods"}, {"rbac", "lint"}} {
			r := runRBAC(t, append(args, "--kubeconfig", kc)...)
			if r.code != cli.ExitUsage || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, filepath.Base(kc)) || strings.Contains(r.stderr, "Go value") {
				t.Errorf("%s\nwant exit 2 and one line naming the kubeconfig", r)
			}
		}
	}
}

func TestCanIResources(t *testing.T) {
	dir := rbacDir(t)
	type action struct {
		Action struct {
			Namespace, APIGroup, Resource string
		} `json:"action"`
	}
	for _, c := range []struct {
		arg, group, ns string
	}{
		{"deployments", "apps", "web"}, // the built-in resource's group
		{"events", "", "web"},          // core first, as kubectl
		{"events.events.k8s.io", "events.k8s.io", "web"},
		{"nodes", "", ""},    // cluster-scoped: no namespace
		{"pods.", "", "web"}, // the core group, explicitly
		{"widgets.example.com", "example.com", "web"},
	} {
		r := runRBAC(t, "can-i", "get", c.arg, "-n", "web", "--as", "alice", "-f", dir, "-o", "json")
		var got action
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("%s\n%v", r, err)
		}
		if got.Action.APIGroup != c.group || got.Action.Namespace != c.ns {
			t.Errorf("%s: group %q namespace %q, want %q %q", c.arg, got.Action.APIGroup, got.Action.Namespace, c.group, c.ns)
		}
	}
	if r := runRBAC(t, "can-i", "get", "widgets", "--as", "alice", "-f", dir); !strings.Contains(r.stderr, "warning") {
		t.Errorf("%s\nan unknown resource without a group", r)
	}
}

func TestWhoCan(t *testing.T) {
	dir := rbacDir(t)
	r := runRBAC(t, "who-can", "get", "pods/log", "-n", "web", "-f", dir, "-o", "json")
	if r.code != cli.ExitOK {
		t.Fatal(r)
	}
	var res struct {
		Subjects []struct {
			Subject struct{ Kind, Name, Namespace string } `json:"subject"`
			Paths   []json.RawMessage                      `json:"paths"`
		} `json:"subjects"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range res.Subjects {
		names = append(names, s.Subject.Kind+":"+s.Subject.Namespace+"/"+s.Subject.Name)
	}
	want := "Group:/system:masters User:/alice ServiceAccount:web/ci"
	if got := strings.Join(names, " "); !strings.Contains(got, "Group:/system:masters") || !strings.Contains(got, "User:/alice") || !strings.Contains(got, "ServiceAccount:web/ci") {
		t.Fatalf("subjects %s, want %s among them", got, want)
	}
	if r := runRBAC(t, "who-can", "get", "pods", "-n", "web", "-f", dir); r.code != cli.ExitOK || !strings.Contains(r.stdout, "RoleBinding web/alice-reads → ClusterRole pod-reader rule 0") {
		t.Fatal(r)
	}
}

func TestRBACLint(t *testing.T) {
	dir := rbacDir(t)
	r := runRBAC(t, "rbac", "lint", "-f", dir)
	if r.code != cli.ExitFindings || !strings.Contains(r.stdout, "RBAC011") || !strings.Contains(r.stdout, "RBAC012") {
		t.Fatal(r)
	}
	if r := runRBAC(t, "rbac", "lint", "-f", dir, "--fail-on", "critical"); r.code != cli.ExitOK {
		t.Fatal(r)
	}
	r = runRBAC(t, "rbac", "lint", "-f", dir, "-o", "sarif")
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string } `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs[0].Results) == 0 {
		t.Fatalf("%s\n%v", r, err)
	}
	if uri := sarif.Runs[0].Results[0].Locations[0].PhysicalLocation.ArtifactLocation.URI; !strings.HasSuffix(uri, "rbac.yaml") {
		t.Errorf("finding located in %q", uri)
	}
	if r := runRBAC(t, "rbac", "lint", "--builtin=true", "-f", dir, "--include-builtin", "-o", "json"); r.code != cli.ExitFindings || !strings.Contains(r.stdout, "cluster-admin") {
		t.Errorf("%.500s", r)
	}
	if r := runRBAC(t, "rbac", "builtin"); r.code != cli.ExitOK || !strings.Contains(r.stdout, "name: system:node-proxier") {
		t.Errorf("%.500s", r)
	}
}

func TestCanIList(t *testing.T) {
	dir := rbacDir(t)
	r := runRBAC(t, "can-i", "--list", "--as", "alice", "-n", "web", "-f", dir)
	if r.code != cli.ExitOK || !strings.Contains(r.stdout, "namespace web") || !strings.Contains(r.stdout, "pods/log") ||
		!strings.Contains(r.stdout, "RoleBinding web/alice-reads → ClusterRole pod-reader rule 0") || !strings.Contains(r.stdout, "selfsubjectaccessreviews.authorization.k8s.io") {
		t.Fatal(r)
	}
	// The missing role of a binding to system:authenticated is named.
	if !strings.Contains(r.stdout, `clusterrole "secret-reader" not found`) {
		t.Fatal(r)
	}
	// Another namespace: the RoleBinding does not apply.
	if r := runRBAC(t, "can-i", "--list", "--as", "alice", "-n", "other", "-f", dir); r.code != cli.ExitOK || strings.Contains(r.stdout, "pod-reader") {
		t.Fatal(r)
	}
	r = runRBAC(t, "can-i", "--list", "--as", "system:serviceaccount:web:ci", "-A", "-f", dir, "-o", "json")
	var rules struct {
		AllNamespaces bool `json:"allNamespaces"`
		Grants        []struct {
			Namespace string `json:"namespace"`
			Binding   struct{ Name string }
		} `json:"grants"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rules); err != nil || !rules.AllNamespaces {
		t.Fatalf("%s\n%v", r, err)
	}
	if !slices.ContainsFunc(rules.Grants, func(g struct {
		Namespace string `json:"namespace"`
		Binding   struct{ Name string }
	}) bool {
		return g.Namespace == "web" && g.Binding.Name == "alice-reads"
	}) {
		t.Fatalf("%s: no grant in web", r)
	}
	if r := runRBAC(t, "can-i", "--list", "--as", "root", "--as-group", "system:masters", "-f", dir); r.code != cli.ExitOK || !strings.Contains(r.stdout, "privileged-group authorizer") {
		t.Fatal(r)
	}
	for _, args := range [][]string{{"can-i", "--list", "get", "pods"}, {"can-i", "--list", "--batch", "-"}, {"can-i", "--list", "-q"}, {"can-i", "--list", "-o", "xml"}} {
		if r := runRBAC(t, append(args, "--as", "alice", "-f", dir)...); r.code != cli.ExitUsage || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
			t.Errorf("%s\nwant exit 2, one line on stderr, nothing on stdout", r)
		}
	}
}

func runRBACStdin(t *testing.T, stdin string, args ...string) rbacResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(cli.Env{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr}, args)
	return rbacResult{args, stdout.String(), stderr.String(), code}
}

func TestCanIBatch(t *testing.T) {
	dir := rbacDir(t)
	tsv := "# verb\tresource\tname\tnamespace\tuser\tgroups\n" +
		"get\tpods\t\tweb\n" +
		"get\tpods/log\tx\tweb\tsystem:serviceaccount:web:ci\n" +
		"\n" +
		"delete\tnodes\t\t\troot\tsystem:masters\n" +
		"get\t/healthz\n"
	r := runRBACStdin(t, tsv, "can-i", "--batch", "-", "--as", "alice", "-f", dir, "-o", "json")
	if r.code != cli.ExitOK {
		t.Fatal(r)
	}
	var lines []int
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var a struct {
			Line     int
			User     struct{ Name string }
			Decision struct{ Allowed bool }
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil || !a.Decision.Allowed {
			t.Fatalf("%s\n%q: %v", r, l, err)
		}
		lines = append(lines, a.Line)
	}
	if !slices.Equal(lines, []int{2, 3, 5, 6}) {
		t.Fatalf("lines %v", lines)
	}
	// A "no" among the answers: exit 1, every answer printed.
	jsonl := `{"verb": "get", "resource": "pods", "namespace": "web"}
{"verb": "get", "resource": "pods", "namespace": "other", "as": "alice"}
{"verb": "get", "resource": "pods", "allNamespaces": true, "as": "bob", "asGroups": ["devs"]}
`
	r = runRBACStdin(t, jsonl, "can-i", "--batch", "-", "--as", "alice", "-f", dir)
	if r.code != cli.ExitError || strings.Count(r.stdout, "\n") != 4 || !strings.Contains(r.stdout, "yes") || !strings.Contains(r.stdout, "bob") {
		t.Fatal(r)
	}
	// A bad line: exit 2, its number, nothing answered.
	for _, bad := range []string{
		"get\tpods\n\nget\n",
		"get\tpods\ta\tb\tc\td\te\n",
		`{"verb": "get", "resource": "pods", "bogus": 1}` + "\n",
		`{"verb": "get", "resource": "pods"}` + "\nget\tpods\n",
		"get\tpods\t\t\t\tdevs\n",
		"get\t/healthz\tname\n",
		"\xff\n",
		"# nothing\n",
	} {
		r := runRBACStdin(t, bad, "can-i", "--batch", "-", "--as", "alice", "-f", dir)
		if r.code != cli.ExitUsage || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%q: %s\nwant exit 2, one line, nothing answered", bad, r)
		}
	}
	file := filepath.Join(t.TempDir(), "q.tsv")
	if err := os.WriteFile(file, []byte("get\tpods\t\tweb\talice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runRBAC(t, "can-i", "--batch", file, "-f", dir, "-q"); r.code != cli.ExitOK || r.stdout != "" {
		t.Fatal(r)
	}
	if r := runRBACStdin(t, "get\tpods\n", "can-i", "--batch", "-", "--as", "a", "-f", "-"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "standard input") {
		t.Fatal(r)
	}
	// No user anywhere: usage, with the line.
	if r := runRBAC(t, "can-i", "--batch", file+"x", "-f", dir); r.code != cli.ExitUsage {
		t.Fatal(r)
	}
	if r := runRBACStdin(t, "get\tpods\n", "can-i", "--batch", "-", "-f", dir); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "line 1") {
		t.Fatal(r)
	}
}

func TestWhoCanBatch(t *testing.T) {
	dir := rbacDir(t)
	r := runRBACStdin(t, "get\tpods/log\t\tweb\nget\tpods\t\t*\n", "who-can", "--batch", "-", "-f", dir, "-o", "json")
	if r.code != cli.ExitOK {
		t.Fatal(r)
	}
	out := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(out) != 2 || !strings.Contains(out[0], `"alice"`) || strings.Contains(out[1], `"alice"`) || !strings.Contains(out[1], `"line":2`) {
		t.Fatal(r)
	}
	if r := runRBACStdin(t, "get\tpods\t\tweb\talice\n", "who-can", "--batch", "-", "-f", dir); r.code != cli.ExitUsage {
		t.Fatal(r)
	}
	if r := runRBACStdin(t, "get\tpods\t\tweb\n", "who-can", "--batch", "-", "-f", dir); r.code != cli.ExitOK || !strings.Contains(r.stdout, "# line 1: get pods in namespace web") {
		t.Fatal(r)
	}
}

func TestRBACDiff(t *testing.T) {
	old := rbacDir(t)
	newDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(newDir, "rbac.yaml"), []byte(rbacManifest+`---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list, watch]}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// The missing role now exists: every authenticated user reads Secrets
	// cluster-wide: the group, and alice and the service account through it.
	r := runRBAC(t, "rbac", "diff", old, newDir)
	if r.code != cli.ExitFindings || !strings.Contains(r.stdout, "Group system:authenticated") || !strings.Contains(r.stdout, "RBAC001") ||
		!strings.Contains(r.stdout, "get,list,watch secrets") || !strings.Contains(r.stderr, "at or above low") {
		t.Fatal(r)
	}
	r = runRBAC(t, "rbac", "diff", old, newDir, "-o", "json", "--fail-on", "never")
	var d struct {
		Subjects []struct {
			Subject struct{ Kind, Name string }
			Gained  []struct {
				Verb, Resource string
				Risks          []struct{ ID string }
			}
		}
		Gained, Lost int
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || r.code != cli.ExitOK || d.Lost != 0 {
		t.Fatalf("%s\n%v %+v", r, err, d)
	}
	var names []string
	for _, s := range d.Subjects {
		names = append(names, s.Subject.Kind+" "+s.Subject.Name)
		if len(s.Gained) == 0 || len(s.Gained) > 3 || s.Gained[0].Resource != "secrets" {
			t.Errorf("%v gains %+v", s.Subject, s.Gained)
		}
	}
	// Every subject named in either policy that is an authenticated
	// identity: the group itself, alice, the service account, and the
	// built-in policy's users and service accounts.
	for _, want := range []string{"Group system:authenticated", "User alice", "ServiceAccount ci", "User system:kube-proxy"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s not among %v", want, names)
		}
	}
	// Reversed: losses only, no risky gain.
	if r := runRBAC(t, "rbac", "diff", newDir, old); r.code != cli.ExitOK || !strings.Contains(r.stdout, " lost ") || !strings.Contains(r.stdout, " 0 permission(s) gained") {
		t.Fatal(r)
	}
	if r := runRBAC(t, "rbac", "diff", old, old, "--fail-on", "gain"); r.code != cli.ExitOK || !strings.Contains(r.stdout, "0 subject(s) change") {
		t.Fatal(r)
	}
	if r := runRBAC(t, "rbac", "diff", old, newDir, "--fail-on", "gain"); r.code != cli.ExitFindings {
		t.Fatal(r)
	}
	if r := runRBACStdin(t, rbacManifest, "rbac", "diff", "-", newDir, "--fail-on", "critical"); r.code != cli.ExitOK || !strings.Contains(r.stdout, "RBAC011") {
		t.Fatal(r)
	}
	for _, args := range [][]string{{"rbac", "diff", old}, {"rbac", "diff", "-", "-"}, {"rbac", "diff", old, newDir, "--fail-on", "bad"}, {"rbac", "diff", old, filepath.Join(old, "missing")}, {"rbac", "diff", old, newDir, "-o", "xml"}} {
		if r := runRBAC(t, args...); r.code != cli.ExitUsage || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s\nwant exit 2, one line on stderr, nothing on stdout", r)
		}
	}
}

// A kubeconfig whose API server does not answer: can-i could not ask
// (exit 4), which is neither yes nor no.
func TestCanICannotAsk(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"can-i", "get", "pods", "--as", "alice"}, {"can-i", "--list", "--as", "alice"}, {"can-i", "get", "pods"}} {
		r := runRBAC(t, append(args, "--kubeconfig", kc)...)
		if r.code != cli.ExitCannotAnswer || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s\nwant exit %d and one line", r, cli.ExitCannotAnswer)
		}
	}
	// who-can has no "no": a failure is 1.
	if r := runRBAC(t, "who-can", "get", "pods", "--kubeconfig", kc); r.code != cli.ExitError {
		t.Error(r)
	}
}

// Names read from manifests reach the terminal escaped: no escape
// sequence, control character or bidirectional control passes.
func TestRBACTerminalSafe(t *testing.T) {
	dir := t.TempDir()
	evil := "evil\x1b]8;;http://x\x07\x1b[31m\u202e\u009b"
	manifest := fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: %q}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, "*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: %q}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %q}
subjects: [{kind: User, name: %q}]
`, evil, evil, evil, evil)
	if err := os.WriteFile(filepath.Join(dir, "rbac.yaml"), []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	for _, args := range [][]string{
		{"can-i", "get", "pods", "--as", evil, "-f", dir},
		{"can-i", "get", "pods", "--as", evil, "-f", dir, "-o", "json"},
		{"can-i", "get", "pods", "--as", evil, "-f", dir, "-o", "yaml"},
		{"can-i", "--list", "--as", evil, "-f", dir},
		{"who-can", "get", "pods", "-f", dir},
		{"rbac", "lint", "-f", dir},
		{"rbac", "lint", "-f", dir, "-o", "sarif"},
		{"rbac", "diff", other, dir},
		{"can-i", "get", evil, "--as", "alice", "-f", dir},
		{"can-i", "get", "pods", evil, "--as", "alice", "-f", dir, "-o", "json"},
		{"can-i", "get", "pods", "--as", "alice", "-f", filepath.Join(dir, evil)},
	} {
		r := runRBAC(t, args...)
		for _, c := range r.stdout + r.stderr {
			if c == 0x1b || c == 0x07 || c == 0x9b || c == '\u202e' {
				t.Errorf("%s\nprints %U raw", r, c)
				break
			}
		}
		if !strings.Contains(r.stdout+r.stderr, `\u001b`) && !strings.Contains(r.stdout+r.stderr, `\x1b`) && !strings.Contains(r.stdout+r.stderr, `\e]8`) {
			t.Errorf("%s\nthe name is not shown escaped", r)
		}
	}
}
