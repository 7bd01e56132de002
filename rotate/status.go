package rotate

import (
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-k8s/bulwark/admins"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/store"
)

// RootStatus is where one root's rotation is, as the files show it.
type RootStatus struct {
	Root string `json:"root"`
	// Step is the step written last (None: not being rotated).
	Step Step `json:"step"`
	// Complete: every file is as Step leaves it. Otherwise Pending lists
	// what a run of the same step still changes.
	Complete bool     `json:"complete"`
	Pending  []string `json:"pending,omitempty"`
	// Old is the key being replaced (or, not rotating, the one in use);
	// New its successor.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	// Since is when Step was started; Finished when the last rotation
	// ended (not rotating).
	Since    *time.Time `json:"since,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
	// Next is the step the next `bulwark rotate ROOT` runs.
	Next Step `json:"next"`
	// Absent: the folder has no trust file for this root (kubeadm's has
	// no etcd peer CA; its peers trust etcd-ca).
	Absent bool `json:"absent,omitempty"`
	// Problem, when the files disagree with the record: nothing can be
	// done until it is fixed.
	Problem string `json:"problem,omitempty"`
	// FinishAllowed (sa and ca, reissue complete) is when nothing the old
	// key signed can still be in use: service-account tokens by their
	// maximum lifetime, kubelets' client certificates by the controller
	// manager's --cluster-signing-duration.
	FinishAllowed *time.Time `json:"finishAllowed,omitempty"`
	// Compromised names why this root must be rotated (an administrator
	// who held its key was removed), when that is recorded.
	Compromised []string `json:"compromised,omitempty"`
	// Blocked says why the root cannot start a rotation yet.
	Blocked string `json:"blocked,omitempty"`
	// Probes are the live checks of the step so far, with --live.
	Probes []Probe `json:"probes,omitempty"`
	// Live: every probe passed.
	Live *bool `json:"live,omitempty"`
	// Unchecked: the folder's secrets are encrypted at rest and were not
	// read; Step is the record's, not checked against the files.
	Unchecked bool `json:"unchecked,omitempty"`
}

// Rotating reports whether a rotation is in progress (trust or reissue
// written, or a finish not complete): then two keys are trusted on
// purpose.
func (s RootStatus) Rotating() bool {
	return s.Problem == "" && s.Step != None && !(s.Step == Finish && s.Complete)
}

// StatusOptions of Status.
type StatusOptions struct {
	Now  time.Time
	Live *Live
	// Sealed: the folder's secrets are encrypted at rest and this run
	// cannot open them. Only the record and the public files are read:
	// each root's recorded step, unchecked.
	Sealed bool
}

// Status reports every root of the folder. It reads only.
func Status(d *store.Dir, p *plan.Plan, o StatusOptions) ([]RootStatus, error) {
	if o.Sealed {
		return sealedStatus(d, p)
	}
	t, err := loadTree(d, p, provision.Options{Now: func() time.Time { return o.Now }})
	if err != nil {
		return nil, err
	}
	var (
		out   []RootStatus
		stale []string
		read  bool
	)
	for _, root := range p.Roots() {
		st := RootStatus{Root: root}
		v, err := t.loadView(root)
		var absent *absentError
		if errors.As(err, &absent) {
			st.Absent, st.Complete = true, true
			out = append(out, st)
			continue
		}
		if err != nil {
			if !IsInputError(err) {
				return nil, err
			}
			st.Problem = err.Error()
			out = append(out, st)
			continue
		}
		pending, err := v.check()
		st.Step = v.step()
		if err != nil {
			st.Problem = err.Error()
			out = append(out, st)
			continue
		}
		if (st.Step != None || v.last != nil) && len(pending) == 0 {
			if !read {
				if stale, err = t.stalePods(); err != nil {
					return nil, err
				}
				read = true
			}
			pending = stale
		}
		st.Complete = len(pending) == 0
		st.Pending = pending
		st.Old, st.New = v.old.describe(), ""
		if v.new != nil {
			st.New = v.new.describe()
		}
		if v.rec != nil {
			st.Since = v.rec.started(v.rec.Step)
		}
		if v.last != nil {
			// The last rotation finished: the record says so.
			st.Step, st.Finished = Finish, v.last.Finish
			st.Since = v.last.Finish
			// The key in use is the rotation's new one; the old one is gone.
			st.Old, st.New = short(v.last.Old)+" (trusted nowhere)", v.old.describe()
		}
		st.Next = st.Step.next()
		if !st.Complete && st.Step != None {
			st.Next = st.Step
		}
		if st.Step == Reissue && st.Complete {
			if at, ok := t.finishAllowedAt(v); ok {
				st.FinishAllowed = &at
			}
		}
		st.Compromised = compromised(d, p, root)
		if st.Step == None || (st.Step == Finish && st.Complete) {
			if err := t.checkSigners(v); err != nil {
				st.Blocked = err.Error()
			}
		}
		if o.Live != nil && st.Step != None {
			probes, err := o.Live.ready(t, v, st.Step)
			st.Probes = probes
			ok := err == nil
			st.Live = &ok
		}
		out = append(out, st)
	}
	return out, nil
}

// compromised lists why a root must be rotated: its key (a CA's, or the
// service-account key) is marked in the administrators' rotation state
// (package admins: what a removed administrator could read).
func compromised(d *store.Dir, p *plan.Plan, root string) []string {
	s, err := admins.ReadRotationState(d)
	if err != nil {
		return []string{err.Error()}
	}
	key, next := plan.ServiceAccountKeyFile, layout.NextKeyFile(plan.RootServiceAccount)
	if ca, ok := p.CAOfRoot(root); ok {
		key, next = ca.KeyFile(), layout.NextKeyFile(ca.Name)
	}
	var out []string
	for _, c := range s.Compromised {
		if c.File == key || c.File == next {
			out = append(out, fmt.Sprintf("%s could be read by %s since %s (%s)", c.File, c.Holder, c.Since.UTC().Format(time.RFC3339), c.Reason))
		}
	}
	return out
}

// sealedStatus is Status without the secrets: each root's step as the
// record says, not checked against the files.
func sealedStatus(d *store.Dir, p *plan.Plan) ([]RootStatus, error) {
	rec, err := readRecord(d)
	if err != nil {
		return nil, err
	}
	var out []RootStatus
	for _, root := range p.Roots() {
		st := RootStatus{Root: root, Unchecked: true, Compromised: compromised(d, p, root)}
		if rr := rec.Roots[root]; rr != nil {
			st.Step, st.Since = rr.Step, rr.started(rr.Step)
			st.Old, st.New = short(rr.Old), short(rr.New)
			if rr.Step == Finish {
				st.Finished = rr.Finish
			}
		}
		st.Next = st.Step.next()
		out = append(out, st)
	}
	return out, nil
}

// Roles of a key in the folder's trust files.
const (
	RoleSigning = "signing" // the root's one key, not rotating
	RoleOld     = "old"     // being rotated out: trusted until finish
	RoleNew     = "new"     // rotating in
	RoleStale   = "stale"   // trusted outside any rotation: a finding
)

// KeyRole is what a CA (or service-account key) of a trust file is for.
type KeyRole struct {
	Root string
	Role string
	Step Step
}

// KeyRoles says, for every key of the folder's trust files (by
// pki.Fingerprint), what part it plays: the root's signing key, the old
// or new key of a rotation in progress, or a stale key trusted outside
// any rotation (an old CA left behind, or still there once the finish
// step has started). Expiry reports and audits read it,
// so that two CAs during a rotation are no finding and a leftover is.
func KeyRoles(d *store.Dir, p *plan.Plan) (map[string]KeyRole, error) {
	t, err := loadTree(d, p, provision.Options{})
	if err != nil {
		return nil, err
	}
	out := map[string]KeyRole{}
	for _, root := range p.Roots() {
		v, err := t.loadView(root)
		if err != nil {
			if IsInputError(err) {
				continue
			}
			return nil, err
		}
		_, cerr := v.check()
		rotating := cerr == nil && v.rec != nil
		for _, a := range v.trust {
			role := KeyRole{Root: root, Role: RoleStale, Step: v.step()}
			switch {
			case rotating && v.old != nil && a.fp == v.old.fp && v.step() != Finish:
				role.Role = RoleOld
			case rotating && v.new != nil && a.fp == v.new.fp:
				role.Role = RoleNew
			case !rotating && a.fp == v.signing().fp && (len(v.trust) == 1 || v.key != nil):
				role.Role = RoleSigning
			}
			out[a.fp] = role
		}
		if v.nextCert != nil && rotating {
			out[Fingerprint(v.nextCert.PublicKey)] = KeyRole{Root: root, Role: RoleNew, Step: v.step()}
		}
	}
	return out, nil
}

// Unfinished is a root whose last step was written only in part (a run
// killed or failed on the way): its trust files and certificates are
// between two states until the same step is run again.
type Unfinished struct {
	Root    string
	Step    Step
	Pending []string // what a run of the same step still changes
}

// Rotations is what the folder's recorded rotations mean to the other
// commands.
type Rotations struct {
	// Keys gives, for each CA whose rotation is recorded at its trust or
	// reissue step, or at a finish not yet complete (audit names that
	// pki:trust-after-finish), and whose files agree with the record, the
	// keys its trust file may hold: the old and the new CA's (package
	// trust's Input.Rotating: any other certificate in a CA's file is an
	// extra CA); under "sa", the service-account keys sa.pub may hold.
	Keys map[string][]crypto.PublicKey
	// Unfinished are the roots left part-way through a step. Commands
	// other than rotate must not write the folder then: what they would
	// judge as a problem (a CA file holding two CAs, a leaf of the other
	// CA) is the step's work half done, and only the step completes it.
	Unfinished []Unfinished
}

// InProgress reads the folder's rotations in one pass. A folder with no
// rotation recorded, or one rotate cannot read, gives none.
func InProgress(d *store.Dir, p *plan.Plan) Rotations {
	var out Rotations
	if ok, err := d.Exists(layout.RotationFile); err != nil || !ok {
		return out // no rotation recorded: nothing to read
	}
	t, err := loadTree(d, p, provision.Options{})
	if err != nil {
		return out
	}
	out.Keys = map[string][]crypto.PublicKey{}
	names := map[string]string{plan.RootServiceAccount: plan.RootServiceAccount}
	for _, ca := range p.CAs {
		names[ca.Root] = ca.Name
	}
	for _, root := range p.Roots() {
		v, err := t.loadView(root)
		if err != nil || v.step() == None {
			continue
		}
		pending, err := v.check()
		if err != nil {
			continue
		}
		if len(pending) > 0 {
			out.Unfinished = append(out.Unfinished, Unfinished{Root: root, Step: v.step(), Pending: pending})
		}
		if name, ok := names[root]; ok && v.rec != nil && v.old != nil && v.new != nil && (v.step() != Finish || len(pending) > 0) {
			out.Keys[name] = []crypto.PublicKey{v.old.pub, v.new.pub}
		}
	}
	return out
}
