package expiry_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/expiry"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/store"
)

var t0 = time.Date(2027, 6, 1, 10, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func initDir(t *testing.T) *store.Dir {
	t.Helper()
	c, err := config.Parse([]byte("apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\ncontrolPlane: [{name: cp-1, ips: [10.0.0.11]}]\n"), "node-a")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(c)
	if err != nil {
		t.Fatal(err)
	}
	d, err := store.Open(filepath.Join(t.TempDir(), "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	if _, err := provision.Init(d, p, provision.Options{Now: func() time.Time { return t0 }}); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestScan(t *testing.T) {
	d := initDir(t)
	for _, tc := range []struct {
		name          string
		at            time.Time
		leaves, cas   expiry.Status
		worst         expiry.Status
		leafRemaining time.Duration
	}{
		{"fresh", t0, expiry.OK, expiry.OK, expiry.OK, 365 * day},
		{"within the warning", t0.Add(340 * day), expiry.Expiring, expiry.OK, expiry.Expiring, 25 * day},
		{"leaves expired", t0.Add(365 * day), expiry.Expired, expiry.OK, expiry.Expired, 0},
		// Not clamped: how long ago it ended.
		{"leaves expired a day ago", t0.Add(366 * day), expiry.Expired, expiry.OK, expiry.Expired, -day},
		{"CAs within the warning", t0.Add(3640 * day), expiry.Expired, expiry.Expiring, expiry.Expired, -3275 * day},
		{"before issue", t0.Add(-time.Hour), expiry.Invalid, expiry.Invalid, expiry.Invalid, 365*day + time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, err := expiry.Scan(d, tc.at, 30*day)
			if err != nil {
				t.Fatal(err)
			}
			// 4 CAs, the cluster CA's signing certificate alone and 7
			// leaves under pki/; in the kubeconfigs, 4 client certificates
			// and 5 copies of the cluster CA.
			if len(es) != 21 {
				t.Fatalf("%d entries, want 21", len(es))
			}
			for _, e := range es {
				want := tc.leaves
				if e.CA {
					want = tc.cas
				}
				if e.Status != want {
					t.Errorf("%s %s: %s, want %s", e.File, e.Where, e.Status, want)
				}
				if !e.CA && e.Remaining != tc.leafRemaining {
					t.Errorf("%s %s: remaining %s, want %s", e.File, e.Where, e.Remaining, tc.leafRemaining)
				}
				if e.RemainingSeconds == nil || *e.RemainingSeconds != int64(e.Remaining/time.Second) || e.NotAfter == nil || e.NotAfter.IsZero() {
					t.Errorf("%s: RemainingSeconds %v, NotAfter %v", e.File, e.RemainingSeconds, e.NotAfter)
				}
				if strings.HasSuffix(e.File, ".conf") && e.Where == "" {
					t.Errorf("%s: entry without its place in the kubeconfig", e.File)
				}
			}
			if got := expiry.Worst(es); got != tc.worst {
				t.Errorf("Worst = %s, want %s", got, tc.worst)
			}
		})
	}
}

func TestScanReportsUnreadable(t *testing.T) {
	d := initDir(t)
	if err := os.WriteFile(d.Path("pki/broken.crt"), []byte("not PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Path("broken.conf"), []byte("{{{"), 0o600); err != nil {
		t.Fatal(err)
	}
	es, err := expiry.Scan(d, t0, 30*day)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, e := range es {
		if e.File == "pki/broken.crt" || e.File == "broken.conf" {
			bad++
			if e.Status != expiry.Invalid || e.Error == "" || e.NotAfter != nil || e.RemainingSeconds != nil {
				t.Errorf("%s: %s %q %v %v", e.File, e.Status, e.Error, e.NotAfter, e.RemainingSeconds)
			}
		}
	}
	if bad != 2 || expiry.Worst(es) != expiry.Invalid {
		t.Errorf("%d broken entries, worst %s", bad, expiry.Worst(es))
	}
	if expiry.Worst(nil) != expiry.OK {
		t.Error("Worst of nothing is not ok")
	}
}

// TestScanMissing: an expected certificate that is not there is listed as
// missing, with no dates; one that is there is listed once.
func TestScanMissing(t *testing.T) {
	d := initDir(t)
	if err := os.Remove(d.Path("pki/apiserver.crt")); err != nil {
		t.Fatal(err)
	}
	es, err := expiry.Scan(d, t0, 30*day, "pki/apiserver.crt", "pki/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range es {
		n[e.File]++
		if e.File == "pki/apiserver.crt" && (e.Status != expiry.Missing || e.NotAfter != nil || e.RemainingSeconds != nil) {
			t.Errorf("missing entry %+v", e)
		}
	}
	if n["pki/apiserver.crt"] != 1 || n["pki/ca.crt"] != 1 || expiry.Worst(es) != expiry.Missing {
		t.Errorf("entries %v, worst %s", n, expiry.Worst(es))
	}
}
