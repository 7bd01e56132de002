package bootstraptoken_test

import (
	"slices"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/bootstraptoken"
)

// FuzzUnmarshalSecret: no input panics, and a token read from a manifest
// survives MarshalSecret → UnmarshalSecret unchanged.
func FuzzUnmarshalSecret(f *testing.F) {
	for _, groups := range [][]string{nil, {"system:bootstrappers:workers", "system:bootstrappers:gpu"}} {
		tok, err := bootstraptoken.New(time.Now(), 24*time.Hour, nil, groups, "kubelet TLS bootstrap, made by bulwark init")
		if err != nil {
			f.Fatal(err)
		}
		data, err := tok.MarshalSecret()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// As kubeadm writes it (base64 data, no description).
	f.Add([]byte(`apiVersion: v1
kind: Secret
metadata:
  name: bootstrap-token-abcdef
  namespace: kube-system
type: bootstrap.kubernetes.io/token
data:
  auth-extra-groups: c3lzdGVtOmJvb3RzdHJhcHBlcnM6a3ViZWFkbTpkZWZhdWx0LW5vZGUtdG9rZW4=
  expiration: MjAyNy0wMS0wMVQwMDowMDowMFo=
  token-id: YWJjZGVm
  token-secret: MDEyMzQ1Njc4OWFiY2RlZg==
  usage-bootstrap-authentication: dHJ1ZQ==
  usage-bootstrap-signing: dHJ1ZQ==
`))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"bootstrap-token-abcdef"},"type":"bootstrap.kubernetes.io/token","data":{"token-id":"YWJjZGVm","token-secret":"MDEyMzQ1Njc4OWFiY2RlZg=="}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := bootstraptoken.UnmarshalSecret(data)
		if err != nil {
			return
		}
		if _, err := bootstraptoken.Parse(tok.String()); err != nil {
			t.Fatalf("accepted a malformed token: %v", err)
		}
		out, err := tok.MarshalSecret()
		if err != nil {
			t.Fatalf("MarshalSecret: %v", err)
		}
		back, err := bootstraptoken.UnmarshalSecret(out)
		if err != nil {
			t.Fatalf("marshalled Secret does not read back: %v\n%s", err, out)
		}
		if back.ID != tok.ID || back.Secret != tok.Secret || back.Description != tok.Description ||
			!slices.Equal(back.Usages, tok.Usages) || !slices.Equal(back.ExtraGroups, tok.ExtraGroups) {
			t.Fatalf("round trip changed the token:\n got %+v\nwant %+v", back, tok)
		}
		if !back.Expires.Equal(tok.Expires) {
			t.Fatalf("round trip changed the expiration: %s → %s", tok.Expires, back.Expires)
		}
	})
}
