package store_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/store"
)

// TestOpenEmpty: an empty folder name is refused, not taken as the
// working directory.
func TestOpenEmpty(t *testing.T) {
	for _, root := range []string{"", " ", "\t"} {
		if _, err := store.Open(root); !errors.Is(err, store.ErrEmptyDir) {
			t.Errorf("Open(%q): %v, want ErrEmptyDir", root, err)
		}
	}
}

// TestSymlinksRefused: a symbolic link in any position of a path, to a
// folder or file outside or dangling, is an *UnsafeError naming it, for
// reads, writes, walks and mode changes; the outside is never touched.
func TestSymlinksRefused(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "ca.key"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, link, target, rel string
	}{
		{"a folder", "pki", outside, "pki/ca.key"},
		{"a nested folder", "pki/etcd", outside, "pki/etcd/ca.key"},
		{"a file", "pki/ca.key", filepath.Join(outside, "ca.key"), "pki/ca.key"},
		{"a dangling file", "pki/new.crt", filepath.Join(outside, "new.crt"), "pki/new.crt"},
		{"a relative link inside the folder", "pki/alias.key", "ca.key", "pki/alias.key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := openDir(t)
			if err := os.MkdirAll(d.Path("pki"), 0o700); err != nil {
				t.Fatal(err)
			}
			switch tc.link {
			case "pki":
				os.RemoveAll(d.Path("pki"))
			case "pki/ca.key":
			default:
				if err := os.WriteFile(d.Path("pki/ca.key"), []byte("inside"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(tc.target, d.Path(tc.link)); err != nil {
				t.Fatal(err)
			}
			check := func(what string, err error) {
				t.Helper()
				var ue *store.UnsafeError
				if !errors.As(err, &ue) || !errors.Is(err, store.ErrUnsafe) || ue.Rel != tc.link {
					t.Errorf("%s: %v, want an UnsafeError naming %s", what, err, tc.link)
				}
			}
			_, err := d.Read(tc.rel)
			check("Read", err)
			_, err = d.Exists(tc.rel)
			check("Exists", err)
			check("Create", d.Create(tc.rel, []byte("x"), layout.SecretMode))
			check("Replace", d.Replace(tc.rel, []byte("x"), layout.SecretMode))
			_, err = d.Walk(".")
			check("Walk", err)
			b := d.NewBatch()
			b.Chmod(tc.rel, false, 0o600)
			check("Chmod", b.Commit())
			if data, _ := os.ReadFile(filepath.Join(outside, "ca.key")); string(data) != "outside" {
				t.Errorf("the outside file changed: %q", data)
			}
			if _, err := os.Stat(filepath.Join(outside, "new.crt")); err == nil {
				t.Error("a file was written outside")
			}
		})
	}
}

// TestNonRegularRefused: a named pipe is refused at once, never opened
// (which would block).
func TestNonRegularRefused(t *testing.T) {
	d := openDir(t)
	if err := syscall.Mkfifo(d.Path("pipe.conf"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := d.Read("pipe.conf")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, store.ErrUnsafe) {
			t.Errorf("Read of a FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read of a FIFO blocked")
	}
	if _, err := d.Exists("pipe.conf"); !errors.Is(err, store.ErrUnsafe) {
		t.Errorf("Exists of a FIFO: %v", err)
	}
	if _, err := d.Walk("."); !errors.Is(err, store.ErrUnsafe) {
		t.Errorf("Walk over a FIFO: %v", err)
	}
	if _, err := store.ReadInput(d.Path("pipe.conf"), 100); !errors.Is(err, store.ErrUnsafe) {
		t.Errorf("ReadInput of a FIFO: %v", err)
	}
}

// TestBatchRollback: a commit that fails in a later stage (a file that
// appeared meanwhile) puts back what the earlier stages did: new files
// removed, replaced and removed files restored with their modes and
// contents, new folders removed, modes restored; only the batch's own
// temporary files are removed, and another's are left.
func TestBatchRollback(t *testing.T) {
	flushModes(t, func(t *testing.T) {
		d := openDir(t)
		for rel, data := range map[string]string{"pki/old.crt": "old", "pki/gone.crt": "gone", "conflict.conf": "there"} {
			if err := d.Create(rel, []byte(data), layout.PublicMode); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(d.Path("pki/old.crt"), 0o640); err != nil {
			t.Fatal(err)
		}
		// Another run's temporary file (killed): the batch leaves it.
		foreign := d.Path("pki/.bulwark-tmp-other")
		if err := os.WriteFile(foreign, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		before := tree(t, d.Root())
		b := d.NewBatch()
		b.Add(store.File{Rel: "pki/new/a.key", Data: []byte("key"), Secret: true})
		b.Add(store.File{Rel: "pki/old.crt", Data: []byte("new"), Replace: true})
		b.Add(store.File{Rel: "pki/gone.crt", Remove: true})
		b.Add(store.File{Rel: "conflict.conf", Data: []byte("mine"), Stage: 1})
		b.Chmod("pki", true, 0o700)
		err := b.Commit()
		if !errors.Is(err, store.ErrExist) {
			t.Fatalf("Commit: %v, want ErrExist", err)
		}
		if after := tree(t, d.Root()); !maps(before, after) {
			t.Errorf("a failed commit changed the folder:\nbefore %v\nafter  %v", before, after)
		}
	})
}

// tree maps every path under root to its mode and content.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(data)
		}
		out[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestScan lists files and folders with their modes, and nothing of
// temporary files or the old lock file.
func TestScan(t *testing.T) {
	d := openDir(t)
	if err := d.Create("pki/ca.crt", []byte("c"), layout.PublicMode); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".bulwark-tmp-x", layout.LockFile} {
		if err := os.WriteFile(d.Path(p), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	es, err := d.Scan()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Rel+" "+e.Mode.String())
	}
	if want := []string{". -rwx------", "pki -rwx------", "pki/ca.crt -rw-r--r--"}; !slices.Equal(got, want) {
		t.Errorf("Scan = %v, want %v", got, want)
	}
}
