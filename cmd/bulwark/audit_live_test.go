package main

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// kubeletStandIn answers every request with status over TLS, as a kubelet
// would to an anonymous request.
func kubeletStandIn(t *testing.T, status int) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func closedLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// TestAuditLiveCommandLine checks how `bulwark audit --live` is called:
// --dir optional with --live only, live flags only with --live, bad
// endpoints as usage errors, and the exit codes of a live run.
func TestAuditLiveCommandLine(t *testing.T) {
	hardened, open := kubeletStandIn(t, 401), kubeletStandIn(t, 200)
	closed := closedLoopbackPort(t)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"neither --dir nor --live", []string{"audit"}, 2, "", `bulwark: error: required flag(s) "dir" not set`},
		{"--live without an endpoint", []string{"audit", "--live"}, 2, "", "--live needs an endpoint"},
		{"a live flag without --live", []string{"audit", "--dir", t.TempDir(), "--etcd", "127.0.0.1:2379"}, 2, "", "--etcd probes a live endpoint: add --live"},
		{"a bad endpoint", []string{"audit", "--live", "--etcd", "127.0.0.1:99999"}, 2, "", `invalid endpoint "127.0.0.1:99999": bad port`},
		{"a bad read-only port", []string{"audit", "--live", "--kubelet", hardened, "--kubelet-read-only-port", "-1"}, 2, "", "invalid --kubelet-read-only-port"},
		{"a file owner without a group", []string{"audit", "--dir", t.TempDir(), "--file-owner", "5"}, 2, "", `invalid --file-owner "5" (want USER:GROUP`},
		{"a file owner that does not exist", []string{"audit", "--dir", t.TempDir(), "--file-owner", "no-such-user-here:0"}, 2, "", `no user "no-such-user-here"`},
		{"a hardened kubelet", []string{"audit", "--live", "--kubelet", hardened, "--kubelet-read-only-port", closed}, 0, "3 checks, 0 findings", ""},
		{"an open kubelet", []string{"audit", "--live", "--kubelet", open, "--kubelet-read-only-port", "0"}, 3,
			"critical  kubelet:anonymous-served  4.2.1", "bulwark: error: 1 finding(s) at or above low"},
		{"an unreachable endpoint is an error", []string{"audit", "--live", "--etcd", "127.0.0.1:" + closed}, 1, "", "bulwark: error: endpoints could not be probed"},
		{"an unreachable endpoint as a low finding", []string{"audit", "--live", "--etcd", "127.0.0.1:" + closed, "--unreachable", "low"}, 3, "low       live:unreachable", ""},
		{"--fail-on applies to live findings", []string{"audit", "--live", "--etcd", "127.0.0.1:" + closed, "--unreachable", "low", "--fail-on", "medium"}, 0, "live:unreachable", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			if tc.code == 2 && (r.stdout != "" || strings.Count(r.stderr, "\n") != 1) {
				t.Fatalf("a usage error is one line on stderr and nothing on stdout:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}
