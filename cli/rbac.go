package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/bulwark-k8s/bulwark/internal/termsafe"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/rbac"
	"github.com/bulwark-k8s/bulwark/rbac/live"
	"github.com/bulwark-k8s/bulwark/store"
)

// maxPolicyInput caps one RBAC manifest file: a policy of 100k rules is
// about 15 MB of YAML.
const maxPolicyInput = 256 << 20

// maxQuestionInput caps a batch of questions.
const maxQuestionInput = 64 << 20

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
	f.registerSource(cmd)
}

// registerSource registers every policy flag but -f.
func (f *policyFlags) registerSource(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "read the policy of the live cluster of this kubeconfig (-f manifests then apply over it)")
	cmd.Flags().BoolVar(&f.builtin, "builtin", true, "with manifests only: include the built-in roles and bindings of Kubernetes "+rbac.KubernetesVersion()+", as every API server has them")
	cmd.Flags().StringVar(&f.namespace, "manifest-namespace", "default", "namespace of Roles and RoleBindings in manifests that name none, as kubectl apply gives them")
	cmd.Flags().BoolVar(&f.noNode, "no-node-authorizer", false, "model an API server without the Node authorizer (bulwark renders --authorization-mode=Node,RBAC)")
}

func (f *policyFlags) validate() error {
	if len(f.files) == 0 && f.kubeconfig == "" {
		return usagef("give the policy with -f FILE|DIR or --kubeconfig FILE")
	}
	return nil
}

// policy reads the policy: the cluster's, or the built-in one, with the
// manifests applied over it.
func (f *policyFlags) policy(env *Env, files []string) (*rbac.Policy, *live.Client, error) {
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
	for _, name := range files {
		q, err := readPolicy(env, name, f.namespace)
		if err != nil {
			return nil, nil, err
		}
		p.Merge(q)
	}
	return p, client, nil
}

// load reads the policy and compiles it.
func (f *policyFlags) load(env *Env) (*rbac.Engine, *live.Client, error) {
	p, client, err := f.policy(env, f.files)
	if err != nil {
		return nil, nil, err
	}
	return rbac.Compile(p, f.options()), client, nil
}

func (f *policyFlags) options() rbac.Options { return rbac.Options{NoNodeAuthorizer: f.noNode} }

// readPolicy reads a manifest file, the manifests of a folder, or standard
// input.
func readPolicy(env *Env, name, ns string) (*rbac.Policy, error) {
	opts := rbac.DecodeOptions{Namespace: ns}
	if name == "-" {
		data, err := readStdin(env, maxPolicyInput)
		if err != nil {
			return nil, err
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

func readStdin(env *Env, max int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(env.Stdin, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > max {
		return nil, usagef("standard input is larger than %d bytes", max)
	}
	return data, nil
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

// nsFlags are -n and -A.
type nsFlags struct {
	ns    string
	allNS bool
}

func (f *nsFlags) register(cmd *cobra.Command, all string) {
	cmd.Flags().StringVarP(&f.ns, "namespace", "n", "default", "namespace of the request")
	cmd.Flags().BoolVarP(&f.allNS, "all-namespaces", "A", false, all)
}

// namespace is the namespace asked about: "" for -A.
func (f *nsFlags) namespace() string {
	if f.allNS {
		return ""
	}
	return f.ns
}

// parseAction reads a question's words; errors are usage errors.
func parseAction(env *Env, e *rbac.Engine, args []string, namespace, where string) (rbac.Action, error) {
	a, warn, err := e.ParseAction(args, namespace)
	if err != nil {
		return a, usagef("%s%v", where, err)
	}
	if warn != "" {
		fmt.Fprintln(env.Stderr, termsafe.String("bulwark: warning: "+where+warn))
	}
	return a, nil
}

// deniedError makes can-i exit 1 after printing "no", as kubectl auth
// can-i does.
type deniedError struct{ msg string }

func (d deniedError) Error() string { return d.msg }

// cannotAskError makes can-i exit ExitCannotAnswer: the question could not
// be asked, which kubectl's exit 1 does not tell from "no".
type cannotAskError struct{ err error }

func (c cannotAskError) Error() string { return c.err.Error() }
func (c cannotAskError) Unwrap() error { return c.err }

// canIError keeps can-i's "no" (1) and usage (2), and makes every other
// failure "could not ask" (4).
func canIError(err error) error {
	var d deniedError
	var u usageError
	if err == nil || errors.As(err, &d) || errors.As(err, &u) || isCobraUsage(err) {
		return err
	}
	return cannotAskError{err}
}

// safeOut is a buffered standard output for commands that print many
// lines; Run has made it terminal-safe.
func safeOut(env *Env) (*bufio.Writer, func() error) {
	w := bufio.NewWriterSize(env.Stdout, 64<<10)
	return w, w.Flush
}

func newCanICmd(env *Env) *cobra.Command {
	var (
		pf    policyFlags
		id    identityFlags
		o     output
		nf    nsFlags
		quiet bool
		list  bool
		batch string
	)
	cmd := &cobra.Command{
		Use:   "can-i (VERB (RESOURCE[.GROUP][/SUBRESOURCE] [NAME] | /URL) | --list | --batch FILE) (-f FILE|DIR | --kubeconfig FILE) [--as USER [--as-group G]...] [-n NS | -A]",
		Short: "Say whether a user may do something, and which binding, role and rule allow it; or list all it may do",
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
that none does.

--list prints every rule the user holds where -n applies (the rules of
ClusterRoleBindings and of the namespace's RoleBindings; -A: every namespace's,
each with its namespace), exactly as written (resource names, subresources,
non-resource URLs), each with the binding, role and rule that grant it: what
kubectl auth can-i --list shows, offline and complete. A request is allowed
exactly when a listed rule allows it in the request's namespace.

--batch FILE (- for standard input) asks many questions of one policy, one per
line, as tab-separated values or JSON lines (told by the first line):
  get<TAB>pods<TAB>NAME<TAB>NAMESPACE<TAB>USER<TAB>GROUP,GROUP
  {"verb": "get", "resource": "pods", "name": "", "namespace": "web",
   "allNamespaces": false, "as": "alice", "asGroups": ["devs"]}
Trailing cells may be left out; an empty cell, or a missing field, takes the
flag's value (-n, --as, --as-group); namespace * is -A. Blank lines and lines
starting with # are skipped. Every line is read before any is answered: a bad
line is an error (exit 2) and nothing is printed. -o json writes one JSON object
per line.

Exit codes: 0 yes (--batch: every answer yes; --list: listed); 1 no (as kubectl
auth can-i; --batch: some answer no); 2 bad usage or policy files; 4 could not ask
(the cluster did not answer, ...).`,
		Example: `  bulwark can-i get pods -n web --as alice -f rbac/
  bulwark can-i create pods/exec -n kube-system --as system:serviceaccount:ci:deployer --kubeconfig admin.conf
  bulwark can-i get /metrics --as prometheus --as-group monitoring -f rbac.yaml
  bulwark can-i --list --as system:serviceaccount:web:deployer -n web -f rbac/
  bulwark can-i --batch questions.tsv --as alice -f rbac/ -o json`,
		Args: cobra.MaximumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return canIError(func() error {
				if err := pf.validate(); err != nil {
					return err
				}
				if err := o.validate(); err != nil {
					return err
				}
				switch {
				case list && batch != "":
					return usagef("--list and --batch exclude each other")
				case (list || batch != "") && len(args) > 0:
					return usagef("--list and --batch take no VERB RESOURCE")
				case !list && batch == "" && len(args) < 2:
					return usagef("give VERB RESOURCE [NAME], VERB /URL, --list or --batch FILE")
				case list && quiet:
					return usagef("--list prints the list: -q does not apply")
				case batch == "-" && slices.Contains(pf.files, "-"):
					return usagef("--batch - and -f - cannot both read standard input")
				}
				var questions []rbac.Question
				if batch != "" {
					var err error
					if questions, err = readQuestions(env, batch); err != nil {
						return err
					}
				}
				e, client, err := pf.load(env)
				if err != nil {
					return err
				}
				if batch != "" {
					return canIBatch(env, e, client, &id, &nf, &o, quiet, questions)
				}
				u, err := id.user(client)
				if err != nil {
					return err
				}
				if list {
					ns := nf.ns
					if nf.allNS {
						ns = rbac.AllNamespaces
					}
					return printRules(env, &o, e.RulesFor(u, ns))
				}
				a, err := parseAction(env, e, args, nf.namespace(), "")
				if err != nil {
					return err
				}
				d := e.Check(u, a)
				if !quiet {
					out := canIAnswer{User: u, Action: a, Decision: d}
					w, flush := safeOut(env)
					err := o.print(w, out, func(tw *tabwriter.Writer) { printDecision(tw, d) })
					if ferr := flush(); err == nil {
						err = ferr
					}
					if err != nil {
						return err
					}
				}
				if !d.Allowed {
					return deniedError{fmt.Sprintf("%s may not %s", u.Name, a)}
				}
				return nil
			}())
		},
	}
	pf.register(cmd)
	id.register(cmd)
	o.register(cmd)
	nf.register(cmd, "ask about all namespaces at once (cluster scope: only ClusterRoleBindings count); with --list, list every namespace's rules")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing: answer with the exit code only")
	cmd.Flags().BoolVar(&list, "list", false, "list every rule the user holds, with the binding and role behind each")
	cmd.Flags().StringVar(&batch, "batch", "", "read questions from this file (- for standard input), one per line: tab-separated or JSON lines")
	return cmd
}

// canIAnswer is one answer as can-i prints it in JSON and YAML.
type canIAnswer struct {
	Line     int           `json:"line,omitempty"`
	User     rbac.User     `json:"user"`
	Action   rbac.Action   `json:"action"`
	Decision rbac.Decision `json:"decision"`
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

// readQuestions reads a batch of questions from a file or standard input.
func readQuestions(env *Env, name string) ([]rbac.Question, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = readStdin(env, maxQuestionInput)
	} else {
		data, err = store.ReadInput(name, maxQuestionInput)
	}
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			return nil, err
		}
		return nil, usageError{err}
	}
	qs, err := rbac.ParseQuestions(strings.NewReader(string(data)))
	if err != nil {
		return nil, usagef("%s: %v", questionSource(name), err)
	}
	if len(qs) == 0 {
		return nil, usagef("%s: no question", questionSource(name))
	}
	return qs, nil
}

func questionSource(name string) string {
	if name == "-" {
		return "<stdin>"
	}
	return name
}

// batchQuestion is one question of a batch, resolved.
type batchQuestion struct {
	line   int
	user   rbac.User
	action rbac.Action
}

// resolveQuestions turns a batch's questions into actions (and users),
// every one before any is answered.
func resolveQuestions(env *Env, e *rbac.Engine, qs []rbac.Question, nf *nsFlags, user func(q *rbac.Question) (rbac.User, error)) ([]batchQuestion, error) {
	out := make([]batchQuestion, len(qs))
	for i := range qs {
		q := &qs[i]
		where := fmt.Sprintf("line %d: ", q.Line)
		ns := nf.namespace()
		switch q.Namespace {
		case "":
		case rbac.AllNamespaces:
			ns = ""
		default:
			ns = q.Namespace
		}
		a, err := parseAction(env, e, q.Args, ns, where)
		if err != nil {
			return nil, err
		}
		out[i] = batchQuestion{line: q.Line, action: a}
		if user != nil {
			if out[i].user, err = user(q); err != nil {
				var u usageError
				if errors.As(err, &u) {
					return nil, usagef("%s%v", where, u.err)
				}
				return nil, err
			}
		}
	}
	return out, nil
}

func canIBatch(env *Env, e *rbac.Engine, client *live.Client, id *identityFlags, nf *nsFlags, o *output, quiet bool, qs []rbac.Question) error {
	var self *rbac.User
	bqs, err := resolveQuestions(env, e, qs, nf, func(q *rbac.Question) (rbac.User, error) {
		if q.As != "" {
			return rbac.Impersonate(q.As, q.AsGroups...), nil
		}
		if self == nil {
			u, err := id.user(client)
			if err != nil {
				return u, err
			}
			self = &u
		}
		return *self, nil
	})
	if err != nil {
		return err
	}
	w, flush := safeOut(env)
	denied := 0
	var all []canIAnswer
	var tw *tabwriter.Writer
	var enc *json.Encoder
	switch o.format {
	case "table":
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		if !quiet {
			fmt.Fprintln(tw, "LINE\tANSWER\tUSER\tREQUEST\tWHY")
		}
	case "json":
		enc = json.NewEncoder(w)
	}
	for _, q := range bqs {
		var d rbac.Decision
		if quiet || o.format == "table" {
			d = e.Authorize(q.user, q.action)
		} else {
			d = e.Check(q.user, q.action)
		}
		if !d.Allowed {
			denied++
		}
		if quiet {
			continue
		}
		switch o.format {
		case "table":
			answer := "no"
			if d.Allowed {
				answer = "yes"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", q.line, answer, q.user.Name, q.action, d.Reason)
		case "json":
			if err := enc.Encode(canIAnswer{Line: q.line, User: q.user, Action: q.action, Decision: d}); err != nil {
				return err
			}
		default:
			all = append(all, canIAnswer{Line: q.line, User: q.user, Action: q.action, Decision: d})
		}
	}
	if tw != nil {
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if all != nil {
		data, err := yaml.Marshal(all)
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if denied > 0 {
		return deniedError{fmt.Sprintf("%d of %d answers are no", denied, len(bqs))}
	}
	return nil
}

// printRules prints can-i --list: a row per resource or URL of each
// rule, with the binding, role and rule behind it.
func printRules(env *Env, o *output, r rbac.Rules) error {
	w, flush := safeOut(env)
	err := o.print(w, r, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "SCOPE\tRESOURCE\tNON-RESOURCE URL\tRESOURCE NAMES\tVERBS\tVIA")
		if r.Masters {
			fmt.Fprintf(tw, "everywhere\t*\t*\t-\t*\tgroup %s: the privileged-group authorizer allows everything before Node and RBAC\n", rbac.GroupMasters)
		}
		rows := func(scope string, rule *rbacv1.PolicyRule, via string) {
			for _, res := range resourceNames(rule) {
				fmt.Fprintf(tw, "%s\t%s\t-\t%s\t%s\t%s\n", scope, res, join(rule.ResourceNames), join(rule.Verbs), via)
			}
			for _, u := range rule.NonResourceURLs {
				fmt.Fprintf(tw, "%s\t-\t%s\t-\t%s\t%s\n", scope, u, join(rule.Verbs), via)
			}
		}
		for _, g := range r.Grants {
			scope := "cluster-wide"
			if g.Namespace != "" {
				scope = "namespace " + g.Namespace
			}
			rows(scope, &g.PolicyRule, fmt.Sprintf("%s → %s rule %d%s", g.Binding, g.Role, g.Rule, aggregatedFrom(g.Path)))
		}
		for i := range r.NodeRules {
			rows("cluster-wide", &r.NodeRules[i], "Node authorizer (static rule for nodes)")
		}
		if r.NodeNote != "" {
			fmt.Fprintf(tw, "and %s\n", r.NodeNote)
		}
		for _, e := range r.Errors {
			fmt.Fprintf(tw, "binding that grants nothing: %s\n", e)
		}
		if len(r.Grants) == 0 && !r.Masters && len(r.NodeRules) == 0 {
			fmt.Fprintln(tw, "(no rule)")
		}
	})
	if ferr := flush(); err == nil {
		err = ferr
	}
	return err
}

// resourceNames writes a rule's resources as can-i takes them:
// RESOURCE[.GROUP][/SUBRESOURCE].
func resourceNames(r *rbacv1.PolicyRule) []string {
	var out []string
	for _, g := range r.APIGroups {
		for _, res := range r.Resources {
			name, sub, hasSub := strings.Cut(res, "/")
			if g != "" {
				name += "." + g
			}
			if hasSub {
				name += "/" + sub
			}
			out = append(out, name)
		}
	}
	return out
}

func newWhoCanCmd(env *Env) *cobra.Command {
	var (
		pf    policyFlags
		o     output
		nf    nsFlags
		batch string
	)
	cmd := &cobra.Command{
		Use:   "who-can (VERB (RESOURCE[.GROUP][/SUBRESOURCE] [NAME] | /URL) | --batch FILE) (-f FILE|DIR | --kubeconfig FILE) [-n NS | -A]",
		Short: "List every user, group and service account that may do something, with how",
		Long: `who-can lists every subject that may perform the request, each once, with every
binding → role → rule that grants it: the group system:masters (allowed
everything by the API server before any authorizer), then the users, groups and
service accounts of every binding whose role allows it. A user may perform the
request exactly when it matches one of them, or, for nodes, when the note on the
Node authorizer says so. The policy is read as for can-i.

--batch FILE (- for standard input) asks many questions of one policy, as can-i
--batch does (tab-separated VERB RESOURCE NAME NAMESPACE, or JSON lines with
"verb", "resource", "name", "namespace", "allNamespaces"; no user). -o json writes
one JSON object per question and line.`,
		Example: `  bulwark who-can get secrets -n kube-system -f rbac/
  bulwark who-can create pods/exec -A --kubeconfig admin.conf -o json
  printf 'get\tsecrets\t\tweb\nescalate\tclusterroles.rbac.authorization.k8s.io\n' | bulwark who-can --batch - -f rbac/`,
		Args: cobra.MaximumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pf.validate(); err != nil {
				return err
			}
			if err := o.validate(); err != nil {
				return err
			}
			switch {
			case batch != "" && len(args) > 0:
				return usagef("--batch takes no VERB RESOURCE")
			case batch == "" && len(args) < 2:
				return usagef("give VERB RESOURCE [NAME], VERB /URL or --batch FILE")
			case batch == "-" && slices.Contains(pf.files, "-"):
				return usagef("--batch - and -f - cannot both read standard input")
			}
			var questions []rbac.Question
			if batch != "" {
				var err error
				if questions, err = readQuestions(env, batch); err != nil {
					return err
				}
				for _, q := range questions {
					if q.As != "" {
						return usagef("%s: line %d: who-can questions name no user", questionSource(batch), q.Line)
					}
				}
			}
			e, _, err := pf.load(env)
			if err != nil {
				return err
			}
			var bqs []batchQuestion
			if batch != "" {
				if bqs, err = resolveQuestions(env, e, questions, &nf, nil); err != nil {
					return err
				}
			} else {
				a, err := parseAction(env, e, args, nf.namespace(), "")
				if err != nil {
					return err
				}
				bqs = []batchQuestion{{action: a}}
			}
			w, flush := safeOut(env)
			var enc *json.Encoder
			var all []whoCanAnswer
			for i, q := range bqs {
				s := e.WhoCan(q.action)
				switch {
				case o.format == "json" && batch != "":
					if enc == nil {
						enc = json.NewEncoder(w)
					}
					if err := enc.Encode(whoCanAnswer{Line: q.line, Subjects: s}); err != nil {
						return err
					}
				case o.format == "table":
					if batch != "" {
						if i > 0 {
							fmt.Fprintln(w)
						}
						fmt.Fprintf(w, "# line %d: %s\n", q.line, q.action)
					}
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					printSubjects(tw, s)
					if err := tw.Flush(); err != nil {
						return err
					}
				default:
					all = append(all, whoCanAnswer{Line: q.line, Subjects: s})
				}
			}
			if all != nil {
				var v any = all
				if batch == "" {
					v = all[0].Subjects
				}
				if err := o.print(w, v, nil); err != nil {
					return err
				}
			}
			return flush()
		},
	}
	pf.register(cmd)
	o.register(cmd)
	nf.register(cmd, "ask about all namespaces at once (cluster scope: only ClusterRoleBindings count)")
	cmd.Flags().StringVar(&batch, "batch", "", "read questions from this file (- for standard input), one per line: tab-separated or JSON lines")
	return cmd
}

// whoCanAnswer is one answer of who-can --batch.
type whoCanAnswer struct {
	Line int `json:"line,omitempty"`
	rbac.Subjects
}

func printSubjects(tw *tabwriter.Writer, w rbac.Subjects) {
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
		Short: "Lint an RBAC policy, compare two, print the built-in one",
	}
	cmd.AddCommand(newRBACLintCmd(env), newRBACDiffCmd(env), newRBACBuiltinCmd(env))
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
			w, flush := safeOut(env)
			if err := rep.Write(w, format, finding.Output{Tool: finding.Tool{Name: "bulwark rbac lint", Version: version()}, BaseDir: "."}); err != nil {
				return err
			}
			if err := flush(); err != nil {
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

// Values of rbac diff --fail-on besides severities.
const (
	failOnGain  = "gain"
	failOnNever = "never"
)

func newRBACDiffCmd(env *Env) *cobra.Command {
	var (
		pf     policyFlags
		o      output
		failOn string
	)
	cmd := &cobra.Command{
		Use:   "diff OLD NEW | diff --kubeconfig FILE NEW",
		Short: "Say which subjects gain or lose which permissions between two policies, and which gains are risky",
		Long: `diff compares what every user, group and service account that a binding of
either policy names may do under each: after ClusterRole aggregation, and with the
groups the API server gives each identity (system:authenticated to every user and
service account; system:serviceaccounts and system:serviceaccounts:<namespace> to
service accounts; system:unauthenticated to system:anonymous). A group's change is
what its members gain or lose through it.

OLD and NEW are manifest files or folders (or - for standard input, on one side),
each over the built-in policy of Kubernetes ` + rbac.KubernetesVersion() + ` (--builtin). With
--kubeconfig and one argument, OLD is the live cluster's policy and NEW the same
with the manifests applied over it: what applying them would change.

Each change is one verb on one resource (or URL) in one scope (cluster-wide or a
namespace), with the bindings that give it; "except" lists the parts held on the
other side (a gained "*" where "get" was held before). A subject gains a request
exactly when a gain allows it and no exception does. Gains are marked with the
risks of bulwark's lint table (RBAC001 Secrets read cluster-wide, RBAC002
escalate, ...; any gain of system:authenticated RBAC011, of system:unauthenticated
or system:anonymous RBAC010). The Node authorizer does not read the policy and is
left out.

Exit codes: 0 no gain with a risk at or above --fail-on; 3 such gains (use it in
CI: "this change grants Secrets read cluster-wide to a new subject"); with
--fail-on gain, any gain; with --fail-on never, 0 whatever changed; 1 the diff
could not run; 2 bad usage or policy files.`,
		Example: `  bulwark rbac diff main/rbac/ pr/rbac/
  bulwark rbac diff --kubeconfig admin.conf pr/rbac/ --fail-on high
  bulwark rbac diff old.yaml new.yaml -o json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			var sev finding.Severity
			switch failOn {
			case failOnGain, failOnNever:
			default:
				var err error
				if sev, err = finding.ParseSeverity(failOn); err != nil {
					return usagef("--fail-on: %v, %s or %s", err, failOnGain, failOnNever)
				}
			}
			var oldP, newP *rbac.Policy
			switch {
			case pf.kubeconfig != "" && len(args) == 1:
				cluster, _, err := pf.policy(env, nil)
				if err != nil {
					return err
				}
				q, err := readPolicy(env, args[0], pf.namespace)
				if err != nil {
					return err
				}
				oldP = cluster
				newP = &rbac.Policy{}
				newP.Merge(cluster)
				newP.Merge(q)
			case pf.kubeconfig != "":
				return usagef("with --kubeconfig, give the manifests to apply: rbac diff --kubeconfig FILE NEW")
			case len(args) != 2:
				return usagef("give OLD and NEW")
			case args[0] == "-" && args[1] == "-":
				return usagef("standard input can be one side only")
			default:
				var err error
				if oldP, _, err = pf.policy(env, args[:1]); err != nil {
					return err
				}
				if newP, _, err = pf.policy(env, args[1:]); err != nil {
					return err
				}
			}
			d := rbac.Diff(rbac.Compile(oldP, pf.options()), rbac.Compile(newP, pf.options()))
			w, flush := safeOut(env)
			err := o.print(w, d, func(tw *tabwriter.Writer) { printDiff(tw, &d) })
			if ferr := flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return err
			}
			risky := 0
			for _, s := range d.Subjects {
				for _, c := range s.Gained {
					if failOn == failOnGain || failOn != failOnNever && slices.ContainsFunc(c.Risks, func(r rbac.Risk) bool { return r.Severity.AtLeast(sev) }) {
						risky++
					}
				}
			}
			if risky > 0 {
				if failOn == failOnGain {
					return findingsError{fmt.Sprintf("%d permission(s) gained", risky)}
				}
				return findingsError{fmt.Sprintf("%d gained permission(s) with a risk at or above %s", risky, sev)}
			}
			return nil
		},
	}
	pf.registerSource(cmd)
	o.register(cmd)
	cmd.Flags().StringVar(&failOn, "fail-on", "low", "exit 3 when a gain has a risk at or above this severity (info, low, medium, high, critical); gain: any gain; never: never")
	return cmd
}

// printDiff writes a diff as a table: a row per subject, change, scope and
// permission, verbs of the same change on one row.
func printDiff(tw *tabwriter.Writer, d *rbac.DiffReport) {
	fmt.Fprintln(tw, "SUBJECT\tCHANGE\tSCOPE\tPERMISSION\tEXCEPT\tRISK\tVIA")
	for _, s := range d.Subjects {
		subject := s.Subject.Kind + " " + s.Subject.Name
		if s.Subject.Kind == rbacv1.ServiceAccountKind {
			subject = s.Subject.Kind + " " + s.Subject.Namespace + "/" + s.Subject.Name
		}
		for _, side := range []struct {
			sign    string
			changes []rbac.Change
		}{{"gained", s.Gained}, {"lost", s.Lost}} {
			for _, row := range diffRows(s.Subject, side.changes) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", subject, side.sign, row.scope, row.perm, row.except, row.risk, row.via)
			}
		}
	}
	fmt.Fprintf(tw, "%d subject(s) change: %d permission(s) gained, %d lost", len(d.Subjects), d.Gained, d.Lost)
	if m := d.MaxRisk(); m != "" {
		fmt.Fprintf(tw, "; the riskiest gain is %s", m)
	}
	fmt.Fprintln(tw)
}

type diffRow struct{ scope, perm, except, risk, via string }

// diffRows merges the changes that differ only by verb.
func diffRows(subject rbacv1.Subject, cs []rbac.Change) []diffRow {
	var rows []diffRow
	index := map[string]int{}
	verbs := map[int][]string{}
	for _, c := range cs {
		scope := "cluster-wide"
		if c.Namespace != "" {
			scope = "namespace " + c.Namespace
		}
		p := c.Permission
		verb := p.Verb
		p.Verb = ""
		perm := strings.TrimSpace(p.String())
		var ex []string
		for _, e := range c.Except {
			ex = append(ex, e.String())
		}
		var risk []string
		for _, r := range c.Risks {
			risk = append(risk, string(r.Severity)+" "+r.ID)
		}
		var via []string
		for _, v := range c.Via {
			as := ""
			if v.Subject.Kind != subject.Kind || v.Subject.Name != subject.Name {
				as = fmt.Sprintf(" (as %s %s)", v.Subject.Kind, v.Subject.Name)
			}
			via = append(via, fmt.Sprintf("%s → %s rule %d%s", v.Binding, v.Role, v.Rule, as))
		}
		row := diffRow{scope, perm, join(ex), join(risk), strings.Join(via, "; ")}
		key := strings.Join([]string{row.scope, row.perm, row.except, row.risk, row.via}, "\x00")
		i, ok := index[key]
		if !ok {
			i = len(rows)
			index[key] = i
			rows = append(rows, row)
		}
		verbs[i] = append(verbs[i], verb)
	}
	for i := range rows {
		rows[i].perm = strings.Join(verbs[i], ",") + " " + rows[i].perm
	}
	return rows
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
