// Package upstream compares bulwark's rbac engine with the RBAC authorizer
// of the pinned Kubernetes release (k8s.io/kubernetes
// plugin/pkg/auth/authorizer/rbac) on the same generated policies, in the
// same process: the same answers (TestSameAnswers), and the speed of each
// (the benchmarks, whose figures BENCHMARKS.md records).
//
// The upstream side is wired as kube-apiserver wires its RBAC authorizer
// (pkg/kubeapiserver/authorizer/config.go): rbac.New over the listers of a
// client-go SharedInformerFactory, whose informers' indexers hold the
// objects. kube-apiserver serves no "who can" question; the upstream
// answer to it, SubjectAccessEvaluator.AllowedSubjects, is built over the
// same four listers (NewSubjectAccessEvaluator, no super-user). The
// listers hold the objects as the API server stores them: aggregated
// ClusterRoles with the rules the controller manager wrote, which is what
// bulwark's compiled policy holds.
//
//	cd tools/rbac && go test ./upstream -run . -bench . -benchtime 2s
package upstream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8srbac "k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/rbac"
	"github.com/bulwark-k8s/bulwark/rbac/rbactest"
)

// upstream is kube-apiserver's RBAC authorizer, and the subject locator
// over the same listers.
type upstream struct {
	authz   *k8srbac.RBACAuthorizer
	locator *k8srbac.SubjectAccessEvaluator
}

// client is never called: the informers are filled directly, as their
// reflectors would fill them from a List.
var client = sync.OnceValue(func() *fake.Clientset { return fake.NewClientset() })

// newUpstream fills the informers' indexers with the policy's objects and
// wires the authorizer over their listers, as kube-apiserver does.
func newUpstream(tb testing.TB, p *rbac.Policy) *upstream {
	tb.Helper()
	f := informers.NewSharedInformerFactory(client(), 0)
	v1 := f.Rbac().V1()
	roles, rbs, crs, crbs := v1.Roles(), v1.RoleBindings(), v1.ClusterRoles(), v1.ClusterRoleBindings()
	for i := range p.Roles {
		must(tb, roles.Informer().GetIndexer().Add(&p.Roles[i]))
	}
	for i := range p.RoleBindings {
		must(tb, rbs.Informer().GetIndexer().Add(&p.RoleBindings[i]))
	}
	for i := range p.ClusterRoles {
		must(tb, crs.Informer().GetIndexer().Add(&p.ClusterRoles[i]))
	}
	for i := range p.ClusterRoleBindings {
		must(tb, crbs.Informer().GetIndexer().Add(&p.ClusterRoleBindings[i]))
	}
	rg := &k8srbac.RoleGetter{Lister: roles.Lister()}
	rbl := &k8srbac.RoleBindingLister{Lister: rbs.Lister()}
	crg := &k8srbac.ClusterRoleGetter{Lister: crs.Lister()}
	crbl := &k8srbac.ClusterRoleBindingLister{Lister: crbs.Lister()}
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

type question struct {
	u rbac.User
	a rbac.Action
}

// fixture is one generated policy, compiled by bulwark and loaded into the
// upstream authorizer, with the questions to ask.
type fixture struct {
	name     string
	gen      *rbac.Policy // the generated part
	policy   *rbac.Policy // built-in + generated, as written
	engine   *rbac.Engine
	upstream *upstream
	users    []rbac.User
	actions  []rbac.Action
	// Questions answered yes and no (the same by both: TestSameAnswers).
	allowed, denied []question
}

const seed = 1

func newFixture(tb testing.TB, name string, size rbactest.Size, nUsers, nActions int) *fixture {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 0xbe4c))
	gen := rbactest.Policy(r, size)
	p := rbac.Builtin()
	p.Merge(gen)
	// The upstream RBAC authorizer alone: no system:masters short-cut, no
	// Node authorizer.
	e := rbac.Compile(p, rbac.Options{NoNodeAuthorizer: true})
	f := &fixture{name: name, gen: gen, policy: p, engine: e, upstream: newUpstream(tb, e.Policy())}
	v := size.Vocab()
	for _, u := range v.Identities(r, nUsers+8) {
		if !u.InGroup(rbac.GroupMasters) {
			f.users = append(f.users, u)
		}
	}
	for range nActions {
		f.actions = append(f.actions, v.Action(r))
	}
	f.questions(r, 20000)
	return f
}

// questions draws up to n questions of each answer: random users and
// actions of the policy's vocabulary, sorted by answer; allowed ones are
// topped up with questions a binding answers yes: one of its subjects
// asking for what a rule of its role allows.
func (f *fixture) questions(r *rand.Rand, n int) {
	for range 20 * n {
		if len(f.allowed) >= n && len(f.denied) >= n {
			break
		}
		q := question{f.users[r.IntN(len(f.users))], f.actions[r.IntN(len(f.actions))]}
		if f.engine.Allowed(q.u, q.a) {
			if len(f.allowed) < n {
				f.allowed = append(f.allowed, q)
			}
		} else if len(f.denied) < n {
			f.denied = append(f.denied, q)
		}
	}
	p := f.engine.Policy()
	rules := map[rbac.Ref][]rbacv1.PolicyRule{}
	for _, cr := range p.ClusterRoles {
		rules[rbac.Ref{Kind: rbac.KindClusterRole, Name: cr.Name}] = cr.Rules
	}
	for _, ro := range p.Roles {
		rules[rbac.Ref{Kind: rbac.KindRole, Namespace: ro.Namespace, Name: ro.Name}] = ro.Rules
	}
	for tries := 0; len(f.allowed) < n && tries < 50*n; tries++ {
		var subjects []rbacv1.Subject
		var ref rbac.Ref
		ns := fmt.Sprintf("ns-%d", r.IntN(4))
		if x := r.IntN(len(p.ClusterRoleBindings) + len(p.RoleBindings)); x < len(p.ClusterRoleBindings) {
			b := p.ClusterRoleBindings[x]
			subjects, ref = b.Subjects, rbac.Ref{Kind: b.RoleRef.Kind, Name: b.RoleRef.Name}
		} else {
			b := p.RoleBindings[x-len(p.ClusterRoleBindings)]
			subjects, ref, ns = b.Subjects, rbac.Ref{Kind: b.RoleRef.Kind, Name: b.RoleRef.Name}, b.Namespace
			if ref.Kind == rbac.KindRole {
				ref.Namespace = ns
			}
		}
		rs := rules[ref]
		if len(rs) == 0 || len(subjects) == 0 {
			continue
		}
		u, ok := subjectUser(subjects[r.IntN(len(subjects))], ns)
		if !ok {
			continue
		}
		a, ok := allowedBy(r, rs[r.IntN(len(rs))], ns)
		if ok && f.engine.Allowed(u, a) {
			f.allowed = append(f.allowed, question{u, a})
		}
	}
}

// subjectUser is a user a binding subject names, as impersonation makes
// it.
func subjectUser(s rbacv1.Subject, ns string) (rbac.User, bool) {
	switch s.Kind {
	case rbacv1.UserKind:
		return rbac.Impersonate(s.Name), s.Name != rbac.UserAnonymous
	case rbacv1.GroupKind:
		return rbac.Impersonate("bench-user", s.Name), s.Name != rbac.GroupMasters
	case rbacv1.ServiceAccountKind:
		if s.Namespace != "" {
			ns = s.Namespace
		}
		return rbac.Impersonate(rbac.ServiceAccountUser(ns, s.Name)), true
	}
	return rbac.User{}, false
}

// allowedBy is an action a rule allows.
func allowedBy(r *rand.Rand, rule rbacv1.PolicyRule, ns string) (rbac.Action, bool) {
	pick := func(l []string, wildcard string) string {
		if len(l) == 0 {
			return ""
		}
		s := l[r.IntN(len(l))]
		if s == "*" {
			return wildcard
		}
		return s
	}
	a := rbac.Action{Verb: pick(rule.Verbs, "get")}
	if len(rule.NonResourceURLs) > 0 {
		p := pick(rule.NonResourceURLs, "/anything")
		if p != "" && p[len(p)-1] == '*' {
			p = p[:len(p)-1] + "x"
		}
		a.Path = p
		return a, a.Path != ""
	}
	if len(rule.Resources) == 0 || len(rule.APIGroups) == 0 {
		return a, false
	}
	a.APIGroup = pick(rule.APIGroups, "example.com")
	res := pick(rule.Resources, "pods")
	for i := range len(res) {
		if res[i] == '/' {
			a.Resource, a.Subresource = res[:i], res[i+1:]
			break
		}
	}
	if a.Resource == "" {
		a.Resource = res
	}
	if a.Resource == "*" {
		a.Resource = "pods"
	}
	a.Name = pick(rule.ResourceNames, "")
	a.Namespace = ns
	return a, true
}

var fixtures sync.Map // shape name → *fixture

func shapeFixture(tb testing.TB, s rbactest.Shape) *fixture {
	if f, ok := fixtures.Load(s.Name); ok {
		return f.(*fixture)
	}
	f := newFixture(tb, s.Name, s.Size, 200, 500)
	fixtures.Store(s.Name, f)
	return f
}

func forShapes(b *testing.B, run func(b *testing.B, f *fixture)) {
	for _, s := range rbactest.Shapes {
		b.Run(s.Name, func(b *testing.B) { run(b, shapeFixture(b, s)) })
	}
}

// TestSameAnswers checks bulwark against the upstream authorizer on a
// small policy (many questions) and on every benchmark shape: every
// answer of Check, Authorize and Allowed, and who-can's subjects against
// AllowedSubjects' (made unique, service accounts' namespaces filled in
// from the RoleBinding).
func TestSameAnswers(t *testing.T) {
	small := newFixture(t, "small", rbactest.Small, 30, 2000)
	check := func(t *testing.T, f *fixture, qs []question, actions []rbac.Action) {
		ctx := context.Background()
		allowed := 0
		for _, q := range qs {
			attrs := attributes(q.u, q.a)
			dec, reason, err := f.upstream.authz.Authorize(ctx, &attrs)
			must(t, err)
			want := dec == authorizer.DecisionAllow
			got := f.engine.Check(q.u, q.a)
			if got.Allowed != want {
				t.Fatalf("%s: %s as %s %v: bulwark %v (%s), upstream %v (%s)", f.name, q.a, q.u.Name, q.u.Groups, got.Allowed, got.Reason, want, reason)
			}
			if a := f.engine.Authorize(q.u, q.a); a.Allowed != want || f.engine.Allowed(q.u, q.a) != want {
				t.Fatalf("%s: %s as %s: Authorize/Allowed disagree with Check", f.name, q.a, q.u.Name)
			}
			if want {
				allowed++
			}
		}
		for _, a := range actions {
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
					t.Errorf("%s: %s: upstream lists %v, bulwark does not", f.name, a, s)
				}
			}
			for s := range got {
				if !want[s] {
					t.Errorf("%s: %s: bulwark lists %v, upstream does not", f.name, a, s)
				}
			}
		}
		t.Logf("%s: %d objects, %d rules (%d aggregated): %d answers agree (%d allowed), %d who-can lists agree",
			f.name, f.policy.Len(), f.policy.Rules(), f.engine.Rules(), len(qs), allowed, len(actions))
	}
	var all []question
	for _, a := range small.actions {
		for _, u := range small.users {
			all = append(all, question{u, a})
		}
	}
	check(t, small, all, small.actions)
	for _, s := range rbactest.Shapes {
		f := shapeFixture(t, s)
		n := 2000
		check(t, f, append(f.allowed[:min(n, len(f.allowed))], f.denied[:min(n, len(f.denied))]...), f.actions[:100])
	}
}

// BenchmarkCompile measures what each side does with decoded objects
// before its first question: bulwark's Compile (bindings resolved and
// indexed by subject, aggregation linked); the upstream informers'
// indexers filled. compile+index adds what bulwark defers to its first
// who-can question (aggregated rules, every rule indexed), to say where
// the work went.
func BenchmarkCompile(b *testing.B) {
	forShapes(b, func(b *testing.B, f *fixture) {
		b.Run("bulwark", func(b *testing.B) {
			for b.Loop() {
				rbac.Compile(f.policy, rbac.Options{NoNodeAuthorizer: true})
			}
		})
		b.Run("bulwark-compile+index", func(b *testing.B) {
			a := rbac.Action{Verb: "get", Resource: "pods", Namespace: "ns-1"}
			for b.Loop() {
				rbac.Compile(f.policy, rbac.Options{NoNodeAuthorizer: true}).WhoCan(a)
			}
		})
		stored := f.engine.Policy()
		b.Run("upstream-listers", func(b *testing.B) {
			for b.Loop() {
				newUpstream(b, stored)
			}
		})
	})
}

// BenchmarkCanI measures one question, answered yes or no: bulwark's
// Authorize (first grant, with its reason, as the API server's authorizer
// answers) and Allowed (yes or no only), and the upstream
// RBACAuthorizer.Authorize.
func BenchmarkCanI(b *testing.B) {
	forShapes(b, func(b *testing.B, f *fixture) {
		for _, set := range []struct {
			name string
			qs   []question
		}{{"allowed", f.allowed}, {"denied", f.denied}} {
			qs := set.qs
			b.Run(set.name, func(b *testing.B) {
				b.Logf("%d objects, %d rules (%d aggregated), %d questions", f.policy.Len(), f.policy.Rules(), f.engine.Rules(), len(qs))
				b.Run("bulwark", func(b *testing.B) {
					i := 0
					for b.Loop() {
						q := &qs[i%len(qs)]
						f.engine.Authorize(q.u, q.a)
						i++
					}
				})
				b.Run("bulwark-yesno", func(b *testing.B) {
					i := 0
					for b.Loop() {
						q := &qs[i%len(qs)]
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
			})
		}
	})
}

// BenchmarkWhoCan measures one reverse question: bulwark's WhoCan (unique
// subjects, each with its paths) and the upstream
// SubjectAccessEvaluator.AllowedSubjects (a subject per binding that
// allows, duplicates included).
func BenchmarkWhoCan(b *testing.B) {
	forShapes(b, func(b *testing.B, f *fixture) {
		total, unique := 0, 0
		attrs := make([]authorizer.AttributesRecord, len(f.actions))
		for i, a := range f.actions {
			attrs[i] = attributes(rbac.User{}, a)
			if i < 100 {
				s, _ := f.upstream.locator.AllowedSubjects(context.Background(), &attrs[i])
				total += len(s)
				unique += len(f.engine.WhoCan(a).Access)
			}
		}
		b.Logf("first 100 of %d questions: upstream %d subjects, bulwark %d unique subjects", len(f.actions), total, unique)
		b.Run("bulwark", func(b *testing.B) {
			i := 0
			for b.Loop() {
				f.engine.WhoCan(f.actions[i%len(f.actions)])
				i++
			}
		})
		b.Run("upstream", func(b *testing.B) {
			ctx := context.Background()
			i := 0
			for b.Loop() {
				_, _ = f.upstream.locator.AllowedSubjects(ctx, &attrs[i%len(attrs)])
				i++
			}
		})
	})
}

// BenchmarkLoad measures reading the mixed-100k policy (about 15 MB of
// YAML) as `bulwark can-i -f` does: decode, merge over the built-in
// policy, compile ("bulwark-yaml"), the same with the decoder bulwark had
// before ("before-yaml", olddecode_test.go), and the decoding alone with
// each.
//
// The policy is generated here and nothing else is kept: a large live heap
// (the other benchmarks' fixtures) makes every collection cost more, and
// the decoder that allocates more would pay more for it.
func BenchmarkLoad(b *testing.B) {
	y, err := rbactest.YAML(rbactest.Policy(rand.New(rand.NewPCG(seed, 0xbe4c)), rbactest.Shapes[1].Size))
	must(b, err)
	file := filepath.Join(b.TempDir(), "policy.yaml")
	must(b, os.WriteFile(file, y, 0o600))
	b.Logf("%d bytes", len(y))
	runtime.GC()
	for _, d := range []struct {
		name   string
		decode func([]byte, string, rbac.DecodeOptions) (*rbac.Policy, error)
	}{{"bulwark", rbac.Decode}, {"before", oldDecode}} {
		b.Run(d.name+"-yaml", func(b *testing.B) {
			b.SetBytes(int64(len(y)))
			defer reportCPU(b)()
			for b.Loop() {
				data, err := os.ReadFile(file)
				must(b, err)
				q, err := d.decode(data, file, rbac.DecodeOptions{})
				must(b, err)
				p := rbac.Builtin()
				p.Merge(q)
				rbac.Compile(p, rbac.Options{})
			}
		})
		b.Run(d.name+"-decode", func(b *testing.B) {
			b.SetBytes(int64(len(y)))
			defer reportCPU(b)()
			for b.Loop() {
				_, err := d.decode(y, file, rbac.DecodeOptions{})
				must(b, err)
			}
		})
	}
}

// reportCPU reports the process's CPU time (user and system, every thread)
// per operation beside the wall time: on a machine shared with other work
// it says what the work cost when the wall clock says how long it waited.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestOldDecoderAgrees checks that the decoder kept for comparison reads
// the benchmark's policy as rbac.Decode does.
func TestOldDecoderAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(seed, 9))
	y, err := rbactest.YAML(rbactest.Policy(r, rbactest.Medium))
	must(t, err)
	p, err := rbac.Decode(y, "in.yaml", rbac.DecodeOptions{})
	must(t, err)
	q, err := oldDecode(y, "in.yaml", rbac.DecodeOptions{})
	must(t, err)
	a, _ := yaml.Marshal(p)
	b, _ := yaml.Marshal(q)
	if string(a) != string(b) || p.Len() == 0 {
		t.Fatal("the decoders disagree")
	}
}
