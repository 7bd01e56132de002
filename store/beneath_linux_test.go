package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPortableWalk: the walk that other systems (and kernels without
// openat2) use refuses what openat2 refuses, and opens what it opens.
func TestPortableWalk(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	for _, p := range []string{"pki/etcd"} {
		if err := os.MkdirAll(filepath.Join(root, p), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "pki/etcd/ca.key"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("etcd/ca.key", filepath.Join(root, "pki/alias.key")); err != nil {
		t.Fatal(err)
	}
	dirfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dirfd)
	for _, portable := range []bool{false, true} {
		noOpenat2.Store(portable)
		for rel, want := range map[string]string{"pki/etcd/ca.key": "", "link/x": "link", "pki/alias.key": "pki/alias.key", "link": "link"} {
			fd, err := openBeneath(dirfd, rel, unix.O_RDONLY, 0)
			var ue *UnsafeError
			switch {
			case want == "" && err != nil:
				t.Errorf("portable %v: %s: %v", portable, rel, err)
			case want != "" && (!errors.As(err, &ue) || ue.Rel != want):
				t.Errorf("portable %v: %s: %v, want an UnsafeError naming %s", portable, rel, err, want)
			}
			if err == nil {
				unix.Close(fd)
			}
		}
		for _, bad := range []string{"../x", "/etc/passwd", "pki/../../x", "", "pki//ca.key"} {
			if fd, err := openBeneath(dirfd, bad, unix.O_RDONLY, 0); err == nil {
				unix.Close(fd)
				t.Errorf("portable %v: %q opened", portable, bad)
			}
		}
	}
	noOpenat2.Store(false)
}
