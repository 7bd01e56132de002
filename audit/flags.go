package audit

import (
	"strings"

	"github.com/bulwark-k8s/bulwark/hardening"
)

// flagSpec is what the audit knows of a component's command-line parser:
// which flags are booleans (they take a value only as --name=value) and
// which accumulate when given twice (pflag's string slices and maps;
// every other flag keeps its last value, as both pflag and Go's flag
// package do).
type flagSpec struct {
	// stdlib: Go's flag package (etcd): -name and --name are the same flag;
	// else pflag (Kubernetes): a single dash is a shorthand, and "_" in a
	// name is read as "-" (cliflag.WordSepNormalizeFunc).
	stdlib     bool
	bools      map[string]bool
	accumulate map[string]bool
}

func set(names string) map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(names) {
		m[n] = true
	}
	return m
}

// flagSpecs are the pinned releases' parsers, read from kube-apiserver,
// kube-controller-manager and kube-scheduler --help (a test compares
// them), etcd's etcdmain/config.go and the kubelet's options.go.
var flagSpecs = map[hardening.Component]flagSpec{
	hardening.Etcd: {stdlib: true, bools: set(`auto-tls client-cert-auth discovery-insecure-skip-tls-verify discovery-insecure-transport
		enable-distributed-tracing enable-grpc-gateway enable-log-rotation enable-pprof experimental-compact-hash-check-enabled
		experimental-enable-distributed-tracing experimental-enable-lease-checkpoint experimental-enable-lease-checkpoint-persist
		experimental-initial-corrupt-check experimental-memory-mlock experimental-peer-skip-client-san-verification
		experimental-stop-grpc-service-on-defrag experimental-txn-mode-write-with-shared-buffer force-new-cluster
		initial-election-tick-advance memory-mlock peer-auto-tls peer-client-cert-auth peer-skip-client-san-verification pre-vote
		socket-reuse-address socket-reuse-port strict-reconfig-check unsafe-no-fsync version help`)},
	hardening.APIServer: {bools: set(`emulation-forward-compatible runtime-config-emulation-forward-compatible shutdown-send-retry-after
		enable-garbage-collector encryption-provider-config-automatic-reload watch-cache disable-http2-serving permit-address-sharing
		permit-port-sharing audit-log-batch-throttle-enable audit-log-compress audit-log-truncate-enabled audit-webhook-batch-throttle-enable
		audit-webhook-truncate-enabled contention-profiling enable-priority-and-fairness profiling anonymous-auth enable-bootstrap-token-auth
		service-account-extend-token-expiration service-account-lookup log-json-split-stream log-text-split-stream
		aggregator-reject-forwarding-redirect allow-privileged enable-aggregator-routing enable-logs-handler help`),
		accumulate: set(`cors-allowed-origins emulated-version feature-gates min-compatibility-version strict-transport-security-directives
		etcd-servers etcd-servers-overrides watch-cache-sizes tls-cipher-suites tls-sni-cert-key api-audiences oidc-required-claim
		oidc-signing-algs requestheader-allowed-names requestheader-extra-headers-prefix requestheader-group-headers requestheader-uid-headers
		requestheader-username-headers service-account-issuer service-account-key-file authorization-mode runtime-config admission-control
		disable-admission-plugins enable-admission-plugins allow-metric-labels disabled-metrics kubelet-preferred-address-types`)},
	hardening.ControllerManager: {bools: set(`contention-profiling profiling enable-leader-migration allocate-node-cidrs configure-cloud-routes
		leader-elect use-service-account-credentials disable-http2-serving permit-address-sharing permit-port-sharing authentication-skip-lookup
		authentication-tolerate-lookup-failure disable-attach-detach-reconcile-sync disable-force-detach-on-timeout enable-garbage-collector
		enable-dynamic-provisioning enable-hostpath-provisioner log-json-split-stream log-text-split-stream help`),
		accumulate: set(`controllers emulated-version feature-gates min-compatibility-version tls-cipher-suites tls-sni-cert-key
		requestheader-allowed-names requestheader-extra-headers-prefix requestheader-group-headers requestheader-uid-headers
		requestheader-username-headers authorization-always-allow-paths allow-metric-labels disabled-metrics`)},
	hardening.Scheduler: {bools: set(`disable-http2-serving permit-address-sharing permit-port-sharing authentication-skip-lookup
		authentication-tolerate-lookup-failure contention-profiling profiling leader-elect log-json-split-stream log-text-split-stream help`),
		accumulate: set(`tls-cipher-suites tls-sni-cert-key requestheader-allowed-names requestheader-extra-headers-prefix requestheader-group-headers
		requestheader-uid-headers requestheader-username-headers authorization-always-allow-paths emulated-version feature-gates
		min-compatibility-version allow-metric-labels disabled-metrics`)},
	hardening.Kubelet: {bools: set(`anonymous-auth authentication-token-webhook cgroups-per-qos contention-profiling cpu-cfs-quota
		enable-controller-attach-detach enable-debugging-handlers enable-server exit-on-lock-contention experimental-allocatable-ignore-eviction
		fail-cgroupv1 fail-swap-on kernel-memcg-notification local-storage-capacity-isolation make-iptables-util-chains protect-kernel-defaults
		register-node rotate-certificates rotate-server-certificates runonce seccomp-default serialize-image-pulls help`),
		accumulate: set(`allowed-unsafe-sysctls cluster-dns cpu-manager-policy-options enforce-node-allocatable eviction-hard eviction-minimum-reclaim
		eviction-soft eviction-soft-grace-period feature-gates kube-reserved manifest-url-header qos-reserved system-reserved tls-cipher-suites
		topology-manager-policy-options`)},
}

// parsedArgs is a command line as the component's parser reads it.
type parsedArgs struct {
	flags map[string]Value
	// stray are words the component would refuse (a value after a boolean
	// flag, a positional argument, a single-dash long flag under pflag):
	// such a component does not start.
	stray []string
}

// parseArgs reads a component's arguments as its own flag parser does:
// --name=value, --name value (not for booleans), a bare boolean --name,
// -name for etcd (Go's flag package), "_" read as "-" for Kubernetes
// (pflag with WordSepNormalizeFunc), the last of a repeated flag winning
// except for list and map flags, which accumulate. lines gives each
// flag's line in the file (one pass over the file: see flagLines).
func parseArgs(comp hardening.Component, args []string, file string, lines map[string]int) parsedArgs {
	spec := flagSpecs[comp]
	out := parsedArgs{flags: map[string]Value{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out.stray = append(out.stray, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			out.stray = append(out.stray, a)
			if spec.stdlib {
				// Go's flag package stops at the first non-flag word.
				out.stray = append(out.stray, args[i+1:]...)
				break
			}
			continue
		}
		long := strings.HasPrefix(a, "--")
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if !long && !spec.stdlib {
			// A pflag shorthand: klog's -v is the only one the components
			// have; a single-dash long name is an error.
			if n, _, _ := strings.Cut(name, "="); n != "v" {
				out.stray = append(out.stray, a)
			}
			if !strings.Contains(name, "=") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
			}
			continue
		}
		val, hasVal := "", false
		if n, v, ok := strings.Cut(name, "="); ok {
			name, val, hasVal = n, v, true
		}
		if !spec.stdlib {
			name = strings.ReplaceAll(name, "_", "-")
		}
		if !hasVal {
			if spec.bools[name] {
				val = "true"
			} else if i+1 < len(args) {
				val = args[i+1]
				i++
			}
		}
		v := Value{Value: val, Origin: Origin{File: file, Line: lines[name]}}
		if old, ok := out.flags[name]; ok && spec.accumulate[name] {
			v.Value = old.Value + "," + val
		}
		out.flags[name] = v
	}
	return out
}

// flagLines indexes, in one pass, the last line of a file where each flag
// name appears as a word (-name, --name, --name=…, "--name"), so that
// evidence can name the line without searching the file once per flag.
func flagLines(text string) map[string]int {
	out := map[string]int{}
	line := 1
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '\n' {
			line++
			continue
		}
		if c != '-' || (i > 0 && !isSep(text[i-1])) {
			continue
		}
		j := i
		for j < len(text) && text[j] == '-' {
			j++
		}
		if j-i > 2 {
			i = j - 1
			continue
		}
		k := j
		for k < len(text) && isNameByte(text[k]) {
			k++
		}
		if k > j && (k == len(text) || isSep(text[k]) || text[k] == '=') {
			name := strings.ReplaceAll(text[j:k], "_", "-")
			out[name] = line
		}
		i = k - 1
	}
	return out
}

func isSep(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' || c == '[' || c == ',' || c == '\\'
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// listValue splits a comma-separated flag value, trimming spaces.
func listValue(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
