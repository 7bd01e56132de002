package admins

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/sshsig"
	"github.com/bulwark-k8s/bulwark/store"
)

var now = time.Date(2031, 3, 14, 15, 9, 26, 0, time.UTC)

func edIdentity(t *testing.T) *atrest.Identity {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	id, err := atrest.ParseIdentity(pem.EncodeToMemory(block))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// encryptedTree is a folder made by init, encrypted to alice and carol.
func encryptedTree(t *testing.T) (*Tree, *atrest.Identity, *atrest.Identity) {
	t.Helper()
	alice, carol := edIdentity(t), edIdentity(t)
	d, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	tr, err := Bootstrap(d, []NamedRecipient{{"alice", alice.Public}, {"carol", carol.Public}}, alice, now)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(config.Default("cp-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provision.Init(d, p, provision.Options{Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	return tr, alice, carol
}

// request signs a request body as NewRequest does, but with any CSR
// subject: what a hostile requester can send.
func request(t *testing.T, signer ssh.Signer, name string, groups []string, created time.Time) []byte {
	t.Helper()
	key, err := newECDSA()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: UserName(name), Organization: groups}}, key)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := atrest.FromSSH(signer.PublicKey())
	body, err := yaml.Marshal(Request{APIVersion: apiVersion, Kind: kindRequest, Name: name, Key: pub.Key, Created: created,
		CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := sshsig.Sign(signer, NamespaceRequest, body)
	if err != nil {
		t.Fatal(err)
	}
	return append(body, sig...)
}

// TestSignRefuses: requests for system:masters (or any system: group or
// unbound group), expired, from the future, for an unenrolled name, or
// signed by another key are refused, and nothing is logged.
func TestSignRefuses(t *testing.T) {
	tr, alice, carol := encryptedTree(t)
	mallory := edIdentity(t)
	for name, c := range map[string]struct {
		req  []byte
		opts SignOptions
		want error
	}{
		"CSR asks for system:masters":  {request(t, carol.Signer, "carol", []string{"system:masters"}, now), SignOptions{}, ErrGroup},
		"approver adds system:masters": {request(t, carol.Signer, "carol", nil, now), SignOptions{Groups: []string{"system:masters"}}, ErrGroup},
		"CSR asks for system:nodes":    {request(t, carol.Signer, "carol", []string{"system:nodes"}, now), SignOptions{}, ErrGroup},
		"group bound by nothing":       {request(t, carol.Signer, "carol", []string{"friends"}, now), SignOptions{}, ErrGroup},
		"expired request":              {request(t, carol.Signer, "carol", nil, now.Add(-MaxRequestAge-time.Second)), SignOptions{}, ErrRequest},
		"request from the future":      {request(t, carol.Signer, "carol", nil, now.Add(time.Hour)), SignOptions{}, ErrRequest},
		"not enrolled":                 {request(t, mallory.Signer, "mallory", nil, now), SignOptions{}, ErrRequest},
		"signed by a non-enrolled key": {request(t, mallory.Signer, "carol", nil, now), SignOptions{}, ErrRequest},
		"unsigned":                     {[]byte("apiVersion: x\n"), SignOptions{}, ErrRequest},
	} {
		c.opts.Now = now
		tr.Identity = alice
		if _, err := tr.Sign(c.req, c.opts); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if log, err := ReadLog(tr.D, tr.History); err != nil || len(log) != 0 {
		t.Fatalf("refusals logged: %v %v", log, err)
	}
	iss, err := tr.Sign(request(t, carol.Signer, "carol", nil, now), SignOptions{Now: now, TTL: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got := iss.Cert.NotAfter.Sub(now); got != 2*time.Minute || strings.Join(iss.Cert.Subject.Organization, ",") != plan.GroupClusterAdmins {
		t.Fatalf("issued %v for %v", iss.Cert.Subject, got)
	}
}

// TestIssuanceLogChain: every change to the log — an entry edited,
// removed from the middle, reordered, re-signed by a non-administrator —
// breaks its verification.
func TestIssuanceLogChain(t *testing.T) {
	tr, alice, carol := encryptedTree(t)
	tr.Identity = alice
	for i := range 3 {
		if _, err := tr.Sign(request(t, carol.Signer, "carol", nil, now.Add(time.Duration(i)*time.Second)), SignOptions{Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := VerifyIssuanceLog(tr.D); err != nil || n != 3 {
		t.Fatalf("VerifyIssuanceLog = %d, %v", n, err)
	}
	good, err := tr.D.Read(layout.IssuanceLogFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(good, []byte("\n"))[:3]
	mallory := edIdentity(t)
	if err := tr.D.Remove(layout.IssuanceLogFile); err != nil {
		t.Fatal(err)
	}
	if _, err := appendLog(tr.D, nil, Issuance{Serial: "01", Subject: UserName("mallory"), Approver: "alice"}, mallory.Signer); err != nil {
		t.Fatal(err)
	}
	byMallory, _ := tr.D.Read(layout.IssuanceLogFile)
	for name, data := range map[string][]byte{
		"edited":                bytes.Replace(good, []byte(`"lifetime":"8h0m0s"`), []byte(`"lifetime":"1h0m0s"`), 1),
		"middle removed":        append(append([]byte{}, lines[0]...), lines[2]...),
		"reordered":             append(append(append([]byte{}, lines[1]...), lines[0]...), lines[2]...),
		"truncated line":        good[:len(good)-10],
		"signed by an outsider": byMallory,
	} {
		if err := tr.D.Replace(layout.IssuanceLogFile, data, layout.IssuanceLog.Mode()); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyIssuanceLog(tr.D); !errors.Is(err, ErrChain) {
			t.Errorf("%s: %v, want ErrChain", name, err)
		}
	}
}

// TestManifestRefused: versions not signed by an administrator of the
// version before, out of sequence, or not naming it, are refused.
func TestManifestRefused(t *testing.T) {
	tr, alice, _ := encryptedTree(t)
	mallory := edIdentity(t)
	cur := tr.History.Current()
	head, err := headDigest(tr.D)
	if err != nil || head == "" {
		t.Fatalf("no head: %v", err)
	}
	next := func(signer *atrest.Identity, signedBy, previous string, serial int) []byte {
		m := &Manifest{APIVersion: apiVersion, Kind: kindManifest, Serial: serial, Previous: previous, Time: now, Change: "add mallory", SignedBy: signedBy,
			Holders: append(append([]Holder{}, cur.Holders...), Holder{Name: "mallory", Key: mallory.Public.Key, Role: RoleAdmin}),
			Format:  formatDigests, Head: head}
		data, err := m.encode(signer)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for name, data := range map[string][]byte{
		"signed by the newcomer":        next(mallory, "mallory", cur.digest, 2),
		"claims another signer":         next(alice, "carol", cur.digest, 2),
		"does not name its predecessor": next(alice, "alice", "sha256:00", 2),
		"wrong serial":                  next(alice, "alice", cur.digest, 3),
	} {
		if err := tr.D.Replace(layout.RecipientsFile(2), data, layout.RecipientsManifest.Mode()); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadHistory(tr.D); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want ErrRefused", name, err)
		}
	}
	if err := tr.D.Replace(layout.RecipientsFile(2), next(alice, "alice", cur.digest, 2), layout.RecipientsManifest.Mode()); err != nil {
		t.Fatal(err)
	}
	if h, err := LoadHistory(tr.D); err != nil || len(h) != 2 {
		t.Fatalf("a valid version refused: %v", err)
	}
}

func newECDSA() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }
