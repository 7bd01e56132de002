// Package finding is bulwark's one model of a finding, shared by audit and
// rbac lint: a declared table of rules (ID, severity, CIS ID, a title that
// states the problem, remediation) that every check refers to, one
// Severity with one parser, accepted risks, and one writer per report
// format (table, JSON, SARIF 2.1.0, JUnit).
//
// Severity rubric (by impact, the same for every code path):
//   - critical: anyone who reaches the component, or any credential of the
//     cluster, gets control of the cluster or every Secret (etcd open to any
//     client, AlwaysAllow, anonymous kubelet API, a trust root shared with
//     another channel);
//   - high: a credential, key or Secret is exposed, or one identity can act
//     as another (anonymous API requests, plaintext Secrets at rest, static
//     tokens, weak keys or signatures, world-writable files, keys readable by
//     others, insecure-skip-tls-verify);
//   - medium: a control that limits damage or records evidence is off, or a
//     CIS Level 1 automated recommendation fails (no audit log, profiling,
//     TLS below 1.2, weak cipher suites, long-lived certificates, endpoints
//     beyond loopback, group-readable keys);
//   - low: defence in depth whose absence has little impact on its own, or
//     a CIS manual recommendation; and a recommendation that fails while the
//     protection holds another way (the finding says which);
//   - info: inventory and design choices (a CA key on the node that signs
//     with it, the break-glass credential) — never a failure.
package finding

import (
	"fmt"
	"slices"
	"strings"
)

// Severity grades a finding.
type Severity string

// Severities, from the least to the most serious.
const (
	Info     Severity = "info"
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Severities lists them from the least to the most serious.
func Severities() []Severity { return []Severity{Info, Low, Medium, High, Critical} }

// ParseSeverity reads a severity name, in any case.
func ParseSeverity(s string) (Severity, error) {
	v := Severity(strings.ToLower(strings.TrimSpace(s)))
	if v.Rank() < 0 {
		return "", fmt.Errorf("unknown severity %q (want info, low, medium, high or critical)", s)
	}
	return v, nil
}

// Rank orders severities: info 0 … critical 4; -1 for an unknown one.
func (s Severity) Rank() int { return slices.Index(Severities(), s) }

// AtLeast reports whether s is as serious as min or more.
func (s Severity) AtLeast(min Severity) bool { return s.Rank() >= min.Rank() }

// Score is the severity as a CVSS-like number, SARIF's
// security-severity property (GitHub code scanning reads it: 9.0 and above
// critical, 7.0 high, 4.0 medium, 0.1 low).
func (s Severity) Score() string {
	switch s {
	case Critical:
		return "9.5"
	case High:
		return "8.0"
	case Medium:
		return "5.5"
	case Low:
		return "3.0"
	}
	return "0.0"
}

// Level is the severity as a SARIF level.
func (s Severity) Level() string {
	switch s {
	case Critical, High:
		return "error"
	case Medium, Low:
		return "warning"
	}
	return "note"
}

// Rule is one declared rule.
type Rule struct {
	ID       string
	Severity Severity
	// CIS Kubernetes Benchmark recommendation (CIS 1.12 numbering), if any.
	CIS string
	// Title states the problem ("etcd accepts clients without a
	// certificate"), never the desired state.
	Title       string
	Remediation string
}

// Rules is a table of rules, looked up by ID.
type Rules struct {
	list  []Rule
	index map[string]int
}

// NewRules builds a table from groups of rules. A rule without an ID,
// title, remediation or valid severity, or an ID declared twice, is a
// programming error: it panics (a test builds every table).
func NewRules(groups ...[]Rule) *Rules {
	rs := &Rules{index: map[string]int{}}
	for _, g := range groups {
		for _, r := range g {
			rs.Add(r)
		}
	}
	return rs
}

// Add declares one more rule (see NewRules).
func (rs *Rules) Add(r Rule) {
	switch {
	case r.ID == "" || r.Title == "" || r.Remediation == "":
		panic(fmt.Sprintf("finding: rule %q lacks an ID, title or remediation", r.ID))
	case r.Severity.Rank() < 0:
		panic(fmt.Sprintf("finding: rule %s has severity %q", r.ID, r.Severity))
	}
	if _, dup := rs.index[r.ID]; dup {
		panic("finding: rule " + r.ID + " declared twice")
	}
	rs.index[r.ID] = len(rs.list)
	rs.list = append(rs.list, r)
}

// Get returns a rule by ID.
func (rs *Rules) Get(id string) (Rule, bool) {
	if rs == nil {
		return Rule{}, false
	}
	i, ok := rs.index[id]
	if !ok {
		return Rule{}, false
	}
	return rs.list[i], true
}

// All returns the rules in declaration order.
func (rs *Rules) All() []Rule {
	if rs == nil {
		return nil
	}
	return slices.Clone(rs.list)
}

// Merge returns a table with the rules of both (an ID in both is a
// programming error).
func (rs *Rules) Merge(o *Rules) *Rules {
	return NewRules(rs.All(), o.All())
}

// New makes a finding of a declared rule: its ID, severity, CIS ID, title
// and remediation come from the table. An undeclared ID panics.
func (rs *Rules) New(id string, ev Evidence) Finding {
	r, ok := rs.Get(id)
	if !ok {
		panic("finding: no rule " + id)
	}
	return Finding{ID: r.ID, Severity: r.Severity, CIS: r.CIS, Title: r.Title, Remediation: r.Remediation, Evidence: ev}
}

// Evidence says where a finding was seen.
type Evidence struct {
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	// Object is a cluster object ("ClusterRoleBinding x").
	Object   string `json:"object,omitempty"`
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
	if e.Object != "" {
		parts = append(parts, e.Object)
	}
	if e.Response != "" {
		parts = append(parts, e.Response)
	}
	parts = append(parts, e.Detail)
	return strings.Join(parts, ": ")
}

// Finding is one rule broken, somewhere.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	// Component and Node say what was audited (a multi-node folder names
	// the node of every finding).
	Component   string   `json:"component,omitempty"`
	Node        string   `json:"node,omitempty"`
	Evidence    Evidence `json:"evidence"`
	Remediation string   `json:"remediation"`
	CIS         string   `json:"cis,omitempty"`
	// Accepted is the accepted risk that covers the finding, if any: it is
	// still reported, marked accepted, and does not fail the run.
	Accepted *Acceptance `json:"accepted,omitempty"`
}

// Fails reports whether the finding counts against a threshold: not
// accepted, and at or above min.
func (f Finding) Fails(min Severity) bool { return f.Accepted == nil && f.Severity.AtLeast(min) }

// Report is the outcome of a run: its findings, the checks that ran and the
// rules they belong to.
type Report struct {
	Findings []Finding `json:"findings"`
	// Checked counts the checks evaluated, so that an empty report can be
	// told from a run that found nothing to check.
	Checked int `json:"checked"`
	// Acceptances are the accepted risks the run applied.
	Acceptances []Acceptance `json:"acceptances,omitempty"`

	rules     *Rules
	evaluated map[string]int
}

// NewReport starts a report over a table of rules.
func NewReport(rules *Rules) *Report { return &Report{rules: rules, evaluated: map[string]int{}} }

// Rules is the report's table of rules.
func (r *Report) Rules() *Rules { return r.rules }

// Check counts one evaluation of a rule.
func (r *Report) Check(id string) {
	r.Checked++
	if r.evaluated == nil {
		r.evaluated = map[string]int{}
	}
	r.evaluated[id]++
}

// Evaluated reports how many times a rule was evaluated.
func (r *Report) Evaluated(id string) int { return r.evaluated[id] }

// Add records a finding (its rule counts as evaluated).
func (r *Report) Add(f Finding) {
	if r.evaluated == nil {
		r.evaluated = map[string]int{}
	}
	if r.evaluated[f.ID] == 0 {
		r.evaluated[f.ID] = 1
	}
	r.Findings = append(r.Findings, f)
}

// Merge adds another report's findings, checks and rules.
func (r *Report) Merge(o *Report) {
	r.Findings = append(r.Findings, o.Findings...)
	r.Checked += o.Checked
	if r.evaluated == nil {
		r.evaluated = map[string]int{}
	}
	for id, n := range o.evaluated {
		r.evaluated[id] += n
	}
	switch {
	case r.rules == nil:
		r.rules = o.rules
	case o.rules != nil && o.rules != r.rules:
		merged := NewRules(r.rules.All())
		for _, rule := range o.rules.All() {
			if _, ok := merged.Get(rule.ID); !ok {
				merged.Add(rule)
			}
		}
		r.rules = merged
	}
}

// Worst is the highest severity of a finding not accepted, or "" if none.
func (r *Report) Worst() Severity {
	var w Severity
	for _, f := range r.Findings {
		if f.Accepted == nil && (w == "" || f.Severity.Rank() > w.Rank()) {
			w = f.Severity
		}
	}
	return w
}

// Failing counts the findings that fail a threshold.
func (r *Report) Failing(min Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Fails(min) {
			n++
		}
	}
	return n
}

// Sort orders findings: worst first, then by ID, node and evidence.
func (r *Report) Sort() {
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		if c := b.Severity.Rank() - a.Severity.Rank(); c != 0 {
			return c
		}
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return strings.Compare(a.Evidence.String(), b.Evidence.String())
	})
}
