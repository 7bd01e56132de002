package audit

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
)

// modeRule is the most a kind of file may allow.
type modeRule struct {
	what string // with its article: "a private key", "the kubelet unit file"
	max  fs.FileMode
	sev  hardening.Severity
	cis  string
}

// kindRules say how bad it is when a kind of file is more open than the
// layout table's mode for it, and which CIS check that is.
var kindRules = map[layout.Kind]struct {
	sev hardening.Severity
	cis string
}{
	layout.PrivateKey:       {hardening.Medium, "1.1.21"},
	layout.Certificate:      {hardening.Low, "1.1.20"},
	layout.Kubeconfig:       {hardening.Medium, "1.1.13"},
	layout.Manifest:         {hardening.Low, "1.1.1"},
	layout.EncryptionConfig: {hardening.High, ""},
	layout.KubeletConfig:    {hardening.Low, "4.1.9"},
	layout.Unit:             {hardening.Low, "4.1.1"},
}

// ruleFor is the mode rule of a kind of file.
func ruleFor(k layout.Kind) (modeRule, bool) {
	r, ok := kindRules[k]
	return modeRule{k.String(), k.Mode(), r.sev, r.cis}, ok
}

// modeFor says how open a file of the cluster folder may be.
func modeFor(rel string) (modeRule, bool) {
	if k := layout.Classify(rel); k != layout.KubeletConfig {
		return ruleFor(k)
	}
	return modeRule{}, false
}

// modeForSetting says how open a file named by a flag or a kubelet
// configuration field may be, from the setting's name.
func modeForSetting(name string) (modeRule, bool) {
	n := strings.ToLower(name)
	switch {
	case n == "encryption-provider-config":
		return ruleFor(layout.EncryptionConfig)
	case n == "service-account-key-file": // the API server's: public keys that verify tokens
		return ruleFor(layout.Certificate)
	case strings.HasSuffix(n, "key-file") || strings.HasSuffix(n, "keyfile") || n == "tlsprivatekeyfile":
		return ruleFor(layout.PrivateKey)
	case strings.HasSuffix(n, "kubeconfig"):
		return ruleFor(layout.Kubeconfig)
	case strings.HasSuffix(n, "cert-file") || strings.HasSuffix(n, "certfile") || strings.HasSuffix(n, "ca-file") ||
		strings.HasSuffix(n, "cafile") || n == "tlscertfile" || strings.HasSuffix(n, "x509.clientcafile"):
		return ruleFor(layout.Certificate)
	}
	return modeRule{}, false
}

// checkModes reports files and folders more open than CIS allows, or not
// owned by Options.FileOwner and FileGroup: the
// cluster folder's keys, kubeconfigs, manifests and certificates, the
// kubelet's configuration and unit files, and etcd's data folder.
func (n *node) checkModes(r *Report) {
	files, err := n.dir.Walk(".")
	if err != nil {
		return
	}
	checked := map[string]bool{}
	for _, rel := range files {
		if rule, ok := modeFor(rel); ok {
			n.checkMode(r, n.dir.Path(rel), rel, rule)
			checked[n.dir.Path(rel)] = true
		}
	}
	// Keys, kubeconfigs, certificates and the encryption configuration
	// that the components name outside the folder's layout: the hard
	// way's /var/lib/kubernetes/*-key.pem, etcd's keys in /etc/etcd.
	for _, c := range n.comps {
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
			rule, ok := modeForSetting(name)
			if !ok || v.Value == "" {
				continue
			}
			file := n.local(v.Value)
			if !filepath.IsAbs(file) || checked[file] {
				continue
			}
			checked[file] = true
			n.checkMode(r, file, file, rule)
		}
	}
	if k := n.find(hardening.Kubelet); k != nil {
		if k.ConfigFile != "" {
			rule, _ := ruleFor(layout.KubeletConfig)
			n.checkMode(r, n.local(k.ConfigFile), k.ConfigFile, rule)
		}
		if strings.HasSuffix(k.Source, ".service") || strings.HasSuffix(k.Source, ".conf") {
			rule, _ := ruleFor(layout.Unit)
			rule.what = "the kubelet unit file"
			n.checkMode(r, k.Source, k.Source, rule)
		}
	}
	if e := n.find(hardening.Etcd); e != nil {
		if dd, ok := e.Flags["data-dir"]; ok {
			n.checkEtcdData(r, n.local(dd.Value))
		}
	}
}

func (n *node) checkMode(r *Report, file, shown string, rule modeRule) {
	fi, err := os.Stat(file)
	if err != nil {
		return
	}
	r.Checked++
	if extra := fi.Mode().Perm() &^ rule.max; extra != 0 {
		r.add(Finding{ID: "file:mode", Severity: rule.sev, CIS: rule.cis,
			Title:       fmt.Sprintf("%s is more open than %o", rule.what, rule.max),
			Evidence:    Evidence{File: shown, Detail: fmt.Sprintf("mode %o", fi.Mode().Perm())},
			Remediation: fmt.Sprintf("chmod %o %s", rule.max, file)})
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	r.Checked++
	if uid, gid := int(st.Uid), int(st.Gid); uid != n.opts.FileOwner || gid != n.opts.FileGroup {
		r.add(Finding{ID: "file:owner", Severity: hardening.Low, CIS: ownerCIS[rule.cis],
			Title: fmt.Sprintf("%s is not owned by %s", rule.what, ids(n.opts.FileOwner, n.opts.FileGroup)),
			Evidence: Evidence{File: shown, Detail: "owned by " + ids(uid, gid) +
				": that user can change it (and, for a key, read it)"},
			Remediation: fmt.Sprintf("chown %d:%d %s", n.opts.FileOwner, n.opts.FileGroup, file)})
	}
}

// ownerCIS is the CIS ownership check that goes with each permissions
// check.
var ownerCIS = map[string]string{"1.1.1": "1.1.2", "1.1.13": "1.1.14", "1.1.20": "1.1.19", "1.1.21": "1.1.19", "4.1.1": "4.1.2", "4.1.9": "4.1.10"}

// ids shows a user and group by name where the machine knows them.
func ids(uid, gid int) string {
	u, g := strconv.Itoa(uid), strconv.Itoa(gid)
	if x, err := user.LookupId(u); err == nil {
		u = x.Username
	}
	if x, err := user.LookupGroupId(g); err == nil {
		g = x.Name
	}
	return u + ":" + g
}

// checkEtcdData wants etcd's data folder 0700 and, where an etcd user
// exists, owned by it.
func (n *node) checkEtcdData(r *Report, dir string) {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return
	}
	r.Checked++
	if fi.Mode().Perm()&^layout.DataDir.Mode() != 0 {
		r.add(Finding{ID: "file:mode", Severity: hardening.Medium, CIS: "1.1.11", Component: "etcd",
			Title:    "etcd's data folder is open to other users: it holds every Secret",
			Evidence: Evidence{File: dir, Detail: fmt.Sprintf("mode %o", fi.Mode().Perm())}, Remediation: fmt.Sprintf("chmod %o %s", layout.DataDir.Mode(), dir)})
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	owner := strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	if owner != "etcd" {
		r.add(Finding{ID: "file:etcd-data-owner", Severity: hardening.Low, CIS: "1.1.12", Component: "etcd",
			Title:       "etcd's data folder is not owned by a dedicated etcd user",
			Evidence:    Evidence{File: dir, Detail: "owned by " + owner},
			Remediation: "run etcd as its own user and chown -R etcd:etcd " + dir})
	}
}
