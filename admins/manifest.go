// Package admins keeps a cluster folder's administrators: a recipients
// manifest, versioned and signed by an administrator of the version before
// it, lists who the secrets are encrypted to; requests for administrator
// certificates are signed by the requester's enrolled SSH key and issued
// short-lived, into a hash-chained issuance log; removal re-encrypts every
// secret with fresh file keys and marks what the removed holder could read
// as needing rotation.
package admins

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/sshsig"
	"github.com/bulwark-k8s/bulwark/store"
)

// SSHSIG namespaces: a signature made for one purpose never passes for
// another.
const (
	NamespaceManifest = "bulwark-recipients-v1@bulwark-k8s"
	NamespaceRequest  = "bulwark-admin-request-v1@bulwark-k8s"
	NamespaceLog      = "bulwark-issuance-v1@bulwark-k8s"
)

const (
	apiVersion   = "bulwark.dev/v1alpha1"
	kindManifest = "Recipients"
	sigBegin     = "-----BEGIN SSH SIGNATURE-----"
	// maxVersions bounds how many manifest versions a folder may hold.
	maxVersions = 10000
)

// Role is what a holder may do.
type Role string

// Roles: an administrator (an SSH key) decrypts and signs; a reader (an
// age X25519 recipient) only decrypts.
const (
	RoleAdmin  Role = "admin"
	RoleReader Role = "reader"
)

// Holder is one entry of the manifest.
type Holder struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	Role Role   `json:"role"`
}

// Manifest is one version of the recipients manifest.
type Manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Serial     int    `json:"serial"`
	// Previous is the SHA-256 of the previous version's file, empty for
	// the first.
	Previous string    `json:"previous,omitempty"`
	Time     time.Time `json:"time"`
	// Change says what this version did ("create", "add carol",
	// "remove bob") and SignedBy which administrator did it.
	Change   string   `json:"change"`
	SignedBy string   `json:"signedBy"`
	Holders  []Holder `json:"holders"`
	// Format is 2 for versions that record Sealed and Head, and whose
	// files' seals name the version's digest; 0 for older versions.
	Format int `json:"format,omitempty"`
	// Sealed is the digest of every secret file as it was stored when
	// this version was made: until the re-encryption to this version is
	// recorded finished, a file still sealed to an earlier version is
	// re-encrypted only if it is exactly those bytes.
	Sealed map[string]string `json:"sealed,omitempty"`
	// Head is the digest of the head (layout.HeadFile) this version was
	// made from, empty for the first.
	Head string `json:"head,omitempty"`

	digest string // of the whole file
}

// Digest is "sha256:…" of the version's file.
func (m *Manifest) Digest() string { return m.digest }

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// ValidateName checks a holder's name: lowercase letters, digits and
// dashes, at most 32, so that it is safe in a user name, a file name and
// an RBAC object name.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid administrator name %q (want 1-32 of [a-z0-9-], not starting or ending with -)", name)
	}
	return nil
}

// Holder returns the named holder.
func (m *Manifest) Holder(name string) (Holder, bool) {
	i := slices.IndexFunc(m.Holders, func(h Holder) bool { return h.Name == name })
	if i < 0 {
		return Holder{}, false
	}
	return m.Holders[i], true
}

// Recipients parses every holder's key.
func (m *Manifest) Recipients() ([]atrest.Recipient, error) {
	out := make([]atrest.Recipient, 0, len(m.Holders))
	for _, h := range m.Holders {
		r, _, err := atrest.ParseRecipient(h.Key)
		if err != nil {
			return nil, fmt.Errorf("holder %q: %w", h.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// AdminFor returns the administrator whose SSH key this is.
func (m *Manifest) AdminFor(key ssh.PublicKey) (Holder, bool) {
	for _, h := range m.Holders {
		if h.Role != RoleAdmin {
			continue
		}
		if r, _, err := atrest.ParseRecipient(h.Key); err == nil && r.Is(key) {
			return h, true
		}
	}
	return Holder{}, false
}

// holderFor returns the holder whose key is this recipient.
func (m *Manifest) holderFor(r atrest.Recipient) (Holder, bool) {
	for _, h := range m.Holders {
		if h.Key == r.Key {
			return h, true
		}
	}
	return Holder{}, false
}

// validate checks the holders: names and keys unique and well-formed, the
// role the key's type gives, at least one administrator.
func (m *Manifest) validate() error {
	if m.APIVersion != apiVersion || m.Kind != kindManifest {
		return fmt.Errorf("not a %s %s", apiVersion, kindManifest)
	}
	names, keys := map[string]bool{}, map[string]bool{}
	admins := 0
	for _, h := range m.Holders {
		if err := ValidateName(h.Name); err != nil {
			return err
		}
		r, _, err := atrest.ParseRecipient(h.Key)
		if err != nil {
			return fmt.Errorf("holder %q: %w", h.Name, err)
		}
		if r.Key != h.Key {
			return fmt.Errorf("holder %q: key not in canonical form", h.Name)
		}
		if want := roleOf(r); h.Role != want {
			return fmt.Errorf("holder %q: a %s key is a%s, not %q", h.Name, r.Type, map[Role]string{RoleAdmin: "n admin", RoleReader: " reader"}[want], h.Role)
		}
		if names[h.Name] || keys[h.Key] {
			return fmt.Errorf("holder %q listed twice (by name or key)", h.Name)
		}
		names[h.Name], keys[h.Key] = true, true
		if h.Role == RoleAdmin {
			admins++
		}
	}
	if admins == 0 {
		return errors.New("no administrator (an SSH key) is left to sign changes")
	}
	return nil
}

func roleOf(r atrest.Recipient) Role {
	if r.CanSign() {
		return RoleAdmin
	}
	return RoleReader
}

// encode signs the manifest with the identity and returns the file.
func (m *Manifest) encode(id *atrest.Identity) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	file, err := signDoc(id.Signer, NamespaceManifest, m)
	if err != nil {
		return nil, err
	}
	m.digest = digest(file)
	return file, nil
}

// signDoc is v as YAML followed by its SSHSIG signature in namespace ns:
// the form of every signed document of the folder (manifest versions,
// the head).
func signDoc(signer ssh.Signer, ns string, v any) ([]byte, error) {
	body, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	sig, err := sshsig.Sign(signer, ns, body)
	if err != nil {
		return nil, err
	}
	return append(body, sig...), nil
}

// errNotSigned: a document with no signature after its body;
// errMalformed: a signed body that does not read as its kind.
var (
	errNotSigned = errors.New("is not signed")
	errMalformed = errors.New("malformed")
)

// openDoc checks a signed document's signature in namespace ns and reads
// its body into v, strictly; it returns the key that signed it.
func openDoc(file []byte, ns string, v any) (ssh.PublicKey, error) {
	i := bytes.Index(file, []byte(sigBegin))
	if i < 0 {
		return nil, errNotSigned
	}
	pub, err := sshsig.Verify(file[i:], ns, file[:i])
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(file[:i], v); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return pub, nil
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// decode parses a version and checks its signature; it returns the key
// that signed it. Whether that key may sign it is History's to say.
func decode(file []byte) (*Manifest, ssh.PublicKey, error) {
	var m Manifest
	pub, err := openDoc(file, NamespaceManifest, &m)
	if err != nil {
		return nil, nil, err
	}
	if err := m.validate(); err != nil {
		return nil, nil, err
	}
	m.digest = digest(file)
	return &m, pub, nil
}

// History is every version of the manifest, checked from the first: each
// signed by an administrator of the version before it (the first by one of
// its own), each naming the digest of the one before.
type History []*Manifest

// Current is the latest version.
func (h History) Current() *Manifest { return h[len(h)-1] }

// Version returns the version numbered serial.
func (h History) Version(serial int) (*Manifest, bool) {
	if serial < 1 || serial > len(h) {
		return nil, false
	}
	return h[serial-1], true
}

// ErrNoManifest: the folder's secrets are not encrypted.
var ErrNoManifest = errors.New("no recipients manifest: the folder's secrets are not encrypted")

// ErrRefused is wrapped by every manifest that is not signed by an
// administrator or does not follow from the version before.
var ErrRefused = errors.New("recipients manifest refused")

// LoadHistory reads and checks every version under layout.RecipientsDir.
func LoadHistory(d *store.Dir) (History, error) {
	files, err := d.Walk(layout.RecipientsDir)
	if err != nil {
		return nil, fmt.Errorf("failed to list %s: %w", layout.RecipientsDir, err)
	}
	if len(files) == 0 {
		return nil, ErrNoManifest
	}
	if len(files) > maxVersions {
		return nil, fmt.Errorf("%w: more than %d versions", ErrRefused, maxVersions)
	}
	slices.Sort(files)
	var h History
	for i, f := range files {
		serial := i + 1
		if f != layout.RecipientsFile(serial) {
			return nil, fmt.Errorf("%w: %s is out of sequence (want %s)", ErrRefused, f, layout.RecipientsFile(serial))
		}
		data, err := d.Read(f)
		if err != nil {
			return nil, err
		}
		m, signer, err := decode(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrRefused, f, err)
		}
		if m.Serial != serial {
			return nil, fmt.Errorf("%w: %s says serial %d", ErrRefused, f, m.Serial)
		}
		// The signer must be an administrator before the change (of the
		// first version: of itself).
		authority := m
		want := ""
		if serial > 1 {
			authority, want = h[serial-2], h[serial-2].digest
		}
		if m.Previous != want {
			return nil, fmt.Errorf("%w: %s does not follow the version before it", ErrRefused, f)
		}
		admin, ok := authority.AdminFor(signer)
		if !ok {
			return nil, fmt.Errorf("%w: %s is signed by %s, who is not an administrator of %s", ErrRefused, f, ssh.FingerprintSHA256(signer), versionName(serial-1))
		}
		if admin.Name != m.SignedBy {
			return nil, fmt.Errorf("%w: %s says it is signed by %q but %q signed it", ErrRefused, f, m.SignedBy, admin.Name)
		}
		if serial > 1 && m.Format < h[serial-2].Format {
			return nil, fmt.Errorf("%w: %s is of an older format than the version before it: the manifest history was rewritten (a fork, by someone removed?)", ErrRefused, f)
		}
		h = append(h, m)
	}
	// What the chain alone cannot show: a version replaced by another of
	// the same number signed by someone who was an administrator before
	// it (a fork), or the newest versions removed. The head and every
	// seal name the versions they were made under by digest.
	if _, err := loadHead(d, h); err != nil {
		return nil, err
	}
	if err := checkSeals(d, h); err != nil {
		return nil, err
	}
	return h, nil
}

func versionName(serial int) string {
	if serial == 0 {
		return "the manifest itself"
	}
	return "version " + strconv.Itoa(serial)
}

// trusted says whether key was an administrator of the version the seal
// names, and that this version is the folder's (same digest): what a
// sealed file's signature must show.
func (h History) trusted(s atrest.Seal, key ssh.PublicKey) error {
	m, ok := h.Version(s.Serial)
	if !ok {
		return fmt.Errorf("no manifest version %d", s.Serial)
	}
	if s.Version >= formatDigests && s.Manifest != m.digest {
		return fmt.Errorf("%w (version %d: sealed under %s, the folder's is %s)", atrest.ErrFork, s.Serial, s.Manifest, m.digest)
	}
	if _, ok := m.AdminFor(key); !ok {
		return fmt.Errorf("signed by %s, not an administrator of version %d", ssh.FingerprintSHA256(key), s.Serial)
	}
	return nil
}

// everAdmin returns the administrator of that name in any version whose
// key this is.
func (h History) everAdmin(name string, key ssh.PublicKey) bool {
	for _, m := range h {
		if a, ok := m.AdminFor(key); ok && a.Name == name {
			return true
		}
	}
	return false
}

// NamedRecipient is a recipient with the name it will have.
type NamedRecipient struct {
	Name string
	atrest.Recipient
}

// ParseRecipients reads --recipient values and a recipients file: one key
// per line (authorized_keys lines or age1… recipients; # comments and
// blank lines skipped). A key's name is "NAME=" before it, else its
// comment's user part (alice@laptop -> alice), else its type and
// fingerprint's first characters.
func ParseRecipients(lines []string) ([]NamedRecipient, error) {
	var out []NamedRecipient
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := ""
		if before, after, ok := strings.Cut(line, "="); ok && !strings.ContainsAny(before, " \t") && !strings.HasPrefix(before, "ssh-") && !strings.HasPrefix(before, "age1") {
			name, line = before, after
		}
		r, comment, err := atrest.ParseRecipient(line)
		if err != nil {
			return nil, err
		}
		if name == "" {
			name = nameFrom(comment, r)
		}
		if err := ValidateName(name); err != nil {
			return nil, err
		}
		for _, o := range out {
			if o.Name == name || o.Key == r.Key {
				return nil, fmt.Errorf("recipient %q given twice (by name or key)", name)
			}
		}
		out = append(out, NamedRecipient{Name: name, Recipient: r})
	}
	if len(out) == 0 {
		return nil, errors.New("no recipients given")
	}
	return out, nil
}

func nameFrom(comment string, r atrest.Recipient) string {
	user, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(comment)), "@")
	user = strings.Trim(regexp.MustCompile(`[^a-z0-9-]+`).ReplaceAllString(user, "-"), "-")
	if len(user) > 32 {
		user = strings.Trim(user[:32], "-")
	}
	if user != "" && ValidateName(user) == nil {
		return user
	}
	fp := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]`).ReplaceAllString(strings.TrimPrefix(r.Fingerprint(), "SHA256:"), ""))
	if r.CanSign() {
		return "admin-" + fp[:8]
	}
	return "reader-" + strings.TrimPrefix(fp, "age1")[:8]
}
