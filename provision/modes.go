package provision

import (
	"fmt"
	"io/fs"

	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/store"
)

// Loose is a file or folder whose mode allows more than the layout does.
type Loose struct {
	Rel  string
	Dir  bool
	Mode fs.FileMode // as found
	Want fs.FileMode // with the extra bits taken away
}

// looseDirBits are what a folder of the cluster must not allow: writing by
// anyone but its owner, which would let them replace any file in it.
// (kubeadm's own folders are 0755; listing names is not reading keys.)
const looseDirBits = layout.GroupWrite | layout.OtherWrite

// LooseModes lists every file of a known kind whose mode allows more than
// its kind's (a world-readable key, a group-writable certificate) and
// every folder, the root included, that others may write to. A symbolic
// link, named pipe, socket or device anywhere is the store's
// *UnsafeError.
func LooseModes(d *store.Dir) ([]Loose, error) {
	entries, err := d.Scan()
	if err != nil {
		return nil, err
	}
	var out []Loose
	for _, e := range entries {
		var extra fs.FileMode
		if e.Dir {
			extra = e.Mode & looseDirBits
		} else if kind := layout.Classify(e.Rel); kind != layout.Unknown && kind != layout.Mounted {
			extra = e.Mode &^ kind.Mode()
		}
		if extra != 0 {
			out = append(out, Loose{Rel: e.Rel, Dir: e.Dir, Mode: e.Mode, Want: e.Mode &^ extra})
		}
	}
	return out, nil
}

// fixModes tightens files and folders whose modes are looser than the
// layout allows, in the batch (undone if it fails), each with a Result.
func fixModes(d *store.Dir, b *store.Batch) (Summary, error) {
	loose, err := LooseModes(d)
	if err != nil {
		return nil, err
	}
	var out Summary
	for _, l := range loose {
		b.Chmod(l.Rel, l.Dir, l.Want)
		out = append(out, Result{File: l.Rel, Action: Fixed, Note: fmt.Sprintf("mode %04o -> %04o", l.Mode, l.Want)})
	}
	return out, nil
}
