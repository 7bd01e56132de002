package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/store"
)

// TestBatchLinks: a link entry names the same inode as its target, made
// in a later stage than the target; a link that replaces goes through a
// rename (the old inode stays with whoever holds it); a new link never
// replaces a file.
func TestBatchLinks(t *testing.T) { flushModes(t, testBatchLinks) }

func testBatchLinks(t *testing.T) {
	d := openDir(t)
	if err := d.WriteBatch([]store.File{
		{Rel: "pki/apiserver.key", Data: []byte("key"), Secret: true},
		{Rel: "pki/apiserver.crt", Data: []byte("cert-1"), Stage: 1},
		{Rel: "mounts/kube-apiserver/pki/apiserver.crt", Link: "pki/apiserver.crt", Stage: 2},
		{Rel: "mounts/kube-apiserver/pki/apiserver.key", Link: "pki/apiserver.key", Stage: 2},
	}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"apiserver.crt", "apiserver.key"} {
		same, err := d.SameFile("pki/"+f, "mounts/kube-apiserver/pki/"+f)
		if err != nil || !same {
			t.Errorf("%s: same file %v %v", f, same, err)
		}
	}
	if got := mode(t, d.Path("mounts/kube-apiserver/pki/apiserver.key")); got != 0o600 {
		t.Errorf("link to a key has mode %o", got)
	}
	if got := mode(t, d.Path("mounts/kube-apiserver")); got != 0o700 {
		t.Errorf("mount folder mode %o", got)
	}
	old, err := d.Read("mounts/kube-apiserver/pki/apiserver.crt")
	if err != nil || string(old) != "cert-1" {
		t.Fatalf("link reads %q %v", old, err)
	}

	// Renewal replaces the target by rename: the link keeps the old inode
	// until it is made again, with Replace.
	if err := d.WriteBatch([]store.File{{Rel: "pki/apiserver.crt", Data: []byte("cert-2"), Replace: true}}); err != nil {
		t.Fatal(err)
	}
	if same, _ := d.SameFile("pki/apiserver.crt", "mounts/kube-apiserver/pki/apiserver.crt"); same {
		t.Fatal("a renamed-over target is still the link's inode")
	}
	if err := d.WriteBatch([]store.File{{Rel: "mounts/kube-apiserver/pki/apiserver.crt", Link: "pki/apiserver.crt", Replace: true}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Read("mounts/kube-apiserver/pki/apiserver.crt"); string(got) != "cert-2" {
		t.Errorf("relinked file reads %q", got)
	}
	if same, _ := d.SameFile("pki/apiserver.crt", "mounts/kube-apiserver/pki/apiserver.crt"); !same {
		t.Error("relinked file is not the target's inode")
	}
	assertNoTemp(t, d)

	// Without Replace, a link never replaces an existing file.
	err = d.WriteBatch([]store.File{{Rel: "mounts/kube-apiserver/pki/apiserver.crt", Link: "pki/apiserver.key"}})
	if !errors.Is(err, store.ErrExist) {
		t.Fatalf("link over a file: %v, want ErrExist", err)
	}
	// A link to a missing target fails and leaves nothing.
	if err := d.WriteBatch([]store.File{{Rel: "mounts/x/pki/missing.crt", Link: "pki/missing.crt", Replace: true}}); err == nil {
		t.Fatal("link to a missing file made")
	}
	if ok, _ := d.Exists("mounts/x/pki/missing.crt"); ok {
		t.Error("a link to a missing file exists")
	}
	assertNoTemp(t, d)
	if same, err := d.SameFile("pki/apiserver.crt", "pki/none"); same || err != nil {
		t.Errorf("SameFile with a missing file: %v %v", same, err)
	}
}

// TestBatchLinkInItsTargetsStage: a link may name a file written in the
// same stage; the store makes it after that file.
func TestBatchLinkInItsTargetsStage(t *testing.T) {
	flushModes(t, func(t *testing.T) {
		d := openDir(t)
		// "a-link" sorts before "z-target": order by name alone would fail.
		if err := d.WriteBatch([]store.File{
			{Rel: "a-link/z-target.crt", Link: "z-target.crt", Stage: 1},
			{Rel: "z-target.crt", Data: []byte("cert"), Stage: 1},
		}); err != nil {
			t.Fatal(err)
		}
		if same, err := d.SameFile("a-link/z-target.crt", "z-target.crt"); !same || err != nil {
			t.Errorf("same file: %v %v", same, err)
		}
		assertNoTemp(t, d)
	})
}

// TestChmodLinkOutside: a mode belongs to the inode. A file of the folder
// with a hard link outside it is not chmod'ed (the batch fails, nothing
// changes, the outside file keeps its mode); links inside the folder (a
// static Pod's under mounts/) do not count against it.
func TestChmodLinkOutside(t *testing.T) {
	d := openDir(t)
	if err := d.WriteBatch([]store.File{
		{Rel: "pki/sa.pub", Data: []byte("public")},
		{Rel: "pki/ca.crt", Data: []byte("cert")},
		{Rel: "mounts/kube-apiserver/pki/ca.crt", Link: "pki/ca.crt", Stage: 1},
	}); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.Link(d.Path("pki/sa.pub"), victim); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{victim, d.Path("pki/ca.crt")} {
		if err := os.Chmod(p, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	b := d.NewBatch()
	b.Chmod("pki/ca.crt", false, 0o644)
	b.Chmod("pki/sa.pub", false, 0o644)
	err := b.Commit()
	var outside *store.OutsideLinkError
	if !errors.As(err, &outside) || outside.Rel != "pki/sa.pub" || !strings.Contains(err.Error(), "1 of them outside the folder") {
		t.Fatalf("chmod of a file linked outside: %v", err)
	}
	for p, want := range map[string]os.FileMode{victim: 0o666, d.Path("pki/ca.crt"): 0o666} {
		if got := mode(t, p); got != want {
			t.Errorf("%s: mode %o after a refused batch, want %o", p, got, want)
		}
	}
	// Linked inside the folder only: changed.
	b = d.NewBatch()
	b.Chmod("pki/ca.crt", false, 0o644)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, d.Path("mounts/kube-apiserver/pki/ca.crt")); got != 0o644 {
		t.Errorf("mounts link mode %o", got)
	}
}
