package bench

import (
	"os"
	"testing"

	"github.com/bulwark-k8s/bulwark/rbac"
)

func BenchmarkZZLoad(b *testing.B) {
	f := largePolicy(b)
	for b.Loop() {
		data, _ := os.ReadFile(f.file)
		q, err := rbac.Decode(data, f.file, rbac.DecodeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		p := rbac.Builtin()
		p.Merge(q)
		e := rbac.Compile(p, rbac.Options{})
		e.Allowed(rbac.Impersonate("user-1"), rbac.Action{Verb: "get", Resource: "secrets", Namespace: "ns-1"})
	}
}
