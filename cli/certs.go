package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/expiry"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/rotate"
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
		dir, identity string
		out           output
	)
	cmd := &cobra.Command{
		Use:   "list --dir DIR",
		Short: "List every certificate of a cluster folder, including those in kubeconfigs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExpiry(env, dir, identity, &out, 0, false)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cluster folder")
	cmd.Flags().StringVar(&identity, "identity", "", identityHelp+"; without one, kubeconfigs encrypted at rest are skipped")
	_ = cmd.MarkFlagRequired("dir")
	out.register(cmd)
	return cmd
}

func newCheckExpirationCmd(env *Env) *cobra.Command {
	var (
		dir, identity string
		out           output
		warn          string
	)
	cmd := &cobra.Command{
		Use:   "check-expiration --dir DIR [--warn-within 30d]",
		Short: "Report when every certificate ends; exit 3 if any has expired or ends within --warn-within",
		Long: `check-expiration reads every certificate under DIR/pki and every certificate
embedded in DIR/*.conf. It reads folders made by bulwark and by kubeadm alike.

A certificate the folder's configuration has (its bulwark.yaml, or what its
files say) but that is absent is listed as missing (!MISSING!, as kubeadm does).
JSON gives notAfter and remainingSeconds (negative once expired) only for
certificates that could be read.

During a rotation (bulwark rotate) a trust file holds the old and the new CA:
NOTE says which is which, and neither is a finding. A CA still trusted outside a
rotation (the old CA left behind once its finish has started, or one nobody
recorded) is stale.

Exit codes: 0 all certificates valid beyond --warn-within; 3 one or more expired,
expiring within --warn-within, missing, unreadable or stale; 1 the folder could
not be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := config.ParseDuration(warn)
			if err != nil || w < 0 {
				return usagef("invalid --warn-within %q (use e.g. 30d or 720h)", warn)
			}
			return runExpiry(env, dir, identity, &out, w.D(), true)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cluster folder")
	cmd.Flags().StringVar(&identity, "identity", "", identityHelp+"; without one, kubeconfigs encrypted at rest are skipped")
	_ = cmd.MarkFlagRequired("dir")
	cmd.Flags().StringVar(&warn, "warn-within", config.Duration(expiry.DefaultWarnWithin).String(), "report certificates that end within this period")
	out.register(cmd)
	return cmd
}

func runExpiry(env *Env, dir, identity string, out *output, warn time.Duration, check bool) error {
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
	defer d.Close()
	now := env.Now()
	t, err := unlockDir(env, d, identity, false)
	if err != nil {
		return err
	}
	r := folderConfig(env, d)
	entries, err := expiry.Scan(d, now, warn, expectedCertificates(d, r)...)
	if err != nil {
		return err
	}
	if r != nil {
		// Two CAs in a trust file are expected during a rotation; a CA
		// trusted outside one is stale.
		rotate.ExpiryNotes(d, r.p, entries)
	}
	if t != nil && t.Identity == nil {
		// Certificates are public and read; kubeconfigs are sealed whole.
		var skipped []string
		entries, skipped = skipSealed(d, entries)
		if len(skipped) > 0 {
			fmt.Fprintf(env.Stderr, "bulwark: skipped %d kubeconfigs encrypted at rest (give --identity to check the certificates in them): %s\n", len(skipped), strings.Join(skipped, ", "))
		}
	}
	if len(entries) == 0 {
		return fmt.Errorf("no certificates found under %s (want pki/*.crt or *.conf)", dir)
	}
	err = out.print(env.Stdout, entries, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "FILE\tWHERE\tSUBJECT\tISSUER\tEXPIRES\tREMAINING\tNOTE\tSTATUS")
		for _, e := range entries {
			expires, remaining := "-", "-"
			switch {
			case e.Status == expiry.Missing:
				expires = "!MISSING!"
			case e.NotAfter != nil:
				expires, remaining = e.NotAfter.Format(time.RFC3339), humanDuration(e.Remaining)
			}
			status := string(e.Status)
			if e.Error != "" {
				status += ": " + e.Error
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.File, dash(e.Where), dash(e.Subject), dash(e.Issuer), expires, remaining, dash(e.Note), status)
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

// humanDuration writes a remaining time in its largest unit; negative
// once the certificate has expired ("-3d": three days ago).
func humanDuration(d time.Duration) string {
	if d < 0 {
		return "-" + humanDuration(-d)
	}
	switch {
	case d == 0:
		return "0"
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dm", int(d/time.Minute))
}

// expectedCertificates are the certificate files the folder's
// configuration (saved, or read from its files) has: those absent are
// reported missing. A folder whose configuration cannot be told lists
// none.
// folderConfig is the folder's configuration (saved, or what its files
// say), nil when it has none or it does not read: a new folder's defaults
// describe nothing there.
func folderConfig(env *Env, d *store.Dir) *resolved {
	var cf clusterFlags
	r, err := cf.resolve(env, d)
	if err != nil || (r.given && r.saved == nil) {
		return nil
	}
	return r
}

func expectedCertificates(d *store.Dir, r *resolved) []string {
	if r == nil {
		return nil
	}
	files, err := provision.ExpectedCertificates(d, r.p, r.derived)
	if err != nil {
		return nil
	}
	return files
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
		Long: `renew issues new certificates. Keys are kept unless --new-key is given. A CA
is renewed with its own key, which keeps every certificate it signed valid. --all
renews every existing leaf and kubeconfig, not the CAs.

What a certificate says comes from the folder's configuration (bulwark.yaml, or
--config, which is then saved). A folder without one (kubeadm's) is renewed as
kubeadm renews it: each certificate keeps its own subject, names, usages and
issuer, each kubeconfig its server and cluster, and nothing is taken from this
machine.

A CA with --new-key is a rotation: every certificate and kubeconfig it signed is
renewed with it, in the same run (for the cluster CA, kubelets must be given the
new ca.crt). A CA whose key and certificate are both gone is made anew the same
way. bootstrap-kubelet gets a new bootstrap token. sa rewrites pki/sa.pub from
pki/sa.key; sa --new-key makes a new pair (every service-account token becomes
invalid).

Names are those of "bulwark plan", and sa: e.g. apiserver, etcd/server, admin, ca
(in a folder for several nodes: etcd/<member>/server, nodes/<node>/scheduler).

In the same run, the static Pods bulwark rendered take the renewed files: each
Pod's links under mounts/ are made again, and its manifest line says
"reloads by itself" (its component re-reads them: the API server its serving,
front-proxy and kubelet client pairs, etcd its serving and peer pairs) or
"restarted by the kubelet (checksum changed)" (it reads them only at start).
Manifests bulwark did not write (kubeadm's) are left alone and named.`,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			var d *store.Dir
			if cf.dir != "" {
				d, _ = store.Open(cf.dir)
			}
			r, err := cf.resolve(env, d)
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			return provision.Names(r.p), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return usagef("give certificate names or --all, not both or neither")
			}
			return onFolder(env, &cf, false, func(d *store.Dir, r *resolved, opts provision.Options) (provision.Summary, error) {
				names := args
				if all {
					names = nil
					for _, c := range r.p.Certs {
						if ok, err := d.Exists(c.CertFile()); err != nil {
							return nil, err
						} else if ok || !r.derived {
							names = append(names, c.Name)
						}
					}
					for _, k := range r.p.Kubeconfigs {
						if k.UsesToken() {
							continue
						}
						if ok, err := d.Exists(k.File()); err != nil {
							return nil, err
						} else if ok || !r.derived {
							names = append(names, k.Name)
						}
					}
				}
				for _, n := range names {
					if n == provision.ServiceAccountName {
						continue
					}
					if _, err := r.p.Lookup(n); err != nil {
						return nil, usagef("%v (known: %s)", err, strings.Join(provision.Names(r.p), ", "))
					}
				}
				return provision.Renew(d, r.p, names, newKey, opts)
			})
		},
	}
	cf.register(cmd, true)
	cmd.Flags().BoolVar(&all, "all", false, "renew every existing leaf certificate and kubeconfig")
	cmd.Flags().BoolVar(&newKey, "new-key", false, "replace the private keys too (for a CA: a rotation, with everything it signed)")
	return cmd
}

// skipSealed drops the entries of files encrypted at rest, which cannot be
// read without an identity, and lists them.
func skipSealed(d *store.Dir, entries []expiry.Entry) ([]expiry.Entry, []string) {
	var (
		kept    []expiry.Entry
		skipped []string
	)
	for _, e := range entries {
		if data, err := d.Read(e.File); err == nil && atrest.IsSealed(data) {
			if !slices.Contains(skipped, e.File) {
				skipped = append(skipped, e.File)
			}
			continue
		}
		kept = append(kept, e)
	}
	return kept, skipped
}
