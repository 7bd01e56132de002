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
	writes, sum, err := prepareRender(d, p, o, opts)
	if err != nil {
		return nil, err
	}
	if err := d.WriteBatch(writes); err != nil {
		return nil, err
	}
	return sortSummary(sum), nil
}

func prepareRender(d *store.Dir, p *plan.Plan, o render.Options, opts Options) ([]store.File, Summary, error) {
	files, err := render.Derived(p, o)
	if err != nil {
		return nil, nil, err
	}
	var (
		writes []store.File
		sum    Summary
	)
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
		writes = append(writes, store.File{Rel: enc, Data: data, Secret: true})
		sum = append(sum, Result{File: enc, Action: Created})
	}
	for _, f := range files {
		have, err := d.Read(f.Path)
		switch {
		case err == nil && bytes.Equal(have, f.Data):
			sum = append(sum, Result{File: f.Path, Action: Kept})
		case err == nil:
			writes = append(writes, store.File{Rel: f.Path, Data: f.Data, Replace: true})
			sum = append(sum, Result{File: f.Path, Action: Renewed})
		default:
			writes = append(writes, store.File{Rel: f.Path, Data: f.Data})
			sum = append(sum, Result{File: f.Path, Action: Created})
		}
	}
	return writes, sum, nil
}
