package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/expiry"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/store"
)

func newCertsCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "List, check and renew certificates",
	}
	cmd.AddCommand(newCertsListCmd(env), newCheckExpirationCmd(env), newRenewCmd(env))
	return cmd
}

func newCertsListCmd(env *Env) *cobra.Command {
	var (
		dir string
		out output
	)
	cmd := &cobra.Command{
		Use:   "list --dir DIR",
		Short: "List every certificate of a cluster folder, including those in kubeconfigs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExpiry(env, dir, &out, 0, false)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cluster folder")
	_ = cmd.MarkFlagRequired("dir")
	out.register(cmd)
	return cmd
}

func newCheckExpirationCmd(env *Env) *cobra.Command {
	var (
		dir  string
		out  output
		warn string
	)
	cmd := &cobra.Command{
		Use:   "check-expiration --dir DIR [--warn-within 30d]",
		Short: "Report when every certificate ends; exit 3 if any has expired or ends within --warn-within",
		Long: `check-expiration reads every certificate under DIR/pki and every certificate
embedded in DIR/*.conf. It reads folders made by bulwark and by kubeadm alike.

Exit codes: 0 all certificates valid beyond --warn-within; 3 one or more expired,
expiring within --warn-within, or unreadable; 1 the folder could not be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := config.ParseDuration(warn)
			if err != nil || w < 0 {
				return usagef("invalid --warn-within %q (use e.g. 30d or 720h)", warn)
			}
			return runExpiry(env, dir, &out, w.D(), true)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cluster folder")
	_ = cmd.MarkFlagRequired("dir")
	cmd.Flags().StringVar(&warn, "warn-within", config.Duration(expiry.DefaultWarnWithin).String(), "report certificates that end within this period")
	out.register(cmd)
	return cmd
}

func runExpiry(env *Env, dir string, out *output, warn time.Duration, check bool) error {
	if err := out.validate(); err != nil {
		return err
	}
	d, err := store.Open(dir)
	if err != nil {
		return err
	}
	if !d.IsDir() {
		return fmt.Errorf("%s is not a folder", dir)
	}
	now := env.Now()
	entries, err := expiry.Scan(d, now, warn)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return fmt.Errorf("no certificates found under %s (want pki/*.crt or *.conf)", dir)
	}
	err = out.print(env.Stdout, entries, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "FILE\tWHERE\tSUBJECT\tISSUER\tEXPIRES\tREMAINING\tSTATUS")
		for _, e := range entries {
			expires, remaining := "-", "-"
			if !e.NotAfter.IsZero() {
				expires, remaining = e.NotAfter.Format(time.RFC3339), humanDuration(e.Remaining)
			}
			status := string(e.Status)
			if e.Error != "" {
				status += ": " + e.Error
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.File, dash(e.Where), dash(e.Subject), dash(e.Issuer), expires, remaining, status)
		}
	})
	if err != nil {
		return err
	}
	if worst := expiry.Worst(entries); check && worst != expiry.OK {
		n := 0
		for _, e := range entries {
			if e.Status != expiry.OK {
				n++
			}
		}
		return findingsError{fmt.Sprintf("%d certificate(s) not ok (worst: %s)", n, worst)}
	}
	return nil
}

func humanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dm", int(d/time.Minute))
}

func newRenewCmd(env *Env) *cobra.Command {
	var (
		cf     clusterFlags
		all    bool
		newKey bool
	)
	cmd := &cobra.Command{
		Use:   "renew NAME... | --all",
		Short: "Issue new certificates for existing keys (or new keys with --new-key)",
		Long: `renew issues new certificates from the current configuration. Keys are kept
unless --new-key is given. A CA is renewed with its own key, which keeps every
certificate it signed valid. --all renews every leaf and kubeconfig, not the CAs.

Names are those of "bulwark plan": e.g. apiserver, etcd/server, admin, ca.`,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			p, _, err := cf.plan(env)
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			return p.Names(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return usagef("give certificate names or --all, not both or neither")
			}
			p, _, err := cf.plan(env)
			if err != nil {
				return err
			}
			names := args
			if all {
				names = nil
				for _, c := range p.Certs {
					names = append(names, c.Name)
				}
				for _, k := range p.Kubeconfigs {
					if !k.UsesToken() {
						names = append(names, k.Name)
					}
				}
			}
			for _, n := range names {
				item, err := p.Lookup(n)
				if err != nil {
					return usagef("%v (known: %s)", err, strings.Join(p.Names(), ", "))
				}
				if _, isCA := item.(plan.CA); isCA && newKey {
					return usagef("%s: renewing a CA keeps its key; a new CA key is a CA rotation, not a renewal", n)
				}
				if k, ok := item.(plan.Kubeconfig); ok && k.UsesToken() {
					return usagef("%s authenticates with a bootstrap token: use `bulwark token create`", k.File())
				}
			}
			d, unlock, err := openLocked(cf.dir, false)
			if err != nil {
				return err
			}
			defer unlock()
			sum, err := provision.Renew(d, p, names, newKey, buildOptions(env))
			if err != nil {
				return err
			}
			printSummary(env.Stdout, d.Root(), sum)
			return nil
		},
	}
	cf.register(cmd, true)
	cmd.Flags().BoolVar(&all, "all", false, "renew every leaf certificate and kubeconfig")
	cmd.Flags().BoolVar(&newKey, "new-key", false, "replace the private keys too (not for CAs)")
	return cmd
}
