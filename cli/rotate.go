package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/admins"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/rotate"
	"github.com/bulwark-k8s/bulwark/store"
)

// liveFlags say how to reach a running cluster for rotate's checks.
type liveFlags struct {
	live        bool
	kubeconfig  string
	apiServers  []string
	etcdClients []string
	etcdPeers   []string
}

func (f *liveFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.live, "live", false, "check the running cluster first: every component serves and trusts what the previous step wrote")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "with --live: an administrator's kubeconfig")
	cmd.Flags().StringSliceVar(&f.apiServers, "apiserver", nil, "with --live: API server URLs to probe (default: the kubeconfig's server)")
	cmd.Flags().StringSliceVar(&f.etcdClients, "etcd-endpoints", nil, "with --live: etcd client URLs to probe (default: every member's, from the configuration)")
	cmd.Flags().StringSliceVar(&f.etcdPeers, "etcd-peer-endpoints", nil, "with --live: etcd peer URLs to probe (default: every member's, from the configuration)")
}

func (f *liveFlags) get() (*rotate.Live, error) {
	if !f.live {
		if f.kubeconfig != "" || len(f.apiServers)+len(f.etcdClients)+len(f.etcdPeers) > 0 {
			return nil, usagef("--kubeconfig, --apiserver and --etcd-*-endpoints go with --live")
		}
		return nil, nil
	}
	if f.kubeconfig == "" {
		return nil, usagef("--live needs --kubeconfig")
	}
	l := &rotate.Live{Kubeconfig: f.kubeconfig, APIServers: f.apiServers, EtcdClients: f.etcdClients, EtcdPeers: f.etcdPeers}
	if err := l.Validate(); err != nil {
		return nil, usageError{err}
	}
	return l, nil
}

func newRotateCmd(env *Env) *cobra.Command {
	var (
		cf     clusterFlags
		lf     liveFlags
		out    output
		step   string
		newKey bool
		force  bool
	)
	cmd := &cobra.Command{
		Use:   "rotate ROOT --dir DIR [--step trust|reissue|finish]",
		Short: "Rotate a trust root (ca, etcd-ca, etcd-peer-ca, front-proxy-ca, sa) one step at a time, on a running cluster",
		Long: `rotate replaces a trust root in three steps, each of which a running cluster takes
without a failed request. Each run takes ROOT one step: it finishes the step in
progress, or starts the next. It prints what changed, which files go to which
node, which static Pods the kubelet restarts (their manifests' inputs checksum
changed) and which reread their files by themselves, and what comes next.

  trust    a new CA (or service-account key) is made; every trust file and
           kubeconfig trusts the old and the new one. Nothing is signed by the
           new one yet; it waits in pki/next/.
  reissue  the new CA signs: every certificate and kubeconfig the old one
           signed is issued again (same keys, unless --new-key), the controller
           manager signs kubelet certificates with it (pki/ca-signer.crt, never
           a bundle), the new service-account key signs tokens. The old one is
           still trusted.
  finish   the old CA (or key) leaves every trust file: what it signed stops
           working. For sa, finish waits until no token signed by the old key
           can still be valid (--force to go on).

Copy the files to the nodes after each step, and let every component take them
before the next ("bulwark rotate status --live" checks; with --live a step
refuses to start until then). A run killed at any point is finished by running
it again with --step and the same step (without --step, a run killed after its
last write would be taken for done, and the next run would start the next step).
ROOT is one of: ca, etcd-ca, etcd-peer-ca, front-proxy-ca, sa. "bulwark rotate
status" shows where each one is.

Exit codes: 0 done; 1 refused (cluster not ready, tokens may still be valid) or
failed, nothing written; 2 bad usage, a step out of order, or a folder whose
files disagree with its rotation record, nothing written.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			if err := rotate.CheckRoot(args[0]); err != nil {
				return usageError{err}
			}
			if cf.dir == "" {
				return usagef("required flag(s) \"dir\" not set")
			}
			if err := out.validate(); err != nil {
				return err
			}
			o := rotate.Options{NewKey: newKey, Force: force, Now: env.Now, Rand: env.Rand}
			if step != "" {
				s, err := rotate.ParseStep(step)
				if err != nil {
					return usageError{err}
				}
				o.Step = s
			}
			live, err := lf.get()
			if err != nil {
				return err
			}
			o.Live = live
			return onRotation(env, &cf, true, func(d *store.Dir, p *plan.Plan, _ bool) error {
				res, err := rotate.Advance(d, p, args[0], o)
				if err != nil {
					if res != nil && len(res.Probes) > 0 && out.format == "table" {
						printProbes(env.Stdout, res.Probes)
					}
					return rotateError(err)
				}
				return out.print(env.Stdout, res, func(w *tabwriter.Writer) { printStep(w, res) })
			})
		},
	}
	cf.register(cmd, false) // --dir is checked after ROOT: "rotate" alone prints help
	lf.register(cmd)
	out.register(cmd)
	cmd.Flags().StringVar(&step, "step", "", "the step to run: the one in progress or the next (default: whichever comes)")
	cmd.Flags().BoolVar(&newKey, "new-key", false, "reissue: give every reissued certificate a new key")
	cmd.Flags().BoolVar(&force, "force", false, "sa finish: go on although tokens signed by the old key may still be valid")
	cmd.AddCommand(newRotateStatusCmd(env))
	return cmd
}

// rotateError maps rotate's errors to exit codes: a request or folder it
// refuses is a usage error (2), a refusal to start yet a failure (1).
func rotateError(err error) error {
	if rotate.IsInputError(err) {
		return usageError{err}
	}
	return failureError{err}
}

func printStep(w *tabwriter.Writer, r *rotate.Result) {
	switch {
	case r.AlreadyComplete:
		fmt.Fprintf(w, "%s: the %s step is complete already; nothing written\n", r.Root, r.Step)
	case r.Resumed:
		fmt.Fprintf(w, "%s: %s step finished (it had been started by an earlier run)\n", r.Root, r.Step)
	default:
		fmt.Fprintf(w, "%s: %s step done\n", r.Root, r.Step)
	}
	if !r.AlreadyComplete {
		fmt.Fprintf(w, "  old %s\n  new %s\n", r.Old, r.New)
	}
	if len(r.Probes) > 0 {
		fmt.Fprintf(w, "checked live (%d probes, all passed)\n", len(r.Probes))
	}
	if len(r.Changes) > 0 {
		fmt.Fprintln(w, "\nchanged:")
		for _, c := range r.Changes {
			fmt.Fprintf(w, "  %s\t%s\t%s\n", c.Action, c.File, c.What)
		}
	}
	if len(r.Nodes) > 0 {
		fmt.Fprintln(w, "\ncopy:")
		for _, n := range r.Nodes {
			fmt.Fprintf(w, "  %s\t%s\n", n.Node, strings.Join(n.Files, " "))
		}
	}
	if len(r.Pods) > 0 {
		fmt.Fprintln(w, "\nstatic Pods:")
		for _, p := range r.Pods {
			how := "rereads them by itself"
			if p.Restart {
				how = "restarted by the kubelet (a file it reads at start changed)"
			}
			files := strings.Join(p.Files, " ")
			if files == "" {
				files = p.Manifest
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", p.Node, p.Component, how, files)
		}
	}
	fmt.Fprintf(w, "\nnext: %s\n", r.Next)
}

func printProbes(w io.Writer, probes []rotate.Probe) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tCHECK\tRESULT")
	for _, p := range probes {
		res := "ok"
		if !p.OK {
			res = "FAILED: " + p.Detail
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Endpoint, p.Check, res)
	}
	tw.Flush()
}

func newRotateStatusCmd(env *Env) *cobra.Command {
	var (
		cf  clusterFlags
		lf  liveFlags
		out output
	)
	cmd := &cobra.Command{
		Use:   "status --dir DIR [--live --kubeconfig FILE]",
		Short: "Show where each trust root's rotation is, from the files themselves",
		Long: `status reads the folder (bulwark's or kubeadm's) and says, for each trust root,
the step written last, whether every file is as that step leaves it (else which
files a rerun of the step still changes), the old and new keys, and the next
step. With --live it also checks that the running cluster serves and trusts what
the step wrote.

It also lists what ` + layout.RotationStateFile + ` marks for rotation: every key, CA
and secret that someone who no longer should could read (a removed
administrator); a rotation's finish clears the marks of what it replaced. In a
folder whose secrets are encrypted at rest, status needs no identity: without
one it shows each root's step as rotation.yaml records it, unchecked against the
keys (UNCHECKED), and the marks.

Exit codes: 0; 1 the folder could not be read; 2 a root's files disagree with
the rotation record (the table says which); 3 rotation required (marked), or
with --live a probe failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			live, err := lf.get()
			if err != nil {
				return err
			}
			return onRotation(env, &cf, false, func(d *store.Dir, p *plan.Plan, sealed bool) error {
				if sealed && live != nil {
					return usagef("--live needs the folder's secrets: give --identity FILE (or $%s)", IdentityEnv)
				}
				sts, err := rotate.Status(d, p, rotate.StatusOptions{Now: env.Now(), Live: live, Sealed: sealed})
				if err != nil {
					return rotateError(err)
				}
				marks, err := admins.ReadRotationState(d)
				if err != nil {
					return err
				}
				report := statusReport{Roots: sts, RotationRequired: append([]admins.Compromised{}, marks.Compromised...)}
				if err := out.print(env.Stdout, report, func(w *tabwriter.Writer) { printStatus(w, report, env.Now()) }); err != nil {
					return err
				}
				for _, s := range sts {
					if s.Problem != "" {
						return usageError{errors.New(s.Problem)}
					}
				}
				if marks.Required() {
					cas := 0
					for _, c := range marks.Compromised {
						if c.CA {
							cas++
						}
					}
					return findingsError{fmt.Sprintf("rotation required: %d files, %d of them CA keys (%s)", len(marks.Compromised), cas, layout.RotationStateFile)}
				}
				for _, s := range sts {
					if s.Live != nil && !*s.Live {
						return findingsError{fmt.Sprintf("%s: the cluster does not yet serve and trust what the %s step wrote", s.Root, s.Step)}
					}
				}
				return nil
			})
		},
	}
	cf.register(cmd, true)
	lf.register(cmd)
	out.register(cmd)
	return cmd
}

// statusReport is what rotate status prints: each root's rotation, and
// what the administrators' rotation state marks for rotation.
type statusReport struct {
	Roots            []rotate.RootStatus  `json:"roots"`
	RotationRequired []admins.Compromised `json:"rotationRequired"`
}

// onRotation runs a rotate command on a folder: its lock held, its
// secrets opened (an identity is needed for an encrypted folder when
// need; without one, sealed says the secrets cannot be read), its
// configuration resolved.
func onRotation(env *Env, cf *clusterFlags, need bool, work func(d *store.Dir, p *plan.Plan, sealed bool) error) (err error) {
	if err := cf.checkDir(); err != nil {
		return err
	}
	// The steps write (an administrator's identity for an encrypted
	// folder); status only reads.
	d, r, t, done, err := openFolder(env, cf, false, need, need)
	if err != nil {
		return err
	}
	defer func() { done(err != nil) }()
	return work(d, r.p, t != nil && t.Identity == nil)
}

func printStatus(w *tabwriter.Writer, report statusReport, now time.Time) {
	sts := report.Roots
	fmt.Fprintln(w, "ROOT\tSTEP\tSTATE\tSINCE\tOLD\tNEW\tNEXT")
	for _, s := range sts {
		state := "-"
		switch {
		case s.Problem != "":
			state = "DISAGREES"
		case s.Unchecked:
			state = "UNCHECKED (secrets encrypted at rest: as recorded, not read from the keys)"
		case s.Absent:
			state = "absent (no trust file of its own)"
		case s.Step == rotate.None:
			state = "not rotating"
		case s.Complete && s.Step == rotate.Finish:
			state = "rotated"
		case s.Complete:
			state = "complete"
		default:
			state = fmt.Sprintf("in progress (%d files to change)", len(s.Pending))
		}
		if s.Live != nil {
			if *s.Live {
				state += ", live"
			} else {
				state += ", NOT live yet"
			}
		}
		since := "-"
		if s.Since != nil {
			since = s.Since.UTC().Format(time.RFC3339)
		}
		next := s.Next.String()
		if s.FinishAllowed != nil {
			if s.FinishAllowed.After(now) {
				next += " (not before " + s.FinishAllowed.UTC().Format(time.RFC3339) + ")"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Root, s.Step, state, since, dash(s.Old), dash(s.New), next)
	}
	for _, s := range sts {
		if s.Problem != "" {
			fmt.Fprintf(w, "\n%s: %s\n", s.Root, s.Problem)
		}
		for _, c := range s.Compromised {
			fmt.Fprintf(w, "\n%s: COMPROMISED, rotation required: %s\n", s.Root, c)
		}
		if s.Blocked != "" {
			fmt.Fprintf(w, "\n%s: %s\n", s.Root, s.Blocked)
		}
		for _, p := range s.Probes {
			if !p.OK {
				fmt.Fprintf(w, "\n%s: %s %s: %s\n", s.Root, p.Endpoint, p.Check, p.Detail)
			}
		}
	}
	if len(report.RotationRequired) > 0 {
		fmt.Fprintf(w, "\nrotation required (%s):\n", layout.RotationStateFile)
		fmt.Fprintln(w, "FILE\tWHAT\tCA\tHOLDER\tREASON\tSINCE")
		for _, c := range report.RotationRequired {
			fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\t%s\n", c.File, c.What, c.CA, c.Holder, c.Reason, c.Since.UTC().Format(time.RFC3339))
		}
	}
}
