package finding_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	junit "github.com/joshdk/go-junit"
	"github.com/xeipuuv/gojsonschema"

	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/rbac"
)

func validate(t *testing.T, doc []byte) {
	t.Helper()
	schema, err := os.ReadFile(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() {
		t.Fatalf("SARIF does not validate: %v\n%s", res.Errors(), doc)
	}
}

func TestSeverity(t *testing.T) {
	for _, s := range []string{"info", "LOW", " Medium", "high", "critical"} {
		if _, err := finding.ParseSeverity(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := finding.ParseSeverity("severe"); err == nil {
		t.Error("severe parsed")
	}
	if !finding.High.AtLeast(finding.Medium) || finding.Low.AtLeast(finding.Medium) || finding.Critical.Score() != "9.5" {
		t.Error("order or score")
	}
}

// TestSchemaCheckFails: the schema check can fail.
func TestSchemaCheckFails(t *testing.T) {
	schema, _ := os.ReadFile(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	res, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewStringLoader(`{"version":"2.1.0","runs":[{"results":[{"level":"fatal"}]}]}`))
	if err != nil || res.Valid() {
		t.Fatalf("an invalid SARIF document passed: %v", err)
	}
}

// TestRBACLintFormats writes rbac lint's report in SARIF (validated) and
// JUnit (read back by a JUnit parser: one test case per lint rule).
func TestRBACLintFormats(t *testing.T) {
	p := rbac.Builtin()
	q, err := rbac.Decode([]byte(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: open}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: Group, name: system:unauthenticated, apiGroup: rbac.authorization.k8s.io}]
`), "policy.yaml", rbac.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Merge(q)
	rep := rbac.Compile(p, rbac.Options{}).Lint(rbac.LintOptions{})
	var buf bytes.Buffer
	if err := rep.Write(&buf, "sarif", finding.Output{Tool: finding.Tool{Version: "v9"}, BaseDir: "."}); err != nil {
		t.Fatal(err)
	}
	validate(t, buf.Bytes())
	for _, want := range []string{`"ruleId": "RBAC010"`, `"uri": "policy.yaml"`, `"uriBaseId": "CLUSTERDIR"`, `"security-severity": "9.5"`, `"name": "ClusterRoleBinding open"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("lint SARIF lacks %s", want)
		}
	}
	buf.Reset()
	if err := rep.Write(&buf, "junit", finding.Output{}); err != nil {
		t.Fatal(err)
	}
	suites, err := junit.Ingest(buf.Bytes())
	if err != nil || len(suites) != 1 {
		t.Fatalf("junit: %v", err)
	}
	if got, want := suites[0].Totals.Tests, len(rbac.LintRules()); got != want {
		t.Errorf("%d test cases, want %d (one per rule)", got, want)
	}
	if suites[0].Totals.Failed != 1 {
		t.Errorf("%d failures, want 1 (RBAC010)", suites[0].Totals.Failed)
	}
}

func TestAcceptances(t *testing.T) {
	rules := finding.NewRules([]finding.Rule{{ID: "a", Severity: finding.High, Title: "x is open", Remediation: "close it"}})
	rep := finding.NewReport(rules)
	rep.Add(rules.New("a", finding.Evidence{File: "f", Detail: "d"}))
	list, err := finding.ParseAcceptances([]byte("kind: AcceptedRisks\naccept:\n- rule: a\n  scope: f\n  reason: why not\n  expires: 2030-01-01\n"), "acc.yaml", rules)
	if err != nil {
		t.Fatal(err)
	}
	rep.Accept(list, time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC))
	if rep.Failing(finding.Low) != 0 || rep.Findings[0].Accepted == nil || rep.Findings[0].Accepted.Source != "acc.yaml:3" {
		t.Fatalf("not accepted: %+v", rep.Findings)
	}
	rep.Accept(list, time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	if rep.Failing(finding.High) != 1 || rep.Failing(finding.Low) != 2 {
		t.Fatalf("an expired acceptance still counts: %+v", rep.Findings)
	}
}

func FuzzParseAcceptances(f *testing.F) {
	f.Add([]byte("apiVersion: bulwark.dev/v1alpha1\nkind: AcceptedRisks\naccept:\n- rule: a\n  scope: '*'\n  reason: r\n  expires: 2030-01-01\n"))
	rules := finding.NewRules([]finding.Rule{{ID: "a", Severity: finding.High, Title: "x is open", Remediation: "close it"}})
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := finding.ParseAcceptances(data, "f", rules)
		if err != nil {
			return
		}
		rep := finding.NewReport(rules)
		rep.Add(rules.New("a", finding.Evidence{File: "f", Detail: "d"}))
		rep.Accept(list, time.Now())
		for _, a := range list {
			if a.Rule != "a" || strings.TrimSpace(a.Reason) == "" || a.Scope == "" {
				t.Fatalf("accepted %+v", a)
			}
		}
	})
}
