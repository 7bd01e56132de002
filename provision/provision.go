// Package provision carries out a plan against a cluster folder: it reads and
// validates what exists, generates what is missing (keys in parallel),
// signs, and writes through the store. It never replaces an existing key;
// Renew is the explicit command that replaces certificates.
package provision

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"sort"
	"time"

	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
)

// Options inject time and randomness, so runs are reproducible in tests.
type Options struct {
	Now  func() time.Time
	Rand io.Reader
	// Config is the configuration the plan was made from (resolved:
	// every default and every setting given on the command line filled
	// in), which InitAndRender, Render and Renew keep as
	// layout.ConfigFile. Nil: the saved one is left as it is.
	Config []byte
	// Derived says the plan comes from the folder's own files (no saved or
	// given configuration): existing identities are then the truth, and
	// a folder whose identities differ from the tables is not adopted.
	Derived bool
	// FixArgs end every command a Problem names as its fix: the folder
	// and the configuration of this run (" --dir D --config F").
	FixArgs string
	// Rotating are, for a CA whose rotation is recorded in progress, the
	// keys its trust file may hold (package rotate's InProgress(...).Keys, given by
	// the caller: trust.RootCA.Rotating); without them a second CA in a
	// trust file is refused as an extra CA.
	Rotating map[string][]crypto.PublicKey
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

func (o Options) rand() io.Reader {
	if o.Rand == nil {
		return rand.Reader
	}
	return o.Rand
}

// Action is what a run did to a file.
type Action string

// Actions reported in a Summary.
const (
	Created Action = "created"
	Kept    Action = "kept"
	Issued  Action = "issued" // a certificate issued for a key that already existed
	Renewed Action = "renewed"
	Removed Action = "removed"
	Expired Action = "expired" // kept, but no longer usable: e.g. a bootstrap token past its TTL
	Fixed   Action = "fixed"   // kept, its mode made no looser than the layout allows
)

// Result is one file and what was done to it.
type Result struct {
	File   string `json:"file"`
	Action Action `json:"action"`
	// Note says more: the mode a Fixed file had and has, or how a
	// running static Pod takes the files renewed under it (NoteReloads,
	// NoteRestarted).
	Note string `json:"note,omitempty"`
}

// Summary lists every file a run considered.
type Summary []Result

// Count returns how many files got the action.
func (s Summary) Count(a Action) int {
	n := 0
	for _, r := range s {
		if r.Action == a {
			n++
		}
	}
	return n
}

func sortSummary(s Summary) Summary {
	sort.SliceStable(s, func(i, j int) bool { return s[i].File < s[j].File })
	return s
}

// loadedCA is a CA as found on disk or about to be created.
type loadedCA struct {
	spec plan.CA
	// cert signs; trusted is the whole trust file, cert among them (the
	// old and the new CA during a rotation).
	cert     *x509.Certificate
	trusted  []*x509.Certificate
	key      crypto.Signer
	certNew  bool
	keyNew   bool
	external bool // certificate without key: can verify, cannot sign
	// broken: the CA's own files have a problem, already reported; the
	// certificates it signed are not judged against it.
	broken bool
	// ready, for a new CA, is closed once the step that signs its
	// certificate has ended.
	ready chan struct{}
}

// errNoCA is what a step returns when the CA it needs was not issued;
// the step that failed to issue it says why.
var errNoCA = errors.New("a CA it needs was not issued")

// wait blocks until the CA's certificate is there.
func (c *loadedCA) wait() error {
	if c.ready != nil {
		<-c.ready
	}
	if c.cert == nil {
		return errNoCA
	}
	return nil
}

func (c *loadedCA) issuer() pki.Issuer { return pki.Issuer{Cert: c.cert, Key: c.key} }

// signingCert is the certificate of a trust file that signs: the one that
// matches the key, else (no key: an external CA) the first.
func signingCert(bundle []*x509.Certificate, key crypto.Signer) *x509.Certificate {
	if len(bundle) == 0 {
		return nil
	}
	if key != nil {
		for _, c := range bundle {
			if pki.KeyMatches(c, key) {
				return c
			}
		}
	}
	return bundle[0]
}

// signedByAny reports whether a CA of the trust file signed cert.
func (c *loadedCA) signedByAny(cert *x509.Certificate) bool {
	for _, t := range c.trusted {
		if pki.SignedBy(cert, t) {
			return true
		}
	}
	return c.cert != nil && pki.SignedBy(cert, c.cert)
}
