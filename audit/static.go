package audit

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
)

// maxInput caps files read from a node: manifests, units, configuration.
const maxInput = 1 << 20

// node is what is being audited.
type node struct {
	opts  Options
	dir   *store.Dir
	plan  *plan.Plan
	ctx   *hardening.Context
	comps []*Component
	// defaulted: the folder has no saved configuration, so node and member
	// names are unknown.
	defaulted bool
}

// Static audits a node's files.
func Static(opts Options) (*Report, error) {
	if opts.Root == "" {
		opts.Root = render.DefaultRoot
	}
	if opts.WarnWithin == 0 {
		opts.WarnWithin = 30 * 24 * 60 * 60 * 1e9
	}
	d, err := store.Open(opts.Dir)
	if err != nil {
		return nil, err
	}
	n := &node{opts: opts, dir: d}
	if err := n.loadPlan(); err != nil {
		return nil, err
	}
	if err := n.discover(); err != nil {
		return nil, err
	}
	r := &Report{}
	for _, c := range n.comps {
		n.checkComponent(r, c)
		r.Components = append(r.Components, *c)
	}
	n.checkCAs(r)
	n.checkCerts(r)
	n.checkKubeconfigs(r)
	r.sort()
	return r, nil
}

// loadPlan uses the folder's saved configuration if there is one, else the
// defaults: either way the table of roles (which CA signs which file, CN,
// O, usages) is the same.
func (n *node) loadPlan() error {
	c := config.Default("node")
	n.defaulted = true
	if data, err := n.dir.Read("bulwark.yaml"); err == nil {
		if parsed, err := config.Parse(data, "node"); err == nil {
			c, n.defaulted = parsed, false
		}
	}
	p, err := plan.New(c)
	if err != nil {
		return err
	}
	n.plan = p
	n.ctx = &hardening.Context{Root: n.opts.Root, Plan: p, Node: c.ControlPlane[0], Member: c.EtcdMembers[0]}
	return nil
}

// local maps a host path named by a component to the file to read here.
func (n *node) local(p string) string {
	if rel, ok := strings.CutPrefix(p, n.opts.Root+"/"); ok {
		return n.dir.Path(rel)
	}
	return p
}

func (n *node) read(p string) ([]byte, error) { return store.ReadInput(n.local(p), maxInput) }

func (n *node) discover() error {
	mdir := n.opts.ManifestDir
	if mdir == "" {
		mdir = n.dir.Path("manifests")
	}
	files, err := store.List(mdir, ".yaml", ".yml", ".json", ".manifest")
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
			n.comps = append(n.comps, c)
		}
	}
	for _, f := range n.opts.CommandLines {
		data, err := store.ReadInput(f, maxInput)
		if err != nil {
			return err
		}
		c, err := fromCommandLine(f, data)
		if err != nil {
			return err
		}
		n.comps = append(n.comps, c)
	}
	kubelet := n.find(hardening.Kubelet)
	switch {
	case kubelet != nil:
		if cfg, ok := kubelet.Flags["config"]; ok {
			kubelet.ConfigFile = cfg.Value
		}
	case n.opts.KubeletConfig != "":
		kubelet = &Component{Name: hardening.Kubelet, Source: n.opts.KubeletConfig, Flags: map[string]Value{}, ConfigFile: n.opts.KubeletConfig}
		n.comps = append(n.comps, kubelet)
	default:
		if ok, _ := n.dir.Exists(hardening.KubeletConfigFile); ok {
			f := n.dir.Path(hardening.KubeletConfigFile)
			kubelet = &Component{Name: hardening.Kubelet, Source: f, Flags: map[string]Value{}, ConfigFile: f}
			n.comps = append(n.comps, kubelet)
		}
	}
	if kubelet != nil && kubelet.ConfigFile != "" {
		docs := []namedData{}
		data, err := n.read(kubelet.ConfigFile)
		if err != nil {
			return err
		}
		docs = append(docs, namedData{kubelet.ConfigFile, data})
		if dropIn, ok := kubelet.Flags["config-dir"]; ok {
			more, err := store.List(n.local(dropIn.Value), ".conf")
			if err != nil {
				return err
			}
			for _, f := range more {
				data, err := store.ReadInput(f, maxInput)
				if err != nil {
					return err
				}
				docs = append(docs, namedData{f, data})
			}
		}
		if kubelet.Config, err = kubeletConfig(docs); err != nil {
			return err
		}
	}
	if len(n.comps) == 0 {
		if ok, _ := n.dir.Exists("pki"); !ok {
			return errors.New("nothing to audit: no manifests, command lines, kubelet configuration or pki/ folder")
		}
	}
	return nil
}

func (n *node) find(name hardening.Component) *Component {
	for _, c := range n.comps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// custom rules replace the generic comparison for settings with more than
// one good answer.
var custom = map[string]func(n *node, r *Report, c *Component, s hardening.Setting){
	"kube-apiserver:authentication-config": checkAnonymous,
	"kube-apiserver:authorization-mode":    checkAuthorizationMode,
}

func (n *node) checkComponent(r *Report, c *Component) {
	for _, s := range hardening.For(c.Name) {
		if s.Match == hardening.NotAudited {
			continue
		}
		r.Checked++
		if f, ok := custom[s.ID()]; ok {
			f(n, r, c, s)
			continue
		}
		v := c.Setting(s)
		want := s.FlagValue(n.ctx)
		ok := false
		switch s.Match {
		case hardening.Equals:
			ok = !v.Unset && normalize(v.Value) == normalize(want)
		case hardening.Contains:
			ok = !v.Unset && containsAll(v.Value, want)
		case hardening.Present:
			ok = !v.Unset && v.Value != ""
		}
		if !ok {
			r.add(settingFinding(c, s, v, want))
		}
	}
	if c.Name == hardening.Kubelet {
		n.checkKubeletServing(r, c)
	}
}

func normalize(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func containsAll(have, want string) bool {
	items := strings.Split(have, ",")
	for _, w := range strings.Split(want, ",") {
		if !slices.Contains(items, w) {
			return false
		}
	}
	return true
}

func settingFinding(c *Component, s hardening.Setting, v Value, want string) Finding {
	got := "not set"
	switch {
	case !v.Unset && v.Origin.Default:
		got = fmt.Sprintf("not set: built-in default %q", v.Value)
	case !v.Unset:
		got = fmt.Sprintf("%q", v.Value)
	}
	ev := Evidence{File: c.Source, Detail: s.Name + " is " + got}
	if !v.Origin.Default && v.Origin.File != "" {
		ev.File, ev.Line = v.Origin.File, v.Origin.Line
	}
	var fix string
	switch {
	case c.Name == hardening.Kubelet:
		fix = fmt.Sprintf("set %s: %s in the KubeletConfiguration (and remove any flag that overrides it)", s.Name, want)
	case s.Match == hardening.Present:
		fix = fmt.Sprintf("set --%s (bulwark render uses %s)", s.Name, want)
	default:
		fix = fmt.Sprintf("set --%s=%s", s.Name, want)
	}
	return Finding{
		ID: s.ID(), Severity: s.Severity, Component: string(c.Name), CIS: s.CIS,
		Title:       fmt.Sprintf("%s: %s", c.Name, s.Reason),
		Evidence:    ev,
		Remediation: fix,
	}
}

// checkAnonymous accepts --anonymous-auth=false, or an authentication
// configuration that allows anonymous requests on health endpoints only.
func checkAnonymous(n *node, r *Report, c *Component, s hardening.Setting) {
	fail := func(ev Evidence) {
		r.add(Finding{ID: "kube-apiserver:anonymous-auth", Severity: hardening.High, Component: string(c.Name), CIS: "1.2.1",
			Title:       "kube-apiserver accepts anonymous requests beyond the health endpoints",
			Evidence:    ev,
			Remediation: "set --anonymous-auth=false, or --authentication-config with anonymous allowed on /livez, /readyz and /healthz only (bulwark render writes one)"})
	}
	if v, ok := c.Flags["anonymous-auth"]; ok {
		if normalize(v.Value) != "false" {
			fail(Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--anonymous-auth=" + v.Value})
		}
		return
	}
	v, ok := c.Flags["authentication-config"]
	if !ok {
		fail(Evidence{File: c.Source, Detail: "neither --anonymous-auth nor --authentication-config is set: anonymous requests are on by default"})
		return
	}
	data, err := n.read(v.Value)
	if err != nil {
		fail(Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "cannot read the authentication configuration " + v.Value})
		return
	}
	var ac apiserverv1.AuthenticationConfiguration
	if err := yaml.Unmarshal(data, &ac); err != nil {
		fail(Evidence{File: n.local(v.Value), Detail: "not an AuthenticationConfiguration"})
		return
	}
	if ac.Anonymous == nil {
		// Without an anonymous section, --anonymous-auth's default applies.
		fail(Evidence{File: n.local(v.Value), Detail: "no anonymous section: anonymous requests are on by default"})
		return
	}
	if !ac.Anonymous.Enabled {
		return
	}
	health := []string{"/livez", "/readyz", "/healthz"}
	if len(ac.Anonymous.Conditions) == 0 {
		fail(Evidence{File: n.local(v.Value), Detail: "anonymous enabled on every path"})
		return
	}
	for _, cond := range ac.Anonymous.Conditions {
		if !slices.Contains(health, cond.Path) {
			fail(Evidence{File: n.local(v.Value), Detail: "anonymous enabled on " + cond.Path})
			return
		}
	}
}

// checkAuthorizationMode wants Node and RBAC and never AlwaysAllow.
func checkAuthorizationMode(n *node, r *Report, c *Component, s hardening.Setting) {
	if v, ok := c.Flags["authorization-config"]; ok {
		r.add(Finding{ID: "kube-apiserver:authorization-config", Severity: hardening.Info, Component: string(c.Name),
			Title:    "kube-apiserver uses a structured authorization configuration, which this audit does not evaluate",
			Evidence: Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--authorization-config=" + v.Value}, Remediation: "review it by hand"})
		return
	}
	v := c.Flag("authorization-mode")
	modes := strings.Split(v.Value, ",")
	if !slices.Contains(modes, "Node") || !slices.Contains(modes, "RBAC") || slices.Contains(modes, "AlwaysAllow") {
		r.add(settingFinding(c, s, v, s.FlagValue(n.ctx)))
	}
}

// checkKubeletServing reports the kubelet serving-certificate gap as a
// warning: serverTLSBootstrap needs an approver Kubernetes does not ship.
func (n *node) checkKubeletServing(r *Report, c *Component) {
	s := hardening.Setting{Component: hardening.Kubelet, Name: "serverTLSBootstrap"}
	if v := c.Setting(s); normalize(v.Value) != "true" {
		r.add(Finding{ID: "kubelet:serverTLSBootstrap", Severity: hardening.Info, Component: "kubelet", CIS: "4.2.12",
			Title:       "kubelet serves a self-signed certificate: the API server cannot verify it (--kubelet-certificate-authority)",
			Evidence:    Evidence{File: c.Source, Detail: "serverTLSBootstrap is " + v.Value},
			Remediation: "set serverTLSBootstrap: true together with a CSR approver that checks each serving CSR against its Node, then set the API server's --kubelet-certificate-authority"})
	}
}

// relPath shows a file of the folder by its path in the folder.
func (n *node) relPath(abs string) string {
	if rel, err := filepath.Rel(n.dir.Root(), abs); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return abs
}
