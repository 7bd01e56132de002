package store_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/store"
)

func openDir(t *testing.T) *store.Dir {
	t.Helper()
	d, err := store.Open(filepath.Join(t.TempDir(), "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	return d
}

// files lists every entry under the folder, temporary files included,
// as paths relative to it.
func files(t *testing.T, d *store.Dir) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(d.Root(), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			r, _ := filepath.Rel(d.Root(), p)
			out = append(out, filepath.ToSlash(r))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertNoTemp(t *testing.T, d *store.Dir) {
	t.Helper()
	for _, f := range files(t, d) {
		if strings.HasPrefix(filepath.Base(f), ".bulwark-tmp-") {
			t.Errorf("temporary file %s left behind", f)
		}
	}
}

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestInit(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b")
	d, err := store.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if d.IsDir() {
		t.Fatal("Open created the folder")
	}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	if !d.IsDir() || mode(t, root) != 0o700 {
		t.Errorf("folder mode %v, want 0700", mode(t, root))
	}
	if err := d.Init(); err != nil {
		t.Errorf("second Init: %v", err)
	}
	if !filepath.IsAbs(d.Root()) || d.Path("pki/ca.crt") != filepath.Join(root, "pki", "ca.crt") {
		t.Errorf("Root %s Path %s", d.Root(), d.Path("pki/ca.crt"))
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, _ := store.Open(file)
	if err := f.Init(); err == nil {
		t.Error("Init accepted a file as the folder")
	}
}

func TestCreate(t *testing.T) {
	d := openDir(t)
	if err := d.Create("pki/etcd/ca.crt", []byte("first"), layout.PublicMode); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, d.Path("pki/etcd/ca.crt")); got != 0o644 {
		t.Errorf("certificate mode %v, want 0644", got)
	}
	for _, dir := range []string{"pki", "pki/etcd"} {
		if got := mode(t, d.Path(dir)); got != 0o700 {
			t.Errorf("%s mode %v, want 0700", dir, got)
		}
	}
	err := d.Create("pki/etcd/ca.crt", []byte("second"), layout.PublicMode)
	if !errors.Is(err, store.ErrExist) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over a file: %v, want ErrExist", err)
	}
	if !strings.Contains(err.Error(), "pki/etcd/ca.crt") {
		t.Errorf("error %q does not name the file", err)
	}
	if got, _ := d.Read("pki/etcd/ca.crt"); string(got) != "first" {
		t.Errorf("Create replaced the file: %q", got)
	}
	assertNoTemp(t, d)
}

// TestCreateModesIgnoreUmask: modes are exact whatever the process umask.
func TestCreateModesIgnoreUmask(t *testing.T) {
	d := openDir(t)
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	if err := d.Create("open.crt", []byte("x"), layout.PublicMode); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateSecret("secret.key", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, d.Path("open.crt")); got != 0o644 {
		t.Errorf("mode %v, want 0644", got)
	}
	if got := mode(t, d.Path("secret.key")); got != 0o600 {
		t.Errorf("secret mode %v, want 0600", got)
	}
	if err := d.WriteBatch([]store.File{{Rel: "batch/open.crt", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, d.Path("batch/open.crt")); got != 0o644 {
		t.Errorf("batch mode %v, want 0644", got)
	}
	if got, err := d.Mode("secret.key"); err != nil || got != 0o600 {
		t.Errorf("Mode = %v, %v", got, err)
	}
}

func TestReplace(t *testing.T) {
	d := openDir(t)
	if err := d.Replace("x/file", []byte("one"), layout.PublicMode); err != nil {
		t.Fatalf("Replace of a missing file: %v", err)
	}
	if err := d.Replace("x/file", []byte("two"), layout.SecretMode); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Read("x/file"); string(got) != "two" {
		t.Errorf("content %q", got)
	}
	if got := mode(t, d.Path("x/file")); got != 0o600 {
		t.Errorf("mode %v, want the new 0600", got)
	}
	assertNoTemp(t, d)
}

// reverseSecrets is an encryption stand-in: what reaches the disk is not
// the plaintext, and reading undoes it.
type reverseSecrets struct{ sealed, opened []string }

func (r *reverseSecrets) Seal(rel string, p []byte) ([]byte, error) {
	r.sealed = append(r.sealed, rel)
	out := slices.Clone(p)
	slices.Reverse(out)
	return append([]byte("SEALED:"), out...), nil
}

func (r *reverseSecrets) Open(rel string, s []byte) ([]byte, error) {
	r.opened = append(r.opened, rel)
	body, ok := bytes.CutPrefix(s, []byte("SEALED:"))
	if !ok {
		return nil, errors.New("not sealed")
	}
	out := slices.Clone(body)
	slices.Reverse(out)
	return out, nil
}

func TestSecretsGoThroughTheInterface(t *testing.T) {
	d := openDir(t)
	sec := &reverseSecrets{}
	d.Secrets = sec
	if err := d.CreateSecret("pki/ca.key", []byte("plaintext")); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateSecret("pki/ca.key", []byte("other")); !errors.Is(err, store.ErrExist) {
		t.Errorf("CreateSecret over a secret: %v, want ErrExist", err)
	}
	raw, _ := d.Read("pki/ca.key")
	if bytes.Contains(raw, []byte("plaintext")) {
		t.Errorf("plaintext on disk: %q", raw)
	}
	got, err := d.ReadSecret("pki/ca.key")
	if err != nil || string(got) != "plaintext" {
		t.Errorf("ReadSecret = %q, %v", got, err)
	}
	if err := d.ReplaceSecret("pki/ca.key", []byte("renewed")); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.ReadSecret("pki/ca.key"); string(got) != "renewed" {
		t.Errorf("after ReplaceSecret: %q", got)
	}
	if err := d.WriteBatch([]store.File{{Rel: "admin.conf", Data: []byte("kubeconfig"), Secret: true}, {Rel: "pki/ca.crt", Data: []byte("cert")}}); err != nil {
		t.Fatal(err)
	}
	if raw, _ := d.Read("admin.conf"); bytes.Contains(raw, []byte("kubeconfig")) {
		t.Error("batch wrote a secret unsealed")
	}
	if raw, _ := d.Read("pki/ca.crt"); string(raw) != "cert" {
		t.Error("batch sealed a public file")
	}
	if got := mode(t, d.Path("admin.conf")); got != 0o600 {
		t.Errorf("batch secret mode %v", got)
	}
	if !slices.Equal(sec.sealed, []string{"pki/ca.key", "pki/ca.key", "pki/ca.key", "admin.conf"}) {
		t.Errorf("sealed %v", sec.sealed)
	}
	// A file the sealer cannot open is an error naming it, not plaintext.
	if err := d.Create("stray.key", []byte("raw"), layout.SecretMode); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadSecret("stray.key"); err == nil || !strings.Contains(err.Error(), "stray.key") {
		t.Errorf("ReadSecret of an unsealed file: %v", err)
	}
	var _ store.Secrets = store.Plain{}
}

// flushModes runs a test with each way a batch flushes: a flush per file
// and folder, and one flush of the whole file system.
func flushModes(t *testing.T, test func(t *testing.T)) {
	saved := store.QuietDirtyBytes
	t.Cleanup(func() { store.QuietDirtyBytes = saved })
	for _, m := range []struct {
		name  string
		bytes int64
	}{{"fsync per file", 0}, {"one syncfs", 1 << 62}} {
		store.QuietDirtyBytes = m.bytes
		t.Run(m.name, test)
	}
}

func TestWriteBatch(t *testing.T) { flushModes(t, testWriteBatch) }

func testWriteBatch(t *testing.T) {
	d := openDir(t)
	batch := []store.File{
		{Rel: "pki/ca.key", Data: []byte("key"), Secret: true, Mode: 0o644}, // secrets are 0600 whatever Mode says
		{Rel: "pki/ca.crt", Data: []byte("cert"), Stage: 1},
		{Rel: "pki/etcd/member-1/server.crt", Data: []byte("leaf"), Stage: 2},
		{Rel: "manifests/etcd.yaml", Data: []byte("pod"), Mode: 0o600, Stage: 2},
	}
	if err := d.WriteBatch(batch); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rel  string
		mode fs.FileMode
		data string
	}{
		{"pki/ca.key", 0o600, "key"},
		{"pki/ca.crt", 0o644, "cert"},
		{"pki/etcd/member-1/server.crt", 0o644, "leaf"},
		{"manifests/etcd.yaml", 0o600, "pod"},
	} {
		if got := mode(t, d.Path(tc.rel)); got != tc.mode {
			t.Errorf("%s mode %v, want %v", tc.rel, got, tc.mode)
		}
		if got, _ := d.Read(tc.rel); string(got) != tc.data {
			t.Errorf("%s = %q", tc.rel, got)
		}
	}
	for _, dir := range []string{"pki", "pki/etcd", "pki/etcd/member-1", "manifests"} {
		if got := mode(t, d.Path(dir)); got != 0o700 {
			t.Errorf("%s mode %v, want 0700", dir, got)
		}
	}
	assertNoTemp(t, d)

	// A batch that would replace a file without Replace fails with
	// ErrExist, keeps the old bytes and leaves no temporary file.
	err := d.WriteBatch([]store.File{{Rel: "pki/ca.crt", Data: []byte("other")}})
	if !errors.Is(err, store.ErrExist) {
		t.Fatalf("WriteBatch over a file: %v, want ErrExist", err)
	}
	if got, _ := d.Read("pki/ca.crt"); string(got) != "cert" {
		t.Errorf("old bytes lost: %q", got)
	}
	assertNoTemp(t, d)
	// With Replace, it replaces.
	if err := d.WriteBatch([]store.File{{Rel: "pki/ca.crt", Data: []byte("renewed"), Replace: true}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Read("pki/ca.crt"); string(got) != "renewed" {
		t.Errorf("Replace in a batch: %q", got)
	}
	assertNoTemp(t, d)
	if err := d.WriteBatch(nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

// TestWriteBatchStages: a stage that fails stops the later stages.
func TestWriteBatchStages(t *testing.T) { flushModes(t, testWriteBatchStages) }

func testWriteBatchStages(t *testing.T) {
	d := openDir(t)
	if err := d.Create("taken", []byte("old"), layout.PublicMode); err != nil {
		t.Fatal(err)
	}
	err := d.WriteBatch([]store.File{
		{Rel: "key", Data: []byte("k"), Secret: true, Stage: 0},
		{Rel: "taken", Data: []byte("new"), Stage: 1},
		{Rel: "leaf", Data: []byte("l"), Stage: 2},
	})
	if !errors.Is(err, store.ErrExist) {
		t.Fatalf("err = %v, want ErrExist", err)
	}
	if ok, _ := d.Exists("leaf"); ok {
		t.Error("a later stage was written after an earlier one failed")
	}
	if got, _ := d.Read("taken"); string(got) != "old" {
		t.Errorf("existing file changed: %q", got)
	}
	assertNoTemp(t, d)
}

// TestBatchDiscard: files added to a batch, written in the background,
// leave nothing in the folder (no file, no folder, no temporary file) when
// the batch is discarded; and a batch streams its files before Commit
// without showing any of them.
func TestBatchDiscard(t *testing.T) {
	flushModes(t, func(t *testing.T) {
		d := openDir(t)
		before, err := d.Walk("")
		if err != nil {
			t.Fatal(err)
		}
		b := d.NewBatch()
		b.Add(store.File{Rel: "pki/ca.key", Data: []byte("key"), Secret: true})
		b.Add(store.File{Rel: "pki/etcd/ca.crt", Data: []byte("cert"), Stage: 1})
		b.Add(store.File{Rel: "bulwark.yaml", Data: []byte("cfg"), Replace: true})
		b.Discard()
		after, err := d.Walk("")
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before) {
			t.Errorf("a discarded batch left %v (before: %v)", after, before)
		}
		if _, err := os.Stat(d.Path("pki")); !os.IsNotExist(err) {
			t.Errorf("a discarded batch made a folder: %v", err)
		}
		assertNoTemp(t, d)

		b = d.NewBatch()
		b.Add(store.File{Rel: "pki/ca.key", Data: []byte("key"), Secret: true})
		if ok, _ := d.Exists("pki/ca.key"); ok {
			t.Error("a file appeared before Commit")
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if got, _ := d.ReadSecret("pki/ca.key"); string(got) != "key" {
			t.Errorf("committed key = %q", got)
		}
	})
}

func TestCleanTempAndWalk(t *testing.T) {
	d := openDir(t)
	if err := d.Create("pki/ca.crt", []byte("c"), layout.PublicMode); err != nil {
		t.Fatal(err)
	}
	// What a killed run leaves: temporary files in several folders.
	for _, p := range []string{".bulwark-tmp-123", "pki/.bulwark-tmp-abc", "pki/etcd/.bulwark-tmp-x"} {
		if err := os.MkdirAll(filepath.Dir(d.Path(p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d.Path(p), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	unlock, err := d.Lock(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	walked, err := d.Walk(".")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(walked, []string{"pki/ca.crt"}) {
		t.Errorf("Walk = %v, want only pki/ca.crt (no temporary files, no lock)", walked)
	}
	if err := d.CleanTemp(); err != nil {
		t.Fatal(err)
	}
	assertNoTemp(t, d)
	if ok, _ := d.Exists("pki/ca.crt"); !ok {
		t.Error("CleanTemp removed a real file")
	}
	if got, err := d.Walk("no/such/folder"); err != nil || len(got) != 0 {
		t.Errorf("Walk of a missing folder = %v, %v", got, err)
	}
}

func TestRemoveExistsRead(t *testing.T) {
	d := openDir(t)
	if err := d.Create("a", []byte("x"), layout.PublicMode); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Exists("a"); !ok || err != nil {
		t.Errorf("Exists = %v, %v", ok, err)
	}
	if err := d.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.Exists("a"); ok {
		t.Error("file still there")
	}
	if err := d.Remove("a"); err != nil {
		t.Errorf("Remove of a missing file: %v", err)
	}
	if _, err := d.Read("a"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing file: %v, want ErrNotExist", err)
	}
	big := make([]byte, 4<<20+1)
	if err := os.WriteFile(d.Path("big"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read("big"); err == nil {
		t.Error("Read of a file over the cap succeeded")
	}
}

func TestReadInput(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := store.ReadInput(p, 10); err != nil || string(got) != "0123456789" {
		t.Errorf("ReadInput at the cap = %q, %v", got, err)
	}
	_, err := store.ReadInput(p, 9)
	if err == nil || !strings.Contains(err.Error(), "larger than 9 bytes") {
		t.Errorf("ReadInput over the cap: %v", err)
	}
	_, err = store.ReadInput(filepath.Join(dir, "missing.yaml"), 10)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || strings.Count(err.Error(), "missing.yaml") != 1 {
		t.Errorf("ReadInput of a missing file: %v (want the path named once)", err)
	}
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.yaml", "a.yaml", "c.json", "d.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := store.List(dir, ".yaml", ".json")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "c.json")}
	if !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	if got, err := store.List(filepath.Join(dir, "missing"), ".yaml"); err != nil || got != nil {
		t.Errorf("List of a missing folder = %v, %v", got, err)
	}
}

func TestLock(t *testing.T) {
	d := openDir(t)
	unlock, err := d.Lock(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The lock is the folder's own: no lock file is made.
	if got := files(t, d); len(got) != 0 {
		t.Errorf("Lock made files: %v", got)
	}
	// flock locks belong to an open file: a second Lock conflicts even in
	// the same process.
	start := time.Now()
	_, err = d.Lock(100 * time.Millisecond)
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Lock: %v, want ErrLocked", err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond || waited > 5*time.Second {
		t.Errorf("second Lock gave up after %s, want about 100ms", waited)
	}
	// A waiting locker gets the lock once it is released: unlock once it
	// has found the lock taken and is waiting to try again.
	waiting := make(chan struct{})
	var once sync.Once
	defer store.SetLockPause(func(d time.Duration) {
		once.Do(func() { close(waiting) })
		time.Sleep(d)
	})()
	got := make(chan error, 1)
	go func() {
		u, err := d.Lock(5 * time.Second)
		if err == nil {
			u()
		}
		got <- err
	}()
	<-waiting
	unlock()
	if err := <-got; err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	again, err := d.Lock(0)
	if err != nil {
		t.Fatalf("Lock(0) on a free folder: %v", err)
	}
	again()

	missing, _ := store.Open(filepath.Join(t.TempDir(), "missing"))
	if _, err := missing.Lock(0); err == nil || errors.Is(err, store.ErrLocked) {
		t.Errorf("Lock in a missing folder: %v", err)
	}
}

// TestLockAcrossProcesses: another process holding the lock excludes
// this one, and its death releases the lock.
func TestLockAcrossProcesses(t *testing.T) {
	if os.Getenv("BULWARK_LOCK_HELPER") != "" {
		return // the helper is TestLockHelperProcess
	}
	d := openDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), "BULWARK_LOCK_HELPER="+d.Root())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	if _, err := d.Lock(50 * time.Millisecond); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("Lock while another process holds it: %v, want ErrLocked", err)
	}
	// Killed mid-run: the kernel drops its lock.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	unlock, err := d.Lock(5 * time.Second)
	if err != nil {
		t.Fatalf("Lock after the holder died: %v", err)
	}
	unlock()
}

// TestLockHelperProcess holds a folder's lock until its stdin closes. It
// runs only as TestLockAcrossProcesses' child.
func TestLockHelperProcess(t *testing.T) {
	root := os.Getenv("BULWARK_LOCK_HELPER")
	if root == "" {
		t.Skip("helper process for TestLockAcrossProcesses")
	}
	d, err := store.Open(root)
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	unlock, err := d.Lock(time.Second)
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	defer unlock()
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}
