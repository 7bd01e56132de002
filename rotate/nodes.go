package rotate

import (
	"path"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
)

// pod is a static Pod manifest of the folder, as far as a rotation needs
// it: where it runs and which files of the folder its flags name.
type pod struct {
	manifest  string
	node      string
	component hardening.Component
	flags     map[string]string // flag name -> value
	// files maps a file of the folder to the flags that name it.
	files map[string][]string
}

// Where files go that are not a static Pod's.
const (
	EveryNode      = "every node (kubelet)"
	Administrators = "administrators (not nodes)"
	Nowhere        = "nowhere: keep it with bulwark, offline"
	ApplyCluster   = "the cluster (kubectl apply)"
)

// pods reads every static Pod manifest of the folder (once per run).
func (t *tree) pods() []pod {
	if t.podCache == nil {
		t.podCache = t.readPods()
	}
	return t.podCache
}

func (t *tree) readPods() []pod {
	out := []pod{}
	root := t.hostRoot()
	for _, f := range t.files {
		if layout.Classify(f) != layout.Manifest {
			continue
		}
		data, err := t.d.Read(f)
		if err != nil {
			continue
		}
		var p corev1.Pod
		if yaml.Unmarshal(data, &p) != nil || len(p.Spec.Containers) == 0 {
			continue
		}
		c := p.Spec.Containers[0]
		args := append(slices.Clone(c.Command), c.Args...)
		if len(args) == 0 {
			continue
		}
		pd := pod{manifest: f, node: t.manifestNode(f), component: hardening.Component(path.Base(args[0])),
			flags: map[string]string{}, files: map[string][]string{}}
		for _, a := range args[1:] {
			name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if !ok || !strings.HasPrefix(a, "--") {
				continue
			}
			pd.flags[name] = value
			if rel, ok := under(root, value); ok {
				pd.files[rel] = append(pd.files[rel], name)
			}
		}
		out = append(out, pd)
	}
	return out
}

// manifestNode is the host a manifest is for: nodes/<node>/manifests/…,
// manifests/<node>/…, or the folder's only host.
func (t *tree) manifestNode(f string) string {
	if n := nodeOf(f); n != "" {
		return n
	}
	parts := strings.Split(f, "/")
	if len(parts) == 3 {
		return parts[1]
	}
	hosts := t.hosts()
	if len(hosts) == 1 {
		return hosts[0]
	}
	return "every control-plane node"
}

func (t *tree) hosts() []string {
	var out []string
	for _, n := range append(slices.Clone(t.p.Config.ControlPlane), t.p.Config.EtcdMembers...) {
		if !slices.Contains(out, n.Name) {
			out = append(out, n.Name)
		}
	}
	return out
}

// hostRoot is where the folder sits on the nodes, as the manifests name
// it: the path whose suffix is a file of the folder.
func (t *tree) hostRoot() string {
	if t.rootCache == "" {
		t.rootCache = t.findRoot()
	}
	return t.rootCache
}

func (t *tree) findRoot() string {
	counts := map[string]int{}
	for _, f := range t.files {
		if layout.Classify(f) != layout.Manifest {
			continue
		}
		data, err := t.d.Read(f)
		if err != nil {
			continue
		}
		for _, word := range strings.FieldsFunc(string(data), func(r rune) bool { return r == ' ' || r == '\n' || r == '=' || r == '"' }) {
			if !strings.HasPrefix(word, "/") {
				continue
			}
			for _, rel := range []string{"pki/ca.crt", "pki/sa.pub", "pki/etcd/ca.crt"} {
				if r, ok := strings.CutSuffix(word, "/"+rel); ok {
					counts[r]++
				}
			}
		}
	}
	best, n := layout.DefaultRoot, 0
	for r, c := range counts {
		if c > n || (c == n && r < best) {
			best, n = r, c
		}
	}
	return best
}

func under(root, p string) (string, bool) {
	rel, ok := strings.CutPrefix(p, root+"/")
	return rel, ok && rel != "" && !strings.Contains(p, ",")
}

// kubeletFiles are the files of the folder the kubelet configuration
// names (its client CA): every node, workers too, needs them.
func (t *tree) kubeletFiles() []string {
	data, err := t.d.Read(layout.KubeletConfigFile)
	if err != nil {
		return nil
	}
	var kc kubeletv1beta1.KubeletConfiguration
	if yaml.Unmarshal(data, &kc) != nil {
		return nil
	}
	root := t.hostRoot()
	var out []string
	if rel, ok := under(root, kc.Authentication.X509.ClientCAFile); ok {
		out = append(out, rel)
	}
	return out
}

// NodeFiles are the changed files one place needs.
type NodeFiles struct {
	Node  string   `json:"node"`
	Files []string `json:"files"`
}

// PodEffect is how a running static Pod takes a step's files.
type PodEffect struct {
	Node      string `json:"node"`
	Component string `json:"component"`
	Manifest  string `json:"manifest"`
	// Restart: the kubelet restarts it (a file it reads only at start
	// changed, and so did its manifest's inputs checksum); else it rereads
	// the changed files by itself.
	Restart bool     `json:"restart"`
	Files   []string `json:"files"`
}

// distribute says which changed files go where, and how each static Pod
// takes them.
func (t *tree) distribute(changed []string) ([]NodeFiles, []PodEffect) {
	places := map[string][]string{}
	add := func(place, f string) {
		if !slices.Contains(places[place], f) {
			places[place] = append(places[place], f)
		}
	}
	pods := t.pods()
	kubelet := t.kubeletFiles()
	var effects []PodEffect
	for _, pd := range pods {
		e := PodEffect{Node: pd.node, Component: string(pd.component), Manifest: pd.manifest}
		for _, f := range changed {
			flags, ok := pd.files[f]
			if !ok {
				continue
			}
			e.Files = append(e.Files, f)
			for _, fl := range flags {
				if !reloaded(pd.component, fl) {
					e.Restart = true
				}
			}
		}
		if slices.Contains(changed, pd.manifest) {
			e.Restart = true
		}
		if len(e.Files) > 0 || e.Restart {
			effects = append(effects, e)
		}
	}
	for _, f := range changed {
		placed := false
		for _, pd := range pods {
			if _, ok := pd.files[f]; ok || f == pd.manifest {
				add(pd.node, f)
				placed = true
			}
		}
		if slices.Contains(kubelet, f) {
			add(EveryNode, f)
			placed = true
		}
		if n := nodeOf(f); n != "" && !placed {
			add(n, f)
			placed = true
		}
		switch {
		case placed:
		case strings.HasPrefix(f, layout.NextDir+"/"), f == layout.RotationFile, layout.Classify(f) == layout.PrivateKey:
			add(Nowhere, f)
		case strings.HasPrefix(f, layout.ClusterObjectsDir+"/"):
			add(ApplyCluster, f)
		case layout.Classify(f) == layout.Kubeconfig && strings.HasPrefix(path.Base(f), "bootstrap-kubelet"):
			add(EveryNode, f)
		case layout.Classify(f) == layout.Kubeconfig:
			add(Administrators, f)
		default:
			add(Nowhere, f)
		}
	}
	var out []NodeFiles
	for place, files := range places {
		sort.Strings(files)
		out = append(out, NodeFiles{Node: place, Files: files})
	}
	rank := func(n string) int {
		switch n {
		case EveryNode:
			return 1
		case Administrators:
			return 2
		case ApplyCluster:
			return 3
		case Nowhere:
			return 4
		}
		return 0
	}
	sort.Slice(out, func(i, j int) bool {
		if rank(out[i].Node) != rank(out[j].Node) {
			return rank(out[i].Node) < rank(out[j].Node)
		}
		return out[i].Node < out[j].Node
	})
	sort.SliceStable(effects, func(i, j int) bool {
		if effects[i].Node != effects[j].Node {
			return effects[i].Node < effects[j].Node
		}
		return effects[i].Component < effects[j].Component
	})
	return out, effects
}

// reloaded reports whether a component rereads the file a flag names by
// itself (the hardening table says); unknown flags are taken as read at
// start only.
func reloaded(comp hardening.Component, flag string) bool {
	for _, s := range hardening.For(comp) {
		if s.Name == flag {
			return s.Reloaded
		}
	}
	return false
}
