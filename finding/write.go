package finding

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
)

// Formats lists the report formats.
var Formats = []string{"table", "json", "sarif", "junit"}

// Tool names the program that wrote a report.
type Tool struct {
	// Name is the run's name, e.g. "bulwark audit".
	Name    string
	Version string
}

// InformationURI is bulwark's home page.
const InformationURI = "https://github.com/bulwark-k8s/bulwark"

// BaseID is the SARIF uriBaseId of files under the audited folder.
const BaseID = "CLUSTERDIR"

// Output says how to write a report.
type Output struct {
	Tool Tool
	// BaseDir is the folder the report is about: files under it are
	// written relative to it (SARIF: with uriBaseId BaseID).
	BaseDir string
	// JSON is the value written for the json format (default: the
	// report itself).
	JSON any
}

// Write encodes a report in one of Formats.
func (r *Report) Write(w io.Writer, format string, o Output) error {
	switch format {
	case "table":
		return r.writeTable(w)
	case "json":
		v := o.JSON
		if v == nil {
			v = r
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "sarif":
		return r.writeSARIF(w, o)
	case "junit":
		return r.writeJUnit(w, o)
	}
	return fmt.Errorf("unknown format %q (want %s)", format, strings.Join(Formats, ", "))
}

func (r *Report) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	nodes := slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Node != "" })
	head := "SEVERITY\tID\tCIS\tTITLE\tEVIDENCE"
	if nodes {
		head = "SEVERITY\tID\tNODE\tCIS\tTITLE\tEVIDENCE"
	}
	fmt.Fprintln(tw, head)
	for _, f := range r.Findings {
		sev := string(f.Severity)
		if f.Accepted != nil {
			sev += " (accepted)"
		}
		cols := []string{sev, f.ID}
		if nodes {
			cols = append(cols, dash(f.Node))
		}
		ev := f.Evidence.String()
		if f.Accepted != nil {
			ev += " [accepted: " + f.Accepted.Reason + " (" + f.Accepted.Source + ")]"
		}
		cols = append(cols, dash(f.CIS), f.Title, ev)
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	counts := map[Severity]int{}
	accepted := 0
	for _, f := range r.Findings {
		if f.Accepted != nil {
			accepted++
			continue
		}
		counts[f.Severity]++
	}
	_, err := fmt.Fprintf(w, "%d checks, %d findings: %d critical, %d high, %d medium, %d low, %d info, %d accepted\n", r.Checked, len(r.Findings),
		counts[Critical], counts[High], counts[Medium], counts[Low], counts[Info], accepted)
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// relative returns a file's path relative to base when it is under it.
func relative(base, file string) (string, bool) {
	if base == "" || file == "" {
		return file, false
	}
	if !filepath.IsAbs(file) {
		return filepath.ToSlash(file), true
	}
	rel, err := filepath.Rel(base, file)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return file, false
	}
	return filepath.ToSlash(rel), true
}

// fileURI makes an absolute path a file URI.
func fileURI(p string) string {
	return "file://" + strings.ReplaceAll(filepath.ToSlash(p), " ", "%20")
}

// ruleList is the report's rules, plus any rule only its findings name
// (so that every result has its rule).
func (r *Report) ruleList() []Rule {
	rules := r.rules.All()
	seen := map[string]bool{}
	for _, ru := range rules {
		seen[ru.ID] = true
	}
	for _, f := range r.Findings {
		if !seen[f.ID] {
			seen[f.ID] = true
			rules = append(rules, Rule{ID: f.ID, Severity: f.Severity, CIS: f.CIS, Title: f.Title, Remediation: f.Remediation})
		}
	}
	return rules
}

func (r *Report) writeSARIF(w io.Writer, o Output) error {
	rep := sarif.NewReport()
	run := sarif.NewRunWithInformationURI("bulwark", InformationURI)
	drv := run.Tool.Driver
	if o.Tool.Version != "" {
		drv.WithVersion(o.Tool.Version)
	}
	if o.Tool.Name != "" {
		drv.WithFullName(o.Tool.Name)
	}
	base := ""
	if o.BaseDir != "" {
		if abs, err := filepath.Abs(o.BaseDir); err == nil {
			base = abs
			run.WithOriginalUriBaseIds(map[string]sarif.ArtifactLocation{BaseID: *sarif.NewArtifactLocation().WithURI(fileURI(abs) + "/")})
		}
	}
	index := map[string]int{}
	for i, ru := range r.ruleList() {
		index[ru.ID] = i
		props := sarif.NewPropertyBag().Add("security-severity", ru.Severity.Score()).Add("severity", string(ru.Severity))
		props.AddTag("security")
		if ru.CIS != "" {
			props.Add("cis", ru.CIS)
			props.AddTag("CIS-" + ru.CIS)
		}
		d := sarif.NewRule(ru.ID).
			WithShortDescription(sarif.NewMultiformatMessageString().WithText(ru.Title)).
			WithFullDescription(sarif.NewMultiformatMessageString().WithText(ru.Title)).
			WithHelp(sarif.NewMultiformatMessageString().WithText(ru.Remediation)).
			WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(ru.Severity.Level())).
			WithProperties(props)
		drv.AddRule(d)
	}
	for _, f := range r.Findings {
		msg := f.Title + ": " + f.Evidence.Detail
		if f.Node != "" {
			msg = "[" + f.Node + "] " + msg
		}
		res := sarif.NewRuleResult(f.ID).WithRuleIndex(index[f.ID]).WithLevel(f.Severity.Level()).
			WithMessage(sarif.NewTextMessage(msg))
		props := sarif.NewPropertyBag().Add("severity", string(f.Severity)).Add("security-severity", f.Severity.Score())
		if f.Node != "" {
			props.Add("node", f.Node)
		}
		if f.Component != "" {
			props.Add("component", f.Component)
		}
		res.WithProperties(props)
		loc := sarif.NewLocation()
		has := false
		if f.Evidence.File != "" {
			al := sarif.NewArtifactLocation()
			if rel, ok := relative(base, f.Evidence.File); ok && base != "" {
				al.WithURI(rel).WithURIBaseID(BaseID)
			} else if filepath.IsAbs(f.Evidence.File) {
				al.WithURI(fileURI(f.Evidence.File))
			} else {
				al.WithURI(filepath.ToSlash(f.Evidence.File))
			}
			pl := sarif.NewPhysicalLocation().WithArtifactLocation(al)
			if f.Evidence.Line > 0 {
				pl.WithRegion(sarif.NewRegion().WithStartLine(f.Evidence.Line))
			}
			loc.WithPhysicalLocation(pl)
			has = true
		}
		var logical []*sarif.LogicalLocation
		if f.Evidence.Endpoint != "" {
			logical = append(logical, sarif.NewLogicalLocation().WithName(f.Evidence.Endpoint).WithKind("resource"))
		}
		if f.Evidence.Object != "" {
			logical = append(logical, sarif.NewLogicalLocation().WithName(f.Evidence.Object).WithKind("resource"))
		}
		if len(logical) > 0 {
			loc.WithLogicalLocations(logical)
			has = true
		}
		if has {
			res.AddLocation(loc)
		}
		if f.Accepted != nil {
			res.AddSuppression(sarif.NewSuppression().WithKind("external").WithStatus("accepted").
				WithJustification(f.Accepted.Reason + " (" + f.Accepted.Source + ")"))
		}
		run.AddResult(res)
	}
	rep.AddRun(run)
	return rep.PrettyWrite(w)
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// writeJUnit writes one test case per rule: it fails when the rule has a
// finding above info that is not accepted; it is skipped when every finding
// of the rule is accepted, or when nothing it applies to was found; info
// findings pass, shown in system-out.
func (r *Report) writeJUnit(w io.Writer, o Output) error {
	byRule := map[string][]Finding{}
	for _, f := range r.Findings {
		byRule[f.ID] = append(byRule[f.ID], f)
	}
	name := o.Tool.Name
	if name == "" {
		name = "bulwark"
	}
	s := junitSuite{Name: name}
	if o.Tool.Version != "" {
		s.Properties = append(s.Properties, junitProperty{"version", o.Tool.Version})
	}
	for _, ru := range r.ruleList() {
		c := junitCase{Name: ru.ID + ": " + ru.Title, Classname: "bulwark." + component(ru.ID)}
		fs := byRule[ru.ID]
		var failing, accepted, info []string
		worst := Info
		for _, f := range fs {
			line := f.Evidence.String()
			if f.Node != "" {
				line = "[" + f.Node + "] " + line
			}
			switch {
			case f.Accepted != nil:
				accepted = append(accepted, line+" (accepted: "+f.Accepted.Reason+")")
			case f.Severity == Info:
				info = append(info, line)
			default:
				failing = append(failing, string(f.Severity)+": "+line)
				if f.Severity.Rank() > worst.Rank() {
					worst = f.Severity
				}
			}
		}
		switch {
		case len(failing) > 0:
			c.Failure = &junitFailure{Message: fmt.Sprintf("%d finding(s), worst %s: %s", len(failing), worst, ru.Title), Type: string(worst),
				Text: strings.Join(failing, "\n") + "\nremediation: " + ru.Remediation}
			s.Failures++
		case len(accepted) > 0 && len(info) == 0:
			c.Skipped = &junitSkipped{Message: "accepted risk: " + strings.Join(accepted, "; ")}
			s.Skipped++
		case len(fs) == 0 && r.evaluated[ru.ID] == 0:
			c.Skipped = &junitSkipped{Message: "not evaluated: nothing it applies to was found"}
			s.Skipped++
		}
		if out := append(info, accepted...); len(out) > 0 && c.Skipped == nil {
			c.SystemOut = strings.Join(out, "\n")
		}
		s.Cases = append(s.Cases, c)
		s.Tests++
	}
	suites := junitSuites{Name: name, Tests: s.Tests, Failures: s.Failures, Skipped: s.Skipped, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(suites); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// component is the part of a rule ID before its first colon ("etcd" of
// "etcd:client-cert-auth"), or "rules".
func component(id string) string {
	if c, _, ok := strings.Cut(id, ":"); ok {
		return c
	}
	if strings.HasPrefix(id, "RBAC") {
		return "rbac"
	}
	return "rules"
}
