// Package render turns a plan and the hardening table into configuration
// files: static Pod manifests for etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler, a KubeletConfiguration, an
// EncryptionConfiguration, an AuthenticationConfiguration, an audit policy,
// and the cluster objects written under cluster/ (RBAC bindings, default
// ServiceAccounts). It is pure: nothing here touches the disk.
package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/internal/parallel"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
)

// Options choose versions, images and where the folder sits on the hosts.
type Options struct {
	// Root is the cluster folder's path on the nodes. Default /etc/kubernetes.
	Root string
	// KubernetesVersion tags the control-plane images. Default release.Kubernetes.
	KubernetesVersion string
	// ImageRepository holds the images. Default registry.k8s.io.
	ImageRepository string
	// EtcdVersion tags the etcd image. Default release.EtcdImageTag.
	EtcdVersion string
}

// DefaultImageRepository holds the images of the releases bulwark is
// tested against.
const DefaultImageRepository = config.DefaultImageRepository

// OptionsOf are the render options a configuration saves.
func OptionsOf(r config.Render) Options {
	return Options{Root: r.Root, KubernetesVersion: r.KubernetesVersion, ImageRepository: r.ImageRepository, EtcdVersion: r.EtcdVersion}
}

func (o Options) settings() config.Render {
	return config.Render{Root: o.Root, KubernetesVersion: o.KubernetesVersion, ImageRepository: o.ImageRepository, EtcdVersion: o.EtcdVersion}
}

func (o Options) withDefaults() Options {
	r := o.settings()
	r.SetDefaults()
	return OptionsOf(r)
}

// Validate checks options given by a user, as the configuration's render
// section is checked.
func (o Options) Validate() error {
	r := o.withDefaults().settings()
	return r.Validate()
}

// File is one rendered file, relative to the cluster folder.
type File struct {
	Path string
	Data []byte
}

// ManifestFile is where a component's static Pod manifest for a host
// goes: kubeadm's manifests/<component>.yaml in a folder for one host,
// nodes/<host>/manifests/<component>.yaml in a folder for several.
func ManifestFile(p *plan.Plan, comp hardening.Component, node string) string {
	return p.NodeFile(node, layout.ManifestsDir+"/"+string(comp)+".yaml")
}

// ManifestFiles lists every static Pod manifest of the plan, with its
// component.
func ManifestFiles(p *plan.Plan) map[string]hardening.Component {
	out := map[string]hardening.Component{}
	for _, m := range p.Config.EtcdMembers {
		out[ManifestFile(p, hardening.Etcd, m.Name)] = hardening.Etcd
	}
	for _, n := range p.Config.ControlPlane {
		for _, comp := range []hardening.Component{hardening.APIServer, hardening.ControllerManager, hardening.Scheduler} {
			out[ManifestFile(p, comp, n.Name)] = comp
		}
	}
	return out
}

// Pod is one static Pod of one host. It mounts one folder, MountDir, at
// the root: hard links to exactly the files its flags name, at their
// paths under the root. A file replaced by rename reaches the running
// container once its link is made again (a single file mounted on its
// own would keep the old inode for the container's life), and the
// container sees no other file of the folder.
type Pod struct {
	Node      string
	Component hardening.Component
	// Manifest is its file in the folder.
	Manifest string
	// MountDir is its folder of links (layout.MountDir).
	MountDir string
	// Inputs are the files of the folder its flags name, sorted.
	Inputs []Input

	pod *corev1.Pod
}

// Input is a file of the folder a Pod reads.
type Input struct {
	File string
	// Reloaded: every flag that names the file is re-read by the running
	// component (hardening.Setting.Reloaded). The others are in the
	// Pod's inputs checksum.
	Reloaded bool
}

// Link is the file of the folder that is the Pod's view of an input.
func (p Pod) Link(in Input) string { return p.MountDir + "/" + in.File }

// Reader reads a file of the folder as it is, or is about to be, written.
// A missing file is an error satisfying errors.Is(err, fs.ErrNotExist).
type Reader func(rel string) ([]byte, error)

// Checksum is the Pod's InputsAnnotation: "sha256:" and the SHA-256 of
// the name and content of every input the component reads only at start
// (a missing one counts as missing). The content of each file goes in
// through its own SHA-256.
func (p Pod) Checksum(read Reader) (string, error) {
	h := sha256.New()
	for _, in := range p.Inputs {
		if in.Reloaded {
			continue
		}
		data, err := read(in.File)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(h, "%s\x00missing\n", in.File)
		case err != nil:
			return "", fmt.Errorf("failed to read %s, an input of %s: %w", in.File, p.Manifest, err)
		default:
			fmt.Fprintf(h, "%s\x00%x\n", in.File, sha256.Sum256(data))
		}
	}
	return checksumPrefix + hex.EncodeToString(h.Sum(nil)), nil
}

const checksumPrefix = "sha256:"

// checksumPlaceholder holds the place of a Pod's checksum in its encoded
// manifest until the inputs are known: same length, a plain YAML scalar.
var checksumPlaceholder = checksumPrefix + strings.Repeat("x", 2*sha256.Size)

// Rendered is what Derived makes. Encoding the manifests is most of a
// run's CPU time and needs only the plan, while their checksums need the
// files they mount, which init writes at the same time: Derived encodes,
// Files fills in the checksums.
type Rendered struct {
	Pods  []Pod
	files []File
	// manifest holds the index in files of each Pod's manifest.
	manifest []int
}

// Files returns every rendered file, each manifest carrying its Pod's
// checksum of inputs: the rendered files themselves, the others as read.
// The Rendered can be used again.
func (r *Rendered) Files(read Reader) ([]File, error) {
	out := slices.Clone(r.files)
	rendered := map[string][]byte{}
	for i, f := range r.files {
		if !slices.Contains(r.manifest, i) {
			rendered[f.Path] = f.Data
		}
	}
	own := func(rel string) ([]byte, error) {
		if data, ok := rendered[rel]; ok {
			return data, nil
		}
		return read(rel)
	}
	for i, pod := range r.Pods {
		sum, err := pod.Checksum(own)
		if err != nil {
			return nil, err
		}
		f := &out[r.manifest[i]]
		if bytes.Count(f.Data, []byte(checksumPlaceholder)) != 1 {
			return nil, fmt.Errorf("render: %s does not hold one checksum placeholder", f.Path)
		}
		f.Data = bytes.Replace(f.Data, []byte(checksumPlaceholder), []byte(sum), 1)
	}
	return out, nil
}

// Derived renders every file that follows from the plan: manifests,
// kubelet configuration, authentication configuration and audit policy.
// They can be rendered again at will. The encryption configuration holds a
// key and is made once, by EncryptionConfig.
func Derived(p *plan.Plan, o Options) (*Rendered, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	var pods []Pod
	add := func(ctx *hardening.Context, comp hardening.Component, node string) {
		pods = append(pods, newPod(p, ctx, comp, node, o))
	}
	for _, m := range p.Config.EtcdMembers {
		add(&hardening.Context{Root: o.Root, Plan: p, Member: m}, hardening.Etcd, m.Name)
	}
	for _, n := range p.Config.ControlPlane {
		ctx := &hardening.Context{Root: o.Root, Plan: p, Node: n}
		for _, comp := range []hardening.Component{hardening.APIServer, hardening.ControllerManager, hardening.Scheduler} {
			add(ctx, comp, n.Name)
		}
	}
	// Each distinct Pod is encoded once, and the files are encoded on
	// every core.
	same := make([]int, len(pods)) // index of an equal Pod encoded before, or -1
	var jobs []func() (File, error)
	for i, pod := range pods {
		same[i] = -1
		for j := range i {
			if same[j] < 0 && equality.Semantic.DeepEqual(pods[j].pod, pod.pod) {
				same[i] = j
				break
			}
		}
		if same[i] < 0 {
			jobs = append(jobs, func() (File, error) {
				data, err := yaml.Marshal(pod.pod)
				if err != nil {
					return File{}, fmt.Errorf("failed to encode %s: %w", pod.Manifest, err)
				}
				return File{Path: pod.Manifest, Data: data}, nil
			})
		}
	}
	jobs = append(jobs,
		func() (File, error) {
			data, err := KubeletConfig(&hardening.Context{Root: o.Root, Plan: p})
			return File{Path: layout.KubeletConfigFile, Data: data}, err
		},
		func() (File, error) {
			data, err := yaml.Marshal(AuthenticationConfig())
			return File{Path: layout.AuthnConfigFile, Data: data}, err
		},
		func() (File, error) {
			data, err := yaml.Marshal(AuditPolicy())
			return File{Path: layout.AuditPolicyFile, Data: data}, err
		},
	)
	files := make([]File, len(jobs))
	if err := parallel.Do(len(jobs), 0, func(i int) (err error) {
		files[i], err = jobs[i]()
		return err
	}); err != nil {
		return nil, err
	}
	encoded := map[string][]byte{}
	for _, f := range files {
		encoded[f.Path] = f.Data
	}
	for i, pod := range pods {
		if same[i] >= 0 {
			files = append(files, File{Path: pod.Manifest, Data: encoded[pods[same[i]].Manifest]})
		}
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	r := &Rendered{Pods: pods, files: files}
	for _, pod := range pods {
		r.manifest = append(r.manifest, slices.IndexFunc(files, func(f File) bool { return f.Path == pod.Manifest }))
	}
	return r, nil
}

// Flags renders a component's command-line flags in table order.
func Flags(ctx *hardening.Context, comp hardening.Component) []string {
	var out []string
	for _, s := range hardening.For(comp) {
		out = append(out, "--"+s.Name+"="+s.FlagValue(ctx))
	}
	return out
}

func image(o Options, comp hardening.Component) string {
	if comp == hardening.Etcd {
		return o.ImageRepository + "/etcd:" + o.EtcdVersion
	}
	return o.ImageRepository + "/" + string(comp) + ":" + o.KubernetesVersion
}

// probe is a component's liveness endpoint.
func probe(comp hardening.Component) *corev1.Probe {
	get := func(scheme corev1.URIScheme, port int, p string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Host: "127.0.0.1", Path: p, Port: intstr.FromInt32(int32(port)), Scheme: scheme,
			}},
			InitialDelaySeconds: 10, TimeoutSeconds: 15, PeriodSeconds: 10, FailureThreshold: 8,
		}
	}
	switch comp {
	case hardening.Etcd:
		return get(corev1.URISchemeHTTP, hardening.EtcdMetricsPort, "/livez")
	case hardening.APIServer:
		return get(corev1.URISchemeHTTPS, hardening.APIServerPort, "/livez")
	case hardening.ControllerManager:
		return get(corev1.URISchemeHTTPS, hardening.ControllerMgrPort, "/healthz")
	}
	return get(corev1.URISchemeHTTPS, hardening.SchedulerPort, "/healthz")
}

func newPod(p *plan.Plan, ctx *hardening.Context, comp hardening.Component, node string, o Options) Pod {
	flags := Flags(ctx, comp)
	pod := Pod{Node: node, Component: comp, Manifest: ManifestFile(p, comp, node),
		MountDir: p.NodeFile(node, layout.MountDir("", string(comp))), Inputs: inputs(ctx, comp)}
	t := true
	f := false
	pod.pod = &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        string(comp),
			Namespace:   metav1.NamespaceSystem,
			Labels:      map[string]string{"component": string(comp), "tier": "control-plane", layout.ManagedByLabel: layout.ManagedBy},
			Annotations: map[string]string{layout.InputsAnnotation: checksumPlaceholder},
		},
		Spec: corev1.PodSpec{
			HostNetwork:       true,
			PriorityClassName: "system-node-critical",
			SecurityContext: &corev1.PodSecurityContext{
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			AutomountServiceAccountToken: &f,
			Containers: []corev1.Container{{
				Name:            string(comp),
				Image:           image(o, comp),
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         append([]string{string(comp)}, flags...),
				LivenessProbe:   probe(comp),
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse(cpuRequest(comp)),
				}},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &f, ReadOnlyRootFilesystem: &t},
			}},
		},
	}
	pod.pod.Spec.Volumes, pod.pod.Spec.Containers[0].VolumeMounts = volumes(ctx.Root, comp, path.Join(ctx.Root, pod.MountDir))
	return pod
}

func cpuRequest(comp hardening.Component) string {
	switch comp {
	case hardening.APIServer:
		return "250m"
	case hardening.ControllerManager:
		return "200m"
	}
	return "100m"
}

// inputs lists the files of the folder a component's flags name, each
// marked reloaded when every flag naming it is.
func inputs(ctx *hardening.Context, comp hardening.Component) []Input {
	reloaded := map[string]bool{}
	prefix := ctx.Root + "/"
	for _, s := range hardening.For(comp) {
		v := s.FlagValue(ctx)
		rel, ok := strings.CutPrefix(v, prefix)
		if !ok || strings.Contains(v, ",") {
			continue
		}
		if r, seen := reloaded[rel]; seen {
			reloaded[rel] = r && s.Reloaded
		} else {
			reloaded[rel] = s.Reloaded
		}
	}
	out := make([]Input, 0, len(reloaded))
	for f, r := range reloaded {
		out = append(out, Input{File: f, Reloaded: r})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// FilesVolume is the volume of a Pod's folder of links.
const FilesVolume = "files"

// volumes mounts the Pod's folder of links read-only at the root, and the
// folders the component writes. A component sees no key it does not use.
func volumes(root string, comp hardening.Component, mountDir string) ([]corev1.Volume, []corev1.VolumeMount) {
	var (
		vols   []corev1.Volume
		mounts []corev1.VolumeMount
	)
	add := func(name, hostPath, mountPath string, typ corev1.HostPathType, readOnly bool) {
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostPath, Type: &typ}}})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: mountPath, ReadOnly: readOnly})
	}
	add(FilesVolume, mountDir, root, corev1.HostPathDirectory, true)
	switch comp {
	case hardening.Etcd:
		add(volumeName(layout.EtcdDataDir), layout.EtcdDataDir, layout.EtcdDataDir, corev1.HostPathDirectoryOrCreate, false)
	case hardening.APIServer:
		dir := path.Dir(layout.AuditLogPath)
		add(volumeName(dir), dir, dir, corev1.HostPathDirectoryOrCreate, false)
	}
	return vols, mounts
}

func volumeName(p string) string {
	n := strings.Trim(strings.NewReplacer("/", "-", ".", "-", "_", "-").Replace(strings.ToLower(p)), "-")
	n = strings.TrimPrefix(n, "etc-kubernetes-")
	if len(n) > 63 {
		n = strings.Trim(n[len(n)-63:], "-")
	}
	return n
}

// KubeletConfig renders the KubeletConfiguration from the table's kubelet
// rows, decoding it strictly into the real type so that a misspelt field
// cannot pass.
func KubeletConfig(ctx *hardening.Context) ([]byte, error) {
	doc := map[string]any{"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"}
	for _, s := range hardening.For(hardening.Kubelet) {
		setPath(doc, strings.Split(s.Name, "."), s.Value(ctx))
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var kc kubeletv1beta1.KubeletConfiguration
	if err := yaml.UnmarshalStrict(raw, &kc); err != nil {
		return nil, fmt.Errorf("kubelet configuration does not decode as KubeletConfiguration: %w", err)
	}
	// Written from the table's rows, not from the struct: the struct would
	// drop readOnlyPort: 0 (omitempty) and spell out every other field as
	// a zero value.
	return yaml.Marshal(doc)
}

func setPath(m map[string]any, keys []string, v any) {
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// AuthenticationConfig lets anonymous requests reach the health endpoints
// (for liveness probes and load balancers) and nothing else.
func AuthenticationConfig() *apiserverv1.AuthenticationConfiguration {
	return &apiserverv1.AuthenticationConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: apiserverv1.SchemeGroupVersion.String(), Kind: "AuthenticationConfiguration"},
		Anonymous: &apiserverv1.AnonymousAuthConfig{
			Enabled:    true,
			Conditions: []apiserverv1.AnonymousAuthCondition{{Path: "/livez"}, {Path: "/readyz"}, {Path: "/healthz"}},
		},
	}
}

// AuditPolicy records metadata for reads of secrets and tokens (never their
// bodies), requests for writes, and nothing for health checks.
func AuditPolicy() *auditv1.Policy {
	sensitive := []auditv1.GroupResources{
		{Group: "", Resources: []string{"secrets", "configmaps", "serviceaccounts/token"}},
		{Group: "authentication.k8s.io", Resources: []string{"tokenreviews"}},
		{Group: "certificates.k8s.io", Resources: []string{"certificatesigningrequests"}},
	}
	return &auditv1.Policy{
		TypeMeta:   metav1.TypeMeta{APIVersion: auditv1.SchemeGroupVersion.String(), Kind: "Policy"},
		OmitStages: []auditv1.Stage{auditv1.StageRequestReceived},
		Rules: []auditv1.PolicyRule{
			{Level: auditv1.LevelNone, NonResourceURLs: []string{"/livez*", "/readyz*", "/healthz*", "/version", "/metrics"}},
			{Level: auditv1.LevelNone, Verbs: []string{"watch"}, Users: []string{user.KubeProxy}},
			{Level: auditv1.LevelNone, Resources: []auditv1.GroupResources{{Group: "", Resources: []string{"events"}}}},
			{Level: auditv1.LevelMetadata, Resources: sensitive},
			{Level: auditv1.LevelMetadata, Verbs: []string{"get", "list", "watch"}},
			{Level: auditv1.LevelRequest},
		},
	}
}

// EncryptionKeyName names the key in the encryption configuration.
const EncryptionKeyName = "key1"

// EncryptionConfig makes a new EncryptionConfiguration with a fresh 32-byte
// secretbox key for Secrets, and identity after it so that Secrets written
// before encryption was turned on still read. It holds a key: store it as
// a secret, once.
func EncryptionConfig(random io.Reader) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := io.ReadFull(random, key); err != nil {
		return nil, fmt.Errorf("failed to draw an encryption key: %w", err)
	}
	cfg := apiserverv1.EncryptionConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: apiserverv1.SchemeGroupVersion.String(), Kind: "EncryptionConfiguration"},
		Resources: []apiserverv1.ResourceConfiguration{{
			Resources: []string{"secrets"},
			Providers: []apiserverv1.ProviderConfiguration{
				{Secretbox: &apiserverv1.SecretboxConfiguration{Keys: []apiserverv1.Key{{Name: EncryptionKeyName, Secret: base64.StdEncoding.EncodeToString(key)}}}},
				{Identity: &apiserverv1.IdentityConfiguration{}},
			},
		}},
	}
	return yaml.Marshal(cfg)
}

// ParseEncryptionConfig checks that data is an EncryptionConfiguration that
// encrypts Secrets with a real provider first.
func ParseEncryptionConfig(data []byte) error {
	var cfg apiserverv1.EncryptionConfiguration
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return fmt.Errorf("not an EncryptionConfiguration")
	}
	for _, r := range cfg.Resources {
		for _, res := range r.Resources {
			if res == "secrets" && len(r.Providers) > 0 && r.Providers[0].Identity == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("does not encrypt Secrets (its first provider for secrets must not be identity)")
}

// OptionsFromManifest reads back, from a static Pod manifest bulwark rendered, the
// options it was rendered with: the root (where the Pod mounts its folder
// of links or, in a manifest of an earlier release that mounted files
// one by one, the folder its pki/ files are in), the image repository and
// its component's version (KubernetesVersion, or EtcdVersion for etcd);
// what it cannot tell is left empty. ok is false for anything but a Pod
// manifest labelled as bulwark's.
func OptionsFromManifest(data []byte) (o Options, comp hardening.Component, ok bool) {
	var pod corev1.Pod
	if err := yaml.Unmarshal(data, &pod); err != nil || pod.Kind != "Pod" || len(pod.Spec.Containers) != 1 ||
		pod.Labels[layout.ManagedByLabel] != layout.ManagedBy {
		return Options{}, "", false
	}
	c := pod.Spec.Containers[0]
	comp = hardening.Component(c.Name)
	for _, m := range c.VolumeMounts {
		if m.Name == FilesVolume {
			o.Root = m.MountPath
		}
	}
	if o.Root == "" {
		for _, arg := range c.Command {
			_, v, _ := strings.Cut(arg, "=")
			if i := strings.Index(v, "/"+layout.PKIDir+"/"); i > 0 && path.IsAbs(v) {
				o.Root = v[:i]
				break
			}
		}
	}
	if i := strings.LastIndex(c.Image, "/"); i > 0 {
		o.ImageRepository = c.Image[:i]
		if _, tag, found := strings.Cut(c.Image[i+1:], ":"); found {
			if comp == hardening.Etcd {
				o.EtcdVersion = tag
			} else {
				o.KubernetesVersion = tag
			}
		}
	}
	return o, comp, true
}

// SameButChecksum reports whether two encoded manifests differ at most in
// their inputs checksum.
func SameButChecksum(a, b []byte) bool {
	blank := func(data []byte) []byte {
		prefix := []byte(layout.InputsAnnotation + ": " + checksumPrefix)
		i := bytes.Index(data, prefix)
		if i < 0 || len(data) < i+len(prefix)+2*sha256.Size {
			return data
		}
		out := slices.Clone(data)
		copy(out[i+len(prefix):], strings.Repeat("x", 2*sha256.Size))
		return out
	}
	return bytes.Equal(blank(a), blank(b))
}
