package parallel_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulwark-k8s/bulwark/internal/parallel"
)

// TestDo: every index runs once, even after an error; the error returned
// is the one of the lowest index; no more than workers run at once.
func TestDo(t *testing.T) {
	const n, workers = 40, 3
	var runs [n]atomic.Int32
	// Each job holds its worker until as many jobs run at once as Do
	// allows, or no more can start: with an unbounded Do, more than
	// workers would be seen running; with too few workers, it would hang.
	var (
		mu                     sync.Mutex
		cond                   = sync.NewCond(&mu)
		running, most, started int
	)
	err := parallel.Do(n, workers, func(i int) error {
		mu.Lock()
		running++
		started++
		most = max(most, running)
		cond.Broadcast()
		for running < workers && started < n {
			cond.Wait()
		}
		running--
		mu.Unlock()
		runs[i].Add(1)
		if i == 7 || i == 30 {
			return fmt.Errorf("job %d: %w", i, errBoom)
		}
		return nil
	})
	if !errors.Is(err, errBoom) || err.Error() != "job 7: boom" {
		t.Errorf("err = %v, want job 7's", err)
	}
	for i := range runs {
		if got := runs[i].Load(); got != 1 {
			t.Errorf("job %d ran %d times", i, got)
		}
	}
	if most != workers {
		t.Errorf("%d jobs ran at once, want %d", most, workers)
	}
	if err := parallel.Do(0, 0, func(int) error { return errBoom }); err != nil {
		t.Errorf("no jobs: %v", err)
	}
}

var errBoom = errors.New("boom")
