// Package e2e proves bulwark's output on the real components: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kubectl, built
// from the pinned modules and started on loopback from the command lines of
// the manifests bulwark rendered. Only host paths and ports are remapped.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/internal/pinned"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
)

// cluster is a folder made by bulwark init, rendered with the folder
// itself as the host root so that every path in the manifests is real.
type cluster struct {
	dir     string
	apiPort int
	// apiPorts maps a node's address to the port its API server listens on
	// (the rendered files say 6443).
	apiPorts map[string]int
	etcd     *pinned.EtcdCluster
	api      *pinned.Process
	apiArgs  []string
}

func bulwark(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	env := cli.Env{Now: time.Now, Hostname: func() (string, error) { return "node-a", nil }, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}
	if code := cli.Run(env, args); code != 0 {
		t.Fatalf("bulwark %s: exit %d: %s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

// newCluster writes the PKI and configuration for a control plane of one
// node and the given etcd members, all on 127.0.0.1.
func newCluster(t *testing.T, etcdMembers ...string) *cluster {
	t.Helper()
	c := &cluster{dir: t.TempDir(), apiPort: pinned.FreePort(t)}
	c.apiPorts = map[string]int{"127.0.0.1": c.apiPort}
	doc := fmt.Sprintf("apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\napiEndpoint: 127.0.0.1:%d\ncontrolPlane:\n  - {name: cp-1, ips: [127.0.0.1]}\n", c.apiPort)
	if len(etcdMembers) > 0 {
		doc += "etcdMembers:\n"
		for _, m := range etcdMembers {
			doc += "  - {name: " + m + ", ips: [127.0.0.1]}\n"
		}
	}
	cfg := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	bulwark(t, "init", "--dir", c.dir, "--config", cfg, "--root", c.dir)
	return c
}

func (c *cluster) path(rel string) string { return filepath.Join(c.dir, rel) }

// podArgs reads a rendered static Pod's command line as its container
// runs it. The harness plays the container runtime: a path under a
// volume's mountPath is read from the volume's hostPath, so a component
// reads its files through its Pod's folder of links, as in its container.
// And it plays the network: a kubeconfig that names a node's API server at
// 6443 is copied, pointed at the port that API server really listens on.
func (c *cluster) podArgs(t *testing.T, manifest string) []string {
	t.Helper()
	return podArgs(t, c.path(manifest), c.apiPorts)
}

func podArgs(t *testing.T, manifest string, apiPorts map[string]int) []string {
	t.Helper()
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(data, &pod); err != nil {
		t.Fatalf("%s: %v", manifest, err)
	}
	ctr := pod.Spec.Containers[0]
	host := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil {
			host[v.Name] = v.HostPath.Path
		}
	}
	// inContainer maps a path the container names to the host's file.
	inContainer := func(p string) string {
		best := ""
		var to string
		for _, m := range ctr.VolumeMounts {
			if (p == m.MountPath || strings.HasPrefix(p, m.MountPath+"/")) && len(m.MountPath) > len(best) {
				best, to = m.MountPath, host[m.Name]+strings.TrimPrefix(p, m.MountPath)
			}
		}
		if best == "" {
			return p
		}
		return to
	}
	var args []string
	for _, a := range ctr.Command[1:] {
		name, v, ok := strings.Cut(a, "=")
		if ok && filepath.IsAbs(v) {
			v = inContainer(v)
			if strings.HasSuffix(v, ".conf") {
				v = movedKubeconfig(t, v, apiPorts)
			}
			a = name + "=" + v
		}
		args = append(args, a)
	}
	return args
}

// movedKubeconfig is a copy of a kubeconfig whose server, a node's API
// server on its rendered port, is moved to the port that API server
// listens on in the test; the host (the node's address) stays.
func movedKubeconfig(t *testing.T, file string, apiPorts map[string]int) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubeconfig.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	u, err := url.Parse(kc.Server)
	if err != nil {
		t.Fatal(err)
	}
	port, ok := apiPorts[u.Hostname()]
	if !ok || u.Port() != strconv.Itoa(hardening.APIServerPort) {
		return file
	}
	moved, err := kubeconfig.WithServer(data, "https://"+net.JoinHostPort(u.Hostname(), strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(file))
	if err := os.WriteFile(out, moved, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// manifest finds a component's manifest: manifests/<component>.yaml for a
// single host, nodes/<host>/manifests/<component>.yaml otherwise.
func (c *cluster) manifest(t *testing.T, host, comp string) string {
	t.Helper()
	for _, rel := range []string{"nodes/" + host + "/manifests/" + comp + ".yaml", "manifests/" + comp + ".yaml"} {
		if _, err := os.Stat(c.path(rel)); err == nil {
			return rel
		}
	}
	t.Fatalf("no %s manifest for %s", comp, host)
	return ""
}

// kubeconfig finds a node's own kubeconfig of a kind (controller-manager,
// scheduler): at the top for a single host, under nodes/<host>/ otherwise.
func (c *cluster) kubeconfig(t *testing.T, host, kind string) string {
	t.Helper()
	for _, rel := range []string{"nodes/" + host + "/" + kind + ".conf", kind + ".conf"} {
		if _, err := os.Stat(c.path(rel)); err == nil {
			return rel
		}
	}
	t.Fatalf("no %s kubeconfig for %s", kind, host)
	return ""
}

// setFlag replaces one flag's value; it fails if the flag is not there, so
// the remapping can never add a flag render did not write.
func setFlag(t *testing.T, args []string, name, value string) []string {
	t.Helper()
	out := append([]string(nil), args...)
	for i, a := range out {
		if strings.HasPrefix(a, "--"+name+"=") {
			out[i] = "--" + name + "=" + value
			return out
		}
	}
	t.Fatalf("rendered command line has no --%s", name)
	return nil
}

func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// withPort rewrites the port of every URL in a comma-separated list.
func withPort(t *testing.T, urls string, port int) string {
	t.Helper()
	var out []string
	for _, u := range strings.Split(urls, ",") {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		p.Host = p.Hostname() + ":" + strconv.Itoa(port)
		out = append(out, p.String())
	}
	return strings.Join(out, ",")
}

type etcdPorts struct{ client, peer, metrics int }

// startEtcd starts every member from its rendered manifest. Members share
// 127.0.0.1, so each gets its own ports; the data folder moves to a
// temporary one.
func (c *cluster) startEtcd(t *testing.T, members ...string) {
	t.Helper()
	ports := map[string]etcdPorts{}
	for _, m := range members {
		ports[m] = etcdPorts{pinned.FreePort(t), pinned.FreePort(t), pinned.FreePort(t)}
	}
	var specs []pinned.EtcdMember
	for _, m := range members {
		p := ports[m]
		args := c.podArgs(t, c.manifest(t, m, "etcd"))
		args = setFlag(t, args, "data-dir", t.TempDir())
		for _, f := range []string{"listen-client-urls", "advertise-client-urls"} {
			args = setFlag(t, args, f, withPort(t, flagValue(args, f), p.client))
		}
		for _, f := range []string{"listen-peer-urls", "initial-advertise-peer-urls"} {
			args = setFlag(t, args, f, withPort(t, flagValue(args, f), p.peer))
		}
		args = setFlag(t, args, "listen-metrics-urls", withPort(t, flagValue(args, "listen-metrics-urls"), p.metrics))
		var initial []string
		for _, pair := range strings.Split(flagValue(args, "initial-cluster"), ",") {
			name, u, _ := strings.Cut(pair, "=")
			initial = append(initial, name+"="+withPort(t, u, ports[name].peer))
		}
		args = setFlag(t, args, "initial-cluster", strings.Join(initial, ","))
		specs = append(specs, pinned.EtcdMember{Name: m, ClientURL: withPort(t, "https://127.0.0.1", p.client), Args: args})
	}
	health := pinned.TLSConfig(t, c.path("pki/etcd/ca.crt"), c.path("pki/etcd/healthcheck-client.crt"), c.path("pki/etcd/healthcheck-client.key"))
	c.etcd = pinned.StartEtcd(t, specs, health)
}

// startAPIServer starts kube-apiserver from its rendered manifest, on the
// cluster's port and the test etcd, and waits until it is ready.
func (c *cluster) startAPIServer(t *testing.T) {
	t.Helper()
	args := c.podArgs(t, c.manifest(t, "cp-1", "kube-apiserver"))
	args = setFlag(t, args, "secure-port", strconv.Itoa(c.apiPort))
	args = setFlag(t, args, "etcd-servers", strings.Join(c.etcd.Endpoints(), ","))
	args = setFlag(t, args, "audit-log-path", filepath.Join(t.TempDir(), "audit.log"))
	c.apiArgs = args
	c.api = pinned.Start(t, "kube-apiserver", pinned.Path(t, "kube-apiserver"), args...)
	client := pinned.HTTPClient(pinned.TLSConfig(t, c.path("pki/ca.crt"), "", ""))
	pinned.WaitFor(t, "kube-apiserver", 120*time.Second, func() error {
		if c.api.Exited() {
			t.Fatalf("kube-apiserver exited:\n%s", c.api.Tail(40))
		}
		resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/readyz", c.apiPort))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
}

// kubectl runs the real kubectl with one of the folder's kubeconfigs.
func (c *cluster) kubectl(t *testing.T, conf string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return pinned.Run(ctx, pinned.Path(t, "kubectl"), append([]string{"--kubeconfig", c.path(conf)}, args...)...)
}

func (c *cluster) mustKubectl(t *testing.T, conf string, args ...string) string {
	t.Helper()
	out, err := c.kubectl(t, conf, args...)
	if err != nil {
		t.Fatalf("kubectl --kubeconfig %s %s: %v\n%s", conf, strings.Join(args, " "), err, out)
	}
	return out
}

// bootstrapToken is the token in bootstrap-kubelet.conf.
func (c *cluster) bootstrapToken(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(c.path("bootstrap-kubelet.conf"))
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubeconfig.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return kc.Credentials.Token
}

type tlsCertificate = tls.Certificate

func loadPair(certPEM, keyPEM []byte) (tls.Certificate, error) {
	return tls.X509KeyPair(certPEM, keyPEM)
}
