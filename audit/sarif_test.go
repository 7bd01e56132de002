package audit_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xeipuuv/gojsonschema"

	// The OASIS SARIF 2.1.0 schema ships inside this module's source; the
	// import pins it in go.mod so the test can find it in the module cache.
	_ "github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
)

// sarifSchema reads the OASIS SARIF 2.1.0 JSON schema (errata 01) from the
// pinned go-sarif module, where it is a Go string constant.
func sarifSchema(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/owenrumney/go-sarif/v3").Output()
	if err != nil {
		t.Fatalf("locating go-sarif: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "pkg/report/v210/sarif/schema.go"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	start, end := strings.Index(s, "`"), strings.LastIndex(s, "`")
	if start < 0 || end <= start || !strings.Contains(s[start:end], "sarif-schema-2.1.0.json") {
		t.Fatal("go-sarif's schema.go no longer holds the SARIF 2.1.0 schema")
	}
	return s[start+1 : end]
}

// TestSARIFValidates checks bulwark's SARIF, byte for byte as written,
// against the OASIS SARIF 2.1.0 JSON schema.
func TestSARIFValidates(t *testing.T) {
	schema := gojsonschema.NewStringLoader(sarifSchema(t))
	weak := newFixture(t)
	weak.editPod("etcd", without("client-cert-auth"))
	weak.editPod("kube-apiserver", with("authorization-mode", "AlwaysAllow"))
	for _, tc := range []struct {
		name string
		fx   *fixture
	}{{"with findings", weak}, {"clean", newFixture(t)}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.fx.run().Write(&buf, "sarif"); err != nil {
				t.Fatal(err)
			}
			res, err := gojsonschema.Validate(schema, gojsonschema.NewBytesLoader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Valid() {
				t.Fatalf("SARIF does not validate: %v\n%s", res.Errors(), buf.String())
			}
		})
	}
	// The check is not vacuous: a broken document fails it.
	res, err := gojsonschema.Validate(schema, gojsonschema.NewStringLoader(`{"version":"2.1.0","runs":[{"results":[{"level":"fatal"}]}]}`))
	if err != nil || res.Valid() {
		t.Fatalf("an invalid SARIF document passed: %v", err)
	}
}
