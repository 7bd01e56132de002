package audit

import (
	"sort"
	"strings"

	"github.com/bulwark-k8s/bulwark/hardening"
)

// Rule ID suffixes of the feature-gate checks (component:...).
const (
	idGateRotateServer = ":rotate-kubelet-server-certificate-off"
	idGateAllAlpha     = ":feature-gates-all-alpha"
)

// gateComponents are the components whose feature gates are judged.
var gateComponents = []hardening.Component{hardening.APIServer, hardening.ControllerManager, hardening.Scheduler, hardening.Kubelet}

// featureGates is a component's effective feature gates: the kubelet's
// featureGates map (file and drop-ins), with --feature-gates over it gate
// by gate; the others' --feature-gates (repeated flags accumulate).
func featureGates(c *Component) map[string]Value {
	out := map[string]Value{}
	if c.Name == hardening.Kubelet {
		keys := make([]string, 0, len(c.Config))
		for k := range c.Config {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if gate, ok := strings.CutPrefix(k, "featureGates."); ok {
				out[gate] = c.Config[k]
			}
		}
	}
	if v, ok := c.Flags["feature-gates"]; ok {
		for _, kv := range listValue(v.Value) {
			gate, val, _ := strings.Cut(kv, "=")
			out[strings.TrimSpace(gate)] = Value{Value: strings.TrimSpace(val), Origin: v.Origin}
		}
	}
	return out
}

// checkFeatureGates finds gates that switch a protection off
// (RotateKubeletServerCertificate, CIS 1.3.6 and 4.2.11) or turn on every
// alpha or beta feature at once.
func (a *auditor) checkFeatureGates(c *Component) {
	gates := featureGates(c)
	if c.Name == hardening.ControllerManager || c.Name == hardening.Kubelet {
		id := string(c.Name) + idGateRotateServer
		a.r.Check(id)
		if v, ok := gates["RotateKubeletServerCertificate"]; ok && normalize(v.Value) == "false" {
			a.r.Add(newFinding(id, c, Evidence{File: or(v.Origin.File, c.Source), Line: v.Origin.Line, Detail: "RotateKubeletServerCertificate=false"}))
		}
	}
	id := string(c.Name) + idGateAllAlpha
	a.r.Check(id)
	for _, g := range []string{"AllAlpha", "AllBeta"} {
		if v, ok := gates[g]; ok && normalize(v.Value) == "true" {
			a.r.Add(newFinding(id, c, Evidence{File: or(v.Origin.File, c.Source), Line: v.Origin.Line, Detail: g + "=true"}))
			return
		}
	}
}
