// Package export writes what one node needs, and nothing more, from an
// encrypted (or plaintext) cluster folder: the static Pod manifests of the
// components the plan runs on it, every file those manifests mount, the
// kubelet's configuration and bootstrap kubeconfig and the files they
// name. Secrets are decrypted in memory and written in plaintext, mode
// 0600, to the node's folder; never into the cluster folder. Each static
// Pod mounts its own folder (render.Pod.MountDir): the node gets, there, a
// plain copy of exactly the files that Pod's flags name.
//
// Which keys a node gets follows from the rendered Pods: a CA key goes
// only where a component is given it by a flag. With bulwark's manifests that
// is the cluster CA key, to control-plane nodes, for the controller
// manager's signer of kubelet certificates; the etcd, etcd-peer and
// front-proxy CA keys, admin.conf and super-admin.conf go nowhere.
package export

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
)

// Options say which node, and where the folder sits on it.
type Options struct {
	Node string
	// Root is the folder's path on the node, as rendered (render's
	// --root). Default layout.DefaultRoot.
	Root string
}

// File is one file of a node's folder.
type File struct {
	Rel    string
	Data   []byte
	Mode   fs.FileMode
	Secret bool
}

// ErrUnknownNode: the node is not in the configuration.
var ErrUnknownNode = errors.New("unknown node")

// Node lists the files the node needs, read from d (secrets decrypted in
// memory through d's Secrets).
func Node(d *store.Dir, p *plan.Plan, o Options) ([]File, error) {
	if o.Root == "" {
		o.Root = layout.DefaultRoot
	}
	var comps []hardening.Component
	if slices.ContainsFunc(p.Config.EtcdMembers, func(n config.Node) bool { return n.Name == o.Node }) {
		comps = append(comps, hardening.Etcd)
	}
	if slices.ContainsFunc(p.Config.ControlPlane, func(n config.Node) bool { return n.Name == o.Node }) {
		comps = append(comps, hardening.APIServer, hardening.ControllerManager, hardening.Scheduler)
	}
	if len(comps) == 0 {
		return nil, fmt.Errorf("%w %q (the configuration has: %s)", ErrUnknownNode, o.Node, strings.Join(nodeNames(p), ", "))
	}
	x := &exporter{d: d, root: o.Root, seen: map[string]bool{}}
	rd, err := render.Derived(p, render.Options{Root: o.Root})
	if err != nil {
		return nil, err
	}
	for _, pod := range rd.Pods {
		if pod.Node != o.Node || !slices.Contains(comps, pod.Component) {
			continue
		}
		data, err := d.Read(pod.Manifest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (run `bulwark render`)", pod.Manifest, err)
		}
		var m corev1.Pod
		if err := yaml.UnmarshalStrict(data, &m); err != nil {
			return nil, fmt.Errorf("%s: not a Pod manifest: %v", pod.Manifest, err)
		}
		// The kubelet reads every manifest of one folder: a node's own
		// manifests go where its staticPodPath says, side by side.
		x.add(path.Join(layout.ManifestsDir, string(pod.Component)+".yaml"), data, layout.Manifest.Mode(), false)
		// The Pod mounts its folder of links: on the node, plain copies
		// of exactly its inputs, decrypted, at the paths its manifest
		// names.
		for _, in := range pod.Inputs {
			if err := x.copyAs(in.File, pod.Link(in)); err != nil {
				return nil, err
			}
		}
	}
	// The kubelet: its configuration, the files it names, and the
	// kubeconfig it joins with.
	kc, err := d.Read(layout.KubeletConfigFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (run `bulwark render`)", layout.KubeletConfigFile, err)
	}
	if err := x.copy(layout.KubeletConfigFile); err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(kc, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %v", layout.KubeletConfigFile, err)
	}
	for _, p := range stringsUnder(cfg, o.Root+"/") {
		if strings.HasSuffix(p, "/"+layout.ManifestsDir) {
			continue
		}
		if err := x.mounted(layout.KubeletConfigFile, p); err != nil {
			return nil, err
		}
	}
	boot := layout.KubeconfigFile(plan.KubeconfigBootstrapKubelet)
	if ok, err := d.Exists(boot); err != nil {
		return nil, err
	} else if ok {
		if err := x.copy(boot); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(x.files, func(a, b File) int { return strings.Compare(a.Rel, b.Rel) })
	return x.files, nil
}

func nodeNames(p *plan.Plan) []string {
	var out []string
	for _, n := range append(append([]config.Node(nil), p.Config.ControlPlane...), p.Config.EtcdMembers...) {
		if !slices.Contains(out, n.Name) {
			out = append(out, n.Name)
		}
	}
	return out
}

type exporter struct {
	d     *store.Dir
	root  string
	seen  map[string]bool
	files []File
}

func (x *exporter) add(rel string, data []byte, mode fs.FileMode, secret bool) {
	if x.seen[rel] {
		return
	}
	x.seen[rel] = true
	x.files = append(x.files, File{Rel: rel, Data: data, Mode: mode, Secret: secret})
}

// mounted adds the folder's file at a path on the node.
func (x *exporter) mounted(from, p string) error {
	rel, ok := strings.CutPrefix(p, x.root+"/")
	if !ok || rel == "" || path.Clean(rel) != rel || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("%s names %s, which is not in %s (give --root as rendered)", from, p, x.root)
	}
	return x.copy(rel)
}

// copy adds a file of the folder, decrypted if it is a secret.
func (x *exporter) copy(rel string) error { return x.copyAs(rel, rel) }

// copyAs adds a file of the folder at another path of the node's folder,
// decrypted if it is a secret, with the mode of its own kind.
func (x *exporter) copyAs(rel, as string) error {
	if x.seen[as] {
		return nil
	}
	kind := layout.Classify(rel)
	var (
		data []byte
		err  error
	)
	if kind.Secret() {
		data, err = x.d.ReadSecret(rel)
	} else {
		data, err = x.d.Read(rel)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	x.add(as, data, kind.Mode(), kind.Secret())
	return nil
}

func stringsUnder(v any, prefix string) []string {
	var out []string
	switch t := v.(type) {
	case string:
		if strings.HasPrefix(t, prefix) {
			out = append(out, t)
		}
	case map[string]any:
		for _, e := range t {
			out = append(out, stringsUnder(e, prefix)...)
		}
	case []any:
		for _, e := range t {
			out = append(out, stringsUnder(e, prefix)...)
		}
	}
	return out
}

// Write puts the files in out (created 0700 if missing), atomically, each
// with its mode. It refuses a folder inside the cluster folder (plaintext
// keys never land there) and never replaces a file: if any is there,
// nothing is written.
func Write(clusterRoot, out string, files []File) error {
	o, err := store.Open(out)
	if err != nil {
		return err
	}
	if inside(clusterRoot, o.Root()) {
		return fmt.Errorf("--out %s is inside the cluster folder %s: a node's plaintext keys never go there", out, clusterRoot)
	}
	for _, f := range files {
		if ok, err := o.Exists(f.Rel); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%s exists in %s: export writes into an empty folder and never replaces a file", f.Rel, out)
		}
	}
	if err := o.Init(); err != nil {
		return err
	}
	b := o.NewBatch()
	for _, f := range files {
		// The node's folder is plaintext: the store's Secrets are Plain.
		b.Add(store.File{Rel: f.Rel, Data: f.Data, Mode: f.Mode, Secret: f.Secret})
	}
	return b.Commit()
}

// inside reports whether p is root or under it, symbolic links resolved.
// Inside reports whether p (existing or not) is root or under it, once
// symbolic links are resolved: where no plaintext key may be written.
func Inside(root, p string) bool { return inside(root, p) }

func inside(root, p string) bool {
	r, err := filepath.EvalSymlinks(root)
	if err != nil {
		r = root
	}
	q := resolveExisting(p)
	rel, err := filepath.Rel(r, q)
	return err == nil && (rel == "." || !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && rel != "..")
}

// resolveExisting resolves the symbolic links of the longest existing
// prefix of p.
func resolveExisting(p string) string {
	p = filepath.Clean(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	parent := filepath.Dir(p)
	if parent == p {
		return p
	}
	if _, err := os.Lstat(p); err == nil {
		return p
	}
	return filepath.Join(resolveExisting(parent), filepath.Base(p))
}
