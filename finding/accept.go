package finding

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// AcceptKind is the kind of an accepted-risks file.
const AcceptKind = "AcceptedRisks"

// Acceptance is one accepted risk: the findings of one rule, within a
// scope, accepted for a written reason, until an optional date.
type Acceptance struct {
	// Rule is a rule ID.
	Rule string `json:"rule"`
	// Scope is a glob (path.Match) matched against a finding's node,
	// component, file (as reported; a pattern without "/" also matches the
	// file's base name), endpoint and object; "*" accepts the rule
	// everywhere.
	Scope string `json:"scope"`
	// Reason says why the risk is accepted; it is shown with every finding
	// it covers.
	Reason string `json:"reason"`
	// Expires, if set, ends the acceptance at the start of that day (UTC).
	Expires string `json:"expires,omitempty"`
	// Source is where it was declared (file:line of its entry).
	Source string `json:"source,omitempty"`

	expires time.Time
	used    bool
}

type acceptFile struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Accept     []Acceptance `json:"accept"`
}

// ErrAcceptances wraps every error in an accepted-risks file.
var ErrAcceptances = errors.New("invalid accepted risks")

// ParseAcceptances reads an accepted-risks file:
//
//	apiVersion: bulwark.dev/v1alpha1
//	kind: AcceptedRisks
//	accept:
//	- rule: kube-apiserver:profiling
//	  scope: cp-1
//	  reason: "profiling stays on during the load tests (ticket OPS-12)"
//	  expires: 2027-01-31
//
// Every entry needs a rule declared in rules (when rules is not nil), a
// scope that is a valid glob, and a reason. Unknown fields are errors.
func ParseAcceptances(data []byte, source string, rules *Rules) ([]Acceptance, error) {
	var f acceptFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrAcceptances, source, err)
	}
	if f.Kind != AcceptKind {
		return nil, fmt.Errorf("%w: %s: kind %q, want %s", ErrAcceptances, source, f.Kind, AcceptKind)
	}
	lines := entryLines(data)
	for i := range f.Accept {
		a := &f.Accept[i]
		where := fmt.Sprintf("%s: accept[%d]", source, i)
		if i < len(lines) {
			a.Source = fmt.Sprintf("%s:%d", source, lines[i])
			where = a.Source
		} else {
			a.Source = where
		}
		switch {
		case a.Rule == "":
			return nil, fmt.Errorf("%w: %s: no rule", ErrAcceptances, where)
		case strings.TrimSpace(a.Reason) == "":
			return nil, fmt.Errorf("%w: %s: rule %s is accepted without a reason", ErrAcceptances, where, a.Rule)
		case a.Scope == "":
			return nil, fmt.Errorf("%w: %s: rule %s has no scope (\"*\" for everywhere)", ErrAcceptances, where, a.Rule)
		}
		if _, err := path.Match(a.Scope, ""); err != nil {
			return nil, fmt.Errorf("%w: %s: scope %q: %v", ErrAcceptances, where, a.Scope, err)
		}
		if rules != nil {
			if _, ok := rules.Get(a.Rule); !ok {
				return nil, fmt.Errorf("%w: %s: no rule %q", ErrAcceptances, where, a.Rule)
			}
		}
		if a.Expires != "" {
			t, err := time.Parse(time.DateOnly, a.Expires)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: expires %q is not a date (YYYY-MM-DD)", ErrAcceptances, where, a.Expires)
			}
			a.expires = t
		}
	}
	return f.Accept, nil
}

// entryLines finds the line of each "- " entry under accept:.
func entryLines(data []byte) []int {
	var out []int
	in := false
	for i, l := range bytes.Split(data, []byte("\n")) {
		t := bytes.TrimSpace(l)
		switch {
		case bytes.HasPrefix(l, []byte("accept:")):
			in = true
		case in && len(l) > 0 && l[0] != ' ' && l[0] != '-' && l[0] != '#':
			in = false
		case in && bytes.HasPrefix(t, []byte("- ")) && (len(l)-len(bytes.TrimLeft(l, " "))) <= 2:
			out = append(out, i+1)
		}
	}
	return out
}

// matches reports whether an acceptance covers a finding.
func (a *Acceptance) matches(f *Finding) bool {
	if a.Rule != f.ID {
		return false
	}
	if a.Scope == "*" {
		return true
	}
	for _, k := range []string{f.Node, f.Component, f.Evidence.File, f.Evidence.Endpoint, f.Evidence.Object} {
		if k == "" {
			continue
		}
		if ok, _ := path.Match(a.Scope, k); ok {
			return true
		}
		// A pattern without a slash also matches a file's base name.
		if !strings.Contains(a.Scope, "/") && strings.Contains(k, "/") {
			if ok, _ := path.Match(a.Scope, path.Base(k)); ok {
				return true
			}
		}
	}
	return false
}

// Rules of accepted risks themselves.
const (
	AcceptUnusedID  = "accept:unused"
	AcceptExpiredID = "accept:expired"
)

// AcceptRules are the rules about accepted risks.
func AcceptRules() []Rule {
	return []Rule{
		{ID: AcceptUnusedID, Severity: Low, Title: "an accepted risk matches no finding: it may hide a future one, or its rule or scope is misspelt",
			Remediation: "remove the entry, or correct its rule or scope"},
		{ID: AcceptExpiredID, Severity: Low, Title: "an accepted risk has expired: the findings it covered count again",
			Remediation: "fix what it covered, or review the risk and set a new expiry"},
	}
}

// Accept applies accepted risks to the report, as of now: every finding
// an acceptance in force covers is marked accepted (never dropped); an
// expired acceptance is a finding of its own, and so is one that covers no
// finding. Calling it again re-applies the same list (after Merge).
func (r *Report) Accept(list []Acceptance, now time.Time) {
	kept := r.Findings[:0]
	for _, f := range r.Findings {
		if f.ID == AcceptUnusedID || f.ID == AcceptExpiredID {
			continue
		}
		f.Accepted = nil
		kept = append(kept, f)
	}
	r.Findings = kept
	r.Acceptances = list
	if len(list) == 0 {
		return
	}
	if r.rules != nil {
		for _, rule := range AcceptRules() {
			if _, ok := r.rules.Get(rule.ID); !ok {
				r.rules = r.rules.Merge(NewRules([]Rule{rule}))
			}
		}
	}
	accept := NewRules(AcceptRules())
	for i := range list {
		a := &list[i]
		a.used = false
		r.Check(AcceptUnusedID)
		if !a.expires.IsZero() && !now.Before(a.expires) {
			f := accept.New(AcceptExpiredID, Evidence{File: a.Source, Detail: fmt.Sprintf("rule %s, scope %q expired on %s (reason: %s)", a.Rule, a.Scope, a.Expires, a.Reason)})
			r.Add(f)
			a.used = true
			continue
		}
		for j := range r.Findings {
			f := &r.Findings[j]
			if f.Accepted == nil && a.matches(f) {
				acc := *a
				f.Accepted = &acc
				a.used = true
			}
		}
	}
	for i := range list {
		if a := &list[i]; !a.used {
			r.Add(accept.New(AcceptUnusedID, Evidence{File: a.Source, Detail: fmt.Sprintf("rule %s, scope %q covers no finding", a.Rule, a.Scope)}))
		}
	}
	r.Sort()
}
