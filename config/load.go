package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// maxConfigSize caps what Parse reads: a config describes tens of nodes,
// never megabytes.
const maxConfigSize = 1 << 20

// Error is a problem with one field of a configuration document.
type Error struct {
	Line  int    // 1-based line of the field, 0 when unknown
	Field string // path such as controlPlane[0].ips[1]
	Msg   string
	// Err is the sentinel the problem is an instance of (ErrUnknownField),
	// for errors.Is; nil for most problems.
	Err error
}

// Unwrap returns the sentinel, if any.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrUnknownField is wrapped by errors for fields the schema lacks.
var ErrUnknownField = errors.New("unknown field")

// Parse reads a configuration document strictly (unknown, misspelt or
// repeated fields are errors naming the field and its line), fills the
// defaults and validates the result.
func Parse(data []byte, hostname string) (*Cluster, error) {
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("config larger than %d bytes", maxConfigSize)
	}
	// A decoder, not yamlv3.Unmarshal: Unmarshal reads the first document
	// and silently drops the rest.
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	var doc yamlv3.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	lines := map[string]int{}
	if len(doc.Content) == 0 {
		return nil, errors.New("config is empty")
	}
	var next yamlv3.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	case len(next.Content) > 0 && !(next.Content[0].Kind == yamlv3.ScalarNode && next.Content[0].Tag == "!!null"):
		// An empty document after a trailing "---" is harmless; a second
		// configuration is not.
		return nil, &Error{Line: next.Content[0].Line, Msg: "config holds more than one YAML document"}
	}
	if err := walk(doc.Content[0], reflect.TypeOf(Cluster{}), "", lines); err != nil {
		return nil, err
	}
	// Decode the checked document, with its strings marked as strings by
	// walk, rather than the input.
	checked, err := yamlv3.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var c Cluster
	if err := yaml.UnmarshalStrict(checked, &c); err != nil {
		// walk has already matched every field and kind; what is left are
		// value errors such as a bad duration.
		return nil, fmt.Errorf("invalid config: %s", trimJSONNoise(err.Error()))
	}
	if c.APIVersion != APIVersion || c.Kind != Kind {
		return nil, &Error{Line: lines["apiVersion"], Msg: fmt.Sprintf("document is %q %q, want apiVersion %q and kind %q", c.APIVersion, c.Kind, APIVersion, Kind)}
	}
	c.SetDefaults(hostname)
	if err := c.Validate(); err != nil {
		var fe *Error
		if errors.As(err, &fe) && fe.Line == 0 {
			fe.Line = lineOf(lines, fe.Field)
		}
		return nil, err
	}
	return &c, nil
}

// lineOf finds the line of a field path, falling back to its parents
// (a defaulted field has no line of its own).
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

var durationType = reflect.TypeOf(Duration(0))

// walk checks a YAML node against the Go type it will decode into,
// recording the line of every field path.
func walk(n *yamlv3.Node, t reflect.Type, path string, lines map[string]int) error {
	if n.Kind == yamlv3.AliasNode {
		return &Error{Line: n.Line, Field: path, Msg: "YAML aliases are not allowed"}
	}
	if n.Kind == yamlv3.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	switch {
	case t == durationType || t.Kind() == reflect.String:
		if n.Kind != yamlv3.ScalarNode {
			return &Error{Line: n.Line, Field: path, Msg: "must be a single value"}
		}
		if t == durationType {
			d, err := ParseDuration(n.Value)
			if err != nil {
				return &Error{Line: n.Line, Field: path, Msg: err.Error()}
			}
			// Zero would read as "not set" and take the default.
			if d <= 0 {
				return &Error{Line: n.Line, Field: path, Msg: fmt.Sprintf("must be positive, got %s", n.Value)}
			}
		}
		// The schema says string, so the text is the value: without this
		// the YAML 1.1 decoder below reads a node named 017 as "15", and
		// y or on as "true".
		n.Tag, n.Style = "!!str", yamlv3.DoubleQuotedStyle
	case t.Kind() == reflect.Slice:
		if n.Kind != yamlv3.SequenceNode {
			return &Error{Line: n.Line, Field: path, Msg: "must be a list"}
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = item.Line
			if err := walk(item, t.Elem(), p, lines); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yamlv3.MappingNode {
			return &Error{Line: n.Line, Field: path, Msg: "must be a mapping"}
		}
		fields := jsonFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			ft, ok := fields[k.Value]
			if !ok {
				return &Error{Line: k.Line, Field: p, Msg: ErrUnknownField.Error() + hint(k.Value, fields), Err: ErrUnknownField}
			}
			if seen[k.Value] {
				return &Error{Line: k.Line, Field: p, Msg: "field given twice"}
			}
			seen[k.Value] = true
			lines[p] = k.Line
			if err := walk(v, ft, p, lines); err != nil {
				return err
			}
		}
	}
	return nil
}

func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = f.Type
		}
	}
	return m
}

// hint suggests the known field a misspelt one most likely meant.
func hint(got string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for name := range fields {
		if d := editDistance(strings.ToLower(got), strings.ToLower(name)); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func trimJSONNoise(s string) string {
	for _, p := range []string{"error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}

// Marshal writes a configuration as YAML.
func Marshal(c *Cluster) ([]byte, error) { return yaml.Marshal(c) }
