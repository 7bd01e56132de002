// Package bench measures bulwark against the reference tools on the same
// machine, in the same run. Figures go to BENCHMARKS.md.
package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/pinned"
)

// buildBin builds one of the module's commands, by its folder, once per run.
func buildBin(b *testing.B, pkg string) string {
	b.Helper()
	root, err := pinned.Root()
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(b.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, pkg)).CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// kubeadmKeys is how many keys kubeadm makes for one node: 3 CAs, 7
// certificates, the service-account key and 5 kubeconfigs.
const kubeadmKeys = "16"

func bulwarkConfig(b *testing.B, nodes int, alg string) string {
	b.Helper()
	doc := "apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\nkeyAlgorithm: " + alg + "\napiEndpoint: 10.0.0.10:6443\ncontrolPlane:\n"
	for i := 1; i <= nodes; i++ {
		doc += fmt.Sprintf("  - {name: cp-%d, ips: [10.0.0.%d]}\n", i, 10+i)
	}
	f := filepath.Join(b.TempDir(), "cluster.yaml")
	if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
		b.Fatal(err)
	}
	return f
}

// hostIP is an address of this machine that kubeadm accepts (it refuses
// loopback advertise addresses).
func hostIP(b *testing.B) string {
	b.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		b.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	b.Skip("no non-loopback IPv4 address for kubeadm")
	return ""
}

func kubeadmConfig(b *testing.B, dir, alg string) string {
	b.Helper()
	doc := fmt.Sprintf(`apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: %s
nodeRegistration:
  name: cp-1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.36.3
encryptionAlgorithm: %s
certificatesDir: %s/pki
`, hostIP(b), alg, dir)
	f := filepath.Join(b.TempDir(), "kubeadm.yaml")
	if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
		b.Fatal(err)
	}
	return f
}

// run times one process. It first flushes the file system, untimed, so
// that each run starts with no dirty data: kubeadm does not fsync, and the
// journal commit of bulwark's next fsync would otherwise also write out
// what kubeadm left in the page cache (and a tool's own data would be
// written while the other one is being timed).
func run(b *testing.B, bin string, args ...string) time.Duration {
	b.Helper()
	syscall.Sync()
	start := time.Now()
	out, err := exec.Command(bin, args...).CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return d
}

// BenchmarkInitVsKubeadm times, interleaved in one run, a full `bulwark
// init` (PKI, kubeconfigs, cluster objects and rendered configuration, with
// fsync) into a fresh folder and kubeadm's `init phase certs all` plus
// `init phase kubeconfig all` for one node with the same key algorithm.
// It reports both and their ratio (bulwark/kubeadm: lower is better).
//
// Beside them it times keysonly, a process that makes kubeadm's 16 keys on
// every core and does nothing else, and reports its ratio to kubeadm: with
// RSA, where key generation is nearly all of both tools' work, that is
// about the least any tool's ratio can be on this machine (a schedule
// smarter than its plain queue gains a few percent).
func BenchmarkInitVsKubeadm(b *testing.B) {
	bw := buildBin(b, "cmd/bulwark")
	keysOnly := buildBin(b, "bench/keysonly")
	kubeadm := pinned.Path(b, "kubeadm")
	for _, tc := range []struct {
		name    string
		nodes   int
		alg     string
		kubeadm string
	}{
		{"ecdsa-p256/bulwark-1-node", 1, "ecdsa-p256", "ECDSA-P256"},
		{"ecdsa-p256/bulwark-3-nodes", 3, "ecdsa-p256", "ECDSA-P256"},
		{"rsa-2048/bulwark-1-node", 1, "rsa-2048", "RSA-2048"},
		{"rsa-2048/bulwark-3-nodes", 3, "rsa-2048", "RSA-2048"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := bulwarkConfig(b, tc.nodes, tc.alg)
			var bwTotal, kaTotal, keysTotal time.Duration
			for i := 0; b.Loop(); i++ {
				dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
				bwTotal += run(b, bw, "init", "--dir", dir, "--config", cfg)
				kdir := filepath.Join(b.TempDir(), fmt.Sprint(i))
				kcfg := kubeadmConfig(b, kdir, tc.kubeadm)
				kaTotal += run(b, kubeadm, "init", "phase", "certs", "all", "--config", kcfg)
				kaTotal += run(b, kubeadm, "init", "phase", "kubeconfig", "all", "--config", kcfg, "--kubeconfig-dir", kdir)
				keysTotal += run(b, keysOnly, tc.alg, kubeadmKeys)
			}
			n := float64(b.N)
			b.ReportMetric(float64(bwTotal.Milliseconds())/n, "bulwark-ms/op")
			b.ReportMetric(float64(kaTotal.Milliseconds())/n, "kubeadm-1-node-ms/op")
			b.ReportMetric(float64(bwTotal)/float64(kaTotal), "ratio")
			b.ReportMetric(float64(keysTotal.Milliseconds())/n, "keys-only-ms/op")
			b.ReportMetric(float64(keysTotal)/float64(kaTotal), "keys-only-ratio")
		})
	}
}
