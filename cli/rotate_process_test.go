package cli_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/cli"
	"github.com/bulwark-k8s/bulwark/layout"
)

// canon describes a folder so that two runs that did the same thing
// compare equal although their keys, serials and times differ: every
// public key is named by the first place (file and position) it appears,
// every certificate by its names, usages, lifetime, key and signer's key,
// every kubeconfig by its servers, CAs and client, the rotation record
// with keys named and times masked, every other file by its content.
type canon map[string]string

func describeTree(t *testing.T, dir string) canon {
	t.Helper()
	type seen struct {
		spki []byte
		at   string
	}
	var keys []seen
	var cas []*x509.Certificate
	fs := files(t, dir)
	snap := snapshot(t, dir)
	// First pass: where each key appears.
	note := func(spki []byte, at string) {
		for i := range keys {
			if bytes.Equal(keys[i].spki, spki) {
				if at < keys[i].at {
					keys[i].at = at
				}
				return
			}
		}
		keys = append(keys, seen{spki, at})
	}
	blocks := func(data []byte, at string, each func(i int, b *pem.Block, spki []byte, c *x509.Certificate)) {
		i := 0
		for rest := data; ; i++ {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				return
			}
			var spki []byte
			var c *x509.Certificate
			switch {
			case b.Type == "CERTIFICATE":
				var err error
				if c, err = x509.ParseCertificate(b.Bytes); err != nil {
					t.Fatalf("%s: %v", at, err)
				}
				spki = c.RawSubjectPublicKeyInfo
			case b.Type == "PUBLIC KEY":
				spki = b.Bytes
			case strings.Contains(b.Type, "PRIVATE KEY"):
				k, err := parseKeyPEM(pem.EncodeToMemory(b))
				if err != nil {
					t.Fatalf("%s: %v", at, err)
				}
				spki, _ = x509.MarshalPKIXPublicKey(k.Public())
			}
			each(i, b, spki, c)
		}
	}
	kcParts := func(f string) (out [][2]string) {
		kc, err := parseKubeconfig(readFile(t, dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, [2]string{"ca", string(kc.Clusters[0].Cluster.CAData)}, [2]string{"cert", string(kc.Users[0].User.CertData)},
			[2]string{"key", string(kc.Users[0].User.KeyData)})
		return out
	}
	for _, f := range fs {
		switch {
		case strings.HasSuffix(f, ".crt"), strings.HasSuffix(f, ".key"), strings.HasSuffix(f, ".pub"):
			blocks(readFile(t, dir, f), f, func(i int, _ *pem.Block, spki []byte, c *x509.Certificate) {
				note(spki, fmt.Sprintf("%s#%d", f, i))
				if c != nil && c.IsCA {
					cas = append(cas, c)
				}
			})
		case strings.HasSuffix(f, ".conf"):
			for _, part := range kcParts(f) {
				blocks([]byte(part[1]), f+" "+part[0], func(i int, _ *pem.Block, spki []byte, c *x509.Certificate) {
					note(spki, fmt.Sprintf("%s %s#%d", f, part[0], i))
					if c != nil && c.IsCA {
						cas = append(cas, c)
					}
				})
			}
		}
	}
	name := func(spki []byte) string {
		for _, k := range keys {
			if bytes.Equal(k.spki, spki) {
				return "key@" + k.at
			}
		}
		return "key@?"
	}
	fpName := map[string]string{}
	for _, k := range keys {
		sum := sha256.Sum256(k.spki)
		fpName["sha256:"+hex.EncodeToString(sum[:])] = "key@" + k.at
	}
	describeCert := func(c *x509.Certificate) string {
		signer := "?"
		for _, ca := range cas {
			if bytes.Equal(c.RawIssuer, ca.RawSubject) && c.CheckSignatureFrom(ca) == nil {
				signer = name(ca.RawSubjectPublicKeyInfo)
				break
			}
		}
		return fmt.Sprintf("cert CN=%s O=%v DNS=%v IP=%v usages=%v ca=%v life=%s key=%s signer=%s", c.Subject.CommonName, c.Subject.Organization,
			c.DNSNames, c.IPAddresses, c.ExtKeyUsage, c.IsCA, c.NotAfter.Sub(c.NotBefore), name(c.RawSubjectPublicKeyInfo), signer)
	}
	describePEM := func(data []byte, at string) string {
		var parts []string
		blocks(data, at, func(_ int, b *pem.Block, spki []byte, c *x509.Certificate) {
			switch {
			case c != nil:
				parts = append(parts, describeCert(c))
			default:
				parts = append(parts, b.Type+" "+name(spki))
			}
		})
		return strings.Join(parts, "; ")
	}
	fpRE := regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	timeRE := regexp.MustCompile(`"?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"?`)
	out := canon{}
	for _, f := range fs {
		if f == ".bulwark.lock" {
			continue
		}
		if strings.Contains(f, ".bulwark-tmp-") {
			t.Errorf("%s: a temporary file is left", f)
		}
		desc := fmt.Sprintf("mode %v: ", snap[f].mode)
		switch {
		case strings.HasSuffix(f, ".crt"), strings.HasSuffix(f, ".key"), strings.HasSuffix(f, ".pub"):
			desc += describePEM(readFile(t, dir, f), f)
		case strings.HasSuffix(f, ".conf"):
			kc, _ := parseKubeconfig(readFile(t, dir, f))
			desc += "server " + kc.Clusters[0].Cluster.Server + " token " + kc.Users[0].User.Token
			for _, part := range kcParts(f) {
				desc += " | " + part[0] + ": " + describePEM([]byte(part[1]), f)
			}
		case strings.HasSuffix(f, ".yaml") && strings.Contains(f, "manifests/"):
			desc += inputsRE.ReplaceAllString(string(readFile(t, dir, f)), layout.InputsAnnotation+": <sum>")
		case f == "rotation.yaml":
			s := fpRE.ReplaceAllStringFunc(string(readFile(t, dir, f)), func(fp string) string { return fpName[fp] })
			desc += timeRE.ReplaceAllString(s, "<time>")
		default:
			sum := sha256.Sum256(readFile(t, dir, f))
			desc += hex.EncodeToString(sum[:8])
		}
		out[tokenIDInName.ReplaceAllString(f, "bootstrap-token-ID.yaml")] = desc
	}
	return out
}

// inputsRE is a manifest's inputs checksum (layout.InputsAnnotation).
var inputsRE = regexp.MustCompile(regexp.QuoteMeta(layout.InputsAnnotation) + `: "?sha256:[0-9a-f]{64}"?`)

func (c canon) differences(o canon) []string {
	var out []string
	for f, d := range c {
		if e, ok := o[f]; !ok {
			out = append(out, "only in the first: "+f)
		} else if d != e {
			out = append(out, fmt.Sprintf("%s:\n    %s\n    %s", f, d, e))
		}
	}
	for f := range o {
		if _, ok := c[f]; !ok {
			out = append(out, "only in the second: "+f)
		}
	}
	sort.Strings(out)
	return out
}

// privateKeys maps every private key file of a folder to its content.
func privateKeys(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	for _, f := range files(t, dir) {
		if strings.HasSuffix(f, ".key") {
			out[f] = string(readFile(t, dir, f))
		}
	}
	return out
}

// TestKilledRotationRecovers: every step of every root is killed after
// each file it puts in place (the store's BULWARK_TEST_KILL_AFTER_LINKS),
// then run again with the same command. The folder the rerun leaves is the
// one an uninterrupted run leaves (compared with describeTree: same files,
// modes, names, signers and key placement), and every key the killed run
// made is kept. Both ways a batch flushes are used, alternately.
func TestKilledRotationRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the real binary a few hundred times")
	}
	cfg := writeFile(t, "cluster.yaml", threeNodeConfig)
	base := filepath.Join(t.TempDir(), "base")
	mustRunBin(t, "init", "--dir", base, "--config", cfg)
	kills := 0
	for _, root := range []string{"ca", "etcd-ca", "etcd-peer-ca", "front-proxy-ca", "sa"} {
		start := base
		for i, step := range []string{"trust", "reissue", "finish"} {
			args := []string{"rotate", root, "--dir", "DIR", "--step", step, "--force"}
			if step == "reissue" && (root == "ca" || root == "etcd-ca") {
				// New keys too: a key written before a kill is the one the
				// rerun certifies.
				args = append(args, "--new-key")
			}
			withDir := func(dir string) []string {
				a := slices.Clone(args)
				a[3] = dir
				return a
			}
			ref := copyOf(t, start)
			mustRunBin(t, withDir(ref)...)
			want := describeTree(t, ref)
			mode := []string{"file", "whole"}[i%2]
			for n := 1; ; n++ {
				dir := copyOf(t, start)
				before := privateKeys(t, dir)
				cmd := binCmd(withDir(dir)...)
				cmd.Env = append(cmd.Env, fmt.Sprintf("BULWARK_TEST_KILL_AFTER_LINKS=%d", n), "BULWARK_TEST_FLUSH="+mode)
				out, err := cmd.CombinedOutput()
				if err == nil {
					break
				}
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
					t.Fatalf("%s %s, kill after %d files: not killed but %v\n%s", root, step, n, err, out)
				}
				kills++
				made := map[string]string{}
				for f, k := range privateKeys(t, dir) {
					if before[f] != k {
						made[f] = k
					}
				}
				r := runBin(t, withDir(dir)...)
				if r.code != 0 {
					t.Fatalf("%s %s killed after %d files: the rerun failed\n%v", root, step, n, r)
				}
				if d := describeTree(t, dir).differences(want); len(d) > 0 {
					t.Fatalf("%s %s killed after %d files, then run again, differs from an uninterrupted run:\n  %s", root, step, n, strings.Join(d, "\n  "))
				}
				// Every manifest's inputs checksum is right: rendering
				// again changes nothing.
				if s := parseSummary(t, mustRunBin(t, "render", "--dir", dir)); s.created+s.renewed+s.removed > 0 {
					t.Fatalf("%s %s killed after %d files: render afterwards changed files: %+v", root, step, n, s)
				}
				after := privateKeys(t, dir)
				for f, k := range made {
					kept := false
					for _, v := range after {
						kept = kept || v == k
					}
					if !kept {
						t.Errorf("%s %s killed after %d files: the key it wrote to %s was not kept", root, step, n, f)
					}
				}
				if n > 200 {
					t.Fatalf("%s %s still killed after %d files", root, step, n)
				}
			}
			start = ref
		}
	}
	t.Logf("%d kills", kills)
}

// TestUnfinishedStepRefusesOtherCommands: a rotation step killed part-way
// leaves trust files between two states. init, render, certs renew and
// export then refuse in one line that names the rotate command to run
// again (not a renewal that would drop the old CA while it is still
// needed), and change nothing; once the step is run again, init keeps
// everything. audit names the state as the rotation's, not as a stray CA.
func TestUnfinishedStepRefusesOtherCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the real binary")
	}
	cfg := writeFile(t, "cluster.yaml", threeNodeConfig)
	for _, tc := range []struct {
		root  string
		steps []string // complete steps before the killed one
		step  string
		kill  int
	}{
		{"ca", []string{"trust", "reissue"}, "finish", 1},
		{"etcd-ca", nil, "trust", 2},
		{"sa", []string{"trust"}, "reissue", 1},
	} {
		t.Run(tc.root+" "+tc.step, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			mustRunBin(t, "init", "--dir", dir, "--config", cfg)
			for _, s := range tc.steps {
				mustRunBin(t, "rotate", tc.root, "--dir", dir, "--step", s, "--force")
			}
			args := []string{"rotate", tc.root, "--dir", dir, "--step", tc.step, "--force"}
			cmd := binCmd(args...)
			cmd.Env = append(cmd.Env, fmt.Sprintf("BULWARK_TEST_KILL_AFTER_LINKS=%d", tc.kill))
			if out, err := cmd.CombinedOutput(); err == nil {
				t.Fatalf("not killed:\n%s", out)
			}
			before := snapshot(t, dir)
			want := "run `bulwark rotate " + tc.root + " --dir " + dir + "` again"
			for _, other := range [][]string{
				{"init", "--dir", dir},
				{"render", "--dir", dir},
				{"certs", "renew", "apiserver", "--dir", dir},
				{"export", "--node", "cp-1", "--dir", dir, "--out", filepath.Join(t.TempDir(), "out")},
			} {
				r := runBin(t, other...)
				if line := errorLine(t, r); r.code != cli.ExitError || !strings.Contains(line, want) || !strings.Contains(line, "the "+tc.step+" step") {
					t.Errorf("%v: want exit %d and %q\n%v", other, cli.ExitError, want, r)
				}
			}
			// Opening the folder under its lock clears the killed run's
			// temporary files; nothing else may change.
			var changed []string
			for _, d := range diff(before, snapshot(t, dir)) {
				if !strings.HasPrefix(d, "removed ") || !strings.Contains(d, ".bulwark-tmp-") {
					changed = append(changed, d)
				}
			}
			if len(changed) > 0 {
				t.Fatalf("the refused commands changed the folder: %v", changed)
			}
			if tc.root == "ca" {
				r := runBin(t, "audit", "--dir", dir, "-o", "json")
				if !strings.Contains(r.stdout, "pki:trust-after-finish") || strings.Contains(r.stdout, "pki:extra-ca") {
					t.Errorf("audit of a killed finish: want pki:trust-after-finish and no pki:extra-ca\n%s", r.stdout)
				}
			}
			mustRunBin(t, args...)
			if s := parseSummary(t, mustRunBin(t, "init", "--dir", dir)); s.created+s.issued+s.renewed+s.removed > 0 {
				t.Fatalf("init after the step completed changed files: %+v", s)
			}
		})
	}
}
