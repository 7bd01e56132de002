package rotate

import (
	"fmt"

	"github.com/bulwark-k8s/bulwark/expiry"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/store"
)

// ExpiryNotes marks the CAs of an expiry report (package expiry) by their
// part in a rotation: the old and the new CA of a rotation in progress (two
// CAs in a trust file are expected then) get a note, and a CA still trusted
// outside any rotation, such as the old CA a finished rotation left, gets
// the Stale status. A folder whose keys cannot be read leaves the report as
// it is.
func ExpiryNotes(d *store.Dir, p *plan.Plan, entries []expiry.Entry) {
	roles, err := KeyRoles(d, p)
	if err != nil {
		return // the keys do not read (sealed at rest, or broken): expiry alone
	}
	for i := range entries {
		e := &entries[i]
		r, ok := roles[e.Key]
		if !ok || !e.CA {
			continue
		}
		switch r.Role {
		case RoleOld:
			e.Note = fmt.Sprintf("old %s CA: trusted until the rotation finishes (at %s)", r.Root, r.Step)
		case RoleNew:
			e.Note = fmt.Sprintf("new %s CA: rotation at %s", r.Root, r.Step)
		case RoleStale:
			e.Note = fmt.Sprintf("still trusted, but no rotation of %s is in progress: remove it, see `bulwark rotate status`", r.Root)
			if r.Step == Finish {
				e.Note = fmt.Sprintf("the old %s CA, still trusted after the rotation's finish started: run `bulwark rotate %s` again", r.Root, r.Root)
			}
			if e.Status == expiry.OK || e.Status == expiry.Expiring {
				e.Status = expiry.Stale
			}
		}
	}
}
