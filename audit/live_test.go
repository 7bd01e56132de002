package audit_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xeipuuv/gojsonschema"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bulwark-k8s/bulwark/audit"
	"github.com/bulwark-k8s/bulwark/finding"
)

// The live audit's classification, against test listeners: httptest
// servers that answer as a hardened or a weakened component would. The
// real components are probed in e2e/audit_live_test.go.

var liveNow = time.Now()

// liveCA is a throw-away CA for test listeners and client certificates.
type liveCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newLiveCA(t *testing.T, cn string) *liveCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: liveNow.Add(-time.Hour), NotAfter: liveNow.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &liveCA{cert, key}
}

func (ca *liveCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue makes a leaf valid from an hour ago until notAfter.
func (ca *liveCA) issue(t *testing.T, cn string, notAfter time.Time, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	notBefore := liveNow.Add(-time.Hour)
	if notAfter.Before(notBefore) {
		notBefore = notAfter.Add(-48 * time.Hour)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certPEM, keyPEM
}

// tlsServer serves status to every request, over TLS with cfg.
func tlsServer(t *testing.T, cfg *tls.Config, status int, body string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func plainServer(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func runLive(t *testing.T, o audit.LiveOptions) *audit.Report {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Second
	}
	o.Now = liveNow
	if o.Unreachable == "" {
		o.Unreachable = finding.Low
	}
	if o.ReadOnlyPort == 0 {
		o.SkipReadOnlyPort = true
	}
	if o.LocalAddrs == nil {
		o.LocalAddrs = func() ([]net.IP, error) { return nil, nil }
	}
	r, err := audit.Live(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// only checks that the report has exactly one finding, with that ID and
// severity, and returns it.
func only(t *testing.T, r *audit.Report, id string, sev finding.Severity) audit.Finding {
	t.Helper()
	if len(r.Findings) != 1 || r.Findings[0].ID != id || r.Findings[0].Severity != sev {
		t.Fatalf("want exactly one %s %s finding, got %s", sev, id, describe(r))
	}
	f := r.Findings[0]
	if f.Title == "" || f.Remediation == "" || f.Evidence.Endpoint == "" || f.Evidence.Detail == "" {
		t.Fatalf("incomplete finding %+v", f)
	}
	return f
}

func none(t *testing.T, r *audit.Report) {
	t.Helper()
	if len(r.Findings) != 0 {
		t.Fatalf("want no finding, got %s", describe(r))
	}
	if r.Checked == 0 {
		t.Fatal("nothing was checked")
	}
}

func describe(r *audit.Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "\n  %s %s [%s] %s", f.Severity, f.ID, f.CIS, f.Evidence)
	}
	return b.String()
}

func serverCert(t *testing.T) tls.Certificate {
	t.Helper()
	pair, _, _ := newLiveCA(t, "serving-ca").issue(t, "server", liveNow.Add(365*24*time.Hour), x509.ExtKeyUsageServerAuth)
	return pair
}

func TestLiveAnonymousRequests(t *testing.T) {
	cert := serverCert(t)
	for _, tc := range []struct {
		name   string
		status int
		served bool
		says   string
	}{
		{"401 refused", 401, false, ""},
		{"403 authenticated, authorization refuses", 403, false, "only authorization refuses"},
		{"200 served", 200, true, "the resource was served"},
		{"404 got past authentication", 404, false, "HTTP 404, not 401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{cert}}, tc.status, `{"kind":"Status"}`)
			for _, comp := range []struct {
				id, servedID string
				sev          finding.Severity
				cis          string
				opts         audit.LiveOptions
			}{
				{"kubelet:authentication.anonymous.enabled", "kubelet:anonymous-served", finding.Critical, "4.2.1", audit.LiveOptions{Kubelets: []string{addr}}},
				{"kube-apiserver:anonymous-auth", "kube-apiserver:anonymous-served", finding.High, "1.2.1", audit.LiveOptions{APIServer: "https://" + addr}},
			} {
				r := runLive(t, comp.opts)
				if tc.says == "" {
					none(t, r)
					continue
				}
				id, sev := comp.id, comp.sev
				if tc.served {
					id, sev = comp.servedID, finding.Critical
				}
				f := only(t, r, id, sev)
				if f.CIS != comp.cis || !strings.Contains(f.Evidence.Response, fmt.Sprintf("HTTP %d ", tc.status)) || !strings.Contains(f.Evidence.Detail, tc.says) {
					t.Errorf("%s: evidence %q, CIS %s", comp.id, f.Evidence, f.CIS)
				}
			}
		})
	}
	t.Run("a kubelet that speaks plain HTTP", func(t *testing.T) {
		f := only(t, runLive(t, audit.LiveOptions{Kubelets: []string{plainServer(t, 200, `{"kind":"PodList"}`)}}),
			"kubelet:anonymous-served", finding.Critical)
		if !strings.HasPrefix(f.Evidence.Endpoint, "http://") || !strings.Contains(f.Evidence.Response, "plain HTTP") || !strings.Contains(f.Evidence.Response, "PodList") {
			t.Errorf("evidence %q", f.Evidence)
		}
	})
	t.Run("a kubelet that refuses a client without a certificate in the handshake", func(t *testing.T) {
		addr := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert}, 200, "")
		none(t, runLive(t, audit.LiveOptions{Kubelets: []string{addr}}))
	})
	t.Run("the API server from a kubeconfig", func(t *testing.T) {
		off := false
		addr := fakeAPIServer(t, cert, 403, [][]corev1.ServiceAccount{{defaultSA("default", &off)}})
		only(t, runLive(t, audit.LiveOptions{Kubeconfig: tokenKubeconfig(t, addr, apiToken)}), "kube-apiserver:anonymous-auth", finding.High)
	})
}

// apiToken is the bearer token the fake API server accepts.
const apiToken = "test-token-not-a-secret"

// fakeAPIServer answers anonymous requests with anonStatus, and lists the
// ServiceAccounts named default page by page to a client with apiToken.
func fakeAPIServer(t *testing.T, cert tls.Certificate, anonStatus int, pages [][]corev1.ServiceAccount) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+apiToken {
			w.WriteHeader(anonStatus)
			return
		}
		if r.URL.Path != "/api/v1/serviceaccounts" || r.URL.Query().Get("fieldSelector") != "metadata.name=default" {
			http.Error(w, "unexpected request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		page := 0
		if c := r.URL.Query().Get("continue"); c != "" {
			fmt.Sscan(c, &page)
		}
		list := corev1.ServiceAccountList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccountList"}, Items: pages[page]}
		if page+1 < len(pages) {
			list.Continue = fmt.Sprint(page + 1)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(list)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func tokenKubeconfig(t *testing.T, addr, token string) string {
	t.Helper()
	kc := filepath.Join(t.TempDir(), "admin.conf")
	doc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: https://%s, insecure-skip-tls-verify: true}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\nusers:\n- name: u\n  user: {token: %s}\n", addr, token)
	if err := os.WriteFile(kc, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return kc
}

func defaultSA(ns string, automount *bool) corev1.ServiceAccount {
	return corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}, AutomountServiceAccountToken: automount}
}

// TestLiveClusterObjects reads the default ServiceAccounts with the
// kubeconfig's credentials: each one that automounts its token (unset or
// true) is one finding naming its namespace; one with automount off is
// none; every page is read; a cluster that refuses the read is a
// live:unreachable finding, not silence.
func TestLiveClusterObjects(t *testing.T) {
	cert := serverCert(t)
	on, off := true, false
	addr := fakeAPIServer(t, cert, 401, [][]corev1.ServiceAccount{
		{defaultSA("default", &off), defaultSA("kube-system", nil)},
		{defaultSA("team-a", &on), defaultSA("kube-public", &off)},
	})
	r := runLive(t, audit.LiveOptions{Kubeconfig: tokenKubeconfig(t, addr, apiToken)})
	var got []string
	for _, f := range r.Findings {
		if f.ID != audit.DefaultSAAutomountID {
			t.Errorf("unexpected finding %s %s", f.ID, f.Evidence)
			continue
		}
		if f.Severity != finding.Medium || f.CIS != "5.1.5" || f.Remediation == "" || !strings.Contains(f.Evidence.Endpoint, "/api/v1/serviceaccounts") {
			t.Errorf("finding %+v", f)
		}
		got = append(got, f.Evidence.Object+": "+f.Evidence.Detail)
	}
	want := []string{
		"ServiceAccount kube-system/default: automountServiceAccountToken unset (the default is true)",
		"ServiceAccount team-a/default: automountServiceAccountToken true",
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("findings %q, want %q", got, want)
	}

	t.Run("credentials the cluster refuses", func(t *testing.T) {
		only(t, runLive(t, audit.LiveOptions{Kubeconfig: tokenKubeconfig(t, addr, "wrong-token")}), audit.UnreachableID, finding.Low)
	})
	t.Run("every default ServiceAccount without automount", func(t *testing.T) {
		addr := fakeAPIServer(t, cert, 401, [][]corev1.ServiceAccount{{defaultSA("default", &off)}})
		none(t, runLive(t, audit.LiveOptions{Kubeconfig: tokenKubeconfig(t, addr, apiToken)}))
	})
}

func TestLiveReadOnlyPort(t *testing.T) {
	hardened := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{serverCert(t)}}, 401, "")
	_, closed, _ := net.SplitHostPort(closedPort(t))
	o := func(port string) audit.LiveOptions {
		p := 0
		fmt.Sscan(port, &p)
		return audit.LiveOptions{Kubelets: []string{hardened}, ReadOnlyPort: p}
	}
	t.Run("closed", func(t *testing.T) {
		r := runLive(t, o(closed))
		none(t, r)
		if r.Checked < 3 { // anonymous, read-only port, served certificate
			t.Fatalf("checked %d", r.Checked)
		}
	})
	t.Run("open, speaking HTTP", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(plainServer(t, 200, `{"kind":"PodList","items":[]}`))
		f := only(t, runLive(t, o(port)), "kubelet:readOnlyPort", finding.High)
		if f.CIS != "4.2.4" || !strings.Contains(f.Evidence.Response, "HTTP 200 OK") || !strings.Contains(f.Evidence.Endpoint, ":"+port+"/pods") {
			t.Errorf("evidence %q", f.Evidence)
		}
	})
	t.Run("open, silent", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		_, port, _ := net.SplitHostPort(l.Addr().String())
		f := only(t, runLive(t, o(port)), "kubelet:readOnlyPort", finding.High)
		if f.Evidence.Response != "" || !strings.Contains(f.Evidence.Detail, "accepts connections") {
			t.Errorf("evidence %q", f.Evidence)
		}
	})
	t.Run("skipped", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(plainServer(t, 200, ""))
		opts := o(port)
		opts.SkipReadOnlyPort = true
		none(t, runLive(t, opts))
	})
}

func TestLiveEtcd(t *testing.T) {
	etcdCA, clusterCA := newLiveCA(t, "etcd-ca"), newLiveCA(t, "kubernetes")
	server, _, _ := etcdCA.issue(t, "etcd-1", liveNow.Add(365*24*time.Hour), x509.ExtKeyUsageServerAuth)
	_, certPEM, keyPEM := clusterCA.issue(t, "kube-apiserver-kubelet-client", liveNow.Add(365*24*time.Hour), x509.ExtKeyUsageClientAuth)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	os.WriteFile(certFile, certPEM, 0o644)
	os.WriteFile(keyFile, keyPEM, 0o600)
	serve := func(trusted *liveCA, auth tls.ClientAuthType, version uint16) string {
		cfg := &tls.Config{Certificates: []tls.Certificate{server}, ClientAuth: auth, MinVersion: version, MaxVersion: version}
		if trusted != nil {
			cfg.ClientCAs = trusted.pool()
		}
		return tlsServer(t, cfg, 200, `{"etcdserver":"3.6.16","etcdcluster":"3.6.0"}`)
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, peer := range []bool{false, true} {
			port, auth, ca := "client", "etcd:client-cert-auth", "etcd:separate-ca"
			if peer {
				port, auth, ca = "peer", "etcd:peer-client-cert-auth", "etcd:separate-peer-ca-from-cluster"
			}
			opts := func(addr string) audit.LiveOptions {
				o := audit.LiveOptions{ClientCert: certFile, ClientKey: keyFile}
				if peer {
					o.EtcdPeers = []string{addr}
				} else {
					o.Etcd = []string{addr}
				}
				return o
			}
			name := fmt.Sprintf("%s port, %s: ", port, tls.VersionName(v))
			t.Run(name+"own CA, certificate required", func(t *testing.T) {
				r := runLive(t, opts(serve(etcdCA, tls.RequireAndVerifyClientCert, v)))
				none(t, r)
				if r.Checked != 3 { // no certificate, cluster-CA certificate, served certificate
					t.Fatalf("checked %d", r.Checked)
				}
			})
			t.Run(name+"no client certificate required", func(t *testing.T) {
				f := only(t, runLive(t, opts(serve(nil, tls.NoClientCert, v))), auth, finding.Critical)
				if !strings.Contains(f.Evidence.Response, tls.VersionName(v)+" accepted; HTTP 200 OK") || !strings.Contains(f.Evidence.Response, "etcdserver") {
					t.Errorf("evidence %q", f.Evidence)
				}
			})
			t.Run(name+"trusts the cluster CA", func(t *testing.T) {
				f := only(t, runLive(t, opts(serve(clusterCA, tls.RequireAndVerifyClientCert, v))), ca, finding.Critical)
				if !strings.Contains(f.Evidence.Detail, `"kube-apiserver-kubelet-client", issued by "kubernetes"`) {
					t.Errorf("evidence %q", f.Evidence)
				}
			})
			t.Run(name+"trusts both CAs", func(t *testing.T) {
				pool := etcdCA.pool()
				pool.AddCert(clusterCA.cert)
				addr := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MaxVersion: v}, 200, "")
				only(t, runLive(t, opts(addr)), ca, finding.Critical)
			})
		}
	}
	t.Run("without a cluster client certificate, only the anonymous probe runs", func(t *testing.T) {
		r := runLive(t, audit.LiveOptions{Etcd: []string{serve(clusterCA, tls.RequireAndVerifyClientCert, tls.VersionTLS13)}})
		none(t, r)
		if r.Checked != 2 {
			t.Fatalf("checked %d", r.Checked)
		}
	})
	t.Run("plain HTTP", func(t *testing.T) {
		f := only(t, runLive(t, audit.LiveOptions{Etcd: []string{plainServer(t, 200, `{"etcdserver":"3.6.16"}`)}}), "etcd:plain-http-client", finding.Critical)
		if !strings.HasPrefix(f.Evidence.Endpoint, "http://") || !strings.Contains(f.Evidence.Detail, "does not speak TLS") {
			t.Errorf("evidence %q", f.Evidence)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		f := only(t, runLive(t, audit.LiveOptions{Etcd: []string{closedPort(t)}}), audit.UnreachableID, finding.Low)
		if !strings.Contains(f.Evidence.Detail, "refused") {
			t.Errorf("evidence %q", f.Evidence)
		}
	})
	t.Run("the cluster folder's client certificate", func(t *testing.T) {
		d := t.TempDir()
		os.MkdirAll(filepath.Join(d, "pki"), 0o700)
		os.WriteFile(filepath.Join(d, audit.ClusterClientCert), certPEM, 0o644)
		os.WriteFile(filepath.Join(d, audit.ClusterClientKey), keyPEM, 0o600)
		r := runLive(t, audit.LiveOptions{Dir: d, Etcd: []string{serve(clusterCA, tls.RequireAndVerifyClientCert, tls.VersionTLS13)}})
		only(t, r, "etcd:separate-ca", finding.Critical)
	})
}

func TestLiveLoopbackOnly(t *testing.T) {
	cert := serverCert(t)
	listen := func(host string) string {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) }))
		srv.Listener.Close()
		srv.Listener = l
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		_, port, _ := net.SplitHostPort(l.Addr().String())
		return port
	}
	// 127.0.0.2 plays this machine's network address: a socket bound to
	// 127.0.0.1 is not reachable there, one bound to every address is.
	machine := func() ([]net.IP, error) { return []net.IP{net.ParseIP("127.0.0.2")}, nil }
	for _, comp := range []struct {
		id, cis string
		opts    func(string) audit.LiveOptions
	}{
		{"kube-controller-manager:bind-address", "1.3.7", func(ep string) audit.LiveOptions {
			return audit.LiveOptions{ControllerManagers: []string{ep}, LocalAddrs: machine}
		}},
		{"kube-scheduler:bind-address", "1.4.2", func(ep string) audit.LiveOptions {
			return audit.LiveOptions{Schedulers: []string{ep}, LocalAddrs: machine}
		}},
	} {
		t.Run(comp.id+" on loopback", func(t *testing.T) {
			port := listen("127.0.0.1")
			for _, ep := range []string{"127.0.0.1:" + port, ":" + port, "localhost:" + port, "127.0.0.2:" + port} {
				r := runLive(t, comp.opts(ep))
				none(t, r)
				if r.Checked != 2 { // bind address, served certificate
					t.Fatalf("%s: checked %d", ep, r.Checked)
				}
			}
		})
		t.Run(comp.id+" on every address", func(t *testing.T) {
			port := listen("0.0.0.0")
			f := only(t, runLive(t, comp.opts("127.0.0.1:"+port)), comp.id, finding.Medium)
			if f.CIS != comp.cis || f.Evidence.Endpoint != "127.0.0.2:"+port {
				t.Errorf("evidence %q, CIS %s", f.Evidence, f.CIS)
			}
		})
		t.Run(comp.id+" not running", func(t *testing.T) {
			_, port, _ := net.SplitHostPort(closedPort(t))
			only(t, runLive(t, comp.opts("127.0.0.1:"+port)), audit.UnreachableID, finding.Low)
		})
	}
}

func TestLiveServedCertificates(t *testing.T) {
	ca := newLiveCA(t, "kubernetes")
	for _, tc := range []struct {
		name     string
		notAfter time.Time
		id       string
		sev      finding.Severity
	}{
		{"valid", liveNow.Add(365 * 24 * time.Hour), "", ""},
		{"expiring", liveNow.Add(10 * 24 * time.Hour), "cert:expiring", finding.Medium},
		{"expired", liveNow.Add(-time.Hour), "cert:expired", finding.Critical},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, _, _ := ca.issue(t, "kubelet", tc.notAfter, x509.ExtKeyUsageServerAuth)
			addr := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{cert}}, 401, "")
			r := runLive(t, audit.LiveOptions{Kubelets: []string{addr}, WarnWithin: 30 * 24 * time.Hour})
			if tc.id == "" {
				none(t, r)
				return
			}
			f := only(t, r, tc.id, tc.sev)
			if f.Evidence.Endpoint != "https://"+addr || !strings.Contains(f.Evidence.Detail, `"kubelet", issued by "kubernetes"`) ||
				!strings.Contains(f.Evidence.Detail, tc.notAfter.UTC().Format(time.RFC3339)) {
				t.Errorf("evidence %q", f.Evidence)
			}
		})
	}
}

func TestLiveOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    audit.LiveOptions
		want string
	}{
		{"nothing to probe", audit.LiveOptions{}, "no endpoint"},
		{"bad port", audit.LiveOptions{Etcd: []string{"127.0.0.1:99999"}}, `invalid endpoint "127.0.0.1:99999": bad port`},
		{"no host", audit.LiveOptions{Kubelets: []string{":10250"}}, "no host"},
		{"bad URL", audit.LiveOptions{APIServer: "https://"}, `invalid endpoint "https://"`},
		{"half a client certificate", audit.LiveOptions{Etcd: []string{"127.0.0.1:2379"}, ClientCert: "x.crt"}, "both"},
		{"missing kubeconfig", audit.LiveOptions{Kubeconfig: "/nonexistent/admin.conf"}, "/nonexistent/admin.conf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := audit.Live(context.Background(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if tc.name == "nothing to probe" && !errors.Is(err, audit.ErrNoEndpoint) {
				t.Fatalf("got %v, want ErrNoEndpoint", err)
			}
		})
	}
}

func TestLiveMerge(t *testing.T) {
	addr := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{serverCert(t)}}, 200, "")
	static := &audit.Report{}
	static.Checked = 5
	static.Add(audit.Finding{ID: "a:info", Severity: finding.Info})
	static.Merge(runLive(t, audit.LiveOptions{Kubelets: []string{addr}}), liveNow)
	ids := []string{}
	for _, f := range static.Findings {
		ids = append(ids, f.ID)
	}
	if !slices.Equal(ids, []string{"kubelet:anonymous-served", "a:info"}) || static.Checked != 7 {
		t.Fatalf("merged %v, %d checks", ids, static.Checked)
	}
}

// TestLiveSARIFValidates checks a live report's SARIF (endpoints as
// logical locations) against the SARIF 2.1.0 schema.
func TestLiveSARIFValidates(t *testing.T) {
	cert := serverCert(t)
	_, readOnly, _ := net.SplitHostPort(plainServer(t, 200, `{"kind":"PodList"}`))
	port := 0
	fmt.Sscan(readOnly, &port)
	r := runLive(t, audit.LiveOptions{
		Etcd:         []string{tlsServer(t, &tls.Config{Certificates: []tls.Certificate{cert}}, 200, "{}"), closedPort(t)},
		Kubelets:     []string{tlsServer(t, &tls.Config{Certificates: []tls.Certificate{cert}}, 200, "{}")},
		ReadOnlyPort: port,
	})
	if len(r.Findings) != 4 {
		t.Fatalf("want 4 findings, got %s", describe(r))
	}
	var buf bytes.Buffer
	if err := r.Write(&buf, "sarif", "", "test"); err != nil {
		t.Fatal(err)
	}
	res, err := gojsonschema.Validate(gojsonschema.NewStringLoader(sarifSchema(t)), gojsonschema.NewBytesLoader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() {
		t.Fatalf("SARIF does not validate: %v\n%s", res.Errors(), buf.String())
	}
	if !strings.Contains(buf.String(), `"logicalLocations"`) {
		t.Fatalf("no endpoint in the SARIF:\n%s", buf.String())
	}
}
