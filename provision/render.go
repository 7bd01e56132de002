package provision

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
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
	rd, err := render.Derived(p, o)
	if err != nil {
		return nil, err
	}
	rr, err := prepareRender(d, p, rd, opts, nil, nil)
	if err != nil {
		return nil, err
	}
	b := d.NewBatch()
	for _, f := range rr.writes {
		b.Add(f)
	}
	fixed, err := fixModes(d, b)
	if err != nil {
		b.Discard()
		return nil, err
	}
	sum := append(rr.sum, fixed...)
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
	var files []string
	for _, dir := range []string{layout.ManifestsDir, layout.NodesDir} {
		more, err := d.Walk(dir)
		if err != nil {
			return false, err
		}
		files = append(files, more...)
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

// Write stages of rendered files. A static Pod's links go with the
// certificates (the store makes a stage's links after its other files,
// so they can name keys, certificates and kubeconfigs of the same batch),
// and its manifest appears (or changes, which makes the kubelet recreate
// the Pod) once its links are in place.
const (
	stageLinks     = stageCerts
	stageManifests = stageCerts + 1
)

// Notes on a static Pod's manifest, after files under it were renewed.
const (
	NoteReloads   = "reloads by itself"
	NoteRestarted = "restarted by the kubelet (checksum changed)"
)

// renderRun is what prepareRender prepared.
type renderRun struct {
	writes []store.File
	sum    Summary
}

// prepareRender prepares the writes of a render. pending holds the
// plaintext of every file the same batch writes before the rendered ones
// (a run's new keys, certificates and kubeconfigs): the Pods' checksums
// and links take them as written. With only, just the static Pods whose
// manifests it names are brought up to date, and nothing else is
// rendered: what renew does.
func prepareRender(d *store.Dir, p *plan.Plan, r *render.Rendered, opts Options, pending map[string][]byte, only map[string]bool) (*renderRun, error) {
	existingOnly := only != nil
	rr := &renderRun{}
	pend := map[string][]byte{}
	for k, v := range pending {
		pend[k] = v
	}
	if !existingOnly {
		enc := layout.EncryptionConfigFile
		data, err := readFile(d, enc, true)
		if err := firstFatal(err); err != nil {
			return nil, err
		}
		switch {
		case err != nil:
			return nil, Problems{{Code: CodeUnreadable, File: enc, Reason: reasonOf(err)}}
		case data != nil:
			if err := render.ParseEncryptionConfig(data); err != nil {
				return nil, Problems{{Code: CodeEncryption, File: enc, Reason: err.Error() + " (fix it by hand: its key decrypts every Secret in etcd)"}}
			}
			rr.sum = append(rr.sum, Result{File: enc, Action: Kept})
		default:
			was, err := initialised(d)
			if err != nil {
				return nil, err
			}
			if was {
				return nil, Problems{{Code: CodeEncryption, File: enc, Reason: "is missing, but this folder's API server encrypts Secrets with it " +
					"(restore it from a backup: a new key would leave every Secret in etcd unreadable)"}}
			}
			data, err := render.EncryptionConfig(opts.rand())
			if err != nil {
				return nil, err
			}
			rr.writes = append(rr.writes, store.File{Rel: enc, Data: data, Secret: true, Stage: stageKeys})
			rr.sum = append(rr.sum, Result{File: enc, Action: Created})
			pend[enc] = data
		}
	}
	read := func(rel string) ([]byte, error) {
		if data, ok := pend[rel]; ok {
			return data, nil
		}
		ok, err := d.Exists(rel)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fs.ErrNotExist
		}
		if layout.Classify(rel).Secret() {
			return d.ReadSecret(rel)
		}
		return d.Read(rel)
	}
	files, err := r.Files(read)
	if err != nil {
		return nil, err
	}
	if !existingOnly {
		sum, err := earlierLayout(d, p)
		if err != nil {
			return nil, err
		}
		rr.sum = append(rr.sum, sum...)
	}
	manifests := map[string]render.Pod{}
	for _, pod := range r.Pods {
		manifests[pod.Manifest] = pod
	}
	// The other rendered files first: manifests' links may name them.
	slices.SortStableFunc(files, func(a, b render.File) int {
		_, am := manifests[a.Path]
		_, bm := manifests[b.Path]
		switch {
		case am == bm:
			return 0
		case bm:
			return -1
		}
		return 1
	})
	for _, f := range files {
		pod, isManifest := manifests[f.Path]
		have, err := d.Read(f.Path)
		if errors.Is(err, store.ErrUnsafe) {
			return nil, err
		}
		exists := err == nil
		if err != nil {
			if ok, xerr := d.Exists(f.Path); xerr != nil || ok {
				return nil, fmt.Errorf("failed to read %s: %w", f.Path, err)
			}
		}
		if existingOnly && (!isManifest || !exists || !only[f.Path]) {
			continue
		}
		stage := stageRendered
		if isManifest {
			stage = stageManifests
		}
		res := Result{File: f.Path}
		switch {
		case exists && bytes.Equal(have, f.Data):
			res.Action = Kept
		case exists:
			rr.writes = append(rr.writes, store.File{Rel: f.Path, Data: f.Data, Replace: true, Stage: stage})
			res.Action = Renewed
			if !isManifest {
				pend[f.Path] = f.Data
			}
		default:
			rr.writes = append(rr.writes, store.File{Rel: f.Path, Data: f.Data, Stage: stage})
			res.Action = Created
			if !isManifest {
				pend[f.Path] = f.Data
			}
		}
		if isManifest {
			linked, err := rr.link(d, pod, pend)
			if err != nil {
				return nil, err
			}
			if exists {
				res.Note = podNote(have, f.Data, linked)
			}
		}
		rr.sum = append(rr.sum, res)
	}
	return rr, nil
}

// link brings a Pod's folder of links up to date: a link for every input
// that exists (or is about to), made again where the input was replaced
// or is written in this batch; links to files the Pod no longer reads are
// noted as stale. It returns the inputs whose link it makes again.
func (rr *renderRun) link(d *store.Dir, pod render.Pod, pend map[string][]byte) ([]render.Input, error) {
	dirExists, err := d.Exists(pod.MountDir)
	if err != nil {
		return nil, err
	}
	var relinked []render.Input
	made, stale := 0, 0
	want := map[string]bool{}
	// A folder whose secrets are sealed holds no links: a link would give
	// the Pod ciphertext, and keep an old seal readable after the
	// recipients change. Its nodes get their Pods' folders from export.
	inputs := pod.Inputs
	if d.Sealed() {
		inputs = nil
	}
	for _, in := range inputs {
		link := pod.Link(in)
		want[link] = true
		_, pending := pend[in.File]
		if !pending {
			ok, err := d.Exists(in.File)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue // nothing to link yet: the Pod cannot start until init makes it
			}
		}
		exists, err := d.Exists(link)
		if err != nil {
			return nil, err
		}
		if exists && !pending {
			same, err := d.SameFile(link, in.File)
			if err != nil {
				return nil, err
			}
			if same {
				continue
			}
		}
		rr.writes = append(rr.writes, store.File{Rel: link, Link: in.File, Replace: exists, Stage: stageLinks})
		made++
		if exists {
			relinked = append(relinked, in)
		}
	}
	if dirExists {
		have, err := d.Walk(pod.MountDir)
		if err != nil {
			return nil, err
		}
		for _, f := range have {
			if !want[f] {
				rr.writes = append(rr.writes, store.File{Rel: f, Remove: true, Stage: stageManifests + 1})
				stale++
			}
		}
	}
	res := Result{File: pod.MountDir + "/", Action: Kept}
	switch {
	case !dirExists && made == 0:
		return nil, nil // none of its files exists yet
	case !dirExists:
		res.Action = Created
	case made > 0 || stale > 0:
		res.Action = Renewed
	}
	rr.sum = append(rr.sum, res)
	return relinked, nil
}

// podNote says how a running Pod takes the inputs renewed under it: a
// new manifest makes the kubelet recreate it; otherwise it reads the
// replaced files by itself.
func podNote(old, manifest []byte, relinked []render.Input) string {
	var files []string
	for _, in := range relinked {
		files = append(files, in.File)
	}
	slices.Sort(files)
	var note string
	switch {
	case bytes.Equal(old, manifest) && len(files) == 0:
		return ""
	case bytes.Equal(old, manifest):
		note = NoteReloads
	case render.SameButChecksum(old, manifest):
		note = NoteRestarted
	default:
		note = "restarted by the kubelet (manifest changed)"
	}
	if len(files) > 0 {
		note += ": " + strings.Join(files, ", ")
	}
	return note
}

// NoteEarlierLayout is on a file that an earlier release wrote for a
// folder of several hosts and that nothing uses any more.
const NoteEarlierLayout = "no longer used: each host's manifests and kubeconfigs are under " + layout.NodesDir + "/<host>/ now; remove it"

// earlierLayout names the files an earlier release put where a folder for
// several hosts no longer has them: manifests/<host>/ and the controller
// manager's and scheduler's kubeconfigs at the top, which named the first
// node's API server. They are left in place, for the operator to remove.
func earlierLayout(d *store.Dir, p *plan.Plan) (Summary, error) {
	if !p.PerNode() {
		return nil, nil
	}
	var old []string
	for _, h := range p.Hosts() {
		files, err := d.Walk(layout.ManifestsDir + "/" + h)
		if err != nil {
			return nil, err
		}
		old = append(old, files...)
	}
	for _, k := range p.Kubeconfigs {
		if k.Node != "" {
			old = append(old, layout.KubeconfigFile(k.Kind))
		}
	}
	var sum Summary
	for _, f := range old {
		if slices.ContainsFunc(sum, func(r Result) bool { return r.File == f }) {
			continue
		}
		ok, err := d.Exists(f)
		if err != nil {
			return nil, err
		}
		if ok {
			sum = append(sum, Result{File: f, Action: Kept, Note: NoteEarlierLayout})
		}
	}
	return sum, nil
}
