package rotate

import (
	"fmt"

	"strconv"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/plan"
)

// extendedTokenLife is how long the API server makes a kubelet's projected
// token live with --service-account-extend-token-expiration (its default):
// a year (k8s.io/kubernetes/pkg/serviceaccount.ExpirationExtensionSeconds).
const extendedTokenLife = 365 * 24 * time.Hour

// tokenLife is the longest a token the API servers issue can live, from
// their manifests' flags: --service-account-max-token-expiration, raised
// to a year by --service-account-extend-token-expiration (true unless
// set false). ok is false when it is unbounded (no maximum) or unknown (no
// API server manifest).
func (t *tree) tokenLife() (life time.Duration, why string, ok bool) {
	found := false
	for _, pd := range t.pods() {
		if pd.component != hardening.APIServer {
			continue
		}
		found = true
		max, err := time.ParseDuration(pd.flags["service-account-max-token-expiration"])
		if pd.flags["service-account-max-token-expiration"] == "" || err != nil || max <= 0 {
			return 0, pd.manifest + " sets no --service-account-max-token-expiration: a TokenRequest may ask for any lifetime", false
		}
		extend := true
		if v, err := strconv.ParseBool(pd.flags["service-account-extend-token-expiration"]); err == nil {
			extend = v
		}
		l, w := max, fmt.Sprintf("--service-account-max-token-expiration=%s", pd.flags["service-account-max-token-expiration"])
		if extend && l < extendedTokenLife {
			l, w = extendedTokenLife, "--service-account-extend-token-expiration (true by default) makes kubelet tokens live a year"
		}
		if l > life {
			life, why = l, pd.manifest+": "+w
		}
	}
	if !found {
		return 0, "no kube-apiserver manifest in the folder says how long tokens live", false
	}
	return life, why, true
}

// tokensSince is when the old key last signed: once the API servers were
// seen using the new key (--live), else when the reissue step was written.
func (v *view) tokensSince() time.Time {
	if v.rec == nil {
		return time.Time{}
	}
	if v.rec.ReissueLive != nil {
		return *v.rec.ReissueLive
	}
	if v.rec.Reissue != nil {
		return *v.rec.Reissue
	}
	return time.Time{}
}

// tokensValidUntil is when no token the old service-account key signed
// (after the reissue step) can still be valid; false if never.
func (t *tree) tokensValidUntil(v *view) (time.Time, bool) {
	life, _, ok := t.tokenLife()
	since := v.tokensSince()
	if !ok || since.IsZero() {
		return time.Time{}, false
	}
	return since.Add(life), true
}

// tokenGate refuses a service-account finish while a token signed by the
// old key may still be valid: by the API servers' token lifetime, counted
// from when the new key took over; and legacy Secret tokens, which never
// expire (with --live, the cluster's are checked; offline they cannot be).
func (t *tree) tokenGate(v *view, now time.Time, l *Live) error {
	life, why, ok := t.tokenLife()
	if !ok {
		return &Refusal{Msg: fmt.Sprintf("sa: tokens signed by the old key may be valid without end (%s); finish with --force once no client holds one", why)}
	}
	since := v.tokensSince()
	until := since.Add(life)
	if now.Before(until) {
		counted := "the reissue step was written (offline bulwark cannot see when the API servers took the new key: check with --live)"
		if v.rec.ReissueLive != nil {
			counted = "the API servers were first seen signing with the new key (--live)"
		}
		return &Refusal{Until: until, Msg: fmt.Sprintf("sa: tokens signed by the old key may be valid until %s (%s after %s; %s): finish then, or with --force",
			until.UTC().Format(time.RFC3339), life, counted, why)}
	}
	if l == nil {
		return &Refusal{Msg: "sa: legacy Secret-based service-account tokens never expire and cannot be seen offline: run with --live --kubeconfig to check the cluster has none signed by the old key, or --force"}
	}
	held, err := l.legacyTokens(v)
	if err != nil {
		return err
	}
	if len(held) > 0 {
		return &Refusal{Msg: fmt.Sprintf("sa: %d legacy Secret token(s) signed by the old key never expire: %s; delete them (or their data, for the controller manager to sign them again) or finish with --force",
			len(held), strings.Join(held, ", "))}
	}
	return nil
}

// defaultSigningDuration is the controller manager's
// --cluster-signing-duration when it is not set.
const defaultSigningDuration = 365 * 24 * time.Hour

// kubeletCertLife is how long a certificate the controller manager signs
// (a kubelet's client certificate) lives, from its manifests' flags.
func (t *tree) kubeletCertLife() (time.Duration, string) {
	life, why := time.Duration(0), ""
	for _, pd := range t.pods() {
		if pd.component != hardening.ControllerManager {
			continue
		}
		d, err := time.ParseDuration(pd.flags["cluster-signing-duration"])
		w := pd.manifest + ": --cluster-signing-duration=" + pd.flags["cluster-signing-duration"]
		if err != nil || d <= 0 {
			d, w = defaultSigningDuration, pd.manifest+" sets no --cluster-signing-duration (a year by default)"
		}
		if d > life {
			life, why = d, w
		}
	}
	if life == 0 {
		return defaultSigningDuration, "no kube-controller-manager manifest in the folder says how long kubelet certificates live (a year by default)"
	}
	return life, why
}

// kubeletGate refuses the cluster CA's finish while a kubelet may still
// use a client certificate the controller manager signed with the old CA
// before the reissue: kubelets renew theirs (from the new CA) before it
// ends, so the wait is one certificate lifetime, counted from when the
// new CA took over signing.
func (t *tree) kubeletGate(v *view, now time.Time) error {
	life, why := t.kubeletCertLife()
	until := v.tokensSince().Add(life)
	if !now.Before(until) {
		return nil
	}
	counted := "the reissue step was written"
	if v.rec.ReissueLive != nil {
		counted = "the cluster was first seen using the reissue (--live)"
	}
	return &Refusal{Until: until, Msg: fmt.Sprintf("ca: kubelets may still use client certificates the old CA signed until %s (%s after %s; %s); by then each has renewed its certificate from the new CA: finish then, or with --force (kubelets with a certificate of the old CA lose the API until they bootstrap again)",
		until.UTC().Format(time.RFC3339), life, counted, why)}
}

// finishAllowedAt is when a root's finish step stops waiting (sa: old
// tokens; ca: kubelets' old certificates); false when it never waits or
// never stops waiting.
func (t *tree) finishAllowedAt(v *view) (time.Time, bool) {
	switch v.root {
	case plan.RootServiceAccount:
		return t.tokensValidUntil(v)
	case plan.RootCluster:
		if since := v.tokensSince(); !since.IsZero() {
			life, _ := t.kubeletCertLife()
			return since.Add(life), true
		}
	}
	return time.Time{}, false
}
