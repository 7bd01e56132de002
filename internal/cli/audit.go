package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/audit"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/render"
)

func newAuditCmd(env *Env) *cobra.Command {
	var (
		o      audit.Options
		format string
		failOn string
		warn   string
	)
	cmd := &cobra.Command{
		Use:   "audit --dir DIR [--manifests DIR] [--cmdline FILE]... [--kubelet-config FILE]",
		Short: "Check a control-plane node's files against the hardening table and the PKI rules",
		Long: `audit computes each component's effective configuration (flags, over its
configuration file, over the real built-in defaults of Kubernetes 1.36 and etcd 3.6)
from static Pod manifests, systemd units or plain command lines, and the kubelet's
configuration file and drop-ins as its own --config and --config-dir name them. It
checks every rule of the hardening table "bulwark render" writes from, and the PKI:
expiry, key/certificate match, CN/O/usages per role, API server SANs, separate etcd
CAs compared by key, system:masters holders, CA keys on the node.

Formats: table, json, sarif (2.1.0), junit.
Exit codes: 0 no finding at or above --fail-on; 3 findings at or above it; 1 the audit
could not run; 2 bad usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(audit.Formats, format) {
				return usagef("unknown output format %q (want %s)", format, strings.Join(audit.Formats, ", "))
			}
			sev, err := audit.ParseSeverity(failOn)
			if err != nil {
				return usageError{err}
			}
			w, err := config.ParseDuration(warn)
			if err != nil || w < 0 {
				return usagef("invalid --warn-within %q", warn)
			}
			o.WarnWithin, o.Now = w.D(), env.Now()
			rep, err := audit.Static(o)
			if err != nil {
				return err
			}
			if err := rep.Write(env.Stdout, format); err != nil {
				return err
			}
			n := 0
			for _, f := range rep.Findings {
				if audit.AtLeast(f.Severity, sev) {
					n++
				}
			}
			if n > 0 {
				return findingsError{fmt.Sprintf("%d finding(s) at or above %s", n, sev)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "cluster folder (pki/, *.conf, manifests/), e.g. /etc/kubernetes")
	_ = cmd.MarkFlagRequired("dir")
	cmd.Flags().StringVar(&o.Root, "root", render.DefaultRoot, "the folder's path as the manifests name it; paths under it are read from --dir")
	cmd.Flags().StringVar(&o.ManifestDir, "manifests", "", "static Pod manifests folder (default DIR/manifests)")
	cmd.Flags().StringArrayVar(&o.CommandLines, "cmdline", nil, "a systemd unit or a file holding a component's command line (repeatable)")
	cmd.Flags().StringVar(&o.KubeletConfig, "kubelet-config", "", "a KubeletConfiguration, when no kubelet command line names one")
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: "+strings.Join(audit.Formats, ", "))
	cmd.Flags().StringVar(&failOn, "fail-on", "low", "exit 3 when a finding is at or above this severity: info, low, medium, high, critical")
	cmd.Flags().StringVar(&warn, "warn-within", "30d", "report certificates that end within this period")
	return cmd
}
