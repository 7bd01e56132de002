package rotate

import (
	"bytes"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
)

// Result is what a step did and what the operator does next.
type Result struct {
	Root string `json:"root"`
	Step Step   `json:"step"`
	// Resumed: the step had been started by an earlier run.
	Resumed bool `json:"resumed,omitempty"`
	// AlreadyComplete: the step was complete; nothing was written.
	AlreadyComplete bool        `json:"alreadyComplete,omitempty"`
	Old             string      `json:"old"`
	New             string      `json:"new"`
	Changes         []Change    `json:"changes"`
	Nodes           []NodeFiles `json:"nodes"`
	Pods            []PodEffect `json:"pods"`
	Probes          []Probe     `json:"probes,omitempty"`
	// Next is the command that comes next, and what must hold first.
	Next string `json:"next"`
}

// Advance takes one root one step: it finishes the step in progress, or
// starts the next (Options.Step pins which). The caller holds the
// folder's lock. An InputError or a Refusal means nothing was written.
func Advance(d *store.Dir, p *plan.Plan, root string, o Options) (*Result, error) {
	if !slices.Contains(p.Roots(), root) {
		return nil, inputErr("unknown root %q (want one of %s)", root, join(p.Roots()))
	}
	t, err := loadTree(d, p)
	if err != nil {
		return nil, err
	}
	v, err := t.loadView(root)
	if err != nil {
		return nil, err
	}
	pending, err := v.check()
	if err != nil {
		return nil, err
	}
	// A step is complete once the static Pods' checksums follow its files.
	stale, err := t.staleManifests()
	if err != nil {
		return nil, err
	}
	if v.step() != None && len(pending) == 0 {
		pending = stale
	}
	if v.last != nil && len(stale) > 0 && (o.Step == None || o.Step == Finish) {
		// A finish killed before its manifests: write them.
		w := &work{t: t, what: map[string]string{}}
		if err := t.stampPods(w); err != nil {
			return nil, err
		}
		changed, err := t.commit(w)
		if err != nil {
			return nil, err
		}
		res := &Result{Root: root, Step: Finish, Resumed: true, Old: "-", New: v.old.describe(), Changes: w.changes(), Next: nextCommand(root, Finish)}
		res.Nodes, res.Pods = t.distribute(changed)
		return res, nil
	}
	cur := v.step()
	complete := cur == None || len(pending) == 0
	s := o.Step
	switch {
	case s == None && complete:
		s = cur.next()
	case s == None:
		s = cur
	case s == cur && complete, s == Finish && cur == None && v.last != nil:
		r := &Result{Root: root, Step: s, AlreadyComplete: true}
		r.Next = nextCommand(root, s)
		return r, nil
	case s == cur:
	case s == cur.next() && !complete:
		return nil, inputErr("%s: the %s step is not complete (%d files still to change, e.g. %s): run `bulwark rotate %s --step %s` again first",
			root, cur, len(pending), pending[0], root, cur)
	case s != cur.next():
		return nil, inputErr("%s: step %s out of order: %s is at %s; the next step is %s", root, s, root, describeStep(cur, complete), cur.next())
	}
	fresh := s != cur
	now := o.now()
	res := &Result{Root: root, Step: s, Resumed: !fresh}
	if fresh && s == Trust {
		// A new rotation: the key that signs now is the old one.
		v.rec, v.old, v.new, v.leaves, v.kcs = nil, v.signing(), nil, nil, nil
		v.findLeaves(t)
		if err := t.checkSigners(v); err != nil {
			return nil, err
		}
	}
	if fresh && o.Live != nil {
		probes, err := o.Live.ready(t, v, s.prev())
		res.Probes = probes
		if err != nil {
			return res, err
		}
	}
	seen := false
	if fresh && s == Finish && o.Live != nil && v.rec != nil && v.rec.ReissueLive == nil {
		// The first time every component is seen using the reissue: for sa,
		// the old key signs no token from then on.
		at := now.UTC().Truncate(time.Second)
		v.rec.ReissueLive, seen = &at, true
	}
	if fresh && s == Finish && !o.Force && (v.root == plan.RootServiceAccount || v.root == plan.RootCluster) {
		gate := t.tokenGate
		if v.root == plan.RootCluster {
			gate = func(v *view, now time.Time, _ *Live) error { return t.kubeletGate(v, now) }
		}
		if err := gate(v, now, o.Live); err != nil {
			if seen {
				// Only the record changes: when the new key was seen in use,
				// which the wait is counted from.
				if werr := t.writeRecord(root, v.rec); werr != nil {
					return res, werr
				}
			}
			return res, err
		}
	}
	w := &work{t: t, what: map[string]string{}}
	if err := v.bring(s, w, o, now); err != nil {
		return nil, err
	}
	// The record, first of all.
	rec := t.rec.clone()
	rr := &RootRecord{}
	if v.rec != nil && !(fresh && s == Trust) {
		*rr = *v.rec
	}
	rr.Step, rr.Old, rr.New = s, v.old.fp, v.new.fp
	if fresh || rr.started(s) == nil {
		rr.setStarted(s, now)
	}
	rec.Roots[root] = rr
	if cur := t.rec.Roots[root]; cur == nil || *cur != *rr || fresh {
		data, err := rec.marshal()
		if err != nil {
			return nil, err
		}
		w.write(layout.RotationFile, data, stageRecord, false, fmt.Sprintf("%s: %s step, old %s, new %s", root, s, short(rr.Old), short(rr.New)))
	}
	if err := t.stampPods(w); err != nil {
		return nil, err
	}
	changed, err := t.commit(w)
	if err != nil {
		return nil, err
	}
	res.Old, res.New = v.old.describe(), v.new.describe()
	res.Changes = w.changes()
	res.Nodes, res.Pods = t.distribute(changed)
	res.Next = nextCommand(root, s)
	return res, nil
}

// stampPods brings every static Pod manifest's inputs checksum up to date
// with the files the step writes: the kubelet restarts the Pods whose
// start-time inputs changed. Manifests go last.
func (t *tree) stampPods(w *work) error {
	pending := map[string][]byte{}
	for _, f := range w.files {
		pending[f.Rel] = f.Data
	}
	read := func(rel string) ([]byte, error) {
		if data, ok := pending[rel]; ok {
			return data, nil
		}
		if slices.Contains(w.removes, rel) {
			return nil, fs.ErrNotExist
		}
		if layout.Classify(rel).Secret() {
			return t.d.ReadSecret(rel)
		}
		return t.d.Read(rel)
	}
	root := t.hostRoot()
	for _, f := range t.files {
		if layout.Classify(f) != layout.Manifest {
			continue
		}
		have, err := t.d.Read(f)
		if err != nil {
			return fmt.Errorf("failed to read %s: %w", f, err)
		}
		data, err := render.Stamp(have, root, read)
		if err != nil {
			return err
		}
		if !bytes.Equal(data, have) {
			w.write(f, data, stageManifests, false, "inputs checksum: the kubelet restarts the Pod")
		}
	}
	return nil
}

// staleManifests lists the manifests whose inputs checksum does not match
// the files as they are.
func (t *tree) staleManifests() ([]string, error) {
	w := &work{t: t, what: map[string]string{}}
	if err := t.stampPods(w); err != nil {
		return nil, err
	}
	var out []string
	for _, f := range w.files {
		out = append(out, f.Rel)
	}
	return out, nil
}

// writeRecord writes the record with one root's entry replaced.
func (t *tree) writeRecord(root string, rr *RootRecord) error {
	rec := t.rec.clone()
	cp := *rr
	rec.Roots[root] = &cp
	data, err := rec.marshal()
	if err != nil {
		return err
	}
	return t.d.WriteBatch([]store.File{{Rel: layout.RotationFile, Data: data, Replace: true}})
}

// commit writes a step's files in one batch, then removes what it
// removes. It returns every file changed.
func (t *tree) commit(w *work) ([]string, error) {
	if len(w.files) == 0 && len(w.removes) == 0 {
		return nil, nil
	}
	if err := t.d.WriteBatch(w.files); err != nil {
		return nil, err
	}
	for _, f := range w.removes {
		if err := t.d.Remove(f); err != nil {
			return nil, err
		}
	}
	var changed []string
	for _, f := range w.files {
		changed = append(changed, f.Rel)
	}
	return append(changed, w.removes...), nil
}

// checkSigners refuses to start rotating the cluster CA while a
// controller manager signs from a file that will hold two CAs: it would
// stop signing (kubeadm#1350).
func (t *tree) checkSigners(v *view) error {
	if v.signerFile == "" {
		return nil
	}
	root := t.hostRoot()
	for _, pd := range t.pods() {
		if pd.component != hardening.ControllerManager {
			continue
		}
		for name, value := range pd.flags {
			if rel, ok := under(root, value); ok && rel == v.trustFile && len(name) > len("cluster-signing-") && name[:len("cluster-signing-")] == "cluster-signing-" {
				return disagree("%s: --%s names %s, which will hold two CAs during the rotation, and the controller manager refuses a signing file with more than one (kubeadm#1350): run `bulwark render --dir %s` first, so that it signs from %s",
					pd.manifest, name, v.trustFile, t.d.Root(), v.signerFile)
			}
		}
	}
	return nil
}

func describeStep(s Step, complete bool) string {
	if s == None {
		return "no rotation"
	}
	if complete {
		return s.String() + " (complete)"
	}
	return s.String() + " (in progress)"
}

// nextCommand says what comes after step s.
func nextCommand(root string, s Step) string {
	switch s {
	case Trust:
		return fmt.Sprintf("copy the files to the nodes; once every component trusts the new %[2]s (`bulwark rotate status --live` says so), run `bulwark rotate %[1]s` (reissue)", root, kindOf(root))
	case Reissue:
		return fmt.Sprintf("copy the files to the nodes and give the administrators their new kubeconfigs; once every component uses them, run `bulwark rotate %s` (finish)", root)
	}
	return fmt.Sprintf("copy the files to the nodes; %s is rotated (the old %s is trusted nowhere once they are in place)", root, kindOf(root))
}

func kindOf(root string) string {
	if root == plan.RootServiceAccount {
		return "key"
	}
	return "CA"
}

func join(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}
