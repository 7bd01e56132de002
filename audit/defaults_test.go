package audit

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/internal/pinned"
)

// implicitDefaults are defaults a binary's --help does not print, because
// the flag's zero value hands the choice to a library: an empty TLS
// minimum is Go's server default, TLS 1.2; an empty authorization mode is
// AlwaysAllow (kube-apiserver's BuiltInAuthorizationOptions); an empty
// list of admission plugins enables only the default-on ones, none of
// which the audit asks for by name.
var implicitDefaults = map[string]bool{
	"kube-apiserver:tls-min-version":             true,
	"kube-apiserver:authorization-mode":          true,
	"kube-apiserver:enable-admission-plugins":    true,
	"kube-apiserver:requestheader-allowed-names": true,
	"kube-controller-manager:tls-min-version":    true,
	"kube-scheduler:tls-min-version":             true,
}

// helpDefault reads a flag's default from a pflag --help (kube-*) or an
// etcd --help.
func helpDefault(help, comp, flag string) (string, bool) {
	if comp == string(hardening.Etcd) {
		m := regexp.MustCompile(`(?m)^\s*--` + regexp.QuoteMeta(flag) + ` '([^']*)'`).FindStringSubmatch(help)
		if m == nil {
			return "", false
		}
		return m[1], true
	}
	// The flag's block: its line and the continuation lines under it.
	block := regexp.MustCompile(`(?m)^\s*--` + regexp.QuoteMeta(flag) + `\b.*(\n\s{20,}\S.*)*`).FindString(help)
	if block == "" {
		return "", false
	}
	line := strings.Join(strings.Fields(block), " ")
	if m := regexp.MustCompile(`\(default "?\[?([^")\]]*)\]?"?\)\s*$`).FindStringSubmatch(line); m != nil {
		return m[1], true
	}
	if m := regexp.MustCompile(`\[default=([^\]]*)\]`).FindStringSubmatch(line); m != nil {
		return m[1], true
	}
	// pflag prints no default for a zero value: false for a bool flag
	// (no type word after the name), empty otherwise.
	if fields := strings.Fields(line); len(fields) > 1 && fields[1] != "string" && fields[1] != "strings" && !strings.HasSuffix(fields[1], "int") && fields[1] != "ip" && fields[1] != "duration" {
		return "false", true
	}
	return "", true
}

// TestBuiltinDefaultsAreTheBinaries: every built-in default the audit
// assumes for an unset flag is what the pinned binary's --help says (the
// kubelet is not built here: its defaults come from its source and are
// covered by kubeletConfigDefaults' decoding test).
func TestBuiltinDefaultsAreTheBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binaries")
	}
	for comp, flags := range builtinFlagDefaults {
		if comp == hardening.Kubelet {
			continue
		}
		out, _ := exec.Command(pinned.Path(t, string(comp)), "--help").CombinedOutput()
		help := string(out)
		for flag, want := range flags {
			got, ok := helpDefault(help, string(comp), flag)
			if !ok {
				t.Errorf("%s --help does not list --%s", comp, flag)
				continue
			}
			if got == "" && implicitDefaults[string(comp)+":"+flag] {
				continue
			}
			if !strings.EqualFold(got, want) {
				t.Errorf("%s --%s: the audit assumes %q, the binary's default is %q", comp, flag, want, got)
			}
		}
	}
}

// helpFlag is one flag of a pflag --help: its type ("" for a boolean)
// and its default.
type helpFlag struct{ typ, def string }

var helpEntry = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)(?: ([A-Za-z0-9=<>.:\[\]-]+))?\s{2,}`)

// pflagHelp reads a Kubernetes component's --help.
func pflagHelp(t *testing.T, bin string) map[string]helpFlag {
	t.Helper()
	out, _ := exec.Command(pinned.Path(t, bin), "--help").CombinedOutput()
	text := string(out)
	locs := helpEntry.FindAllStringSubmatchIndex(text, -1)
	flags := map[string]helpFlag{}
	for i, l := range locs {
		end := len(text)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		name, typ := text[l[2]:l[3]], ""
		if l[4] >= 0 {
			typ = text[l[4]:l[5]]
		}
		def := ""
		desc, _, _ := strings.Cut(text[l[1]:end], "\n\n")
		desc = strings.Join(strings.Fields(desc), " ")
		if m := regexp.MustCompile(`\(default ([^)]*)\)$`).FindStringSubmatch(desc); m != nil {
			def = strings.Trim(m[1], `[]"`)
		} else if typ == "" {
			def = "false"
		}
		flags[name] = helpFlag{typ, def}
	}
	if len(flags) < 50 {
		t.Fatalf("%s --help: only %d flags", bin, len(flags))
	}
	return flags
}

// TestFlagSpecsMatchHelp: the booleans and list flags the audit's parser
// knows are the real components' own (the defaults are
// TestBuiltinDefaultsAreTheBinaries').
func TestFlagSpecsMatchHelp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real components")
	}
	lists := []string{"strings", "stringArray", "mapStringBool", "mapStringString", "stringToString", "colonSeparatedMultimapStringString", "namedCertKey"}
	for _, comp := range []hardening.Component{hardening.APIServer, hardening.ControllerManager, hardening.Scheduler} {
		help := pflagHelp(t, string(comp))
		spec := flagSpecs[comp]
		for name, f := range help {
			if (f.typ == "") != spec.bools[name] {
				t.Errorf("%s --%s: boolean in --help %t, in flagSpecs %t", comp, name, f.typ == "", spec.bools[name])
			}
			if slices.Contains(lists, f.typ) != spec.accumulate[name] {
				t.Errorf("%s --%s (%s): accumulates in flagSpecs %t", comp, name, f.typ, spec.accumulate[name])
			}
		}
	}
}

// TestKubeletDefaultsMatchSource reads the pinned kubelet's source in the
// module cache: the flag defaults a kubelet without --config runs with
// (applyLegacyDefaults) and the configuration file's defaulting.
func TestKubeletDefaultsMatchSource(t *testing.T) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(strings.TrimSpace(string(out)), "k8s.io", "kubernetes@v1.36.3")
	read := func(rel string) string {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Skipf("kubelet source not in the module cache: %v", err)
		}
		return strings.Join(strings.Fields(string(data)), " ")
	}
	legacy := read("cmd/kubelet/app/options/options.go")
	defaults := read("pkg/kubelet/apis/config/v1beta1/defaults.go")
	for _, want := range []string{
		"kc.Authentication.Anonymous.Enabled = true",
		"kc.Authentication.Webhook.Enabled = false",
		"kc.Authorization.Mode = kubeletconfigapi.KubeletAuthorizationModeAlwaysAllow",
		"kc.ReadOnlyPort = ports.KubeletReadOnlyPort",
	} {
		if !strings.Contains(legacy, want) {
			t.Errorf("options.go no longer says %q", want)
		}
	}
	for _, want := range []string{
		"if obj.Authentication.Anonymous.Enabled == nil { obj.Authentication.Anonymous.Enabled = ptr.To(false) }",
		"if obj.Authentication.Webhook.Enabled == nil { obj.Authentication.Webhook.Enabled = ptr.To(true) }",
		"if obj.Authorization.Mode == \"\" { obj.Authorization.Mode = kubeletconfigv1beta1.KubeletAuthorizationModeWebhook }",
		"if obj.StreamingConnectionIdleTimeout == zeroDuration { obj.StreamingConnectionIdleTimeout = metav1.Duration{Duration: 4 * time.Hour} }",
		"if obj.HealthzBindAddress == \"\" { obj.HealthzBindAddress = \"127.0.0.1\" }",
		"if obj.EventRecordQPS == nil { obj.EventRecordQPS = ptr.To[int32](50) }",
		"if obj.MakeIPTablesUtilChains == nil { obj.MakeIPTablesUtilChains = ptr.To(true) }",
		"if obj.SeccompDefault == nil { obj.SeccompDefault = ptr.To(false) }",
		"if obj.PodPidsLimit == nil || *obj.PodPidsLimit < int64(0) { obj.PodPidsLimit = ptr.To[int64](-1) }",
	} {
		if !strings.Contains(defaults, want) {
			t.Errorf("defaults.go no longer says %q", want)
		}
	}
}
