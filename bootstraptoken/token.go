// Package bootstraptoken makes, reads and encodes kubelet TLS bootstrap
// tokens and their kube-system Secrets, with k8s.io/cluster-bootstrap's
// formats and rules.
package bootstraptoken

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
	bootstrapsecrets "k8s.io/cluster-bootstrap/util/secrets"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/layout"
)

// DefaultUsages are what bulwark's tokens may be used for: authenticating
// a bootstrapping kubelet, and signing the cluster-info ConfigMap.
var DefaultUsages = []string{"authentication", "signing"}

// Token is a bootstrap token and the metadata its Secret carries.
type Token struct {
	ID          string    `json:"id"`
	Secret      string    `json:"-"`
	Expires     time.Time `json:"expires"`
	Usages      []string  `json:"usages"`
	ExtraGroups []string  `json:"extraGroups,omitempty"`
	Description string    `json:"description,omitempty"`
}

// ErrInvalid is wrapped by errors about a malformed token or Secret.
var ErrInvalid = errors.New("invalid bootstrap token")

// New draws a random token that expires ttl after now.
func New(now time.Time, ttl time.Duration, usages, extraGroups []string, description string) (Token, error) {
	if ttl <= 0 {
		return Token{}, fmt.Errorf("%w: TTL must be positive", ErrInvalid)
	}
	if len(usages) == 0 {
		usages = DefaultUsages
	}
	if err := bootstraputil.ValidateUsages(usages); err != nil {
		return Token{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	for _, g := range extraGroups {
		if err := bootstraputil.ValidateBootstrapGroupName(g); err != nil {
			return Token{}, fmt.Errorf("%w: group %q must start with %q", ErrInvalid, g, bootstrapapi.BootstrapDefaultGroup+":")
		}
	}
	s, err := bootstraputil.GenerateBootstrapToken()
	if err != nil {
		return Token{}, fmt.Errorf("failed to draw a token: %w", err)
	}
	id, secret, _ := strings.Cut(s, ".")
	return Token{
		ID: id, Secret: secret,
		Expires:     now.Add(ttl).UTC().Truncate(time.Second),
		Usages:      slices.Clone(usages),
		ExtraGroups: slices.Clone(extraGroups),
		Description: description,
	}, nil
}

// Parse reads "id.secret".
func Parse(s string) (Token, error) {
	if !bootstraputil.IsValidBootstrapToken(s) {
		return Token{}, fmt.Errorf("%w: want the form [a-z0-9]{6}.[a-z0-9]{16}", ErrInvalid)
	}
	id, secret, _ := strings.Cut(s, ".")
	return Token{ID: id, Secret: secret}, nil
}

// ValidID reports whether s has the form of a token ID.
func ValidID(s string) bool { return bootstraputil.IsValidBootstrapTokenID(s) }

// String is the bearer token, "id.secret". It is a credential.
func (t Token) String() string { return bootstraputil.TokenFromIDAndSecret(t.ID, t.Secret) }

// User is the user name the API server gives the token.
func (t Token) User() string { return bootstrapapi.BootstrapUserPrefix + t.ID }

// Groups are the groups the API server gives the token.
func (t Token) Groups() []string {
	return append([]string{bootstrapapi.BootstrapDefaultGroup}, t.ExtraGroups...)
}

// Expired reports whether the token has expired at now.
func (t Token) Expired(now time.Time) bool { return !t.Expires.IsZero() && !now.Before(t.Expires) }

// SecretName is the name of the token's Secret in kube-system.
func (t Token) SecretName() string { return bootstraputil.BootstrapTokenSecretName(t.ID) }

// ToSecret is the token's kube-system Secret, as the API server's bootstrap
// authenticator reads it.
func (t Token) ToSecret() *corev1.Secret {
	data := map[string][]byte{
		bootstrapapi.BootstrapTokenIDKey:     []byte(t.ID),
		bootstrapapi.BootstrapTokenSecretKey: []byte(t.Secret),
	}
	if !t.Expires.IsZero() {
		// RFC3339Nano writes whole seconds exactly as RFC3339 does, and keeps
		// the fraction of an expiration read from someone else's Secret.
		data[bootstrapapi.BootstrapTokenExpirationKey] = []byte(t.Expires.UTC().Format(time.RFC3339Nano))
	}
	if t.Description != "" {
		data[bootstrapapi.BootstrapTokenDescriptionKey] = []byte(t.Description)
	}
	for _, u := range t.Usages {
		data[bootstrapapi.BootstrapTokenUsagePrefix+u] = []byte("true")
	}
	if len(t.ExtraGroups) > 0 {
		data[bootstrapapi.BootstrapTokenExtraGroupsKey] = []byte(strings.Join(t.ExtraGroups, ","))
	}
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      t.SecretName(),
			Namespace: metav1.NamespaceSystem,
			Labels:    map[string]string{layout.ManagedByLabel: layout.ManagedBy},
		},
		Type: bootstrapapi.SecretTypeBootstrapToken,
		Data: data,
	}
}

// FromSecret reads a token back from its Secret.
func FromSecret(s *corev1.Secret) (Token, error) {
	if s.Type != bootstrapapi.SecretTypeBootstrapToken {
		return Token{}, fmt.Errorf("%w: Secret %q has type %q", ErrInvalid, s.Name, s.Type)
	}
	id, ok := bootstrapsecrets.ParseName(s.Name)
	if !ok {
		return Token{}, fmt.Errorf("%w: Secret name %q is not bootstrap-token-<id>", ErrInvalid, s.Name)
	}
	t := Token{
		ID:          bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenIDKey),
		Secret:      bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenSecretKey),
		Description: bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenDescriptionKey),
	}
	if t.ID != id {
		return Token{}, fmt.Errorf("%w: Secret %q holds token-id %q", ErrInvalid, s.Name, t.ID)
	}
	if !bootstraputil.IsValidBootstrapToken(t.String()) {
		return Token{}, fmt.Errorf("%w: Secret %q holds a malformed token", ErrInvalid, s.Name)
	}
	if exp := bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenExpirationKey); exp != "" {
		when, err := time.Parse(time.RFC3339, exp)
		if err != nil {
			return Token{}, fmt.Errorf("%w: Secret %q has a malformed expiration", ErrInvalid, s.Name)
		}
		t.Expires = when
	}
	for _, u := range bootstrapapi.KnownTokenUsages {
		if bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenUsagePrefix+u) == "true" {
			t.Usages = append(t.Usages, u)
		}
	}
	groups, err := bootstrapsecrets.GetGroups(s)
	if err != nil {
		return Token{}, fmt.Errorf("%w: Secret %q: %v", ErrInvalid, s.Name, err)
	}
	t.ExtraGroups = slices.DeleteFunc(groups, func(g string) bool { return g == bootstrapapi.BootstrapDefaultGroup })
	return t, nil
}

// maxManifestSize caps Secret manifests read back from disk.
const maxManifestSize = 64 << 10

// MarshalSecret encodes the token's Secret as a YAML manifest.
func (t Token) MarshalSecret() ([]byte, error) { return yaml.Marshal(t.ToSecret()) }

// UnmarshalSecret reads a token from a Secret manifest.
func UnmarshalSecret(data []byte) (Token, error) {
	if len(data) > maxManifestSize {
		return Token{}, fmt.Errorf("%w: manifest larger than %d bytes", ErrInvalid, maxManifestSize)
	}
	var s corev1.Secret
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return Token{}, fmt.Errorf("%w: not a Secret manifest", ErrInvalid)
	}
	return FromSecret(&s)
}
