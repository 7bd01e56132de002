package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/internal/pinned"
)

// expiryEntry is a row of `certs check-expiration -o json`.
type expiryEntry struct {
	File     string    `json:"file"`
	Where    string    `json:"where"`
	Subject  string    `json:"subject"`
	CA       bool      `json:"ca"`
	NotAfter time.Time `json:"notAfter"`
	Status   string    `json:"status"`
	Error    string    `json:"error"`
	Note     string    `json:"note"`
}

func (e expiryEntry) name() string {
	if e.Where == "" {
		return e.File
	}
	return e.File + " (" + e.Where + ")"
}

// checkExpiration runs check-expiration at now in every output format,
// checks the exit code (the same for all) and that JSON and YAML say the
// same, and returns the entries.
func checkExpiration(t *testing.T, dir string, now time.Time, code int, extra ...string) []expiryEntry {
	t.Helper()
	var entries []expiryEntry
	for _, o := range []string{"json", "yaml", "table"} {
		r := runAt(t, now, append([]string{"certs", "check-expiration", "--dir", dir, "-o", o}, extra...)...)
		if r.code != code {
			t.Fatalf("exit %d, want %d\n%v", r.code, code, r)
		}
		if code != cli.ExitOK {
			errorLine(t, r)
		}
		switch o {
		case "json":
			if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
				t.Fatalf("-o json: %v\n%s", err, r.stdout)
			}
		case "yaml":
			var y []expiryEntry
			if err := yaml.Unmarshal([]byte(r.stdout), &y); err != nil {
				t.Fatalf("-o yaml: %v\n%s", err, r.stdout)
			}
			if fmt.Sprint(y) != fmt.Sprint(entries) {
				t.Errorf("-o yaml and -o json differ:\n%v\n%v", y, entries)
			}
		case "table":
			// One row per certificate, its file first and its status last.
			for _, e := range entries {
				if !slices.ContainsFunc(strings.Split(r.stdout, "\n"), func(l string) bool {
					f := strings.Fields(l)
					return len(f) > 2 && f[0] == e.File && strings.HasPrefix(f[len(f)-1], e.Status) && (e.Where == "" || strings.Contains(l, e.Where))
				}) {
					t.Errorf("the table has no row for %s, %s:\n%s", e.name(), e.Status, r.stdout)
				}
			}
		}
	}
	return entries
}

// expectStatuses checks that CAs have caStatus, every other certificate
// leafStatus, and that the leaves reported are exactly leaves.
func expectStatuses(t *testing.T, entries []expiryEntry, caStatus, leafStatus string, leaves []string) {
	t.Helper()
	var got []string
	for _, e := range entries {
		want := leafStatus
		if e.CA {
			want = caStatus
		} else {
			got = append(got, e.File)
		}
		if e.Status != want {
			t.Errorf("%s (CA %v, ends %v): %s, want %s", e.name(), e.CA, e.NotAfter, e.Status, want)
		}
	}
	slices.Sort(got)
	slices.Sort(leaves)
	if !slices.Equal(got, leaves) {
		t.Errorf("leaves reported: %v\nwant: %v", got, leaves)
	}
}

// TestCheckExpiration: a folder made at t0, checked a day later (all
// valid), 364 days later with --warn-within 30d (every leaf expiring, the
// CAs not, exit 3) and 11 years later (everything expired, the CAs too).
func TestCheckExpiration(t *testing.T) {
	dir := newTree(t, threeNodeConfig)
	rep := checkTree(t, dir, t0)
	leaves := append([]string(nil), rep.leaves...)
	for f := range rep.clientCerts {
		leaves = append(leaves, f)
	}
	expectStatuses(t, checkExpiration(t, dir, t0.Add(24*time.Hour), cli.ExitOK), "ok", "ok", leaves)
	expectStatuses(t, checkExpiration(t, dir, t0.Add(364*24*time.Hour), cli.ExitFindings, "--warn-within", "30d"), "ok", "expiring", leaves)
	// A narrower window: the leaves end in a day, beyond 12 hours.
	expectStatuses(t, checkExpiration(t, dir, t0.Add(364*24*time.Hour), cli.ExitOK, "--warn-within", "12h"), "ok", "ok", leaves)
	expired := checkExpiration(t, dir, t0.AddDate(11, 0, 0), cli.ExitFindings, "--warn-within", "30d")
	expectStatuses(t, expired, "expired", "expired", leaves)
	cas := 0
	for _, e := range expired {
		if e.CA && !strings.HasSuffix(e.File, ".conf") {
			cas++
		}
	}
	// Four CAs, and the cluster CA's signing certificate alone
	// (pki/ca-signer.crt, the controller manager's).
	if cas != 5 {
		t.Errorf("%d CA files reported, want 5", cas)
	}
	// certs list reports the same but is not a check: exit 0.
	r := mustRunAt(t, t0.AddDate(11, 0, 0), "certs", "list", "--dir", dir, "-o", "json")
	var listed []expiryEntry
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || fmt.Sprint(listed) != fmt.Sprint(expired) {
		t.Errorf("certs list differs from check-expiration (%v)", err)
	}
	// Nothing to check is a failure, not a pass.
	r = runAt(t, t0, "certs", "check-expiration", "--dir", t.TempDir())
	if r.code != cli.ExitError {
		t.Errorf("empty folder: exit %d, want %d", r.code, cli.ExitError)
	}
	errorLine(t, r)
}

// kubeadmPath is the real kubeadm of the pinned release, built by
// internal/pinned (or $BULWARK_KUBEADM).
func kubeadmPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BULWARK_KUBEADM"); p != "" {
		return p
	}
	return pinned.Path(t, "kubeadm")
}

// TestCheckExpirationReadsKubeadm: check-expiration reads a folder the
// real kubeadm made (certs and kubeconfig phases) like one of its own.
func TestCheckExpirationReadsKubeadm(t *testing.T) {
	kubeadm := kubeadmPath(t)
	out, err := exec.Command("hostname", "-I").Output()
	if err != nil || len(strings.Fields(string(out))) == 0 {
		t.Skipf("no host address for kubeadm's advertise address: %v", err)
	}
	addr := strings.Fields(string(out))[0]
	dir := t.TempDir()
	cfg := writeFile(t, "kubeadm.yaml", fmt.Sprintf(`apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: %s
nodeRegistration:
  name: cp-1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.36.3
certificatesDir: %s
`, addr, filepath.Join(dir, "pki")))
	made := time.Now()
	for _, phase := range [][]string{{"certs", "all"}, {"kubeconfig", "all", "--kubeconfig-dir", dir}} {
		args := append(append([]string{"init", "phase"}, phase...), "--config", cfg)
		if out, err := exec.Command(kubeadm, args...).CombinedOutput(); err != nil {
			t.Fatalf("kubeadm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	leaves := []string{"pki/apiserver.crt", "pki/apiserver-kubelet-client.crt", "pki/apiserver-etcd-client.crt", "pki/front-proxy-client.crt",
		"pki/etcd/server.crt", "pki/etcd/peer.crt", "pki/etcd/healthcheck-client.crt",
		"admin.conf", "super-admin.conf", "kubelet.conf", "controller-manager.conf", "scheduler.conf"}
	entries := checkExpiration(t, dir, made.Add(time.Hour), cli.ExitOK)
	expectStatuses(t, entries, "ok", "ok", leaves)
	files := map[string]bool{}
	for _, e := range entries {
		files[e.File] = true
	}
	for _, f := range []string{"pki/ca.crt", "pki/etcd/ca.crt", "pki/front-proxy-ca.crt"} {
		if !files[f] {
			t.Errorf("kubeadm's %s is not reported", f)
		}
	}
	expectStatuses(t, checkExpiration(t, dir, made.Add(364*24*time.Hour), cli.ExitFindings, "--warn-within", "30d"), "ok", "expiring", leaves)
	expectStatuses(t, checkExpiration(t, dir, made.AddDate(11, 0, 0), cli.ExitFindings), "expired", "expired", leaves)
}
