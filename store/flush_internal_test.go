package store

import "testing"

// The crash tests' hook fixes the flush mode whatever the dirty cache;
// unset, the dirty cache decides.
func TestFlushWhole(t *testing.T) {
	savedMode, savedBytes := testFlush, QuietDirtyBytes
	t.Cleanup(func() { testFlush, QuietDirtyBytes = savedMode, savedBytes })
	for _, tc := range []struct {
		mode  string
		quiet int64
		want  bool
	}{
		{"file", 1 << 62, false},
		{"whole", 0, true},
		{"", 0, false},      // no machine has less than no dirty data
		{"", 1 << 62, true}, // nor this much
		{"fast", 0, false},  // not a mode: the dirty cache decides
	} {
		testFlush, QuietDirtyBytes = tc.mode, tc.quiet
		if got := flushWhole(); got != tc.want {
			t.Errorf("BULWARK_TEST_FLUSH=%q, QuietDirtyBytes %d: whole %v, want %v", tc.mode, tc.quiet, got, tc.want)
		}
	}
}
