package cli_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/cli"
)

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestAuditLiveUnreachable: a live audit that reaches nothing fails (exit
// 1, one line on stderr), or reports a finding at the severity asked; it
// never passes with "0 checks".
func TestAuditLiveUnreachable(t *testing.T) {
	addr := closedAddr(t)
	r := run(t, "audit", "--live", "--etcd", addr)
	if r.code != cli.ExitError || !strings.HasPrefix(r.stderr, "bulwark: error: endpoints could not be probed") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stdout != "" {
		t.Fatalf("%v", r)
	}
	r = run(t, "audit", "--live", "--etcd", addr, "--unreachable", "high", "--fail-on", "high")
	if r.code != cli.ExitFindings || !strings.Contains(r.stdout, "live:unreachable") {
		t.Fatalf("%v", r)
	}
	r = run(t, "audit", "--live", "--etcd", addr, "--unreachable", "info", "--fail-on", "low")
	if r.code != cli.ExitOK || !strings.Contains(r.stdout, "live:unreachable") {
		t.Fatalf("%v", r)
	}
	if r := run(t, "audit", "--live", "--etcd", addr, "--unreachable", "loud"); r.code != cli.ExitUsage {
		t.Fatalf("%v", r)
	}
}

// TestAuditAcceptances: a bad accepted-risks file is a usage error; a good
// one turns the exit code of an accepted finding to 0, and the finding is
// still shown.
func TestAuditAcceptances(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	mustRun(t, "init", "--dir", dir)
	owner := []string{"--file-owner", itoa(os.Getuid()) + ":" + itoa(os.Getgid())}
	if r := run(t, append([]string{"audit", "--dir", dir}, owner...)...); r.code != cli.ExitOK {
		t.Fatalf("bulwark's own output: %v", r)
	}
	if err := os.Chmod(filepath.Join(dir, "manifests", "kube-apiserver.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, append([]string{"audit", "--dir", dir}, owner...)...); r.code != cli.ExitFindings || !strings.Contains(r.stdout, "file:mode") {
		t.Fatalf("%v", r)
	}
	acc := filepath.Join(dir, "audit-accept.yaml")
	if err := os.WriteFile(acc, []byte("kind: AcceptedRisks\naccept:\n- rule: file:mode\n  scope: manifests/*\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, append([]string{"audit", "--dir", dir}, owner...)...); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "without a reason") {
		t.Fatalf("%v", r)
	}
	if err := os.WriteFile(acc, []byte("kind: AcceptedRisks\naccept:\n- rule: file:mode\n  scope: '*kube-apiserver.yaml'\n  reason: read by the monitoring agent\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, append([]string{"audit", "--dir", dir}, owner...)...)
	if r.code != cli.ExitOK || !strings.Contains(r.stdout, "(accepted)") || !strings.Contains(r.stdout, "read by the monitoring agent") {
		t.Fatalf("%v", r)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
