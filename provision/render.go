package provision

import (
	"bytes"
	"errors"
	"strings"

	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
)

// Render writes the rendered configuration. Files that follow from the
// plan are brought up to date (created, replaced when different, kept when
// equal); the encryption configuration holds a key, so it is made once and
// then only checked. Nothing is written if any check fails. With
// opts.Derived the folder is checked as Init checks it first: bulwark
// renders nothing over a cluster it did not make.
func Render(d *store.Dir, p *plan.Plan, o render.Options, opts Options) (Summary, error) {
	if opts.Derived {
		if err := Check(d, p, opts); err != nil {
			var ps Problems
			if errors.As(err, &ps) && ps[0].Code == CodeForeign {
				return nil, err
			}
		}
	}
	writes, sum, err := prepareRender(d, p, o, opts)
	if err != nil {
		return nil, err
	}
	b := d.NewBatch()
	for _, f := range writes {
		b.Add(f)
	}
	fixed, err := fixModes(d, b)
	if err != nil {
		b.Discard()
		return nil, err
	}
	sum = append(sum, fixed...)
	if s := saveConfig(d, b, opts); s != nil {
		sum = append(sum, *s)
	}
	if err := b.Commit(); err != nil {
		return nil, err
	}
	return sortSummary(sum), nil
}

// initialised reports whether the folder has been set up with an
// encryption configuration before: an API server manifest of its names the
// file (manifests are written only after it is in place).
func initialised(d *store.Dir) (bool, error) {
	files, err := d.Walk(layout.ManifestsDir)
	if err != nil {
		return false, err
	}
	for _, f := range files {
		if !strings.HasSuffix(f, "/"+string(hardening.APIServer)+".yaml") {
			continue
		}
		data, err := d.Read(f)
		if err != nil {
			continue
		}
		if bytes.Contains(data, []byte("--encryption-provider-config=")) {
			return true, nil
		}
	}
	return false, nil
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
	data, err := readFile(d, enc, true)
	if err := firstFatal(err); err != nil {
		return nil, nil, err
	}
	switch {
	case err != nil:
		return nil, nil, Problems{{Code: CodeUnreadable, File: enc, Reason: reasonOf(err)}}
	case data != nil:
		if err := render.ParseEncryptionConfig(data); err != nil {
			return nil, nil, Problems{{Code: CodeEncryption, File: enc, Reason: err.Error() + " (fix it by hand: its key decrypts every Secret in etcd)"}}
		}
		sum = append(sum, Result{File: enc, Action: Kept})
	default:
		was, err := initialised(d)
		if err != nil {
			return nil, nil, err
		}
		if was {
			return nil, nil, Problems{{Code: CodeEncryption, File: enc, Reason: "is missing, but this folder's API server encrypts Secrets with it " +
				"(restore it from a backup: a new key would leave every Secret in etcd unreadable)"}}
		}
		data, err := render.EncryptionConfig(opts.rand())
		if err != nil {
			return nil, nil, err
		}
		writes = append(writes, store.File{Rel: enc, Data: data, Secret: true, Stage: stageKeys})
		sum = append(sum, Result{File: enc, Action: Created})
	}
	for _, f := range files {
		have, err := d.Read(f.Path)
		switch {
		case errors.Is(err, store.ErrUnsafe):
			return nil, nil, err
		case err == nil && bytes.Equal(have, f.Data):
			sum = append(sum, Result{File: f.Path, Action: Kept})
		case err == nil:
			writes = append(writes, store.File{Rel: f.Path, Data: f.Data, Replace: true, Stage: stageRendered})
			sum = append(sum, Result{File: f.Path, Action: Renewed})
		default:
			ok, eerr := d.Exists(f.Path)
			if eerr != nil {
				return nil, nil, eerr
			}
			writes = append(writes, store.File{Rel: f.Path, Data: f.Data, Replace: ok, Stage: stageRendered})
			sum = append(sum, Result{File: f.Path, Action: Created})
		}
	}
	return writes, sum, nil
}
