package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/store"
)

func newInitCmd(env *Env) *cobra.Command {
	var (
		cf clusterFlags
		rf renderFlags
	)
	cmd := &cobra.Command{
		Use:   "init --dir DIR [--config FILE]",
		Short: "Write the whole PKI, every kubeconfig and the cluster objects; keep what exists",
		Long: `init writes, at kubeadm's paths under DIR, everything "bulwark plan" lists:
` + planSummary() + `
Then it renders the hardened configuration (see "bulwark render").

A rerun keeps every existing key byte for byte, creates only what is missing and
checks what exists (key matches certificate, chain verifies, names still cover
the configuration). If anything does not fit, it writes nothing and names the
command that would fix it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := rf.validate(); err != nil {
				return err
			}
			return onFolder(env, &cf, true, func(d *store.Dir, p *plan.Plan, raw []byte) (provision.Summary, error) {
				opts := buildOptions(env)
				opts.Config = raw
				return provision.InitAndRender(d, p, rf.o, opts)
			})
		},
	}
	cf.register(cmd, true)
	rf.register(cmd)
	return cmd
}

func newPlanCmd(env *Env) *cobra.Command {
	var (
		cf  clusterFlags
		out output
	)
	cmd := &cobra.Command{
		Use:   "plan [--config FILE]",
		Short: "Show everything init would write, without writing anything",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			p, _, err := cf.plan(env)
			if err != nil {
				return err
			}
			items := p.Items()
			return out.print(env.Stdout, items, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tKIND\tCA\tCN\tO\tUSAGES\tVALIDITY\tSANS")
				for _, it := range items {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Name, it.Kind, dash(it.CA), dash(it.CN),
						join(it.O), join(it.Usages), dash(it.Validity), join(it.SANs))
				}
				fmt.Fprintf(w, "\nkey algorithm %s; API server %s; %d control-plane node(s), %d etcd member(s)\n",
					p.Algorithm, p.Config.APIServerURL(), len(p.Config.ControlPlane), len(p.Config.EtcdMembers))
			})
		},
	}
	cf.register(cmd, false)
	out.register(cmd)
	return cmd
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
