package audit

import (
	"os/exec"
	"regexp"
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
