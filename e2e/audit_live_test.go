package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/audit"
	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/internal/pinned"
)

// TestAuditLive probes real components from outside: the control plane of
// the e2e suite (etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler from the rendered manifests) must give no finding above
// info; the same binaries started with one weakness each (etcd without
// client certificate authentication or trusting the cluster CA, an API
// server with anonymous authentication, a controller manager bound to
// every address) must each give exactly the finding for that weakness.
// Kubelets are played by test listeners (a real kubelet does not stay up
// on these machines): one answers 401 like a hardened kubelet, others 200
// and 403, one serves an expired certificate, and a plain HTTP listener
// stands for the read-only port.
func TestAuditLive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real control plane")
	}
	began := time.Now()
	c := newCluster(t)
	c.startEtcd(t, "cp-1")

	// The weakened API server boots beside the real one: it shares etcd
	// and every flag but authentication.
	anonPort := pinned.FreePort(t)
	anonArgs := c.podArgs(t, c.manifest(t, "cp-1", "kube-apiserver"))
	anonArgs = setFlag(t, anonArgs, "secure-port", strconv.Itoa(anonPort))
	anonArgs = setFlag(t, anonArgs, "etcd-servers", strings.Join(c.etcd.Endpoints(), ","))
	anonArgs = setFlag(t, anonArgs, "audit-log-path", filepath.Join(t.TempDir(), "audit.log"))
	// --anonymous-auth and an authentication configuration with an
	// anonymous section cannot be given together: the flag replaces it.
	anonArgs = append(dropFlag(t, anonArgs, "authentication-config"), "--anonymous-auth=true")
	anonAPI := pinned.Start(t, "kube-apiserver-anonymous", pinned.Path(t, "kube-apiserver"), anonArgs...)
	c.startAPIServer(t)

	kcmPort, schedPort, openKCMPort := pinned.FreePort(t), pinned.FreePort(t), pinned.FreePort(t)
	c.startSidecar(t, "kube-controller-manager", kcmPort)
	c.startSidecar(t, "kube-scheduler", schedPort)
	kcmArgs := c.podArgs(t, c.manifest(t, "cp-1", "kube-controller-manager"))
	kcmArgs = setFlag(t, kcmArgs, "secure-port", strconv.Itoa(openKCMPort))
	kcmArgs = setFlag(t, kcmArgs, "bind-address", "0.0.0.0")
	openKCM := pinned.Start(t, "kube-controller-manager-open", pinned.Path(t, "kube-controller-manager"), kcmArgs...)

	// etcd without client certificate authentication: etcd 3.6 still asks
	// for a certificate while --trusted-ca-file is set, so both go (as in
	// a cluster set up without etcd client certificates). Its peer port
	// trusts the cluster CA.
	openEtcd := c.startWeakEtcd(t, "open", pinned.TLSConfig(t, c.path("pki/etcd/ca.crt"), "", ""), func(args []string) []string {
		args = dropFlag(t, dropFlag(t, args, "client-cert-auth"), "trusted-ca-file")
		return setFlag(t, args, "peer-trusted-ca-file", c.path("pki/ca.crt"))
	})
	// etcd whose client port trusts the cluster CA (one CA for
	// everything), and whose peer port asks for no certificate.
	clusterCAEtcd := c.startWeakEtcd(t, "cluster-ca",
		pinned.TLSConfig(t, c.path("pki/etcd/ca.crt"), c.path("pki/apiserver-kubelet-client.crt"), c.path("pki/apiserver-kubelet-client.key")),
		func(args []string) []string {
			args = setFlag(t, args, "trusted-ca-file", c.path("pki/ca.crt"))
			return dropFlag(t, dropFlag(t, args, "peer-client-cert-auth"), "peer-trusted-ca-file")
		})

	kubelet := liveListener(t, 401, nil)
	kubelet200 := liveListener(t, 200, nil)
	kubelet403 := liveListener(t, 403, nil)
	expired := liveListener(t, 401, expiredCert(t))
	readOnly := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"kind":"PodList","apiVersion":"v1","items":[]}`)
	}))
	t.Cleanup(readOnly.Close)
	closedPort := pinned.FreePort(t)

	anon := pinned.HTTPClient(pinned.TLSConfig(t, c.path("pki/ca.crt"), "", ""))
	pinned.WaitFor(t, "anonymous kube-apiserver", 120*time.Second, func() error {
		if anonAPI.Exited() {
			t.Fatalf("kube-apiserver with --anonymous-auth=true exited:\n%s", anonAPI.Tail(40))
		}
		resp, err := anon.Get(fmt.Sprintf("https://127.0.0.1:%d/readyz", anonPort))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
	for name, port := range map[string]int{"kube-controller-manager": kcmPort, "kube-scheduler": schedPort, "kube-controller-manager on 0.0.0.0": openKCMPort} {
		pinned.WaitFor(t, name, 60*time.Second, func() error {
			if openKCM.Exited() {
				t.Fatalf("kube-controller-manager --bind-address=0.0.0.0 exited:\n%s", openKCM.Tail(40))
			}
			conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				return err
			}
			return conn.Close()
		})
	}
	t.Logf("components up after %s", time.Since(began).Round(time.Millisecond))

	// The cluster objects init wrote (bindings, the quiet namespaces'
	// default ServiceAccounts), applied as a user would.
	c.mustKubectl(t, "super-admin.conf", "apply", "-f", c.path("cluster"))

	loop := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	t.Run("the e2e cluster gives no finding above info, static and live", func(t *testing.T) {
		static := auditJSON(t, 0, "audit", "--dir", c.dir, "--root", c.dir, "-o", "json")
		rep := auditJSON(t, 0, "audit", "--dir", c.dir, "--root", c.dir, "-o", "json", "--live",
			"--etcd", strings.TrimPrefix(c.etcd.Endpoints()[0], "https://"),
			"--etcd-peer", "127.0.0.1:"+portOf(flagValue(c.etcd.Members[0].Args, "listen-peer-urls")),
			"--kubeconfig", c.path("admin.conf"),
			"--kubelet", kubelet, "--kubelet-read-only-port", strconv.Itoa(closedPort),
			"--controller-manager", loop(kcmPort), "--scheduler", loop(schedPort))
		for _, f := range rep.Findings {
			if f.Severity != finding.Info {
				t.Errorf("%s %s: %s (%s)", f.Severity, f.ID, f.Title, f.Evidence)
			}
		}
		// Every probe ran: etcd client and peer (no certificate, cluster-CA
		// certificate), API server, kubelet, read-only port, controller
		// manager and scheduler beyond loopback, and the six served
		// certificates; and the cluster's default ServiceAccounts.
		want := 2 + 2 + 1 + 1 + 1 + 6 + 1
		if addrs, _ := audit.MachineAddrs(); len(addrs) > 0 {
			want += 2
		}
		if got := rep.Checked - static.Checked; got != want {
			t.Errorf("the live audit made %d checks, want %d", got, want)
		}
	})

	t.Run("a namespace made after init: its default ServiceAccount automounts, and only it is found", func(t *testing.T) {
		c.mustKubectl(t, "admin.conf", "create", "namespace", "team-a")
		pinned.WaitFor(t, "team-a's default ServiceAccount", 60*time.Second, func() error {
			_, err := c.kubectl(t, "admin.conf", "-n", "team-a", "get", "serviceaccount", "default")
			return err
		})
		rep := auditJSON(t, cli.ExitFindings, "audit", "-o", "json", "--live", "--kubeconfig", c.path("admin.conf"))
		var got []string
		for _, f := range rep.Findings {
			got = append(got, fmt.Sprintf("%s %s %s: %s", f.Severity, f.ID, f.Evidence.Object, f.Evidence.Detail))
		}
		want := []string{"medium " + audit.DefaultSAAutomountID + " ServiceAccount team-a/default: automountServiceAccountToken unset (the default is true)"}
		if !slices.Equal(got, want) {
			t.Fatalf("findings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		// What the finding means, seen in the API server's own admission:
		// a Pod that runs as default gets a token volume in team-a, and
		// none in a quiet namespace.
		for ns, wantToken := range map[string]bool{"team-a": true, "default": false, "kube-system": false} {
			pod := c.mustKubectl(t, "admin.conf", "-n", ns, "run", "probe", "--image=registry.k8s.io/pause:3.10", "--dry-run=server", "-o", "json")
			if got := strings.Contains(pod, "kube-api-access-"); got != wantToken {
				t.Errorf("a Pod in %s as the default ServiceAccount: token volume %v, want %v", ns, got, wantToken)
			}
		}
		c.mustKubectl(t, "admin.conf", "delete", "namespace", "team-a", "--wait=false")
	})

	t.Run("each weakened component gives exactly its finding", func(t *testing.T) {
		rep := auditJSON(t, cli.ExitFindings, "audit", "-o", "json", "--live",
			"--cluster-client-cert", c.path("pki/apiserver-kubelet-client.crt"), "--cluster-client-key", c.path("pki/apiserver-kubelet-client.key"),
			"--etcd", openEtcd.client, "--etcd", clusterCAEtcd.client,
			"--etcd-peer", openEtcd.peer, "--etcd-peer", clusterCAEtcd.peer,
			"--apiserver", fmt.Sprintf("https://127.0.0.1:%d", anonPort),
			"--kubelet", kubelet200, "--kubelet", kubelet403, "--kubelet", expired,
			"--kubelet-read-only-port", portOf(readOnly.URL),
			"--controller-manager", loop(openKCMPort))
		want := []string{
			fmt.Sprintf("critical etcd:client-cert-auth %s", openEtcd.client),
			fmt.Sprintf("critical etcd:separate-peer-ca-from-cluster %s", openEtcd.peer),
			fmt.Sprintf("critical etcd:separate-ca %s", clusterCAEtcd.client),
			fmt.Sprintf("critical etcd:peer-client-cert-auth %s", clusterCAEtcd.peer),
			fmt.Sprintf("high kube-apiserver:anonymous-auth 127.0.0.1:%d", anonPort),
			fmt.Sprintf("critical kubelet:anonymous-served %s", kubelet200),
			fmt.Sprintf("critical kubelet:authentication.anonymous.enabled %s", kubelet403),
			fmt.Sprintf("high kubelet:readOnlyPort %s", strings.TrimPrefix(readOnly.URL, "http://")),
			fmt.Sprintf("critical cert:expired %s", expired),
		}
		if addrs, _ := audit.MachineAddrs(); len(addrs) > 0 {
			want = append(want, fmt.Sprintf("medium kube-controller-manager:bind-address %s", net.JoinHostPort(addrs[0].String(), strconv.Itoa(openKCMPort))))
		} else {
			t.Log("this machine has no non-loopback address: the bind-address probe has nowhere to go")
		}
		var got []string
		for _, f := range rep.Findings {
			got = append(got, fmt.Sprintf("%s %s %s", f.Severity, f.ID, hostOf(t, f.Evidence.Endpoint)))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("findings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		// The evidence tells the answers apart.
		for _, f := range rep.Findings {
			var says string
			switch ep := hostOf(t, f.Evidence.Endpoint); {
			case f.ID == "kube-apiserver:anonymous-auth":
				says = "HTTP 403 Forbidden"
			case ep == kubelet200:
				says = "HTTP 200 OK"
			case ep == kubelet403:
				says = "HTTP 403 Forbidden"
			case f.ID == "etcd:client-cert-auth":
				says = `"etcdserver":"3.6.`
			}
			if !strings.Contains(f.Evidence.Response, says) || f.Remediation == "" {
				t.Errorf("%s at %s: response %q, want %q", f.ID, f.Evidence.Endpoint, f.Evidence.Response, says)
			}
			if f.ID != "cert:expired" && f.CIS == "" {
				t.Errorf("%s has no CIS number", f.ID)
			}
		}
	})
	t.Logf("TestAuditLive took %s", time.Since(began).Round(time.Millisecond))
}

// auditJSON runs bulwark and decodes its JSON report, checking the exit code.
func auditJSON(t *testing.T, wantCode int, args ...string) *audit.Report {
	t.Helper()
	var out, errb bytes.Buffer
	env := cli.Env{Now: time.Now, Hostname: func() (string, error) { return "cp-1", nil }, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}
	if code := cli.Run(env, args); code != wantCode {
		t.Fatalf("bulwark %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, wantCode, out.String(), errb.String())
	}
	var rep audit.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	return &rep
}

// hostOf is an evidence endpoint's host:port.
func hostOf(t *testing.T, endpoint string) string {
	t.Helper()
	if !strings.Contains(endpoint, "://") {
		return endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// dropFlag removes one flag; it fails if the flag is not there.
func dropFlag(t *testing.T, args []string, name string) []string {
	t.Helper()
	out := slices.DeleteFunc(slices.Clone(args), func(a string) bool { return strings.HasPrefix(a, "--"+name+"=") })
	if len(out) == len(args) {
		t.Fatalf("rendered command line has no --%s", name)
	}
	return out
}

type weakEtcd struct{ client, peer string }

// startWeakEtcd starts a one-member etcd from the rendered manifest with
// its ports remapped and weaken applied to its flags; health is a client
// configuration it accepts.
func (c *cluster) startWeakEtcd(t *testing.T, name string, health *tls.Config, weaken func([]string) []string) weakEtcd {
	t.Helper()
	client, peer, metrics := pinned.FreePort(t), pinned.FreePort(t), pinned.FreePort(t)
	args := c.podArgs(t, c.manifest(t, "cp-1", "etcd"))
	args = setFlag(t, args, "data-dir", t.TempDir())
	for _, f := range []string{"listen-client-urls", "advertise-client-urls"} {
		args = setFlag(t, args, f, withPort(t, flagValue(args, f), client))
	}
	for _, f := range []string{"listen-peer-urls", "initial-advertise-peer-urls"} {
		args = setFlag(t, args, f, withPort(t, flagValue(args, f), peer))
	}
	args = setFlag(t, args, "listen-metrics-urls", withPort(t, flagValue(args, "listen-metrics-urls"), metrics))
	args = setFlag(t, args, "initial-cluster", "cp-1="+withPort(t, "https://127.0.0.1", peer))
	pinned.StartEtcd(t, []pinned.EtcdMember{{Name: name, ClientURL: withPort(t, "https://127.0.0.1", client), Args: weaken(args)}}, health)
	return weakEtcd{client: "127.0.0.1:" + strconv.Itoa(client), peer: "127.0.0.1:" + strconv.Itoa(peer)}
}

// liveListener plays a kubelet: every request gets status. cert is the
// serving certificate (default: httptest's, valid for decades).
func liveListener(t *testing.T, status int, cert *tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		if status == http.StatusOK {
			io.WriteString(w, `{"kind":"PodList","apiVersion":"v1","items":[]}`)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if cert != nil {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// expiredCert is a self-signed serving certificate that ended an hour ago.
func expiredCert(t *testing.T) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubelet-expired"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
