package audit

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/trust"
)

func sortStrings(s []string) { sort.Strings(s) }

// kindForSetting says what kind of file a flag or kubelet configuration
// field names, from its name.
func kindForSetting(name string) (layout.Kind, bool) {
	n := strings.ToLower(name)
	switch {
	case n == "encryption-provider-config":
		return layout.EncryptionConfig, true
	case n == "token-auth-file":
		return layout.TokenSecret, true
	case n == "authentication-config" || n == "authorization-config" || n == "audit-policy-file" || n == "admission-control-config-file":
		return layout.PolicyConfig, true
	case n == "service-account-key-file": // the API server's: public keys that verify tokens
		return layout.Certificate, true
	case strings.HasSuffix(n, "key-file") || strings.HasSuffix(n, "keyfile") || n == "tlsprivatekeyfile" || n == "tls-private-key-file" || n == "kubelet-client-key":
		return layout.PrivateKey, true
	case strings.HasSuffix(n, "kubeconfig") || strings.HasSuffix(n, "clientconnection.kubeconfig"):
		return layout.Kubeconfig, true
	case strings.HasSuffix(n, "cert-file") || strings.HasSuffix(n, "certfile") || strings.HasSuffix(n, "ca-file") ||
		strings.HasSuffix(n, "cafile") || n == "tlscertfile" || strings.HasSuffix(n, "x509.clientcafile") || n == "kubelet-client-certificate" ||
		n == "kubelet-certificate-authority":
		return layout.Certificate, true
	}
	return layout.Unknown, false
}

// namedSecrets are the files inside the folder that a component's flag
// names as a secret of a kind the folder's layout does not know by its
// name (kubeadm's tree: an encryption configuration or a token file
// anywhere): the walk judges their mode as that kind.
func (a *auditor) namedSecrets() map[string]layout.Kind {
	out := map[string]layout.Kind{}
	for _, node := range a.nodeNames() {
		for _, c := range a.nodes[node] {
			for name, v := range c.Flags {
				kind, ok := kindForSetting(name)
				if !ok || v.Value == "" || !kind.Secret() || kind == layout.PrivateKey || kind == layout.Kubeconfig {
					continue
				}
				if kind == layout.EncryptionConfig && !a.holdsKeys(v.Value) {
					continue // KMS and identity only: nothing secret in it
				}
				if abs, err := filepath.Abs(a.local(v.Value)); err == nil {
					out[abs] = kind
				}
			}
		}
	}
	return out
}

// holdsKeys says whether an encryption configuration holds keys (aescbc,
// aesgcm, secretbox), or cannot be read as one (then it is taken to).
func (a *auditor) holdsKeys(file string) bool {
	data, err := a.read(file)
	if err != nil {
		return true
	}
	var cfg apiserverv1.EncryptionConfiguration
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return true
	}
	for _, rc := range cfg.Resources {
		for _, p := range rc.Providers {
			for _, k := range []*apiserverv1.AESConfiguration{p.AESCBC, p.AESGCM} {
				if k != nil && len(k.Keys) > 0 {
					return true
				}
			}
			if p.Secretbox != nil && len(p.Secretbox.Keys) > 0 {
				return true
			}
		}
	}
	return false
}

// checkNamedFiles judges the mode and owner of every file a component
// names (keys, kubeconfigs, certificates, policy files, outside the
// folder's layout too: the hard way's /var/lib/kubernetes/*-key.pem), of
// the configuration files and units it is started from, and etcd's data
// folder.
func (a *auditor) checkNamedFiles() {
	for _, node := range a.nodeNames() {
		for _, c := range a.nodes[node] {
			names := make([]string, 0, len(c.Flags)+len(c.Config))
			for name := range c.Flags {
				names = append(names, name)
			}
			for name := range c.Config {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				v, ok := c.Flags[name]
				if !ok {
					v = c.Config[name]
				}
				kind, ok := kindForSetting(name)
				if !ok || v.Value == "" {
					continue
				}
				a.checkFile(a.local(v.Value), kind)
			}
			if c.ConfigFile != "" {
				kind := layout.PolicyConfig
				if c.Name == hardening.Kubelet {
					kind = layout.KubeletConfig
				}
				a.checkFile(a.local(c.ConfigFile), kind)
			}
			if c.Name == hardening.Kubelet {
				// Whoever writes to the static Pod folder runs Pods as root.
				if v := c.kubelet("staticPodPath"); !v.Unset && v.Value != "" {
					a.checkDir(a.local(v.Value))
				}
				if c.ConfigDir != "" {
					a.checkDir(a.local(c.ConfigDir))
				}
			}
			if c.ConfigDir != "" {
				if files, err := kubeletDropIns(a.local(c.ConfigDir)); err == nil {
					for _, f := range files {
						a.checkFile(f, layout.KubeletConfig)
					}
				}
			}
			if strings.HasSuffix(c.Source, ".service") || strings.HasSuffix(c.Source, ".conf") {
				a.checkFile(c.Source, layout.Unit)
				if dropIns, err := a.dropIns(c.Source); err == nil {
					for _, d := range dropIns {
						a.checkFile(d, layout.Unit)
					}
				}
			}
			if c.Name == hardening.Etcd {
				if dd, ok := c.Flags["data-dir"]; ok {
					a.checkEtcdData(c, a.local(dd.Value))
				}
			}
		}
	}
}

// checkFile judges one file outside the folder's walk.
func (a *auditor) checkFile(file string, kind layout.Kind) {
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	if a.checked[file] {
		return
	}
	a.checked[file] = true
	fi, err := os.Stat(file)
	if err != nil || fi.IsDir() {
		return
	}
	a.r.Check(trust.WritableOthers)
	for _, f := range trust.Mode(file, kind, fi.Mode()) {
		a.r.Add(f)
	}
	a.checkOwner(file, file, fi)
}

// checkEtcdData wants etcd's data folder 0700 and, where an etcd user
// exists, owned by it.
func (a *auditor) checkEtcdData(c *Component, dir string) {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return
	}
	a.r.Check(idEtcdDataMode)
	if fi.Mode().Perm()&^layout.DataDir.Mode() != 0 {
		a.r.Add(newFinding(idEtcdDataMode, c, Evidence{File: dir, Detail: fmt.Sprintf("mode %04o", fi.Mode().Perm())}))
	}
	for _, f := range trust.Mode(dir, layout.DataDir, fi.Mode()|fs.ModeDir) {
		a.r.Add(f)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	owner, _, _ := strings.Cut(ids(int(st.Uid), int(st.Gid)), ":")
	a.r.Check(idEtcdDataOwner)
	if owner != "etcd" {
		a.r.Add(newFinding(idEtcdDataOwner, c, Evidence{File: dir, Detail: "owned by " + owner}))
	}
}

// checkDir judges a folder a component reads from outside the walk.
func (a *auditor) checkDir(dir string) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if a.checked[dir] {
		return
	}
	a.checked[dir] = true
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return
	}
	a.r.Check(trust.WritableOthers)
	for _, f := range trust.Mode(dir, layout.DataDir, fi.Mode()) {
		a.r.Add(f)
	}
}
