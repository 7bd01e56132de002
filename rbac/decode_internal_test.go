package rbac

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// decodeBoth decodes data the fast way and the reference way.
func decodeBoth(data []byte) (fast, ref *Policy, fastErr, refErr error) {
	fast, fastErr = Decode(data, "in.yaml", DecodeOptions{})
	ref, refErr = Decode(data, "in.yaml", DecodeOptions{referenceOnly: true})
	return
}

func sameDecode(t *testing.T, data []byte) {
	t.Helper()
	fast, ref, fastErr, refErr := decodeBoth(data)
	if (fastErr == nil) != (refErr == nil) || fastErr != nil && fastErr.Error() != refErr.Error() {
		t.Fatalf("errors differ on %q:\nfast:      %v\nreference: %v", data, fastErr, refErr)
	}
	if fastErr == nil && !reflect.DeepEqual(fast, ref) {
		t.Fatalf("policies differ on %q:\nfast:      %+v\nreference: %+v", data, fast, ref)
	}
}

// Documents that the fast reading must decode exactly as the reference
// does, or leave to it: YAML 1.1 scalars that YAML 1.2 reads otherwise,
// nulls, empty lists, aliases, tags, duplicate keys, unknown fields, Lists.
var decodeCases = []string{
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, labels: {a: b}}\nrules:\n- {apiGroups: [''], resources: [pods], verbs: [get]}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: yes}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: on}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: 1_000}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: 2001-12-14}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: '0x1F'}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: null\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: []\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: [null]\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: [{verbs: [null]}]\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: [{verbs: []}]\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: &a r}\nrules: [{verbs: [*a]}]\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: !!str 12}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, name: s}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {Name: r}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, creationTimestamp: null}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, creationTimestamp: '2020-01-01T00:00:00Z'}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\naggregationRule: {clusterRoleSelectors: [{matchLabels: {a: b}}, {matchExpressions: [{key: k, operator: In, values: [x]}]}]}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\naggregationRule: null\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nsubjects: []\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b}\nroleRef: {kind: Role, name: r, apiGroup: rbac.authorization.k8s.io}\nsubjects: [{kind: User, name: u}, {kind: ServiceAccount, name: s}]\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b}\nroleRef: null\nsubjects: null\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b}\nrules: []\n",
	"apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: Role\nmetadata: {name: r}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: Rolle\nmetadata: {name: r}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {}\n",
	"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: rbac.authorization.k8s.io/v1, kind: Role, metadata: {name: a}}\n- {apiVersion: rbac.authorization.k8s.io/v1, kind: Role, metadata: {name: a, namespace: x}, rules: [{verbs: [get]}]}\n- null\n",
	"apiVersion: v1\nkind: List\nitems: null\n",
	"apiVersion: v1\nkind: List\nitems: 3\n",
	"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: rbac.authorization.k8s.io/v1, kind: Role, metadata: {name: a}, x: 1}\n",
	"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 3}\n",
	"apiVersion: 1\nkind: Role\n",
	"hello\n",
	"null\n",
	"- a\n- b\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n<<: {rules: []}\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: |\n    multi\n    line\n",
	"---\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n--- # c\n# only a comment\n---\n\n",
	"apiVersion: rbac.authorization.k8s.io/v1\r\nkind: ClusterRole\r\nmetadata: {name: r}\r\n---\r\napiVersion: rbac.authorization.k8s.io/v1\r\nkind: Role\r\nmetadata: {name: q}\r\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n----\n",
	"--- x\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n...\napiVersion: v1\n",
	`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"x"}}`,
}

func TestDecodeFastEqualsReference(t *testing.T) {
	for _, c := range decodeCases {
		sameDecode(t, []byte(c))
	}
}

// FuzzDecodeFastEqualsReference: on any input, the fast reading of YAML
// gives the reference's objects and errors.
func FuzzDecodeFastEqualsReference(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		sameDecode(t, data)
	})
}

// Random policies written as YAML decode alike both ways.
func TestDecodeFastEqualsReferenceRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var b strings.Builder
	for range 200 {
		b.Reset()
		b.WriteString("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: ")
		b.WriteString(randomScalar(r))
		b.WriteString("\n  labels:\n    ")
		b.WriteString(randomScalar(r) + ": " + randomScalar(r))
		b.WriteString("\nrules:\n- verbs: [" + randomScalar(r) + ", " + randomScalar(r) + "]\n  resources: [" + randomScalar(r) + "]\n")
		sameDecode(t, []byte(b.String()))
	}
}

func randomScalar(r *rand.Rand) string {
	words := []string{"get", "yes", "No", "on", "OFF", "y", "~", "null", "1", "1.5", "0x10", "1_0", "-", "-a", ".inf", "+1", "a:b", "'q'", `"d"`,
		"2001-01-01", "*", `"*"`, "<<", "=", "true", "pods/log", "a b", "#c", "''", "é", "!!str x", "[a]", "{a: b}"}
	return words[r.IntN(len(words))]
}
