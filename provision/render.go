package provision

import (
	"bytes"

	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
)

// Render writes the rendered configuration. Files that follow from the
// plan are brought up to date (created, replaced when different, kept when
// equal); the encryption configuration holds a key, so it is made once and
// then only checked. Nothing is written if any check fails.
func Render(d *store.Dir, p *plan.Plan, o render.Options, opts Options) (Summary, error) {
	files, err := render.Derived(p, o)
	if err != nil {
		return nil, err
	}
	writes, sum, err := prepareRender(d, files, rootOf(o), opts, func(rel string) ([]byte, error) { return readPlain(d, rel) })
	if err != nil {
		return nil, err
	}
	if err := d.WriteBatch(writes); err != nil {
		return nil, err
	}
	return sortSummary(sum), nil
}

// rootOf is where the folder sits on the nodes.
func rootOf(o render.Options) string {
	if o.Root == "" {
		return layout.DefaultRoot
	}
	return o.Root
}

// readPlain reads a file of the folder, opening it if it is a secret.
func readPlain(d *store.Dir, rel string) ([]byte, error) {
	if layout.Classify(rel).Secret() {
		return d.ReadSecret(rel)
	}
	return d.Read(rel)
}

// prepareRender compares rendered files with the folder. Each static Pod
// manifest gets its inputs checksum (render.Stamp) from the files as read
// gives them: those a batch is about to write, else the folder's.
func prepareRender(d *store.Dir, files []render.File, root string, opts Options, read render.Reader) ([]store.File, Summary, error) {
	var (
		writes []store.File
		sum    Summary
	)
	pending := map[string][]byte{}
	enc := layout.EncryptionConfigFile
	ok, err := d.Exists(enc)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		data, err := d.ReadSecret(enc)
		if err != nil {
			return nil, nil, &Problem{File: enc, Reason: "cannot be read: " + err.Error()}
		}
		if err := render.ParseEncryptionConfig(data); err != nil {
			return nil, nil, &Problem{File: enc, Reason: err.Error() + " (fix it by hand: its key decrypts every Secret in etcd)"}
		}
		sum = append(sum, Result{File: enc, Action: Kept})
	} else {
		data, err := render.EncryptionConfig(opts.rand())
		if err != nil {
			return nil, nil, err
		}
		writes = append(writes, store.File{Rel: enc, Data: data, Secret: true, Stage: stageRendered})
		sum = append(sum, Result{File: enc, Action: Created})
		pending[enc] = data
	}
	for _, f := range files {
		if layout.Classify(f.Path) != layout.Manifest {
			pending[f.Path] = f.Data
		}
	}
	own := func(rel string) ([]byte, error) {
		if data, ok := pending[rel]; ok {
			return data, nil
		}
		return read(rel)
	}
	for _, f := range files {
		stage := stageRendered
		if layout.Classify(f.Path) == layout.Manifest {
			stage = stageManifests
			if f.Data, err = render.Stamp(f.Data, root, own); err != nil {
				return nil, nil, err
			}
		}
		have, err := d.Read(f.Path)
		switch {
		case err == nil && bytes.Equal(have, f.Data):
			sum = append(sum, Result{File: f.Path, Action: Kept})
		case err == nil:
			writes = append(writes, store.File{Rel: f.Path, Data: f.Data, Replace: true, Stage: stage})
			sum = append(sum, Result{File: f.Path, Action: Renewed})
		default:
			writes = append(writes, store.File{Rel: f.Path, Data: f.Data, Stage: stage})
			sum = append(sum, Result{File: f.Path, Action: Created})
		}
	}
	return writes, sum, nil
}
