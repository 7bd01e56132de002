// Package cli is bulwark's command line: a thin cobra shell over the
// library. Main is the only entry point; it prints errors in one place and
// maps them to the exit codes below.
package cli

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/internal/kubeclient"
	"github.com/bulwark-k8s/bulwark/internal/termsafe"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/store"
)

// Exit codes, the same for every command.
const (
	ExitOK       = 0 // success; for checks, nothing found
	ExitError    = 1 // the command failed; nothing was changed unless it says so
	ExitUsage    = 2 // bad flags, arguments or configuration syntax
	ExitFindings = 3 // a check ran and found problems (expired or expiring certificates)
	// ExitCannotAnswer is can-i's "could not ask": the policy could not be
	// read (the cluster did not answer, ...). can-i's 1 is kubectl's "no".
	ExitCannotAnswer = 4
)

// Env is what a run may take from the world, injected so tests are
// deterministic.
type Env struct {
	Now      func() time.Time
	Rand     io.Reader
	Hostname func() (string, error)
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
	// Getenv reads the environment (BULWARK_IDENTITY, SSH_AUTH_SOCK);
	// nil reads nothing.
	Getenv func(string) string
}

// Main runs bulwark with the process's environment.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return Run(Env{Now: time.Now, Rand: rand.Reader, Hostname: os.Hostname, Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}, args)
}

// usageError marks errors in how the command was called.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// findingsError marks a check that ran and found problems; its message has
// been printed already as part of the report.
type findingsError struct{ msg string }

func (f findingsError) Error() string { return f.msg }

// failureError marks a failure whose message must not be taken for a
// usage error by its wording (a refusal that quotes a server's error).
type failureError struct{ err error }

func (f failureError) Error() string { return f.err.Error() }
func (f failureError) Unwrap() error { return f.err }

// Run runs one command line. Everything it prints goes through a filter
// that shows control characters as escapes: names, descriptions and
// messages read from files or from a cluster cannot move the cursor,
// change colours or retitle the terminal.
func Run(env Env, args []string) int {
	stdout, stderr := termsafe.New(env.Stdout), termsafe.New(env.Stderr)
	defer stdout.Flush()
	defer stderr.Flush()
	env.Stdout, env.Stderr = stdout, stderr
	root := newRoot(&env)
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var denied deniedError
	if errors.As(err, &denied) {
		// can-i has printed its "no" (and the reason): like kubectl auth
		// can-i, that is exit 1 and nothing more.
		return ExitError
	}
	for _, line := range errorLines(err) {
		fmt.Fprintf(env.Stderr, "bulwark: error: %s\n", line)
	}
	return exitCode(err)
}

// errorLines is what an error prints: one line per problem for the
// errors that hold several (init reports every problem at once), one line
// otherwise.
func errorLines(err error) []string {
	var ps provision.Problems
	var drift provision.DriftError
	switch {
	case errors.As(err, &ps):
		return ps.Lines()
	case errors.As(err, &drift):
		return strings.Split(drift.Error(), "\n")
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		// errors.Join: one line per problem.
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, errorLines(e)...)
		}
		return out
	}
	return []string{strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")}
}

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	var f findingsError
	var u usageError
	var c cannotAskError
	var drift provision.DriftError
	var failed failureError
	switch {
	case errors.As(err, &failed):
		return ExitError
	case errors.As(err, &f):
		return ExitFindings
	case errors.As(err, &u), isCobraUsage(err), errors.As(err, &drift),
		errors.Is(err, store.ErrEmptyDir), errors.Is(err, provision.ErrUnderivable), errors.Is(err, provision.ErrUnknownName),
		errors.Is(err, kubeclient.ErrLoad):
		return ExitUsage
	case errors.As(err, &c):
		return ExitCannotAnswer
	}
	return ExitError
}

// isCobraUsage recognises cobra's own errors for unknown commands, flags
// and argument counts, which it does not type.
func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "requires exactly", "bad flag syntax", "required flag(s)", "if any flags in the group"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func newRoot(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "bulwark",
		Short: "Build, prove and keep the security of a Kubernetes control plane",
		Long: `bulwark generates a control plane's whole PKI and every credential (separate CAs
for the cluster, etcd clients, etcd peers and the front proxy; every component
certificate; kubeconfigs; the service-account key pair; kubelet TLS bootstrap
tokens) and keeps it: expiry checks and renewal.

Exit codes: 0 success; 1 failure, nothing changed (every problem found is
listed, one line each, with the command that fixes it where one can); 2 bad
usage or configuration, including a configuration that disagrees with the
folder's existing keys (drift); 3 a check found problems; can-i: 1 is "no"
(as kubectl auth can-i) and 4 is "could not ask" (the policy could not be
read).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newInitCmd(env), newPlanCmd(env), newRenderCmd(env), newAuditCmd(env), newCertsCmd(env), newTokenCmd(env), newVersionCmd(env), newCanICmd(env), newWhoCanCmd(env), newRBACCmd(env),
		newAdminCmd(env), newEncryptCmd(env), newExportCmd(env), newRotateCmd(env))
	root.InitDefaultCompletionCmd() // made now, so that it refuses an unknown shell too
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command that only groups others
// (certs, token, rbac) refuse an unknown subcommand with a usage error,
// where cobra would print the help and succeed; without one, it prints
// the help.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		refuseUnknownSubcommands(c)
	}
	if cmd.HasParent() && cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q (see %q)", args[0], c.CommandPath(), c.CommandPath()+" --help")
			}
			return c.Help()
		}
	}
}
