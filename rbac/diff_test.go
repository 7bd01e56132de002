package rbac_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/rbac"
	"github.com/bulwark-k8s/bulwark/rbac/rbactest"
)

// identity is the user a diff subject stands for.
func identity(s rbacv1.Subject) rbac.User {
	switch s.Kind {
	case rbacv1.GroupKind:
		return rbac.User{Name: "diff-probe", Groups: []string{s.Name}}
	case rbacv1.ServiceAccountKind:
		return rbac.Impersonate(rbac.ServiceAccountUser(s.Namespace, s.Name))
	}
	return rbac.Impersonate(s.Name)
}

// TestDiffRandomPairs checks, on random policies and random changes to
// them, that what Diff says each subject gains and loses is exactly the
// difference of what the two engines allow it, over random questions.
func TestDiffRandomPairs(t *testing.T) {
	seeds := 6
	if testing.Short() {
		seeds = 2
	}
	for seed := range uint64(seeds) {
		r := rand.New(rand.NewPCG(seed, 11))
		size := rbactest.Small
		gen := rbactest.Policy(r, size)
		old := rbac.Builtin()
		old.Merge(gen)
		new := rbac.Builtin()
		new.Merge(rbactest.Mutate(r, gen, size))
		oe := rbac.Compile(old, rbac.Options{NoNodeAuthorizer: true})
		ne := rbac.Compile(new, rbac.Options{NoNodeAuthorizer: true})
		d := rbac.Diff(oe, ne)
		if d.Gained == 0 || d.Lost == 0 {
			t.Fatalf("seed %d: a useless sample: %d gained, %d lost", seed, d.Gained, d.Lost)
		}
		v := size.Vocab()
		actions := make([]rbac.Action, 400)
		for i := range actions {
			actions[i] = v.Action(r)
		}
		checked := 0
		for _, sd := range d.Subjects {
			u := identity(sd.Subject)
			for _, a := range actions {
				was, is := oe.Allowed(u, a), ne.Allowed(u, a)
				gained := slices.ContainsFunc(sd.Gained, func(c rbac.Change) bool { return c.Allows(a) })
				lost := slices.ContainsFunc(sd.Lost, func(c rbac.Change) bool { return c.Allows(a) })
				if gained != (is && !was) || lost != (was && !is) {
					t.Fatalf("seed %d: %v: %s: before %v, after %v; diff says gained %v, lost %v", seed, sd.Subject, a, was, is, gained, lost)
				}
				checked++
			}
			for _, c := range sd.Gained {
				if len(c.Via) == 0 {
					t.Fatalf("seed %d: %v gains %s through nothing", seed, sd.Subject, c.Scoped)
				}
			}
		}
		// A user no binding names changes as system:authenticated does.
		listed := map[rbacv1.Subject]*rbac.SubjectDiff{}
		for i, sd := range d.Subjects {
			listed[sd.Subject] = &d.Subjects[i]
		}
		everyone := listed[rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: rbac.GroupAuthenticated}]
		for i := range 40 {
			u := rbac.Impersonate(fmt.Sprintf("unnamed-%d", i))
			for _, a := range actions {
				gained := everyone != nil && slices.ContainsFunc(everyone.Gained, func(c rbac.Change) bool { return c.Allows(a) })
				if was, is := oe.Allowed(u, a), ne.Allowed(u, a); gained != (is && !was) {
					t.Fatalf("seed %d: %s for %s: before %v, after %v, system:authenticated gains it %v", seed, a, u.Name, was, is, gained)
				}
			}
		}
		t.Logf("seed %d: %d subjects change, %d gains, %d losses, %d answers checked", seed, len(d.Subjects), d.Gained, d.Lost, checked)
	}
}

func TestDiffRisks(t *testing.T) {
	old := rbac.Builtin()
	new := rbac.Builtin()
	new.Merge(mustDecode(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secrets}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci-secrets}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secrets}
subjects: [{kind: ServiceAccount, name: ci, namespace: build}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web-secrets, namespace: web}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secrets}
subjects: [{kind: User, name: alice}]
`))
	d := rbac.Diff(rbac.Compile(old, rbac.Options{}), rbac.Compile(new, rbac.Options{}))
	if d.MaxRisk() != finding.High || d.Lost != 0 {
		t.Fatalf("max risk %q, %d lost", d.MaxRisk(), d.Lost)
	}
	for _, sd := range d.Subjects {
		for _, c := range sd.Gained {
			risky := len(c.Risks) > 0
			if want := c.Namespace == "" && c.Resource == "secrets"; risky != want {
				t.Errorf("%v %s: risks %v", sd.Subject, c.Scoped, c.Risks)
			}
		}
	}
	if len(d.Subjects) != 2 {
		t.Fatalf("subjects %v", d.Subjects)
	}
}
