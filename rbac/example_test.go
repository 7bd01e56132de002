package rbac_test

import (
	"fmt"

	"github.com/bulwark-k8s/bulwark/rbac"
)

const exampleManifests = `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web-editors, namespace: web}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {kind: Group, name: web-team}
- {kind: ServiceAccount, name: deployer}
`

// Load manifests over the built-in policy and ask what the API server
// would answer: the built-in ClusterRole edit is aggregated as the
// controller manager does it.
func Example() {
	p := rbac.Builtin()
	q, err := rbac.Decode([]byte(exampleManifests), "web.yaml", rbac.DecodeOptions{})
	if err != nil {
		panic(err)
	}
	p.Merge(q)
	e := rbac.Compile(p, rbac.Options{})

	sa := rbac.Impersonate("system:serviceaccount:web:deployer") // kubectl --as
	d := e.Check(sa, rbac.Action{Verb: "patch", APIGroup: "apps", Resource: "deployments", Subresource: "scale", Namespace: "web"})
	fmt.Println(d.Allowed, d.Paths[0].Binding, d.Paths[0].Role, "from", d.Paths[0].AggregatedFrom)

	d = e.Check(sa, rbac.Action{Verb: "get", Resource: "secrets", Namespace: "kube-system"})
	fmt.Println(d.Allowed, d.Reason)
	// Output:
	// true RoleBinding web/web-editors ClusterRole edit from system:aggregate-to-edit
	// false no RBAC rule allows it
}

// Every subject that may read Secrets in namespace web, each once.
func ExampleEngine_WhoCan() {
	p := rbac.Builtin()
	q, _ := rbac.Decode([]byte(exampleManifests), "web.yaml", rbac.DecodeOptions{})
	p.Merge(q)
	w := rbac.Compile(p, rbac.Options{}).WhoCan(rbac.Action{Verb: "get", Resource: "secrets", Namespace: "web"})
	for _, a := range w.Access {
		fmt.Println(a.Subject.Kind, a.Subject.Namespace, a.Subject.Name, a.By)
	}
	fmt.Println("nodes:", w.Nodes)
	// Output:
	// Group  system:masters system:masters
	// Group  web-team RBAC
	// User  system:kube-controller-manager RBAC
	// ServiceAccount kube-system generic-garbage-collector RBAC
	// ServiceAccount kube-system namespace-controller RBAC
	// ServiceAccount web deployer RBAC
	// nodes: depends
}
