package rotate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/bulwark-k8s/bulwark/bootstraptoken"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/store"
)

// TokenDescription marks the tokens RotateToken makes.
const TokenDescription = "kubelet TLS bootstrap, made by bulwark token rotate"

// TokenOptions of RotateToken.
type TokenOptions struct {
	// Grace is how long the old token stays valid: its expiration is
	// brought forward to now+Grace (never pushed back), and the controller
	// manager's tokencleaner deletes its Secret then. Zero deletes it now.
	Grace time.Duration
	// TTL of the new token (default: the configuration's).
	TTL time.Duration
	// Kubeconfig, if set, applies the change to the live cluster: the new
	// token's Secret before any file names it, the old one's expiration
	// after.
	Kubeconfig string
	Now        func() time.Time
}

// TokenResult is what RotateToken did.
type TokenResult struct {
	New     bootstraptoken.Token  `json:"new"`
	Old     *bootstraptoken.Token `json:"old,omitempty"`
	OldEnds *time.Time            `json:"oldEnds,omitempty"`
	Changes []Change              `json:"changes"`
	Cluster []string              `json:"cluster,omitempty"`
}

// RotateToken replaces the bootstrap token of bootstrap-kubelet.conf: a
// new token and its Secret, the kubeconfig rewritten with it, the old one
// ended after the grace period. A run killed part-way is finished by the
// next (it takes up the new token the killed one made). The caller holds
// the folder's lock.
func RotateToken(d *store.Dir, p *plan.Plan, o TokenOptions) (*TokenResult, error) {
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	if o.Grace < 0 {
		return nil, inputErr("the grace period must not be negative")
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = p.TokenTTL
	}
	if o.Grace >= ttl {
		return nil, inputErr("the grace period (%s) must be shorter than the new token's lifetime (%s)", o.Grace, ttl)
	}
	bootFile := layout.KubeconfigFile(plan.KubeconfigBootstrapKubelet)
	t := &tree{d: d, p: p}
	var (
		old    *bootstraptoken.Token
		server string
	)
	data, err := d.ReadSecret(bootFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("failed to read %s: %w", bootFile, err)
	default:
		kc, err := kubeconfig.Parse(data)
		if err != nil {
			return nil, disagree("%s: %v", bootFile, err)
		}
		if kc.Credentials.Token == "" {
			return nil, disagree("%s holds no bootstrap token", bootFile)
		}
		tok, err := bootstraptoken.Parse(kc.Credentials.Token)
		if err != nil {
			return nil, disagree("%s holds a malformed bootstrap token", bootFile)
		}
		old, server = &tok, kc.Server
	}
	manifests, err := provision.ListTokenManifests(d)
	if err != nil {
		return nil, err
	}
	var oldExpires time.Time
	for _, m := range manifests {
		if old != nil && m.Token.ID == old.ID {
			oldExpires = m.Token.Expires
		}
	}
	// The new token: one a killed run made, else a fresh one.
	var nu *bootstraptoken.Token
	for _, m := range manifests {
		tok := m.Token
		// Newer than the token in use: not one a past rotation is ending.
		if tok.Description == TokenDescription && !tok.Expired(now) && (old == nil || tok.ID != old.ID && tok.Expires.After(oldExpires)) &&
			(nu == nil || tok.Expires.After(nu.Expires)) {
			nu = &tok
		}
	}
	reused := nu != nil
	if nu == nil {
		tok, err := bootstraptoken.New(now, ttl, nil, p.TokenGroups, TokenDescription)
		if err != nil {
			return nil, err
		}
		nu = &tok
	}
	for _, m := range manifests {
		if old != nil && m.Token.ID == old.ID {
			tok := m.Token
			old = &tok
		}
	}
	cas, err := t.readCerts(layout.CertFile(plan.ClusterCA))
	if err != nil {
		return nil, err
	}
	if len(cas) == 0 {
		return nil, inputErr("%s is missing: run `bulwark init` first", layout.CertFile(plan.ClusterCA))
	}
	boot, err := provision.BootstrapKubeconfig(p, cas, *nu)
	if err != nil {
		return nil, err
	}
	if server != "" {
		if boot, err = kubeconfig.WithServer(boot, server); err != nil {
			return nil, err
		}
	}
	res := &TokenResult{New: *nu, Old: old}
	var cluster *bootstraptoken.Client
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if o.Kubeconfig != "" {
		if cluster, err = bootstraptoken.NewClient(o.Kubeconfig); err != nil {
			return nil, err
		}
		ok, err := cluster.Exists(ctx, nu.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := cluster.Create(ctx, *nu); err != nil {
				return nil, err
			}
			res.Cluster = append(res.Cluster, "created Secret kube-system/"+nu.SecretName())
		}
	}
	w := &work{t: t, what: map[string]string{}}
	if t.files, err = d.Walk("."); err != nil {
		return nil, err
	}
	if !reused {
		secret, err := nu.MarshalSecret()
		if err != nil {
			return nil, err
		}
		w.write(layout.TokenSecretFile(nu.ID), secret, stageKeys, true, "the new token's Secret (apply it before the kubeconfig is used)")
	}
	w.write(bootFile, boot, stageCerts, true, "bootstraps with the new token")
	if old != nil {
		end := now.Add(o.Grace).UTC().Truncate(time.Second)
		if !old.Expires.IsZero() && old.Expires.Before(end) {
			end = old.Expires
		}
		res.OldEnds = &end
		file := layout.TokenSecretFile(old.ID)
		switch {
		case o.Grace == 0:
			w.remove(file, "the old token is deleted")
		case w.exists(file) && !old.Expires.Equal(end):
			shorter := *old
			shorter.Expires = end
			secret, err := shorter.MarshalSecret()
			if err != nil {
				return nil, err
			}
			w.write(file, secret, stageKeys, true, "the old token ends "+end.Format(time.RFC3339))
		}
	}
	// Token Secrets that have ended and that no kubeconfig carries.
	for _, m := range manifests {
		if m.Token.Expired(now) && m.Token.ID != nu.ID && (old == nil || m.Token.ID != old.ID) {
			w.remove(m.File, "expired")
		}
	}
	if _, err := t.commit(w); err != nil {
		return nil, err
	}
	res.Changes = w.changes()
	if cluster != nil && old != nil {
		ok, err := cluster.Exists(ctx, old.ID)
		if err != nil {
			return nil, err
		}
		switch {
		case !ok:
		case o.Grace == 0:
			if err := cluster.Delete(ctx, old.ID); err != nil {
				return nil, err
			}
			res.Cluster = append(res.Cluster, "deleted Secret kube-system/"+old.SecretName())
		default:
			if err := cluster.SetExpiration(ctx, old.ID, *res.OldEnds); err != nil {
				return nil, err
			}
			res.Cluster = append(res.Cluster, fmt.Sprintf("Secret kube-system/%s expires %s; the tokencleaner deletes it then", old.SecretName(), res.OldEnds.Format(time.RFC3339)))
		}
	}
	return res, nil
}
