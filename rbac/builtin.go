package rbac

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
)

//go:generate sh -c "cd ../tools/rbac && go run ./builtin -o ../../rbac/builtin.json"

// builtinJSON is the built-in policy of the pinned Kubernetes release, as
// kube-apiserver's RBAC post-start hook creates it at start-up, generated
// from k8s.io/kubernetes's bootstrappolicy package by tools/rbac/builtin.
//
//go:embed builtin.json
var builtinJSON []byte

type builtinFile struct {
	KubernetesVersion   string                      `json:"kubernetesVersion"`
	ClusterRoles        []rbacv1.ClusterRole        `json:"clusterRoles"`
	ClusterRoleBindings []rbacv1.ClusterRoleBinding `json:"clusterRoleBindings"`
	Roles               []rbacv1.Role               `json:"roles"`
	RoleBindings        []rbacv1.RoleBinding        `json:"roleBindings"`
	NodeRules           []rbacv1.PolicyRule         `json:"nodeRules"`
}

var builtin = sync.OnceValue(func() *builtinFile {
	var b builtinFile
	if err := json.Unmarshal(builtinJSON, &b); err != nil {
		panic(fmt.Sprintf("rbac: embedded built-in policy: %v", err))
	}
	return &b
})

// BuiltinSource is the Policy.Sources value of built-in objects.
const BuiltinSource = "built-in"

// LabelBootstrapping marks the objects of the built-in policy, as the API
// server labels them.
const LabelBootstrapping = "kubernetes.io/bootstrapping"

// KubernetesVersion is the release whose built-in policy and authorizer
// behaviour this package reproduces.
func KubernetesVersion() string { return builtinVersion() }

// builtinVersion reads the version from the head of the embedded file,
// without decoding the policy: help texts name it, and every command builds
// them.
var builtinVersion = sync.OnceValue(func() string {
	dec := json.NewDecoder(bytes.NewReader(builtinJSON))
	if _, err := dec.Token(); err != nil { // {
		panic(fmt.Sprintf("rbac: embedded built-in policy: %v", err))
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			panic(fmt.Sprintf("rbac: embedded built-in policy: %v", err))
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			panic(fmt.Sprintf("rbac: embedded built-in policy: %v", err))
		}
		if key == "kubernetesVersion" {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				panic(fmt.Sprintf("rbac: embedded built-in policy: %v", err))
			}
			return s
		}
	}
	panic("rbac: embedded built-in policy has no kubernetesVersion")
})

// Builtin returns a fresh copy of the built-in policy: the cluster roles
// and cluster role bindings (with the controllers'), and the roles and
// role bindings of kube-system and kube-public, as kube-apiserver creates
// them at start-up with its default feature gates. The aggregated roles
// (admin, edit, view...) have no rules here: Compile aggregates them.
func Builtin() *Policy {
	b := builtin()
	p := &Policy{}
	for i := range b.ClusterRoles {
		_ = p.Add(b.ClusterRoles[i].DeepCopy(), BuiltinSource)
	}
	for i := range b.ClusterRoleBindings {
		_ = p.Add(b.ClusterRoleBindings[i].DeepCopy(), BuiltinSource)
	}
	for i := range b.Roles {
		_ = p.Add(b.Roles[i].DeepCopy(), BuiltinSource)
	}
	for i := range b.RoleBindings {
		_ = p.Add(b.RoleBindings[i].DeepCopy(), BuiltinSource)
	}
	return p
}

// NodeRules are the rules the Node authorizer applies to every node for the
// requests it does not subdivide by the node's graph of Pods.
func NodeRules() []rbacv1.PolicyRule {
	b := builtin()
	out := make([]rbacv1.PolicyRule, len(b.NodeRules))
	for i := range b.NodeRules {
		b.NodeRules[i].DeepCopyInto(&out[i])
	}
	return out
}

// IsBuiltin reports whether an object is part of the built-in policy: it has
// the built-in policy's label and a built-in name.
func IsBuiltin(r Ref, labels map[string]string) bool {
	if labels[LabelBootstrapping] != "rbac-defaults" {
		return false
	}
	return builtinNames()[r]
}

var builtinNames = sync.OnceValue(func() map[Ref]bool {
	b := builtin()
	m := map[Ref]bool{}
	for _, o := range b.ClusterRoles {
		m[Ref{KindClusterRole, "", o.Name}] = true
	}
	for _, o := range b.ClusterRoleBindings {
		m[Ref{KindClusterRoleBinding, "", o.Name}] = true
	}
	for _, o := range b.Roles {
		m[Ref{KindRole, o.Namespace, o.Name}] = true
	}
	for _, o := range b.RoleBindings {
		m[Ref{KindRoleBinding, o.Namespace, o.Name}] = true
	}
	return m
})
