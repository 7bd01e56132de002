package audit

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/hardening"
)

// The fuzzers run every parser of node files on arbitrary input: none may
// panic, hang or report a flag the input does not hold. Seeds are the
// shapes the parsers meet (bulwark's and kubeadm's manifests, units with
// drop-ins and environment files, kubelet and etcd configuration) in
// testdata/fuzz, plus the ones below.

func FuzzParseArgs(f *testing.F) {
	f.Add("--a=b --c d --profiling false -v=2 --x_y=1 -- e", uint8(1))
	f.Add("-client-cert-auth=true --listen-client-urls https://127.0.0.1:2379 stray", uint8(0))
	f.Add("--enable-admission-plugins=A --enable-admission-plugins=B", uint8(1))
	f.Fuzz(func(t *testing.T, line string, comp uint8) {
		comps := hardening.Components()
		c := comps[int(comp)%len(comps)]
		args := strings.Fields(line)
		p := parseArgs(c, args, "f", flagLines(line))
		for name := range p.flags {
			if name == "" && !strings.Contains(line, "--=") && !strings.Contains(line, "-=") {
				t.Fatalf("empty flag name from %q", line)
			}
		}
		if len(p.flags)+len(p.stray) > len(args)+1 {
			t.Fatalf("%d flags and %d stray words from %d words", len(p.flags), len(p.stray), len(args))
		}
	})
}

func FuzzFlagLines(f *testing.F) {
	f.Add("- --a=b\n- --c\n  -d e\n\"--f=g\"")
	f.Fuzz(func(t *testing.T, text string) {
		n := strings.Count(text, "\n") + 1
		for name, line := range flagLines(text) {
			if line < 1 || line > n || !strings.Contains(strings.ReplaceAll(text, "_", "-"), name) {
				t.Fatalf("flag %q at line %d of %d", name, line, n)
			}
		}
	})
}

func FuzzManifest(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: etcd\n    command: [etcd, --client-cert-auth=true]\n    env: [{name: ETCD_X, value: y}]\n"))
	f.Add([]byte("spec: {containers: [{command: [kube-apiserver], args: ['--x=$(A)']}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		c, err := fromManifest("m.yaml", data)
		if err == nil && c != nil && c.Source != "m.yaml" {
			t.Fatalf("source %q", c.Source)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%d bytes took %s", len(data), d)
		}
	})
}

func FuzzCommandLine(f *testing.F) {
	f.Add([]byte("[Service]\nEnvironment=\"A=--config=/x\"\nEnvironmentFile=-/env\nExecStart=\nExecStart=/usr/bin/kubelet $A ${B} \\\n  --read-only-port=0\n"), []byte("B=--v=2\n"))
	f.Add([]byte("/usr/bin/env etcd --name x\n"), []byte(""))
	f.Fuzz(func(t *testing.T, unit, env []byte) {
		c, err := fromCommandLine("u.service", [][]byte{unit}, func(string) ([]byte, error) { return env, nil })
		if err == nil && c == nil {
			t.Fatal("no component and no error")
		}
	})
}

func FuzzConfigFields(f *testing.F) {
	f.Add([]byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: false\ntlsCipherSuites: [a, b]\n"))
	f.Add([]byte("client-transport-security:\n  client-cert-auth: true\nlisten-client-urls: https://127.0.0.1:2379\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fields, err := configFields([]namedData{{"c.yaml", data}}, "")
		if err != nil {
			return
		}
		n := strings.Count(string(data), "\n") + 1
		for k, v := range fields {
			if v.Origin.Line < 0 || v.Origin.Line > n {
				t.Fatalf("field %q at line %d of %d", k, v.Origin.Line, n)
			}
		}
		c := &Component{Name: hardening.Etcd, Flags: map[string]Value{}}
		_ = etcdFromFile(c, "c.yaml", data)
		s := &Component{Name: hardening.Scheduler, Flags: map[string]Value{}}
		_ = schedulerFromFile(s, "c.yaml", data)
	})
}

func FuzzYAMLLines(f *testing.F) {
	f.Add("a:\n  b: 1\n  - c: 2\n---\nd: [x]\n")
	f.Fuzz(func(t *testing.T, text string) {
		n := strings.Count(text, "\n") + 1
		for k, line := range yamlLines(text) {
			if line < 1 || line > n {
				t.Fatalf("key %q at line %d of %d", k, line, n)
			}
		}
	})
}
