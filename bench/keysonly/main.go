// Command keysonly makes keys and nothing else: n keys of one algorithm,
// on one worker per core, taken from a plain queue, then exits without
// writing them. The init benchmark times it beside bulwark and kubeadm as
// the part of a run no tool can avoid on this machine: the keys kubeadm
// makes for one node, made on every core.
//
//	keysonly ALGORITHM N
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/bulwark-k8s/bulwark/pki"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: keysonly ALGORITHM N")
		os.Exit(2)
	}
	alg := pki.Algorithm(os.Args[1])
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 {
		fmt.Fprintf(os.Stderr, "keysonly: N must be a positive number, not %q\n", os.Args[2])
		os.Exit(2)
	}
	var (
		left  atomic.Int64
		wg    sync.WaitGroup
		first atomic.Value
	)
	left.Store(int64(n))
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if _, err := pki.GenerateKey(alg, nil); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		fmt.Fprintln(os.Stderr, "keysonly:", err)
		os.Exit(1)
	}
}
