package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/internal/pinned"
	"github.com/bulwark-k8s/bulwark/pki"
)

// TestRotateUnderLoad rotates all five trust roots of a running
// three-node control plane (three etcd members, API servers on two nodes,
// controller manager and scheduler), each through trust, reissue and
// finish, while a load generator keeps every channel busy: reads through
// admin.conf against both API servers with failover, etcd reads with the
// API server's etcd client certificate against every member, requests
// through the front-proxy path, and requests with a ServiceAccount token
// made before the rotation. A harness plays each node's kubelet: after a
// step it restarts, node by node, the components whose manifest changed.
// Every step is run with --live, and a step whose previous step is not yet
// live is refused. No request may fail for a TLS or authentication reason.
// After each finish the old credentials are refused, and no file of the
// folder holds the old CA or key. A kubelet-style CSR made after the
// cluster CA's reissue is signed by the new CA.
func TestRotateUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node control plane for several minutes")
	}
	began := time.Now()
	p := startPlane(t)
	t.Logf("control plane up in %s", time.Since(began).Round(time.Second))
	pinned.WaitFor(t, "default ServiceAccount", 2*time.Minute, func() error {
		_, err := pinned.Run(t.Context(), pinned.Path(t, "kubectl"), "--kubeconfig", p.path("admin.conf"), "get", "serviceaccount", "default", "-n", "default")
		return err
	})
	oldToken := strings.TrimSpace(p.kubectl("admin.conf", "create", "token", "default", "-n", "default", "--duration=2h"))
	l := p.startLoad(oldToken)
	stopped := false
	defer func() {
		if !stopped {
			l.stopLoad()
		}
	}()
	live := []string{"--live", "--kubeconfig", p.path("admin.conf"),
		"--apiserver", strings.Join(p.APIServers(), ","), "--etcd-endpoints", strings.Join(p.EtcdClients(), ","),
		"--etcd-peer-endpoints", strings.Join(p.EtcdPeers(), ",")}
	timings := map[string]time.Duration{}
	for _, root := range []string{"front-proxy-ca", "ca", "etcd-ca", "etcd-peer-ca", "sa"} {
		old := p.saveOld(root)
		if root == "sa" {
			// The token made before any rotation, used by the load until
			// the finish.
			old.token = oldToken
		}
		for _, step := range []string{"trust", "reissue", "finish"} {
			l.setPhase(root + " " + step)
			changed := p.manifestsChanged()
			if step != "trust" && changed && (step == "reissue" || root == "sa") {
				// The kubelets have not restarted anything yet: the
				// cluster does not serve what the last step wrote.
				r := rotateRun(append([]string{"rotate", root, "--dir", p.dir, "--step", step}, live...)...)
				if r.code != cli.ExitError || !strings.Contains(r.stderr, "does not yet serve and trust") {
					t.Fatalf("%s %s started before the components took the previous step: exit %d\n%s%s", root, step, r.code, r.stdout, r.stderr)
				}
			}
			if step != "trust" {
				restarted := p.kubelets()
				t.Logf("%s: before %s, the kubelets restarted %v", root, step, restarted)
			}
			if root == "ca" && step == "finish" {
				p.csrSignedByNew(t, old.ca)
				// Kubelets would still hold client certificates of the old
				// CA for up to --cluster-signing-duration: the finish waits
				// for them unless forced (this cluster has no kubelet).
				r := rotateRun(append([]string{"rotate", "ca", "--dir", p.dir}, live...)...)
				if r.code != cli.ExitError || !strings.Contains(r.stderr, "kubelets may still use client certificates") {
					t.Fatalf("ca finish without --force: exit %d\n%s%s", r.code, r.stdout, r.stderr)
				}
			}
			if root == "sa" && step == "finish" {
				r := rotateRun(append([]string{"rotate", "sa", "--dir", p.dir}, live...)...)
				if r.code != cli.ExitError || !strings.Contains(r.stderr, "may be valid until") {
					t.Fatalf("sa finish without --force: exit %d\n%s%s", r.code, r.stdout, r.stderr)
				}
				// The kubelet renews Pods' tokens: from the new key now.
				l.setToken(strings.TrimSpace(p.kubectl("admin.conf", "create", "token", "default", "-n", "default", "--duration=1h")))
			}
			args := append([]string{"rotate", root, "--dir", p.dir, "--step", step}, live...)
			if step == "finish" && (root == "sa" || root == "ca") {
				args = append(args, "--force")
			}
			start := time.Now()
			var out string
			pinned.WaitFor(t, root+" "+step+" (live)", 4*time.Minute, func() error {
				r := rotateRun(args...)
				switch r.code {
				case cli.ExitOK:
					out = r.stdout
					return nil
				case cli.ExitError:
					return fmt.Errorf("%s", strings.TrimSpace(r.stderr))
				}
				t.Fatalf("bulwark %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
				return nil
			})
			timings[root+" "+step] = time.Since(start)
			if !strings.Contains(out, root+": "+step+" step done") {
				t.Fatalf("%s %s:\n%s", root, step, out)
			}
		}
		l.setPhase(root + " after finish")
		restarted := p.kubelets()
		t.Logf("%s: after finish, the kubelets restarted %v", root, restarted)
		p.checkOldRefused(t, root, old)
		if files := holdingKey(t, p.dir, old.spki); len(files) > 0 {
			t.Errorf("%s: after finish the old key is still in %v", root, files)
		}
	}
	l.stopLoad()
	stopped = true
	p.checkTokenRotate(t)
	t.Logf("load: %s", l.summary())
	t.Logf("restarts: %v", p.restarts)
	var steps []string
	for k, v := range timings {
		steps = append(steps, fmt.Sprintf("%s %s", k, v.Round(100*time.Millisecond)))
	}
	slices.Sort(steps)
	t.Logf("steps (until live and done): %s; whole test %s", strings.Join(steps, ", "), time.Since(began).Round(time.Second))
	// A restarting API server is left by the clients until it is ready:
	// none may answer 403 either (an authorizer not yet synced).
	for _, f := range l.forbidden {
		t.Errorf("forbidden: %s %s to %s during %s: %s", f.at.Format(time.RFC3339Nano), f.channel, f.endpoint, f.phase, f.detail)
	}
	for _, f := range l.failures {
		t.Errorf("%s: %s request to %s refused during %s: %s", f.at.Format(time.RFC3339Nano), f.channel, f.endpoint, f.phase, f.detail)
	}
	for _, ch := range []string{"admin.conf", "etcd", "front-proxy", "serviceaccount-token"} {
		if l.counts[ch][ok] < 100 {
			t.Errorf("%s: only %d requests succeeded: the load did not run", ch, l.counts[ch][ok])
		}
	}
}

type runResult struct {
	code           int
	stdout, stderr string
}

func rotateRun(args ...string) runResult {
	var out, errb bytes.Buffer
	env := cli.Env{Now: time.Now, Hostname: func() (string, error) { return "node-a", nil }, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}
	code := cli.Run(env, args)
	return runResult{code, out.String(), errb.String()}
}

// manifestsChanged reports whether a running component's manifest changed.
func (p *plane) manifestsChanged() bool {
	for _, r := range p.comps {
		if !bytes.Equal(mustRead(p.path(r.manifest)), r.seen) {
			return true
		}
	}
	return false
}

// oldCreds are a root's credentials from before its rotation.
type oldCreds struct {
	spki      []byte            // the old CA's (or key's) public key
	ca        *x509.Certificate // the old CA
	adminConf []byte
	cert, key []byte
	token     string
}

func (p *plane) saveOld(root string) oldCreds {
	t := p.t
	var o oldCreds
	trust := map[string]string{"ca": "pki/ca.crt", "etcd-ca": "pki/etcd/ca.crt", "etcd-peer-ca": "pki/etcd/peer-ca.crt", "front-proxy-ca": "pki/front-proxy-ca.crt"}[root]
	if root == "sa" {
		block, _ := pem.Decode(mustRead(p.path("pki/sa.pub")))
		o.spki = block.Bytes
		return o
	}
	c, err := pki.ParseCert(mustRead(p.path(trust)))
	if err != nil {
		t.Fatal(err)
	}
	o.ca, o.spki = c, c.RawSubjectPublicKeyInfo
	leaf := map[string]string{"ca": "", "etcd-ca": "pki/apiserver-etcd-client", "etcd-peer-ca": "pki/etcd/cp-1/peer", "front-proxy-ca": "pki/front-proxy-client"}[root]
	if leaf != "" {
		o.cert, o.key = mustRead(p.path(leaf+".crt")), mustRead(p.path(leaf+".key"))
	}
	o.adminConf = mustRead(p.path("admin.conf"))
	return o
}

// checkOldRefused: after a root's finish, what the old CA (or key) signed
// opens nothing.
func (p *plane) checkOldRefused(t *testing.T, root string, o oldCreds) {
	insecure := func(cert, key []byte) *http.Client {
		cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} // the client's own certificate is what is checked
		if cert != nil {
			pair, err := tls.X509KeyPair(cert, key)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		return pinned.HTTPClient(cfg)
	}
	want := func(what string, err error, status int) {
		if classify(err, status) != refused {
			t.Errorf("%s after finish: %v (HTTP %d), want a TLS or authentication refusal", what, err, status)
		}
	}
	switch root {
	case "ca":
		cfg, err := clientcmd.Load(o.adminConf)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range cfg.AuthInfos {
			for _, api := range p.APIServers() {
				// With its own (old) CA it cannot trust the server...
				pool := x509.NewCertPool()
				pool.AddCert(o.ca)
				pair, _ := tls.X509KeyPair(a.ClientCertificateData, a.ClientKeyData)
				status, err := get(pinned.HTTPClient(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}), api+"/api/v1/namespaces", nil)
				want("the old admin.conf (its CA)", err, status)
				// ...and the server does not trust its certificate, once it
				// has read its client CA file again: at once when the file
				// changes under its watch, else within a minute (the API
				// server's CA files are also read again every minute,
				// dynamiccertificates.FileRefreshDuration; a replaced link
				// of a Pod's folder can leave its watch on the old inode).
				client := insecure(a.ClientCertificateData, a.ClientKeyData)
				pinned.WaitFor(t, "the old admin.conf's client certificate refused at "+api, 90*time.Second, func() error {
					status, err := get(client, api+"/api/v1/namespaces", nil)
					if err != nil || status != http.StatusUnauthorized {
						return fmt.Errorf("%v (HTTP %d), want 401", err, status)
					}
					return nil
				})
			}
		}
	case "etcd-ca":
		for _, ep := range p.EtcdClients() {
			_, err := pinned.EtcdGet(insecure(o.cert, o.key), ep, "/registry/namespaces/default")
			want("the old apiserver-etcd-client at "+ep, err, 0)
		}
	case "etcd-peer-ca":
		for _, ep := range p.EtcdPeers() {
			status, err := get(insecure(o.cert, o.key), ep+"/version", nil)
			want("the old peer certificate at "+ep, err, status)
		}
	case "front-proxy-ca":
		// No component restarts for this finish: the API server reads its
		// request-header CA file again by itself, at once when the file
		// changes under its watch, else within a minute (as for the
		// client CA above).
		client := insecure(o.cert, o.key)
		h := http.Header{"X-Remote-User": {"kubernetes-admin"}, "X-Remote-Group": {"bulwark:cluster-admins"}}
		for _, api := range p.APIServers() {
			pinned.WaitFor(t, "the old front-proxy-client refused at "+api, 90*time.Second, func() error {
				status, err := get(client, api+"/api/v1/namespaces/default", h)
				if classify(err, status) != refused {
					return fmt.Errorf("%v (HTTP %d), want a TLS or authentication refusal", err, status)
				}
				return nil
			})
		}
	case "sa":
		client, err := tlsClient(p.path("pki/ca.crt"), "", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, api := range p.APIServers() {
			status, err := get(client, api+"/api/v1/namespaces/default/serviceaccounts/default", http.Header{"Authorization": {"Bearer " + o.token}})
			if err != nil || status != http.StatusUnauthorized {
				t.Errorf("a token of the old key at %s: %v (HTTP %d), want 401", api, err, status)
			}
		}
	}
}

// csrSignedByNew makes a kubelet's TLS bootstrap CSR with the bootstrap
// token and checks the controller manager signs it with the new CA.
func (p *plane) csrSignedByNew(t *testing.T, oldCA *x509.Certificate) {
	cfg, err := clientcmd.BuildConfigFromFlags("", p.path("bootstrap-kubelet.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := requestNodeCert(t, clientset(t, cfg), "node-rotated", "bootstrap")
	signer, err := pki.ParseCert(mustRead(p.path("pki/ca-signer.crt")))
	if err != nil {
		t.Fatal(err)
	}
	if !pki.SignedBy(cert, signer) || pki.SignedBy(cert, oldCA) || bytes.Equal(signer.Raw, oldCA.Raw) {
		t.Errorf("a node's CSR after the reissue is signed by %q, not by the new CA", cert.Issuer.CommonName)
	}
}

// holdingKey lists the files of a folder that hold a public key, as a
// certificate, a public or private key, or inside a kubeconfig.
func holdingKey(t *testing.T, dir string, spki []byte) []string {
	var out []string
	b64 := base64.StdEncoding.EncodeToString(spki)
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		keys := pemKeys(data)
		if cfg, err := clientcmd.Load(data); err == nil && len(cfg.Clusters) > 0 {
			for _, c := range cfg.Clusters {
				keys = append(keys, pemKeys(c.CertificateAuthorityData)...)
			}
			for _, a := range cfg.AuthInfos {
				keys = append(keys, pemKeys(a.ClientCertificateData)...)
				keys = append(keys, pemKeys(a.ClientKeyData)...)
			}
		}
		if slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, spki) }) || bytes.Contains(bytes.Join(bytes.Fields(data), nil), []byte(b64[len(b64)/2:])) {
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func pemKeys(data []byte) [][]byte {
	var out [][]byte
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return out
		}
		switch {
		case b.Type == "CERTIFICATE":
			if c, err := x509.ParseCertificate(b.Bytes); err == nil {
				out = append(out, c.RawSubjectPublicKeyInfo)
			}
		case b.Type == "PUBLIC KEY":
			out = append(out, b.Bytes)
		case strings.Contains(b.Type, "PRIVATE KEY"):
			if k, err := pki.ParsePrivateKey(pem.EncodeToMemory(b)); err == nil {
				if der, err := x509.MarshalPKIXPublicKey(k.Public()); err == nil {
					out = append(out, der)
				}
			}
		}
	}
}

// checkTokenRotate: token rotate on the live cluster gives
// bootstrap-kubelet.conf a new token that authenticates, and the old one is
// refused once its grace period has passed.
func (p *plane) checkTokenRotate(t *testing.T) {
	whoami := func(conf string) (string, error) {
		return pinned.Run(t.Context(), pinned.Path(t, "kubectl"), "--kubeconfig", conf, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	}
	old := filepath.Join(t.TempDir(), "old-bootstrap.conf")
	if err := os.WriteFile(old, mustRead(p.path("bootstrap-kubelet.conf")), 0o600); err != nil {
		t.Fatal(err)
	}
	oldUser, err := whoami(old)
	if err != nil || !strings.HasPrefix(oldUser, "system:bootstrap:") {
		t.Fatalf("the bootstrap token before token rotate: %q %v", oldUser, err)
	}
	r := rotateRun("token", "rotate", "--dir", p.dir, "--kubeconfig", p.path("super-admin.conf"), "--grace", "5s")
	if r.code != 0 {
		t.Fatalf("token rotate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	newUser, err := whoami(p.path("bootstrap-kubelet.conf"))
	if err != nil || !strings.HasPrefix(newUser, "system:bootstrap:") || newUser == oldUser {
		t.Fatalf("the new bootstrap token: %q %v (old %q)", newUser, err, oldUser)
	}
	// The API server caches a token's authentication for 10 s.
	pinned.WaitFor(t, "the old bootstrap token refused", time.Minute, func() error {
		out, err := whoami(old)
		if err != nil && strings.Contains(out, "Unauthorized") {
			return nil
		}
		return fmt.Errorf("still authenticates: %q %v", out, err)
	})
}
