package rotate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bulwark-k8s/bulwark/admins"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/provision"
)

// retired lists the files whose old content a finished rotation of v's
// root retired: its key (and the next key's file, where the new one
// waited), and, when the reissue gave every leaf a new key, the key of
// every leaf and kubeconfig it signs. An administrator who could read
// their old content can use it no longer.
func (v *view) retired(rr *RootRecord) []string {
	out := []string{v.keyFile, v.nextKeyFile}
	if rr == nil || !rr.NewKey {
		return out
	}
	for _, l := range v.leaves {
		f := l.file
		if l.user == "" {
			f = strings.TrimSuffix(l.file, layout.CertExt) + layout.KeyExt
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// marksToClear reads the administrators' rotation state
// (layout.RotationStateFile, package admins) and returns it with the
// entries of what the finished rotation retired removed, or nil when it
// holds none of them.
func (t *tree) marksToClear(v *view, rr *RootRecord) (*admins.RotationState, []string, error) {
	s, err := admins.ReadRotationState(t.d)
	if err != nil {
		return nil, nil, err
	}
	var done []string
	for _, f := range v.retired(rr) {
		if slices.ContainsFunc(s.Compromised, func(c admins.Compromised) bool { return c.File == f }) {
			s.Done(f)
			done = append(done, f)
		}
	}
	if len(done) == 0 {
		return nil, nil, nil
	}
	return s, done, nil
}

// clearMarks puts the rotation state without what the finished rotation
// retired in the step's batch (last: the marks go only once the step's
// files are in place).
func (t *tree) clearMarks(v *view, rr *RootRecord, w *work) error {
	s, done, err := t.marksToClear(v, rr)
	if err != nil || s == nil {
		return err
	}
	f, err := s.File()
	if err != nil {
		return err
	}
	f.Stage = stageCleanup
	what := fmt.Sprintf("rotated: %s no longer marked for rotation", strings.Join(done, ", "))
	if f.Remove {
		w.removes = append(w.removes, f.Rel)
		w.what[f.Rel] = what
		return nil
	}
	w.put(f, what)
	return nil
}

// notePods keeps which static Pod manifests bulwark did not render
// (provision's refresh leaves them alone): their components are
// restarted by hand.
func (t *tree) notePods(sum provision.Summary) {
	if t.foreign == nil {
		t.foreign = map[string]bool{}
	}
	for _, r := range sum {
		if r.Note == provision.NoteForeign {
			t.foreign[r.File] = true
		}
	}
}
