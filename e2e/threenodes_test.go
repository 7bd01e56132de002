package e2e

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/pinned"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/pki"
)

// TestThreeNodeControlPlane starts a control plane of three nodes from the
// rendered manifests (three etcd members, and an API server, a controller
// manager and a scheduler on each node), each node on its own loopback
// address with its kubelet played by the test, and shows that
//   - certificates renewed under running components reach them: the
//     components that reload a file serve the new certificate with no
//     restart, the others are recreated by the kubelet because their
//     manifest's checksum changed, and a client that fails over between
//     the API servers sees no failed request meanwhile;
//   - with any one node's API server stopped, a new node's CSR made
//     through another API server is approved and issued, and the leader
//     leases are held by the other nodes' components (and move when their
//     holder's API server is the one stopped).
//
// One cluster serves both: it takes a minute or two to start on two cores.
func TestThreeNodeControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane of three nodes")
	}
	cp := newControlPlane(t, "cp-1", "cp-2", "cp-3")

	// Each node's controller manager and scheduler name their own node's
	// API server; admin.conf and bootstrap-kubelet.conf the shared endpoint.
	for _, k := range cp.nodes {
		for _, conf := range []string{"controller-manager", "scheduler"} {
			if got, want := server(t, cp.path("nodes/"+k.name+"/"+conf+".conf")), "https://"+k.ip+":6443"; got != want {
				t.Errorf("%s's %s.conf names %s, want %s", k.name, conf, got, want)
			}
		}
	}
	for _, conf := range []string{"admin.conf", "bootstrap-kubelet.conf"} {
		if got, want := server(t, cp.path(conf)), "https://"+cp.endpoint+":6443"; got != want {
			t.Errorf("%s names %s, want %s", conf, got, want)
		}
	}

	began := time.Now()
	cp.start(t)
	cp.kubectl(t, cp.nodes[0], "super-admin.conf", "apply", "-f", cp.path("cluster"))
	pinned.WaitFor(t, "leader leases", 120*time.Second, func() error {
		cp.syncAll(t)
		h := cp.holders(t, cp.nodes[0])
		for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
			if h[name] == "" {
				return fmt.Errorf("nobody holds %s", name)
			}
		}
		return nil
	})
	t.Logf("three nodes up and leading in %s", time.Since(began).Round(time.Second))

	t.Run("renewed certificates reach the running components", func(t *testing.T) { testRenewal(t, cp) })
	t.Run("any one API server down: CSRs are issued and leases move", func(t *testing.T) { testAPIServerDown(t, cp) })
}

func server(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubeconfig.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return kc.Server
}

// serialOf is the serial of a certificate file of the folder.
func (cp *controlPlane) serialOf(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(cp.path(rel))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.ParseCert(data)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

// servedSerial is the serial of the certificate a TLS server presents.
func servedSerial(addr string, cfg *tls.Config) (string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// served is what each component serves or presents: the serials of the
// API servers' serving and front-proxy client certificates, of etcd's
// serving and peer certificates, by node.
type served map[string]string

func (cp *controlPlane) served(t *testing.T, agg, kubeletProbe *callProbe, admin *http.Client) (served, error) {
	t.Helper()
	out := served{}
	for _, k := range cp.nodes {
		apiTLS := pinned.TLSConfig(t, cp.path("pki/ca.crt"), "", "")
		etcdTLS := pinned.TLSConfig(t, cp.path("pki/etcd/ca.crt"), cp.path("pki/etcd/healthcheck-client.crt"), cp.path("pki/etcd/healthcheck-client.key"))
		// A peer's certificate opens the peer port: another member's.
		other := cp.nodes[(slices.Index(cp.nodes, k)+1)%len(cp.nodes)].name
		peerTLS := pinned.TLSConfig(t, cp.path("pki/etcd/peer-ca.crt"), cp.path("pki/etcd/"+other+"/peer.crt"), cp.path("pki/etcd/"+other+"/peer.key"))
		for what, get := range map[string]func() (string, error){
			"kube-apiserver serving":     func() (string, error) { return servedSerial(net.JoinHostPort(k.ip, strconv.Itoa(k.api)), apiTLS) },
			"kube-apiserver front-proxy": func() (string, error) { return agg.clientSerial(admin, k, "/apis/"+probeGroup+"/v1") },
			"kube-apiserver kubelet-client": func() (string, error) {
				return kubeletProbe.clientSerial(admin, k, "/api/v1/nodes/"+probeNode+"/proxy/healthz")
			},
			"etcd serving": func() (string, error) {
				return servedSerial(net.JoinHostPort(k.ip, strconv.Itoa(k.etcdClient)), etcdTLS)
			},
			"etcd peer": func() (string, error) { return servedSerial(net.JoinHostPort(k.ip, strconv.Itoa(k.etcdPeer)), peerTLS) },
		} {
			s, err := get()
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", k.name, what, err)
			}
			out[k.name+" "+what] = s
		}
	}
	return out, nil
}

// onDisk is what served should be: the serials of the folder's files.
func (cp *controlPlane) onDisk(t *testing.T) served {
	t.Helper()
	out := served{}
	for _, k := range cp.nodes {
		out[k.name+" kube-apiserver serving"] = cp.serialOf(t, "pki/apiserver.crt")
		out[k.name+" kube-apiserver front-proxy"] = cp.serialOf(t, "pki/front-proxy-client.crt")
		out[k.name+" kube-apiserver kubelet-client"] = cp.serialOf(t, "pki/apiserver-kubelet-client.crt")
		out[k.name+" etcd serving"] = cp.serialOf(t, "pki/etcd/"+k.name+"/server.crt")
		out[k.name+" etcd peer"] = cp.serialOf(t, "pki/etcd/"+k.name+"/peer.crt")
	}
	return out
}

func (s served) diff(want served) string {
	var out []string
	for k, v := range want {
		if s[k] != v {
			out = append(out, fmt.Sprintf("%s serves %s, want %s", k, s[k], v))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// starts counts, by node and component, how often each was started.
func (cp *controlPlane) starts() map[string]int {
	out := map[string]int{}
	for _, k := range cp.nodes {
		for comp, p := range k.pods {
			out[k.name+" "+comp] = p.starts
			if p.proc.Exited() {
				out[k.name+" "+comp] = -1
			}
		}
	}
	return out
}

func testRenewal(t *testing.T, cp *controlPlane) {
	agg := cp.startAggregated(t)
	kubeletProbe := cp.startKubeletProbe(t)
	adminConf := cp.kubeconfigAt(t, "admin.conf", cp.nodes[0])
	cfg := restConfigFile(t, adminConf)
	pair, err := tlsPair(cfg)
	if err != nil {
		t.Fatal(err)
	}
	adminTLS := pinned.TLSConfig(t, cp.path("pki/ca.crt"), "", "")
	adminTLS.Certificates = []tls.Certificate{pair}
	admin := pinned.HTTPClient(adminTLS)

	var before served
	pinned.WaitFor(t, "every component serving", 60*time.Second, func() (err error) {
		before, err = cp.served(t, agg, kubeletProbe, admin)
		return err
	})
	if d := before.diff(cp.onDisk(t)); d != "" {
		t.Fatalf("before renewal: %s", d)
	}
	fo := cp.startFailover(t, "admin.conf")
	startsBefore := cp.starts()

	// Part 1: certificates whose components reload them.
	names := []string{"apiserver", "front-proxy-client", "apiserver-kubelet-client"}
	for _, k := range cp.nodes {
		names = append(names, "etcd/"+k.name+"/server", "etcd/"+k.name+"/peer")
	}
	renewedAt := time.Now()
	out := bulwark(t, append(append([]string{"certs", "renew"}, names...), "--dir", cp.dir)...)
	for _, k := range cp.nodes {
		for _, want := range []string{
			"kept     nodes/" + k.name + "/manifests/kube-apiserver.yaml: reloads by itself: pki/apiserver-kubelet-client.crt, pki/apiserver.crt, pki/front-proxy-client.crt",
			"kept     nodes/" + k.name + "/manifests/etcd.yaml: reloads by itself: pki/etcd/" + k.name + "/peer.crt, pki/etcd/" + k.name + "/server.crt",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("renew does not say %q:\n%s", want, out)
			}
		}
	}
	want := cp.onDisk(t)
	for key, s := range want {
		if before[key] == s {
			t.Fatalf("%s: renew did not change the certificate", key)
		}
	}
	for _, k := range cp.nodes {
		if recreated := k.sync(t); len(recreated) > 0 {
			t.Errorf("%s: the kubelet recreated %v, whose manifests should not change", k.name, recreated)
		}
	}
	var now served
	pinned.WaitFor(t, "renewed certificates served", 120*time.Second, func() (err error) {
		if now, err = cp.served(t, agg, kubeletProbe, admin); err != nil {
			return err
		}
		if d := now.diff(want); d != "" {
			return fmt.Errorf("%s", d)
		}
		return nil
	})
	t.Logf("every renewed certificate served %s after the renewal, no process restarted", time.Since(renewedAt).Round(100*time.Millisecond))
	if after := cp.starts(); !mapsEqual(after, startsBefore) {
		t.Errorf("processes restarted (-1: exited): before %v, after %v", startsBefore, after)
	}

	// Part 2: files read only at start. The kubelets recreate exactly the
	// Pods whose checksum changed, one node after the other.
	names = []string{"apiserver-etcd-client"}
	for _, k := range cp.nodes {
		names = append(names, "nodes/"+k.name+"/controller-manager", "nodes/"+k.name+"/scheduler")
	}
	out = bulwark(t, append(append([]string{"certs", "renew"}, names...), "--dir", cp.dir)...)
	for _, k := range cp.nodes {
		for _, want := range []string{
			"renewed  nodes/" + k.name + "/manifests/kube-apiserver.yaml: restarted by the kubelet (checksum changed): pki/apiserver-etcd-client.crt",
			"renewed  nodes/" + k.name + "/manifests/kube-controller-manager.yaml: restarted by the kubelet (checksum changed): nodes/" + k.name + "/controller-manager.conf",
			"renewed  nodes/" + k.name + "/manifests/kube-scheduler.yaml: restarted by the kubelet (checksum changed): nodes/" + k.name + "/scheduler.conf",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("renew does not say %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "nodes/"+k.name+"/manifests/etcd.yaml") {
			t.Errorf("renew names etcd's manifest, which reads none of the files:\n%s", out)
		}
	}
	for _, k := range cp.nodes {
		etcdStarts := k.pods["etcd"].starts
		recreated := k.sync(t)
		if !slices.Equal(recreated, []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"}) {
			t.Errorf("%s: the kubelet recreated %v", k.name, recreated)
		}
		k.waitReady(t)
		if k.pods["etcd"].starts != etcdStarts {
			t.Errorf("%s: etcd was restarted", k.name)
		}
	}
	// The recreated API servers serve what is on disk too.
	pinned.WaitFor(t, "renewed certificates served after the restarts", 60*time.Second, func() (err error) {
		if now, err = cp.served(t, agg, kubeletProbe, admin); err != nil {
			return err
		}
		if d := now.diff(want); d != "" {
			return fmt.Errorf("%s", d)
		}
		return nil
	})
	fo.halt()
	ok, fail, errs := fo.counts()
	t.Logf("client with failover: %d requests answered, %d failed, during both renewals and the restarts", ok, fail)
	if fail > 0 {
		t.Errorf("%d requests failed on every API server: %v", fail, errs)
	}
	if ok < 100 {
		t.Errorf("only %d requests made: the client did not run during the renewals", ok)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// leaderNode waits for the node whose API server records a renewal of a
// lease after since: the node whose component leads.
func (cp *controlPlane) leaderNode(t *testing.T, lease string, since time.Time, skip *kubelet) *kubelet {
	t.Helper()
	var leader *kubelet
	pinned.WaitFor(t, lease+" renewed", 90*time.Second, func() error {
		cp.syncAll(t)
		for _, k := range cp.nodes {
			if k != skip && k.leaseWriters(t, since)[lease] {
				leader = k
				return nil
			}
		}
		return fmt.Errorf("no API server records a renewal of %s since %s", lease, since.Format(time.RFC3339))
	})
	return leader
}

func testAPIServerDown(t *testing.T, cp *controlPlane) {
	leases := []string{"kube-controller-manager", "kube-scheduler"}
	moved := map[string]int{}
	for i, down := range cp.nodes {
		others := slices.DeleteFunc(slices.Clone(cp.nodes), func(k *kubelet) bool { return k == down })
		t.Run(down.name+"'s API server down", func(t *testing.T) {
			leaders := map[string]*kubelet{}
			holders := cp.holders(t, others[0])
			for _, l := range leases {
				leaders[l] = cp.leaderNode(t, l, time.Now(), nil)
			}
			stopped := time.Now()
			down.stop("kube-apiserver")

			// A new node bootstraps through another node's API server.
			via := others[i%len(others)]
			boot := clientset(t, restConfigFile(t, cp.kubeconfigAt(t, "bootstrap-kubelet.conf", via)))
			node := fmt.Sprintf("worker-%d", i+1)
			cert, _ := requestNodeCert(t, boot, node, "bootstrap")
			if cert.Subject.CommonName != "system:node:"+node {
				t.Fatalf("issued for %s", cert.Subject.CommonName)
			}

			// The leases are renewed at the other nodes' API servers, by
			// their own controller manager and scheduler.
			for _, l := range leases {
				now := cp.leaderNode(t, l, stopped, down)
				if leaders[l] == down {
					after := cp.holders(t, others[0])[l]
					if after == holders[l] {
						t.Errorf("%s still held by %s, whose API server is down", l, after)
					}
					moved[l]++
					t.Logf("%s moved from %s to %s", l, down.name, now.name)
				} else {
					t.Logf("%s stays with %s", l, now.name)
				}
			}
			down.resume("kube-apiserver")
			down.waitReady(t)
		})
	}
	for _, l := range leases {
		if moved[l] == 0 {
			t.Errorf("%s never moved: its leader's API server was never the one stopped", l)
		}
	}
}
