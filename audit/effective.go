package audit

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulerv1 "k8s.io/kube-scheduler/config/v1"
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
	// Node is the node of a multi-node folder whose manifests these are.
	Node string `json:"node,omitempty"`
	// Source is the manifest, unit or command-line file it was read from.
	Source string `json:"source"`
	// Flags are the effective flags by name: the command line (and, for
	// etcd, ETCD_* environment variables), or what replaces it (etcd's
	// --config-file; the scheduler's --config for the flags it ignores).
	Flags map[string]Value `json:"flags"`
	// Ignored are flags given but not used: etcd's command line under
	// --config-file, the scheduler's deprecated flags under --config.
	Ignored map[string]Value `json:"ignored,omitempty"`
	// Stray are words the component's parser refuses: it would not start.
	Stray []string `json:"stray,omitempty"`
	// ConfigFile is the configuration file the component reads, if any
	// (the kubelet's --config, the scheduler's --config, etcd's
	// --config-file), and ConfigDir the kubelet's --config-dir.
	ConfigFile string `json:"configFile,omitempty"`
	ConfigDir  string `json:"configDir,omitempty"`
	// Config holds the kubelet's configuration fields (dotted paths) from
	// its file and drop-ins, the drop-ins winning.
	Config map[string]Value `json:"config,omitempty"`
	// Env is the environment the component starts with (Pod env, unit
	// Environment=).
	Env map[string]string `json:"-"`
	// Pod is the static Pod's spec, for a component read from a manifest.
	Pod *corev1.PodSpec `json:"-"`
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

// Given reports whether a flag is set to a non-empty value.
func (c *Component) Given(name string) bool {
	v, ok := c.Flags[name]
	return ok && v.Value != ""
}

// Setting is the effective value of a row of the hardening table. For the
// kubelet: a flag overrides the drop-ins, which override the
// configuration file, which overrides the file's defaults; with no file
// and no drop-in, the flags' own defaults apply, and with drop-ins only,
// the flags' defaults are what the drop-ins change.
func (c *Component) Setting(s hardening.Setting) Value {
	if c.Name != hardening.Kubelet {
		return c.Flag(s.Name)
	}
	return c.kubelet(s.Name)
}

// kubelet is the effective value of a KubeletConfiguration field.
func (c *Component) kubelet(field string) Value {
	if flag, ok := kubeletFieldFlags[field]; ok {
		if v, ok := c.Flags[flag]; ok {
			return v
		}
	}
	if v, ok := c.Config[field]; ok {
		if d, zero := kubeletZeroDefaults[field]; zero && isZero(v.Value) {
			// The kubelet's defaulting replaces a zero value.
			return Value{Value: d, Origin: Origin{File: v.Origin.File, Line: v.Origin.Line, Default: true}}
		}
		return v
	}
	if flag, ok := kubeletFieldFlags[field]; ok && c.ConfigFile == "" {
		if d, ok := builtinFlagDefaults[hardening.Kubelet][flag]; ok {
			return Value{Value: d, Origin: Origin{Default: true}}
		}
	}
	if d, ok := kubeletConfigDefaults[field]; ok {
		return Value{Value: d, Origin: Origin{Default: true}}
	}
	if d, ok := kubeletZeroDefaults[field]; ok {
		return Value{Value: d, Origin: Origin{Default: true}}
	}
	return Value{Unset: true, Origin: Origin{Default: true}}
}

func isZero(v string) bool {
	switch strings.TrimSpace(v) {
	case "", "0", "0s", "false":
		return true
	}
	return false
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

// newComponent reads a command line.
func newComponent(comp hardening.Component, source string, args []string, lines map[string]int, env map[string]string) *Component {
	p := parseArgs(comp, args, source, lines)
	return &Component{Name: comp, Source: source, Flags: p.flags, Stray: p.stray, Env: env}
}

// fromManifest reads a static Pod manifest. A Pod whose containers run no
// known component yields nothing.
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
		env := map[string]string{}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				env[e.Name] = e.Value
			}
		}
		// Kubernetes expands $(VAR) in command and args from the
		// container's environment.
		for i, a := range argv {
			if strings.Contains(a, "$(") {
				for k, v := range env {
					a = strings.ReplaceAll(a, "$("+k+")", v)
				}
				argv[i] = a
			}
		}
		cmp := newComponent(comp, file, argv[1:], flagLines(string(data)), env)
		cmp.Pod = &pod.Spec
		return cmp, nil
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
	return newComponent(comp, file, argv[1:], flagLines(text.String()), env), nil
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
		if strings.Contains(w, "${") {
			var b strings.Builder
			for {
				i := strings.Index(w, "${")
				if i < 0 {
					break
				}
				j := strings.IndexByte(w[i:], '}')
				if j < 0 {
					break
				}
				b.WriteString(w[:i])
				b.WriteString(env[w[i+2:i+j]])
				w = w[i+j+1:]
			}
			b.WriteString(w)
			w = b.String()
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

// flatten turns a decoded YAML document into dotted paths of scalars;
// lists become comma-joined values.
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
			switch y := x.(type) {
			case map[string]any, []any:
				b, _ := yaml.Marshal(y)
				parts[i] = strings.TrimSpace(string(b))
			default:
				parts[i] = fmt.Sprint(x)
			}
		}
		out[prefix] = strings.Join(parts, ",")
	case nil:
		out[prefix] = ""
	case float64:
		out[prefix] = strings.TrimSuffix(fmt.Sprintf("%f", t), ".000000")
	default:
		out[prefix] = fmt.Sprint(t)
	}
}

// yamlLines indexes, in one pass, the line of every dotted key path of a
// YAML document in block style (list items add no key).
func yamlLines(text string) map[string]int {
	out := map[string]int{}
	type frame struct {
		indent int
		key    string
	}
	var stack []frame
	for n, l := range strings.Split(text, "\n") {
		t := strings.TrimLeft(l, " ")
		if t == "" || t[0] == '#' || strings.HasPrefix(t, "---") {
			if strings.HasPrefix(t, "---") {
				stack = stack[:0]
			}
			continue
		}
		indent := len(l) - len(t)
		for strings.HasPrefix(t, "- ") {
			t = strings.TrimLeft(t[2:], " ")
			indent = len(l) - len(t)
		}
		colon := strings.Index(t, ":")
		if colon <= 0 || (colon+1 < len(t) && t[colon+1] != ' ') {
			continue
		}
		key := strings.Trim(t[:colon], `"'`)
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, frame{indent, key})
		parts := make([]string, len(stack))
		for i, f := range stack {
			parts[i] = f.key
		}
		p := strings.Join(parts, ".")
		if _, ok := out[p]; !ok {
			out[p] = n + 1
		}
	}
	return out
}

type namedData struct {
	name string
	data []byte
}

// configFields reads YAML configuration documents in order, later ones
// winning field by field (the kubelet's drop-ins are JSON merge patches
// over the file), into dotted paths with their origins. kind, if not
// empty, is the kind each document must have.
func configFields(files []namedData, kind string) (map[string]Value, error) {
	out := map[string]Value{}
	for _, f := range files {
		var doc map[string]any
		if err := yaml.Unmarshal(f.data, &doc); err != nil {
			return nil, fmt.Errorf("%s: not a %s: %w", f.name, or(kind, "YAML document"), err)
		}
		if k, _ := doc["kind"].(string); kind != "" && k != "" && k != kind {
			return nil, fmt.Errorf("%s: kind %q, want %s", f.name, k, kind)
		}
		flat := map[string]string{}
		flatten("", doc, flat)
		lines := yamlLines(string(f.data))
		for k, v := range flat {
			out[k] = Value{Value: v, Origin: Origin{File: f.name, Line: lines[k]}}
		}
	}
	return out, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// etcdFromFile replaces etcd's flags with its configuration file, as etcd
// 3.6 does when --config-file (or ETCD_CONFIG_FILE) is given: "other
// command line flags and environment variables will be ignored". The
// file's keys are the flags' names; client-transport-security.X is flag X
// and peer-transport-security.X is flag peer-X.
func etcdFromFile(c *Component, file string, data []byte) error {
	fields, err := configFields([]namedData{{file, data}}, "")
	if err != nil {
		return err
	}
	c.Ignored = map[string]Value{}
	for k, v := range c.Flags {
		if k != "config-file" {
			c.Ignored[k] = v
		}
	}
	flags := map[string]Value{"config-file": c.Flags["config-file"]}
	for k, v := range fields {
		switch {
		case strings.HasPrefix(k, "client-transport-security."):
			flags[strings.TrimPrefix(k, "client-transport-security.")] = v
		case strings.HasPrefix(k, "peer-transport-security."):
			flags["peer-"+strings.TrimPrefix(k, "peer-transport-security.")] = v
		default:
			flags[k] = v
		}
	}
	c.Flags = flags
	return nil
}

// etcdEnv applies ETCD_<FLAG> variables to the flags not given on the
// command line, as etcd does when no configuration file is given.
func etcdEnv(c *Component) {
	keys := make([]string, 0, len(c.Env))
	for k := range c.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, ok := strings.CutPrefix(k, "ETCD_")
		if !ok || name == "" {
			continue
		}
		flag := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		if _, given := c.Flags[flag]; given {
			continue
		}
		c.Flags[flag] = Value{Value: c.Env[k], Origin: Origin{File: c.Source, Line: 0}}
	}
}

// schedulerDeprecated are the kube-scheduler flags ignored when --config
// is given (cmd/kube-scheduler/app/options/deprecated.go: "This parameter
// is ignored if a config file is specified in --config"), with the
// KubeSchedulerConfiguration field that takes their place.
var schedulerDeprecated = map[string]string{
	"profiling":             "enableProfiling",
	"contention-profiling":  "enableContentionProfiling",
	"kubeconfig":            "clientConnection.kubeconfig",
	"kube-api-content-type": "clientConnection.contentType",
	"kube-api-qps":          "clientConnection.qps",
	"kube-api-burst":        "clientConnection.burst",
}

// schedulerFromFile applies a KubeSchedulerConfiguration: the deprecated
// flags give way to its fields (with the v1 defaults: profiling on).
func schedulerFromFile(c *Component, file string, data []byte) error {
	var cfg schedulerv1.KubeSchedulerConfiguration
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return fmt.Errorf("%s: not a KubeSchedulerConfiguration: %w", file, err)
	}
	if cfg.Kind != "" && cfg.Kind != "KubeSchedulerConfiguration" {
		return fmt.Errorf("%s: kind %q, want KubeSchedulerConfiguration", file, cfg.Kind)
	}
	fields, err := configFields([]namedData{{file, data}}, "")
	if err != nil {
		return err
	}
	c.Config = fields
	c.Ignored = map[string]Value{}
	for flag, field := range schedulerDeprecated {
		if v, ok := c.Flags[flag]; ok {
			c.Ignored[flag] = v
			delete(c.Flags, flag)
		}
		if v, ok := fields[field]; ok {
			c.Flags[flag] = v
		}
	}
	if _, ok := c.Flags["profiling"]; !ok {
		// KubeSchedulerConfiguration v1 defaults enableProfiling to true.
		c.Flags["profiling"] = Value{Value: "true", Origin: Origin{File: file, Default: true}}
	}
	return nil
}

// kubeletDropIns lists a --config-dir's drop-ins as the kubelet walks
// them: every *.conf file, subfolders included, in lexical order.
func kubeletDropIns(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Ext(d.Name()) == ".conf" {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}
