package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/internal/pinned"
	"github.com/bulwark-k8s/bulwark/pki"
)

// TestControlPlane starts etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler from bulwark's rendered manifests and checks every channel
// and identity the seeds name.
func TestControlPlane(t *testing.T) {
	members := []string{"etcd-1", "etcd-2", "etcd-3"}
	c := newCluster(t, members...)
	c.startEtcd(t, members...)
	c.startAPIServer(t)
	base := fmt.Sprintf("https://127.0.0.1:%d", c.apiPort)
	caFile := c.path("pki/ca.crt")

	t.Run("anonymous requests: 401 on resources, health endpoints open", func(t *testing.T) {
		anon := pinned.HTTPClient(pinned.TLSConfig(t, caFile, "", ""))
		for path, want := range map[string]int{"/api/v1/namespaces": 401, "/api/v1/secrets": 401, "/apis": 401, "/version": 401,
			"/livez": 200, "/readyz": 200, "/healthz": 200} {
			resp, err := anon.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("anonymous GET %s: %d, want %d", path, resp.StatusCode, want)
			}
		}
	})

	t.Run("admin.conf is forbidden until cluster/ is applied with super-admin.conf", func(t *testing.T) {
		if out, err := c.kubectl(t, "admin.conf", "get", "namespaces"); err == nil || !strings.Contains(out, "Forbidden") {
			t.Fatalf("admin.conf worked before its binding existed: %v\n%s", err, out)
		}
		c.mustKubectl(t, "super-admin.conf", "apply", "-f", c.path("cluster"))
		c.mustKubectl(t, "admin.conf", "get", "namespaces")
		who := whoami(t, c, "admin.conf")
		if who.User != "kubernetes-admin" || !contains(who.Groups, "bulwark:cluster-admins") || contains(who.Groups, "system:masters") {
			t.Fatalf("admin.conf is %+v", who)
		}
	})

	t.Run("bootstrap kubeconfig authenticates as system:bootstrap:<id>", func(t *testing.T) {
		tok := c.bootstrapToken(t)
		who := whoami(t, c, "bootstrap-kubelet.conf")
		if want := "system:bootstrap:" + tok[:6]; who.User != want || !contains(who.Groups, "system:bootstrappers") {
			t.Fatalf("bootstrap identity is %+v, want %s in system:bootstrappers", who, want)
		}
		for _, q := range [][]string{{"list", "secrets", "-A"}, {"create", "pods"}, {"get", "nodes"}, {"create", "clusterrolebindings"}} {
			out, _ := c.kubectl(t, "bootstrap-kubelet.conf", append([]string{"auth", "can-i"}, q...)...)
			if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[len(lines)-1] != "no" {
				t.Errorf("bootstrap token can %v: %s", q, out)
			}
		}
	})

	t.Run("etcd client and front-proxy client certificates are not user credentials", func(t *testing.T) {
		for _, name := range []string{"apiserver-etcd-client", "etcd/healthcheck-client", "front-proxy-client"} {
			client := pinned.HTTPClient(pinned.TLSConfig(t, caFile, c.path("pki/"+name+".crt"), c.path("pki/"+name+".key")))
			resp, err := client.Get(base + "/api/v1/namespaces")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("%s as a user: %d, want 401", name, resp.StatusCode)
			}
		}
	})

	t.Run("etcd refuses every certificate from the cluster CA", func(t *testing.T) {
		for _, name := range []string{"apiserver-kubelet-client", "apiserver"} {
			client := pinned.HTTPClient(pinned.TLSConfig(t, c.path("pki/etcd/ca.crt"), c.path("pki/"+name+".crt"), c.path("pki/"+name+".key")))
			if _, err := pinned.EtcdGet(client, c.etcd.Endpoints()[0], "/registry/namespaces/default"); !isTLSRefusal(err) {
				t.Errorf("%s reached etcd: %v", name, err)
			}
		}
		for _, conf := range []string{"admin.conf", "super-admin.conf", c.kubeconfig(t, "cp-1", "controller-manager"), c.kubeconfig(t, "cp-1", "scheduler")} {
			cfg := restConfig(t, c, conf)
			client := pinned.HTTPClient(pinned.TLSConfig(t, c.path("pki/etcd/ca.crt"), "", ""))
			tr := client.Transport.(*http.Transport)
			pair, err := tlsPair(cfg)
			if err != nil {
				t.Fatal(err)
			}
			tr.TLSClientConfig.Certificates = append(tr.TLSClientConfig.Certificates, pair)
			if _, err := pinned.EtcdGet(client, c.etcd.Endpoints()[0], "/registry/namespaces/default"); !isTLSRefusal(err) {
				t.Errorf("%s's certificate reached etcd: %v", conf, err)
			}
		}
	})

	t.Run("Secrets are encrypted in etcd", func(t *testing.T) {
		c.mustKubectl(t, "admin.conf", "create", "secret", "generic", "probe", "-n", "default", "--from-literal=password=plaintext-canary")
		etcdClient := pinned.HTTPClient(pinned.TLSConfig(t, c.path("pki/etcd/ca.crt"), c.path("pki/apiserver-etcd-client.crt"), c.path("pki/apiserver-etcd-client.key")))
		raw, err := pinned.EtcdGet(etcdClient, c.etcd.Endpoints()[0], "/registry/secrets/default/probe")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(raw, "k8s:enc:secretbox:v1:key1:") || strings.Contains(raw, "plaintext-canary") {
			t.Fatalf("Secret stored as %q…", raw[:min(40, len(raw))])
		}
		// And a ConfigMap is not: the check above is not vacuous.
		c.mustKubectl(t, "admin.conf", "create", "configmap", "probe", "-n", "default", "--from-literal=k=visible-canary")
		raw, err = pinned.EtcdGet(etcdClient, c.etcd.Endpoints()[0], "/registry/configmaps/default/probe")
		if err != nil || !strings.Contains(raw, "visible-canary") {
			t.Fatalf("ConfigMap raw read: %v", err)
		}
	})

	t.Run("an expired bootstrap token is refused", func(t *testing.T) {
		out := bulwark(t, "token", "create", "--dir", c.dir, "--kubeconfig", c.path("super-admin.conf"), "--ttl", "3s")
		id := tokenID(t, out)
		conf := "bootstrap-kubelet-" + id + ".conf"
		// Still valid: it authenticates.
		if who := whoami(t, c, conf); who.User != "system:bootstrap:"+id {
			t.Fatalf("fresh token is %+v", who)
		}
		// Once the token has expired it is refused: the API server caches
		// a successful token authentication for 10s, so allow for that.
		deadline := time.Now().Add(3*time.Second + 30*time.Second)
		for {
			out2, err := c.kubectl(t, conf, "auth", "whoami")
			if err != nil && strings.Contains(out2, "Unauthorized") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the token still authenticates 30s after it expired: %v\n%s", err, out2)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})

	t.Run("token create, list and delete on the live cluster", func(t *testing.T) {
		id := tokenID(t, bulwark(t, "token", "create", "--kubeconfig", c.path("super-admin.conf"), "--ttl", "1h", "--groups", "system:bootstrappers:workers"))
		list := bulwark(t, "token", "list", "--kubeconfig", c.path("super-admin.conf"), "-o", "json")
		if !strings.Contains(list, `"id": "`+id+`"`) || !strings.Contains(list, "system:bootstrappers:workers") {
			t.Fatalf("token %s not listed:\n%s", id, list)
		}
		if strings.Contains(list, "token-secret") {
			t.Fatalf("token list shows secrets:\n%s", list)
		}
		c.mustKubectl(t, "super-admin.conf", "get", "secret", "-n", "kube-system", "bootstrap-token-"+id)
		bulwark(t, "token", "delete", id, "--kubeconfig", c.path("super-admin.conf"))
		if out, err := c.kubectl(t, "super-admin.conf", "get", "secret", "-n", "kube-system", "bootstrap-token-"+id); err == nil {
			t.Fatalf("token Secret still there after delete:\n%s", out)
		}
	})

	kcmPort, schedPort := pinned.FreePort(t), pinned.FreePort(t)
	c.startSidecar(t, "kube-controller-manager", kcmPort)
	c.startSidecar(t, "kube-scheduler", schedPort)

	t.Run("controller manager and scheduler report healthy on loopback", func(t *testing.T) {
		anon := pinned.HTTPClient(pinned.TLSConfig(t, "", "", ""))
		anon.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true // self-signed serving certificates
		for name, port := range map[string]int{"kube-controller-manager": kcmPort, "kube-scheduler": schedPort} {
			pinned.WaitFor(t, name+" healthz", 60*time.Second, func() error {
				resp, err := anon.Get(fmt.Sprintf("https://127.0.0.1:%d/healthz", port))
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("%d", resp.StatusCode)
				}
				return nil
			})
			resp, err := anon.Get(fmt.Sprintf("https://127.0.0.1:%d/metrics", port))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 && resp.StatusCode != 403 {
				t.Errorf("%s /metrics anonymously: %d, want 401/403", name, resp.StatusCode)
			}
		}
	})

	t.Run("controller manager and scheduler act as their own identities", func(t *testing.T) {
		admin := clientset(t, restConfig(t, c, "super-admin.conf"))
		pinned.WaitFor(t, "leader leases", 90*time.Second, func() error {
			for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
				if _, err := admin.CoordinationV1().Leases("kube-system").Get(context.Background(), name, metav1.GetOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
		// The audit log records who did what: each renewed its lease as itself.
		logFile := flagValue(c.apiArgs, "audit-log-path")
		pinned.WaitFor(t, "audit entries", 30*time.Second, func() error {
			data, err := os.ReadFile(logFile)
			if err != nil {
				return err
			}
			for _, user := range []string{"system:kube-controller-manager", "system:kube-scheduler"} {
				if !bytes.Contains(data, []byte(`"username":"`+user+`"`)) {
					return fmt.Errorf("no request by %s yet", user)
				}
			}
			return nil
		})
	})

	t.Run("service-account tokens from TokenRequest carry the issuer and are accepted", func(t *testing.T) {
		// The controller manager creates the default ServiceAccount.
		pinned.WaitFor(t, "default ServiceAccount", 60*time.Second, func() error {
			_, err := c.kubectl(t, "admin.conf", "get", "serviceaccount", "default", "-n", "default")
			return err
		})
		tok := strings.TrimSpace(c.mustKubectl(t, "admin.conf", "create", "token", "default", "-n", "default", "--duration=10m"))
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("not a JWT: %d parts", len(parts))
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims struct {
			Iss string `json:"iss"`
			Sub string `json:"sub"`
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		if claims.Iss != "https://kubernetes.default.svc.cluster.local" || claims.Sub != "system:serviceaccount:default:default" {
			t.Fatalf("token claims %+v", claims)
		}
		req, _ := http.NewRequest("GET", base+"/apis/authentication.k8s.io/v1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := pinned.HTTPClient(pinned.TLSConfig(t, caFile, "", "")).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("service-account token refused: %d", resp.StatusCode)
		}
	})

	t.Run("TLS bootstrap, renewal, Node authorizer and NodeRestriction", func(t *testing.T) {
		boot := clientset(t, restConfig(t, c, "bootstrap-kubelet.conf"))
		certA, keyA := bootstrapNode(t, boot, "node-a", c)
		certB, keyB := bootstrapNode(t, boot, "node-b", c)
		for _, tc := range []struct {
			name string
			cert *x509.Certificate
		}{{"node-a", certA}, {"node-b", certB}} {
			if tc.cert.Subject.CommonName != "system:node:"+tc.name || !contains(tc.cert.Subject.Organization, "system:nodes") {
				t.Fatalf("%s got %s %v", tc.name, tc.cert.Subject.CommonName, tc.cert.Subject.Organization)
			}
			if life := time.Until(tc.cert.NotAfter); life < 71*time.Hour || life > 73*time.Hour {
				t.Fatalf("%s certificate lives %s, want 72h", tc.name, life)
			}
			ca, _ := os.ReadFile(caFile)
			caCert, _ := pki.ParseCert(ca)
			if err := pki.VerifyLeaf(tc.cert, caCert, []pki.Usage{pki.ClientAuth}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		nodeA := clientset(t, nodeConfig(t, c, certA, keyA))
		nodeB := clientset(t, nodeConfig(t, c, certB, keyB))

		// Renewal: the node asks for a new certificate with its own identity.
		renewed, _ := requestNodeCert(t, nodeA, "node-a", "renewal")
		if renewed.Subject.CommonName != "system:node:node-a" {
			t.Fatalf("renewed certificate is for %s", renewed.Subject.CommonName)
		}

		ctx := context.Background()
		for _, n := range []struct {
			cs   *kubernetes.Clientset
			name string
		}{{nodeA, "node-a"}, {nodeB, "node-b"}} {
			if _, err := n.cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name}}, metav1.CreateOptions{}); err != nil {
				t.Fatalf("%s cannot register itself: %v", n.name, err)
			}
		}
		// Kubernetes 1.36's Node authorizer does not even let a node read
		// another node; NodeRestriction would refuse the write anyway.
		if _, err := nodeA.CoreV1().Nodes().Get(ctx, "node-b", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("node-a reading node-b: %v, want Forbidden", err)
		}
		patch := []byte(`{"metadata":{"labels":{"hijacked":"true"}}}`)
		if _, err := nodeA.CoreV1().Nodes().Patch(ctx, "node-b", types.MergePatchType, patch, metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("node-a patching node-b: %v, want Forbidden", err)
		}
		if err := nodeA.CoreV1().Nodes().Delete(ctx, "node-b", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("node-a deleting node-b: %v, want Forbidden", err)
		}
		// A node may not give itself labels reserved for the control plane.
		reserved := []byte(`{"metadata":{"labels":{"node-restriction.kubernetes.io/trusted":"true"}}}`)
		if _, err := nodeA.CoreV1().Nodes().Patch(ctx, "node-a", types.MergePatchType, reserved, metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("node-a setting a node-restriction label on itself: %v, want Forbidden", err)
		}
		// A patch, not an update: the controller manager may taint the new
		// Node meanwhile, and a node may not remove taints.
		own := []byte(`{"metadata":{"labels":{"own":"label"}}}`)
		if _, err := nodeA.CoreV1().Nodes().Patch(ctx, "node-a", types.MergePatchType, own, metav1.PatchOptions{}); err != nil {
			t.Fatalf("node-a updating itself: %v", err)
		}
		// The probe Secret is used by no Pod on node-a.
		if _, err := nodeA.CoreV1().Secrets("default").Get(ctx, "probe", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("node-a reading an unrelated Secret: %v, want Forbidden", err)
		}
		if _, err := nodeA.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("node-a listing Secrets: %v, want Forbidden", err)
		}
	})

	t.Run("deleting the cluster-admins binding revokes admin.conf, super-admin.conf keeps working", func(t *testing.T) {
		c.mustKubectl(t, "super-admin.conf", "delete", "clusterrolebinding", "bulwark:cluster-admins")
		pinned.WaitFor(t, "revocation", 30*time.Second, func() error {
			out, err := c.kubectl(t, "admin.conf", "get", "namespaces")
			if err == nil || !strings.Contains(out, "Forbidden") {
				return fmt.Errorf("admin.conf still works")
			}
			return nil
		})
		c.mustKubectl(t, "super-admin.conf", "get", "namespaces")
	})
}

// startSidecar starts the controller manager or the scheduler from its
// rendered manifest, on a free port.
func (c *cluster) startSidecar(t *testing.T, comp string, port int) {
	t.Helper()
	args := c.podArgs(t, c.manifest(t, "cp-1", comp))
	args = setFlag(t, args, "secure-port", strconv.Itoa(port))
	pinned.Start(t, comp, pinned.Path(t, comp), args...)
}

type identity struct {
	User   string
	Groups []string
}

func whoami(t *testing.T, c *cluster, conf string) identity {
	t.Helper()
	out := c.mustKubectl(t, conf, "auth", "whoami", "-o", "json")
	var r struct {
		Status struct {
			UserInfo struct {
				Username string   `json:"username"`
				Groups   []string `json:"groups"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("whoami: %v\n%s", err, out)
	}
	return identity{r.Status.UserInfo.Username, r.Status.UserInfo.Groups}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func tokenID(t *testing.T, out string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "token "); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("no token ID in %q", out)
	return ""
}

func restConfig(t *testing.T, c *cluster, conf string) *rest.Config {
	t.Helper()
	return restConfigFile(t, c.path(conf))
}

func restConfigFile(t *testing.T, file string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", file)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func clientset(t *testing.T, cfg *rest.Config) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// nodeConfig is a client that authenticates with a node's certificate.
func nodeConfig(t *testing.T, c *cluster, cert *x509.Certificate, key *ecdsa.PrivateKey) *rest.Config {
	t.Helper()
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(c.path("pki/ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return &rest.Config{
		Host: fmt.Sprintf("https://127.0.0.1:%d", c.apiPort),
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   ca,
			CertData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
			KeyData:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		},
	}
}

// bootstrapNode does what a kubelet does at TLS bootstrap: with the
// bootstrap token, it asks for a client certificate for its node name and
// waits for the controller manager to approve and sign it.
func bootstrapNode(t *testing.T, boot *kubernetes.Clientset, node string, c *cluster) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	return requestNodeCert(t, boot, node, "bootstrap")
}

func requestNodeCert(t *testing.T, cs *kubernetes.Clientset, node, why string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	name := fmt.Sprintf("%s-%s-%d", node, why, time.Now().UnixNano())
	_, err = cs.CertificatesV1().CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("%s CSR for %s: %v", why, node, err)
	}
	var cert *x509.Certificate
	pinned.WaitFor(t, why+" CSR of "+node+" signed", 90*time.Second, func() error {
		got, err := cs.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == certificatesv1.CertificateDenied || cond.Type == certificatesv1.CertificateFailed {
				t.Fatalf("%s CSR of %s: %s %s", why, node, cond.Type, cond.Message)
			}
		}
		if len(got.Status.Certificate) == 0 {
			return fmt.Errorf("not signed yet (conditions %v)", got.Status.Conditions)
		}
		cert, err = pki.ParseCert(got.Status.Certificate)
		return err
	})
	return cert, key
}

func tlsPair(cfg *rest.Config) (tlsCertificate, error) {
	return loadPair(cfg.TLSClientConfig.CertData, cfg.TLSClientConfig.KeyData)
}
