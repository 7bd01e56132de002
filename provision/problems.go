package provision

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Code names a kind of problem with an existing file. Every Problem has
// one, and each code always comes with the same kind of fix (or none):
// the tests follow the fix of every code to its end.
type Code string

// Problem codes. A code whose fix is a command says which in its comment.
const (
	// CodeUnreadable: a file cannot be read (permissions, I/O).
	CodeUnreadable Code = "unreadable"
	// CodeCorruptKey: a leaf's key does not parse. Fix: renew with --new-key.
	CodeCorruptKey Code = "corrupt-key"
	// CodeCorruptCert: a leaf's or a CA's certificate does not parse. Fix: renew.
	CodeCorruptCert Code = "corrupt-cert"
	// CodeCorruptKubeconfig: a kubeconfig does not parse. Fix: renew with --new-key.
	CodeCorruptKubeconfig Code = "corrupt-kubeconfig"
	// CodeCorruptCAKey: a CA's key does not parse. Fix: a CA rotation (renew --new-key).
	CodeCorruptCAKey Code = "corrupt-ca-key"
	// CodeMissingCAKey: a CA's certificate is there, its key is not, and
	// leaves it must sign are missing. No fix: sign them with the external CA.
	CodeMissingCAKey Code = "missing-ca-key"
	// CodeMissingKey: a leaf's certificate is there, its key is not. Fix: renew with --new-key.
	CodeMissingKey Code = "missing-key"
	// CodeMissingSAKey: sa.pub is there, sa.key is not. No fix: restore it.
	CodeMissingSAKey Code = "missing-sa-key"
	// CodeBadSAPub: sa.pub does not parse or match sa.key. Fix: renew sa.
	CodeBadSAPub Code = "bad-sa-pub"
	// CodeNotCA: a CA's certificate is not a self-signed CA. Fix: renew the CA.
	CodeNotCA Code = "not-ca"
	// CodeCAKeyMismatch: a CA's certificate is not its key's. Fix: renew the CA.
	CodeCAKeyMismatch Code = "ca-key-mismatch"
	// CodeExpired: a certificate has expired. Fix: renew.
	CodeExpired Code = "expired"
	// CodeKeyMismatch: a leaf's certificate is not its key's. Fix: renew.
	CodeKeyMismatch Code = "key-mismatch"
	// CodeWrongIssuer: a leaf is not signed by its CA. Fix: renew.
	CodeWrongIssuer Code = "wrong-issuer"
	// CodeOrphan: a leaf exists but its CA does not. Fix: renew the CA (made
	// anew) with every certificate it signs.
	CodeOrphan Code = "orphan"
	// CodeIdentity: CN, O or usages differ from the plan. Fix: renew.
	CodeIdentity Code = "identity"
	// CodeSANs: a certificate does not cover the names the plan wants. Fix: renew.
	CodeSANs Code = "sans"
	// CodeServer: a kubeconfig points at another server. Fix: renew.
	CodeServer Code = "server"
	// CodeUntrusted: a kubeconfig does not trust the cluster CA. Fix: renew.
	CodeUntrusted Code = "untrusted"
	// CodeNoClientCert: a certificate kubeconfig holds none. Fix: renew with --new-key.
	CodeNoClientCert Code = "no-client-cert"
	// CodeBootstrap: the bootstrap kubeconfig's token is missing, malformed
	// or has no Secret. Fix: renew bootstrap-kubelet (a new token).
	CodeBootstrap Code = "bootstrap"
	// CodeBadTokenSecret: a token Secret manifest does not parse. Fix: token delete.
	CodeBadTokenSecret Code = "bad-token-secret"
	// CodeEncryption: the encryption configuration is missing on an
	// initialised folder, or does not encrypt. No fix: restore it.
	CodeEncryption Code = "encryption"
	// CodeForeign: a folder without bulwark.yaml whose identities differ
	// from bulwark's tables. No fix: bulwark does not adopt it by init.
	CodeForeign Code = "foreign"
	// CodeTrust: a CA or leaf fails a trust check (shared or weak key, no
	// CA constraints, CA:TRUE leaf, wildcard SAN, one key for two
	// certificates). Fix: renew (with --new-key where the key is at fault).
	CodeTrust Code = "trust"
)

// Problem is an existing file that does not fit the plan. Fix names the
// complete command that repairs it, "" when no command can.
type Problem struct {
	Code   Code
	File   string
	Reason string
	Fix    string
	// Cause is the error behind the problem (an I/O error), if any.
	Cause error
}

func (p *Problem) Error() string {
	if p.Fix == "" {
		return fmt.Sprintf("%s: %s", p.File, p.Reason)
	}
	return fmt.Sprintf("%s: %s; run `%s` to fix it", p.File, p.Reason, p.Fix)
}

// ErrMismatch is wrapped by every Problem, for callers that branch on it.
var ErrMismatch = errors.New("existing file does not match the plan")

// Unwrap gives ErrMismatch and the cause, for errors.Is and errors.As.
func (p *Problem) Unwrap() []error {
	if p.Cause == nil {
		return []error{ErrMismatch}
	}
	return []error{ErrMismatch, p.Cause}
}

// Problems are every problem a run found, reported together: one line
// each.
type Problems []*Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns each problem, for errors.Is and errors.As.
func (ps Problems) Unwrap() []error {
	out := make([]error, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

// Lines are the problems' messages, one per problem.
func (ps Problems) Lines() []string { return strings.Split(ps.Error(), "\n") }

// problems collects problems, one per file.
type problems struct {
	list   Problems
	byFile map[string]bool
}

func (ps *problems) add(p *Problem) {
	if ps.byFile == nil {
		ps.byFile = map[string]bool{}
	}
	if ps.byFile[p.File] {
		return
	}
	ps.byFile[p.File] = true
	ps.list = append(ps.list, p)
}

// addErr adds a *Problem or Problems; anything else is returned.
func (ps *problems) addErr(err error) error {
	var one *Problem
	var many Problems
	switch {
	case err == nil:
	case errors.As(err, &many):
		for _, p := range many {
			ps.add(p)
		}
	case errors.As(err, &one):
		ps.add(one)
	default:
		return err
	}
	return nil
}

func (ps *problems) has(file string) bool { return ps.byFile[file] }

// err returns the problems, sorted by file, or nil.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	sort.SliceStable(ps.list, func(i, j int) bool { return ps.list[i].File < ps.list[j].File })
	return ps.list
}

// fixer builds the complete commands that Problems name: the command
// line, with --dir and, where the run was given one, --config.
type fixer struct{ args string }

// renew is `bulwark certs renew NAMES... [--new-key] --dir D [--config F]`.
func (f fixer) renew(newKey bool, names ...string) string {
	s := "bulwark certs renew " + strings.Join(names, " ")
	if newKey {
		s += " --new-key"
	}
	return s + f.args
}

// tokenDelete is `bulwark token delete ID --dir D`.
func (f fixer) tokenDelete(id string) string { return "bulwark token delete " + id + f.args }

// DirArgs is " --dir D", quoted for a shell where it needs to be.
func DirArgs(dir string) string { return " --dir " + ShellQuote(dir) }

// ShellQuote quotes s for a POSIX shell where it needs quoting.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
