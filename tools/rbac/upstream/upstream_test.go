// Package upstream compares bulwark's rbac engine with the RBAC authorizer
// of the pinned Kubernetes release (k8s.io/kubernetes
// plugin/pkg/auth/authorizer/rbac), wired over client-go listers as
// kube-apiserver wires it, on the same generated policy: the same answers
// (TestSameAnswers), and the speed of each (the benchmarks, whose figures
// BENCHMARKS.md records).
//
//	cd tools/rbac && go test ./upstream -run . -bench . -benchtime 2s
package upstream

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
	k8srbac "k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac"

	"github.com/bulwark-k8s/bulwark/rbac"
	"github.com/bulwark-k8s/bulwark/rbac/rbactest"
)

// upstream is kube-apiserver's RBAC authorizer and subject locator over
// informer-style indexers holding the policy's objects.
type upstream struct {
	authz   *k8srbac.RBACAuthorizer
	locator *k8srbac.SubjectAccessEvaluator
}

func newIndexer() cache.Indexer {
	return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}

// newUpstream fills the listers as the API server's informers would: with
// the objects as stored, aggregated ClusterRoles holding the rules the
// controller manager wrote (bulwark's compiled policy has exactly those).
func newUpstream(tb testing.TB, p *rbac.Policy) *upstream {
	tb.Helper()
	roles, rbs, crs, crbs := newIndexer(), newIndexer(), newIndexer(), newIndexer()
	for i := range p.Roles {
		must(tb, roles.Add(&p.Roles[i]))
	}
	for i := range p.RoleBindings {
		must(tb, rbs.Add(&p.RoleBindings[i]))
	}
	for i := range p.ClusterRoles {
		must(tb, crs.Add(&p.ClusterRoles[i]))
	}
	for i := range p.ClusterRoleBindings {
		must(tb, crbs.Add(&p.ClusterRoleBindings[i]))
	}
	rg := &k8srbac.RoleGetter{Lister: rbaclisters.NewRoleLister(roles)}
	rbl := &k8srbac.RoleBindingLister{Lister: rbaclisters.NewRoleBindingLister(rbs)}
	crg := &k8srbac.ClusterRoleGetter{Lister: rbaclisters.NewClusterRoleLister(crs)}
	crbl := &k8srbac.ClusterRoleBindingLister{Lister: rbaclisters.NewClusterRoleBindingLister(crbs)}
	return &upstream{authz: k8srbac.New(rg, rbl, crg, crbl), locator: k8srbac.NewSubjectAccessEvaluator(rg, rbl, crg, crbl, "")}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func attributes(u rbac.User, a rbac.Action) authorizer.AttributesRecord {
	r := authorizer.AttributesRecord{User: &user.DefaultInfo{Name: u.Name, Groups: u.Groups}, Verb: a.Verb}
	if a.IsResource() {
		r.ResourceRequest = true
		r.Namespace, r.APIGroup, r.Resource, r.Subresource, r.Name = a.Namespace, a.APIGroup, a.Resource, a.Subresource, a.Name
	} else {
		r.Path = a.Path
	}
	return r
}

// fixture is one generated policy, compiled by bulwark and loaded into the
// upstream authorizer, with the questions to ask.
type fixture struct {
	policy   *rbac.Policy // built-in + generated, as written
	yaml     []byte       // the generated part as manifests
	engine   *rbac.Engine
	upstream *upstream
	users    []rbac.User
	actions  []rbac.Action
}

const seed = 1

func newFixture(tb testing.TB, size rbactest.Size, nUsers, nActions int) *fixture {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 0xbe4c))
	gen := rbactest.Policy(r, size)
	y, err := rbactest.YAML(gen)
	must(tb, err)
	p := rbac.Builtin()
	p.Merge(gen)
	// The upstream RBAC authorizer alone: no system:masters short-cut, no
	// Node authorizer.
	e := rbac.Compile(p, rbac.Options{NoNodeAuthorizer: true})
	f := &fixture{policy: p, yaml: y, engine: e, upstream: newUpstream(tb, e.Policy())}
	v := size.Vocab()
	for _, u := range v.Identities(r, nUsers+8) {
		if !u.InGroup(rbac.GroupMasters) {
			f.users = append(f.users, u)
		}
	}
	for range nActions {
		f.actions = append(f.actions, v.Action(r))
	}
	return f
}

var (
	largeOnce sync.Once
	large     *fixture
)

func largeFixture(tb testing.TB) *fixture {
	largeOnce.Do(func() { large = newFixture(tb, rbactest.Large, 200, 500) })
	return large
}

// TestSameAnswers checks bulwark against the upstream authorizer on small
// policies (many seeds' worth of questions) and on the benchmarks' large
// one: every answer, and who-can's subjects against AllowedSubjects' (made
// unique, service accounts' namespaces filled in from the RoleBinding).
func TestSameAnswers(t *testing.T) {
	fixtures := []*fixture{newFixture(t, rbactest.Small, 30, 2000), largeFixture(t)}
	for fi, f := range fixtures {
		ctx := context.Background()
		answers, allowed := 0, 0
		for _, a := range f.actions {
			for _, u := range f.users {
				attrs := attributes(u, a)
				dec, reason, err := f.upstream.authz.Authorize(ctx, &attrs)
				must(t, err)
				want := dec == authorizer.DecisionAllow
				if got := f.engine.Check(u, a); got.Allowed != want {
					t.Fatalf("fixture %d: %s as %s %v: bulwark %v (%s), upstream %v (%s)", fi, a, u.Name, u.Groups, got.Allowed, got.Reason, want, reason)
				}
				answers++
				if want {
					allowed++
				}
			}
			attrs := attributes(rbac.User{}, a)
			subjects, _ := f.upstream.locator.AllowedSubjects(ctx, &attrs)
			want := map[rbacv1.Subject]bool{}
			for _, s := range subjects {
				if s.Kind == rbacv1.ServiceAccountKind && s.Namespace == "" {
					s.Namespace = a.Namespace // only RoleBindings of the namespace were read
				}
				want[s] = true
			}
			got := map[rbacv1.Subject]bool{}
			for _, acc := range f.engine.WhoCan(a).Access {
				got[acc.Subject] = true
			}
			for s := range want {
				if !got[s] {
					t.Errorf("fixture %d: %s: upstream lists %v, bulwark does not", fi, a, s)
				}
			}
			for s := range got {
				if !want[s] {
					t.Errorf("fixture %d: %s: bulwark lists %v, upstream does not", fi, a, s)
				}
			}
		}
		t.Logf("fixture %d: %d objects, %d rules: %d answers agree (%d allowed), %d who-can lists agree", fi, f.policy.Len(), f.policy.Rules(), answers, allowed, len(f.actions))
	}
}

// BenchmarkLoad measures reading the large policy: bulwark from YAML
// manifests (decode, merge over the built-in policy, aggregate, index),
// bulwark's compile step alone, and the upstream authorizer's listers
// filled from decoded objects (what informers hold; the API server's own
// decoding is not counted).
func BenchmarkLoad(b *testing.B) {
	f := largeFixture(b)
	dir := b.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	must(b, os.WriteFile(file, f.yaml, 0o600))
	b.Run("bulwark-yaml", func(b *testing.B) {
		b.SetBytes(int64(len(f.yaml)))
		for b.Loop() {
			data, err := os.ReadFile(file)
			must(b, err)
			q, err := rbac.Decode(data, file, rbac.DecodeOptions{})
			must(b, err)
			p := rbac.Builtin()
			p.Merge(q)
			rbac.Compile(p, rbac.Options{})
		}
	})
	b.Run("bulwark-compile", func(b *testing.B) {
		for b.Loop() {
			rbac.Compile(f.policy, rbac.Options{})
		}
	})
	b.Run("upstream-listers", func(b *testing.B) {
		for b.Loop() {
			newUpstream(b, f.engine.Policy())
		}
	})
}

type question struct {
	u rbac.User
	a rbac.Action
}

func (f *fixture) questions() []question {
	var qs []question
	for _, a := range f.actions {
		for _, u := range f.users {
			qs = append(qs, question{u, a})
		}
	}
	r := rand.New(rand.NewPCG(2, 3))
	r.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
	return qs[:20000]
}

// BenchmarkCanI measures one question: bulwark's Authorize (first grant,
// with its reason, as the API server's authorizer answers) and Allowed, and
// the upstream RBACAuthorizer.Authorize.
func BenchmarkCanI(b *testing.B) {
	f := largeFixture(b)
	qs := f.questions()
	allowed := 0
	for _, q := range qs {
		if f.engine.Allowed(q.u, q.a) {
			allowed++
		}
	}
	b.Logf("%d objects, %d rules; %d questions, %d allowed", f.policy.Len(), f.policy.Rules(), len(qs), allowed)
	b.Run("bulwark", func(b *testing.B) {
		i := 0
		for b.Loop() {
			q := qs[i%len(qs)]
			f.engine.Authorize(q.u, q.a)
			i++
		}
	})
	b.Run("bulwark-allowed", func(b *testing.B) {
		i := 0
		for b.Loop() {
			q := qs[i%len(qs)]
			f.engine.Allowed(q.u, q.a)
			i++
		}
	})
	attrs := make([]authorizer.AttributesRecord, len(qs))
	for i, q := range qs {
		attrs[i] = attributes(q.u, q.a)
	}
	b.Run("upstream", func(b *testing.B) {
		ctx := context.Background()
		i := 0
		for b.Loop() {
			_, _, _ = f.upstream.authz.Authorize(ctx, &attrs[i%len(attrs)])
			i++
		}
	})
}

// BenchmarkWhoCan measures one reverse question: bulwark's WhoCan (unique
// subjects, each with its paths) and the upstream
// SubjectAccessEvaluator.AllowedSubjects (a subject per binding that
// allows, duplicates included).
func BenchmarkWhoCan(b *testing.B) {
	f := largeFixture(b)
	total, unique := 0, 0
	for _, a := range f.actions {
		attrs := attributes(rbac.User{}, a)
		s, _ := f.upstream.locator.AllowedSubjects(context.Background(), &attrs)
		total += len(s)
		unique += len(f.engine.WhoCan(a).Access)
	}
	b.Logf("%d questions: upstream %d subjects, bulwark %d unique subjects", len(f.actions), total, unique)
	b.Run("bulwark", func(b *testing.B) {
		i := 0
		for b.Loop() {
			f.engine.WhoCan(f.actions[i%len(f.actions)])
			i++
		}
	})
	b.Run("upstream", func(b *testing.B) {
		ctx := context.Background()
		attrs := make([]authorizer.AttributesRecord, len(f.actions))
		for i, a := range f.actions {
			attrs[i] = attributes(rbac.User{}, a)
		}
		i := 0
		for b.Loop() {
			_, _ = f.upstream.locator.AllowedSubjects(ctx, &attrs[i%len(attrs)])
			i++
		}
	})
}
