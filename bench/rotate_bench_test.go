package bench

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/pinned"
)

// copyDir copies a folder (untimed set-up of a run).
func copyDir(b *testing.B, from string) string {
	b.Helper()
	to := filepath.Join(b.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v\n%s", err, out)
	}
	return to
}

// BenchmarkRotateSteps times each step of each root's rotation, `bulwark
// rotate ROOT --step STEP` as a process on a three-node folder (ECDSA
// P-256; every file durable before it returns), each run on a fresh copy
// of the folder as the previous step left it. Beside the reissue steps it
// times, interleaved, the nearest thing kubeadm does: `kubeadm certs renew
// all` on a one-node kubeadm folder of certificates (its seven
// certificates signed again by the CAs they have; its kubeconfigs live at
// the fixed /etc/kubernetes, which the benchmark leaves alone, so they are
// absent and skipped; no new CA, no trust bundles, no fsync).
func BenchmarkRotateSteps(b *testing.B) {
	bw := buildBin(b, "cmd/bulwark")
	kubeadm := pinned.Path(b, "kubeadm")
	cfg := bulwarkConfig(b, 3, "ecdsa-p256")
	base := filepath.Join(b.TempDir(), "base")
	run(b, bw, "init", "--dir", base, "--config", cfg)
	kdir := filepath.Join(b.TempDir(), "kubeadm")
	kcfg := kubeadmConfig(b, kdir, "ECDSA-P256")
	run(b, kubeadm, "init", "phase", "certs", "all", "--config", kcfg)
	for _, root := range []string{"ca", "etcd-ca", "etcd-peer-ca", "front-proxy-ca", "sa"} {
		start := base
		for _, step := range []string{"trust", "reissue", "finish"} {
			from := start
			b.Run(root+"/"+step, func(b *testing.B) {
				var total, kTotal time.Duration
				for b.Loop() {
					dir := copyDir(b, from)
					total += run(b, bw, "rotate", root, "--dir", dir, "--step", step, "--force")
					if step == "reissue" {
						kd := copyDir(b, kdir)
						kc := filepath.Join(b.TempDir(), "kubeadm.yaml")
						if out, err := exec.Command("sh", "-c", fmt.Sprintf("sed 's|%s|%s|' %s > %s", kdir, kd, kcfg, kc)).CombinedOutput(); err != nil {
							b.Fatalf("%v\n%s", err, out)
						}
						kTotal += run(b, kubeadm, "certs", "renew", "all", "--config", kc)
					}
				}
				n := float64(b.N)
				b.ReportMetric(float64(total.Microseconds())/1000/n, "bulwark-ms/op")
				if kTotal > 0 {
					b.ReportMetric(float64(kTotal.Microseconds())/1000/n, "kubeadm-renew-all-ms/op")
				}
			})
			next := copyDir(b, start)
			run(b, bw, "rotate", root, "--dir", next, "--step", step, "--force")
			start = next
		}
	}
}
