package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/pinned"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
)

// controlPlane is a cluster of several nodes started from bulwark's
// rendered manifests. Each node has its own loopback address (127.0.0.x)
// and a kubelet played by the test.
type controlPlane struct {
	// t is the test that owns the processes: they outlive its subtests.
	t   *testing.T
	dir string
	// endpoint is the shared apiEndpoint: a load balancer's address that
	// nothing listens on; clients here fail over between the nodes.
	endpoint string
	nodes    []*kubelet
	apiPorts map[string]int
}

// kubelet plays one node's kubelet and container runtime. It runs each
// static Pod of its node from the command line of the manifest the node's
// folder holds (paths through the Pod's volumes, ports moved to free ones),
// recreates a Pod whose manifest changed, and starts again a Pod whose
// process ended. Like the real kubelet, it acts when it syncs; the tests
// call sync where the kubelet's own loop would have run.
type kubelet struct {
	cp       *controlPlane
	name, ip string
	// Ports in place of the rendered ones.
	etcdClient, etcdPeer, etcdMetrics, api, kcm, sched int
	etcdData, auditLog                                 string
	pods                                               map[string]*staticPod
}

type staticPod struct {
	manifest []byte
	proc     *pinned.Process
	starts   int
	// down: the test holds the Pod down (its node's component is lost);
	// sync does not start it.
	down bool
}

// components in start order.
var components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// newControlPlane writes the folder for the named nodes, each an etcd
// member and a control-plane node on 127.0.0.<i+1>.
func newControlPlane(t *testing.T, names ...string) *controlPlane {
	t.Helper()
	cp := &controlPlane{t: t, dir: t.TempDir(), endpoint: "127.0.0.10", apiPorts: map[string]int{}}
	var doc strings.Builder
	fmt.Fprintf(&doc, "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\napiEndpoint: %s:6443\ncontrolPlane:\n", cp.endpoint)
	for i, n := range names {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Skipf("cannot listen on %s (a loopback address per node is needed): %v", ip, err)
		}
		l.Close()
		k := &kubelet{cp: cp, name: n, ip: ip, pods: map[string]*staticPod{},
			etcdClient: pinned.FreePort(t), etcdPeer: pinned.FreePort(t), etcdMetrics: pinned.FreePort(t),
			api: pinned.FreePort(t), kcm: pinned.FreePort(t), sched: pinned.FreePort(t),
			etcdData: t.TempDir(), auditLog: filepath.Join(t.TempDir(), "audit.log")}
		cp.nodes = append(cp.nodes, k)
		cp.apiPorts[ip] = k.api
		// On one Linux machine a connection to any 127.0.0.0/8 address
		// comes from 127.0.0.1, and etcd checks a peer's certificate
		// against the address its connection comes from: every node's
		// certificates name 127.0.0.1 too, as a real node's name the
		// address it sends from.
		ips := ip
		if ip != "127.0.0.1" {
			ips += ", 127.0.0.1"
		}
		fmt.Fprintf(&doc, "  - {name: %s, ips: [%s]}\n", n, ips)
	}
	cfg := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(cfg, []byte(doc.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	bulwark(t, "init", "--dir", cp.dir, "--config", cfg, "--root", cp.dir)
	return cp
}

func (cp *controlPlane) path(rel string) string { return filepath.Join(cp.dir, rel) }

func (cp *controlPlane) node(ip string) *kubelet {
	for _, k := range cp.nodes {
		if k.ip == ip {
			return k
		}
	}
	cp.t.Fatalf("no node at %s", ip)
	return nil
}

// manifest is the node's manifest of a component.
func (k *kubelet) manifest(comp string) string {
	return k.cp.path("nodes/" + k.name + "/manifests/" + comp + ".yaml")
}

func (k *kubelet) apiURL() string { return "https://" + net.JoinHostPort(k.ip, strconv.Itoa(k.api)) }

// args is a component's command line as the node runs it.
func (k *kubelet) args(t *testing.T, comp string) []string {
	t.Helper()
	args := podArgs(t, k.manifest(comp), k.cp.apiPorts)
	// Through its volumes, the component reads the folder's files from its
	// own folder of links only.
	links := k.cp.path("nodes/" + k.name + "/mounts/" + comp)
	for _, a := range args {
		if _, v, _ := strings.Cut(a, "="); strings.HasPrefix(v, k.cp.dir+"/") && !strings.HasPrefix(v, links+"/") {
			t.Errorf("%s %s reads %s outside its folder of links", k.name, comp, v)
		}
	}
	remap := func(flag string, port func(host string) int) {
		var out []string
		for _, item := range strings.Split(flagValue(args, flag), ",") {
			name, u, pair := strings.Cut(item, "=")
			if !pair {
				u = name
			}
			host := u[strings.Index(u, "//")+2 : strings.LastIndex(u, ":")]
			u = withPort(t, u, port(host))
			if pair {
				u = name + "=" + u
			}
			out = append(out, u)
		}
		args = setFlag(t, args, flag, strings.Join(out, ","))
	}
	fixed := func(p int) func(string) int { return func(string) int { return p } }
	switch comp {
	case "etcd":
		args = setFlag(t, args, "data-dir", k.etcdData)
		for _, f := range []string{"listen-client-urls", "advertise-client-urls"} {
			remap(f, fixed(k.etcdClient))
		}
		for _, f := range []string{"listen-peer-urls", "initial-advertise-peer-urls"} {
			remap(f, fixed(k.etcdPeer))
		}
		remap("listen-metrics-urls", fixed(k.etcdMetrics))
		remap("initial-cluster", func(host string) int { return k.cp.node(host).etcdPeer })
	case "kube-apiserver":
		args = setFlag(t, args, "secure-port", strconv.Itoa(k.api))
		remap("etcd-servers", func(host string) int { return k.cp.node(host).etcdClient })
		args = setFlag(t, args, "audit-log-path", k.auditLog)
	case "kube-controller-manager":
		args = setFlag(t, args, "secure-port", strconv.Itoa(k.kcm))
	case "kube-scheduler":
		args = setFlag(t, args, "secure-port", strconv.Itoa(k.sched))
	}
	return args
}

// sync does what the kubelet does on each pass over its static Pods: it
// starts those not running, and recreates those whose manifest changed.
// It returns the components it recreated for a changed manifest.
func (k *kubelet) sync(t *testing.T) []string {
	t.Helper()
	var recreated []string
	for _, comp := range components {
		data, err := os.ReadFile(k.manifest(comp))
		if err != nil {
			t.Fatal(err)
		}
		p := k.pods[comp]
		switch {
		case p == nil:
			p = &staticPod{}
			k.pods[comp] = p
		case p.down:
			continue
		case !bytes.Equal(data, p.manifest):
			p.proc.Stop(10 * time.Second)
			recreated = append(recreated, comp)
		case !p.proc.Exited():
			continue
		}
		p.manifest = data
		p.starts++
		// Processes belong to the whole test, not to the subtest that
		// happens to sync.
		p.proc = pinned.Start(k.cp.t, fmt.Sprintf("%s-%s-%d", k.name, comp, p.starts), pinned.Path(t, comp), k.args(t, comp)...)
	}
	return recreated
}

// stop takes a component of the node down and keeps it down.
func (k *kubelet) stop(comp string) {
	p := k.pods[comp]
	p.down = true
	p.proc.Stop(10 * time.Second)
}

// resume lets sync start the component again.
func (k *kubelet) resume(comp string) { k.pods[comp].down = false }

// syncAll syncs every node's kubelet.
func (cp *controlPlane) syncAll(t *testing.T) {
	t.Helper()
	for _, k := range cp.nodes {
		k.sync(t)
	}
}

// waitReady waits until every component of the node that is not held down
// answers its health endpoint, syncing the node meanwhile (a component
// may exit while its peers start).
func (k *kubelet) waitReady(t *testing.T) {
	t.Helper()
	cluster := pinned.HTTPClient(pinned.TLSConfig(t, k.cp.path("pki/ca.crt"), "", ""))
	etcd := pinned.HTTPClient(pinned.TLSConfig(t, k.cp.path("pki/etcd/ca.crt"), k.cp.path("pki/etcd/healthcheck-client.crt"), k.cp.path("pki/etcd/healthcheck-client.key")))
	local := pinned.HTTPClient(&tls.Config{InsecureSkipVerify: true}) // their self-signed serving certificates
	urls := map[string]struct {
		client *http.Client
		url    string
	}{
		"etcd":                    {etcd, fmt.Sprintf("https://%s:%d/health", k.ip, k.etcdClient)},
		"kube-apiserver":          {cluster, k.apiURL() + "/readyz"},
		"kube-controller-manager": {local, fmt.Sprintf("https://127.0.0.1:%d/healthz", k.kcm)},
		"kube-scheduler":          {local, fmt.Sprintf("https://127.0.0.1:%d/healthz", k.sched)},
	}
	for _, comp := range components {
		if k.pods[comp] == nil || k.pods[comp].down {
			continue
		}
		u := urls[comp]
		pinned.WaitFor(t, k.name+" "+comp, 120*time.Second, func() error {
			k.sync(t)
			resp, err := u.client.Get(u.url)
			if err != nil {
				return err
			}
			body, _ := readAll(resp)
			if resp.StatusCode != http.StatusOK || (comp == "etcd" && !strings.Contains(body, `"health":"true"`)) {
				return fmt.Errorf("%s: %s", resp.Status, body)
			}
			return nil
		})
	}
}

func readAll(resp *http.Response) (string, error) {
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err := b.ReadFrom(resp.Body)
	return b.String(), err
}

// start starts every node and waits until all are ready.
func (cp *controlPlane) start(t *testing.T) {
	t.Helper()
	cp.syncAll(t)
	for _, k := range cp.nodes {
		k.waitReady(t)
	}
}

// kubeconfigAt is a copy of one of the folder's kubeconfigs pointed at a
// node's API server.
func (cp *controlPlane) kubeconfigAt(t *testing.T, conf string, k *kubelet) string {
	t.Helper()
	data, err := os.ReadFile(cp.path(conf))
	if err != nil {
		t.Fatal(err)
	}
	moved, err := kubeconfig.WithServer(data, k.apiURL())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(conf))
	if err := os.WriteFile(out, moved, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// kubectl runs the real kubectl with one of the folder's kubeconfigs
// against a node's API server.
func (cp *controlPlane) kubectl(t *testing.T, k *kubelet, conf string, args ...string) string {
	t.Helper()
	out, err := cp.tryKubectl(t, k, conf, args...)
	if err != nil {
		t.Fatalf("kubectl %s via %s: %v\n%s", strings.Join(args, " "), k.name, err, out)
	}
	return out
}

func (cp *controlPlane) tryKubectl(t *testing.T, k *kubelet, conf string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return pinned.Run(ctx, pinned.Path(t, "kubectl"), append([]string{"--kubeconfig", cp.kubeconfigAt(t, conf, k)}, args...)...)
}

// failover is a client that sends a request every 50 ms, each to the next
// API server in turn, and on any error or non-200 answer tries the others:
// a request fails only when no API server answers it. It counts both.
type failover struct {
	client *http.Client
	urls   []string
	stop   chan struct{}
	done   chan struct{}

	mu       sync.Mutex
	ok, fail int
	errs     []string
}

func (cp *controlPlane) startFailover(t *testing.T, conf string) *failover {
	t.Helper()
	data, err := os.ReadFile(cp.path(conf))
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubeconfig.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	cfg := pinned.TLSConfig(t, cp.path("pki/ca.crt"), "", "")
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &tls.Certificate{Certificate: [][]byte{kc.Credentials.Cert.Raw}, PrivateKey: kc.Credentials.Key}, nil
	}
	f := &failover{client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}},
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, k := range cp.nodes {
		f.urls = append(f.urls, k.apiURL()+"/api/v1/namespaces/default")
	}
	go f.run()
	t.Cleanup(f.halt)
	return f
}

func (f *failover) run() {
	defer close(f.done)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		var errs []string
		answered := false
		for i := range f.urls {
			u := f.urls[(n+i)%len(f.urls)]
			resp, err := f.client.Get(u)
			if err == nil {
				body, _ := readAll(resp)
				if resp.StatusCode == http.StatusOK {
					answered = true
					break
				}
				err = fmt.Errorf("%s: %.100s", resp.Status, body)
			}
			errs = append(errs, err.Error())
		}
		f.mu.Lock()
		if answered {
			f.ok++
		} else {
			f.fail++
			f.errs = append(f.errs, strings.Join(errs, "; "))
		}
		f.mu.Unlock()
	}
}

func (f *failover) halt() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
}

// counts returns the requests answered and failed so far, and the errors
// of the failed ones.
func (f *failover) counts() (ok, fail int, errs []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ok, f.fail, append([]string(nil), f.errs...)
}

// holders reads who holds the controller manager's and the scheduler's
// leader leases.
func (cp *controlPlane) holders(t *testing.T, via *kubelet) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		var lease struct {
			Spec struct {
				HolderIdentity string `json:"holderIdentity"`
			} `json:"spec"`
		}
		raw, err := cp.tryKubectl(t, via, "super-admin.conf", "get", "lease", "-n", "kube-system", name, "-o", "json")
		if strings.Contains(raw, "NotFound") {
			continue
		}
		if err != nil {
			t.Fatalf("get lease %s: %v\n%s", name, err, raw)
		}
		if err := json.Unmarshal([]byte(raw), &lease); err != nil {
			t.Fatal(err)
		}
		out[name] = lease.Spec.HolderIdentity
	}
	return out
}

// leaseWriters reads a node's API server audit log for the leader leases'
// renewals after since: which of the two leases that API server renewed.
// Each node's controller manager and scheduler talk to their own node's
// API server only, so the node whose API server records the renewals is
// the node whose component leads.
func (k *kubelet) leaseWriters(t *testing.T, since time.Time) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(k.auditLog)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		var ev struct {
			Verb      string `json:"verb"`
			ObjectRef struct {
				Resource, Namespace, Name string
			} `json:"objectRef"`
			User struct {
				Username string `json:"username"`
			} `json:"user"`
			Stage     string    `json:"stage"`
			Received  time.Time `json:"requestReceivedTimestamp"`
			Responded struct {
				Code int `json:"code"`
			} `json:"responseStatus"`
		}
		if json.Unmarshal(line, &ev) != nil || ev.ObjectRef.Resource != "leases" || ev.ObjectRef.Namespace != "kube-system" ||
			ev.Verb != "update" || ev.Stage != "ResponseComplete" || ev.Responded.Code != http.StatusOK || ev.Received.Before(since) {
			continue
		}
		if ev.User.Username == "system:"+ev.ObjectRef.Name {
			out[ev.ObjectRef.Name] = true
		}
	}
	return out
}

// probeGroup is the API group of the aggregated API server the tests
// play, to see the front-proxy client certificate each API server
// presents when it proxies a request.
const probeGroup = "probe.bulwark.dev"

// probe is a TLS listener that plays a server the API servers call (an
// aggregated API server, a kubelet) and records, for each request, the
// serial of the client certificate it came with. It closes every
// connection after one request, so each request is a new handshake.
type callProbe struct {
	port int
	mu   sync.Mutex
	seen map[string]string // ?probe= nonce -> client certificate serial
}

func startProbe(t *testing.T, ip string, serving tls.Certificate, clientCAs *x509.CertPool, answer func(w http.ResponseWriter, r *http.Request)) *callProbe {
	t.Helper()
	pr := &callProbe{seen: map[string]string{}}
	l, err := tls.Listen("tcp", net.JoinHostPort(ip, "0"), &tls.Config{
		Certificates: []tls.Certificate{serving}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: clientCAs, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	pr.port = l.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if nonce := r.URL.Query().Get("probe"); nonce != "" && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			pr.mu.Lock()
			pr.seen[nonce] = r.TLS.PeerCertificates[0].SerialNumber.String()
			pr.mu.Unlock()
		}
		answer(w, r)
	})}
	srv.SetKeepAlivesEnabled(false)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return pr
}

// clientSerial sends a request through a node's API server to path (which
// the API server forwards to the probe) and returns the serial of the
// client certificate the API server presented.
func (pr *callProbe) clientSerial(client *http.Client, k *kubelet, path string) (string, error) {
	nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
	resp, err := client.Get(k.apiURL() + path + "?probe=" + nonce)
	if err != nil {
		return "", err
	}
	body, _ := readAll(resp)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %.200s", resp.Status, body)
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	s, ok := pr.seen[nonce]
	if !ok {
		return "", fmt.Errorf("request %s did not reach the probe with a client certificate", nonce)
	}
	return s, nil
}

// applyYAML applies objects with the break-glass credential.
func (cp *controlPlane) applyYAML(t *testing.T, objects string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "objects.yaml")
	if err := os.WriteFile(f, []byte(objects), 0o600); err != nil {
		t.Fatal(err)
	}
	cp.kubectl(t, cp.nodes[0], "super-admin.conf", "apply", "-f", f)
}

// startAggregated plays an aggregated API server, registered through an
// ExternalName Service: the API servers proxy to it with their front-proxy
// client certificate.
func (cp *controlPlane) startAggregated(t *testing.T) *callProbe {
	t.Helper()
	// Its serving certificate names the Service, as the aggregator checks.
	serving, caPEM := selfSigned(t, "probe.default.svc")
	frontProxyCA := pinned.TLSConfig(t, cp.path("pki/front-proxy-ca.crt"), "", "").RootCAs
	pr := startProbe(t, "127.0.0.1", serving, frontProxyCA, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/apis" {
			fmt.Fprintf(w, `{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":%q,"versions":[{"groupVersion":"%s/v1","version":"v1"}],"preferredVersion":{"groupVersion":"%s/v1","version":"v1"}}]}`, probeGroup, probeGroup, probeGroup)
			return
		}
		fmt.Fprintf(w, `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"%s/v1","resources":[]}`, probeGroup)
	})
	cp.applyYAML(t, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: probe, namespace: default}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{port: %[1]d}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.%[2]s}
spec:
  group: %[2]s
  version: v1
  service: {namespace: default, name: probe, port: %[1]d}
  caBundle: %[3]s
  groupPriorityMinimum: 1000
  versionPriority: 15
`, pr.port, probeGroup, caPEM))
	pinned.WaitFor(t, "aggregated API available", 60*time.Second, func() error {
		out := cp.kubectl(t, cp.nodes[0], "super-admin.conf", "get", "apiservice", "v1."+probeGroup, "-o", "jsonpath={.status.conditions[?(@.type=='Available')].status}")
		if out != "True" {
			return fmt.Errorf("Available=%q", out)
		}
		return nil
	})
	return pr
}

// probeNode is the Node whose kubelet startKubeletProbe plays.
const probeNode = "probe-kubelet"

// startKubeletProbe plays a kubelet: a Node whose address and kubelet port
// are the probe's. The API servers reach it (node proxy, logs, exec) with
// their kubelet client certificate.
func (cp *controlPlane) startKubeletProbe(t *testing.T) *callProbe {
	t.Helper()
	// The API server proxies to no loopback address: the kubelet is on
	// this machine's own.
	ip := ownIP(t)
	serving, _ := selfSigned(t, probeNode)
	clusterCA := pinned.TLSConfig(t, cp.path("pki/ca.crt"), "", "").RootCAs
	pr := startProbe(t, ip, serving, clusterCA, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	cp.applyYAML(t, "apiVersion: v1\nkind: Node\nmetadata: {name: "+probeNode+"}\n")
	cp.kubectl(t, cp.nodes[0], "super-admin.conf", "patch", "node", probeNode, "--subresource=status", "--type=merge", "-p",
		fmt.Sprintf(`{"status":{"addresses":[{"type":"InternalIP","address":%q}],"daemonEndpoints":{"kubeletEndpoint":{"Port":%d}}}}`, ip, pr.port))
	return pr
}

// ownIP is an IPv4 address of this machine other than loopback.
func ownIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Fatal("this machine has no IPv4 address but loopback: the API server proxies to no loopback kubelet")
	return ""
}
