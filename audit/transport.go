package audit

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/hardening"
)

// checkEtcdListeners finds plain-HTTP listeners beyond loopback: client
// URLs (the whole key space, no authentication), peer URLs (membership and
// replication) and metrics URLs (metrics and health).
func (a *auditor) checkEtcdListeners(c *Component) {
	for _, l := range []struct{ flag, id string }{
		{"listen-client-urls", idEtcdPlainClient},
		{"listen-client-http-urls", idEtcdPlainClient},
		{"listen-peer-urls", idEtcdPlainPeer},
		{"listen-metrics-urls", idEtcdMetrics},
	} {
		a.r.Check(l.id)
		v := c.Flag(l.flag)
		for _, u := range listValue(v.Value) {
			if !strings.HasPrefix(strings.ToLower(u), "http://") {
				continue
			}
			ev := Evidence{File: or(v.Origin.File, c.Source), Line: v.Origin.Line, Detail: l.flag + " includes " + u}
			switch {
			case !isLoopback(u):
				a.r.Add(newFinding(l.id, c, ev))
			case l.id == idEtcdPlainClient:
				// On loopback, the client API still serves every key
				// without a certificate to any process of the node.
				a.r.Add(newFinding(idEtcdPlainLoopback, c, ev))
			default:
				continue
			}
			break
		}
	}
}

func (a *auditor) checkEtcdExtras(c *Component) {
	a.r.Check(idPeerSkipSAN)
	for _, name := range []string{"peer-skip-client-san-verification", "experimental-peer-skip-client-san-verification"} {
		if v, ok := c.Flags[name]; ok && normalize(v.Value) == "true" {
			a.r.Add(newFinding(idPeerSkipSAN, c, Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: name + " is true"}))
			break
		}
	}
	a.r.Check(idEtcdPprof)
	if v, ok := c.Flags["enable-pprof"]; ok && normalize(v.Value) == "true" {
		a.r.Add(newFinding(idEtcdPprof, c, Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "enable-pprof is true"}))
	}
	a.cipherList(c, "cipher-suites", c.Flag("cipher-suites"), false)
}

// cipherClass says how bad an allowed cipher suite is: 2 insecure (RC4,
// 3DES, NULL, EXPORT, MD5, and CBC with SHA-256, which Go leaves without
// Lucky13 countermeasures), 1 weak (CBC, or no forward secrecy: RSA key
// exchange), 0 strong (ECDHE with an AEAD, and TLS 1.3's).
func cipherClass(name string) int {
	n := strings.ToUpper(strings.TrimSpace(name))
	switch {
	case strings.Contains(n, "RC4") || strings.Contains(n, "3DES") || strings.Contains(n, "NULL") || strings.Contains(n, "EXPORT") ||
		strings.Contains(n, "MD5") || strings.HasSuffix(n, "_CBC_SHA256"):
		return 2
	case strings.HasPrefix(n, "TLS_AES_") || strings.HasPrefix(n, "TLS_CHACHA20_"):
		return 0
	case !strings.Contains(n, "ECDHE") || strings.Contains(n, "CBC"):
		return 1
	}
	return 0
}

// checkCiphers judges an explicit cipher list: insecure suites are a
// high finding, weak ones medium (both worse than leaving Go's defaults);
// no list at all is the table row's low finding.
func (a *auditor) checkCiphers(c *Component, s hardening.Setting, ctx *hardening.Context) {
	v := c.Setting(s)
	if v.Unset || strings.TrimSpace(v.Value) == "" {
		a.r.Add(a.settingFinding(c, s, v, s.FlagValue(ctx)))
		return
	}
	a.cipherList(c, s.Name, v, false)
}

func (a *auditor) cipherList(c *Component, name string, v Value, _ bool) {
	a.r.Check(string(c.Name) + idWeakCiphers)
	worst, which := 0, ""
	for _, s := range listValue(v.Value) {
		if k := cipherClass(s); k > worst {
			worst, which = k, s
		}
	}
	if worst == 0 {
		return
	}
	id := string(c.Name) + idWeakCiphers
	if worst == 2 {
		id = string(c.Name) + idInsecureCiphers
	}
	a.r.Add(newFinding(id, c, Evidence{File: or(v.Origin.File, c.Source), Line: v.Origin.Line, Detail: name + " allows " + which}))
}

// checkServing: the controller manager's and the scheduler's HTTPS
// endpoints: TLS version, cipher suites, and the paths served without
// authorization.
func (a *auditor) checkServing(c *Component) {
	id := string(c.Name) + ":tls-min-version"
	a.r.Check(id)
	if v := c.Flag("tls-min-version"); tlsRank(v.Value) < 12 {
		a.r.Add(newFinding(id, c, Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--tls-min-version=" + v.Value}))
	}
	if v, ok := c.Flags["tls-cipher-suites"]; ok {
		a.cipherList(c, "tls-cipher-suites", v, false)
	}
	id = string(c.Name) + idAlwaysAllowPaths
	a.r.Check(id)
	if v, ok := c.Flags["authorization-always-allow-paths"]; ok {
		health := []string{"/healthz", "/readyz", "/livez"}
		for _, p := range listValue(v.Value) {
			if !slices.Contains(health, p) && !strings.HasPrefix(p, "/healthz/") && !strings.HasPrefix(p, "/readyz/") && !strings.HasPrefix(p, "/livez/") {
				a.r.Add(newFinding(id, c, Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--authorization-always-allow-paths includes " + p}))
				break
			}
		}
	}
}

// checkKubeletExtras: fields the table does not render but a reviewer
// checks.
func (a *auditor) checkKubeletExtras(c *Component) {
	origin := func(v Value) (string, int) { return or(v.Origin.File, c.Source), v.Origin.Line }
	a.r.Check(idKubeletStaticURL)
	if v := c.kubelet("staticPodURL"); strings.HasPrefix(strings.ToLower(strings.TrimSpace(v.Value)), "http://") {
		f, l := origin(v)
		a.r.Add(newFinding(idKubeletStaticURL, c, Evidence{File: f, Line: l, Detail: "staticPodURL is " + v.Value}))
	}
	a.r.Check(idKubeletSysctls)
	v := c.kubelet("allowedUnsafeSysctls")
	if fv, ok := c.Flags["allowed-unsafe-sysctls"]; ok {
		v = fv
	}
	for _, s := range listValue(v.Value) {
		if !namespacedSysctl(s) {
			f, l := origin(v)
			a.r.Add(newFinding(idKubeletSysctls, c, Evidence{File: f, Line: l, Detail: "allowedUnsafeSysctls includes " + s}))
			break
		}
	}
	a.r.Check(idKubeletStreaming)
	if v := c.kubelet("streamingConnectionIdleTimeout"); !v.Unset {
		if d, err := time.ParseDuration(strings.TrimSpace(v.Value)); err == nil && (d <= 0 || d > 4*time.Hour) {
			f, l := origin(v)
			a.r.Add(newFinding(idKubeletStreaming, c, Evidence{File: f, Line: l, Detail: "streamingConnectionIdleTimeout is " + v.Value}))
		}
	}
	a.r.Check(idKubeletIPTables)
	if v := c.kubelet("makeIPTablesUtilChains"); normalize(v.Value) == "false" {
		f, l := origin(v)
		a.r.Add(newFinding(idKubeletIPTables, c, Evidence{File: f, Line: l, Detail: "makeIPTablesUtilChains is false"}))
	}
	a.r.Check(idKubeletHealthz)
	if v := c.kubelet("healthzBindAddress"); !v.Unset && !isLoopback(v.Value) {
		port := c.kubelet("healthzPort")
		if p, err := strconv.Atoi(strings.TrimSpace(port.Value)); port.Unset || err != nil || p != 0 {
			f, l := origin(v)
			a.r.Add(newFinding(idKubeletHealthz, c, Evidence{File: f, Line: l, Detail: "healthzBindAddress is " + v.Value}))
		}
	}
	a.r.Check(idKubeletEventQPS)
	if v := c.kubelet("eventRecordQPS"); strings.TrimSpace(v.Value) == "0" {
		f, l := origin(v)
		a.r.Add(newFinding(idKubeletEventQPS, c, Evidence{File: f, Line: l, Detail: "eventRecordQPS is 0"}))
	}
}

// checkKubeletServing reports the kubelet serving-certificate gap as info:
// serverTLSBootstrap needs an approver Kubernetes does not ship. A kubelet
// that serves a certificate of its own (tlsCertFile) to an API server that
// verifies it (--kubelet-certificate-authority) has no gap.
func (a *auditor) checkKubeletServing(c *Component, api *Component) {
	a.r.Check(idKubeletServing)
	if normalize(c.kubelet("serverTLSBootstrap").Value) == "true" {
		return
	}
	verified := api != nil && api.Given("kubelet-certificate-authority")
	own := c.kubelet("tlsCertFile")
	if !own.Unset && own.Value != "" && verified {
		return
	}
	detail := "serverTLSBootstrap is not true and no tlsCertFile: the kubelet serves a self-signed certificate"
	if !own.Unset && own.Value != "" {
		detail = "the API server has no --kubelet-certificate-authority to verify the kubelet's tlsCertFile"
	}
	a.r.Add(newFinding(idKubeletServing, c, Evidence{File: c.Source, Detail: detail}))
}

// removedFlags are flags the pinned releases no longer have, which asked
// for something insecure; a component given one does not start.
var removedFlags = map[hardening.Component]map[string]string{
	hardening.APIServer: {"insecure-port": "an unauthenticated HTTP port", "insecure-bind-address": "an unauthenticated HTTP port",
		"basic-auth-file": "passwords in a file", "kubelet-https": "HTTP to kubelets", "enable-swagger-ui": "the Swagger UI"},
	hardening.ControllerManager: {"port": "an unauthenticated HTTP port", "address": "an unauthenticated HTTP port"},
	hardening.Scheduler:         {"port": "an unauthenticated HTTP port", "address": "an unauthenticated HTTP port"},
}

func (a *auditor) checkRemovedFlags(c *Component) {
	a.r.Check(idRemovedFlag)
	for name, why := range removedFlags[c.Name] {
		v, ok := c.Flags[name]
		if !ok {
			continue
		}
		if name == "kubelet-https" && normalize(v.Value) != "false" || (name == "insecure-port" || name == "port") && strings.TrimSpace(v.Value) == "0" {
			continue
		}
		a.r.Add(newFinding(idRemovedFlag, c, Evidence{File: v.Origin.File, Line: v.Origin.Line, Detail: "--" + name + "=" + v.Value + " (" + why + ")"}))
	}
}

// cacheTTLs are the flags and kubelet fields that keep webhook answers.
var cacheTTLs = map[hardening.Component][]string{
	hardening.APIServer:         {"authentication-token-webhook-cache-ttl", "authorization-webhook-cache-authorized-ttl"},
	hardening.ControllerManager: {"authentication-token-webhook-cache-ttl", "authorization-webhook-cache-authorized-ttl"},
	hardening.Scheduler:         {"authentication-token-webhook-cache-ttl", "authorization-webhook-cache-authorized-ttl"},
	hardening.Kubelet:           {"authentication.webhook.cacheTTL", "authorization.webhook.cacheAuthorizedTTL"},
}

func (a *auditor) checkCacheTTLs(c *Component) {
	id := string(c.Name) + idCacheTTL
	a.r.Check(id)
	for _, name := range cacheTTLs[c.Name] {
		var v Value
		if c.Name == hardening.Kubelet {
			v = c.kubelet(name)
		} else {
			v = c.Flag(name)
		}
		if v.Unset {
			continue
		}
		if d, err := time.ParseDuration(strings.TrimSpace(v.Value)); err == nil && d > 10*time.Minute {
			a.r.Add(newFinding(id, c, Evidence{File: or(v.Origin.File, c.Source), Line: v.Origin.Line, Detail: name + " is " + v.Value}))
			return
		}
	}
}

// namespacedSysctl says whether an allowed unsafe sysctl (or pattern) stays
// inside the Pod's own network or IPC namespace, as the kubelet's
// sysctl allowlist understands them: net.* and the IPC namespace's kernel.shm*,
// kernel.msg*, kernel.sem and fs.mqueue.*. A pattern wider than one of
// those ("*", "kernel.*") reaches settings of the whole node.
func namespacedSysctl(s string) bool {
	s = strings.TrimSpace(s)
	for _, p := range []string{"net.", "kernel.shm", "kernel.msg", "fs.mqueue."} {
		if strings.HasPrefix(s, p) && len(s) > len(p) {
			return true
		}
	}
	return s == "kernel.sem"
}
