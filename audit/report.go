package audit

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/bulwark-k8s/bulwark/hardening"
)

// Formats lists the report formats.
var Formats = []string{"table", "json", "sarif", "junit"}

// Write encodes a report in one of Formats.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "table":
		return r.writeTable(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "sarif":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r.SARIF())
	case "junit":
		return r.writeJUnit(w)
	}
	return fmt.Errorf("unknown format %q (want %s)", format, strings.Join(Formats, ", "))
}

func (r *Report) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tID\tCIS\tTITLE\tEVIDENCE")
	for _, f := range r.Findings {
		cis := f.CIS
		if cis == "" {
			cis = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Severity, f.ID, cis, f.Title, f.Evidence)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	counts := map[hardening.Severity]int{}
	for _, f := range r.Findings {
		counts[f.Severity]++
	}
	_, err := fmt.Fprintf(w, "%d checks, %d findings: %d critical, %d high, %d medium, %d low, %d info\n", r.Checked, len(r.Findings),
		counts[hardening.Critical], counts[hardening.High], counts[hardening.Medium], counts[hardening.Low], counts[hardening.Info])
	return err
}

// sarifLevel maps severities onto SARIF's three levels.
func sarifLevel(s hardening.Severity) string {
	switch s {
	case hardening.Critical, hardening.High:
		return "error"
	case hardening.Medium, hardening.Low:
		return "warning"
	}
	return "note"
}

// SARIF is the report as a SARIF 2.1.0 log.
func (r *Report) SARIF() map[string]any {
	rules := map[string]map[string]any{}
	var results []map[string]any
	for _, f := range r.Findings {
		if _, ok := rules[f.ID]; !ok {
			props := map[string]any{"severity": string(f.Severity)}
			if f.CIS != "" {
				props["cis"] = f.CIS
			}
			rules[f.ID] = map[string]any{
				"id":               f.ID,
				"shortDescription": map[string]any{"text": f.Title},
				"help":             map[string]any{"text": f.Remediation},
				"properties":       props,
			}
		}
		res := map[string]any{
			"ruleId":  f.ID,
			"level":   sarifLevel(f.Severity),
			"message": map[string]any{"text": f.Title + ": " + f.Evidence.Detail},
		}
		if f.Evidence.File != "" {
			phys := map[string]any{"artifactLocation": map[string]any{"uri": fileURI(f.Evidence.File)}}
			if f.Evidence.Line > 0 {
				phys["region"] = map[string]any{"startLine": f.Evidence.Line}
			}
			res["locations"] = []any{map[string]any{"physicalLocation": phys}}
		} else if f.Evidence.Endpoint != "" {
			res["locations"] = []any{map[string]any{"logicalLocations": []any{map[string]any{"name": f.Evidence.Endpoint, "kind": "resource"}}}}
		}
		results = append(results, res)
	}
	ids := make([]string, 0, len(rules))
	for id := range rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	ruleList := make([]any, 0, len(ids))
	for _, id := range ids {
		ruleList = append(ruleList, rules[id])
	}
	if results == nil {
		results = []map[string]any{}
	}
	return map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []any{map[string]any{
			"tool": map[string]any{"driver": map[string]any{
				"name":           "bulwark",
				"informationUri": "https://github.com/bulwark-k8s/bulwark",
				"rules":          ruleList,
			}},
			"results": results,
		}},
	}
}

func fileURI(p string) string {
	if strings.HasPrefix(p, "/") {
		return "file://" + p
	}
	return p
}

type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnit writes one failed test case per finding, and one passing case
// standing for the checks that found nothing.
func (r *Report) writeJUnit(w io.Writer) error {
	s := junitSuite{Name: "bulwark audit", Tests: r.Checked, Failures: len(r.Findings)}
	for _, f := range r.Findings {
		s.Cases = append(s.Cases, junitCase{Name: f.ID + " " + f.Evidence.String(), Classname: "bulwark." + string(f.Severity),
			Failure: &junitFailure{Message: f.Title, Type: string(f.Severity), Text: f.Evidence.String() + "\nremediation: " + f.Remediation}})
	}
	if passed := r.Checked - len(r.Findings); passed > 0 {
		s.Cases = append(s.Cases, junitCase{Name: fmt.Sprintf("%d other checks", passed), Classname: "bulwark.passed"})
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
