package rbac

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// ParseAction reads a question as can-i and who-can take it: VERB
// RESOURCE[.GROUP][/SUBRESOURCE] [NAME], or VERB /URL, in a namespace
// ("" for cluster scope, or all namespaces at once). A resource without a
// group is looked up among the built-in resources (the core group first,
// as kubectl prefers it), then among the resources the policy's rules
// name; "pods." names the core group. Cluster-scoped built-in resources
// are asked about without a namespace, as kubectl asks. warning is set
// when the resource is unknown and was taken in the core group.
func (e *Engine) ParseAction(args []string, namespace string) (a Action, warning string, err error) {
	if len(args) < 2 || len(args) > 3 {
		return a, "", fmt.Errorf("want VERB RESOURCE [NAME] or VERB /URL, got %d words", len(args))
	}
	a.Verb = args[0]
	if a.Verb == "" {
		return a, "", errors.New("empty verb")
	}
	if strings.HasPrefix(args[1], "/") {
		if len(args) > 2 {
			return a, "", errors.New("a non-resource URL takes no name")
		}
		a.Path = args[1]
		return a, "", nil
	}
	res, sub, _ := strings.Cut(args[1], "/")
	a.Subresource = sub
	if len(args) > 2 {
		a.Name = args[2]
	}
	a.Namespace = namespace
	var grouped bool
	a.Resource, a.APIGroup, grouped = strings.Cut(res, ".")
	if a.Resource == "" {
		return a, "", fmt.Errorf("invalid resource %q", args[1])
	}
	if !grouped && a.Resource != "*" {
		groups := ResourceGroups(a.Resource)
		if len(groups) == 0 {
			groups = e.policyGroups(a.Resource)
		}
		switch {
		case len(groups) == 0:
			warning = fmt.Sprintf("%q is not a built-in resource and no role names it; asking about it in the core API group (write RESOURCE.GROUP to name another)", a.Resource)
		case slices.Contains(groups, ""):
		case len(groups) == 1:
			a.APIGroup = groups[0]
		default:
			return a, "", fmt.Errorf("resource %q exists in API groups %s: write %s.GROUP", a.Resource, strings.Join(groups, ", "), a.Resource)
		}
	}
	if ClusterScoped(a.APIGroup, a.Resource) {
		a.Namespace = ""
	}
	return a, warning, nil
}

// policyGroups lists the API groups whose rules name a resource. Every
// aggregated rule is some role's written rule, so the written rules say.
func (e *Engine) policyGroups(resource string) []string {
	e.groupsOnce.Do(func() {
		e.groups = map[string][]string{}
		for _, r := range e.allRoles() {
			for i := range r.written {
				rule := &r.written[i]
				for _, res := range rule.Resources {
					base, _, _ := strings.Cut(res, "/")
					for _, g := range rule.APIGroups {
						if g != "*" && !slices.Contains(e.groups[base], g) {
							e.groups[base] = append(e.groups[base], g)
						}
					}
				}
			}
		}
		for _, gs := range e.groups {
			slices.Sort(gs)
		}
	})
	return e.groups[resource]
}

// Question is one question of a batch: an action as the command line
// writes it, and who asks.
type Question struct {
	// Line is the question's line in its input.
	Line int `json:"line"`
	// Args are VERB RESOURCE [NAME] or VERB /URL.
	Args []string `json:"args"`
	// Namespace is the question's namespace; AllNamespaces for -A; ""
	// when the line names none (the default applies).
	Namespace string `json:"namespace,omitempty"`
	// As and AsGroups are the user (--as, --as-group); "" when the line
	// names none.
	As       string   `json:"as,omitempty"`
	AsGroups []string `json:"asGroups,omitempty"`
}

// Limits of a batch of questions.
const (
	MaxQuestions    = 1 << 20
	maxQuestionLine = 64 << 10
)

// jsonQuestion is one line of a JSON-lines batch.
type jsonQuestion struct {
	Verb          string   `json:"verb"`
	Resource      string   `json:"resource"`
	Name          string   `json:"name"`
	Namespace     string   `json:"namespace"`
	AllNamespaces bool     `json:"allNamespaces"`
	As            string   `json:"as"`
	AsGroups      []string `json:"asGroups"`
}

// ParseQuestions reads a batch of questions, one per line, in one of two
// formats, told by the first line that is not blank or a comment (#):
//
//   - JSON lines, each an object {"verb", "resource" (RESOURCE[.GROUP][/SUB]
//     or /URL), "name", "namespace", "allNamespaces", "as", "asGroups"};
//     unknown fields are errors;
//   - tab-separated values: VERB, RESOURCE or /URL, then optionally NAME,
//     NAMESPACE ("*" for all namespaces), AS, AS-GROUPS (comma-separated).
//     An empty or missing cell takes the command's flag.
//
// Blank lines and lines starting with # are skipped. Errors name the line.
func ParseQuestions(r io.Reader) ([]Question, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxQuestionLine)
	var out []Question
	format := 0 // 1 JSON lines, 2 TSV
	for line := 1; sc.Scan(); line++ {
		text := sc.Bytes()
		if !utf8.Valid(text) {
			return nil, fmt.Errorf("line %d: not UTF-8", line)
		}
		t := bytes.TrimSpace(text)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		if format == 0 {
			format = 2
			if t[0] == '{' {
				format = 1
			}
		}
		if len(out) >= MaxQuestions {
			return nil, fmt.Errorf("line %d: more than %d questions", line, MaxQuestions)
		}
		var q Question
		var err error
		if format == 1 {
			q, err = parseJSONQuestion(t)
		} else {
			q, err = parseTSVQuestion(string(bytes.TrimRight(text, "\r")))
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		q.Line = line
		out = append(out, q)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than %d bytes", len(out)+1, maxQuestionLine)
		}
		return nil, err
	}
	return out, nil
}

func parseJSONQuestion(t []byte) (Question, error) {
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.DisallowUnknownFields()
	var j jsonQuestion
	if err := dec.Decode(&j); err != nil {
		return Question{}, fmt.Errorf("invalid JSON question: %w", err)
	}
	if dec.More() {
		return Question{}, errors.New("more than one JSON object on the line")
	}
	if j.Verb == "" || j.Resource == "" {
		return Question{}, errors.New(`a question needs "verb" and "resource"`)
	}
	q := Question{Args: []string{j.Verb, j.Resource}, Namespace: j.Namespace, As: j.As, AsGroups: j.AsGroups}
	if j.Name != "" {
		q.Args = append(q.Args, j.Name)
	}
	if j.AllNamespaces {
		if j.Namespace != "" {
			return Question{}, errors.New(`"namespace" and "allNamespaces" exclude each other`)
		}
		q.Namespace = AllNamespaces
	}
	if len(j.AsGroups) > 0 && j.As == "" {
		return Question{}, errors.New(`"asGroups" needs "as"`)
	}
	return q, nil
}

func parseTSVQuestion(line string) (Question, error) {
	cells := strings.Split(line, "\t")
	if len(cells) > 6 {
		return Question{}, fmt.Errorf("%d columns, want at most 6: VERB RESOURCE NAME NAMESPACE AS AS-GROUPS", len(cells))
	}
	for len(cells) < 6 {
		cells = append(cells, "")
	}
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	if cells[0] == "" || cells[1] == "" {
		return Question{}, errors.New("a question needs VERB and RESOURCE (tab-separated)")
	}
	q := Question{Args: []string{cells[0], cells[1]}, Namespace: cells[3], As: cells[4]}
	if cells[2] != "" {
		q.Args = append(q.Args, cells[2])
	}
	if cells[5] != "" {
		if q.As == "" {
			return Question{}, errors.New("AS-GROUPS needs AS")
		}
		q.AsGroups = strings.Split(cells[5], ",")
	}
	return q, nil
}
