package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/pinned"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/pki"
)

// releaseBinary builds bulwark as users get it (no test hooks).
func releaseBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bulwark")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/bulwark-k8s/bulwark/cmd/bulwark").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// hostAddr is this machine's first address: kubeadm refuses loopback as
// the API server's advertise address.
func hostAddr(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("hostname", "-I").Output()
	if err != nil || len(strings.Fields(string(out))) == 0 {
		t.Skipf("no host address for kubeadm: %v", err)
	}
	return strings.Fields(string(out))[0]
}

// remap rewrites kubeadm's /etc/kubernetes paths to the test's root.
func remap(args []string, root string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, "=/etc/kubernetes/", "="+root+"/etc/kubernetes/")
	}
	return out
}

// servedCert is the certificate a TLS server presents.
func servedCert(t *testing.T, addr string, cfg *tls.Config) *x509.Certificate {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// TestKubeadmRenewedServes: the real kubeadm writes /etc/kubernetes
// (certificates, kubeconfigs, static Pods, local etcd); bulwark renews
// every certificate and kubeconfig in it with its release binary; the real
// etcd and kube-apiserver, started with kubeadm's own command lines (paths
// and ports remapped), serve and accept the renewed certificates: the
// served serials are the new ones, the API server reaches etcd with its
// renewed client certificate, and the renewed kubeconfigs authenticate as
// the identities kubeadm gave them.
func TestKubeadmRenewedServes(t *testing.T) {
	addr := hostAddr(t)
	root := t.TempDir()
	cfg := "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: " + addr +
		"\nnodeRegistration:\n  name: cp-1\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.36.3\n"
	if err := os.WriteFile(filepath.Join(root, "kubeadm.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeadm := pinned.Path(t, "kubeadm")
	for _, phase := range [][]string{{"certs", "all"}, {"kubeconfig", "all"}, {"control-plane", "all"}, {"etcd", "local"}} {
		args := append(append([]string{"init", "phase"}, phase...), "--config", "/kubeadm.yaml", "--rootfs", root)
		if out, err := exec.Command(kubeadm, args...).CombinedOutput(); err != nil {
			t.Fatalf("kubeadm %v: %v\n%s", phase, err, out)
		}
	}
	dir := filepath.Join(root, "etc", "kubernetes")
	path := func(rel string) string { return filepath.Join(dir, rel) }
	readCert := func(rel string) *x509.Certificate {
		data, err := os.ReadFile(path(rel))
		if err != nil {
			t.Fatal(err)
		}
		c, err := pki.ParseCert(data)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	before := map[string]*x509.Certificate{}
	leaves := []string{"pki/apiserver.crt", "pki/apiserver-etcd-client.crt", "pki/apiserver-kubelet-client.crt", "pki/front-proxy-client.crt",
		"pki/etcd/server.crt", "pki/etcd/peer.crt", "pki/etcd/healthcheck-client.crt"}
	for _, f := range leaves {
		before[f] = readCert(f)
	}

	out, err := exec.Command(releaseBinary(t), "certs", "renew", "--all", "--dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("bulwark certs renew --all: %v\n%s", err, out)
	}
	for _, f := range leaves {
		after := readCert(f)
		if after.SerialNumber.Cmp(before[f].SerialNumber) == 0 {
			t.Errorf("%s was not renewed", f)
		}
		if after.Subject.String() != before[f].Subject.String() || after.Issuer.String() != before[f].Issuer.String() ||
			fmt.Sprint(after.DNSNames, after.IPAddresses, after.ExtKeyUsage) != fmt.Sprint(before[f].DNSNames, before[f].IPAddresses, before[f].ExtKeyUsage) {
			t.Errorf("%s changed identity: %s %v %v, was %s %v %v", f, after.Subject, after.DNSNames, after.IPAddresses, before[f].Subject, before[f].DNSNames, before[f].IPAddresses)
		}
	}

	// etcd, from kubeadm's manifest.
	podArgs := func(rel string) []string {
		c := &cluster{dir: dir}
		return remap(c.podArgs(t, rel), root)
	}
	clientPort, peerPort, metricsPort, apiPort := pinned.FreePort(t), pinned.FreePort(t), pinned.FreePort(t), pinned.FreePort(t)
	etcdArgs := podArgs("manifests/etcd.yaml")
	clientURL := "https://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "https://" + net.JoinHostPort(addr, strconv.Itoa(peerPort))
	etcdArgs = setFlag(t, etcdArgs, "data-dir", t.TempDir())
	etcdArgs = setFlag(t, etcdArgs, "listen-client-urls", clientURL)
	etcdArgs = setFlag(t, etcdArgs, "advertise-client-urls", clientURL)
	etcdArgs = setFlag(t, etcdArgs, "listen-peer-urls", peerURL)
	etcdArgs = setFlag(t, etcdArgs, "initial-advertise-peer-urls", peerURL)
	etcdArgs = setFlag(t, etcdArgs, "initial-cluster", "cp-1="+peerURL)
	etcdArgs = setFlag(t, etcdArgs, "listen-metrics-urls", "http://127.0.0.1:"+strconv.Itoa(metricsPort))
	health := pinned.TLSConfig(t, path("pki/etcd/ca.crt"), path("pki/etcd/healthcheck-client.crt"), path("pki/etcd/healthcheck-client.key"))
	pinned.StartEtcd(t, []pinned.EtcdMember{{Name: "cp-1", ClientURL: clientURL, Args: etcdArgs}}, health)
	if got := servedCert(t, "127.0.0.1:"+strconv.Itoa(clientPort), health); !got.Equal(readCert("pki/etcd/server.crt")) {
		t.Errorf("etcd serves serial %x, not the renewed %x", got.SerialNumber, readCert("pki/etcd/server.crt").SerialNumber)
	}

	// kube-apiserver, from kubeadm's manifest, on etcd through its renewed client certificate.
	apiArgs := podArgs("manifests/kube-apiserver.yaml")
	apiArgs = setFlag(t, apiArgs, "etcd-servers", clientURL)
	apiArgs = setFlag(t, apiArgs, "secure-port", strconv.Itoa(apiPort))
	api := pinned.Start(t, "kube-apiserver", pinned.Path(t, "kube-apiserver"), apiArgs...)
	apiAddr := net.JoinHostPort(addr, strconv.Itoa(apiPort))
	caTLS := pinned.TLSConfig(t, path("pki/ca.crt"), "", "")
	client := pinned.HTTPClient(caTLS)
	pinned.WaitFor(t, "kube-apiserver", 120*time.Second, func() error {
		if api.Exited() {
			t.Fatalf("kube-apiserver exited:\n%s", api.Tail(40))
		}
		resp, err := client.Get("https://" + apiAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
	if got := servedCert(t, apiAddr, caTLS); !got.Equal(readCert("pki/apiserver.crt")) {
		t.Errorf("kube-apiserver serves serial %x, not the renewed %x", got.SerialNumber, readCert("pki/apiserver.crt").SerialNumber)
	}

	// The renewed kubeconfigs, pointed at this API server's port.
	kubectl := func(conf string, args ...string) string {
		t.Helper()
		data, err := os.ReadFile(path(conf))
		if err != nil {
			t.Fatal(err)
		}
		moved, err := kubeconfig.WithServer(data, "https://"+apiAddr)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), conf)
		if err := os.WriteFile(p, moved, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(pinned.Path(t, "kubectl"), append([]string{"--kubeconfig", p}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl --kubeconfig %s %v: %v\n%s", conf, args, err, stderr.String())
		}
		return stdout.String()
	}
	kubectl("super-admin.conf", "get", "namespaces")
	for conf, want := range map[string][2]string{
		"admin.conf":              {"kubernetes-admin", "kubeadm:cluster-admins"},
		"super-admin.conf":        {"kubernetes-super-admin", "system:masters"},
		"controller-manager.conf": {"system:kube-controller-manager", "system:authenticated"},
		"scheduler.conf":          {"system:kube-scheduler", "system:authenticated"},
	} {
		var who struct {
			Status struct {
				UserInfo struct {
					Username string   `json:"username"`
					Groups   []string `json:"groups"`
				} `json:"userInfo"`
			} `json:"status"`
		}
		if err := json.Unmarshal([]byte(kubectl(conf, "auth", "whoami", "-o", "json")), &who); err != nil {
			t.Fatal(err)
		}
		if u := who.Status.UserInfo; u.Username != want[0] || !contains(u.Groups, want[1]) {
			t.Errorf("%s authenticates as %s %v, want %s in %s", conf, u.Username, u.Groups, want[0], want[1])
		}
	}
}
