// Package archtest holds the tests that keep ARCHITECTURE.md true: the
// import floors, and one home for each name of the PKI and each release.
package archtest

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/internal/testutil"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/release"
)

const module = "github.com/bulwark-k8s/bulwark"

// testOnly are packages that only tests may import.
var testOnly = []string{"internal/pinned", "internal/testutil", "internal/archtest"}

// source is one non-test Go file of the module.
type source struct {
	pkg  string // relative to the module, e.g. "audit"
	path string
	file *ast.File
}

// sources parses every non-test Go file of the module, outside tools/
// (separate modules) and testdata.
func sources(t *testing.T, root string) []source {
	t.Helper()
	var out []source
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if e.IsDir() {
			if rel == "tools" || rel == ".cache" || e.Name() == "testdata" || (strings.HasPrefix(e.Name(), ".") && rel != ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		out = append(out, source{pkg: filepath.ToSlash(filepath.Dir(rel)), path: rel, file: f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// floors reads the floor table of ARCHITECTURE.md: package -> floor.
func floors(t *testing.T, root string) map[string]int {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile(`^\| (\d+) \| ([^|]+) \|`)
	pkg := regexp.MustCompile("`([^`]+)`")
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		for _, p := range pkg.FindAllStringSubmatch(m[2], -1) {
			out[p[1]] = n
		}
	}
	if len(out) == 0 {
		t.Fatal("ARCHITECTURE.md has no floor table")
	}
	return out
}

// TestFloors: no package imports one of a higher floor, every package is
// in the table, test-only packages are imported only by tests, and only
// cmd/bulwark imports the command line.
func TestFloors(t *testing.T) {
	root := testutil.RepoRoot(t)
	floor := floors(t, root)
	seen := map[string]bool{}
	for _, s := range sources(t, root) {
		seen[s.pkg] = true
		own, ok := floor[s.pkg]
		if !ok && !slices.Contains(testOnly, s.pkg) {
			t.Errorf("%s: package %s is not in ARCHITECTURE.md's floor table", s.path, s.pkg)
			continue
		}
		for _, imp := range s.file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			dep, ok := strings.CutPrefix(path, module+"/")
			if !ok {
				continue
			}
			switch {
			case slices.Contains(testOnly, dep) && !slices.Contains(testOnly, s.pkg):
				t.Errorf("%s imports %s, which only tests may import", s.path, dep)
			case dep == "cli" && s.pkg != "cmd/bulwark":
				t.Errorf("%s imports the command line (cli): only cmd/bulwark may", s.path)
			case slices.Contains(testOnly, s.pkg):
			case floor[dep] > own:
				t.Errorf("%s (floor %d) imports %s (floor %d): a lower floor never imports a higher one", s.path, own, dep, floor[dep])
			}
		}
	}
	for p := range floor {
		if !seen[p] {
			t.Errorf("ARCHITECTURE.md lists %s, which has no Go source", p)
		}
	}
}

// literals are the names that have one home each, and where that is.
func literals() map[string][]string {
	p, err := plan.New(config.Default("node"))
	if err != nil {
		panic(err)
	}
	tables := []string{"plan"}
	out := map[string][]string{}
	add := func(v string, homes ...string) {
		if v != "" {
			out[v] = homes
		}
	}
	for _, c := range p.CAs {
		add(c.CN, tables...)
	}
	for _, c := range p.Certs {
		if c.Member == "" {
			add(c.Subject.CommonName, tables...)
		}
		for _, o := range c.Subject.Organizations {
			add(o, tables...)
		}
	}
	for _, k := range p.Kubeconfigs {
		add(k.Subject.CommonName, tables...)
		for _, o := range k.Subject.Organizations {
			add(o, tables...)
		}
		add(k.File(), tables...)
	}
	for _, b := range plan.Bindings() {
		add(b.Subject, tables...)
	}
	// Other tables own values that happen to equal these: a component's
	// name (hardening) and the default cluster name (config).
	for _, c := range hardening.Components() {
		if homes, ok := out[string(c)]; ok {
			out[string(c)] = append(homes, "hardening")
		}
	}
	if homes, ok := out[config.DefaultClusterName]; ok {
		out[config.DefaultClusterName] = append(homes, "config")
	}
	// The Node authorizer's user prefix: no upstream module exports it;
	// rbac reproduces that authorizer.
	add("system:node:", "rbac")
	// Kubernetes' own users and groups live upstream: no file here spells them.
	for _, v := range []string{"system:masters", "system:nodes", "system:authenticated", "system:unauthenticated",
		"system:anonymous", "system:serviceaccounts", "system:serviceaccount:", "system:serviceaccounts:",
		"system:kube-controller-manager", "system:kube-scheduler", "system:kube-proxy",
		bootstrapapi.BootstrapDefaultGroup, bootstrapapi.BootstrapUserPrefix} {
		add(v)
	}
	return out
}

// homeOf reports whether a package is one of the homes.
func homeOf(pkg string, homes []string) bool { return slices.Contains(homes, pkg) }

var (
	modeLiteral = regexp.MustCompile(`^0[oO]?[0-7]{3}$`)
	// versionText finds the pinned releases spelt out: v1.36.3, 1.36,
	// 0.36.3 (the staging modules), 3.6.16 and 3.6 (etcd); not inside a
	// longer dotted number (a CIS section 1.3.6 is not etcd 3.6).
	versionText = regexp.MustCompile(`(?:^|[^0-9.])(` + strings.Join([]string{
		regexp.QuoteMeta(release.KubernetesMinor()),
		regexp.QuoteMeta("0" + strings.TrimPrefix(release.Kubernetes, "v1")),
		regexp.QuoteMeta(release.EtcdMinor()),
	}, "|") + `)(?:[^0-9]|$)`)
)

// TestOneHomePerName: outside its table, no non-test source spells a CN,
// a group, a user or a kubeconfig file name of the PKI, a Kubernetes user
// or group that upstream exports, a file mode, or a pinned release.
func TestOneHomePerName(t *testing.T) {
	root := testutil.RepoRoot(t)
	names := literals()
	for _, s := range sources(t, root) {
		if slices.Contains(testOnly, s.pkg) {
			continue
		}
		ast.Inspect(s.file, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok {
				return true
			}
			switch lit.Kind {
			case token.INT:
				if modeLiteral.MatchString(lit.Value) && s.pkg != "layout" {
					t.Errorf("%s: file mode %s outside layout", s.path, lit.Value)
				}
			case token.STRING:
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					return true
				}
				if homes, ok := names[v]; ok && !homeOf(s.pkg, homes) {
					where := "upstream's constants"
					if len(homes) > 0 {
						where = strings.Join(homes, ", ")
					}
					t.Errorf("%s: %q is spelt here; its home is %s", s.path, v, where)
				}
				if s.pkg != "release" && versionText.MatchString(v) {
					t.Errorf("%s: %q names a pinned release; use package release", s.path, v)
				}
			}
			return true
		})
	}
}
