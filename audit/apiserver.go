package audit

import (
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/store"
)

// policyFile reads a file an API server flag names. A missing or broken
// file is a finding of its own (the API server would not start with it).
func (a *auditor) policyFile(c *Component, flag string, into any) (file string, ok bool) {
	v := c.Flags[flag]
	data, err := a.read(v.Value)
	if err == nil {
		err = yaml.Unmarshal(data, into)
	}
	if errors.Is(err, atrest.ErrLocked) {
		return a.local(v.Value), false // said once by admins' secrets-skipped
	}
	if err != nil {
		a.r.Add(newFinding(idConfigUnreadable, c, Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--" + flag + "=" + v.Value + ": " + err.Error()}))
		return a.local(v.Value), false
	}
	return a.local(v.Value), true
}

// checkAnonymous accepts --anonymous-auth=false, or an authentication
// configuration that allows anonymous requests on health endpoints only.
func (a *auditor) checkAnonymous(c *Component, s hardening.Setting, _ *hardening.Context) {
	fail := func(ev Evidence) { a.r.Add(newFinding(idAnonymous, c, ev)) }
	if v, ok := c.Flags["anonymous-auth"]; ok {
		if normalize(v.Value) != "false" {
			fail(Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--anonymous-auth=" + v.Value})
		}
		return
	}
	if !c.Given("authentication-config") {
		fail(Evidence{File: c.Source, Detail: "neither --anonymous-auth nor --authentication-config is set: anonymous requests are on by default"})
		return
	}
	var ac apiserverv1.AuthenticationConfiguration
	file, ok := a.policyFile(c, "authentication-config", &ac)
	if !ok {
		return
	}
	if ac.Anonymous == nil {
		// Without an anonymous section, --anonymous-auth's default applies.
		fail(Evidence{File: file, Detail: "no anonymous section: anonymous requests are on by default"})
		return
	}
	if !ac.Anonymous.Enabled {
		return
	}
	health := []string{"/livez", "/readyz", "/healthz"}
	if len(ac.Anonymous.Conditions) == 0 {
		fail(Evidence{File: file, Detail: "anonymous enabled on every path"})
		return
	}
	for _, cond := range ac.Anonymous.Conditions {
		if !slices.Contains(health, cond.Path) {
			fail(Evidence{File: file, Detail: "anonymous enabled on " + cond.Path})
			return
		}
	}
}

// checkAuthorization wants Node and RBAC and never AlwaysAllow, from
// --authorization-mode or the authorizers of --authorization-config
// (which replaces it). AlwaysAllow is critical; a chain without Node or
// RBAC (which fails closed) is medium.
func (a *auditor) checkAuthorization(c *Component, s hardening.Setting, _ *hardening.Context) {
	var modes []string
	ev := Evidence{File: c.Source}
	if c.Given("authorization-config") {
		var cfg apiserverv1.AuthorizationConfiguration
		file, ok := a.policyFile(c, "authorization-config", &cfg)
		if !ok {
			return
		}
		ev = Evidence{File: file}
		for i, az := range cfg.Authorizers {
			modes = append(modes, az.Type)
			if az.Type == "Webhook" && az.Webhook != nil && az.Webhook.FailurePolicy == "NoOpinion" && i == len(cfg.Authorizers)-1 {
				a.r.Check(idAuthzWebhook)
			}
		}
		ev.Detail = "authorizers " + strings.Join(modes, ",")
	} else {
		v := c.Flag("authorization-mode")
		modes = listValue(v.Value)
		ev.Detail = "--authorization-mode=" + v.Value
		if v.Origin.Default {
			ev.Detail = "--authorization-mode is not set: the default is AlwaysAllow"
		} else {
			ev.File, ev.Line = v.Origin.File, v.Origin.Line
		}
	}
	switch {
	case slices.Contains(modes, "AlwaysAllow") || len(modes) == 0:
		a.r.Add(newFinding(s.ID(), c, ev))
	case slices.Contains(modes, "ABAC"):
		f := newFinding(s.ID(), c, ev)
		f.Severity = finding.Medium
		f.Evidence.Detail += ": ABAC grants from a policy file that only a restart changes, beside RBAC"
		a.r.Add(f)
	case !slices.Contains(modes, "Node") || !slices.Contains(modes, "RBAC"):
		f := newFinding(s.ID(), c, ev)
		f.Severity = finding.Medium
		f.Evidence.Detail += ": Node and RBAC are both wanted (CIS 1.2.7, 1.2.8)"
		a.r.Add(f)
	}
}

// enabledPlugins is the API server's effective admission chain:
// --admission-control (deprecated) replaces the default list; otherwise
// the default-on plugins, plus --enable-admission-plugins, less
// --disable-admission-plugins.
func enabledPlugins(c *Component) (map[string]bool, Evidence) {
	on := map[string]bool{}
	if v, ok := c.Flags["admission-control"]; ok {
		for _, p := range listValue(v.Value) {
			on[p] = true
		}
		return on, Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--admission-control=" + v.Value + " (replaces the default plugins)"}
	}
	for p := range admissionDefaultOn {
		on[p] = true
	}
	ev := Evidence{File: c.Source, Detail: "--enable-admission-plugins is not set"}
	if v, ok := c.Flags["enable-admission-plugins"]; ok {
		for _, p := range listValue(v.Value) {
			on[p] = true
		}
		ev = Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--enable-admission-plugins=" + v.Value}
	}
	if v, ok := c.Flags["disable-admission-plugins"]; ok {
		for _, p := range listValue(v.Value) {
			delete(on, p)
		}
		ev = Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: ev.Detail + "; --disable-admission-plugins=" + v.Value}
	}
	return on, ev
}

// checkAdmission judges the effective admission chain.
func (a *auditor) checkAdmission(c *Component, s hardening.Setting, _ *hardening.Context) {
	on, ev := enabledPlugins(c)
	a.r.Check(idAlwaysAdmit)
	if on["AlwaysAdmit"] {
		a.r.Add(newFinding(idAlwaysAdmit, c, ev))
	}
	for _, p := range admissionOff {
		id := admissionID(p.plugin)
		if p.plugin == "NodeRestriction" {
			id = s.ID()
		} else {
			a.r.Check(id)
		}
		if !on[p.plugin] {
			a.r.Add(newFinding(id, c, ev))
		}
	}
}

// checkEncryption judges the encryption configuration's content: the
// first entry covering secrets must exist and its first provider (the one
// that writes) must encrypt.
func (a *auditor) checkEncryption(c *Component, s hardening.Setting, ctx *hardening.Context) {
	if !c.Given(s.Name) {
		a.r.Add(a.settingFinding(c, s, c.Flag(s.Name), s.FlagValue(ctx)))
		return
	}
	var cfg apiserverv1.EncryptionConfiguration
	file, ok := a.policyFile(c, s.Name, &cfg)
	if !ok {
		return
	}
	for _, id := range []string{idEncIdentityFirst, idEncNotSecrets, idEncWeak, idEncKMSv1} {
		a.r.Check(id)
	}
	for _, rc := range cfg.Resources {
		if !slices.ContainsFunc(rc.Resources, func(r string) bool { return r == "secrets" || r == "*." || r == "*.*" }) {
			continue
		}
		if len(rc.Providers) == 0 {
			break
		}
		p := rc.Providers[0]
		what := "resources " + strings.Join(rc.Resources, ",")
		switch {
		case p.Identity != nil:
			a.r.Add(newFinding(idEncIdentityFirst, c, Evidence{File: file, Detail: what + ": the first provider is identity"}))
		case p.AESCBC != nil:
			a.r.Add(newFinding(idEncWeak, c, Evidence{File: file, Detail: what + ": the first provider is aescbc"}))
		case p.KMS != nil && p.KMS.APIVersion != "v2":
			a.r.Add(newFinding(idEncKMSv1, c, Evidence{File: file, Detail: what + ": the first provider is kms " + or(p.KMS.APIVersion, "v1")}))
		}
		return
	}
	a.r.Add(newFinding(idEncNotSecrets, c, Evidence{File: file, Detail: "no resources entry covers secrets with a provider"}))
}

// auditProbe is a request the audit policy is asked about.
type auditProbe struct {
	verb, group, resource, namespace string
}

var auditProbes = []auditProbe{
	{"get", "", "secrets", "default"},
	{"create", "", "pods", "default"},
	{"create", "rbac.authorization.k8s.io", "clusterrolebindings", ""},
	{"delete", "", "namespaces", ""},
}

// auditLevel is the level of the first rule of a policy that matches a
// request by an ordinary user (the API server's policy checker: the first
// matching rule decides).
func auditLevel(p *auditv1.Policy, q auditProbe) auditv1.Level {
	for _, r := range p.Rules {
		if len(r.NonResourceURLs) > 0 {
			continue
		}
		if len(r.Users) > 0 && !slices.Contains(r.Users, "alice") && !slices.Contains(r.Users, "*") {
			continue
		}
		if len(r.UserGroups) > 0 && !slices.Contains(r.UserGroups, user.AllAuthenticated) {
			continue
		}
		if len(r.Verbs) > 0 && !slices.Contains(r.Verbs, q.verb) && !slices.Contains(r.Verbs, "*") {
			continue
		}
		if len(r.Namespaces) > 0 && !slices.Contains(r.Namespaces, q.namespace) && !slices.Contains(r.Namespaces, "*") {
			continue
		}
		if len(r.Resources) > 0 && !slices.ContainsFunc(r.Resources, func(g auditv1.GroupResources) bool {
			return (g.Group == q.group || g.Group == "*") && len(g.ResourceNames) == 0 &&
				(len(g.Resources) == 0 || slices.Contains(g.Resources, q.resource) || slices.Contains(g.Resources, "*") || slices.Contains(g.Resources, "*/*"))
		}) {
			continue
		}
		return r.Level
	}
	return auditv1.LevelNone
}

// checkAuditPolicy judges the audit policy's content: it must record
// requests, and must not write Secret contents into the log.
func (a *auditor) checkAuditPolicy(c *Component, s hardening.Setting, ctx *hardening.Context) {
	if !c.Given(s.Name) {
		a.r.Add(a.settingFinding(c, s, c.Flag(s.Name), s.FlagValue(ctx)))
		return
	}
	var p auditv1.Policy
	file, ok := a.policyFile(c, s.Name, &p)
	if !ok {
		return
	}
	a.r.Check(idAuditNothing)
	a.r.Check(idAuditSecrets)
	var none []string
	for _, q := range auditProbes {
		if auditLevel(&p, q) == auditv1.LevelNone {
			none = append(none, q.verb+" "+q.resource)
		}
	}
	if len(none) == len(auditProbes) || len(none) > 0 && none[0] == "get secrets" {
		a.r.Add(newFinding(idAuditNothing, c, Evidence{File: file, Detail: "level None for " + strings.Join(none, ", ")}))
	}
	if l := auditLevel(&p, auditProbes[0]); l == auditv1.LevelRequest || l == auditv1.LevelRequestResponse {
		a.r.Add(newFinding(idAuditSecrets, c, Evidence{File: file, Detail: "secrets are logged at level " + string(l)}))
	}
}

// checkAPIServerExtras: what the table's rows do not say.
func (a *auditor) checkAPIServerExtras(c *Component) {
	a.r.Check(idAPIEtcdPlain)
	a.r.Check(idAPIEtcdPlainLoopback)
	if v, ok := c.Flags["etcd-servers"]; ok {
		for _, u := range listValue(v.Value) {
			if strings.HasPrefix(strings.ToLower(u), "http://") {
				id := idAPIEtcdPlain
				if isLoopback(u) {
					id = idAPIEtcdPlainLoopback
				}
				a.r.Add(newFinding(id, c, Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--etcd-servers includes " + u}))
				break
			}
		}
	}
	a.r.Check(idTokenFile)
	if v, ok := c.Flags["token-auth-file"]; ok && v.Value != "" {
		a.r.Add(newFinding(idTokenFile, c, Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--token-auth-file=" + v.Value}))
		if data, err := a.read(v.Value); err == nil {
			rows, _ := csv.NewReader(strings.NewReader(string(data))).ReadAll()
			for i, row := range rows {
				if len(row) >= 4 && slices.Contains(strings.Split(row[3], ","), user.SystemPrivilegedGroup) {
					a.r.Add(newFinding(idTokenFileMasters, c, Evidence{File: a.local(v.Value), Line: i + 1, Detail: fmt.Sprintf("user %q is in %s", row[1], user.SystemPrivilegedGroup)}))
				}
			}
		}
	}
	a.r.Check(idRequestTimeout)
	if v, ok := c.Flags["request-timeout"]; ok {
		if d, err := time.ParseDuration(strings.TrimSpace(v.Value)); err == nil && (d <= 0 || d > 10*time.Minute) {
			a.r.Add(newFinding(idRequestTimeout, c, Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--request-timeout=" + v.Value}))
		}
	}
	a.checkAdmissionConfig(c)
	a.r.Check(idCORS)
	if v, ok := c.Flags["cors-allowed-origins"]; ok {
		for _, o := range listValue(v.Value) {
			if o == "*" || o == ".*" || strings.HasPrefix(o, ".*") || o == "//.*" || strings.HasSuffix(o, "://.*") {
				a.r.Add(newFinding(idCORS, c, Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--cors-allowed-origins includes " + o}))
				break
			}
		}
	}
	a.r.Check(idSALookup)
	if v, ok := c.Flags["service-account-lookup"]; ok && normalize(v.Value) == "false" {
		a.r.Add(newFinding(idSALookup, c, Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--service-account-lookup=false"}))
	}
}

// checkAdmissionConfig reads --admission-control-config-file: an
// AdmissionConfiguration whose plugins' configurations are inline or in
// files of their own.
func (a *auditor) checkAdmissionConfig(c *Component) {
	if !c.Given("admission-control-config-file") {
		return
	}
	var cfg struct {
		Plugins []struct {
			Name          string         `json:"name"`
			Path          string         `json:"path"`
			Configuration map[string]any `json:"configuration"`
		} `json:"plugins"`
	}
	file, ok := a.policyFile(c, "admission-control-config-file", &cfg)
	if !ok {
		return
	}
	a.r.Check(idImagePolicyOpen)
	on, _ := enabledPlugins(c)
	for _, p := range cfg.Plugins {
		if p.Name != "ImagePolicyWebhook" || !on[p.Name] {
			continue
		}
		conf, where := p.Configuration, file
		if conf == nil && p.Path != "" {
			where = a.local(p.Path)
			if data, err := store.ReadInput(where, maxInput); err == nil {
				_ = yaml.Unmarshal(data, &conf)
			}
		}
		if ip, ok := conf["imagePolicy"].(map[string]any); ok {
			if allow, _ := ip["defaultAllow"].(bool); allow {
				a.r.Add(newFinding(idImagePolicyOpen, c, Evidence{File: where, Detail: "imagePolicy.defaultAllow: true"}))
			}
		}
	}
}
