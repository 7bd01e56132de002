package audit_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xeipuuv/gojsonschema"
)

var now = timeNow()

// validateSARIF checks a SARIF document against the OASIS SARIF 2.1.0
// JSON schema (errata 01), vendored in finding/testdata.
func validateSARIF(t *testing.T, doc []byte) {
	t.Helper()
	schema, err := os.ReadFile(filepath.Join("..", "finding", "testdata", "sarif-schema-2.1.0.json"))
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

func sarifSchema(t *testing.T) string {
	t.Helper()
	schema, err := os.ReadFile(filepath.Join("..", "finding", "testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(schema)
}

func timeNow() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }
