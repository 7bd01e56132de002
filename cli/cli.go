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
}

// Main runs bulwark with the process's environment.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return Run(Env{Now: time.Now, Rand: rand.Reader, Hostname: os.Hostname, Stdin: stdin, Stdout: stdout, Stderr: stderr}, args)
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

// Run runs one command line.
func Run(env Env, args []string) int {
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
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	fmt.Fprintf(env.Stderr, "bulwark: error: %s\n", termSafe(msg))
	var f findingsError
	var u usageError
	var c cannotAskError
	switch {
	case errors.As(err, &f):
		return ExitFindings
	case errors.As(err, &u), isCobraUsage(err):
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

Exit codes: 0 success, 1 failure (nothing changed), 2 bad usage or configuration,
3 a check found problems; can-i: 1 is "no" (as kubectl auth can-i) and 4 is "could
not ask" (the policy could not be read).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newInitCmd(env), newPlanCmd(env), newRenderCmd(env), newAuditCmd(env), newCertsCmd(env), newTokenCmd(env), newVersionCmd(env), newCanICmd(env), newWhoCanCmd(env), newRBACCmd(env))
	return root
}
