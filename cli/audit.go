package cli

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/audit"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/expiry"
	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/release"
)

func newAuditCmd(env *Env) *cobra.Command {
	var (
		o           audit.Options
		format      string
		failOn      string
		warn        string
		live        bool
		lo          audit.LiveOptions
		readOnly    int
		owner       string
		timeout     time.Duration
		unreachable string
		identity    string
	)
	cmd := &cobra.Command{
		Use:   "audit [--dir DIR [--manifests DIR] [--cmdline FILE]... [--kubelet-config FILE]] [--live --etcd HOST:PORT... ...]",
		Short: "Check a control plane's files and live endpoints against the hardening table and the PKI rules",
		Long: `audit computes each component's effective configuration (flags, over its
configuration file, over the real built-in defaults of Kubernetes ` + release.KubernetesMinor() + ` and etcd ` + release.EtcdMinor() + `)
from static Pod manifests, systemd units or plain command lines, and the kubelet's
configuration file and drop-ins as its own --config and --config-dir name them. It
checks every rule of the hardening table "bulwark render" writes from, and the PKI:
expiry, key/certificate match, CN/O/usages per role, API server SANs, separate etcd
CAs compared by key, system:masters holders, CA keys on the node.

With --live it also probes the endpoints given, from outside: etcd's client
(--etcd) and peer (--etcd-peer) ports must refuse a client without a
certificate and one with a certificate from the cluster CA (--cluster-client-cert,
default DIR/pki/apiserver-kubelet-client.crt); the API server (--apiserver, or
the server of --kubeconfig) must answer 401 to an anonymous request for
resources; kubelets (--kubelet) must answer 401 to an anonymous GET /pods and
keep the read-only port closed; the controller manager's and the scheduler's
ports (--controller-manager, --scheduler: a host, or :PORT for this machine)
must not be reachable on any non-loopback address; every certificate
served must be valid for --warn-within; and, with --kubeconfig, the cluster's
objects are read with its credentials: no namespace's default ServiceAccount
may automount its token. --live works without --dir.

A multi-node folder's nodes/<node>/manifests/ are audited node by node, each
finding naming its node. The folder's cluster objects (cluster/) are judged as
applied: bootstrap tokens, service-account token Secrets, default
ServiceAccounts, and every binding through rbac lint.

Accepted risks: DIR/` + layout.AcceptFile + ` (or --accept) lists rule IDs with a scope
and a written reason (and an optional expiry); the findings they cover are
shown as accepted in every format and do not fail the run; an acceptance that
matches nothing, or has expired, is a finding of its own.

With --live, an endpoint that cannot be probed is an error (exit 1) unless
--unreachable names a severity for its finding.

Formats: table, json, sarif (2.1.0), junit (one test case per rule).
Exit codes: 0 no finding at or above --fail-on; 3 findings at or above it; 1 the audit
could not run; 2 bad usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(audit.Formats, format) {
				return usagef("unknown output format %q (want %s)", format, strings.Join(audit.Formats, ", "))
			}
			sev, err := finding.ParseSeverity(failOn)
			if err != nil {
				return usageError{err}
			}
			if unreachable != "error" {
				if lo.Unreachable, err = finding.ParseSeverity(unreachable); err != nil {
					return usagef("invalid --unreachable %q (want error, or a severity: info, low, medium, high, critical)", unreachable)
				}
			}
			w, err := config.ParseDuration(warn)
			if err != nil || w < 0 {
				return usagef("invalid --warn-within %q", warn)
			}
			o.WarnWithin, o.Now = w.D(), env.Now()
			if o.FileOwner, o.FileGroup, err = parseOwner(owner); err != nil {
				return usageError{err}
			}
			liveFlags := []string{"etcd", "etcd-peer", "apiserver", "kubeconfig", "kubelet", "kubelet-read-only-port",
				"controller-manager", "scheduler", "cluster-client-cert", "cluster-client-key", "timeout", "unreachable"}
			switch {
			case !live && o.Dir == "":
				return usagef(`required flag(s) "dir" not set`)
			case live && lo.Empty():
				return usagef("--live needs an endpoint: --etcd, --etcd-peer, --apiserver, --kubeconfig, --kubelet, --controller-manager or --scheduler")
			case live && (readOnly < 0 || readOnly > 65535):
				return usagef("invalid --kubelet-read-only-port %d", readOnly)
			case live && timeout <= 0:
				return usagef("invalid --timeout %s", timeout)
			}
			if !live {
				for _, f := range liveFlags {
					if cmd.Flags().Changed(f) {
						return usagef("--%s probes a live endpoint: add --live", f)
					}
				}
			}
			rep := &audit.Report{}
			if o.Dir != "" {
				arep, err := auditAdministrators(env, &o, identity) // admins' rules; sets o.Secrets
				if err != nil {
					return err
				}
				if rep, err = audit.Static(o); err != nil {
					if errors.Is(err, finding.ErrAcceptances) {
						return usageError{err}
					}
					return err
				}
				rep.Merge(arep, o.Now)
			}
			if live {
				lo.Dir, lo.Now, lo.WarnWithin, lo.Timeout = o.Dir, o.Now, o.WarnWithin, timeout
				lo.ReadOnlyPort, lo.SkipReadOnlyPort = readOnly, readOnly == 0
				ctx := cmd.Context()
				if ctx == nil {
					ctx = context.Background()
				}
				lrep, err := audit.Live(ctx, lo)
				if errors.Is(err, audit.ErrNoEndpoint) || errors.Is(err, audit.ErrInvalidEndpoint) {
					return usageError{err}
				}
				if err != nil {
					return err
				}
				rep.Merge(lrep, o.Now)
			}
			if err := rep.Write(env.Stdout, format, o.Dir, version()); err != nil {
				return err
			}
			if n := rep.Failing(sev); n > 0 {
				return findingsError{fmt.Sprintf("%d finding(s) at or above %s", n, sev)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "cluster folder (pki/, *.conf, manifests/), e.g. /etc/kubernetes (optional with --live)")
	cmd.Flags().StringVar(&identity, "identity", "", identityHelp+"; without one, secrets encrypted at rest are skipped")
	cmd.Flags().StringVar(&o.Root, "root", layout.DefaultRoot, "the folder's path as the manifests name it; paths under it are read from --dir")
	cmd.Flags().StringVar(&o.ManifestDir, "manifests", "", "static Pod manifests folder (default DIR/manifests)")
	cmd.Flags().StringArrayVar(&o.CommandLines, "cmdline", nil, "a systemd unit or a file holding a component's command line (repeatable)")
	cmd.Flags().StringVar(&owner, "file-owner", "0:0", "USER:GROUP (names or numbers) that must own the keys, certificates, kubeconfigs, manifests and units")
	cmd.Flags().StringVar(&o.KubeletConfig, "kubelet-config", "", "a KubeletConfiguration, when no kubelet command line names one")
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: "+strings.Join(audit.Formats, ", "))
	cmd.Flags().StringVar(&failOn, "fail-on", "low", "exit 3 when a finding is at or above this severity: info, low, medium, high, critical")
	cmd.Flags().StringVar(&warn, "warn-within", config.Duration(expiry.DefaultWarnWithin).String(), "report certificates that end within this period")
	cmd.Flags().BoolVar(&live, "live", false, "also probe the live endpoints given below")
	cmd.Flags().StringSliceVar(&lo.Etcd, "etcd", nil, "etcd client endpoint HOST[:PORT] (default port 2379; repeatable)")
	cmd.Flags().StringSliceVar(&lo.EtcdPeers, "etcd-peer", nil, "etcd peer endpoint HOST[:PORT] (default port 2380; repeatable)")
	cmd.Flags().StringVar(&lo.APIServer, "apiserver", "", "API server URL, e.g. https://10.0.0.1:6443")
	cmd.Flags().StringVar(&lo.Kubeconfig, "kubeconfig", "", "a kubeconfig naming the API server (when --apiserver is not given), whose credentials read the cluster's objects")
	cmd.Flags().StringSliceVar(&lo.Kubelets, "kubelet", nil, "kubelet endpoint HOST[:PORT] (default port 10250; repeatable)")
	cmd.Flags().IntVar(&readOnly, "kubelet-read-only-port", audit.KubeletReadOnlyPort, "port that must be closed on every --kubelet host (0: do not probe)")
	cmd.Flags().StringSliceVar(&lo.ControllerManagers, "controller-manager", nil, "controller-manager HOST[:PORT] (default port 10257; :PORT for this machine), probed on its non-loopback addresses")
	cmd.Flags().StringSliceVar(&lo.Schedulers, "scheduler", nil, "scheduler HOST[:PORT] (default port 10259; :PORT for this machine), probed on its non-loopback addresses")
	cmd.Flags().StringVar(&lo.ClientCert, "cluster-client-cert", "", "a client certificate from the cluster CA that etcd must refuse (default DIR/"+audit.ClusterClientCert+")")
	cmd.Flags().StringVar(&lo.ClientKey, "cluster-client-key", "", "its key (default DIR/"+audit.ClusterClientKey+")")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "time allowed for each connection")
	cmd.Flags().StringVar(&unreachable, "unreachable", "error", "an endpoint that cannot be probed: error (exit 1), or a finding of this severity")
	cmd.Flags().StringVar(&o.Accept, "accept", "", "accepted-risks file (default DIR/"+layout.AcceptFile+" when it exists)")
	return cmd
}

// parseOwner reads USER:GROUP, each a name or a number.
func parseOwner(s string) (uid, gid int, err error) {
	u, g, ok := strings.Cut(s, ":")
	if !ok || u == "" || g == "" {
		return 0, 0, fmt.Errorf("invalid --file-owner %q (want USER:GROUP, e.g. 0:0 or root:root)", s)
	}
	if uid, err = strconv.Atoi(u); err != nil {
		x, lerr := user.Lookup(u)
		if lerr != nil {
			return 0, 0, fmt.Errorf("invalid --file-owner %q: no user %q", s, u)
		}
		uid, _ = strconv.Atoi(x.Uid)
	}
	if gid, err = strconv.Atoi(g); err != nil {
		x, lerr := user.LookupGroup(g)
		if lerr != nil {
			return 0, 0, fmt.Errorf("invalid --file-owner %q: no group %q", s, g)
		}
		gid, _ = strconv.Atoi(x.Gid)
	}
	if uid < 0 || gid < 0 {
		return 0, 0, fmt.Errorf("invalid --file-owner %q", s)
	}
	return uid, gid, nil
}
