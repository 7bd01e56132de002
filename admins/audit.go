package admins

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/store"
)

// Rule IDs of the administrators' checks that `bulwark audit` reports.
const (
	RuleIssuanceLog        = "admins:issuance-log"
	RuleRotationRequired   = "admins:rotation-required"
	RuleCARotationRequired = "admins:ca-rotation-required"
	RuleRotationState      = "admins:rotation-state"
	RuleRecipients         = "admins:recipients-manifest"
	RuleSecretsLocked      = "admins:secrets-skipped"
	RulePlaintextKey       = "admins:plaintext-key"
)

var rules = finding.NewRules([]finding.Rule{
	{ID: RuleRecipients, Severity: finding.Critical,
		Title:       "the recipients manifest is not signed by an administrator, does not follow from the version before, or was rewritten (its head or a sealed file names another version)",
		Remediation: "restore " + layout.RecipientsDir + " from a trusted copy; do not use the secrets until then"},
	{ID: RuleSecretsLocked, Severity: finding.Info,
		Title:       "secrets encrypted at rest were not read (no identity)",
		Remediation: "run audit with --identity to check key pairs and kubeconfigs too"},
	{ID: RulePlaintextKey, Severity: finding.High,
		Title:       "a private key or a kubeconfig with a key is in plaintext in a folder whose secrets are encrypted",
		Remediation: "move it out of the folder, or delete it, and rotate what it holds if the folder was shared; bulwark encrypt refuses a folder that holds one"},
	{ID: RuleIssuanceLog, Severity: finding.High,
		Title:       "the issuance log of administrator certificates is broken",
		Remediation: "restore the log from a trusted copy; an entry changed, removed or inserted hides a certificate"},
	{ID: RuleRotationState, Severity: finding.High,
		Title:       "the rotation state cannot be read",
		Remediation: "restore it; until then assume every key must be rotated"},
	{ID: RuleRotationRequired, Severity: finding.High,
		Title:       "a key or secret that someone who no longer should could read has not been rotated",
		Remediation: "rotate it (bulwark rotate); see bulwark rotate status"},
	{ID: RuleCARotationRequired, Severity: finding.Critical,
		Title:       "a CA key that someone who no longer should could read has not been rotated",
		Remediation: "rotate the CA (bulwark rotate); see bulwark rotate status"},
})

// Rules lists the rules Audit reports.
func Rules() *finding.Rules { return rules }

// Audit checks a folder's administrators: the recipients manifest's chain
// of signatures, the issuance log's hash chain and signatures, and the
// rotation state. It returns the Secrets to read the folder's sealed files
// with (locked without an identity, or when the manifest is refused).
func Audit(d *store.Dir, id *atrest.Identity) (*finding.Report, store.Secrets, error) {
	r := finding.NewReport(rules)
	secrets := d.Secrets
	_, herr := LoadHistory(d)
	r.Check(RuleRecipients)
	switch {
	case errors.Is(herr, ErrNoManifest):
	case herr != nil:
		r.Add(rules.New(RuleRecipients, finding.Evidence{File: layout.RecipientsDir, Detail: herr.Error()}))
		secrets = atrest.Locked{}
	default:
		if _, err := Open(d, id); err != nil {
			return nil, nil, err
		}
		secrets = d.Secrets
		r.Check(RulePlaintextKey)
		copies, err := PlaintextCopies(d, true)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range copies {
			r.Add(rules.New(RulePlaintextKey, finding.Evidence{File: c.File, Detail: c.What}))
		}
		if id == nil {
			if files, err := SecretFiles(d); err == nil && len(files) > 0 {
				r.Add(rules.New(RuleSecretsLocked, finding.Evidence{File: d.Root(),
					Detail: fmt.Sprintf("%d files skipped by the checks that need their content: %s", len(files), strings.Join(files, ", "))}))
			}
		}
	}
	r.Check(RuleIssuanceLog)
	// A log is checked against the manifest history: not against one
	// that is refused.
	if _, err := VerifyIssuanceLog(d); err != nil && (herr == nil || errors.Is(herr, ErrNoManifest)) {
		r.Add(rules.New(RuleIssuanceLog, finding.Evidence{File: layout.IssuanceLogFile, Detail: err.Error()}))
	}
	r.Check(RuleRotationRequired)
	s, err := ReadRotationState(d)
	if err != nil {
		r.Add(rules.New(RuleRotationState, finding.Evidence{File: layout.RotationStateFile, Detail: err.Error()}))
		return r, secrets, nil
	}
	for _, c := range s.Compromised {
		id := RuleRotationRequired
		if c.CA {
			id = RuleCARotationRequired
		}
		r.Add(rules.New(id, finding.Evidence{File: c.File, Detail: c.Reason + " on " + c.Since.Format(time.RFC3339)}))
	}
	return r, secrets, nil
}
