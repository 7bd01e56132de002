package cli_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/internal/testutil"
)

// readme is the repository's README.md.
func readme(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// block returns the first fenced block of a language after a heading.
func block(t *testing.T, doc, heading, lang string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no heading %q", heading)
	}
	rest := doc[i:]
	start := strings.Index(rest, "```"+lang+"\n")
	if start < 0 {
		t.Fatalf("no ```%s block after %q", lang, heading)
	}
	rest = rest[start+len("```"+lang+"\n"):]
	end := strings.Index(rest, "```")
	return rest[:end]
}

var exitComment = regexp.MustCompile(`#\s*exit (\d)\b`)

// TestREADMEExamples runs every line of the README's examples, in order,
// through a shell whose PATH finds the real binary, in a folder holding
// the README's example configuration: each ends with the exit code its
// comment says (0 without one), and errors are the one-line form.
func TestREADMEExamples(t *testing.T) {
	doc := readme(t)
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "cluster.yaml"), []byte(block(t, doc, "### Configuration", "yaml")), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(block(t, doc, "### Examples", "sh")), "\n")
	if len(lines) < 10 {
		t.Fatalf("only %d example lines", len(lines))
	}
	for _, line := range lines {
		want := 0
		if m := exitComment.FindStringSubmatch(line); m != nil {
			want, _ = strconv.Atoi(m[1])
		}
		cmd := exec.Command("sh", "-c", line)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bulwarkBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		r := result{args: []string{line}, stdout: stdout.String(), stderr: stderr.String(), code: code}
		if code != want {
			t.Fatalf("README example `%s`: exit %d, want %d\n%v", line, code, want, r)
		}
		if code != 0 && strings.HasPrefix(line, "bulwark ") {
			errorLines(t, r)
		}
	}
}

// TestREADMEExitCodes: the README's exit-code table is the one the code
// uses.
func TestREADMEExitCodes(t *testing.T) {
	doc := readme(t)
	i := strings.Index(doc, "### Exit codes")
	if i < 0 {
		t.Fatal("README has no exit-code table")
	}
	rows := regexp.MustCompile(`(?m)^\| (\d) \| (.+) \|$`).FindAllStringSubmatch(doc[i:], 4)
	want := map[int]string{cli.ExitOK: "success", cli.ExitError: "failed", cli.ExitUsage: "bad flags", cli.ExitFindings: "found problems"}
	if len(rows) != len(want) {
		t.Fatalf("%d rows in the exit-code table, want %d", len(rows), len(want))
	}
	for _, row := range rows {
		code, _ := strconv.Atoi(row[1])
		if w, ok := want[code]; !ok || !strings.Contains(row[2], w) {
			t.Errorf("exit code %d: %q, want it to say %q", code, row[2], w)
		}
	}
}

// TestMakeRunIgnored: what the README's first command writes (make run:
// init --dir $(DIR), ./cluster by default) is ignored by git, so that
// `git add .` never takes its keys.
func TestMakeRunIgnored(t *testing.T) {
	root := testutil.RepoRoot(t)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^DIR\s*\?=\s*(\S+)$`).FindSubmatch(mk)
	if m == nil || !strings.Contains(string(mk), "init --dir $(DIR)") {
		t.Fatal("the Makefile's run target no longer inits $(DIR)")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	if err := exec.Command("git", "-C", root, "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("not a git checkout")
	}
	for _, f := range []string{"pki/ca.key", "pki/etcd/peer-ca.key", "admin.conf", "encryption-config.yaml"} {
		p := filepath.Join(string(m[1]), f)
		if err := exec.Command("git", "-C", root, "check-ignore", "-q", "--no-index", p).Run(); err != nil {
			t.Errorf("git does not ignore %s, which make run writes", p)
		}
	}
}
