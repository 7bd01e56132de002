// Package audit checks a control plane against the same hardening table
// that render writes from, plus the PKI rules of package trust, the RBAC
// lint of the folder's cluster objects and the audit's own rules: it
// computes each component's effective configuration from every source the
// component really reads (flags with its parser's syntax, environment,
// configuration files and drop-ins, with the pinned releases' precedence
// and built-in defaults), judges the content of every policy file the
// flags name, and reports every rule broken in bulwark's one finding model
// (package finding), with evidence and remediation.
package audit

import (
	"io"
	"time"

	"github.com/bulwark-k8s/bulwark/store"

	"github.com/bulwark-k8s/bulwark/finding"
)

// Evidence and Finding are the finding model's.
type (
	Evidence = finding.Evidence
	Finding  = finding.Finding
)

// Report is the outcome of an audit: the findings and checks of the
// finding model, and the effective configuration of every component seen.
type Report struct {
	finding.Report
	Components []Component `json:"components"`
}

func newReport() *Report { return &Report{Report: *finding.NewReport(Rules())} }

// Formats lists the report formats.
var Formats = finding.Formats

// Write encodes a report in one of Formats; base is the audited folder
// (SARIF gives files under it relative URIs), version bulwark's.
func (r *Report) Write(w io.Writer, format, base, version string) error {
	return r.Report.Write(w, format, finding.Output{Tool: finding.Tool{Name: "bulwark audit", Version: version}, BaseDir: base, JSON: r})
}

// Merge adds another report's checks, findings and components to r (a
// live audit to a static one), and re-applies r's accepted risks.
func (r *Report) Merge(o *Report, now time.Time) {
	r.Report.Merge(&o.Report)
	r.Components = append(r.Components, o.Components...)
	if len(r.Acceptances) > 0 {
		r.Accept(r.Acceptances, now)
	}
	r.Sort()
}

// SystemUnitDirs are the folders systemd reads system units and their
// drop-ins from, highest priority first.
var SystemUnitDirs = []string{"/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// Options say what to audit.
type Options struct {
	// Dir is the cluster folder: pki/, *.conf, cluster/ and, unless
	// ManifestDir says otherwise, manifests/ (or nodes/<node>/manifests/ for each
	// node of a multi-node folder).
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
	// Accept is the accepted-risks file (default Dir/audit-accept.yaml
	// when it exists; layout.AcceptFile).
	Accept string
	// Now and WarnWithin drive the expiry rules and acceptances' expiry.
	Now        time.Time
	WarnWithin time.Duration
	// Secrets opens the folder's secrets (encrypted at rest: an
	// atrest.Sealer, or atrest.Locked without an identity, which makes
	// the checks that need a secret skip it). Default: plaintext.
	Secrets store.Secrets
}
