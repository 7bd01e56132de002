// Package export writes what one node needs, and nothing more, from an
// encrypted (or plaintext) cluster folder: the static Pod manifests of the
// components the plan runs on it, every file those manifests mount, the
// kubelet's configuration and bootstrap kubeconfig and the files they
// name. All of it follows from the tables (plan, hardening, render) and the
// folder's saved configuration; the folder's manifests and kubelet
// configuration, which nobody signs, are only compared with what render
// makes, and refused when they differ. Secrets are decrypted in memory and written in plaintext, mode
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
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
	"github.com/bulwark-k8s/bulwark/trust"
)

// Options say which node, and where the folder sits on it.
type Options struct {
	Node string
	// Root is the folder's path on the node, as rendered (render's
	// --root). Default: the saved configuration's, else
	// layout.DefaultRoot.
	Root string
	// Rotating: for a CA whose rotation is recorded in progress, the keys
	// its trust file may hold (trust.Input.Rotating).
	Rotating map[string][]crypto.PublicKey
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
//
// What a node gets comes from the tables, never from the folder's own
// files: the manifests are rendered again in memory with the folder's
// saved configuration (render's --root given as o.Root), each one
// compared with the folder's copy, and the files a node receives are the
// inputs the hardening table gives its components, the kubelet's files
// that the table names and its bootstrap kubeconfig. A manifest or kubelet
// configuration that differs from the rendered one is refused
// (ErrNotRendered): nothing a string in an unsigned file names reaches a
// node. Files that go to no node (NeverExported) are refused whatever
// asks for them.
func Node(d *store.Dir, p *plan.Plan, o Options) ([]File, error) {
	ro := render.OptionsOf(p.Config.Render)
	if o.Root != "" {
		ro.Root = o.Root
	}
	if ro.Root == "" {
		ro.Root = layout.DefaultRoot
	}
	o.Root = ro.Root
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
	rd, err := render.Derived(p, ro)
	if err != nil {
		return nil, err
	}
	x := &exporter{d: d, p: p, seen: map[string]bool{}, cache: map[string][]byte{}, rotating: o.Rotating}
	var pods []render.Pod
	for _, pod := range rd.Pods {
		if pod.Node == o.Node && slices.Contains(comps, pod.Component) {
			pods = append(pods, pod)
			for _, in := range pod.Inputs {
				x.inputs = append(x.inputs, in.File)
			}
		}
	}
	// The manifests' checksums need this node's inputs only: another
	// node's files are neither decrypted nor read.
	rendered, err := rd.Files(x.read)
	if err != nil {
		return nil, err
	}
	fresh := map[string][]byte{}
	for _, f := range rendered {
		fresh[f.Path] = f.Data
	}
	for _, pod := range pods {
		if err := x.same(pod.Manifest, fresh[pod.Manifest], o.Node); err != nil {
			return nil, err
		}
		// The kubelet reads every manifest of one folder: a node's own
		// manifests go where its staticPodPath says, side by side.
		x.add(path.Join(layout.ManifestsDir, string(pod.Component)+".yaml"), fresh[pod.Manifest], layout.Manifest.Mode(), false)
		// The Pod mounts its folder of links: on the node, plain copies
		// of exactly its inputs, decrypted, at the paths its manifest
		// names.
		for _, in := range pod.Inputs {
			if err := x.copyAs(in.File, pod.Link(in)); err != nil {
				return nil, err
			}
		}
	}
	// The kubelet: its configuration as rendered, the files the table
	// gives it, and the kubeconfig it joins with.
	if err := x.same(layout.KubeletConfigFile, fresh[layout.KubeletConfigFile], o.Node); err != nil {
		return nil, err
	}
	x.add(layout.KubeletConfigFile, fresh[layout.KubeletConfigFile], layout.KubeletConfig.Mode(), false)
	for _, rel := range KubeletInputs(p, o.Root) {
		if err := x.copy(rel); err != nil {
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

// ErrNotRendered: a manifest or the kubelet configuration of the folder is
// not what render makes of its saved configuration.
var ErrNotRendered = errors.New("differs from what `bulwark render` makes of the folder's configuration")

// same checks the folder's copy of a rendered file against the rendered
// one (a manifest's inputs checksum aside: the node gets the fresh one).
func (x *exporter) same(rel string, fresh []byte, node string) error {
	if fresh == nil {
		return fmt.Errorf("%s: not rendered for node %s", rel, node)
	}
	data, err := x.d.Read(rel)
	if err != nil {
		return fmt.Errorf("%s: %w (run `bulwark render`)", rel, err)
	}
	if !render.SameButChecksum(data, fresh) {
		return fmt.Errorf("%s %w for node %s: refusing to export it (see `bulwark audit`; run `bulwark render` to write it again)", rel, ErrNotRendered, node)
	}
	return nil
}

// KubeletInputs are the files of the folder the hardening table's kubelet
// settings name (its client CA), with root the folder's path on the node.
func KubeletInputs(p *plan.Plan, root string) []string {
	ctx := &hardening.Context{Root: root, Plan: p}
	var out []string
	for _, s := range hardening.For(hardening.Kubelet) {
		v, ok := s.Value(ctx).(string)
		if !ok {
			continue
		}
		rel, ok := strings.CutPrefix(v, root+"/")
		if !ok || rel == layout.ManifestsDir || slices.Contains(out, rel) {
			continue
		}
		out = append(out, rel)
	}
	return out
}

// NeverExported reports whether a file of the folder goes to no node,
// whatever names it: the CA keys other than the cluster CA's (which the
// controller manager signs with), admin.conf and super-admin.conf, the
// administrators' files and the saved configuration.
func NeverExported(p *plan.Plan, rel string) bool {
	for _, ca := range p.CAs {
		if ca.Name != plan.ClusterCA && rel == ca.KeyFile() {
			return true
		}
	}
	switch rel {
	case layout.KubeconfigFile(plan.KubeconfigAdmin), layout.KubeconfigFile(plan.KubeconfigSuperAdmin), layout.ConfigFile, layout.AcceptFile:
		return true
	}
	return strings.HasPrefix(rel, layout.AdminsDir+"/")
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
	d        *store.Dir
	p        *plan.Plan
	seen     map[string]bool
	files    []File
	inputs   []string          // the files of the folder this node's Pods read
	cache    map[string][]byte // read (decrypted) once
	rotating map[string][]crypto.PublicKey
}

// read reads a file of the folder, decrypted if it is a secret. For the
// manifests' checksums, another node's inputs read as missing.
func (x *exporter) read(rel string) ([]byte, error) {
	if !slices.Contains(x.inputs, rel) {
		return nil, fmt.Errorf("%s: not an input of this node: %w", rel, fs.ErrNotExist)
	}
	return x.readFile(rel)
}

func (x *exporter) readFile(rel string) ([]byte, error) {
	if data, ok := x.cache[rel]; ok {
		return data, nil
	}
	if NeverExported(x.p, rel) {
		return nil, fmt.Errorf("%s goes to no node: refusing to export it", rel)
	}
	var (
		data []byte
		err  error
	)
	if layout.Classify(rel).Secret() {
		data, err = x.d.ReadSecret(rel)
	} else {
		data, err = x.d.Read(rel)
	}
	if err != nil {
		return nil, err
	}
	for _, ca := range x.p.CAs {
		if ca.CertFile() != rel {
			continue
		}
		// A CA file with another CA in it would make the node trust it.
		if certs, err := pki.ParseCerts(data); err == nil {
			if extra := trust.ExtraCAs(certs, x.rotating[ca.Name]); len(extra) > 0 {
				return nil, fmt.Errorf("%s holds %d CA certificate(s) beside its own (%q): refusing to export it (bulwark audit: %s)", rel, len(extra), extra[0].Subject.CommonName, trust.ExtraCA)
			}
		}
	}
	x.cache[rel] = data
	return data, nil
}

func (x *exporter) add(rel string, data []byte, mode fs.FileMode, secret bool) {
	if x.seen[rel] {
		return
	}
	x.seen[rel] = true
	x.files = append(x.files, File{Rel: rel, Data: data, Mode: mode, Secret: secret})
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
	data, err := x.readFile(rel)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	x.add(as, data, kind.Mode(), kind.Secret())
	return nil
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
	if err := private(o.Root(), files); err != nil {
		return err
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

// private refuses an existing out, or an existing folder under it on the
// way to a file, that anyone but the user may write to or that another
// user owns: they could rename the folders export makes and put their own
// keys in place, or read the plaintext keys below.
func private(out string, files []File) error {
	dirs := map[string]bool{".": true}
	for _, f := range files {
		for d := path.Dir(f.Rel); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	names := slices.Sorted(maps.Keys(dirs))
	for _, rel := range names {
		p := filepath.Join(out, filepath.FromSlash(rel))
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a folder", p)
		}
		if fi.Mode().Perm()&(layout.GroupWrite|layout.OtherWrite) != 0 {
			return fmt.Errorf("%s is writable by others (mode %04o): a node's plaintext keys go only under folders that only you can change; chmod go-w it, or give a new --out", p, fi.Mode().Perm())
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
			return fmt.Errorf("%s is owned by uid %d, not by you (uid %d): a node's plaintext keys go only under folders you own; give a new --out", p, st.Uid, os.Geteuid())
		}
	}
	return nil
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
