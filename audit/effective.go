package audit

import (
	"fmt"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/hardening"
)

// Origin is where an effective value comes from.
type Origin struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Default bool   `json:"default,omitempty"` // the component's built-in default
}

func (o Origin) String() string {
	switch {
	case o.Default:
		return "built-in default"
	case o.Line > 0:
		return fmt.Sprintf("%s:%d", o.File, o.Line)
	}
	return o.File
}

// Value is an effective setting and its origin.
type Value struct {
	Value  string `json:"value"`
	Origin Origin `json:"origin"`
	// Unset means neither given nor defaulted: bulwark does not know it.
	Unset bool `json:"unset,omitempty"`
}

// Component is one program's effective configuration.
type Component struct {
	Name hardening.Component `json:"name"`
	// Source is the manifest, unit or command-line file it was read from.
	Source string `json:"source"`
	// Flags given on the command line.
	Flags map[string]Value `json:"flags"`
	// ConfigFile is the kubelet's configuration file, if any.
	ConfigFile string `json:"configFile,omitempty"`
	// Config holds the kubelet's configuration fields (dotted paths) from
	// its file and drop-ins.
	Config map[string]Value `json:"config,omitempty"`
}

// Flag is a flag's effective value: given, else the built-in default.
func (c *Component) Flag(name string) Value {
	if v, ok := c.Flags[name]; ok {
		return v
	}
	if d, ok := builtinFlagDefaults[c.Name][name]; ok {
		return Value{Value: d, Origin: Origin{Default: true}}
	}
	return Value{Unset: true, Origin: Origin{Default: true}}
}

// Setting is the effective value of a row of the hardening table. For the
// kubelet: a flag overrides the configuration file, which overrides the
// file's defaults; with no file at all, the flags' own defaults apply.
func (c *Component) Setting(s hardening.Setting) Value {
	if c.Name != hardening.Kubelet {
		return c.Flag(s.Name)
	}
	for flag, field := range kubeletFlagFields {
		if field == s.Name {
			if v, ok := c.Flags[flag]; ok {
				return v
			}
			if c.ConfigFile == "" {
				return c.Flag(flag)
			}
		}
	}
	if v, ok := c.Config[s.Name]; ok {
		return v
	}
	if d, ok := kubeletConfigDefaults[s.Name]; ok {
		return Value{Value: d, Origin: Origin{Default: true}}
	}
	return Value{Unset: true, Origin: Origin{Default: true}}
}

// knownComponent names a program from its path.
func knownComponent(argv0 string) (hardening.Component, bool) {
	base := path.Base(argv0)
	for _, c := range hardening.Components() {
		if base == string(c) {
			return c, true
		}
	}
	return "", false
}

// parseArgs reads --name=value, --name value and bare boolean --name.
func parseArgs(args []string, file, text string) map[string]Value {
	flags := map[string]Value{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name := strings.TrimLeft(a, "-")
		val, hasVal := "", false
		if n, v, ok := strings.Cut(name, "="); ok {
			name, val, hasVal = n, v, true
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			val, hasVal = args[i+1], true
			i++
		}
		if !hasVal {
			val = "true"
		}
		flags[name] = Value{Value: val, Origin: Origin{File: file, Line: lineOf(text, "-"+name)}}
	}
	return flags
}

// lineOf finds the 1-based line where a flag is given.
func lineOf(text, flag string) int {
	for i, l := range strings.Split(text, "\n") {
		j := strings.Index(l, flag)
		for j >= 0 {
			rest := l[j+len(flag):]
			if rest == "" || strings.ContainsAny(rest[:1], "= \t\"'\\") {
				return i + 1
			}
			k := strings.Index(rest, flag)
			if k < 0 {
				break
			}
			j += len(flag) + k
		}
	}
	return 0
}

// fromManifest reads a static Pod manifest. A Pod whose first container is
// not a known component yields nothing.
func fromManifest(file string, data []byte) (*Component, error) {
	var pod corev1.Pod
	if err := yaml.Unmarshal(data, &pod); err != nil {
		return nil, fmt.Errorf("%s: not a Pod manifest: %w", file, err)
	}
	for _, c := range pod.Spec.Containers {
		argv := append(append([]string(nil), c.Command...), c.Args...)
		if len(argv) == 0 {
			continue
		}
		comp, ok := knownComponent(argv[0])
		if !ok {
			continue
		}
		return &Component{Name: comp, Source: file, Flags: parseArgs(argv[1:], file, string(data))}, nil
	}
	return nil, nil
}

// fromCommandLine reads a systemd unit (its last ExecStart=, after its
// drop-ins, with Environment= and EnvironmentFile= variables expanded as
// systemd expands them) or a file holding a plain command line, with
// backslash continuations. read fetches the environment files a unit names.
func fromCommandLine(file string, units [][]byte, read func(string) ([]byte, error)) (*Component, error) {
	var (
		line string
		env  = map[string]string{}
		text strings.Builder
	)
	for _, data := range units {
		text.Write(data)
		text.WriteString("\n")
		joined := strings.ReplaceAll(string(data), "\\\n", " ")
		for _, l := range strings.Split(joined, "\n") {
			l = strings.TrimSpace(l)
			switch {
			case strings.HasPrefix(l, "ExecStart="):
				line = strings.TrimSpace(strings.TrimPrefix(l, "ExecStart="))
			case strings.HasPrefix(l, "Environment="):
				for _, w := range splitWords(strings.TrimPrefix(l, "Environment=")) {
					if k, v, ok := strings.Cut(w, "="); ok {
						env[k] = v
					}
				}
			case strings.HasPrefix(l, "EnvironmentFile="):
				path := strings.TrimPrefix(strings.TrimPrefix(l, "EnvironmentFile="), "-")
				if data, err := read(path); err == nil {
					for _, el := range strings.Split(string(data), "\n") {
						el = strings.TrimSpace(el)
						if k, v, ok := strings.Cut(el, "="); ok && !strings.HasPrefix(el, "#") {
							env[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
						}
					}
				}
			case line == "" && l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "[") && !strings.Contains(strings.SplitN(l, " ", 2)[0], "="):
				line = l
			}
		}
	}
	argv := expandWords(splitWords(line), env)
	// Skip wrappers such as "/usr/bin/env" or "exec".
	for len(argv) > 0 {
		if _, ok := knownComponent(argv[0]); ok {
			break
		}
		argv = argv[1:]
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("%s: no etcd, kube-apiserver, kube-controller-manager, kube-scheduler or kubelet command line found", file)
	}
	comp, _ := knownComponent(argv[0])
	return &Component{Name: comp, Source: file, Flags: parseArgs(argv[1:], file, text.String())}, nil
}

// expandWords expands variables as systemd does in ExecStart=: a word that
// is exactly $NAME becomes the value's words; ${NAME} is replaced in place.
func expandWords(words []string, env map[string]string) []string {
	var out []string
	for _, w := range words {
		if name, ok := strings.CutPrefix(w, "$"); ok && !strings.HasPrefix(name, "{") {
			out = append(out, splitWords(env[name])...)
			continue
		}
		for k, v := range env {
			w = strings.ReplaceAll(w, "${"+k+"}", v)
		}
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// splitWords splits a command line as a shell would for plain words and
// simple quotes.
func splitWords(s string) []string {
	var (
		words []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// flatten turns a decoded YAML document into dotted paths of scalars.
func flatten(prefix string, v any, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, x, out)
		}
	case []any:
		parts := make([]string, len(t))
		for i, x := range t {
			parts[i] = fmt.Sprint(x)
		}
		out[prefix] = strings.Join(parts, ",")
	case nil:
	default:
		out[prefix] = fmt.Sprint(t)
	}
}

// kubeletConfig reads a KubeletConfiguration and its drop-ins (applied in
// name order, later files winning, as the kubelet does).
func kubeletConfig(files []namedData) (map[string]Value, error) {
	out := map[string]Value{}
	sort.SliceStable(files[1:], func(i, j int) bool { return files[1+i].name < files[1+j].name })
	for _, f := range files {
		var doc map[string]any
		if err := yaml.Unmarshal(f.data, &doc); err != nil {
			return nil, fmt.Errorf("%s: not a KubeletConfiguration: %w", f.name, err)
		}
		if k, _ := doc["kind"].(string); k != "" && k != "KubeletConfiguration" {
			return nil, fmt.Errorf("%s: kind %q, want KubeletConfiguration", f.name, k)
		}
		flat := map[string]string{}
		flatten("", doc, flat)
		for k, v := range flat {
			out[k] = Value{Value: v, Origin: Origin{File: f.name, Line: lineOfPath(string(f.data), k)}}
		}
	}
	return out, nil
}

// lineOfPath finds the line of a dotted YAML key path: each key is looked
// for after the line of its parent.
func lineOfPath(text, dotted string) int {
	lines := strings.Split(text, "\n")
	at := 0
	for _, key := range strings.Split(dotted, ".") {
		found := false
		for i := at; i < len(lines); i++ {
			t := strings.TrimLeft(lines[i], " -")
			if strings.HasPrefix(t, key+":") || strings.HasPrefix(t, "\""+key+"\":") {
				at, found = i, true
				break
			}
		}
		if !found {
			return 0
		}
	}
	return at + 1
}

type namedData struct {
	name string
	data []byte
}
