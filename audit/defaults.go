package audit

import "github.com/bulwark-k8s/bulwark/hardening"

// builtinFlagDefaults are the values the pinned releases (Kubernetes
// 1.36.3, etcd 3.6.16) use for an audited flag that is not given. A test
// checks them against the real binaries' --help (the kubelet's against its
// source): an audit that assumes a secure default where the real one is
// insecure passes clusters it should fail.
//
// An empty TLS minimum means Go's default, TLS 1.2 for servers since Go
// 1.22, which these releases are built with.
var builtinFlagDefaults = map[hardening.Component]map[string]string{
	hardening.Etcd: {
		"client-cert-auth":      "false",
		"peer-client-cert-auth": "false",
		"auto-tls":              "false",
		"peer-auto-tls":         "false",
		"tls-min-version":       "TLS1.2",
		"listen-client-urls":    "http://localhost:2379",
		"listen-peer-urls":      "http://localhost:2380",
		"enable-pprof":          "false",
	},
	hardening.APIServer: {
		"anonymous-auth":                          "true",
		"authorization-mode":                      "AlwaysAllow",
		"enable-admission-plugins":                "",
		"enable-bootstrap-token-auth":             "false",
		"profiling":                               "true",
		"tls-min-version":                         "VersionTLS12",
		"requestheader-allowed-names":             "",
		"service-account-extend-token-expiration": "true",
		"service-account-lookup":                  "true",
		"request-timeout":                         "1m0s",
		"audit-log-maxage":                        "366",
		"audit-log-maxbackup":                     "100",
		"audit-log-maxsize":                       "100",
	},
	hardening.ControllerManager: {
		"bind-address":                     "0.0.0.0",
		"profiling":                        "true",
		"use-service-account-credentials":  "false",
		"cluster-signing-duration":         "8760h0m0s",
		"controllers":                      "*",
		"terminated-pod-gc-threshold":      "12500",
		"tls-min-version":                  "VersionTLS12",
		"authorization-always-allow-paths": "/healthz,/readyz,/livez",
	},
	hardening.Scheduler: {
		"bind-address":                     "0.0.0.0",
		"profiling":                        "true",
		"tls-min-version":                  "VersionTLS12",
		"authorization-always-allow-paths": "/healthz,/readyz,/livez",
	},
	// A kubelet started without --config uses its flags' defaults, which
	// are not its configuration file's defaults: anonymous requests on,
	// AlwaysAllow, and the read-only port 10255 open
	// (cmd/kubelet/app/options applyLegacyDefaults).
	hardening.Kubelet: {
		"anonymous-auth":                    "true",
		"authentication-token-webhook":      "false",
		"authorization-mode":                "AlwaysAllow",
		"read-only-port":                    "10255",
		"rotate-certificates":               "false",
		"protect-kernel-defaults":           "false",
		"tls-min-version":                   "VersionTLS12",
		"streaming-connection-idle-timeout": "4h0m0s",
		"make-iptables-util-chains":         "true",
		"event-qps":                         "50",
		"healthz-bind-address":              "127.0.0.1",
	},
}

// kubeletConfigDefaults are KubeletConfiguration v1beta1's defaults
// (pkg/kubelet/apis/config/v1beta1/defaults.go) for audited fields that
// are pointers or keep their zero value: what a kubelet with a
// configuration file that omits them runs with.
var kubeletConfigDefaults = map[string]string{
	"authentication.anonymous.enabled": "false",
	"authentication.webhook.enabled":   "true",
	"authentication.x509.clientCAFile": "",
	"readOnlyPort":                     "0",
	"rotateCertificates":               "false",
	"protectKernelDefaults":            "false",
	"tlsMinVersion":                    "VersionTLS12",
	"serverTLSBootstrap":               "false",
	"tlsCipherSuites":                  "",
	"seccompDefault":                   "false",
	"makeIPTablesUtilChains":           "true",
	"eventRecordQPS":                   "50",
	"staticPodURL":                     "",
	"podPidsLimit":                     "-1",
}

// kubeletZeroDefaults are fields whose zero value the kubelet's defaulting
// replaces ("if obj.X == zero { obj.X = default }"): an explicit 0s or ""
// in the file means the default, not zero.
var kubeletZeroDefaults = map[string]string{
	"authorization.mode":             "Webhook",
	"streamingConnectionIdleTimeout": "4h0m0s",
	"healthzBindAddress":             "127.0.0.1",
	"address":                        "0.0.0.0",
}

// kubeletFieldFlags maps KubeletConfiguration fields to the flags that
// override them.
var kubeletFieldFlags = map[string]string{
	"authentication.anonymous.enabled": "anonymous-auth",
	"authentication.webhook.enabled":   "authentication-token-webhook",
	"authentication.x509.clientCAFile": "client-ca-file",
	"authorization.mode":               "authorization-mode",
	"readOnlyPort":                     "read-only-port",
	"rotateCertificates":               "rotate-certificates",
	"protectKernelDefaults":            "protect-kernel-defaults",
	"tlsMinVersion":                    "tls-min-version",
	"tlsCipherSuites":                  "tls-cipher-suites",
	"tlsCertFile":                      "tls-cert-file",
	"tlsPrivateKeyFile":                "tls-private-key-file",
	"podPidsLimit":                     "pod-max-pids",
	"seccompDefault":                   "seccomp-default",
	"streamingConnectionIdleTimeout":   "streaming-connection-idle-timeout",
	"makeIPTablesUtilChains":           "make-iptables-util-chains",
	"eventRecordQPS":                   "event-qps",
	"healthzBindAddress":               "healthz-bind-address",
	"staticPodURL":                     "manifest-url",
	"serverTLSBootstrap":               "rotate-server-certificates",
	"address":                          "address",
	"staticPodPath":                    "pod-manifest-path",
}
