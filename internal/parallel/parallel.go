// Package parallel runs independent pieces of work on a few goroutines.
package parallel

import (
	"runtime"
	"sync"
)

// Do runs f for 0..n-1 on at most workers goroutines (0: one per core) and
// returns the first error by index. Every f runs, even after an error.
func Do(n, workers int, f func(i int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				errs[i] = f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
