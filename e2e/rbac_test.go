package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/internal/pinned"
	"github.com/bulwark-k8s/bulwark/rbac"
	"github.com/bulwark-k8s/bulwark/rbac/live"
	"github.com/bulwark-k8s/bulwark/rbac/rbactest"
)

// The differential test's seed: fixed in CI; any other by hand with
// go test ./e2e -run RBAC -args -seed=N (or BULWARK_RBAC_SEED=N).
var rbacSeed = flag.Uint64("seed", 1, "seed of TestRBACDifferential's random policy and questions (env BULWARK_RBAC_SEED overrides)")

func seed(t *testing.T) uint64 {
	if s := os.Getenv("BULWARK_RBAC_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("BULWARK_RBAC_SEED=%q: %v", s, err)
		}
		return n
	}
	return *rbacSeed
}

// Questions per run: identities × actions SubjectAccessReviews.
const (
	rbacIdentities = 18
	rbacActions    = 1000
)

// TestRBACDifferential loads a random policy into the real kube-apiserver
// (Node,RBAC, as bulwark renders it; the controller manager running for
// ClusterRole aggregation) and into bulwark, from the same manifests, and
// compares bulwark's answers with the API server's SubjectAccessReviews:
// every answer, which authorizer of the chain allowed, the binding the API
// server names, who-can's subjects (none missing, none extra), the
// aggregated rules, the built-in policy, and the policy read back live.
//
// It runs twice, on a small policy (roles of few rules: questions scan the
// user's roles) and a medium one (roles of many rules: questions go
// through bulwark's rule index), each on its own control plane.
func TestRBACDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real control plane")
	}
	s := seed(t)
	t.Logf("seed %d (rerun with -args -seed=%d or BULWARK_RBAC_SEED=%d)", s, s, s)
	t.Run("small", func(t *testing.T) { rbacDifferential(t, rbactest.Small, s) })
	t.Run("medium", func(t *testing.T) { rbacDifferential(t, rbactest.Medium, s) })
}

func rbacDifferential(t *testing.T, size rbactest.Size, s uint64) {
	r := rand.New(rand.NewPCG(s, 0x5eed))
	gen := rbactest.Policy(r, size)
	addSentinels(gen)

	c := newCluster(t)
	c.startEtcd(t, "cp-1")
	c.startAPIServer(t)
	c.startSidecar(t, "kube-controller-manager", pinned.FreePort(t)) // ClusterRole aggregation
	cfg := restConfig(t, c, "super-admin.conf")
	cfg.QPS = -1 // no client-side rate limit
	cs := clientset(t, cfg)
	ctx := context.Background()

	// The same manifests for both: the API server gets them through the
	// API, bulwark from files.
	manifests := t.TempDir()
	data, err := rbactest.YAML(gen)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(manifests, "policy.yaml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	fromFiles, err := rbac.Decode(data, "policy.yaml", rbac.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	policy := rbac.Builtin()
	policy.Merge(fromFiles)
	e := rbac.Compile(policy, rbac.Options{})

	start := time.Now()
	createPolicy(t, cs, gen, size.Vocab().Namespaces)
	t.Logf("created %d objects (%d rules) in %v", gen.Len(), gen.Rules(), time.Since(start).Round(time.Millisecond))

	t.Run("aggregated ClusterRoles hold the rules bulwark computes", func(t *testing.T) {
		waitAggregation(t, cs, e)
	})
	waitSentinels(t, cs)

	t.Run("the built-in policy is the API server's", func(t *testing.T) {
		compareBuiltin(t, cs, e)
	})
	t.Run("the built-in resources are the API server's", func(t *testing.T) {
		compareResources(t, cfg)
	})

	v := size.Vocab()
	users := v.Identities(r, rbacIdentities)
	actions := make([]rbac.Action, rbacActions)
	for i := range actions {
		actions[i] = v.Action(r)
	}
	start = time.Now()
	server := reviewAll(t, cs, users, actions)
	t.Logf("%d SubjectAccessReviews in %v", len(users)*len(actions), time.Since(start).Round(time.Millisecond))

	t.Run("can-i agrees with every SubjectAccessReview", func(t *testing.T) {
		var compared, allowed, nodeGraph, mismatches int
		for ai, a := range actions {
			for ui, u := range users {
				got := server[ai][ui]
				d := e.Check(u, a)
				if d.DependsOnNode {
					nodeGraph++
					if got.allowed {
						continue // the Node authorizer's graph allowed it
					}
				}
				compared++
				if got.allowed {
					allowed++
				}
				if d.Allowed != got.allowed {
					mismatches++
					if mismatches <= 20 {
						t.Errorf("%s as %s %v: bulwark %v (%s), API server %v (%q)", a, u.Name, u.Groups, d.Allowed, d.Reason, got.allowed, got.reason)
					}
					continue
				}
				if msg := sameAuthorizer(u, d, got.reason); msg != "" {
					mismatches++
					if mismatches <= 20 {
						t.Errorf("%s as %s %v: %s", a, u.Name, u.Groups, msg)
					}
				}
				if f := e.Authorize(u, a); f.Allowed != d.Allowed || e.Allowed(u, a) != d.Allowed {
					t.Errorf("%s as %s: Authorize/Allowed disagree with Check", a, u.Name)
				}
			}
		}
		t.Logf("%d answers compared (%d allowed), %d left to the Node authorizer's graph, %d mismatches", compared, allowed, nodeGraph, mismatches)
		if allowed == 0 || allowed == compared {
			t.Errorf("a useless sample: %d of %d allowed", allowed, compared)
		}
	})

	t.Run("who-can lists exactly the subjects the API server allows", func(t *testing.T) {
		var listed, missing, extra int
		for ai, a := range actions {
			w := e.WhoCan(a)
			listed += len(w.Access)
			for ui, u := range users {
				got := server[ai][ui]
				in := slices.ContainsFunc(w.Access, func(acc rbac.Access) bool { return subjectMatches(u, acc.Subject) })
				if _, node := u.Node(); node && !in {
					switch w.Nodes {
					case rbac.NodesAllowed:
						in = true
					case rbac.NodesDepends:
						continue
					}
				}
				if in != got.allowed {
					if got.allowed {
						missing++
					} else {
						extra++
					}
					if missing+extra <= 20 {
						t.Errorf("%s: %s %v is allowed by the API server: %v, listed by who-can: %v", a, u.Name, u.Groups, got.allowed, in)
					}
				}
				if d := e.Check(u, a); d.Allowed != in && !d.DependsOnNode {
					t.Errorf("%s: %s: can-i %v, who-can %v", a, u.Name, d.Allowed, in)
				}
			}
			seen := map[rbacv1.Subject]bool{}
			for _, acc := range w.Access {
				if seen[acc.Subject] {
					t.Errorf("%s: %v listed twice", a, acc.Subject)
				}
				seen[acc.Subject] = true
			}
		}
		t.Logf("%d subjects listed over %d questions; %d missing, %d extra", listed, len(actions), missing, extra)
	})

	t.Run("every subject who-can lists is allowed by the API server", func(t *testing.T) {
		var probes []probe
		for _, a := range actions[:min(80, len(actions))] {
			for _, acc := range e.WhoCan(a).Access {
				probes = append(probes, probe{subjectUser(acc.Subject), a})
			}
		}
		answers := review(t, cs, probes)
		for i, p := range probes {
			if !answers[i].allowed {
				t.Errorf("who-can lists %s %v for %s; the API server denies it (%q)", p.user.Name, p.user.Groups, p.action, answers[i].reason)
			}
		}
		t.Logf("%d listed subjects checked", len(probes))
	})

	t.Run("impersonation adds the implicit groups as bulwark does", func(t *testing.T) {
		// kubectl --as: the API server builds the identity; bulwark's
		// Impersonate must build the same one.
		for _, as := range []struct {
			user   string
			groups []string
		}{
			{"user-0", nil}, {"user-1", []string{"group-0"}},
			{rbac.ServiceAccountUser("ns-0", "sa-0"), nil}, {rbac.ServiceAccountUser("ns-1", "sa-1"), []string{"group-1"}},
			{rbac.NodePrefix + "node-1", []string{rbac.GroupNodes}},
		} { // (unauthenticated identities may not ask who they are: unit-tested)
			icfg := restConfig(t, c, "super-admin.conf")
			icfg.Impersonate.UserName, icfg.Impersonate.Groups = as.user, as.groups
			res, err := clientset(t, icfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := rbac.Impersonate(as.user, as.groups...)
			got := res.Status.UserInfo
			if got.Username != want.Name || !slices.Equal(sorted(got.Groups), sorted(want.Groups)) {
				t.Errorf("--as %s --as-group %v: API server %s %v, bulwark %s %v", as.user, as.groups, got.Username, got.Groups, want.Name, want.Groups)
			}
		}
	})

	t.Run("the policy read live answers as the manifests do", func(t *testing.T) {
		lc, err := live.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		lp, err := lc.Policy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		le := rbac.Compile(lp, rbac.Options{})
		for _, a := range actions {
			for _, u := range users {
				if le.Allowed(u, a) != e.Allowed(u, a) {
					t.Errorf("%s as %s: live %v, manifests %v", a, u.Name, le.Allowed(u, a), e.Allowed(u, a))
				}
			}
		}
	})

	t.Run("the commands answer as the API server", func(t *testing.T) {
		checkCommands(t, c, manifests, users, actions, server)
	})

	t.Run("can-i --list is exactly what the API server allows, over the policy's vocabulary", func(t *testing.T) {
		checkList(t, cs, e, manifests, v)
	})

	if size.Namespaces == rbactest.Small.Namespaces {
		// Last: it changes the cluster's policy.
		t.Run("rbac diff is exactly the difference of what the API server allows before and after", func(t *testing.T) {
			checkDiff(t, c, cs, gen, manifests, size, r)
		})
	}
}

// vocabulary is every request the policy's rules speak of: each verb the
// rules name (and "*") on each API group, resource and subresource they
// name, in a namespace and cluster-wide; and each URL they name (a prefix
// by itself and with a path under it).
func vocabulary(p *rbac.Policy, namespace string) []rbac.Action {
	verbs := map[string]bool{rbacv1.VerbAll: true}
	type gr struct{ group, resource, sub string }
	resources := map[gr]bool{}
	urls := map[string]bool{}
	visit := func(rules []rbacv1.PolicyRule) {
		for _, r := range rules {
			for _, v := range r.Verbs {
				verbs[v] = true
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					name, sub, _ := strings.Cut(res, "/")
					if g == rbacv1.APIGroupAll {
						g = "apps"
					}
					if name == rbacv1.ResourceAll && sub == "" {
						continue // a request for resource "*" is asked below
					}
					if name == rbacv1.ResourceAll {
						name = "pods"
					}
					resources[gr{g, name, sub}] = true
				}
			}
			for _, u := range r.NonResourceURLs {
				if prefix, ok := strings.CutSuffix(u, "*"); ok {
					urls[prefix+"x"] = true
					u = strings.TrimRight(prefix, "*")
				}
				if u != "" {
					urls[u] = true
				}
			}
		}
	}
	for _, cr := range p.ClusterRoles {
		visit(cr.Rules)
	}
	for _, r := range p.Roles {
		visit(r.Rules)
	}
	resources[gr{"", rbacv1.ResourceAll, ""}] = true
	var out []rbac.Action
	for v := range verbs {
		for r := range resources {
			for _, ns := range []string{namespace, ""} {
				if ns != "" && rbac.ClusterScoped(r.group, r.resource) {
					continue
				}
				out = append(out, rbac.Action{Verb: v, APIGroup: r.group, Resource: r.resource, Subresource: r.sub, Namespace: ns})
			}
		}
		for u := range urls {
			out = append(out, rbac.Action{Verb: strings.ToLower(v), Path: u})
		}
	}
	slices.SortFunc(out, func(a, b rbac.Action) int { return strings.Compare(a.String(), b.String()) })
	return slices.CompactFunc(out, func(a, b rbac.Action) bool { return a == b })
}

// listIdentity is a user --as and --as-group can name.
type listIdentity struct {
	as     string
	groups []string
}

// checkList runs can-i --list -A for a few identities, from the manifests,
// and checks that the rules it prints allow exactly what the API server's
// SubjectAccessReviews allow over the policy's whole vocabulary (built-in
// and aggregated roles included).
func checkList(t *testing.T, cs *kubernetes.Clientset, e *rbac.Engine, manifests string, v rbactest.Vocabulary) {
	vocab := vocabulary(e.Policy(), v.Namespaces[0])
	for _, id := range []listIdentity{
		{v.Users[0], []string{v.Groups[0]}},
		{rbac.ServiceAccountUser(v.Namespaces[0], v.ServiceAccounts[0]), nil},
		{"bulwark-probe", []string{v.Groups[1], rbac.ServiceAccountNamespaceGroup(v.Namespaces[0])}},
	} {
		args := []string{"can-i", "--list", "-A", "--as", id.as, "-f", manifests, "-o", "json"}
		for _, g := range id.groups {
			args = append(args, "--as-group", g)
		}
		code, out, errOut := runBulwark(args...)
		var rules rbac.Rules
		if err := json.Unmarshal([]byte(out), &rules); code != 0 || err != nil {
			t.Fatalf("bulwark %s: exit %d, %v\n%.2000s%s", strings.Join(args, " "), code, err, out, errOut)
		}
		u := rbac.Impersonate(id.as, id.groups...)
		probes := make([]probe, len(vocab))
		for i, a := range vocab {
			probes[i] = probe{u, a}
		}
		start := time.Now()
		answers := review(t, cs, probes)
		allowed, mismatches := 0, 0
		for i, a := range vocab {
			if answers[i].allowed {
				allowed++
			}
			if got := rules.Allows(a); got != answers[i].allowed {
				mismatches++
				if mismatches <= 10 {
					t.Errorf("--list as %s %v: %s: the list allows it %v, the API server %v", u.Name, u.Groups, a, got, answers[i].allowed)
				}
			}
		}
		t.Logf("--list as %s %v: %d grants; %d requests of the vocabulary asked in %v, %d allowed, %d mismatches",
			u.Name, u.Groups, len(rules.Grants), len(vocab), time.Since(start).Round(time.Millisecond), allowed, mismatches)
		if allowed == 0 {
			t.Errorf("as %s: a useless sample: nothing allowed", u.Name)
		}
	}
}

// diffIdentity is the user a diff subject stands for, as rbac diff
// defines it: a user or service account with the groups the API server
// gives it, a group's member in no other group.
func diffIdentity(s rbacv1.Subject) rbac.User {
	switch s.Kind {
	case rbacv1.GroupKind:
		return rbac.User{Name: "bulwark-probe", Groups: []string{s.Name}}
	case rbacv1.ServiceAccountKind:
		return rbac.Impersonate(rbac.ServiceAccountUser(s.Namespace, s.Name))
	}
	return rbac.Impersonate(s.Name)
}

// checkDiff changes the cluster's policy at random (rbactest.Mutate), and
// checks what rbac diff said of the change against SubjectAccessReviews
// before and after it: for some of the subjects it names (and a user no
// binding names), over the vocabulary of both policies, a request is a
// gain exactly when the API server allows it after and not before, a loss
// the other way round. rbac diff --kubeconfig, on the cluster before the
// change, must say what the manifests applied over it change.
func checkDiff(t *testing.T, c *cluster, cs *kubernetes.Clientset, old *rbac.Policy, oldManifests string, size rbactest.Size, r *rand.Rand) {
	ctx := context.Background()
	newGen := rbactest.Mutate(r, old, size)
	addSentinelsV(newGen, 2)
	data, err := rbactest.YAML(newGen)
	if err != nil {
		t.Fatal(err)
	}
	newManifests := filepath.Join(t.TempDir(), "new.yaml")
	if err := os.WriteFile(newManifests, data, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runBulwark("rbac", "diff", oldManifests, newManifests, "-o", "json", "--fail-on", "never")
	var d rbac.DiffReport
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil {
		t.Fatalf("rbac diff: exit %d, %v\n%.2000s%s", code, err, out, errOut)
	}
	// --kubeconfig: the cluster (the old policy) and the manifests applied
	// over it, computed here from the objects the cluster returns.
	code, out, errOut = runBulwark("rbac", "diff", "--kubeconfig", c.path("super-admin.conf"), newManifests, "-o", "json", "--fail-on", "never")
	var dk rbac.DiffReport
	if err := json.Unmarshal([]byte(out), &dk); code != 0 || err != nil {
		t.Fatalf("rbac diff --kubeconfig: exit %d, %v\n%.2000s%s", code, err, out, errOut)
	}
	lc, err := live.NewForConfig(restConfig(t, c, "super-admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	clusterPolicy, err := lc.Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	applied := &rbac.Policy{}
	applied.Merge(clusterPolicy)
	applied.Merge(newGen)
	want := rbac.Diff(rbac.Compile(clusterPolicy, rbac.Options{}), rbac.Compile(applied, rbac.Options{}))
	if wj, _ := json.Marshal(want); !bytes.Equal(wj, mustJSON(t, dk)) {
		t.Errorf("rbac diff --kubeconfig says %d gains and %d losses; the cluster's objects with the manifests applied give %d and %d", dk.Gained, dk.Lost, want.Gained, want.Lost)
	}

	// The subjects to ask about: those with gains, with losses, groups,
	// service accounts; and a user no binding names (system:authenticated's
	// changes).
	var subjects []rbacv1.Subject
	pick := func(f func(rbac.SubjectDiff) bool) {
		for _, sd := range d.Subjects {
			if f(sd) && !slices.Contains(subjects, sd.Subject) {
				subjects = append(subjects, sd.Subject)
				return
			}
		}
	}
	pick(func(sd rbac.SubjectDiff) bool { return len(sd.Gained) > 0 && sd.Subject.Kind == rbacv1.UserKind })
	pick(func(sd rbac.SubjectDiff) bool { return len(sd.Lost) > 0 && sd.Subject.Kind == rbacv1.UserKind })
	pick(func(sd rbac.SubjectDiff) bool { return sd.Subject.Kind == rbacv1.GroupKind })
	pick(func(sd rbac.SubjectDiff) bool { return sd.Subject.Kind == rbacv1.ServiceAccountKind })
	unnamed := rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bulwark-unnamed"}
	subjects = append(subjects, unnamed)
	oldAll, newAll := rbac.Builtin(), rbac.Builtin()
	oldAll.Merge(old)
	newAll.Merge(newGen)
	vocab := vocabulary(oldAll, size.Vocab().Namespaces[0])
	vocab = append(vocab, vocabulary(newAll, size.Vocab().Namespaces[0])...)
	slices.SortFunc(vocab, func(a, b rbac.Action) int { return strings.Compare(a.String(), b.String()) })
	vocab = slices.CompactFunc(vocab, func(a, b rbac.Action) bool { return a == b })
	var probes []probe
	for _, s := range subjects {
		for _, a := range vocab {
			probes = append(probes, probe{diffIdentity(s), a})
		}
	}
	start := time.Now()
	before := review(t, cs, probes)
	t.Logf("%d SubjectAccessReviews before the change in %v", len(probes), time.Since(start).Round(time.Millisecond))

	applyPolicy(t, cs, old, newGen)
	waitAggregation(t, cs, rbac.Compile(newAll, rbac.Options{}))
	waitSentinelsV(t, cs, 2)
	start = time.Now()
	after := review(t, cs, probes)
	t.Logf("%d SubjectAccessReviews after the change in %v", len(probes), time.Since(start).Round(time.Millisecond))

	bySubject := map[rbacv1.Subject]rbac.SubjectDiff{}
	for _, sd := range d.Subjects {
		bySubject[sd.Subject] = sd
	}
	everyone := bySubject[rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: rbac.GroupAuthenticated}]
	mismatches, gains, losses := 0, 0, 0
	for i, p := range probes {
		s := subjects[i/len(vocab)]
		sd := bySubject[s]
		if s == unnamed {
			sd = everyone // a user no binding names changes as every authenticated user does
		}
		gained := slices.ContainsFunc(sd.Gained, func(c rbac.Change) bool { return c.Allows(p.action) })
		lost := slices.ContainsFunc(sd.Lost, func(c rbac.Change) bool { return c.Allows(p.action) })
		was, is := before[i].allowed, after[i].allowed
		if gained {
			gains++
		}
		if lost {
			losses++
		}
		if gained != (is && !was) || lost != (was && !is) {
			mismatches++
			if mismatches <= 10 {
				t.Errorf("%s %s (%v): %s: API server before %v, after %v; rbac diff says gained %v, lost %v", s.Kind, s.Name, p.user.Groups, p.action, was, is, gained, lost)
			}
		}
	}
	t.Logf("rbac diff: %d subjects change (%d gains, %d losses); %d subjects asked about %d requests each: %d gained, %d lost, %d mismatches",
		len(d.Subjects), d.Gained, d.Lost, len(subjects), len(vocab), gains, losses, mismatches)
	if gains == 0 || losses == 0 {
		t.Errorf("a useless sample: %d gains and %d losses asked about", gains, losses)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// applyPolicy makes the cluster's generated objects those of next: removes
// those next does not have, updates the others, creates the new ones (its
// sentinels last).
func applyPolicy(t *testing.T, cs *kubernetes.Clientset, prev, next *rbac.Policy) {
	t.Helper()
	ctx := context.Background()
	rb := cs.RbacV1()
	var jobs, last []func() error
	add := func(name string, f func() error) {
		if strings.HasPrefix(name, "zz-sentinel") {
			last = append(last, f)
		} else {
			jobs = append(jobs, f)
		}
	}
	keep := map[rbac.Ref]bool{}
	for _, o := range next.ClusterRoles {
		keep[rbac.Ref{Kind: rbac.KindClusterRole, Name: o.Name}] = true
		o := o.DeepCopy()
		add(o.Name, func() error {
			cur, err := rb.ClusterRoles().Get(ctx, o.Name, metav1.GetOptions{})
			if err != nil {
				_, err = rb.ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
				return err
			}
			o.ResourceVersion = cur.ResourceVersion
			_, err = rb.ClusterRoles().Update(ctx, o, metav1.UpdateOptions{})
			return err
		})
	}
	for _, o := range next.ClusterRoleBindings {
		keep[rbac.Ref{Kind: rbac.KindClusterRoleBinding, Name: o.Name}] = true
		o := o.DeepCopy()
		add(o.Name, func() error {
			if _, err := rb.ClusterRoleBindings().Get(ctx, o.Name, metav1.GetOptions{}); err == nil {
				// roleRef cannot change: replace the binding.
				if err := rb.ClusterRoleBindings().Delete(ctx, o.Name, metav1.DeleteOptions{}); err != nil {
					return err
				}
			}
			_, err := rb.ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
			return err
		})
	}
	for _, o := range next.Roles {
		keep[rbac.Ref{Kind: rbac.KindRole, Namespace: o.Namespace, Name: o.Name}] = true
		o := o.DeepCopy()
		add(o.Name, func() error {
			cur, err := rb.Roles(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
			if err != nil {
				_, err = rb.Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
				return err
			}
			o.ResourceVersion = cur.ResourceVersion
			_, err = rb.Roles(o.Namespace).Update(ctx, o, metav1.UpdateOptions{})
			return err
		})
	}
	for _, o := range next.RoleBindings {
		keep[rbac.Ref{Kind: rbac.KindRoleBinding, Namespace: o.Namespace, Name: o.Name}] = true
		o := o.DeepCopy()
		add(o.Name, func() error {
			if _, err := rb.RoleBindings(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{}); err == nil {
				if err := rb.RoleBindings(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{}); err != nil {
					return err
				}
			}
			_, err := rb.RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			return err
		})
	}
	var removals []func() error
	for _, o := range prev.ClusterRoles {
		if !keep[rbac.Ref{Kind: rbac.KindClusterRole, Name: o.Name}] {
			removals = append(removals, func() error { return rb.ClusterRoles().Delete(ctx, o.Name, metav1.DeleteOptions{}) })
		}
	}
	for _, o := range prev.ClusterRoleBindings {
		if !keep[rbac.Ref{Kind: rbac.KindClusterRoleBinding, Name: o.Name}] {
			removals = append(removals, func() error { return rb.ClusterRoleBindings().Delete(ctx, o.Name, metav1.DeleteOptions{}) })
		}
	}
	for _, o := range prev.Roles {
		if !keep[rbac.Ref{Kind: rbac.KindRole, Namespace: o.Namespace, Name: o.Name}] {
			removals = append(removals, func() error { return rb.Roles(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{}) })
		}
	}
	for _, o := range prev.RoleBindings {
		if !keep[rbac.Ref{Kind: rbac.KindRoleBinding, Namespace: o.Namespace, Name: o.Name}] {
			removals = append(removals, func() error { return rb.RoleBindings(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{}) })
		}
	}
	for _, batch := range [][]func() error{removals, jobs, last} {
		if err := parallel(8, batch); err != nil {
			t.Fatal(err)
		}
	}
}

// addSentinels adds a grant of each kind of object for a user no question
// asks about: when the API server's authorizer sees them, it has seen
// every object created before them (each informer delivers in order).
func addSentinels(p *rbac.Policy) { addSentinelsV(p, 1) }

// addSentinelsV adds the sentinels of the v-th change of the policy.
func addSentinelsV(p *rbac.Policy, v int) {
	name := "zz-sentinel"
	if v > 1 {
		name += fmt.Sprintf("-%d", v)
	}
	rule := []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{"bulwark.test"}, Resources: []string{name}}}
	subj := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "sentinel"}}
	_ = p.Add(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rule}, "")
	_ = p.Add(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subj,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}}, "")
	nsRule := []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{"bulwark.test"}, Resources: []string{"namespaced-" + name}}}
	_ = p.Add(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns-0"}, Rules: nsRule}, "")
	_ = p.Add(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns-0"}, Subjects: subj,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}}, "")
}

// createPolicy creates the namespaces and then every object, several at a
// time, the sentinels last.
func createPolicy(t *testing.T, cs *kubernetes.Clientset, p *rbac.Policy, namespaces []string) {
	t.Helper()
	ctx := context.Background()
	for _, ns := range namespaces {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var jobs []func() error
	var last []func() error
	add := func(name string, f func() error) {
		if strings.HasPrefix(name, "zz-sentinel") {
			last = append(last, f)
		} else {
			jobs = append(jobs, f)
		}
	}
	for i := range p.ClusterRoles {
		o := p.ClusterRoles[i].DeepCopy()
		add(o.Name, func() error { _, err := cs.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{}); return err })
	}
	for i := range p.ClusterRoleBindings {
		o := p.ClusterRoleBindings[i].DeepCopy()
		add(o.Name, func() error {
			_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
			return err
		})
	}
	for i := range p.Roles {
		o := p.Roles[i].DeepCopy()
		add(o.Name, func() error {
			_, err := cs.RbacV1().Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			return err
		})
	}
	for i := range p.RoleBindings {
		o := p.RoleBindings[i].DeepCopy()
		add(o.Name, func() error {
			_, err := cs.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			return err
		})
	}
	for _, batch := range [][]func() error{jobs, last} {
		if err := parallel(8, batch); err != nil {
			t.Fatal(err)
		}
	}
}

func parallel(n int, jobs []func() error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan func() error)
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range next {
				if err := f(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, f := range jobs {
		next <- f
	}
	close(next)
	wg.Wait()
	return first
}

// waitAggregation waits until the controller manager has aggregated every
// ClusterRole with an aggregationRule into exactly the rules, in exactly
// the order, that bulwark computes, and they stay so: a role that bulwark
// gets wrong may look right before the controller gets to it. It watches
// the ClusterRoles and looks again at each change; the roles have stayed
// so when no change came for quiet after they agreed.
func waitAggregation(t *testing.T, cs *kubernetes.Clientset, e *rbac.Engine) {
	t.Helper()
	const quiet = 3 * time.Second
	want := map[string][]rbacv1.PolicyRule{}
	for _, cr := range e.Policy().ClusterRoles {
		if cr.AggregationRule != nil {
			want[cr.Name] = cr.Rules
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	diff := func(items []rbacv1.ClusterRole) string {
		d := ""
		n := 0
		for _, cr := range items {
			w, ok := want[cr.Name]
			if !ok {
				continue
			}
			n++
			if !equality.Semantic.DeepEqual(w, cr.Rules) && !(len(w) == 0 && len(cr.Rules) == 0) {
				d += fmt.Sprintf("\n%s: API server %d rules, bulwark %d", cr.Name, len(cr.Rules), len(w))
			}
		}
		if n != len(want) {
			d += fmt.Sprintf("\n%d aggregated ClusterRoles on the API server, %d in bulwark", n, len(want))
		}
		return d
	}
	for {
		list, err := cs.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("aggregation: %v", err)
		}
		d := diff(list.Items)
		w, err := cs.RbacV1().ClusterRoles().Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			t.Fatalf("aggregation: %v", err)
		}
		var quietC <-chan time.Time
		if d == "" {
			quietC = time.After(quiet)
		}
		select {
		case <-quietC:
			w.Stop()
			t.Logf("%d aggregated ClusterRoles agree", len(want))
			return
		case _, ok := <-w.ResultChan():
			w.Stop()
			if !ok {
				continue
			}
		case <-ctx.Done():
			w.Stop()
			t.Fatalf("aggregation differs:%s", d)
		}
	}
}

// waitSentinels waits until the authorizer sees the objects created last,
// through a grant each pair (ClusterRole and ClusterRoleBinding, Role and
// RoleBinding) makes alone.
func waitSentinels(t *testing.T, cs *kubernetes.Clientset) { waitSentinelsV(t, cs, 1) }

func waitSentinelsV(t *testing.T, cs *kubernetes.Clientset, v int) {
	t.Helper()
	name := "zz-sentinel"
	if v > 1 {
		name += fmt.Sprintf("-%d", v)
	}
	u := rbac.User{Name: "sentinel"}
	probes := []probe{
		{u, rbac.Action{Verb: "get", APIGroup: "bulwark.test", Resource: name}},
		{u, rbac.Action{Verb: "get", APIGroup: "bulwark.test", Resource: "namespaced-" + name, Namespace: "ns-0"}},
	}
	pinned.WaitFor(t, "RBAC caches", 60*time.Second, func() error {
		for _, a := range review(t, cs, probes) {
			if !a.allowed {
				return fmt.Errorf("sentinel not visible yet")
			}
		}
		return nil
	})
}

type answer struct {
	allowed bool
	reason  string
}

type probe struct {
	user   rbac.User
	action rbac.Action
}

func sar(p probe) *authzv1.SubjectAccessReview {
	s := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{User: p.user.Name, Groups: p.user.Groups}}
	a := p.action
	if a.IsResource() {
		s.Spec.ResourceAttributes = &authzv1.ResourceAttributes{Namespace: a.Namespace, Verb: a.Verb, Group: a.APIGroup, Resource: a.Resource, Subresource: a.Subresource, Name: a.Name}
	} else {
		s.Spec.NonResourceAttributes = &authzv1.NonResourceAttributes{Path: a.Path, Verb: a.Verb}
	}
	return s
}

// review asks the API server, several questions at a time.
func review(t *testing.T, cs *kubernetes.Clientset, probes []probe) []answer {
	t.Helper()
	out := make([]answer, len(probes))
	jobs := make([]func() error, len(probes))
	for i, p := range probes {
		jobs[i] = func() error {
			res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar(p), metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("SubjectAccessReview %s as %s: %w", p.action, p.user.Name, err)
			}
			if res.Status.EvaluationError != "" {
				return fmt.Errorf("SubjectAccessReview %s as %s: evaluation error %s", p.action, p.user.Name, res.Status.EvaluationError)
			}
			out[i] = answer{res.Status.Allowed, res.Status.Reason}
			return nil
		}
	}
	if err := parallel(8, jobs); err != nil {
		t.Fatal(err)
	}
	return out
}

// reviewAll asks every question as every user: answers[action][user].
func reviewAll(t *testing.T, cs *kubernetes.Clientset, users []rbac.User, actions []rbac.Action) [][]answer {
	t.Helper()
	var probes []probe
	for _, a := range actions {
		for _, u := range users {
			probes = append(probes, probe{u, a})
		}
	}
	flat := review(t, cs, probes)
	out := make([][]answer, len(actions))
	for i := range actions {
		out[i] = flat[i*len(users) : (i+1)*len(users)]
	}
	return out
}

// rbacReason is the RBAC authorizer's reason for an allow.
var rbacReason = regexp.MustCompile(`^RBAC: allowed by (ClusterRoleBinding|RoleBinding) "([^"]+)" of (ClusterRole|Role) "([^"]+)" to `)

// sameAuthorizer checks that the authorizer bulwark says allowed is the
// one the API server's reason names: system:masters and the Node
// authorizer give no reason, RBAC names its binding, which must be one of
// bulwark's paths.
func sameAuthorizer(u rbac.User, d rbac.Decision, reason string) string {
	if !d.Allowed {
		return ""
	}
	m := rbacReason.FindStringSubmatch(reason)
	if _, node := u.Node(); node && reason == "" && d.By == rbac.ByRBAC {
		return "" // RBAC allows it, and the Node authorizer, first, did from its graph
	}
	switch d.By {
	case rbac.ByMasters, rbac.ByNode:
		if m != nil {
			return fmt.Sprintf("bulwark says %s allowed it, the API server says %q", d.By, reason)
		}
		return ""
	}
	if m == nil {
		return fmt.Sprintf("bulwark says RBAC allowed it by %v, the API server says %q", d.Paths, reason)
	}
	b := rbac.Ref{Kind: m[1], Name: m[2]}
	if name, ns, ok := strings.Cut(m[2], "/"); ok && m[1] == rbac.KindRoleBinding {
		b = rbac.Ref{Kind: m[1], Namespace: ns, Name: name} // the API server writes name/namespace
	}
	for _, p := range d.Paths {
		if p.Binding == b && p.Role.Kind == m[3] && p.Role.Name == m[4] {
			return ""
		}
	}
	return fmt.Sprintf("the API server allowed it by %q, not among bulwark's paths %v", reason, d.Paths)
}

// subjectMatches reports whether a binding subject (as who-can lists it)
// applies to the user.
func subjectMatches(u rbac.User, s rbacv1.Subject) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return u.Name == s.Name
	case rbacv1.GroupKind:
		return u.InGroup(s.Name)
	case rbacv1.ServiceAccountKind:
		return u.Name == rbac.ServiceAccountUser(s.Namespace, s.Name)
	}
	return false
}

// subjectUser is the least identity a subject applies to: the user alone,
// a stranger in the group, the service account without its groups.
func subjectUser(s rbacv1.Subject) rbac.User {
	switch s.Kind {
	case rbacv1.GroupKind:
		return rbac.User{Name: "bulwark-probe", Groups: []string{s.Name}}
	case rbacv1.ServiceAccountKind:
		return rbac.User{Name: rbac.ServiceAccountUser(s.Namespace, s.Name)}
	}
	return rbac.User{Name: s.Name}
}

func sorted(ss []string) []string {
	out := slices.Clone(ss)
	sort.Strings(out)
	return out
}

// compareBuiltin checks the embedded built-in policy against the objects
// the API server created at start-up.
func compareBuiltin(t *testing.T, cs *kubernetes.Clientset, e *rbac.Engine) {
	t.Helper()
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: rbac.LabelBootstrapping + "=rbac-defaults"}
	want := rbac.Builtin()
	crs, err := cs.RbacV1().ClusterRoles().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	aggregated := map[string][]rbacv1.PolicyRule{}
	for _, cr := range e.Policy().ClusterRoles {
		aggregated[cr.Name] = cr.Rules
	}
	got := map[string]rbacv1.ClusterRole{}
	for _, cr := range crs.Items {
		got[cr.Name] = cr
	}
	for _, w := range want.ClusterRoles {
		g, ok := got[w.Name]
		if !ok {
			t.Errorf("built-in ClusterRole %s is not on the API server", w.Name)
			continue
		}
		delete(got, w.Name)
		rules := w.Rules
		if w.AggregationRule != nil {
			rules = aggregated[w.Name] // compared after aggregation
		}
		if !equality.Semantic.DeepEqual(rules, g.Rules) && !(len(rules) == 0 && len(g.Rules) == 0) || !equality.Semantic.DeepEqual(w.AggregationRule, g.AggregationRule) {
			t.Errorf("built-in ClusterRole %s differs from the API server's", w.Name)
		}
	}
	for name := range got {
		t.Errorf("the API server has built-in ClusterRole %s, bulwark does not", name)
	}
	crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	gotB := map[string]rbacv1.ClusterRoleBinding{}
	for _, b := range crbs.Items {
		gotB[b.Name] = b
	}
	for _, w := range want.ClusterRoleBindings {
		g, ok := gotB[w.Name]
		if !ok || !equality.Semantic.DeepEqual(w.RoleRef, g.RoleRef) || !equality.Semantic.DeepEqual(w.Subjects, g.Subjects) {
			t.Errorf("built-in ClusterRoleBinding %s differs from the API server's (present: %v)", w.Name, ok)
		}
		delete(gotB, w.Name)
	}
	for name := range gotB {
		t.Errorf("the API server has built-in ClusterRoleBinding %s, bulwark does not", name)
	}
	roles, err := cs.RbacV1().Roles("").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	rbs, err := cs.RbacV1().RoleBindings("").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(roles.Items) != len(want.Roles) || len(rbs.Items) != len(want.RoleBindings) {
		t.Errorf("built-in Roles/RoleBindings: API server %d/%d, bulwark %d/%d", len(roles.Items), len(rbs.Items), len(want.Roles), len(want.RoleBindings))
	}
	for _, g := range roles.Items {
		i := slices.IndexFunc(want.Roles, func(w rbacv1.Role) bool { return w.Namespace == g.Namespace && w.Name == g.Name })
		if i < 0 || !equality.Semantic.DeepEqual(want.Roles[i].Rules, g.Rules) {
			t.Errorf("built-in Role %s/%s differs", g.Namespace, g.Name)
		}
	}
	for _, g := range rbs.Items {
		i := slices.IndexFunc(want.RoleBindings, func(w rbacv1.RoleBinding) bool { return w.Namespace == g.Namespace && w.Name == g.Name })
		if i < 0 || !equality.Semantic.DeepEqual(want.RoleBindings[i].RoleRef, g.RoleRef) || !equality.Semantic.DeepEqual(want.RoleBindings[i].Subjects, g.Subjects) {
			t.Errorf("built-in RoleBinding %s/%s differs", g.Namespace, g.Name)
		}
	}
	t.Logf("%d ClusterRoles, %d ClusterRoleBindings, %d Roles, %d RoleBindings built in", len(want.ClusterRoles), len(want.ClusterRoleBindings), len(want.Roles), len(want.RoleBindings))
}

// compareResources checks rbac.BuiltinResources against discovery.
func compareResources(t *testing.T, cfg *rest.Config) {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	got := map[rbac.Resource]bool{}
	for _, l := range lists {
		group, _, ok := strings.Cut(l.GroupVersion, "/")
		if !ok {
			group = ""
		}
		for _, r := range l.APIResources {
			if !strings.Contains(r.Name, "/") {
				got[rbac.Resource{Group: group, Resource: r.Name, Namespaced: r.Namespaced}] = true
			}
		}
	}
	for _, r := range rbac.BuiltinResources {
		if !got[r] {
			t.Errorf("bulwark lists %+v, the API server does not serve it", r)
		}
		delete(got, r)
	}
	for r := range got {
		t.Errorf("the API server serves %+v, bulwark does not list it", r)
	}
}

// runBulwark runs the command line and returns its exit code and output.
func runBulwark(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	env := cli.Env{Now: time.Now, Hostname: func() (string, error) { return "node-a", nil }, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}
	code := cli.Run(env, args)
	return code, out.String(), errb.String()
}

// checkCommands runs can-i, who-can and rbac lint as a user would, on the
// manifests and on the live cluster.
func checkCommands(t *testing.T, c *cluster, manifests string, users []rbac.User, actions []rbac.Action, server [][]answer) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	asked := 0
	for asked < 40 {
		ai, ui := r.IntN(len(actions)), r.IntN(len(users))
		a, u := actions[ai], users[ui]
		groups, ok := asGroups(u)
		if _, node := u.Node(); node || !ok || !a.IsResource() {
			continue // only identities --as can express; no graph questions
		}
		// RESOURCE.GROUP, with "pods." for the core group: the command
		// must not resolve the group itself here.
		args := []string{"can-i", a.Verb, a.Resource + "." + a.APIGroup, "--as", u.Name, "-o", "json"}
		if a.Resource == "*" {
			args[2] = "*"
			if a.APIGroup != "" {
				continue
			}
		}
		if a.Subresource != "" {
			args[2] += "/" + a.Subresource
		}
		if a.Name != "" {
			args = append(args, a.Name)
		}
		if a.Namespace == "" {
			args = append(args, "-A")
		} else {
			args = append(args, "-n", a.Namespace)
		}
		for _, g := range groups {
			args = append(args, "--as-group", g)
		}
		if rbac.ClusterScoped(a.APIGroup, a.Resource) && a.Namespace != "" {
			continue // the command asks without the namespace, as kubectl does
		}
		asked++
		for _, src := range [][]string{{"-f", manifests}, {"--kubeconfig", c.path("super-admin.conf")}} {
			code, out, errOut := runBulwark(append(slices.Clone(args), src...)...)
			want := 1
			if server[ai][ui].allowed {
				want = 0
			}
			if code != want {
				t.Errorf("bulwark %s: exit %d, want %d (API server: %v)\n%s%s", strings.Join(args, " "), code, want, server[ai][ui].allowed, out, errOut)
				continue
			}
			var res struct {
				Decision rbac.Decision `json:"decision"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || res.Decision.Allowed != server[ai][ui].allowed {
				t.Errorf("bulwark %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
	// The kubeconfig's own user when --as is not given: super-admin.
	if code, out, errOut := runBulwark("can-i", "delete", "nodes", "--kubeconfig", c.path("super-admin.conf")); code != 0 || !strings.Contains(out, rbac.GroupMasters) {
		t.Errorf("can-i as the kubeconfig's user: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := runBulwark("who-can", "get", "secrets", "-n", "ns-0", "-f", manifests)
	if code != 0 || !strings.Contains(out, rbac.GroupMasters) {
		t.Errorf("who-can: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runBulwark("rbac", "lint", "-f", manifests, "-o", "sarif")
	if code != cli.ExitFindings || !strings.Contains(out, `"version": "2.1.0"`) {
		t.Errorf("rbac lint: exit %d\n%.2000s%s", code, out, errOut)
	}
	code, fromFiles, errOut := runBulwark("rbac", "lint", "-f", manifests, "-o", "json")
	if code != cli.ExitFindings {
		t.Errorf("rbac lint: exit %d\n%.2000s%s", code, out, errOut)
	}
	code, fromCluster, errOut := runBulwark("rbac", "lint", "--kubeconfig", c.path("super-admin.conf"), "-o", "json")
	if code != cli.ExitFindings {
		t.Errorf("rbac lint --kubeconfig: exit %d\n%.2000s%s", code, out, errOut)
	}
	var a, b rbac.LintReport
	if json.Unmarshal([]byte(fromFiles), &a) != nil || json.Unmarshal([]byte(fromCluster), &b) != nil || len(a.Findings) != len(b.Findings) {
		t.Errorf("rbac lint: %d findings from the manifests, %d from the cluster", len(a.Findings), len(b.Findings))
	}
}

// asGroups are the --as-group values that make impersonation rebuild u,
// if any do.
func asGroups(u rbac.User) ([]string, bool) {
	var explicit []string
	for _, g := range u.Groups {
		if g != rbac.GroupAuthenticated {
			explicit = append(explicit, g)
		}
	}
	for _, try := range [][]string{nil, explicit, u.Groups} {
		if got := rbac.Impersonate(u.Name, try...); slices.Equal(sorted(got.Groups), sorted(u.Groups)) {
			return try, true
		}
	}
	return nil, false
}
