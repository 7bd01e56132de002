package provision

import (
	"crypto"
	"crypto/rand"
	"sync"
	"testing"

	"github.com/bulwark-k8s/bulwark/pki"
)

// TestGenerateKeys: every key is made once and is its own (a search that
// loses a race never replaces the key another delivered); waiters see it.
func TestGenerateKeys(t *testing.T) {
	for _, alg := range []pki.Algorithm{pki.ECDSAP256, pki.RSA2048} {
		t.Run(string(alg), func(t *testing.T) {
			keys := make([]*pendingKey, 5)
			for i := range keys {
				keys[i] = &pendingKey{alg: alg, done: make(chan struct{})}
			}
			got := make([]chan crypto.PublicKey, len(keys))
			for i, k := range keys {
				got[i] = make(chan crypto.PublicKey, 1)
				go func() {
					s, err := k.get()
					if err != nil {
						t.Error(err)
						got[i] <- nil
						return
					}
					got[i] <- s.Public()
				}()
			}
			var searchers sync.WaitGroup
			if err := startKeys(keys, rand.Reader, &searchers); err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			waited := make([]crypto.PublicKey, len(keys))
			for i := range keys {
				waited[i] = <-got[i]
				der, err := pki.MarshalPublicKey(waited[i])
				if err != nil {
					t.Fatal(err)
				}
				if seen[string(der)] {
					t.Fatal("two keys are the same")
				}
				seen[string(der)] = true
			}
			// A search that lost the race for a key ends after
			// generateKeys returns; once every search has ended, each key
			// is still the one delivered first.
			searchers.Wait()
			for i, k := range keys {
				if s, _ := k.get(); !pki.PublicKeysEqual(s.Public(), waited[i]) {
					t.Errorf("key %d changed after delivery", i)
				}
			}
		})
	}
	if err := generateKeys(nil, rand.Reader); err != nil {
		t.Errorf("no keys: %v", err)
	}
}
