package audit

import "github.com/bulwark-k8s/bulwark/hardening"

// builtinFlagDefaults are the values the pinned releases (Kubernetes
// 1.36.3, etcd 3.6.16) use for an audited flag that is not given. They are
// checked against the real binaries' --help in the tests: an audit that
// assumes a secure default where the real one is insecure passes clusters
// it should fail.
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
		"audit-log-maxage":                        "366",
		"audit-log-maxbackup":                     "100",
		"audit-log-maxsize":                       "100",
	},
	hardening.ControllerManager: {
		"bind-address":                    "0.0.0.0",
		"profiling":                       "true",
		"use-service-account-credentials": "false",
		"cluster-signing-duration":        "8760h0m0s",
		"controllers":                     "*",
	},
	hardening.Scheduler: {
		"bind-address": "0.0.0.0",
		"profiling":    "true",
	},
	// A kubelet started without --config uses its flags' defaults, which
	// are not its configuration file's defaults: anonymous requests on,
	// AlwaysAllow, and the read-only port 10255 open.
	hardening.Kubelet: {
		"anonymous-auth":               "true",
		"authentication-token-webhook": "false",
		"authorization-mode":           "AlwaysAllow",
		"read-only-port":               "10255",
		"rotate-certificates":          "false",
		"protect-kernel-defaults":      "false",
		"tls-min-version":              "VersionTLS12",
	},
}

// kubeletConfigDefaults are KubeletConfiguration v1beta1's defaults for the
// audited fields: what a kubelet with a configuration file that omits them
// runs with.
var kubeletConfigDefaults = map[string]string{
	"authentication.anonymous.enabled": "false",
	"authentication.webhook.enabled":   "true",
	"authentication.x509.clientCAFile": "",
	"authorization.mode":               "Webhook",
	"readOnlyPort":                     "0",
	"rotateCertificates":               "false",
	"protectKernelDefaults":            "false",
	"tlsMinVersion":                    "VersionTLS12",
	"serverTLSBootstrap":               "false",
	"tlsCipherSuites":                  "",
	"seccompDefault":                   "false",
}

// kubeletFlagFields maps kubelet flags to the configuration fields they
// override.
var kubeletFlagFields = map[string]string{
	"anonymous-auth":               "authentication.anonymous.enabled",
	"authentication-token-webhook": "authentication.webhook.enabled",
	"client-ca-file":               "authentication.x509.clientCAFile",
	"authorization-mode":           "authorization.mode",
	"read-only-port":               "readOnlyPort",
	"rotate-certificates":          "rotateCertificates",
	"protect-kernel-defaults":      "protectKernelDefaults",
	"tls-min-version":              "tlsMinVersion",
	"tls-cipher-suites":            "tlsCipherSuites",
	"pod-max-pids":                 "podPidsLimit",
	"seccomp-default":              "seccompDefault",
}
