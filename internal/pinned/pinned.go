// Package pinned runs the real etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubectl and kubeadm in tests,
// built from the pinned modules under tools/ by hack/build-tools.sh, on
// loopback ports. Nothing here is a fake of a component.
package pinned

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildErr  error
	binDir    string
)

// Root is the repository's root folder.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(data, []byte("module github.com/bulwark-k8s/bulwark\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root not found")
		}
		dir = parent
	}
}

// Path returns a pinned component's binary, building the set first if
// needed (under a file lock: go test runs packages in parallel processes).
func Path(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := Root()
		if err != nil {
			buildErr = err
			return
		}
		binDir = filepath.Join(root, ".cache", "bin")
		if err := os.MkdirAll(binDir, 0o755); err != nil {
			buildErr = err
			return
		}
		lock, err := os.OpenFile(filepath.Join(root, ".cache", "build.lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			buildErr = err
			return
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			buildErr = err
			return
		}
		defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		out, err := exec.Command("bash", filepath.Join(root, "hack", "build-tools.sh"), binDir).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("hack/build-tools.sh failed: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	p := filepath.Join(binDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("component %s not built: %v", name, err)
	}
	return p
}

var (
	portMu sync.Mutex
	given  = map[int]bool{}
)

// FreePort returns a loopback port that was free and is not handed out
// twice by this process.
func FreePort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !given[p] {
			given[p] = true
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// Process is a running component.
type Process struct {
	Name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// Start runs a binary with its output in a log file, and stops it when the
// test ends: SIGTERM, then SIGKILL after a grace period. A failed test
// keeps the whole log with -artifacts (see keep), else shows its end.
func Start(t testing.TB, name, bin string, args ...string) *Process {
	t.Helper()
	if keepingArtifacts() {
		// Asked now, not at the failure: test2json readers (gotestsum)
		// show only what a test printed after its artifacts line.
		_ = t.ArtifactDir()
	}
	logPath := filepath.Join(t.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Process{Name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop(5 * time.Second)
		switch {
		case !t.Failed():
		case keepingArtifacts():
			p.keep(t)
		default:
			t.Logf("--- last lines of %s ---\n%s", name, p.Tail(60))
		}
	})
	return p
}

// keepingArtifacts reports whether go test was run with -artifacts: else
// an artifact folder is removed with the test, and a failed test shows
// the end of each log instead.
func keepingArtifacts() bool {
	f := flag.Lookup("test.artifacts")
	return f != nil && f.Value.String() == "true"
}

// keep copies the log of a failed test's process into the test's artifact
// folder (kept by `go test -artifacts`) and names it in one line, so that
// the test's own failure messages stay at the end of its output.
func (p *Process) keep(t testing.TB) {
	// A restarted component has one log a run, under the same name.
	var kept string
	for i := 1; ; i++ {
		kept = filepath.Join(t.ArtifactDir(), fmt.Sprintf("%s.%d.log", p.Name, i))
		f, err := os.OpenFile(kept, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err == nil {
			_, err = f.WriteString(p.Log())
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			t.Logf("%s: its log is lost: %v", p.Name, err)
			return
		}
		break
	}
	last := p.Tail(1)
	if len(last) > 160 {
		last = last[:160] + "…"
	}
	t.Logf("%s: log kept in %s; last line: %s", p.Name, kept, last)
}

// Stop sends SIGTERM and, after grace, SIGKILL; it waits for the exit.
func (p *Process) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill sends SIGKILL and waits for the exit.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Log returns everything the process printed so far.
func (p *Process) Log() string {
	data, _ := os.ReadFile(p.logPath)
	return string(data)
}

// Tail returns the last n lines of the log.
func (p *Process) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitFor polls f until it succeeds or the timeout passes.
func WaitFor(t testing.TB, what string, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not ready after %s: %v", what, timeout, err)
}

// TLSConfig trusts caFile and, when certFile is given, presents that
// client certificate.
func TLSConfig(t testing.TB, caFile, certFile, keyFile string) *tls.Config {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			t.Fatalf("%s holds no certificate", caFile)
		}
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// HTTPClient is an HTTPS client with a TLS configuration and a timeout.
func HTTPClient(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// Run runs a command to completion and returns its combined output.
func Run(ctx context.Context, bin string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}
