// Command keysonly makes keys and nothing else: n keys of one algorithm,
// on one worker per core, taken from a plain queue, then exits without
// writing them. The init benchmark times it beside bulwark and kubeadm:
// the keys kubeadm makes for one node, made on every core, with no other
// work, which a tool that makes them can beat only by a better schedule.
//
//	keysonly ALGORITHM N
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/bulwark-k8s/bulwark/internal/parallel"
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
	err = parallel.Do(n, 0, func(int) error {
		_, err := pki.GenerateKey(alg, nil)
		return err
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "keysonly:", err)
		os.Exit(1)
	}
}
