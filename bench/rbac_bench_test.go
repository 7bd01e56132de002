package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-k8s/bulwark/rbac"
	"github.com/bulwark-k8s/bulwark/rbac/rbactest"
)

// The RBAC benchmarks run on rbactest.Large: about 100k rules in 300
// namespaces, thousands of roles and bindings, with the built-in policy.
// The comparison with the upstream authorizer, which needs
// k8s.io/kubernetes, lives in tools/rbac/upstream on the same generated
// policies (three shapes, 10k and 100k rules); these measure what a user
// runs: the library and the commands, as processes.

type rbacFixture struct {
	file    string // the generated policy as YAML manifests
	engine  *rbac.Engine
	users   []rbac.User
	actions []rbac.Action
}

var (
	rbacOnce sync.Once
	rbacFix  *rbacFixture
	rbacErr  error
)

func largePolicy(b *testing.B) *rbacFixture {
	b.Helper()
	rbacOnce.Do(func() {
		r := rand.New(rand.NewPCG(1, 0xbe4c))
		gen := rbactest.Policy(r, rbactest.Large)
		data, err := rbactest.YAML(gen)
		if err != nil {
			rbacErr = err
			return
		}
		dir, err := os.MkdirTemp("", "bulwark-rbac-bench")
		if err != nil {
			rbacErr = err
			return
		}
		f := &rbacFixture{file: filepath.Join(dir, "policy.yaml")}
		if rbacErr = os.WriteFile(f.file, data, 0o600); rbacErr != nil {
			return
		}
		p := rbac.Builtin()
		p.Merge(gen)
		f.engine = rbac.Compile(p, rbac.Options{})
		v := rbactest.Large.Vocab()
		f.users = v.Identities(r, 200)
		for range 500 {
			f.actions = append(f.actions, v.Action(r))
		}
		rbacFix = f
	})
	if rbacErr != nil {
		b.Fatal(rbacErr)
	}
	return rbacFix
}

// BenchmarkRBACLoad reads the manifests, merges them over the built-in
// policy and compiles them (aggregation, indexes).
func BenchmarkRBACLoad(b *testing.B) {
	f := largePolicy(b)
	data, err := os.ReadFile(f.file)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		q, err := rbac.Decode(data, f.file, rbac.DecodeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		p := rbac.Builtin()
		p.Merge(q)
		rbac.Compile(p, rbac.Options{})
	}
}

// BenchmarkRBACCanI answers one question with its reason.
func BenchmarkRBACCanI(b *testing.B) {
	f := largePolicy(b)
	i := 0
	for b.Loop() {
		f.engine.Authorize(f.users[i%len(f.users)], f.actions[(i/len(f.users))%len(f.actions)])
		i++
	}
}

// BenchmarkRBACWhoCan lists the subjects of one question.
func BenchmarkRBACWhoCan(b *testing.B) {
	f := largePolicy(b)
	i := 0
	for b.Loop() {
		f.engine.WhoCan(f.actions[i%len(f.actions)])
		i++
	}
}

// BenchmarkRBACCommand runs the commands on the manifests (about 15 MB),
// as a user does: start-up, load, compile, answer: one can-i question,
// can-i --list, who-can (which indexes every rule), and 1,000 questions
// through can-i --batch.
func BenchmarkRBACCommand(b *testing.B) {
	f := largePolicy(b)
	bin := buildBin(b, "cmd/bulwark")
	var batch strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&batch, "get\tsecrets\t\tns-%d\tuser-%d\n", i%300, i)
	}
	for _, c := range []struct {
		name  string
		args  []string
		stdin string
	}{
		{"can-i", []string{"can-i", "get", "secrets", "-n", "ns-1", "--as", "user-1", "-q"}, ""},
		{"can-i-list", []string{"can-i", "--list", "-A", "--as", "user-1", "-o", "json"}, ""},
		{"who-can", []string{"who-can", "get", "secrets", "-n", "ns-1", "-o", "json"}, ""},
		{"can-i-batch-1000", []string{"can-i", "--batch", "-", "-o", "json"}, batch.String()},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command(bin, append(c.args, "-f", f.file)...)
				cmd.Stdin = strings.NewReader(c.stdin)
				if err := cmd.Run(); err != nil {
					var exit *exec.ExitError
					if !errors.As(err, &exit) || exit.ExitCode() != 1 {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
