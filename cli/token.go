package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/bootstraptoken"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/rotate"
	"github.com/bulwark-k8s/bulwark/store"
)

func newTokenCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list, delete and rotate kubelet TLS bootstrap tokens",
		Long: `Bootstrap tokens ([a-z0-9]{6}.[a-z0-9]{16}) let a new kubelet ask for its client
certificate. Offline (--dir) a token is a Secret manifest under cluster/ and a
bootstrap kubeconfig; with --kubeconfig the Secret is applied to a live cluster.
Tokens are credentials: they are printed only with --print.`,
	}
	cmd.AddCommand(newTokenCreateCmd(env), newTokenListCmd(env), newTokenDeleteCmd(env), newTokenRotateCmd(env))
	return cmd
}

type tokenTarget struct {
	clusterFlags
	kubeconfig string
}

func (t *tokenTarget) register(cmd *cobra.Command) {
	t.clusterFlags.register(cmd, false)
	cmd.Flags().StringVar(&t.kubeconfig, "kubeconfig", "", "apply to the live cluster of this kubeconfig")
}

func (t *tokenTarget) validate() error {
	if t.dir == "" && t.kubeconfig == "" {
		return usagef("give --dir, --kubeconfig or both")
	}
	return nil
}

func newTokenCreateCmd(env *Env) *cobra.Command {
	var (
		tt          tokenTarget
		ttl         string
		usages      []string
		groups      []string
		description string
		print       bool
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a bootstrap token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := tt.validate(); err != nil {
				return err
			}
			if err := tt.checkDir(); err != nil {
				return err
			}
			var life time.Duration
			if ttl != "" {
				d, err := config.ParseDuration(ttl)
				if err != nil || d <= 0 || d.D() > config.MaxTokenTTL {
					return usagef("invalid --ttl %q (a positive duration of at most %s, such as 24h)", ttl, config.Duration(config.MaxTokenTTL))
				}
				life = d.D()
			}
			var tok bootstraptoken.Token
			if tt.dir != "" {
				err := onFolder(env, &tt.clusterFlags, false, func(d *store.Dir, r *resolved, opts provision.Options) (provision.Summary, error) {
					if life == 0 {
						life = r.p.TokenTTL
					}
					if len(groups) == 0 {
						groups = r.p.TokenGroups
					}
					t, sum, err := provision.CreateToken(d, r.p, life, usages, groups, description, opts)
					tok = t
					return sum, usageIfInvalid(err)
				})
				if err != nil {
					return err
				}
			} else {
				r, err := tt.resolve(env, nil)
				if err != nil {
					return err
				}
				if life == 0 {
					life = r.p.TokenTTL
				}
				if len(groups) == 0 {
					groups = r.p.TokenGroups
				}
				if tok, err = bootstraptoken.New(env.Now(), life, usages, groups, description); err != nil {
					return usageIfInvalid(err)
				}
			}
			if tt.kubeconfig != "" {
				c, err := bootstraptoken.NewClient(tt.kubeconfig)
				if err != nil {
					return err
				}
				if err := c.Create(context.Background(), tok); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "created Secret kube-system/%s in the cluster\n", tok.SecretName())
			}
			fmt.Fprintf(env.Stdout, "token %s expires %s (user %s)\n", tok.ID, tok.Expires.Format(time.RFC3339), tok.User())
			if print {
				fmt.Fprintln(env.Stdout, tok.String())
			}
			return nil
		},
	}
	tt.register(cmd)
	cmd.Flags().StringVar(&ttl, "ttl", "", "lifetime of the token (default: the configuration's bootstrapToken.ttl, 24h)")
	cmd.Flags().StringSliceVar(&usages, "usages", nil, "usages: authentication, signing (default both)")
	cmd.Flags().StringSliceVar(&groups, "groups", nil, "extra groups, each system:bootstrappers:<name>")
	cmd.Flags().StringVar(&description, "description", "", "description stored in the Secret")
	cmd.Flags().BoolVar(&print, "print", false, "print the token itself (a credential)")
	return cmd
}

func usageIfInvalid(err error) error {
	if isInvalidToken(err) {
		return usageError{err}
	}
	return err
}

func isInvalidToken(err error) bool { return errors.Is(err, bootstraptoken.ErrInvalid) }

func newTokenListCmd(env *Env) *cobra.Command {
	var (
		tt  tokenTarget
		out output
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List bootstrap tokens (IDs only: the secrets are never shown)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := tt.validate(); err != nil {
				return err
			}
			if err := out.validate(); err != nil {
				return err
			}
			type row struct {
				Source string `json:"source"`
				bootstraptoken.Token
				Expired bool `json:"expired"`
			}
			var rows []row
			now := env.Now()
			if err := tt.checkDir(); err != nil {
				return err
			}
			if tt.dir != "" {
				d, done, err := openLocked(tt.dir, false)
				if err != nil {
					return err
				}
				if _, err := unlockDir(env, d, tt.identity, true); err != nil {
					done(true)
					return err
				}
				toks, err := provision.ListTokenManifests(d)
				done(false)
				if err != nil {
					return err
				}
				for _, t := range toks {
					rows = append(rows, row{Source: t.File, Token: t.Token, Expired: t.Token.Expired(now)})
				}
			}
			if tt.kubeconfig != "" {
				c, err := bootstraptoken.NewClient(tt.kubeconfig)
				if err != nil {
					return err
				}
				toks, err := c.List(context.Background())
				if err != nil {
					return err
				}
				for _, t := range toks {
					rows = append(rows, row{Source: "cluster", Token: t, Expired: t.Expired(now)})
				}
			}
			return out.print(env.Stdout, rows, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tEXPIRES\tSTATUS\tUSAGES\tEXTRA GROUPS\tSOURCE\tDESCRIPTION")
				for _, r := range rows {
					status, expires := "valid", "never"
					if !r.Expires.IsZero() {
						expires = r.Expires.Format(time.RFC3339)
					}
					if r.Expired {
						status = "expired"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, expires, status, join(r.Usages), join(r.ExtraGroups), r.Source, dash(r.Description))
				}
			})
		},
	}
	tt.register(cmd)
	out.register(cmd)
	return cmd
}

func newTokenDeleteCmd(env *Env) *cobra.Command {
	var tt tokenTarget
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a bootstrap token: its Secret, and the bootstrap kubeconfigs that carry it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := tt.validate(); err != nil {
				return err
			}
			id := args[0]
			// Accept a whole token too, and use only its ID.
			if t, err := bootstraptoken.Parse(id); err == nil {
				id = t.ID
			}
			if !bootstraptoken.ValidID(id) {
				return usagef("invalid token ID %q (want 6 characters [a-z0-9], or a whole token)", id)
			}
			if err := tt.checkDir(); err != nil {
				return err
			}
			if tt.dir != "" {
				d, done, err := openLocked(tt.dir, false)
				if err != nil {
					return err
				}
				if _, err := unlockDir(env, d, tt.identity, true); err != nil {
					done(true)
					return err
				}
				sum, err := provision.DeleteToken(d, id)
				done(err != nil)
				if err != nil {
					return err
				}
				printSummary(env.Stdout, d.Root(), sum)
			}
			if tt.kubeconfig != "" {
				c, err := bootstraptoken.NewClient(tt.kubeconfig)
				if err != nil {
					return err
				}
				if err := c.Delete(context.Background(), id); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "deleted Secret kube-system/bootstrap-token-%s from the cluster\n", id)
			}
			return nil
		},
	}
	tt.register(cmd)
	return cmd
}

func newTokenRotateCmd(env *Env) *cobra.Command {
	var (
		cf         clusterFlags
		kubeconfig string
		grace      string
		ttl        string
		out        output
	)
	cmd := &cobra.Command{
		Use:   "rotate --dir DIR --grace DURATION [--kubeconfig FILE]",
		Short: "Replace bootstrap-kubelet.conf's token: a new one, the old one ended after a grace period",
		Long: `rotate makes a new bootstrap token and its Secret manifest, rewrites
bootstrap-kubelet.conf with it, and ends the old token after --grace: its
expiration is brought forward to now+grace (the API server refuses it from then
on, and the controller manager's tokencleaner deletes its Secret). --grace 0
deletes it now. With --kubeconfig the cluster gets the new Secret before the
kubeconfig is rewritten, and the old Secret's new expiration after. A run
killed part-way is finished by running it again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			g, err := config.ParseDuration(grace)
			if err != nil || g < 0 {
				return usagef("invalid --grace %q (a duration such as 1h, or 0 to delete the old token now)", grace)
			}
			o := rotate.TokenOptions{Grace: g.D(), Kubeconfig: kubeconfig, Now: env.Now}
			if ttl != "" {
				d, err := config.ParseDuration(ttl)
				if err != nil || d <= 0 {
					return usagef("invalid --ttl %q (a positive duration such as 24h)", ttl)
				}
				o.TTL = d.D()
			}
			return onRotation(env, &cf, true, func(d *store.Dir, p *plan.Plan, _ bool) error {
				res, err := rotate.RotateToken(d, p, o)
				if err != nil {
					return rotateError(err)
				}
				return out.print(env.Stdout, res, func(w *tabwriter.Writer) {
					for _, c := range res.Changes {
						fmt.Fprintf(w, "  %s\t%s\t%s\n", c.Action, c.File, c.What)
					}
					for _, c := range res.Cluster {
						fmt.Fprintf(w, "  cluster\t%s\n", c)
					}
					fmt.Fprintf(w, "token %s expires %s (user %s)\n", res.New.ID, res.New.Expires.Format(time.RFC3339), res.New.User())
					if res.Old != nil && res.OldEnds != nil {
						fmt.Fprintf(w, "old token %s ends %s\n", res.Old.ID, res.OldEnds.Format(time.RFC3339))
					}
					if kubeconfig == "" {
						fmt.Fprintf(w, "apply %s to the cluster before nodes use the new bootstrap-kubelet.conf\n", "cluster/bootstrap-token-"+res.New.ID+".yaml")
					}
				})
			})
		},
	}
	cf.register(cmd, true)
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "apply to the live cluster of this kubeconfig")
	cmd.Flags().StringVar(&grace, "grace", "", "how long the old token stays valid (0: deleted now)")
	_ = cmd.MarkFlagRequired("grace")
	cmd.Flags().StringVar(&ttl, "ttl", "", "lifetime of the new token (default: the configuration's bootstrapToken.ttl, 24h)")
	out.register(cmd)
	return cmd
}
