package e2e

// A control plane of three nodes started from a bulwark folder's rendered
// manifests, a harness that plays each node's kubelet (it restarts a
// component when its manifest changes), and a load generator that keeps
// every channel busy and counts every failure by cause.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/internal/pinned"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
)

// plane is the running control plane of a folder.
type plane struct {
	t     *testing.T
	dir   string
	nodes []string // cp-1, cp-2, cp-3
	ips   map[string]string
	// apiNodes run an API server; the first also runs the controller
	// manager and the scheduler.
	apiNodes []string
	ports    map[string]map[string]int // node -> port name -> port
	dataDirs map[string]string
	comps    []*running
	mu       sync.Mutex
	restarts map[string]int // component@node -> count
	// draining: API servers the kubelet is restarting; the load's clients
	// leave them, as a load balancer that checks /readyz would.
	draining map[string]bool
}

// running is one component as the kubelet of its node runs it.
type running struct {
	node, comp string
	manifest   string
	seen       []byte
	proc       *pinned.Process
}

func (r *running) String() string { return r.comp + "@" + r.node }

// startPlane makes a three-node folder (an etcd member on each node, all
// on loopback, each component on ports of its own) and starts etcd on all three, API
// servers on cp-1 and cp-2, and the controller manager and scheduler on
// cp-1, all from their rendered manifests.
func startPlane(t *testing.T) *plane {
	t.Helper()
	p := &plane{t: t, dir: t.TempDir(), nodes: []string{"cp-1", "cp-2", "cp-3"}, apiNodes: []string{"cp-1", "cp-2"},
		ips: map[string]string{}, ports: map[string]map[string]int{}, dataDirs: map[string]string{}, restarts: map[string]int{}, draining: map[string]bool{}}
	for i, n := range p.nodes {
		// One address for all: etcd checks a peer's certificate against
		// the address its connection comes from, and every loopback
		// connection comes from 127.0.0.1.
		_ = i
		p.ips[n] = "127.0.0.1"
		p.ports[n] = map[string]int{}
		for _, name := range []string{"client", "peer", "metrics", "api", "kcm", "sched"} {
			p.ports[n][name] = pinned.FreePort(t)
		}
		p.dataDirs[n] = t.TempDir()
	}
	doc := fmt.Sprintf("apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\napiEndpoint: %s:%d\ncontrolPlane:\n", p.ips["cp-1"], p.ports["cp-1"]["api"])
	for _, n := range p.nodes {
		doc += fmt.Sprintf("  - {name: %s, ips: [%s]}\n", n, p.ips[n])
	}
	cfg := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	bulwark(t, "init", "--dir", p.dir, "--config", cfg, "--root", p.dir)
	for _, n := range p.nodes {
		p.comps = append(p.comps, &running{node: n, comp: "etcd"})
	}
	for _, n := range p.apiNodes {
		p.comps = append(p.comps, &running{node: n, comp: "kube-apiserver"})
	}
	p.comps = append(p.comps, &running{node: "cp-1", comp: "kube-controller-manager"}, &running{node: "cp-1", comp: "kube-scheduler"})
	for _, r := range p.comps {
		r.manifest = p.manifestOf(r.node, r.comp)
	}
	// etcd members start together (each waits for the others).
	for _, r := range p.comps {
		if r.comp == "etcd" {
			p.start(r)
		}
	}
	for _, r := range p.comps {
		if r.comp != "etcd" {
			p.start(r)
		}
		p.waitHealthy(r)
	}
	p.kubectl("super-admin.conf", "apply", "-f", p.path("cluster"))
	return p
}

func (p *plane) path(rel string) string { return filepath.Join(p.dir, rel) }

func (p *plane) manifestOf(node, comp string) string {
	for _, rel := range []string{"nodes/" + node + "/manifests/" + comp + ".yaml", "manifests/" + node + "/" + comp + ".yaml"} {
		if _, err := os.Stat(p.path(rel)); err == nil {
			return rel
		}
	}
	p.t.Fatalf("no %s manifest for %s", comp, node)
	return ""
}

func (p *plane) url(node, port string) string {
	return "https://" + net.JoinHostPort(p.ips[node], strconv.Itoa(p.ports[node][port]))
}

// APIServers, EtcdClients and EtcdPeers are the running endpoints.
func (p *plane) APIServers() []string {
	var out []string
	for _, n := range p.apiNodes {
		out = append(out, p.url(n, "api"))
	}
	return out
}

// servingAPIs are the API servers not being restarted.
func (p *plane) servingAPIs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, n := range p.apiNodes {
		if !p.draining[n] {
			out = append(out, p.url(n, "api"))
		}
	}
	return out
}

func (p *plane) EtcdClients() []string {
	var out []string
	for _, n := range p.nodes {
		out = append(out, p.url(n, "client"))
	}
	return out
}

func (p *plane) EtcdPeers() []string {
	var out []string
	for _, n := range p.nodes {
		out = append(out, p.url(n, "peer"))
	}
	return out
}

// args reads a manifest's command line and remaps what the machine
// needs: ports, data and log folders, and the kubeconfig copies that name
// the test's API server port.
func (p *plane) args(r *running, manifest []byte) []string {
	t := p.t
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(manifest, &pod); err != nil {
		t.Fatalf("%s: %v", r.manifest, err)
	}
	args := throughVolumes(pod)
	ports := p.ports[r.node]
	switch r.comp {
	case "etcd":
		args = setFlag(t, args, "data-dir", p.dataDirs[r.node])
		for _, f := range []string{"listen-client-urls", "advertise-client-urls"} {
			args = setFlag(t, args, f, withPort(t, flagValue(args, f), ports["client"]))
		}
		for _, f := range []string{"listen-peer-urls", "initial-advertise-peer-urls"} {
			args = setFlag(t, args, f, withPort(t, flagValue(args, f), ports["peer"]))
		}
		args = setFlag(t, args, "listen-metrics-urls", withPort(t, flagValue(args, "listen-metrics-urls"), ports["metrics"]))
		var initial []string
		for _, pair := range strings.Split(flagValue(args, "initial-cluster"), ",") {
			name, u, _ := strings.Cut(pair, "=")
			initial = append(initial, name+"="+withPort(t, u, p.ports[name]["peer"]))
		}
		args = setFlag(t, args, "initial-cluster", strings.Join(initial, ","))
		args = append(args, "--log-level=warn")
	case "kube-apiserver":
		args = setFlag(t, args, "secure-port", strconv.Itoa(ports["api"]))
		args = setFlag(t, args, "etcd-servers", strings.Join(p.EtcdClients(), ","))
		args = setFlag(t, args, "audit-log-path", filepath.Join(t.TempDir(), "audit.log"))
	case "kube-controller-manager", "kube-scheduler":
		port := ports["kcm"]
		if r.comp == "kube-scheduler" {
			port = ports["sched"]
		}
		args = setFlag(t, args, "secure-port", strconv.Itoa(port))
		kc := flagValue(args, "kubeconfig")
		data, err := os.ReadFile(kc)
		if err != nil {
			t.Fatal(err)
		}
		moved, err := kubeconfig.WithServer(data, p.url(r.node, "api"))
		if err != nil {
			t.Fatal(err)
		}
		cp := filepath.Join(t.TempDir(), filepath.Base(kc))
		if err := os.WriteFile(cp, moved, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig"} {
			args = setFlag(t, args, f, cp)
		}
	}
	return args
}

// throughVolumes is a Pod's command line with every path it names mapped
// through the Pod's volumes to the host's file, as the container sees it:
// bulwark's Pods read the folder through their own folder of links
// (mounts/<component>/), which a rotation step makes again.
func throughVolumes(pod corev1.Pod) []string {
	ctr := pod.Spec.Containers[0]
	host := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil {
			host[v.Name] = v.HostPath.Path
		}
	}
	var args []string
	for _, a := range ctr.Command[1:] {
		name, v, ok := strings.Cut(a, "=")
		if ok && filepath.IsAbs(v) {
			best := ""
			for _, m := range ctr.VolumeMounts {
				if (v == m.MountPath || strings.HasPrefix(v, m.MountPath+"/")) && len(m.MountPath) > len(best) {
					best, a = m.MountPath, name+"="+host[m.Name]+strings.TrimPrefix(v, m.MountPath)
				}
			}
		}
		args = append(args, a)
	}
	return args
}

// start runs a component from its manifest as it is now.
func (p *plane) start(r *running) {
	data, err := os.ReadFile(p.path(r.manifest))
	if err != nil {
		p.t.Fatal(err)
	}
	r.seen = data
	r.proc = pinned.Start(p.t, r.String(), pinned.Path(p.t, r.comp), p.args(r, data)...)
}

// stop ends a component as the kubelet does: SIGTERM, then SIGKILL after
// a grace period (the API server can be slow to exit).
func (p *plane) stop(r *running) {
	r.proc.Stop(20 * time.Second)
}

func (p *plane) waitHealthy(r *running) {
	t := p.t
	var (
		client *http.Client
		u      string
	)
	switch r.comp {
	case "etcd":
		client = pinned.HTTPClient(pinned.TLSConfig(t, p.path("pki/etcd/ca.crt"), p.path("pki/etcd/healthcheck-client.crt"), p.path("pki/etcd/healthcheck-client.key")))
		u = p.url(r.node, "client") + "/health"
	case "kube-apiserver":
		client = pinned.HTTPClient(pinned.TLSConfig(t, p.path("pki/ca.crt"), "", ""))
		u = p.url(r.node, "api") + "/readyz"
	default:
		client = pinned.HTTPClient(&tls.Config{InsecureSkipVerify: true}) // self-signed serving certificates
		port := "kcm"
		if r.comp == "kube-scheduler" {
			port = "sched"
		}
		u = "https://127.0.0.1:" + strconv.Itoa(p.ports[r.node][port]) + "/healthz"
	}
	pinned.WaitFor(t, r.String(), 3*time.Minute, func() error {
		if r.proc.Exited() {
			t.Fatalf("%s exited:\n%s", r, r.proc.Tail(40))
		}
		resp, err := client.Get(u)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || (r.comp == "etcd" && !bytes.Contains(body, []byte(`"health":"true"`))) {
			return fmt.Errorf("%s: %s", resp.Status, body)
		}
		return nil
	})
}

// kubelets plays every node's kubelet once the operator has copied a
// step's files: node after node, each component whose manifest changed is
// stopped and started again from it, and is healthy before the next. It
// returns the components restarted.
func (p *plane) kubelets() []string {
	var out []string
	for _, n := range p.nodes {
		for _, r := range p.comps {
			if r.node != n {
				continue
			}
			data, err := os.ReadFile(p.path(r.manifest))
			if err != nil {
				p.t.Fatal(err)
			}
			if bytes.Equal(data, r.seen) {
				continue
			}
			p.setDraining(r, true)
			p.stop(r)
			p.start(r)
			p.waitHealthy(r)
			p.setDraining(r, false)
			p.mu.Lock()
			p.restarts[r.String()]++
			p.mu.Unlock()
			out = append(out, r.String())
		}
	}
	return out
}

func (p *plane) setDraining(r *running, on bool) {
	if r.comp != "kube-apiserver" {
		return
	}
	p.mu.Lock()
	p.draining[r.node] = on
	p.mu.Unlock()
}

func (p *plane) kubectl(conf string, args ...string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := pinned.Run(ctx, pinned.Path(p.t, "kubectl"), append([]string{"--kubeconfig", p.path(conf)}, args...)...)
	if err != nil {
		p.t.Fatalf("kubectl --kubeconfig %s %s: %v\n%s", conf, strings.Join(args, " "), err, out)
	}
	return out
}

// --- load ---

// outcome of one request.
type outcome int

const (
	ok outcome = iota
	// refused: a TLS or authentication failure (unknown authority, a
	// certificate alert, 401, 403): what a rotation must never cause.
	refused
	// unavailable: the endpoint was down or restarting (connection
	// refused or reset, 5xx): a restart's cost, not a trust failure.
	unavailable
	// forbidden: authenticated, but refused by authorization (403): not a
	// trust failure, counted apart.
	forbidden
)

// classify sorts a request's result.
func classify(err error, status int) outcome {
	if err == nil {
		switch {
		case status == http.StatusUnauthorized:
			return refused
		case status == http.StatusForbidden:
			return forbidden
		case status >= 500 || status == http.StatusTooManyRequests:
			return unavailable
		}
		return ok
	}
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
		alert    tls.AlertError
	)
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify) || errors.As(err, &alert) ||
		strings.Contains(err.Error(), "remote error: tls:") || strings.Contains(err.Error(), "x509:") {
		return refused
	}
	return unavailable
}

// failure is one request a rotation must not fail.
type failure struct {
	at       time.Time
	phase    string
	channel  string
	endpoint string
	detail   string
}

// load runs the channels' traffic until stopped.
type load struct {
	p         *plane
	mu        sync.Mutex
	phase     string
	counts    map[string]map[outcome]int // channel -> outcome -> count
	failures  []failure
	forbidden []failure // the first few
	saToken   string
	stop      chan struct{}
	done      sync.WaitGroup
}

func (l *load) setPhase(s string) { l.mu.Lock(); l.phase = s; l.mu.Unlock() }

func (l *load) record(channel, endpoint string, err error, status int) outcome {
	return l.recordBody(channel, endpoint, err, status, "")
}

func (l *load) recordBody(channel, endpoint string, err error, status int, body string) outcome {
	o := classify(err, status)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts[channel] == nil {
		l.counts[channel] = map[outcome]int{}
	}
	l.counts[channel][o]++
	if o == forbidden && len(l.forbidden) < 20 {
		l.forbidden = append(l.forbidden, failure{time.Now(), l.phase, channel, endpoint, fmt.Sprintf("HTTP %d %s", status, body)})
	}
	if o == refused {
		d := fmt.Sprintf("HTTP %d %s", status, body)
		if err != nil {
			d = err.Error()
		}
		l.failures = append(l.failures, failure{time.Now(), l.phase, channel, endpoint, d})
	}
	return o
}

func (l *load) token() string { l.mu.Lock(); defer l.mu.Unlock(); return l.saToken }

func (l *load) setToken(s string) { l.mu.Lock(); l.saToken = s; l.mu.Unlock() }

// startLoad runs, until stopLoad: reads through admin.conf against every
// API server with client-side failover; etcd reads with the API server's
// etcd client certificate against every member; requests through the
// front-proxy (request-header) path against every API server; requests
// with a ServiceAccount token against every API server. Each reads its
// credentials from the folder as they are now, as a client that was given
// the copied files would.
func (p *plane) startLoad(saToken string) *load {
	l := &load{p: p, counts: map[string]map[outcome]int{}, saToken: saToken, stop: make(chan struct{}), phase: "before"}
	loop := func(f func()) {
		l.done.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond) // a request rate, not a wait for an event
			defer tick.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-tick.C:
					f()
				}
			}
		})
	}
	next := 0
	loop(func() {
		// admin.conf, failing over to the next API server when one is down.
		cfg, err := clientcmd.Load(mustRead(p.path("admin.conf")))
		if err != nil {
			return
		}
		var cl, au string
		for _, c := range cfg.Contexts {
			cl, au = c.Cluster, c.AuthInfo
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(cfg.Clusters[cl].CertificateAuthorityData)
		pair, err := tls.X509KeyPair(cfg.AuthInfos[au].ClientCertificateData, cfg.AuthInfos[au].ClientKeyData)
		if err != nil {
			return
		}
		client := pinned.HTTPClient(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
		apis := p.servingAPIs()
		next++
		for i := range apis {
			api := apis[(next+i)%len(apis)]
			status, body, err := getBody(client, api+"/api/v1/namespaces/default", nil)
			if l.recordBody("admin.conf", api, err, status, body) != unavailable {
				return
			}
		}
	})
	loop(func() {
		for _, ep := range p.EtcdClients() {
			client, err := tlsClient(p.path("pki/etcd/ca.crt"), p.path("pki/apiserver-etcd-client.crt"), p.path("pki/apiserver-etcd-client.key"))
			if err != nil {
				return
			}
			_, err = pinned.EtcdGet(client, ep, "/registry/namespaces/default")
			status := 200
			if err != nil && strings.Contains(err.Error(), "range: ") {
				status = 500
				err = nil
			}
			l.record("etcd", ep, err, status)
		}
	})
	loop(func() {
		client, err := tlsClient(p.path("pki/ca.crt"), p.path("pki/front-proxy-client.crt"), p.path("pki/front-proxy-client.key"))
		if err != nil {
			return
		}
		for _, api := range p.servingAPIs() {
			status, body, err := getBody(client, api+"/api/v1/namespaces/default", http.Header{"X-Remote-User": {"kubernetes-admin"}, "X-Remote-Group": {"bulwark:cluster-admins"}})
			l.recordBody("front-proxy", api, err, status, body)
		}
	})
	loop(func() {
		client, err := tlsClient(p.path("pki/ca.crt"), "", "")
		if err != nil {
			return
		}
		for _, api := range p.servingAPIs() {
			status, err := get(client, api+"/api/v1/namespaces/default/serviceaccounts/default", http.Header{"Authorization": {"Bearer " + l.token()}})
			if status == http.StatusForbidden {
				status = 200 // authenticated; the default ServiceAccount may not read itself
			}
			l.record("serviceaccount-token", api, err, status)
		}
	})
	return l
}

func (l *load) stopLoad() {
	close(l.stop)
	l.done.Wait()
}

func (l *load) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	var chans []string
	for c := range l.counts {
		chans = append(chans, c)
	}
	slices.Sort(chans)
	for _, c := range chans {
		fmt.Fprintf(&b, "%s: %d ok, %d refused (TLS or authentication), %d forbidden, %d unavailable; ", c, l.counts[c][ok], l.counts[c][refused], l.counts[c][forbidden], l.counts[c][unavailable])
	}
	return b.String()
}

func mustRead(path string) []byte {
	data, _ := os.ReadFile(path)
	return data
}

func tlsClient(ca, cert, key string) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: x509.NewCertPool()}
	data, err := os.ReadFile(ca)
	if err != nil {
		return nil, err
	}
	cfg.RootCAs.AppendCertsFromPEM(data)
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return pinned.HTTPClient(cfg), nil
}

func get(client *http.Client, u string, h http.Header) (int, error) {
	status, _, err := getBody(client, u, h)
	return status, err
}

func getBody(client *http.Client, u string, h http.Header) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body), nil
}
