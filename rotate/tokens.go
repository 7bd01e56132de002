package rotate

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/hardening"
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
