package e2e

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/pinned"
)

// TestEtcdThreeMembers runs a real three-member etcd from the rendered
// manifests with bulwark's certificates and checks who it lets in.
func TestEtcdThreeMembers(t *testing.T) {
	members := []string{"etcd-1", "etcd-2", "etcd-3"}
	c := newCluster(t, members...)
	c.startEtcd(t, members...)
	etcdCA := c.path("pki/etcd/ca.crt")
	ep := c.etcd.Endpoints()

	apiClient := pinned.HTTPClient(pinned.TLSConfig(t, etcdCA, c.path("pki/apiserver-etcd-client.crt"), c.path("pki/apiserver-etcd-client.key")))
	t.Run("apiserver-etcd-client writes and reads across members", func(t *testing.T) {
		if err := pinned.EtcdPut(apiClient, ep[0], "/bulwark/probe", "written-through-etcd-1"); err != nil {
			t.Fatal(err)
		}
		got, err := pinned.EtcdGet(apiClient, ep[2], "/bulwark/probe")
		if err != nil {
			t.Fatal(err)
		}
		if got != "written-through-etcd-1" {
			t.Fatalf("read %q from etcd-3", got)
		}
	})

	refused := []struct {
		name          string
		cert, key, ca string
	}{
		{"no client certificate", "", "", etcdCA},
		{"a certificate from the cluster CA", c.path("pki/apiserver-kubelet-client.crt"), c.path("pki/apiserver-kubelet-client.key"), etcdCA},
		{"the front-proxy client certificate", c.path("pki/front-proxy-client.crt"), c.path("pki/front-proxy-client.key"), etcdCA},
		{"a peer certificate used as a client", c.path("pki/etcd/etcd-1/peer.crt"), c.path("pki/etcd/etcd-1/peer.key"), etcdCA},
	}
	for _, tc := range refused {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			client := pinned.HTTPClient(pinned.TLSConfig(t, tc.ca, tc.cert, tc.key))
			for _, e := range ep {
				err := pinned.EtcdPut(client, e, "/bulwark/intruder", "x")
				if err == nil {
					t.Fatalf("%s could write to %s", tc.name, e)
				}
				if !isTLSRefusal(err) {
					t.Fatalf("%s: want a TLS refusal, got %v", e, err)
				}
			}
		})
	}

	// The peer port: etcd serves its member list there to peers only.
	peerURL := func(member string) string {
		for _, m := range c.etcd.Members {
			if m.Name == member {
				return "https://127.0.0.1:" + portOf(flagValue(m.Args, "listen-peer-urls"))
			}
		}
		t.Fatalf("no member %s", member)
		return ""
	}
	peerCA := c.path("pki/etcd/peer-ca.crt")
	t.Run("a peer certificate reaches the peer port", func(t *testing.T) {
		client := pinned.HTTPClient(pinned.TLSConfig(t, peerCA, c.path("pki/etcd/etcd-2/peer.crt"), c.path("pki/etcd/etcd-2/peer.key")))
		resp, err := client.Get(peerURL("etcd-1") + "/members")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("peer /members: %s", resp.Status)
		}
	})
	for _, tc := range []struct{ name, cert, key string }{
		{"apiserver-etcd-client (etcd/ca)", "pki/apiserver-etcd-client.crt", "pki/apiserver-etcd-client.key"},
		{"an etcd server certificate (etcd/ca)", "pki/etcd/etcd-1/server.crt", "pki/etcd/etcd-1/server.key"},
		{"a cluster CA certificate", "pki/apiserver-kubelet-client.crt", "pki/apiserver-kubelet-client.key"},
	} {
		t.Run("peer port refuses "+tc.name, func(t *testing.T) {
			client := pinned.HTTPClient(pinned.TLSConfig(t, peerCA, c.path(tc.cert), c.path(tc.key)))
			for _, m := range members {
				resp, err := client.Get(peerURL(m) + "/members")
				if err == nil {
					resp.Body.Close()
					t.Fatalf("%s reached %s's peer port: %s", tc.name, m, resp.Status)
				}
				if !isTLSRefusal(err) {
					t.Fatalf("want a TLS refusal, got %v", err)
				}
			}
		})
	}
	t.Run("an etcd/ca certificate cannot join as a member", func(t *testing.T) {
		// A real fifth etcd process that presents apiserver-etcd-client as
		// its peer certificate and tries to join: the members refuse it, and
		// the cluster still has three members.
		if err := pinned.EtcdPut(apiClient, ep[0], "/bulwark/before-join", "ok"); err != nil {
			t.Fatal(err)
		}
		joinPeer, joinClient := pinned.FreePort(t), pinned.FreePort(t)
		var initial []string
		for _, m := range c.etcd.Members {
			initial = append(initial, m.Name+"="+flagValue(m.Args, "initial-advertise-peer-urls"))
		}
		initial = append(initial, fmt.Sprintf("intruder=https://127.0.0.1:%d", joinPeer))
		p := pinned.Start(t, "etcd-intruder", pinned.Path(t, "etcd"),
			"--name=intruder", "--data-dir="+t.TempDir(),
			fmt.Sprintf("--listen-client-urls=https://127.0.0.1:%d", joinClient),
			fmt.Sprintf("--advertise-client-urls=https://127.0.0.1:%d", joinClient),
			fmt.Sprintf("--listen-peer-urls=https://127.0.0.1:%d", joinPeer),
			fmt.Sprintf("--initial-advertise-peer-urls=https://127.0.0.1:%d", joinPeer),
			"--initial-cluster="+strings.Join(initial, ","), "--initial-cluster-state=existing",
			"--cert-file="+c.path("pki/apiserver-etcd-client.crt"), "--key-file="+c.path("pki/apiserver-etcd-client.key"),
			"--peer-cert-file="+c.path("pki/apiserver-etcd-client.crt"), "--peer-key-file="+c.path("pki/apiserver-etcd-client.key"),
			// It trusts the real peer CA (a public file), so any refusal is the
			// members refusing its certificate.
			"--peer-trusted-ca-file="+peerCA, "--peer-client-cert-auth=true", "--log-level=warn")
		pinned.WaitFor(t, "intruder to give up", 60e9, func() error {
			if !p.Exited() {
				return fmt.Errorf("still running")
			}
			return nil
		})
		out, err := pinned.EtcdGet(apiClient, ep[0], "/bulwark/before-join")
		if err != nil || out != "ok" {
			t.Fatalf("cluster unhealthy after the join attempt: %q %v", out, err)
		}
		log := p.Log()
		if strings.Contains(log, "published local member to cluster") {
			t.Fatalf("intruder joined:\n%s", p.Tail(20))
		}
		if !strings.Contains(log, "remote error: tls: unknown certificate authority") {
			t.Fatalf("intruder failed for another reason than the members refusing its certificate:\n%s", p.Tail(10))
		}
	})
}

func portOf(u string) string {
	i := strings.LastIndex(u, ":")
	return u[i+1:]
}

// isTLSRefusal tells a TLS-level refusal (handshake failure, certificate
// required, bad certificate, or the connection cut by the server during
// the handshake) from other errors.
func isTLSRefusal(err error) bool {
	if err == nil {
		return false
	}
	var alert tls.AlertError
	s := err.Error()
	return strings.Contains(s, "tls:") || strings.Contains(s, "certificate") || strings.Contains(s, "connection reset") ||
		strings.Contains(s, "EOF") || strings.Contains(s, "broken pipe") || errors.As(err, &alert)
}
