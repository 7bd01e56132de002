package cli_test

// Tests where processes are the point: several runs of the real binary at
// once on one folder, and runs killed part-way.

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/layout"
)

// TestConcurrentInits: 8 inits started together on one folder all succeed
// and leave one valid tree: exactly one of them made it, the others found
// it complete; openssl verifies every chain; a further init creates nothing.
func TestConcurrentInits(t *testing.T) {
	cfg := writeFile(t, "cluster.yaml", threeNodeConfig)
	ref := filepath.Join(t.TempDir(), "ref")
	mustRunBin(t, "init", "--dir", ref, "--config", cfg)
	want := fileSet(t, ref)
	for round := range 3 {
		dir := filepath.Join(t.TempDir(), "cluster")
		type proc struct {
			cmd            *exec.Cmd
			stdout, stderr bytes.Buffer
		}
		procs := make([]*proc, 8)
		for i := range procs {
			p := &proc{cmd: binCmd("init", "--dir", dir, "--config", cfg)}
			p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
			procs[i] = p
		}
		for _, p := range procs {
			if err := p.cmd.Start(); err != nil {
				t.Fatal(err)
			}
		}
		makers := 0
		for i, p := range procs {
			err := p.cmd.Wait()
			r := result{args: p.cmd.Args[1:], stdout: p.stdout.String(), stderr: p.stderr.String()}
			if err != nil {
				t.Fatalf("round %d, run %d: %v\n%v", round, i, err, r)
			}
			switch s := parseSummary(t, r); {
			case s.created > 0:
				makers++
			case s.issued+s.renewed+s.removed > 0:
				t.Errorf("round %d, run %d changed files: %+v", round, i, s)
			}
		}
		if makers != 1 {
			t.Errorf("round %d: %d runs created files, want exactly 1", round, makers)
		}
		if got := fileSet(t, dir); !slices.Equal(got, want) {
			t.Fatalf("round %d: files %v, want %v", round, got, want)
		}
		rep := checkTree(t, dir, time.Now())
		opensslVerify(t, dir, rep)
		s := parseSummary(t, mustRunBin(t, "init", "--dir", dir, "--config", cfg))
		if s.created+s.issued+s.renewed+s.removed != 0 || s.kept == 0 {
			t.Fatalf("round %d: a further init reported %+v", round, s)
		}
	}
}

// TestKilledInitRecovers: init is SIGKILLed part-way, then run again.
// Thirty kills at random delays: 15 with RSA-2048 keys (so that a run
// lasts long enough) after delays spread over a whole run, and 15 at
// random points of the write phase, timed from the first file in place
// (key generation takes most of a run; the writes come last and take a
// few milliseconds, so delays from the start seldom land in them). Then,
// so that no point of the writes is left to chance, a kill after each
// number of files in place, with the store's test hook
// BULWARK_TEST_KILL_AFTER_LINKS. Whatever a kill leaves holds only
// complete files and no certificate without its key; the next init keeps
// every key that is there and completes the tree: the same files as a
// clean run, no temporary files, every chain and key pair valid.
func TestKilledInitRecovers(t *testing.T) {
	rsa := writeFile(t, "rsa.yaml", rsaConfig)
	// The same cluster with ECDSA keys, for the kills in the writes: there
	// the key generation before them only costs time.
	ecdsa := writeFile(t, "ecdsa.yaml", strings.Replace(rsaConfig, "keyAlgorithm: rsa-2048\n", "", 1))
	refRSA, refECDSA := filepath.Join(t.TempDir(), "rsa"), filepath.Join(t.TempDir(), "ecdsa")
	full, _ := timeInit(t, refRSA, rsa)
	_, writes := timeInit(t, refECDSA, ecdsa)
	want := fileSet(t, refRSA)
	if got := fileSet(t, refECDSA); !slices.Equal(got, want) {
		t.Fatalf("RSA and ECDSA trees differ: %v and %v", want, got)
	}
	left := map[string]int{}
	// killed classifies and checks what a killed run left, runs init
	// again and checks the result.
	killed := func(t *testing.T, dir, cfg, what string, err error) {
		t.Helper()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		have := fileSet(t, dir)
		switch {
		case err == nil:
			left["finished before the kill"]++
		case len(have) == 0:
			left["killed before the first file"]++
		case slices.Equal(have, want):
			left["killed after the last file"]++
		default:
			left["killed part-way through the writes"]++
		}
		keys := checkPartial(t, dir, what)
		r := runBin(t, "init", "--dir", dir, "--config", cfg)
		if r.code != 0 {
			t.Fatalf("%s: the next init failed\n%v", what, r)
		}
		if got := fileSet(t, dir); !slices.Equal(got, want) {
			t.Fatalf("%s, then run again: files %v, want %v", what, got, want)
		}
		for f, k := range keys {
			if string(readFile(t, dir, f)) != k {
				t.Errorf("%s: the next init replaced %s", what, f)
			}
		}
		checkTree(t, dir, time.Now())
	}

	t.Run("random delays", func(t *testing.T) {
		seed := time.Now().UnixNano()
		rng := rand.New(rand.NewPCG(uint64(seed), 0))
		t.Logf("an RSA run takes %v, the writes of a run %v; delays drawn with seed %d", full, writes, seed)
		const spread, inWrites = 15, 15
		for i := range spread + inWrites {
			cfg := rsa
			if i >= spread {
				cfg = ecdsa
			}
			dir := filepath.Join(t.TempDir(), fmt.Sprint("killed", i))
			cmd := binCmd("init", "--dir", dir, "--config", cfg)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var what string
			if i < spread {
				// One delay in each fifteenth of a run, at a random point of it.
				delay := time.Duration((float64(i) + rng.Float64()) / spread * float64(full))
				time.Sleep(delay)
				what = fmt.Sprintf("killed %v after start", delay)
			} else {
				delay := time.Duration(rng.Float64() * float64(writes))
				waitForFirstFile(dir, done)
				time.Sleep(delay)
				what = fmt.Sprintf("killed %v after its first file", delay)
			}
			_ = cmd.Process.Kill()
			killed(t, dir, cfg, what, <-done)
		}
		t.Logf("%v", left)
	})

	// In both ways a batch flushes (store.Batch): a flush per file, and
	// one of the whole file system, which a quiet machine picks.
	for _, mode := range []string{"file", "whole"} {
		t.Run("after every file, flush "+mode, func(t *testing.T) {
			clear(left)
			for n := 1; ; n++ {
				dir := filepath.Join(t.TempDir(), fmt.Sprint("killed", n))
				cmd := binCmd("init", "--dir", dir, "--config", ecdsa)
				cmd.Env = append(cmd.Env, fmt.Sprintf("BULWARK_TEST_KILL_AFTER_LINKS=%d", n), "BULWARK_TEST_FLUSH="+mode)
				err := cmd.Run()
				killed(t, dir, ecdsa, fmt.Sprintf("killed after %d files", n), err)
				if err == nil {
					break
				}
				if n > 2*len(want) {
					t.Fatalf("init still killed after %d files, of %d", n, len(want))
				}
			}
			t.Logf("%v", left)
			if left["killed part-way through the writes"] < len(want)/2 {
				t.Errorf("too few kills left a partial tree: %v", left)
			}
		})
	}
}

// timeInit runs init on dir and returns how long it took, and how long
// from its first file in place to its end (a guess if a loaded machine
// kept the watcher from seeing the first file).
func timeInit(t *testing.T, dir, cfg string) (full, writes time.Duration) {
	t.Helper()
	cmd := binCmd("init", "--dir", dir, "--config", cfg)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	first := waitForFirstFile(dir, done)
	if err := <-done; err != nil {
		t.Fatalf("init: %v", err)
	}
	end := time.Now()
	if first.IsZero() {
		return end.Sub(start), 10 * time.Millisecond
	}
	return end.Sub(start), end.Sub(first)
}

// waitForFirstFile returns when a file other than the lock is in place
// under dir, or when the run ends (done is then refilled for the caller).
func waitForFirstFile(dir string, done chan error) time.Time {
	for {
		select {
		case err := <-done:
			done <- err
			return time.Time{}
		default:
		}
		if entries, err := os.ReadDir(filepath.Join(dir, "pki")); err == nil {
			for _, e := range entries {
				if !e.IsDir() && !strings.HasPrefix(e.Name(), ".bulwark-tmp-") {
					return time.Now()
				}
			}
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// checkPartial checks what a killed run left: every key and certificate
// there is complete (writes are atomic) and no certificate is there
// without its key. It returns the keys, to check that the next run keeps
// them.
func checkPartial(t *testing.T, dir, what string) map[string]string {
	t.Helper()
	keys := map[string]string{}
	all := files(t, dir)
	for _, f := range all {
		data := readFile(t, dir, f)
		switch {
		case strings.Contains(f, ".bulwark-tmp-"):
			// A killed run may leave these; the next one must remove them.
		case layout.Classify(f) == layout.Mounted:
			// A static Pod's link: made after the file it links.
			i := strings.Index(f, layout.MountsDir+"/") + len(layout.MountsDir) + 1
			if src := f[i+strings.Index(f[i:], "/")+1:]; !slices.Contains(all, src) {
				t.Errorf("%s: %s is there before %s", what, f, src)
			}
		case strings.HasSuffix(f, ".key"):
			if _, err := parseKeyPEM(data); err != nil {
				t.Errorf("%s: %s is torn: %v", what, f, err)
			}
			keys[f] = string(data)
		case strings.HasSuffix(f, ".crt"):
			if _, err := parseCertPEM(data); err != nil {
				t.Errorf("%s: %s is torn: %v", what, f, err)
			}
			if f != "pki/ca-signer.crt" && !slices.Contains(all, strings.TrimSuffix(f, ".crt")+".key") {
				t.Errorf("%s: %s is there without its key", what, f)
			}
		case layout.Classify(f) == layout.Kubeconfig:
			if _, err := parseKubeconfig(data); err != nil {
				t.Errorf("%s: %s is torn: %v", what, f, err)
			}
		}
	}
	return keys
}
