package audit

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/expiry"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/release"
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
		opts.Root = layout.DefaultRoot
	}
	if opts.WarnWithin == 0 {
		opts.WarnWithin = expiry.DefaultWarnWithin
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
	n.checkModes(r)
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
	if data, err := n.dir.Read(layout.ConfigFile); err == nil {
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

// dropIns lists a unit's drop-ins in the order systemd applies them, after
// the unit: <unit>.d/*.conf beside it and, when the unit is installed in
// one of systemd's folders, <unit>.d/*.conf in every one of them (older
// kubelet packages put kubelet.service in /lib/systemd/system and
// kubeadm's 10-kubeadm.conf in /etc/systemd/system/kubelet.service.d). A
// name in a folder of higher priority hides the same name in a lower one;
// all apply in name order.
func (n *node) dropIns(unit string) ([]string, error) {
	dirs := []string{unit + ".d"}
	unitDirs := n.opts.UnitDirs
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
		units := [][]byte{data}
		dropIns, err := n.dropIns(f)
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
		c, err := fromCommandLine(f, units, n.read)
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
		if ok, _ := n.dir.Exists(layout.KubeletConfigFile); ok {
			f := n.dir.Path(layout.KubeletConfigFile)
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
	"kube-apiserver:authentication-config":    checkAnonymous,
	"kube-apiserver:authorization-mode":       checkAuthorizationMode,
	"kube-apiserver:enable-admission-plugins": checkAdmission,
	"etcd:client-cert-auth":                   checkEtcdCertAuth("trusted-ca-file"),
	"etcd:peer-client-cert-auth":              checkEtcdCertAuth("peer-trusted-ca-file"),
}

// checkEtcdCertAuth: etcd 3.6 asks clients for a certificate whenever a
// trusted CA file is set, with or without --client-cert-auth (seen on the
// real etcd in e2e/audit_live_test.go). Without the flag but with the CA
// file, etcd is closed: CIS still wants the flag, at low severity. Without
// either, any client gets in.
func checkEtcdCertAuth(caFlag string) func(n *node, r *Report, c *Component, s hardening.Setting) {
	return func(n *node, r *Report, c *Component, s hardening.Setting) {
		v := c.Flag(s.Name)
		if normalize(v.Value) == "true" {
			return
		}
		f := settingFinding(c, s, v, "true")
		if ca, ok := c.Flags[caFlag]; ok && ca.Value != "" {
			f.Severity = hardening.Low
			f.Evidence.Detail += "; --" + caFlag + " is set, so etcd " + release.EtcdMinor() + " asks for client certificates anyway"
		}
		r.add(f)
	}
}

// checkAdmission wants NodeRestriction (high) and DenyServiceExternalIPs
// (low) enabled, and notes the CIS manual items EventRateLimit and
// AlwaysPullImages, which need a configuration or a workload policy of the
// cluster's own.
func checkAdmission(n *node, r *Report, c *Component, s hardening.Setting) {
	v := c.Flag("enable-admission-plugins")
	on := strings.Split(v.Value, ",")
	ev := Evidence{File: c.Source, Detail: "--enable-admission-plugins is not set"}
	if !v.Origin.Default {
		ev = Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--enable-admission-plugins=" + v.Value}
	}
	for _, p := range []struct {
		name, cis, why string
		sev            hardening.Severity
	}{
		{"NodeRestriction", "1.2.14", "a kubelet may only change its own Node and Pods", hardening.High},
		{"DenyServiceExternalIPs", "1.2.3", "no Service can claim an outside address (CVE-2020-8554)", hardening.Low},
		{"EventRateLimit", "1.2.9", "limits event floods; needs an admission configuration of the cluster's own", hardening.Info},
		{"AlwaysPullImages", "1.2.11", "private images are pulled with each Pod's own credentials; fits multi-tenant clusters", hardening.Info},
	} {
		if !slices.Contains(on, p.name) {
			r.add(Finding{ID: "kube-apiserver:admission:" + p.name, Severity: p.sev, Component: string(c.Name), CIS: p.cis,
				Title: "kube-apiserver: admission plugin " + p.name + " is off: " + p.why, Evidence: ev,
				Remediation: "add " + p.name + " to --enable-admission-plugins"})
		}
	}
}

func (n *node) checkComponent(r *Report, c *Component) {
	for _, s := range hardening.For(c.Name) {
		if s.Match == hardening.NotAudited {
			continue
		}
		if s.OnlyIf != "" {
			if v, given := c.Flags[s.OnlyIf]; !given || v.Value == "" {
				continue
			}
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
		case hardening.AtLeast:
			have, err1 := strconv.Atoi(strings.TrimSpace(v.Value))
			min, err2 := strconv.Atoi(want)
			ok = !v.Unset && err1 == nil && err2 == nil && have >= min
		case hardening.Subset:
			ok = !v.Unset && v.Value != "" && containsAll(want, v.Value)
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
// A kubelet that serves a certificate of its own (tlsCertFile) to an API
// server that verifies it (--kubelet-certificate-authority) has no gap.
func (n *node) checkKubeletServing(r *Report, c *Component) {
	if normalize(c.Setting(hardening.Setting{Component: hardening.Kubelet, Name: "serverTLSBootstrap"}).Value) == "true" {
		return
	}
	verified := false
	if api := n.find(hardening.APIServer); api != nil {
		_, verified = api.Flags["kubelet-certificate-authority"]
	}
	own := c.Setting(hardening.Setting{Component: hardening.Kubelet, Name: "tlsCertFile"})
	if f, ok := c.Flags["tls-cert-file"]; ok {
		own = f
	}
	if !own.Unset && own.Value != "" && verified {
		return
	}
	title := "kubelet serves a self-signed certificate: the API server cannot verify it (--kubelet-certificate-authority)"
	if !own.Unset && own.Value != "" {
		title = "the API server does not verify the kubelet's serving certificate (no --kubelet-certificate-authority)"
	}
	r.add(Finding{ID: "kubelet:serverTLSBootstrap", Severity: hardening.Info, Component: "kubelet", CIS: "4.2.9",
		Title:       title,
		Evidence:    Evidence{File: c.Source, Detail: "serverTLSBootstrap is not true and no verified tlsCertFile"},
		Remediation: "set serverTLSBootstrap: true together with a CSR approver that checks each serving CSR against its Node, then set the API server's --kubelet-certificate-authority"})
}
