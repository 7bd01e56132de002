package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/rbac"
	"github.com/bulwark-k8s/bulwark/rbac/live"
	"github.com/bulwark-k8s/bulwark/store"
)

// maxPolicyInput caps one RBAC manifest file: a policy of 100k rules is
// about 15 MB of YAML.
const maxPolicyInput = 256 << 20

// policyFlags say where a policy comes from: manifests, a live cluster, or
// both (the cluster with the manifests applied over it).
type policyFlags struct {
	files      []string
	kubeconfig string
	builtin    bool
	namespace  string // for manifests' Roles and RoleBindings without one
	noNode     bool
}

func (f *policyFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil, "RBAC manifests: a file (YAML or JSON, several documents, Lists), a folder of them, or - for standard input (repeatable)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "read the policy of the live cluster of this kubeconfig (-f manifests then apply over it)")
	cmd.Flags().BoolVar(&f.builtin, "builtin", true, "with -f only: include the built-in roles and bindings of Kubernetes "+rbac.KubernetesVersion()+", as every API server has them")
	cmd.Flags().StringVar(&f.namespace, "manifest-namespace", "default", "namespace of Roles and RoleBindings in -f manifests that name none, as kubectl apply gives them")
	cmd.Flags().BoolVar(&f.noNode, "no-node-authorizer", false, "model an API server without the Node authorizer (bulwark renders --authorization-mode=Node,RBAC)")
}

func (f *policyFlags) validate() error {
	if len(f.files) == 0 && f.kubeconfig == "" {
		return usagef("give the policy with -f FILE|DIR or --kubeconfig FILE")
	}
	return nil
}

// load reads the policy and compiles it.
func (f *policyFlags) load(env *Env) (*rbac.Engine, *live.Client, error) {
	p := &rbac.Policy{}
	var client *live.Client
	if f.kubeconfig != "" {
		c, err := live.NewClient(f.kubeconfig)
		if err != nil {
			return nil, nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if p, err = c.Policy(ctx); err != nil {
			return nil, nil, err
		}
		client = c
	} else if f.builtin {
		p = rbac.Builtin()
	}
	for _, name := range f.files {
		q, err := readPolicy(env, name, f.namespace)
		if err != nil {
			return nil, nil, err
		}
		p.Merge(q)
	}
	return rbac.Compile(p, rbac.Options{NoNodeAuthorizer: f.noNode}), client, nil
}

// readPolicy reads a manifest file, the manifests of a folder, or standard
// input.
func readPolicy(env *Env, name, ns string) (*rbac.Policy, error) {
	opts := rbac.DecodeOptions{Namespace: ns}
	if name == "-" {
		data, err := io.ReadAll(io.LimitReader(env.Stdin, maxPolicyInput+1))
		if err != nil {
			return nil, err
		}
		if len(data) > maxPolicyInput {
			return nil, usagef("standard input is larger than %d bytes", maxPolicyInput)
		}
		return decodePolicy(data, "<stdin>", opts)
	}
	files := []string{name}
	if fi, err := os.Stat(name); err == nil && fi.IsDir() {
		if files, err = store.List(name, ".yaml", ".yml", ".json"); err != nil {
			return nil, err
		}
	}
	p := &rbac.Policy{}
	for _, file := range files {
		data, err := store.ReadInput(file, maxPolicyInput)
		if err != nil {
			return nil, usageError{err}
		}
		q, err := decodePolicy(data, file, opts)
		if err != nil {
			return nil, err
		}
		p.Merge(q)
	}
	return p, nil
}

func decodePolicy(data []byte, name string, opts rbac.DecodeOptions) (*rbac.Policy, error) {
	p, err := rbac.Decode(data, name, opts)
	if err != nil {
		return nil, usageError{err}
	}
	return p, nil
}

// identityFlags are --as and --as-group.
type identityFlags struct {
	as     string
	groups []string
}

func (f *identityFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.as, "as", "", "the user to ask for, as kubectl --as impersonates it: system:authenticated is implied, and a service account (system:serviceaccount:NS:NAME) gets its groups unless --as-group is given")
	cmd.Flags().StringArrayVar(&f.groups, "as-group", nil, "a group of the user (repeatable)")
}

// user is the identity asked about: --as as impersonation would make it,
// else (with --kubeconfig) whoever the kubeconfig authenticates as.
func (f *identityFlags) user(client *live.Client) (rbac.User, error) {
	if f.as == "" {
		if len(f.groups) > 0 {
			return rbac.User{}, usagef("--as-group needs --as")
		}
		if client == nil {
			return rbac.User{}, usagef("give the user with --as (or --kubeconfig to ask as its user)")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return client.WhoAmI(ctx)
	}
	return rbac.Impersonate(f.as, f.groups...), nil
}

// parseAction reads VERB RESOURCE[.GROUP][/SUBRESOURCE] [NAME], or VERB
// /URL. A resource without a group is looked up among the built-in
// resources (the core group first, as kubectl prefers it), then among the
// resources the policy's rules name. Cluster-scoped built-in resources are
// asked about without a namespace, as kubectl asks.
func parseAction(e *rbac.Engine, args []string, namespace string) (rbac.Action, string, error) {
	a := rbac.Action{Verb: args[0]}
	if strings.HasPrefix(args[1], "/") {
		if len(args) > 2 {
			return a, "", usagef("a non-resource URL takes no name")
		}
		a.Path = args[1]
		return a, "", nil
	}
	res, sub, _ := strings.Cut(args[1], "/")
	a.Subresource = sub
	if len(args) > 2 {
		a.Name = args[2]
	}
	a.Namespace = namespace
	var grouped bool
	a.Resource, a.APIGroup, grouped = strings.Cut(res, ".")
	if a.Resource == "" {
		return a, "", usagef("invalid resource %q", args[1])
	}
	var warn string
	if !grouped && a.Resource != "*" {
		groups := rbac.ResourceGroups(a.Resource)
		if len(groups) == 0 {
			groups = policyGroups(e, a.Resource)
		}
		switch {
		case len(groups) == 0:
			warn = fmt.Sprintf("warning: %q is not a built-in resource and no role names it; asking about it in the core API group (write RESOURCE.GROUP to name another)", a.Resource)
		case slices.Contains(groups, ""):
		case len(groups) == 1:
			a.APIGroup = groups[0]
		default:
			return a, "", usagef("resource %q exists in API groups %s: write %s.GROUP", a.Resource, strings.Join(groups, ", "), a.Resource)
		}
	}
	if rbac.ClusterScoped(a.APIGroup, a.Resource) {
		a.Namespace = ""
	}
	return a, warn, nil
}

// policyGroups lists the API groups whose rules name a resource.
func policyGroups(e *rbac.Engine, resource string) []string {
	var groups []string
	p := e.Policy()
	visit := func(rules []rbacv1.PolicyRule) {
		for _, r := range rules {
			for _, res := range r.Resources {
				if base, _, _ := strings.Cut(res, "/"); base == resource {
					for _, g := range r.APIGroups {
						if g != "*" && !slices.Contains(groups, g) {
							groups = append(groups, g)
						}
					}
				}
			}
		}
	}
	for i := range p.ClusterRoles {
		visit(p.ClusterRoles[i].Rules)
	}
	for i := range p.Roles {
		visit(p.Roles[i].Rules)
	}
	slices.Sort(groups)
	return groups
}

// deniedError makes can-i exit 1 after printing "no", as kubectl auth
// can-i does.
type deniedError struct{ msg string }

func (d deniedError) Error() string { return d.msg }

func newCanICmd(env *Env) *cobra.Command {
	var (
		pf    policyFlags
		id    identityFlags
		o     output
		ns    string
		allNS bool
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "can-i VERB (RESOURCE[.GROUP][/SUBRESOURCE] [NAME] | /URL) (-f FILE|DIR | --kubeconfig FILE) [--as USER [--as-group G]...] [-n NS]",
		Short: "Say whether a user may do something, and which binding, role and rule allow it",
		Long: `can-i answers as kube-apiserver with --authorization-mode=Node,RBAC would, from
manifests (-f, over the built-in policy of Kubernetes ` + rbac.KubernetesVersion() + `) or a live
cluster (--kubeconfig), offline: ClusterRole aggregation is computed as the
controller manager does it, implicit groups are added as impersonation adds them,
members of system:masters are allowed everything (as the API server's
privileged-group authorizer does before Node and RBAC), and answers for nodes
(system:node:<name> in system:nodes) say when the Node authorizer decides.

A resource without .GROUP is the built-in resource of that name (in the core
group first, as kubectl resolves it), else one the policy's rules name; "pods."
names the core group explicitly. Cluster-scoped built-in resources are asked about
without a namespace, as kubectl asks. Without --as, --kubeconfig asks as the
kubeconfig's own user.

It prints yes or no, then why: every binding → role → rule that allows it, or
that none does. Exit codes: 0 yes, 1 no (as kubectl auth can-i), 2 bad usage.`,
		Example: `  bulwark can-i get pods -n web --as alice -f rbac/
  bulwark can-i create pods/exec -n kube-system --as system:serviceaccount:ci:deployer --kubeconfig admin.conf
  bulwark can-i get /metrics --as prometheus --as-group monitoring -f rbac.yaml`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pf.validate(); err != nil {
				return err
			}
			if err := o.validate(); err != nil {
				return err
			}
			if allNS {
				ns = ""
			}
			e, client, err := pf.load(env)
			if err != nil {
				return err
			}
			a, warn, err := parseAction(e, args, ns)
			if err != nil {
				return err
			}
			if warn != "" {
				fmt.Fprintln(env.Stderr, warn)
			}
			u, err := id.user(client)
			if err != nil {
				return err
			}
			d := e.Check(u, a)
			if !quiet {
				out := struct {
					User     rbac.User     `json:"user"`
					Action   rbac.Action   `json:"action"`
					Decision rbac.Decision `json:"decision"`
				}{u, a, d}
				err := o.print(env.Stdout, out, func(tw *tabwriter.Writer) {
					printDecision(tw, d)
				})
				if err != nil {
					return err
				}
			}
			if !d.Allowed {
				return deniedError{fmt.Sprintf("%s may not %s", u.Name, a)}
			}
			return nil
		},
	}
	pf.register(cmd)
	id.register(cmd)
	o.register(cmd)
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace of the request")
	cmd.Flags().BoolVarP(&allNS, "all-namespaces", "A", false, "ask about all namespaces at once (cluster scope: only ClusterRoleBindings count)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing: answer with the exit code only")
	return cmd
}

func printDecision(w io.Writer, d rbac.Decision) {
	if d.Allowed {
		fmt.Fprintln(w, "yes")
	} else {
		fmt.Fprintln(w, "no")
	}
	switch {
	case d.By == rbac.ByMasters || d.By == rbac.ByNode:
		fmt.Fprintf(w, "  %s\n", d.Reason)
		for _, p := range d.Paths {
			fmt.Fprintf(w, "  also allowed by %s\n", p)
		}
	case d.Allowed:
		for _, p := range d.Paths {
			fmt.Fprintf(w, "  allowed by %s\n", p)
		}
	default:
		fmt.Fprintf(w, "  %s\n", d.Reason)
	}
}

func newWhoCanCmd(env *Env) *cobra.Command {
	var (
		pf    policyFlags
		o     output
		ns    string
		allNS bool
	)
	cmd := &cobra.Command{
		Use:   "who-can VERB (RESOURCE[.GROUP][/SUBRESOURCE] [NAME] | /URL) (-f FILE|DIR | --kubeconfig FILE) [-n NS]",
		Short: "List every user, group and service account that may do something, with how",
		Long: `who-can lists every subject that may perform the request, each once, with every
binding → role → rule that grants it: the group system:masters (allowed
everything by the API server before any authorizer), then the users, groups and
service accounts of every binding whose role allows it. A user may perform the
request exactly when it matches one of them, or, for nodes, when the note on the
Node authorizer says so. The policy is read as for can-i.`,
		Example: `  bulwark who-can get secrets -n kube-system -f rbac/
  bulwark who-can create pods/exec -A --kubeconfig admin.conf -o json`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pf.validate(); err != nil {
				return err
			}
			if err := o.validate(); err != nil {
				return err
			}
			if allNS {
				ns = ""
			}
			e, _, err := pf.load(env)
			if err != nil {
				return err
			}
			a, warn, err := parseAction(e, args, ns)
			if err != nil {
				return err
			}
			if warn != "" {
				fmt.Fprintln(env.Stderr, warn)
			}
			w := e.WhoCan(a)
			return o.print(env.Stdout, w, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tVIA")
				for _, acc := range w.Access {
					nsCol := acc.Subject.Namespace
					if nsCol == "" {
						nsCol = "-"
					}
					if acc.By == rbac.ByMasters {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", acc.Subject.Kind, nsCol, acc.Subject.Name, "privileged-group authorizer: allowed everything before Node and RBAC")
					}
					for i, p := range acc.Paths {
						kind, name := acc.Subject.Kind, acc.Subject.Name
						if i > 0 || acc.By == rbac.ByMasters {
							kind, nsCol, name = "", "", ""
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s → %s rule %d %s%s\n", kind, nsCol, name, p.Binding, p.Role, p.Rule, rbac.FormatRule(p.PolicyRule), aggregatedFrom(p))
					}
				}
				if w.NodeReason != "" {
					fmt.Fprintf(tw, "Node authorizer: %s\n", w.NodeReason)
				}
			})
		},
	}
	pf.register(cmd)
	o.register(cmd)
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace of the request")
	cmd.Flags().BoolVarP(&allNS, "all-namespaces", "A", false, "ask about all namespaces at once (cluster scope: only ClusterRoleBindings count)")
	return cmd
}

func aggregatedFrom(p rbac.Path) string {
	if p.AggregatedFrom == "" {
		return ""
	}
	return " (aggregated from " + p.AggregatedFrom + ")"
}

func newRBACCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rbac",
		Short: "Lint an RBAC policy; print the built-in one",
	}
	cmd.AddCommand(newRBACLintCmd(env), newRBACBuiltinCmd(env))
	return cmd
}

func newRBACLintCmd(env *Env) *cobra.Command {
	var (
		pf             policyFlags
		format, failOn string
		includeBuiltin bool
	)
	cmd := &cobra.Command{
		Use:   "lint (-f FILE|DIR | --kubeconfig FILE)",
		Short: "Find risky grants, wildcards, bindings to everyone and bindings to missing roles",
		Long: `lint examines every binding through its role (aggregation computed) and every
role, and reports: every permission on every resource (one finding, not one per
risk); Secrets readable cluster-wide; escalate, bind and impersonate;
pods/exec and pods/attach; nodes/proxy; creating Pods or workloads in kube-system;
approving CSRs; minting service-account tokens; wildcards; bindings to
system:authenticated, system:unauthenticated or system:anonymous; bindings to
missing roles; subjects that match no one; aggregation that cannot settle. The
built-in policy's own objects are skipped unless --include-builtin.

Formats: table, json, sarif (2.1.0), junit (one test case per rule).
Exit codes: 0 no finding at or above --fail-on; 3 findings at or above it; 1 the
lint could not run; 2 bad usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pf.validate(); err != nil {
				return err
			}
			if !slices.Contains(rbac.LintFormats, format) {
				return usagef("unknown output format %q (want %s)", format, strings.Join(rbac.LintFormats, ", "))
			}
			sev, err := finding.ParseSeverity(failOn)
			if err != nil {
				return usageError{err}
			}
			e, _, err := pf.load(env)
			if err != nil {
				return err
			}
			rep := e.Lint(rbac.LintOptions{IncludeBuiltin: includeBuiltin, KubeletClients: []string{plan.UserKubeletClient}})
			if err := rep.Write(env.Stdout, format, finding.Output{Tool: finding.Tool{Name: "bulwark rbac lint", Version: version()}, BaseDir: "."}); err != nil {
				return err
			}
			n := 0
			for _, f := range rep.Findings {
				if f.Severity.AtLeast(sev) {
					n++
				}
			}
			if n > 0 {
				return findingsError{fmt.Sprintf("%d finding(s) at or above %s", n, sev)}
			}
			return nil
		},
	}
	pf.register(cmd)
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: "+strings.Join(rbac.LintFormats, ", "))
	cmd.Flags().StringVar(&failOn, "fail-on", "low", "exit 3 when a finding is at or above this severity: info, low, medium, high, critical")
	cmd.Flags().BoolVar(&includeBuiltin, "include-builtin", false, "lint the built-in policy's own roles and bindings too")
	return cmd
}

func newRBACBuiltinCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "builtin",
		Short: "Print the built-in roles and bindings of Kubernetes " + rbac.KubernetesVersion() + " as a List",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := rbac.Builtin()
			var items []any
			for i := range p.ClusterRoles {
				items = append(items, p.ClusterRoles[i])
			}
			for i := range p.ClusterRoleBindings {
				items = append(items, p.ClusterRoleBindings[i])
			}
			for i := range p.Roles {
				items = append(items, p.Roles[i])
			}
			for i := range p.RoleBindings {
				items = append(items, p.RoleBindings[i])
			}
			data, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
			if err != nil {
				return err
			}
			_, err = env.Stdout.Write(data)
			return err
		},
	}
}
