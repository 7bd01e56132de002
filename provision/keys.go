package provision

import (
	"crypto"
	"errors"
	"io"
	"runtime"
	"sync"

	"github.com/bulwark-k8s/bulwark/pki"
)

// pendingKey is a private key that exists or is being generated. Steps
// that need it call get, which waits for it: signing starts as soon as the
// keys it needs are there, while other keys are still being generated.
type pendingKey struct {
	alg    pki.Algorithm
	signer crypto.Signer
	err    error
	done   chan struct{} // closed once signer or err is set

	// For generateKeys, under its lock.
	racers   int
	finished bool
}

// existingKey is a key that is already there.
func existingKey(k crypto.Signer) *pendingKey {
	p := &pendingKey{signer: k, done: make(chan struct{}), finished: true}
	close(p.done)
	return p
}

// errNoKey is what a step that needed a key returns when the key could not
// be generated; generateKeys reports why.
var errNoKey = errors.New("a key it needs was not generated")

func (k *pendingKey) get() (crypto.Signer, error) {
	<-k.done
	if k.err != nil {
		return nil, errNoKey
	}
	return k.signer, nil
}

// generateKeys makes keys on one worker per core: RSA key generation
// dominates a run, and it is CPU-bound. Keys are taken in order; once none
// is left to start, an idle worker starts a second, independent search for
// a key another worker is still making, and whichever finishes first is
// used. Each prime candidate is a fresh random number, so a prime search
// that has run for a while is no nearer its end: a second search often
// wins, and the last key, which would otherwise keep one core busy and the
// other idle, comes sooner on average. generateKeys returns once every key
// is there; a search that lost its race ends by itself, and its key is
// discarded unused.
func generateKeys(keys []*pendingKey, random io.Reader) error {
	return startKeys(keys, random, nil)
}

// startKeys is generateKeys; searchers, if not nil, is done once every
// search has ended, the losing ones included (tests wait on it).
func startKeys(keys []*pendingKey, random io.Reader, searchers *sync.WaitGroup) error {
	if len(keys) == 0 {
		return nil
	}
	var (
		mu        sync.Mutex
		next      int
		remaining = len(keys)
		all       = make(chan struct{})
	)
	claim := func() *pendingKey {
		mu.Lock()
		defer mu.Unlock()
		if next < len(keys) {
			k := keys[next]
			next++
			k.racers++
			return k
		}
		for _, k := range keys {
			if !k.finished && k.racers == 1 {
				k.racers++
				return k
			}
		}
		return nil
	}
	deliver := func(k *pendingKey, s crypto.Signer, err error) {
		mu.Lock()
		defer mu.Unlock()
		if k.finished {
			return
		}
		k.finished, k.signer, k.err = true, s, err
		close(k.done)
		if remaining--; remaining == 0 {
			close(all)
		}
	}
	for range min(runtime.GOMAXPROCS(0), len(keys)) {
		if searchers != nil {
			searchers.Add(1)
		}
		go func() {
			if searchers != nil {
				defer searchers.Done()
			}
			for k := claim(); k != nil; k = claim() {
				s, err := pki.GenerateKey(k.alg, random)
				deliver(k, s, err)
			}
		}()
	}
	<-all
	for _, k := range keys {
		if k.err != nil {
			return k.err
		}
	}
	return nil
}
