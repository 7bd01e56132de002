package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/expiry"
	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/store"
)

// maxInput caps files read from a node: manifests, units, configuration.
const maxInput = 1 << 20

// ErrNothing is returned when a folder holds nothing to audit.
var ErrNothing = errors.New("nothing to audit: no manifests, command lines, kubelet configuration or pki/ folder")

// auditor is one static audit.
type auditor struct {
	opts Options
	dir  *store.Dir
	plan *plan.Plan
	cfg  *config.Cluster
	r    *Report
	// nodes: "" for a single-node folder (and command lines), else the
	// node names of nodes/<node>/manifests/.
	nodes map[string][]*Component
	// defaulted: the folder has no saved configuration, so node and member
	// names are unknown.
	defaulted bool
	// checked: files whose mode was judged.
	checked map[string]bool
	// others are the static Pods of the manifests folders that run no
	// control-plane component.
	others []otherPod
}

// Static audits a folder's files: each node's components (multi-node
// folders: nodes/<node>/manifests/, each finding naming its node), the PKI and
// kubeconfigs (package trust), file modes and owners, and the cluster
// objects under cluster/ (bootstrap tokens, service-account tokens and
// automount, rbac lint). The folder's accepted risks (Options.Accept) are
// applied: accepted findings stay in the report, marked.
func Static(opts Options) (*Report, error) {
	if opts.Root == "" {
		opts.Root = layout.DefaultRoot
	}
	if opts.WarnWithin == 0 {
		opts.WarnWithin = expiry.DefaultWarnWithin
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	d, err := store.Open(opts.Dir)
	if err != nil {
		return nil, err
	}
	if opts.Secrets != nil {
		d.Secrets = opts.Secrets
	}
	a := &auditor{opts: opts, dir: d, r: newReport(), nodes: map[string][]*Component{}, checked: map[string]bool{}}
	acceptances, err := a.acceptances()
	if err != nil {
		return nil, err
	}
	if err := a.loadPlan(); err != nil {
		return nil, err
	}
	if err := a.discover(); err != nil {
		return nil, err
	}
	for _, name := range a.nodeNames() {
		comps := a.nodes[name]
		ctx := a.context(name)
		for _, c := range comps {
			a.checkComponent(c, comps, ctx)
			a.r.Components = append(a.r.Components, *c)
		}
		a.checkCAs(comps, name)
		a.checkChannelCAs(comps, name)
	}
	a.checkOtherPods()
	a.checkTree()
	a.checkRotation()
	a.checkNamedFiles()
	a.checkClusterObjects()
	a.tidy()
	a.r.Sort()
	if len(acceptances) > 0 {
		a.r.Accept(acceptances, opts.Now)
	}
	return a.r, nil
}

// acceptances reads the accepted-risks file, if any.
func (a *auditor) acceptances() ([]finding.Acceptance, error) {
	file := a.opts.Accept
	if file == "" {
		if ok, _ := a.dir.Exists(layout.AcceptFile); !ok {
			return nil, nil
		}
		file = a.dir.Path(layout.AcceptFile)
	}
	data, err := store.ReadInput(file, maxInput)
	if err != nil {
		return nil, err
	}
	return finding.ParseAcceptances(data, file, Rules())
}

func (a *auditor) nodeNames() []string {
	names := make([]string, 0, len(a.nodes))
	for n := range a.nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// loadPlan uses the folder's saved configuration if there is one, else the
// defaults: either way the table of roles (which CA signs which file, CN,
// O, usages) is the same.
func (a *auditor) loadPlan() error {
	c := config.Default("node")
	a.defaulted = true
	if data, err := a.dir.Read(layout.ConfigFile); err == nil {
		if parsed, err := config.Parse(data, "node"); err == nil {
			c, a.defaulted = parsed, false
		}
	}
	p, err := plan.New(c)
	if err != nil {
		return err
	}
	a.plan, a.cfg = p, c
	return nil
}

// context is the hardening context of a node: its own entries of the
// configuration when it names the node, else the first ones.
func (a *auditor) context(name string) *hardening.Context {
	ctx := &hardening.Context{Root: a.opts.Root, Plan: a.plan, Node: a.cfg.ControlPlane[0], Member: a.cfg.EtcdMembers[0]}
	for _, n := range a.cfg.ControlPlane {
		if n.Name == name {
			ctx.Node = n
		}
	}
	for _, m := range a.cfg.EtcdMembers {
		if m.Name == name {
			ctx.Member = m
		}
	}
	return ctx
}

// local maps a host path named by a component to the file to read here.
func (a *auditor) local(p string) string {
	if rel, ok := strings.CutPrefix(p, a.opts.Root+"/"); ok {
		return a.dir.Path(rel)
	}
	return p
}

// read reads a file a component names. A file of the folder sealed at
// rest is opened with the folder's Secrets (atrest.ErrLocked without an
// identity: skipped, said once by admins' secrets-skipped); plaintext
// files (the policies, the kubelet configuration) are read as they are.
func (a *auditor) read(p string) ([]byte, error) {
	data, err := store.ReadInput(a.local(p), maxInput)
	if err != nil || !atrest.IsSealed(data) {
		return data, err
	}
	if rel, ok := strings.CutPrefix(p, a.opts.Root+"/"); ok {
		return a.dir.ReadSecret(rel)
	}
	return nil, fmt.Errorf("%s is encrypted at rest and not in the folder", p)
}

// dropIns lists a unit's drop-ins in the order systemd applies them, after
// the unit: <unit>.d/*.conf beside it and, when the unit is installed in
// one of systemd's folders, <unit>.d/*.conf in every one of them (older
// kubelet packages put kubelet.service in /lib/systemd/system and
// kubeadm's 10-kubeadm.conf in /etc/systemd/system/kubelet.service.d). A
// name in a folder of higher priority hides the same name in a lower one;
// all apply in name order.
func (a *auditor) dropIns(unit string) ([]string, error) {
	dirs := []string{unit + ".d"}
	unitDirs := a.opts.UnitDirs
	if unitDirs == nil {
		unitDirs = SystemUnitDirs
	}
	if abs, err := filepath.Abs(unit); err == nil && slices.Contains(unitDirs, filepath.Dir(abs)) {
		dirs = nil
		for _, d := range unitDirs {
			dirs = append(dirs, filepath.Join(d, filepath.Base(abs)+".d"))
		}
	}
	byName := map[string]string{}
	var names []string
	for _, dir := range dirs {
		files, err := store.List(dir, ".conf")
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if name := filepath.Base(f); byName[name] == "" {
				byName[name] = f
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, name := range names {
		out[i] = byName[name]
	}
	return out, nil
}

var manifestExts = []string{".yaml", ".yml", ".json", ".manifest"}

// discover reads every component: static Pods of manifests/ (and of
// nodes/<host>/manifests/, or an earlier release's manifests/<host>/, for
// each host of a folder of several), command lines,
// and the kubelet's configuration; then each component's configuration
// files, with its own precedence.
func (a *auditor) discover() error {
	mdir := a.opts.ManifestDir
	if mdir == "" {
		mdir = a.dir.Path(layout.ManifestsDir)
	}
	if err := a.manifests(mdir, ""); err != nil {
		return err
	}
	entries, err := os.ReadDir(mdir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot list %q: %w", mdir, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := a.manifests(filepath.Join(mdir, e.Name()), e.Name()); err != nil {
				return err
			}
		}
	}
	// A folder of several hosts: each host's manifests in
	// nodes/<host>/manifests/.
	if a.opts.ManifestDir == "" {
		hosts, err := os.ReadDir(a.dir.Path(layout.NodesDir))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot list %q: %w", a.dir.Path(layout.NodesDir), err)
		}
		for _, h := range hosts {
			if h.IsDir() {
				if err := a.manifests(a.dir.Path(layout.NodeFile(h.Name(), layout.ManifestsDir)), h.Name()); err != nil {
					return err
				}
			}
		}
	}
	for _, f := range a.opts.CommandLines {
		data, err := store.ReadInput(f, maxInput)
		if err != nil {
			return err
		}
		units := [][]byte{data}
		dropIns, err := a.dropIns(f)
		if err != nil {
			return err
		}
		for _, d := range dropIns {
			more, err := store.ReadInput(d, maxInput)
			if err != nil {
				return err
			}
			units = append(units, more)
		}
		c, err := fromCommandLine(f, units, a.read)
		if err != nil {
			return err
		}
		a.nodes[""] = append(a.nodes[""], c)
	}
	kubelet := a.find("", hardening.Kubelet)
	switch {
	case kubelet != nil:
		if cfg, ok := kubelet.Flags["config"]; ok {
			kubelet.ConfigFile = cfg.Value
		}
		if dir, ok := kubelet.Flags["config-dir"]; ok {
			kubelet.ConfigDir = dir.Value
		}
	case a.opts.KubeletConfig != "":
		kubelet = &Component{Name: hardening.Kubelet, Source: a.opts.KubeletConfig, Flags: map[string]Value{}, ConfigFile: a.opts.KubeletConfig}
		if k, err := a.kubeadmKubelet(a.opts.KubeletConfig); err != nil {
			return err
		} else if k != nil {
			kubelet = k
		}
		a.nodes[""] = append(a.nodes[""], kubelet)
	default:
		if ok, _ := a.dir.Exists(layout.KubeletConfigFile); ok {
			f := a.dir.Path(layout.KubeletConfigFile)
			kubelet = &Component{Name: hardening.Kubelet, Source: f, Flags: map[string]Value{}, ConfigFile: f}
			a.nodes[""] = append(a.nodes[""], kubelet)
		}
	}
	if kubelet != nil {
		a.kubeletConfig(kubelet)
	}
	for _, comps := range a.nodes {
		for _, c := range comps {
			switch c.Name {
			case hardening.Etcd:
				file := c.Flags["config-file"].Value
				if file == "" {
					file = c.Env["ETCD_CONFIG_FILE"]
					if file != "" {
						c.Flags["config-file"] = Value{Value: file, Origin: Origin{File: c.Source}}
					}
				}
				if file == "" {
					etcdEnv(c)
					continue
				}
				c.ConfigFile = file
				data, err := a.read(file)
				if err == nil {
					err = etcdFromFile(c, a.local(file), data)
				}
				if err != nil {
					a.unreadable(c, file, err)
				}
			case hardening.Scheduler:
				file := c.Flags["config"].Value
				if file == "" {
					continue
				}
				c.ConfigFile = file
				data, err := a.read(file)
				if err == nil {
					err = schedulerFromFile(c, a.local(file), data)
				}
				if err != nil {
					a.unreadable(c, file, err)
				}
			}
		}
	}
	if len(a.nodes) == 0 {
		if ok, _ := a.dir.Exists(layout.PKIDir); !ok {
			return ErrNothing
		}
	}
	return nil
}

// manifests reads the static Pods of one folder, for a node ("" for a
// single-node folder).
func (a *auditor) manifests(dir, node string) error {
	files, err := store.List(dir, manifestExts...)
	if err != nil {
		return err
	}
	for _, f := range files {
		data, err := store.ReadInput(f, maxInput)
		if err != nil {
			return err
		}
		c, err := fromManifest(f, data)
		if err != nil {
			return err
		}
		if c != nil {
			c.Node = node
			a.nodes[node] = append(a.nodes[node], c)
		} else if pod, ok := staticPod(data); ok {
			a.others = append(a.others, otherPod{file: f, node: node, spec: pod})
		}
	}
	return nil
}

// kubeadmFlagsEnv is the file kubeadm writes beside the kubelet's
// configuration, whose KUBELET_KUBEADM_ARGS its systemd drop-in
// (10-kubeadm.conf) puts on the kubelet's command line.
const kubeadmFlagsEnv = "kubeadm-flags.env"

// kubeadmKubelet is the kubelet as kubeadm's drop-in starts it, when a
// kubeadm-flags.env lies beside its configuration: --config, then
// $KUBELET_KUBEADM_ARGS, then $KUBELET_EXTRA_ARGS of /etc/default/kubelet
// (or /etc/sysconfig/kubelet) under the same root (a kubelet
// configuration at ROOT/var/lib/kubelet/config.yaml), the last flag
// winning. nil without the file.
func (a *auditor) kubeadmKubelet(config string) (*Component, error) {
	env := filepath.Join(filepath.Dir(config), kubeadmFlagsEnv)
	if _, err := os.Stat(env); err != nil {
		return nil, nil
	}
	unit := "[Service]\nEnvironmentFile=-" + env + "\n"
	if root, ok := strings.CutSuffix(filepath.ToSlash(filepath.Clean(config)), "/var/lib/kubelet/config.yaml"); ok {
		for _, f := range []string{"etc/default/kubelet", "etc/sysconfig/kubelet"} {
			unit += "EnvironmentFile=-" + filepath.Join(root, f) + "\n"
		}
	}
	unit += "ExecStart=/usr/bin/kubelet --config=" + config + " $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n"
	k, err := fromCommandLine(env, [][]byte{[]byte(unit)}, func(p string) ([]byte, error) { return store.ReadInput(p, maxInput) })
	if err != nil {
		return nil, err
	}
	// Lines of the environment file, not of the drop-in written here.
	data, _ := store.ReadInput(env, maxInput)
	lines := flagLines(string(data))
	for name, v := range k.Flags {
		v.Origin.Line = lines[name]
		k.Flags[name] = v
	}
	k.ConfigFile = config
	return k, nil
}

// kubeletConfig reads the kubelet's --config and its --config-dir
// drop-ins, as the kubelet merges them.
func (a *auditor) kubeletConfig(k *Component) {
	var docs []namedData
	if k.ConfigFile != "" {
		data, err := a.read(k.ConfigFile)
		if err != nil {
			a.unreadable(k, k.ConfigFile, err)
			return
		}
		docs = append(docs, namedData{a.local(k.ConfigFile), data})
	}
	if k.ConfigDir != "" {
		files, err := kubeletDropIns(a.local(k.ConfigDir))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			a.unreadable(k, k.ConfigDir, err)
		}
		for _, f := range files {
			data, err := store.ReadInput(f, maxInput)
			if err != nil {
				a.unreadable(k, f, err)
				continue
			}
			docs = append(docs, namedData{f, data})
		}
	}
	if len(docs) == 0 {
		return
	}
	cfg, err := configFields(docs, "KubeletConfiguration")
	if err != nil {
		a.unreadable(k, k.ConfigFile, err)
		return
	}
	k.Config = cfg
}

func (a *auditor) unreadable(c *Component, file string, err error) {
	if errors.Is(err, atrest.ErrLocked) {
		return
	}
	a.r.Add(newFinding(idConfigUnreadable, c, Evidence{File: a.local(file), Detail: err.Error()}))
}

func (a *auditor) find(node string, name hardening.Component) *Component {
	for _, c := range a.nodes[node] {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func findIn(comps []*Component, name hardening.Component) *Component {
	for _, c := range comps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// custom checks replace the generic comparison for rows with more than one
// good answer, or whose content must be judged.
var custom = map[string]func(a *auditor, c *Component, s hardening.Setting, ctx *hardening.Context){
	"kube-apiserver:authentication-config":                (*auditor).checkAnonymous,
	"kube-apiserver:authorization-mode":                   (*auditor).checkAuthorization,
	"kube-apiserver:enable-admission-plugins":             (*auditor).checkAdmission,
	"kube-apiserver:encryption-provider-config":           (*auditor).checkEncryption,
	"kube-apiserver:audit-policy-file":                    (*auditor).checkAuditPolicy,
	"kube-apiserver:tls-cipher-suites":                    (*auditor).checkCiphers,
	"kubelet:tlsCipherSuites":                             (*auditor).checkCiphers,
	"etcd:client-cert-auth":                               checkEtcdCertAuth("trusted-ca-file"),
	"etcd:peer-client-cert-auth":                          checkEtcdCertAuth("peer-trusted-ca-file"),
	"kube-controller-manager:terminated-pod-gc-threshold": (*auditor).checkPodGC,
	"kubelet:podPidsLimit":                                (*auditor).checkPids,
	"kube-controller-manager:bind-address":                (*auditor).checkBindAddress,
	"kube-scheduler:bind-address":                         (*auditor).checkBindAddress,
	"kube-apiserver:audit-log-path":                       (*auditor).checkAuditLog,
	// bulwark names the kubelet-client signer's own files (the generic
	// flags' file would be a rotation's two-CA trust file); kubeadm's
	// generic --cluster-signing-{cert,key}-file stand for every signer.
	"kube-controller-manager:cluster-signing-" + hardening.KubeletClientSigner + "-cert-file": checkSigningFile("cluster-signing-cert-file"),
	"kube-controller-manager:cluster-signing-" + hardening.KubeletClientSigner + "-key-file":  checkSigningFile("cluster-signing-key-file"),
}

// checkAuditLog wants the audit events to go somewhere: a log file (or
// "-", the container's output), or an audit webhook backend.
func (a *auditor) checkAuditLog(c *Component, s hardening.Setting, ctx *hardening.Context) {
	if v, ok := c.Flags["audit-webhook-config-file"]; ok && strings.TrimSpace(v.Value) != "" {
		return
	}
	if v := c.Setting(s); !matches(s.Match, v, s.FlagValue(ctx)) {
		a.r.Add(a.settingFinding(c, s, v, s.FlagValue(ctx)))
	}
}

// checkSigningFile wants a CSR signer's file: its own flag, or the generic
// one that stands for every signer.
func checkSigningFile(generic string) func(a *auditor, c *Component, s hardening.Setting, ctx *hardening.Context) {
	return func(a *auditor, c *Component, s hardening.Setting, ctx *hardening.Context) {
		if c.Given(s.Name) || c.Given(generic) {
			return
		}
		a.r.Add(a.settingFinding(c, s, c.Flag(s.Name), s.FlagValue(ctx)))
	}
}

func (a *auditor) checkComponent(c *Component, comps []*Component, ctx *hardening.Context) {
	if len(c.Stray) > 0 {
		a.r.Check(idStrayArgs)
		a.r.Add(newFinding(idStrayArgs, c, Evidence{File: c.Source, Detail: fmt.Sprintf("%s would refuse %q", c.Name, c.Stray)}))
	}
	for _, s := range hardening.For(c.Name) {
		if s.Match == hardening.NotAudited {
			continue
		}
		if s.OnlyIf != "" {
			if v, given := c.Flags[s.OnlyIf]; !given || v.Value == "" {
				continue
			}
		}
		a.r.Check(or(reportedAs[s.ID()], s.ID()))
		if f, ok := custom[s.ID()]; ok {
			f(a, c, s, ctx)
			continue
		}
		v := c.Setting(s)
		want := s.FlagValue(ctx)
		if !matches(s.Match, v, want) {
			a.r.Add(a.settingFinding(c, s, v, want))
		}
	}
	a.checkRemovedFlags(c)
	a.checkPod(c, comps)
	if c.Name != hardening.Etcd {
		a.checkCacheTTLs(c)
		a.checkFeatureGates(c)
	}
	switch c.Name {
	case hardening.Etcd:
		a.checkEtcdListeners(c)
		a.checkEtcdExtras(c)
	case hardening.APIServer:
		a.checkAPIServerExtras(c)
	case hardening.ControllerManager, hardening.Scheduler:
		a.checkServing(c)
		a.checkComponentIdentity(c)
	case hardening.Kubelet:
		a.checkKubeletExtras(c)
		a.checkKubeletServing(c, findIn(comps, hardening.APIServer))
	}
}

// matches judges an effective value against the rendered one.
func matches(m hardening.Match, v Value, want string) bool {
	switch m {
	case hardening.Equals:
		return !v.Unset && normalize(v.Value) == normalize(want)
	case hardening.Contains:
		return !v.Unset && containsAll(v.Value, want)
	case hardening.Present:
		return !v.Unset && v.Value != ""
	case hardening.AtLeast:
		have, err1 := strconv.Atoi(strings.TrimSpace(v.Value))
		min, err2 := strconv.Atoi(want)
		return !v.Unset && err1 == nil && err2 == nil && have >= min
	case hardening.Subset:
		return !v.Unset && v.Value != "" && containsAll(want, v.Value)
	case hardening.MinTLS:
		return tlsRank(v.Value) >= tlsRank(want)
	case hardening.Loopback:
		return !v.Unset && isLoopback(v.Value)
	case hardening.AtMostDuration:
		have, err1 := time.ParseDuration(strings.TrimSpace(v.Value))
		max, err2 := time.ParseDuration(want)
		return !v.Unset && err1 == nil && err2 == nil && have > 0 && have <= max
	}
	return true
}

// normalize reads a value for comparison: booleans as the components'
// parsers read them (strconv.ParseBool: 1, t, True… are true), the rest
// in lower case.
func normalize(s string) string {
	t := strings.ToLower(strings.TrimSpace(s))
	if b, err := strconv.ParseBool(t); err == nil {
		return strconv.FormatBool(b)
	}
	return t
}

func containsAll(have, want string) bool {
	items := listValue(have)
	for _, w := range listValue(want) {
		if !slices.Contains(items, w) {
			return false
		}
	}
	return true
}

// tlsRank reads a TLS version as etcd (TLS1.2) or Kubernetes
// (VersionTLS12) spells it: 10…13; Go's server default, TLS 1.2, for an
// empty or unknown one.
func tlsRank(v string) int {
	s := strings.ToUpper(strings.TrimSpace(v))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "VERSION"), "TLS")
	s = strings.ReplaceAll(s, ".", "")
	switch s {
	case "10":
		return 10
	case "11":
		return 11
	case "13":
		return 13
	}
	return 12
}

// isLoopback reports whether an address, host, host:port or URL is on
// loopback: 127.0.0.0/8, ::1 or localhost.
func isLoopback(v string) bool {
	h := strings.TrimSpace(v)
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
		if j := strings.IndexAny(h, "/?#"); j >= 0 {
			h = h[:j]
		}
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (a *auditor) settingFinding(c *Component, s hardening.Setting, v Value, want string) Finding {
	got := "not set"
	switch {
	case !v.Unset && v.Origin.Default && v.Origin.File != "":
		got = fmt.Sprintf("not set in %s: built-in default %q", v.Origin.File, v.Value)
	case !v.Unset && v.Origin.Default:
		got = fmt.Sprintf("not set: built-in default %q", v.Value)
	case !v.Unset:
		got = fmt.Sprintf("%q", v.Value)
	}
	ev := Evidence{File: c.Source, Detail: s.Name + " is " + got}
	if v.Origin.File != "" {
		ev.File, ev.Line = v.Origin.File, v.Origin.Line
	}
	f := newFinding(s.ID(), c, ev)
	switch {
	case c.Name == hardening.Kubelet:
		f.Remediation = fmt.Sprintf("set %s: %s in the KubeletConfiguration (and remove any flag or drop-in that overrides it)", s.Name, want)
	case s.Match == hardening.Present:
		f.Remediation = fmt.Sprintf("set --%s (bulwark render uses %s)", s.Name, want)
	case s.Match == hardening.MinTLS:
		f.Remediation = fmt.Sprintf("set --%s=%s (or TLS 1.3)", s.Name, want)
	default:
		f.Remediation = fmt.Sprintf("set --%s=%s", s.Name, want)
	}
	if c.ConfigFile != "" && c.Name == hardening.Etcd {
		f.Remediation = "set " + s.Name + " in etcd's --config-file " + c.ConfigFile + " (etcd ignores its other flags when one is given)"
	}
	return f
}

// checkEtcdCertAuth: etcd 3.6 asks clients for a certificate whenever a
// trusted CA file is set, with or without --client-cert-auth
// (transport.TLSInfo.ServerConfig: RequireAndVerifyClientCert when
// TrustedCAFile is set). Without the flag but with the CA file, etcd is
// closed: CIS still wants the flag, at low severity. Without either, any
// client gets in.
func checkEtcdCertAuth(caFlag string) func(a *auditor, c *Component, s hardening.Setting, ctx *hardening.Context) {
	return func(a *auditor, c *Component, s hardening.Setting, ctx *hardening.Context) {
		v := c.Flag(s.Name)
		if normalize(v.Value) == "true" {
			return
		}
		f := a.settingFinding(c, s, v, "true")
		if ca, ok := c.Flags[caFlag]; ok && ca.Value != "" {
			f.Severity = finding.Low
			f.Evidence.Detail += "; " + caFlag + " is set, so etcd asks for client certificates anyway (transport.TLSInfo.ServerConfig)"
		}
		a.r.Add(f)
	}
}

func (a *auditor) checkPodGC(c *Component, s hardening.Setting, _ *hardening.Context) {
	v, given := c.Flags[s.Name]
	if !given {
		a.r.Add(a.settingFinding(c, s, c.Flag(s.Name), s.FlagValue(a.context(c.Node))))
		return
	}
	a.r.Check(idPodGCOff)
	if n, err := strconv.Atoi(strings.TrimSpace(v.Value)); err == nil && n <= 0 {
		a.r.Add(newFinding(idPodGCOff, c, Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--terminated-pod-gc-threshold=" + v.Value}))
	}
}

func (a *auditor) checkPids(c *Component, s hardening.Setting, ctx *hardening.Context) {
	v := c.Setting(s)
	if n, err := strconv.ParseInt(strings.TrimSpace(v.Value), 10, 64); err == nil && n > 0 && !v.Unset {
		return
	}
	f := a.settingFinding(c, s, v, s.FlagValue(ctx))
	a.r.Add(f)
}

// checkBindAddress wants the controller manager's and the scheduler's
// HTTPS endpoint on loopback, unless it is off (--secure-port=0).
func (a *auditor) checkBindAddress(c *Component, s hardening.Setting, ctx *hardening.Context) {
	if v, ok := c.Flags["secure-port"]; ok && strings.TrimSpace(v.Value) == "0" {
		return
	}
	if v := c.Setting(s); !matches(s.Match, v, s.FlagValue(ctx)) {
		a.r.Add(a.settingFinding(c, s, v, s.FlagValue(ctx)))
	}
}

// tidy names every file under the folder by its path relative to it (as
// SARIF's uriBaseId and accepted-risk scopes read it), and gives findings
// about a node's own files (nodes/<node>/manifests/, pki/etcd/<node>/) that
// node.
func (a *auditor) tidy() {
	root, err := filepath.Abs(a.dir.Path("."))
	if err != nil {
		return
	}
	for i := range a.r.Findings {
		f := &a.r.Findings[i]
		if f.Evidence.File == "" {
			continue
		}
		if abs, err := filepath.Abs(f.Evidence.File); err == nil && filepath.IsAbs(f.Evidence.File) {
			if rel, err := filepath.Rel(root, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				f.Evidence.File = filepath.ToSlash(rel)
			}
		}
		if f.Node != "" {
			continue
		}
		parts := strings.Split(f.Evidence.File, "/")
		switch {
		case len(parts) >= 3 && parts[0] == layout.ManifestsDir && a.nodes[parts[1]] != nil:
			f.Node = parts[1]
		case len(parts) >= 3 && parts[0] == layout.NodesDir && a.nodes[parts[1]] != nil:
			f.Node = parts[1]
		case len(parts) >= 4 && parts[0] == layout.PKIDir && parts[1] == "etcd" && a.nodes[parts[2]] != nil:
			f.Node = parts[2]
		}
	}
}
