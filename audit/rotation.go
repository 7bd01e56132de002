package audit

import (
	"fmt"

	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/rotate"
)

// checkRotation reads the trust roots' rotations (package rotate): two
// CAs in a trust file are expected during a rotation's trust and reissue
// steps, and a finding outside one (an old CA still trusted after a
// finish, or a bundle nobody recorded); files that disagree with the
// rotation record are a finding too.
func (n *node) checkRotation(r *Report) {
	sts, err := rotate.Status(n.dir, n.plan, rotate.StatusOptions{Now: n.opts.Now})
	if err != nil {
		return
	}
	for _, s := range sts {
		if s.Absent {
			continue
		}
		r.Checked++
		switch {
		case s.Problem != "":
			r.add(Finding{ID: "pki:trust-outside-rotation", Severity: hardening.High,
				Title:       "a trust root's files do not match its rotation: an old CA or key may still be trusted",
				Evidence:    Evidence{File: layout.RotationFile, Detail: s.Problem},
				Remediation: fmt.Sprintf("see `bulwark rotate status`; finish the rotation (`bulwark rotate %s`) or remove the stray CA from the trust file", s.Root)})
		case s.Step == rotate.Finish && !s.Complete:
			r.add(Finding{ID: "pki:trust-after-finish", Severity: hardening.High,
				Title:       fmt.Sprintf("%s's rotation finish has started but the old %s is still trusted", s.Root, kindOfRoot(s.Root)),
				Evidence:    Evidence{File: layout.RotationFile, Detail: fmt.Sprintf("files still to change: %v", s.Pending)},
				Remediation: fmt.Sprintf("run `bulwark rotate %s` again and copy the files to the nodes", s.Root)})
		case s.Rotating():
			r.add(Finding{ID: "pki:rotation-in-progress", Severity: hardening.Info,
				Title:       fmt.Sprintf("%s is being rotated: its trust file holds the old and the new %s on purpose", s.Root, kindOfRoot(s.Root)),
				Evidence:    Evidence{File: layout.RotationFile, Detail: fmt.Sprintf("step %s (complete: %v); old %s, new %s", s.Step, s.Complete, s.Old, s.New)},
				Remediation: fmt.Sprintf("finish it: `bulwark rotate %s` until `bulwark rotate status` says rotated", s.Root)})
		}
	}
}

func kindOfRoot(root string) string {
	if root == plan.RootServiceAccount {
		return "key"
	}
	return "CA"
}
