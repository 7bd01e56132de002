package audit

import (
	"fmt"
	"strings"

	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/rotate"
)

// Rules of a trust root's rotation (package rotate).
const (
	idTrustOutsideRotation = "pki:trust-outside-rotation"
	idTrustAfterFinish     = "pki:trust-after-finish"
	idRotationInProgress   = "pki:rotation-in-progress"
)

func rotationRules() []finding.Rule {
	return []finding.Rule{
		r(idTrustOutsideRotation, finding.High, "", "a trust root's files do not match its rotation: an old CA or key may still be trusted",
			"see `bulwark rotate status`; finish the rotation (`bulwark rotate ROOT`) or remove the stray CA from the trust file"),
		r(idTrustAfterFinish, finding.High, "", "a rotation's finish has started but the old CA or key is still trusted: what it signed still works",
			"run `bulwark rotate ROOT` again and copy the files it lists to the nodes"),
		r(idRotationInProgress, finding.Info, "", "a trust root is being rotated: its trust files hold the old and the new CA (or key) on purpose",
			"finish it: `bulwark rotate ROOT` until `bulwark rotate status` says rotated"),
	}
}

// checkRotation reads the trust roots' rotations (package rotate): two
// CAs in a trust file are expected during a rotation's trust and reissue
// steps, and a finding outside one (an old CA still trusted after a
// finish, or a bundle nobody recorded); files that disagree with the
// rotation record are a finding too. A folder rotate cannot read (no
// configuration, secrets sealed) is left to the other checks.
func (a *auditor) checkRotation() {
	if a.plan == nil || a.defaulted {
		return
	}
	sts, err := rotate.Status(a.dir, a.plan, rotate.StatusOptions{Now: a.opts.Now})
	if err != nil {
		return
	}
	for _, s := range sts {
		if s.Absent {
			continue
		}
		a.r.Check(idTrustOutsideRotation)
		var f finding.Finding
		switch {
		case s.Problem != "":
			f = newFinding(idTrustOutsideRotation, nil, finding.Evidence{File: layout.RotationFile, Detail: fmt.Sprintf("%s: %s", s.Root, s.Problem)})
		case s.Step == rotate.Finish && !s.Complete:
			f = newFinding(idTrustAfterFinish, nil, finding.Evidence{File: layout.RotationFile,
				Detail: fmt.Sprintf("%s: the old %s is still trusted; files still to change: %s", s.Root, kindOfRoot(s.Root), strings.Join(s.Pending, ", "))})
		case s.Rotating():
			f = newFinding(idRotationInProgress, nil, finding.Evidence{File: layout.RotationFile,
				Detail: fmt.Sprintf("%s: step %s (complete: %v); old %s, new %s", s.Root, s.Step, s.Complete, s.Old, s.New)})
		default:
			continue
		}
		f.Remediation = strings.ReplaceAll(f.Remediation, "ROOT", s.Root)
		a.r.Add(f)
	}
}

func kindOfRoot(root string) string {
	if root == plan.RootServiceAccount {
		return "key"
	}
	return "CA"
}
