// Package rotate replaces the trust roots of a running cluster (the
// cluster CA, the etcd CA, the etcd peer CA, the front-proxy CA and the
// service-account key) in three steps, each of which a running cluster
// survives without a failed request:
//
//   - trust: a new CA (or key) is made, and every file that trusts the old
//     one trusts both: the CA's trust file (kubeadm's name, pki/ca.crt, now
//     a bundle), every kubeconfig's certificate-authority-data, sa.pub.
//     Nothing is signed by the new one yet.
//   - reissue: the new CA signs: its key becomes the CA's key, every leaf
//     and kubeconfig signed by the old CA is issued again by the new one
//     (same keys unless asked), the controller manager's signing
//     certificate (pki/ca-signer.crt, never a bundle) is the new CA. For
//     the service-account key, the new key signs tokens. The old CA is
//     still trusted, so old credentials keep working.
//   - finish: the old CA (or key) leaves every trust file. Credentials it
//     signed stop working.
//
// Between steps the operator copies the changed files to the nodes; the
// kubelet restarts the static Pods whose manifests changed (their inputs
// checksum), and the others reread their files by themselves.
//
// State is derived from the files: for a root, every file either already
// has what the step gives it or still has what the step before gave it.
// layout.RotationFile records the step and the keys involved; it is
// written before anything else of a step, and it must agree with the
// files, or nothing is done. A run killed at any point is finished by
// running the same step again.
package rotate

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
)

// Step is where a root's rotation is.
type Step string

// The steps, in order. None: the root was never rotated.
const (
	None    Step = ""
	Trust   Step = "trust"
	Reissue Step = "reissue"
	Finish  Step = "finish"
)

// Steps lists the steps in order.
func Steps() []Step { return []Step{Trust, Reissue, Finish} }

func (s Step) valid() bool { return s == None || slices.Contains(Steps(), s) }

// next is the step after s; after finish a new rotation begins.
func (s Step) next() Step {
	switch s {
	case Trust:
		return Reissue
	case Reissue:
		return Finish
	}
	return Trust
}

// prev is the step whose result s starts from.
func (s Step) prev() Step {
	switch s {
	case Reissue:
		return Trust
	case Finish:
		return Reissue
	}
	return None
}

func (s Step) String() string {
	if s == None {
		return "none"
	}
	return string(s)
}

// ParseStep reads a step name.
func ParseStep(s string) (Step, error) {
	st := Step(strings.ToLower(s))
	if st == None || !st.valid() {
		return None, inputErr("unknown step %q (want trust, reissue or finish)", s)
	}
	return st, nil
}

// InputError is a request rotate refuses because of what it was asked or
// what the folder holds: an unknown root, a step out of order, files that
// disagree with the record. Nothing was written.
type InputError struct{ msg string }

func (e *InputError) Error() string { return e.msg }

// Roots are the names of the trust roots a rotation takes (a folder's
// plan may have fewer: Plan.Roots).
func Roots() []string {
	return []string{plan.RootCluster, plan.RootEtcd, plan.RootEtcdPeer, plan.RootFrontProxy, plan.RootServiceAccount}
}

// CheckRoot refuses a name that is no trust root, before any folder is
// read.
func CheckRoot(root string) error {
	if !slices.Contains(Roots(), root) {
		return inputErr("unknown root %q (want one of %s)", root, join(Roots()))
	}
	return nil
}

func inputErr(format string, args ...any) error {
	return &InputError{fmt.Sprintf(format, args...)}
}

// disagree is an InputError about the folder's files.
func disagree(format string, args ...any) error {
	return &InputError{fmt.Sprintf(format, args...)}
}

// IsInputError reports whether err is an InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}

// Refusal is a step rotate will not start yet: the cluster does not serve
// what the previous step wrote, or (sa finish) tokens signed by the old
// key may still be valid. Nothing was written.
type Refusal struct {
	Msg string
	// Until is when the step will be allowed, if that is known.
	Until time.Time
}

func (r *Refusal) Error() string { return r.Msg }

// Options of a step.
type Options struct {
	// Step, if set, is the step to run: the one in progress (to finish
	// it; a step already complete is not done again) or the next one.
	// Unset: finish the step in progress, else start the next.
	Step Step
	// NewKey gives every reissued leaf a new key (reissue only).
	NewKey bool
	// Force finishes a service-account rotation while tokens signed by
	// the old key may still be valid.
	Force bool
	// Live, if set, checks the running cluster before a step starts.
	Live *Live
	Now  func() time.Time
	Rand io.Reader
}

// provisionOptions are the options of provision's refresh of the static
// Pods.
func (o Options) provisionOptions() provision.Options {
	return provision.Options{Now: o.Now, Rand: o.Rand}
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}
