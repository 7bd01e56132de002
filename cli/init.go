package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/admins"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
)

func newInitCmd(env *Env) *cobra.Command {
	var (
		cf clusterFlags
		rf renderFlags
		rc recipientFlags
	)
	cmd := &cobra.Command{
		Use:   "init --dir DIR [--config FILE] [--recipient KEY... --identity FILE]",
		Short: "Write the whole PKI, every kubeconfig and the cluster objects; keep what exists",
		Long: `init writes, at kubeadm's paths under DIR, everything "bulwark plan" lists:
` + planSummary() + `
Then it renders the hardened configuration (see "bulwark render").

A rerun keeps every existing key byte for byte, creates only what is missing and
checks what exists (key matches certificate, chain verifies, names still cover
the configuration, trust roots distinct and sound). If anything does not fit, it
writes nothing, lists every problem (one line each) and names the complete
command that fixes each. Files and folders with looser modes than the layout
allows are tightened, each with a line saying so.

The configuration is --config, else the folder's saved bulwark.yaml, else what
the folder's own certificates and kubeconfigs say (a folder that lost its
bulwark.yaml), else, in a new folder, the defaults with this host's name. It is
saved resolved in DIR/bulwark.yaml, with --root, --image-repository and the
versions, so that a plain rerun sees the same cluster. A configuration that
disagrees with the folder's existing keys (algorithm, lifetimes, names) is
reported as drift: exit 2, nothing written. A folder without bulwark.yaml whose
identities are not bulwark's (kubeadm's) is not adopted: exit 1.

With --recipient (or --recipients-file), every secret is encrypted at rest from the
start, with age, to those recipients (see "bulwark admin"); the first recipients
manifest is signed by --identity, which must be one of the SSH recipients. On a
folder that is encrypted, init needs --identity (or $` + IdentityEnv + `).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var recipients []admins.NamedRecipient
			if rc.given() {
				rs, err := rc.parse()
				if err != nil {
					return err
				}
				recipients = rs
			}
			id, err := loadIdentity(env, cf.identity)
			if err != nil {
				return err
			}
			if recipients != nil && (id == nil || id.Signer == nil) {
				return usagef("--recipient needs --identity: an administrator's SSH private key, one of the recipients, signs the first manifest")
			}
			return onFolder(env, &cf, true, func(d *store.Dir, r *resolved, opts provision.Options) (provision.Summary, error) {
				warn(env, r.p)
				if err := checkDrift(d, r, opts); err != nil {
					return nil, err
				}
				if recipients != nil {
					if _, err := admins.Bootstrap(d, recipients, id, env.Now()); err != nil {
						return nil, err
					}
				}
				data, err := r.yaml()
				if err != nil {
					return nil, err
				}
				opts.Config = data
				return provision.InitAndRender(d, r.p, render.OptionsOf(r.c.Render), opts)
			})
		},
	}
	cf.register(cmd, true)
	rf.register(cmd)
	cf.render = &rf
	rc.register(cmd)
	return cmd
}

func newPlanCmd(env *Env) *cobra.Command {
	var (
		cf          clusterFlags
		out         output
		printConfig bool
	)
	cmd := &cobra.Command{
		Use:   "plan [--config FILE] [--dir DIR] [--print-config]",
		Short: "Show everything init would write, without writing anything",
		Long: `plan shows every certificate and kubeconfig init would write: name, CA,
subject, usages, lifetime and names. With --print-config it prints instead the
configuration resolved from --config, the folder's bulwark.yaml or its files,
and the defaults: what init saves as DIR/bulwark.yaml.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if err := cf.checkDir(); err != nil {
				return err
			}
			var d *store.Dir
			if cf.dir != "" {
				var err error
				if d, err = store.Open(cf.dir); err != nil {
					return err
				}
				defer d.Close()
			}
			r, err := cf.resolve(env, d)
			if err != nil {
				return err
			}
			p := r.p
			warn(env, p)
			if printConfig {
				y, err := r.yaml()
				if err != nil {
					return err
				}
				_, err = env.Stdout.Write(y)
				return err
			}
			items := p.Items()
			return out.print(env.Stdout, items, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tKIND\tCA\tCN\tO\tUSAGES\tVALIDITY\tSANS / SERVER")
				for _, it := range items {
					names := join(it.SANs)
					if it.Server != "" {
						names = it.Server
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Name, it.Kind, dash(it.CA), dash(it.CN),
						join(it.O), join(it.Usages), dash(it.Validity), names)
				}
				fmt.Fprintf(w, "\nkey algorithm %s; API server %s; %d control-plane node(s), %d etcd member(s)\n",
					p.Algorithm, p.Config.APIServerURL(), len(p.Config.ControlPlane), len(p.Config.EtcdMembers))
			})
		},
	}
	cf.register(cmd, false)
	out.register(cmd)
	cmd.Flags().BoolVar(&printConfig, "print-config", false, "print the resolved configuration (YAML, as init saves it) instead of the plan")
	return cmd
}

// warn prints the plan's warnings on stderr, one line each.
func warn(env *Env, p *plan.Plan) {
	for _, w := range p.Warnings() {
		fmt.Fprintln(env.Stderr, "bulwark: warning: "+w)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// planSummary says what init writes, from the plan's tables.
func planSummary() string {
	p, err := plan.New(config.Default("node"))
	if err != nil {
		return ""
	}
	cas := make([]string, len(p.CAs))
	for i, c := range p.CAs {
		cas[i] = c.Name
	}
	var kcs []string
	for _, k := range p.Kubeconfigs {
		kcs = append(kcs, k.File())
	}
	text := fmt.Sprintf("%d CAs (%s), the service-account key pair, every leaf certificate, etcd "+
		"server and peer certificates for every member, %d kubeconfigs (%s), and under %s/ the objects "+
		"to apply: the bootstrap token Secret, the ClusterRoleBindings, and the default ServiceAccounts "+
		"of %s without token automount.",
		len(cas), strings.Join(cas, ", "), len(kcs), strings.Join(kcs, ", "), layout.ClusterObjectsDir,
		strings.Join(plan.QuietNamespaces(), ", "))
	return wrap(text, 80)
}

// wrap breaks text into lines of at most width columns.
func wrap(text string, width int) string {
	var b strings.Builder
	col := 0
	for _, w := range strings.Fields(text) {
		if col > 0 && col+1+len(w) > width {
			b.WriteByte('\n')
			col = 0
		} else if col > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}
