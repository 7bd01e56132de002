package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
