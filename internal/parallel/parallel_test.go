package parallel_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/internal/parallel"
)

// TestDo: every index runs once, even after an error; the error returned
// is the one of the lowest index; no more than workers run at once.
func TestDo(t *testing.T) {
	const n, workers = 40, 3
	var runs [n]atomic.Int32
	var running, most atomic.Int32
	err := parallel.Do(n, workers, func(i int) error {
		now := running.Add(1)
		for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
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
	if m := most.Load(); m > workers || m < 1 {
		t.Errorf("%d jobs ran at once, want at most %d", m, workers)
	}
	if err := parallel.Do(0, 0, func(int) error { return errBoom }); err != nil {
		t.Errorf("no jobs: %v", err)
	}
}

var errBoom = errors.New("boom")
