package archtest

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/testutil"
	"github.com/bulwark-k8s/bulwark/release"
)

// TestNoConflictMarkers: no source, document or script holds a line a
// merge left behind (<<<<<<<, =======, >>>>>>>).
func TestNoConflictMarkers(t *testing.T) {
	root := testutil.RepoRoot(t)
	text := map[string]bool{".go": true, ".md": true, ".sh": true, ".yaml": true, ".yml": true, ".mod": true, "": true}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "cluster") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !text[filepath.Ext(name)] {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if strings.HasPrefix(line, "<<<<<<< ") || strings.HasPrefix(line, ">>>>>>> ") || line == "=======" {
				rel, _ := filepath.Rel(root, p)
				t.Errorf("%s:%d: a merge conflict marker: %q", rel, n, line)
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestVersionText: the pinned releases are found spelt out, and a longer
// dotted number that holds one is not.
func TestVersionText(t *testing.T) {
	for s, want := range map[string]bool{
		"v" + release.KubernetesMinor() + ".3":    true,
		"kubernetes " + release.KubernetesMinor(): true,
		release.EtcdMinor() + ".16-0":             true,
		"etcd " + release.EtcdMinor():             true,
		"1." + release.EtcdMinor():                false,
		release.EtcdMinor() + "1":                 false,
	} {
		if got := versionText.MatchString(s); got != want {
			t.Errorf("versionText on %q: %v, want %v", s, got, want)
		}
	}
}
