// Package render turns a plan and the hardening table into configuration
// files: static Pod manifests for etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler, a KubeletConfiguration, an
// EncryptionConfiguration, an AuthenticationConfiguration, an audit policy,
// and the cluster objects written under cluster/ (RBAC bindings, default
// ServiceAccounts). It is pure: nothing here touches the disk.
package render

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"
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
	"github.com/bulwark-k8s/bulwark/release"
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

// Defaults: the releases bulwark is tested against.
const (
	DefaultImageRepository = "registry.k8s.io"
)

func (o Options) withDefaults() Options {
	if o.Root == "" {
		o.Root = layout.DefaultRoot
	}
	if o.KubernetesVersion == "" {
		o.KubernetesVersion = release.Kubernetes
	}
	if o.ImageRepository == "" {
		o.ImageRepository = DefaultImageRepository
	}
	if o.EtcdVersion == "" {
		o.EtcdVersion = release.EtcdImageTag
	}
	return o
}

var versionRE = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// Validate checks options given by a user.
func (o Options) Validate() error {
	o = o.withDefaults()
	if !path.IsAbs(o.Root) || path.Clean(o.Root) != o.Root {
		return fmt.Errorf("root %q must be a clean absolute path", o.Root)
	}
	if !versionRE.MatchString(o.KubernetesVersion) {
		return fmt.Errorf("kubernetes version %q is not of the form %s", o.KubernetesVersion, release.Kubernetes)
	}
	if strings.ContainsAny(o.ImageRepository, " :@") || o.ImageRepository == "" {
		return fmt.Errorf("invalid image repository %q", o.ImageRepository)
	}
	return nil
}

// File is one rendered file, relative to the cluster folder.
type File struct {
	Path string
	Data []byte
}

// ManifestFile is where a component's static Pod manifest for a node goes:
// kubeadm's manifests/<component>.yaml for a single node, one folder per
// node otherwise.
func ManifestFile(p *plan.Plan, comp hardening.Component, node string) string {
	if len(nodeNames(p)) == 1 {
		return "manifests/" + string(comp) + ".yaml"
	}
	return "manifests/" + node + "/" + string(comp) + ".yaml"
}

// nodeNames lists every host that runs a static Pod: control-plane nodes
// and etcd members, without repeats.
func nodeNames(p *plan.Plan) []string {
	seen := map[string]bool{}
	var names []string
	for _, n := range append(append([]config.Node(nil), p.Config.ControlPlane...), p.Config.EtcdMembers...) {
		if !seen[n.Name] {
			seen[n.Name] = true
			names = append(names, n.Name)
		}
	}
	return names
}

// Derived renders every file that follows from the plan alone: manifests,
// kubelet configuration, authentication configuration and audit policy.
// They can be rendered again at will. The encryption configuration holds a
// key and is made once, by EncryptionConfig.
func Derived(p *plan.Plan, o Options) ([]File, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	// Encoding YAML is most of a run's CPU time: each distinct Pod is
	// encoded once (the controller manager's and the scheduler's are the
	// same on every node), and the files are encoded on every core.
	type podFile struct {
		path string
		pod  *corev1.Pod
		same int // index of an equal Pod encoded before, or -1
	}
	var pods []podFile
	add := func(ctx *hardening.Context, comp hardening.Component, node string) {
		pf := podFile{path: ManifestFile(p, comp, node), pod: staticPod(ctx, comp, o), same: -1}
		for i, q := range pods {
			if q.same < 0 && equality.Semantic.DeepEqual(q.pod, pf.pod) {
				pf.same = i
				break
			}
		}
		pods = append(pods, pf)
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
	var jobs []func() (File, error)
	for _, pf := range pods {
		if pf.same < 0 {
			jobs = append(jobs, func() (File, error) {
				data, err := yaml.Marshal(pf.pod)
				if err != nil {
					return File{}, fmt.Errorf("failed to encode %s: %w", pf.path, err)
				}
				return File{Path: pf.path, Data: data}, nil
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
	for _, pf := range pods {
		if pf.same >= 0 {
			files = append(files, File{Path: pf.path, Data: encoded[pods[pf.same].path]})
		}
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
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

func staticPod(ctx *hardening.Context, comp hardening.Component, o Options) *corev1.Pod {
	flags := Flags(ctx, comp)
	vols, mounts := volumes(ctx, comp, flags)
	t := true
	f := false
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      string(comp),
			Namespace: metav1.NamespaceSystem,
			Labels:    map[string]string{"component": string(comp), "tier": "control-plane", layout.ManagedByLabel: layout.ManagedBy},
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
				VolumeMounts:    mounts,
			}},
			Volumes: vols,
		},
	}
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

// volumes mounts exactly the files the flags name, read-only, and the
// folders the component writes. A component sees no key it does not use.
func volumes(ctx *hardening.Context, comp hardening.Component, flags []string) ([]corev1.Volume, []corev1.VolumeMount) {
	var (
		vols   []corev1.Volume
		mounts []corev1.VolumeMount
		seen   = map[string]bool{}
	)
	add := func(hostPath string, typ corev1.HostPathType, readOnly bool) {
		if seen[hostPath] {
			return
		}
		seen[hostPath] = true
		name := volumeName(hostPath)
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostPath, Type: &typ}}})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: hostPath, ReadOnly: readOnly})
	}
	prefix := ctx.Root + "/"
	for _, fl := range flags {
		_, v, _ := strings.Cut(fl, "=")
		if strings.HasPrefix(v, prefix) && !strings.Contains(v, ",") {
			add(v, corev1.HostPathFile, true)
		}
	}
	switch comp {
	case hardening.Etcd:
		add(layout.EtcdDataDir, corev1.HostPathDirectoryOrCreate, false)
	case hardening.APIServer:
		add(path.Dir(layout.AuditLogPath), corev1.HostPathDirectoryOrCreate, false)
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
