package admins

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"strings"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/store"
)

// PlaintextCopy is a file of the folder that holds a credential in
// plaintext, judged by its content, not its name: a PEM private key block
// or a kubeconfig whose user carries a client key or a token.
type PlaintextCopy struct {
	File string
	What string
}

func (c PlaintextCopy) String() string { return c.File + " holds " + c.What + " in plaintext" }

// PlaintextCopies lists the plaintext credentials of the folder that
// encryption would leave as they are: with known false, only files whose
// kind is not a secret (backups such as pki/ca.key.bak, tmp/**, *.old,
// *-key.pem, copies under nodes/; `encrypt` seals the others); with known
// true, every file not sealed (an encrypted folder holds no plaintext
// credential anywhere).
func PlaintextCopies(d *store.Dir, known bool) ([]PlaintextCopy, error) {
	all, err := d.Walk(".")
	if err != nil {
		return nil, err
	}
	var out []PlaintextCopy
	for _, f := range all {
		// encrypt seals the secrets and removes the Pods' links.
		if kind := layout.Classify(f); !known && (kind.Secret() || kind == layout.Mounted) {
			continue
		}
		data, err := d.Read(f)
		if err != nil {
			return nil, err
		}
		if atrest.IsSealed(data) {
			continue
		}
		if what := credential(data); what != "" {
			out = append(out, PlaintextCopy{File: f, What: what})
		}
	}
	return out, nil
}

// credential says what credential data holds, "" for none.
func credential(data []byte) string {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			return "a private key (" + b.Type + ")"
		}
	}
	if !bytes.Contains(data, []byte("client-key")) && !bytes.Contains(data, []byte("token")) {
		return ""
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return ""
	}
	for name, u := range cfg.AuthInfos {
		switch {
		case len(u.ClientKeyData) > 0:
			return fmt.Sprintf("a kubeconfig with a client key (user %q)", name)
		case u.Token != "":
			return fmt.Sprintf("a kubeconfig with a token (user %q)", name)
		}
	}
	return ""
}
