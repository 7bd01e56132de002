package audit_test

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/audit"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/rotate"
	"github.com/bulwark-k8s/bulwark/store"
)

func findingIDs(r *audit.Report) []string {
	var out []string
	for _, f := range r.Findings {
		if !slices.Contains(out, f.ID) {
			out = append(out, f.ID)
		}
	}
	slices.Sort(out)
	return out
}

// TestAuditDuringRotation: during a rotation's trust and reissue steps two
// CAs in a trust file, and leaves of the new CA, are no finding (an info
// note says a rotation is in progress); once finished nothing is left;
// an old CA still trusted without a rotation in progress is a finding.
func TestAuditDuringRotation(t *testing.T) {
	f := newTree(t)
	baseline := above(f.run())
	d, err := store.Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	c := config.Default("cp-1")
	c.Render.Root = f.dir // as the tree was rendered: steps render the manifests again
	raw, err := config.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	f.write("bulwark.yaml", raw)
	p, err := plan.New(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range rotate.Steps() {
		if _, err := rotate.Advance(d, p, plan.RootCluster, rotate.Options{Now: func() time.Time { return now }, Force: true}); err != nil {
			t.Fatal(err)
		}
		r := f.run()
		if got := above(r); !slices.Equal(got, baseline) {
			t.Errorf("after %s: findings above info %v, want %v as before the rotation", step, got, baseline)
		}
		if got := slices.Contains(findingIDs(r), "pki:rotation-in-progress"); got != (step != rotate.Finish) {
			t.Errorf("after %s: rotation-in-progress noted: %v", step, got)
		}
	}
	// A trust file that still holds a second CA, without a rotation.
	advanceErr := func() error {
		_, err := rotate.Advance(d, p, plan.RootCluster, rotate.Options{Now: func() time.Time { return now }})
		return err
	}
	if err := advanceErr(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f.path("rotation.yaml")); err != nil {
		t.Fatal(err)
	}
	if got := above(f.run()); !slices.Contains(got, "pki:trust-outside-rotation") {
		t.Errorf("two CAs trusted without a rotation: findings %v", got)
	}
}
