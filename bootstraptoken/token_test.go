package bootstraptoken_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"github.com/bulwark-k8s/bulwark/bootstraptoken"
)

var (
	now         = time.Date(2027, 2, 3, 4, 5, 6, 789, time.UTC)
	tokenFormat = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
)

func newToken(t *testing.T, ttl time.Duration, usages, groups []string) bootstraptoken.Token {
	t.Helper()
	tok, err := bootstraptoken.New(now, ttl, usages, groups, "test token")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		tok := newToken(t, 24*time.Hour, nil, nil)
		s := tok.String()
		if !tokenFormat.MatchString(s) {
			t.Fatalf("token %q does not match %s", s, tokenFormat)
		}
		if seen[tok.ID] {
			t.Fatalf("token ID %s drawn twice", tok.ID)
		}
		seen[tok.ID] = true
		if !strings.HasPrefix(s, tok.ID+".") || !strings.HasSuffix(s, "."+tok.Secret) {
			t.Errorf("String %q is not id.secret", s)
		}
		if want := now.Add(24 * time.Hour).Truncate(time.Second); !tok.Expires.Equal(want) || tok.Expires.Location() != time.UTC {
			t.Errorf("expires %s, want %s UTC", tok.Expires, want)
		}
		if !slices.Equal(tok.Usages, []string{"authentication", "signing"}) {
			t.Errorf("usages %v", tok.Usages)
		}
	}
	tok := newToken(t, time.Hour, []string{"authentication"}, []string{"system:bootstrappers:workers"})
	if tok.User() != "system:bootstrap:"+tok.ID {
		t.Errorf("User = %q", tok.User())
	}
	if !slices.Equal(tok.Groups(), []string{"system:bootstrappers", "system:bootstrappers:workers"}) {
		t.Errorf("Groups = %v", tok.Groups())
	}
	if tok.SecretName() != "bootstrap-token-"+tok.ID {
		t.Errorf("SecretName = %q", tok.SecretName())
	}
	if tok.Expired(now) || tok.Expired(tok.Expires.Add(-time.Second)) || !tok.Expired(tok.Expires) {
		t.Error("Expired is wrong around the expiry")
	}
	if (bootstraptoken.Token{}).Expired(now.Add(1000 * time.Hour)) {
		t.Error("a token without expiry expired")
	}
	// The caller's slices are copied.
	usages := []string{"authentication"}
	tok = newToken(t, time.Hour, usages, nil)
	usages[0] = "signing"
	if tok.Usages[0] != "authentication" {
		t.Error("New keeps the caller's slice")
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name           string
		ttl            time.Duration
		usages, groups []string
	}{
		{"zero TTL", 0, nil, nil},
		{"negative TTL", -time.Hour, nil, nil},
		{"unknown usage", time.Hour, []string{"authentication", "root"}, nil},
		{"group without prefix", time.Hour, nil, []string{"workers"}},
		{"system:masters", time.Hour, nil, []string{"system:masters"}},
		{"bare default group with colon", time.Hour, nil, []string{"system:bootstrappers:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bootstraptoken.New(now, tc.ttl, tc.usages, tc.groups, "")
			if !errors.Is(err, bootstraptoken.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tok, err := bootstraptoken.Parse("abcdef.0123456789abcdef")
	if err != nil || tok.ID != "abcdef" || tok.Secret != "0123456789abcdef" {
		t.Fatalf("Parse = %+v, %v", tok, err)
	}
	for _, bad := range []string{"", "abcdef", "abcdef.", "ABCDEF.0123456789abcdef", "abcde.0123456789abcdef", "abcdef.0123456789abcde", "abcdef.0123456789abcdef.x", "abcdef:0123456789abcdef", " abcdef.0123456789abcdef"} {
		_, err := bootstraptoken.Parse(bad)
		if !errors.Is(err, bootstraptoken.ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", bad, err)
		}
		if bad != "" && strings.Contains(fmtErr(err), bad) {
			t.Errorf("error %q quotes the token", err)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSecret(t *testing.T) {
	tok := newToken(t, 24*time.Hour, nil, []string{"system:bootstrappers:a", "system:bootstrappers:b"})
	s := tok.ToSecret()
	if s.Type != bootstrapapi.SecretTypeBootstrapToken || s.Namespace != "kube-system" || s.Name != "bootstrap-token-"+tok.ID {
		t.Errorf("secret %s/%s type %s", s.Namespace, s.Name, s.Type)
	}
	if s.APIVersion != "v1" || s.Kind != "Secret" {
		t.Errorf("type meta %+v", s.TypeMeta)
	}
	want := map[string]string{
		"token-id":                       tok.ID,
		"token-secret":                   tok.Secret,
		"expiration":                     now.Add(24 * time.Hour).UTC().Format(time.RFC3339),
		"usage-bootstrap-authentication": "true",
		"usage-bootstrap-signing":        "true",
		"auth-extra-groups":              "system:bootstrappers:a,system:bootstrappers:b",
		"description":                    "test token",
	}
	if len(s.Data) != len(want) {
		t.Errorf("data keys %d, want %d", len(s.Data), len(want))
	}
	for k, v := range want {
		if string(s.Data[k]) != v {
			t.Errorf("data[%s] = %q, want %q", k, s.Data[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339, string(s.Data["expiration"])); err != nil {
		t.Errorf("expiration is not RFC 3339: %v", err)
	}
	if s.StringData != nil {
		t.Error("stringData set")
	}
}

func TestSecretRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name           string
		usages, groups []string
	}{
		{"defaults", nil, nil},
		{"authentication only", []string{"authentication"}, nil},
		{"signing only", []string{"signing"}, nil},
		{"extra groups", []string{"signing", "authentication"}, []string{"system:bootstrappers:a", "system:bootstrappers:b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := newToken(t, 2*time.Hour, tc.usages, tc.groups)
			back, err := bootstraptoken.FromSecret(tok.ToSecret())
			if err != nil {
				t.Fatal(err)
			}
			assertSame(t, back, tok)
			data, err := tok.MarshalSecret()
			if err != nil {
				t.Fatal(err)
			}
			back, err = bootstraptoken.UnmarshalSecret(data)
			if err != nil {
				t.Fatalf("UnmarshalSecret: %v\n%s", err, data)
			}
			assertSame(t, back, tok)
		})
	}
	// No expiration: none written, none read.
	tok := newToken(t, time.Hour, nil, nil)
	tok.Expires = time.Time{}
	s := tok.ToSecret()
	if _, ok := s.Data["expiration"]; ok {
		t.Error("expiration written for a token without one")
	}
	back, err := bootstraptoken.FromSecret(s)
	if err != nil || !back.Expires.IsZero() {
		t.Errorf("FromSecret = %+v, %v", back, err)
	}
}

// assertSame compares tokens as their Secret does: usages and groups as
// sets, times by instant.
func assertSame(t *testing.T, got, want bootstraptoken.Token) {
	t.Helper()
	if got.ID != want.ID || got.Secret != want.Secret || got.Description != want.Description || !got.Expires.Equal(want.Expires) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if !sameSet(got.Usages, want.Usages) || !sameSet(got.ExtraGroups, want.ExtraGroups) {
		t.Errorf("usages %v groups %v, want %v %v", got.Usages, got.ExtraGroups, want.Usages, want.ExtraGroups)
	}
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func TestFromSecretRejects(t *testing.T) {
	good := func() *corev1.Secret {
		tok, err := bootstraptoken.Parse("abcdef.0123456789abcdef")
		if err != nil {
			t.Fatal(err)
		}
		tok.Expires = now
		tok.Usages = []string{"authentication"}
		return tok.ToSecret()
	}
	if _, err := bootstraptoken.FromSecret(good()); err != nil {
		t.Fatalf("the good Secret is refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*corev1.Secret)
	}{
		{"wrong type", func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }},
		{"wrong name", func(s *corev1.Secret) { s.Name = "token-abcdef" }},
		{"name and id differ", func(s *corev1.Secret) { s.Name = "bootstrap-token-zzzzzz" }},
		{"no id", func(s *corev1.Secret) { delete(s.Data, "token-id") }},
		{"no secret", func(s *corev1.Secret) { delete(s.Data, "token-secret") }},
		{"short secret", func(s *corev1.Secret) { s.Data["token-secret"] = []byte("0123") }},
		{"upper-case secret", func(s *corev1.Secret) { s.Data["token-secret"] = []byte("0123456789ABCDEF") }},
		{"bad expiration", func(s *corev1.Secret) { s.Data["expiration"] = []byte("tomorrow") }},
		{"expiration without zone", func(s *corev1.Secret) { s.Data["expiration"] = []byte("2027-01-01T00:00:00") }},
		{"bad group", func(s *corev1.Secret) { s.Data["auth-extra-groups"] = []byte("system:masters") }},
		{"empty group", func(s *corev1.Secret) { s.Data["auth-extra-groups"] = []byte("system:bootstrappers:a,") }},
		{"no data", func(s *corev1.Secret) { s.Data = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good()
			tc.edit(s)
			_, err := bootstraptoken.FromSecret(s)
			if !errors.Is(err, bootstraptoken.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), "0123456789abcdef") {
				t.Errorf("error %q quotes the token secret", err)
			}
		})
	}
}

func TestUnmarshalSecretRejects(t *testing.T) {
	tok := newToken(t, time.Hour, nil, nil)
	good, err := tok.MarshalSecret()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, doc string }{
		{"empty", ""},
		{"not YAML", "{{{"},
		{"unknown field", string(good) + "extra: 1\n"},
		{"a ConfigMap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bootstrap-token-abcdef}\ndata: {token-id: abcdef}\n"},
		{"stringData only", "apiVersion: v1\nkind: Secret\ntype: bootstrap.kubernetes.io/token\nmetadata: {name: bootstrap-token-abcdef, namespace: kube-system}\nstringData: {token-id: abcdef, token-secret: 0123456789abcdef}\n"},
		{"bad base64", strings.Replace(string(good), "token-secret: ", "token-secret: !!!", 1)},
		{"too large", string(good) + "#" + strings.Repeat("x", 64<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bootstraptoken.UnmarshalSecret([]byte(tc.doc))
			if !errors.Is(err, bootstraptoken.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), tok.Secret) {
				t.Errorf("error %q quotes the token secret", err)
			}
		})
	}
}
