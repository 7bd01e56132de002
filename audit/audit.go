// Package audit checks a control plane against the same hardening table
// that render writes from, plus the certificate rules of the plan: it
// computes each component's effective configuration (flags over
// configuration file over the pinned releases' real built-in defaults) and
// reports every rule broken, with evidence and remediation.
package audit

import (
	"fmt"
	"github.com/bulwark-k8s/bulwark/store"
	"sort"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/hardening"
)

// Evidence says where a finding was seen.
type Evidence struct {
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Response string `json:"response,omitempty"`
	Detail   string `json:"detail"`
}

func (e Evidence) String() string {
	var parts []string
	switch {
	case e.File != "" && e.Line > 0:
		parts = append(parts, fmt.Sprintf("%s:%d", e.File, e.Line))
	case e.File != "":
		parts = append(parts, e.File)
	case e.Endpoint != "":
		parts = append(parts, e.Endpoint)
	}
	if e.Response != "" {
		parts = append(parts, e.Response)
	}
	parts = append(parts, e.Detail)
	return strings.Join(parts, ": ")
}

// Finding is one rule broken.
type Finding struct {
	ID          string             `json:"id"`
	Severity    hardening.Severity `json:"severity"`
	Title       string             `json:"title"`
	Component   string             `json:"component,omitempty"`
	Evidence    Evidence           `json:"evidence"`
	Remediation string             `json:"remediation"`
	CIS         string             `json:"cis,omitempty"`
}

// Report is the outcome of an audit.
type Report struct {
	Findings   []Finding   `json:"findings"`
	Components []Component `json:"components"`
	// Checked counts the rules evaluated, so that an empty report can be
	// told from an audit that found nothing to check.
	Checked int `json:"checked"`
}

var severityRank = map[hardening.Severity]int{
	hardening.Info: 0, hardening.Low: 1, hardening.Medium: 2, hardening.High: 3, hardening.Critical: 4,
}

// ParseSeverity reads a severity name.
func ParseSeverity(s string) (hardening.Severity, error) {
	sev := hardening.Severity(strings.ToLower(s))
	if _, ok := severityRank[sev]; !ok {
		return "", fmt.Errorf("unknown severity %q (want info, low, medium, high or critical)", s)
	}
	return sev, nil
}

// AtLeast reports whether a severity is at or above another.
func AtLeast(s, min hardening.Severity) bool { return severityRank[s] >= severityRank[min] }

// Worst is the highest severity in the report, or "" if it has no finding.
func (r *Report) Worst() hardening.Severity {
	var w hardening.Severity
	for _, f := range r.Findings {
		if w == "" || severityRank[f.Severity] > severityRank[w] {
			w = f.Severity
		}
	}
	return w
}

func (r *Report) add(f Finding) { r.Findings = append(r.Findings, f) }

func (r *Report) sort() {
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if severityRank[a.Severity] != severityRank[b.Severity] {
			return severityRank[a.Severity] > severityRank[b.Severity]
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Evidence.String() < b.Evidence.String()
	})
}

// SystemUnitDirs are the folders systemd reads system units and their
// drop-ins from, highest priority first.
var SystemUnitDirs = []string{"/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// Options say what to audit.
type Options struct {
	// Dir is the cluster folder: pki/, *.conf and, unless ManifestDir says
	// otherwise, manifests/.
	Dir string
	// Root is the folder's path as the manifests name it (default
	// /etc/kubernetes): paths under it are read from Dir.
	Root string
	// ManifestDir holds static Pod manifests. Default Dir/manifests.
	ManifestDir string
	// CommandLines are systemd units or files holding a component's
	// command line, for components that are not static Pods.
	CommandLines []string
	// KubeletConfig is a KubeletConfiguration to audit when no kubelet
	// command line names one.
	KubeletConfig string
	// FileOwner and FileGroup own every key, certificate, kubeconfig,
	// manifest and unit the audit looks at (CIS: root:root, the zero
	// values).
	FileOwner, FileGroup int
	// UnitDirs are systemd's system unit folders, highest priority first
	// (default SystemUnitDirs). A unit installed in one of them gets the
	// drop-ins of all of them, as systemd applies them.
	UnitDirs []string
	// Now and WarnWithin drive the expiry rules.
	Now        time.Time
	WarnWithin time.Duration
	// Secrets opens the folder's secrets (encrypted at rest: an
	// atrest.Sealer, or atrest.Locked without an identity, which makes
	// the checks that need a secret skip it). Default: plaintext.
	Secrets store.Secrets
}
