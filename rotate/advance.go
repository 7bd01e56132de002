package rotate

import (
	"fmt"
	"slices"
	"time"

	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
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
	t, err := loadTree(d, p, o.provisionOptions())
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
	// A step is complete once the static Pods follow its files: their
	// links made again, their manifests' checksums up to date.
	stale, err := t.stalePods()
	if err != nil {
		return nil, err
	}
	if v.step() != None && len(pending) == 0 {
		pending = stale
	}
	if v.last != nil && (o.Step == None || o.Step == Finish) {
		// A finish killed before its Pods' links and manifests, or before
		// the marks of what it retired were cleared: write them.
		w := &work{t: t, what: map[string]string{}}
		if err := t.clearMarks(v, v.last, w); err != nil {
			return nil, err
		}
		if len(stale) > 0 || len(w.files)+len(w.removes) > 0 {
			changed, err := t.commit(w)
			if err != nil {
				return nil, err
			}
			res := &Result{Root: root, Step: Finish, Resumed: true, Old: "-", New: v.old.describe(), Changes: w.changes(), Next: nextCommand(root, Finish)}
			res.Nodes, res.Pods = t.distribute(changed)
			return res, nil
		}
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
	if s == Reissue && o.NewKey {
		rr.NewKey = true
	}
	rec.Roots[root] = rr
	if cur := t.rec.Roots[root]; cur == nil || *cur != *rr || fresh {
		data, err := rec.marshal()
		if err != nil {
			return nil, err
		}
		w.write(layout.RotationFile, data, stageRecord, false, fmt.Sprintf("%s: %s step, old %s, new %s", root, s, short(rr.Old), short(rr.New)))
	}
	if s == Finish {
		// The keys this rotation replaced are no longer marked for
		// rotation (admins' record of what a removed administrator
		// could read).
		if err := t.clearMarks(v, rr, w); err != nil {
			return nil, err
		}
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

// stalePods lists the static Pods' links and manifests that do not
// follow the files as they are (provision.RefreshPods with no writes): a
// step killed after its files, before its Pods.
func (t *tree) stalePods() ([]string, error) {
	writes, _, err := provision.RefreshPods(t.d, t.p, nil, t.opts)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range writes {
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

// commit writes a step's files and removals in one batch, with what
// makes them reach the static Pods bulwark rendered (provision.RefreshPods:
// their links made again, their manifests' checksums, so the kubelet
// restarts the Pods that read a changed file only at start; manifests
// last). It returns every file changed; the Pods' writes are also kept
// in t.pods' notes.
func (t *tree) commit(w *work) ([]string, error) {
	batch := w.batch()
	pods, sum, err := provision.RefreshPods(t.d, t.p, batch, t.opts)
	if err != nil {
		return nil, err
	}
	t.notePods(sum)
	for _, f := range pods {
		w.pod(f)
	}
	batch = append(batch, pods...)
	if len(batch) == 0 {
		return nil, nil
	}
	if err := t.d.WriteBatch(batch); err != nil {
		return nil, err
	}
	var changed []string
	for _, f := range batch {
		changed = append(changed, f.Rel)
	}
	return changed, nil
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
