package rotate

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/store"
)

// tree is what a step reads of the folder: every certificate under pki/,
// every kubeconfig, the record.
type tree struct {
	d     *store.Dir
	p     *plan.Plan
	files []string
	// certs holds every certificate file under pki/ but the rotation's
	// own (pki/next/), parsed; unreadable ones are left out (audit's
	// business).
	certs map[string][]*x509.Certificate
	// kubeconfigs holds every kubeconfig's plaintext.
	kubeconfigs map[string][]byte
	rec         *Record
	// opts are what provision's refresh of the static Pods runs with.
	opts provision.Options
	// linked are the static Pods' folders of links (layout.MountDir)
	// the folder holds.
	linked map[string]bool
	// foreign are the static Pod manifests bulwark did not render.
	foreign map[string]bool
	// Read once per run: the static Pods and where the folder sits on
	// the nodes.
	podCache  []pod
	rootCache string
}

func loadTree(d *store.Dir, p *plan.Plan, opts provision.Options) (*tree, error) {
	files, err := d.Walk(".")
	if err != nil {
		return nil, fmt.Errorf("failed to list %s: %w", d.Root(), err)
	}
	t := &tree{d: d, p: p, opts: opts, certs: map[string][]*x509.Certificate{}, kubeconfigs: map[string][]byte{}, linked: map[string]bool{}}
	for _, f := range files {
		if layout.Classify(f) == layout.Mounted {
			// A static Pod's link to a file of the folder: that file, not
			// one of its own.
			t.linked[mountDirOf(f)] = true
			continue
		}
		t.files = append(t.files, f)
		switch layout.Classify(f) {
		case layout.Certificate:
			if strings.HasPrefix(f, layout.NextDir+"/") {
				continue
			}
			data, err := d.Read(f)
			if err != nil {
				return nil, fmt.Errorf("failed to read %s: %w", f, err)
			}
			if certs, err := pki.ParseCerts(data); err == nil {
				t.certs[f] = certs
			}
		case layout.Kubeconfig:
			data, err := d.ReadSecret(f)
			if err != nil {
				return nil, fmt.Errorf("failed to read %s: %w", f, err)
			}
			t.kubeconfigs[f] = data
		}
	}
	if t.rec, err = readRecord(d); err != nil {
		return nil, err
	}
	return t, nil
}

// mountDirOf is the folder of links (layout.MountDir) a link is in.
func mountDirOf(link string) string {
	node, own, _ := layout.SplitNodeFile(link)
	rest := strings.TrimPrefix(own, layout.MountsDir+"/")
	if own == "" {
		rest = strings.TrimPrefix(link, layout.MountsDir+"/")
	}
	pod, _, _ := strings.Cut(rest, "/")
	return layout.MountDir(node, pod)
}

// readKey reads a private key; nil without error when the file is absent.
func (t *tree) readKey(file string) (crypto.Signer, error) {
	data, err := t.d.ReadSecret(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", file, err)
	}
	key, err := pki.ParsePrivateKey(data)
	if err != nil {
		return nil, disagree("%s is not a valid PEM private key", file)
	}
	return key, nil
}

// readCerts reads a certificate file: nil without error when absent.
func (t *tree) readCerts(file string) ([]*x509.Certificate, error) {
	data, err := t.d.Read(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", file, err)
	}
	certs, err := pki.ParseCerts(data)
	if err != nil {
		return nil, disagree("%s is not a valid PEM certificate file", file)
	}
	return certs, nil
}

// readPublicKeys reads every PUBLIC KEY block of a file (sa.pub may hold
// several: the API server verifies tokens against each). Absent: nil.
func (t *tree) readPublicKeys(file string) ([]crypto.PublicKey, error) {
	data, err := t.d.Read(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", file, err)
	}
	out, err := pki.ParsePublicKeys(data)
	if errors.Is(err, pki.ErrNoPEM) {
		return nil, disagree("%s holds no public key", file)
	}
	if err != nil {
		return nil, disagree("%s: %v", file, err)
	}
	return out, nil
}

// leafFiles lists the certificate files under pki/ that are leaves, not
// CAs, sorted.
func (t *tree) leafFiles() []string {
	var out []string
	for f, certs := range t.certs {
		if !certs[0].IsCA {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

func (t *tree) kubeconfigFiles() []string {
	var out []string
	for f := range t.kubeconfigs {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// kubeconfigCerts reads a kubeconfig's clusters' CAs and users' client
// certificates, by name.
func kubeconfigCerts(data []byte) (cas map[string][]*x509.Certificate, users map[string]*x509.Certificate, err error) {
	cas, users = map[string][]*x509.Certificate{}, map[string]*x509.Certificate{}
	_, _, err = kubeconfig.Edit(data, func(name string, certs []*x509.Certificate) []*x509.Certificate {
		cas[name] = certs
		return certs
	}, func(name string, cert *x509.Certificate, key crypto.Signer) (*x509.Certificate, crypto.Signer, error) {
		users[name] = cert
		return cert, key, nil
	})
	return cas, users, err
}

// marshalCerts encodes certificates as one PEM file.
func marshalCerts(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		b.Write(pki.MarshalCert(c))
	}
	return b.Bytes()
}

// marshalPublicKeys encodes public keys as one PEM file.
func marshalPublicKeys(pubs []crypto.PublicKey) ([]byte, error) {
	var b bytes.Buffer
	for _, p := range pubs {
		data, err := pki.MarshalPublicKey(p)
		if err != nil {
			return nil, err
		}
		b.Write(data)
	}
	return b.Bytes(), nil
}

// nodeOf is the host a file of the folder belongs to ("" for shared files).
func nodeOf(rel string) string {
	parts := strings.SplitN(rel, "/", 3)
	if len(parts) == 3 && parts[0] == "nodes" {
		return parts[1]
	}
	return ""
}
