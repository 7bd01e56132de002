package audit_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bulwark-k8s/bulwark/admins"
	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/audit"
	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/store"
)

// encrypt converts the tree's folder as `bulwark encrypt` does (every
// secret sealed to one administrator, the Pods' links removed) and makes
// its audits read it with that administrator's identity, or with none.
func (f *tree) encrypt(withIdentity bool) {
	f.t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		f.t.Fatal(err)
	}
	id, err := atrest.ParseIdentity(pem.EncodeToMemory(block))
	if err != nil {
		f.t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		f.t.Fatal(err)
	}
	rs, err := admins.ParseRecipients([]string{"alice=" + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))})
	if err != nil {
		f.t.Fatal(err)
	}
	d, err := store.Open(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := admins.Convert(d, rs, id, f.now); err != nil {
		f.t.Fatal(err)
	}
	if !withIdentity {
		id = nil
	}
	r, err := store.Open(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := admins.Open(r, id); err != nil {
		f.t.Fatal(err)
	}
	prev := f.opts
	f.opts = func(o *audit.Options) {
		if prev != nil {
			prev(o)
		}
		o.Secrets = r.Secrets
	}
}

// encryptedWeaknesses are the planted weaknesses run again on an
// encrypted folder: policies (plaintext files), the encryption
// configuration (a secret), cluster objects, keys and certificates,
// modes, flags.
var encryptedWeaknesses = []string{
	"encryption: identity first", "encryption: Secrets not covered", "encryption: aescbc", "audit policy that records nothing",
	"API server static token in system:masters", "a copy of the cluster CA key in a member's folder",
	"a copy of the etcd CA key beside the kubelet's configuration", "the service-account key is the cluster CA's key",
	"etcd trusts the cluster CA", "API server --anonymous-auth=true", "a leaf with an RSA 1024 key", "the cluster folder writable by everyone",
	"kubelet anonymous", "a bootstrap token for a year", "every authenticated user may edit", "a kubeconfig skips TLS verification", "admin.conf in system:masters", "the etcd CA is a copy of the cluster CA",
}

// TestPlantedWeaknessesEncrypted: in a folder encrypted at rest and
// audited with an identity, the planted weaknesses are found as in a
// plaintext one; a fresh encrypted folder has no finding above info, with
// or without an identity.
func TestPlantedWeaknessesEncrypted(t *testing.T) {
	for _, withID := range []bool{true, false} {
		clean := newTree(t)
		clean.encrypt(withID)
		for _, f := range clean.run().Findings {
			if f.Severity != finding.Info {
				t.Errorf("fresh encrypted folder (identity %v): %s %s: %s", withID, f.Severity, f.ID, f.Evidence)
			}
		}
	}
	ws := weaknesses()
	ran := 0
	for _, w := range ws {
		if !slices.ContainsFunc(encryptedWeaknesses, func(n string) bool { return strings.HasPrefix(w.name, n) }) {
			continue
		}
		ran++
		t.Run(w.name, func(t *testing.T) {
			f := newTree(t)
			w.plant(f)
			f.encrypt(true)
			r := f.run()
			if !slices.ContainsFunc(r.Findings, func(fd finding.Finding) bool {
				return slices.Contains(w.want, fd.ID) && fd.Severity.AtLeast(finding.Medium)
			}) {
				t.Errorf("want one of %v at medium or above; findings:", w.want)
				for _, fd := range r.Findings {
					t.Logf("  %s %s: %s", fd.Severity, fd.ID, fd.Evidence)
				}
			}
		})
	}
	if ran < 6 {
		t.Fatalf("only %d of the planted weaknesses matched %v", ran, encryptedWeaknesses)
	}
}
