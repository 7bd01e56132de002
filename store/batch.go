package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	par "github.com/bulwark-k8s/bulwark/internal/parallel"
	"github.com/bulwark-k8s/bulwark/layout"
)

// File is one file of a batch.
type File struct {
	Rel  string
	Data []byte
	// Mode of a file that is not a secret (secrets are always 0600).
	// Zero: the mode of its kind in the layout table.
	Mode fs.FileMode
	// Secret seals the file through the folder's Secrets. A file whose
	// kind the layout table marks secret is sealed whatever this says.
	Secret bool
	// Replace an existing file; otherwise the write fails if one exists.
	Replace bool
	// Remove the file (Data is ignored); a missing file is not an error.
	Remove bool
	// Stage orders the batch: every file of a stage is durable in place
	// before any file of a later stage appears.
	Stage int
	// Link makes the file a hard link to this file of the folder (in place
	// before the batch, or written by it in the same or an earlier stage:
	// a stage's links are made after its other files): another name for
	// the same inode, with no content of its own. Data, Mode and Secret
	// are unused.
	Link string
}

// WriteBatch writes files atomically and durably with few flushes: it is
// a Batch of files, committed at once.
func (d *Dir) WriteBatch(files []File) error {
	b := d.NewBatch()
	for _, f := range files {
		b.Add(f)
	}
	return b.Commit()
}

// Batch writes files atomically and durably with few flushes. Every file's
// content goes to a temporary file (an unnamed one where the file system
// allows) and is made durable before it is linked: each file flushed on
// its own, side by side so that the journal commits them together, or, on
// a quiet machine, the whole file system flushed once (QuietDirtyBytes).
// Commit then, stage by stage, links (or, with Replace, renames) the
// files into place and flushes their folders. After a crash each file is
// absent (or, with Replace, its old self) or complete, and no file of a
// stage is there unless every file of the stages before it is.
//
// Until Commit nothing appears in the folder: a batch that is discarded
// leaves it as it was. A Commit that fails part-way (a full disk, a
// folder it may not write, a file that appeared meanwhile) undoes what it
// did: files it linked are removed, files it replaced or removed are put
// back, folders it made are removed, modes it changed are restored. Only
// this batch's own temporary files are touched.
//
// Add writes a new file's content at once, in the background, so that
// the disk works while the caller computes the next file.
type Batch struct {
	d      *Dir
	sem    chan struct{} // bounds the writers
	wg     sync.WaitGroup
	mu     sync.Mutex
	all    []*staged
	chmods []chmod
	errs   []error
	// whole: flush the whole file system once (syncfs) instead of
	// every file on its own. It is chosen when the machine has little
	// dirty data, so that the one flush has little else to write.
	whole bool

	// During Commit: open folders by path, and how to undo each step.
	dirs    map[string]int
	undo    []func() error
	kept    []func() // after a successful commit: drop the old contents kept for undo
	closers []func()
	// inodes counts the folder's names of each inode (dev, ino), made
	// when a mode is changed on a file with several links.
	inodes map[[2]uint64]int
}

// QuietDirtyBytes is the most dirty page cache (the machine's, from
// /proc/meminfo on Linux) at which a batch flushes the whole file system
// rather than each file: below it, one syncfs costs less than a flush per
// file and waits for little that is not the batch's own.
var QuietDirtyBytes int64 = 32 << 20

// flushWhole reports whether a new batch flushes the whole file system.
func flushWhole() bool {
	switch testFlush {
	case "file":
		return false
	case "whole":
		return canSyncfs
	}
	return canSyncfs && quiet()
}

type staged struct {
	File
	dir  string   // the folder, relative to the root ("" for the root)
	base string   // the file's name in it
	tmp  string   // a named temporary file in dir, or
	anon *os.File // an unnamed one (O_TMPFILE) in the root, linked in by descriptor
}

type chmod struct {
	rel  string
	dir  bool
	mode fs.FileMode
}

// batchWriters is how many files a batch writes at once. File system
// calls block on the disk, not the CPU, so more writers than cores keep it
// busy.
const batchWriters = 8

// NewBatch starts an empty batch.
func (d *Dir) NewBatch() *Batch {
	return &Batch{d: d, sem: make(chan struct{}, batchWriters), whole: flushWhole()}
}

// Add puts a file in the batch. It returns at once; errors are Commit's.
func (b *Batch) Add(f File) {
	dir, base := path.Split(f.Rel)
	it := &staged{File: f, dir: strings.TrimSuffix(dir, "/"), base: base}
	b.mu.Lock()
	b.all = append(b.all, it)
	b.mu.Unlock()
	b.wg.Go(func() {
		b.sem <- struct{}{}
		defer func() { <-b.sem }()
		if err := b.early(it); err != nil {
			b.mu.Lock()
			b.errs = append(b.errs, err)
			b.mu.Unlock()
		}
	})
}

// Chmod sets the permission bits of an existing file or folder (rel "."
// for the root) when the batch commits, after its files are in place.
func (b *Batch) Chmod(rel string, dir bool, mode fs.FileMode) {
	b.mu.Lock()
	b.chmods = append(b.chmods, chmod{rel: rel, dir: dir, mode: mode.Perm()})
	b.mu.Unlock()
}

// early seals a file and, if it is new, writes and flushes its content to
// an unnamed file in the root: its own folder may not exist yet, and an
// unnamed file can be linked anywhere on the same file system.
func (b *Batch) early(it *staged) error {
	if err := checkRel(it.Rel); err != nil {
		return err
	}
	if it.Link != "" {
		return checkRel(it.Link)
	}
	if it.Remove {
		return nil
	}
	kind := layout.Classify(it.Rel)
	if it.Secret || kind.Secret() {
		sealed, err := b.d.Secrets.Seal(it.Rel, it.Data)
		if err != nil {
			return fmt.Errorf("failed to seal %s: %w", it.Rel, err)
		}
		it.Data, it.Mode = sealed, layout.SecretMode
	} else if it.Mode == 0 {
		it.Mode = kind.Mode()
	}
	if it.Replace {
		return nil
	}
	root, err := b.d.fd()
	if err != nil {
		return err
	}
	f := openAnon(root, it.Mode)
	if f == nil {
		return nil // no unnamed files here: Commit writes a named one
	}
	it.anon = f
	return fill(it.anon, it, !b.whole)
}

// fill writes a file's content and mode and, with flush, flushes it.
func fill(f *os.File, it *staged, flush bool) error {
	err := f.Chmod(it.Mode)
	if err == nil {
		_, err = f.Write(it.Data)
	}
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", it.Rel, unwrapPath(err))
	}
	if !flush {
		return nil
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("failed to sync %s: %w", it.Rel, unwrapPath(err))
	}
	return nil
}

// tempName is a fresh name for a temporary file.
func tempName() string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return tmpPrefix + hex.EncodeToString(r[:])
}

// writeNamed writes a file's content to a named temporary file beside it.
func (b *Batch) writeNamed(it *staged) error {
	dfd, err := b.dir(it.dir)
	if err != nil {
		return err
	}
	name := tempName()
	fd, err := unix.Openat(dfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(it.Mode))
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", it.Rel, err)
	}
	b.mu.Lock()
	it.tmp = name
	b.mu.Unlock()
	f := os.NewFile(uintptr(fd), it.Rel)
	err = fill(f, it, !b.whole)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("failed to write %s: %w", it.Rel, unwrapPath(cerr))
	}
	return err
}

// dir opens (once per batch) a folder of the root, which must exist.
func (b *Batch) dir(rel string) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if fd, ok := b.dirs[rel]; ok {
		return fd, nil
	}
	root, err := b.d.fd()
	if err != nil {
		return -1, err
	}
	if rel == "" {
		return root, nil
	}
	fd, err := openBeneath(root, rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, pathErr(rel, err)
	}
	if b.dirs == nil {
		b.dirs = map[string]int{}
	}
	b.dirs[rel] = fd
	return fd, nil
}

// mkdirs makes the missing folders of rel, 0700, each recorded for undo,
// and returns the folders whose entries changed (to be flushed).
func (b *Batch) mkdirs(rel string, changed map[string]bool) error {
	if rel == "" {
		return nil
	}
	parts := strings.Split(rel, "/")
	for i := range parts {
		parent, sub := strings.Join(parts[:i], "/"), strings.Join(parts[:i+1], "/")
		pfd, err := b.dir(parent)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		err = unix.Fstatat(pfd, parts[i], &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
			continue
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
			return &UnsafeError{Rel: sub, Reason: symlinkReason}
		case err == nil:
			return &UnsafeError{Rel: sub, Reason: "is " + fileKind(uint32(st.Mode)) + ", not a folder"}
		case !errors.Is(err, unix.ENOENT):
			return &fs.PathError{Op: "stat", Path: sub, Err: err}
		}
		if err := unix.Mkdirat(pfd, parts[i], uint32(layout.DirMode)); err != nil {
			return fmt.Errorf("failed to create %s: %w", sub, err)
		}
		name := parts[i]
		b.undo = append(b.undo, func() error { return unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR) })
		changed[parent] = true
		fd, err := b.dir(sub)
		if err != nil {
			return err
		}
		// The mode exactly, whatever the umask.
		if err := unix.Fchmod(fd, uint32(layout.DirMode)); err != nil {
			return fmt.Errorf("failed to create %s: %w", sub, err)
		}
	}
	return nil
}

// Discard drops the batch: nothing of it appears in the folder.
func (b *Batch) Discard() {
	b.wg.Wait()
	b.cleanup()
}

// cleanup removes this batch's own temporary files and closes what it
// opened.
func (b *Batch) cleanup() {
	for _, it := range b.all {
		if it.tmp != "" {
			if dfd, err := b.dir(it.dir); err == nil {
				_ = unix.Unlinkat(dfd, it.tmp, 0)
			}
			it.tmp = ""
		}
		if it.anon != nil {
			it.anon.Close()
			it.anon = nil
		}
	}
	for _, c := range b.closers {
		c()
	}
	b.closers = nil
	b.mu.Lock()
	for _, fd := range b.dirs {
		unix.Close(fd)
	}
	b.dirs = nil
	b.mu.Unlock()
}

// Commit puts every file of the batch in place, durably, stage by stage;
// if any step fails, it undoes the steps before it and returns the error.
func (b *Batch) Commit() (err error) {
	b.wg.Wait()
	defer b.cleanup()
	if err := errors.Join(b.errs...); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			b.rollback()
		}
	}()
	items := b.all
	// Within a stage, links come after the other files: a link may name a
	// file of its own stage.
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].Stage != items[j].Stage {
			return items[i].Stage < items[j].Stage
		}
		if li, lj := items[i].Link != "", items[j].Link != ""; li != lj {
			return lj
		}
		return items[i].Rel < items[j].Rel
	})
	changed := map[string]bool{}
	for _, it := range items {
		if !it.Remove {
			if err := b.mkdirs(it.dir, changed); err != nil {
				return err
			}
		}
	}
	// The new folders' own entries are flushed while the last files are
	// written; they must be durable before any file is linked into them.
	parentsSynced := make(chan error, 1)
	if b.whole {
		parentsSynced <- nil // the syncfs below
	} else {
		go func() { parentsSynced <- b.syncDirs(changed) }()
	}
	var named []*staged
	for _, it := range items {
		if it.anon == nil && !it.Remove && it.Link == "" {
			named = append(named, it)
		}
	}
	err = parallel(len(named), func(i int) error { return b.writeNamed(named[i]) })
	if perr := <-parentsSynced; err == nil {
		err = perr
	}
	if err == nil && b.whole {
		err = b.syncfs()
	}
	if err != nil {
		return err
	}
	linked := 0
	for start := 0; start < len(items); {
		end := start
		for end < len(items) && items[end].Stage == items[start].Stage {
			end++
		}
		dirs := map[string]bool{}
		for _, it := range items[start:end] {
			if err := b.place(it); err != nil {
				return err
			}
			dirs[it.dir] = true
			linked++
			if linked == killAfterLinks {
				killSelf()
			}
			if err := failHook(linked, it.Rel); err != nil {
				return err
			}
		}
		if b.whole {
			if err := b.syncfs(); err != nil {
				return err
			}
		} else if err := b.syncDirs(dirs); err != nil {
			return err
		}
		start = end
	}
	for _, c := range b.chmods {
		if slices.ContainsFunc(items, func(it *staged) bool { return it.Rel == c.rel }) {
			continue // written anew, with its own mode, or removed
		}
		if err := b.chmod(c); err != nil {
			return err
		}
		linked++
		if err := failHook(linked, c.rel); err != nil {
			return err
		}
	}
	// In place and durable: the old contents kept for undo can go.
	for _, drop := range b.kept {
		drop()
	}
	return nil
}

// place links, renames or removes one file, recording how to undo it.
func (b *Batch) place(it *staged) error {
	dfd, err := b.dir(it.dir)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	exists := false
	switch err := unix.Fstatat(dfd, it.base, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil:
		exists = true
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return &UnsafeError{Rel: it.Rel, Reason: symlinkReason}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return &UnsafeError{Rel: it.Rel, Reason: "is " + fileKind(uint32(st.Mode)) + ", not a regular file"}
		}
	case !errors.Is(err, unix.ENOENT):
		return &fs.PathError{Op: "stat", Path: it.Rel, Err: err}
	}
	// aside moves the existing file to a temporary name, to be put back
	// on undo or removed once the batch has committed.
	aside := func() error {
		keep := tempName()
		if err := unix.Renameat(dfd, it.base, dfd, keep); err != nil {
			return fmt.Errorf("failed to replace %s: %w", it.Rel, err)
		}
		base := it.base
		b.undo = append(b.undo, func() error { return unix.Renameat(dfd, keep, dfd, base) })
		b.kept = append(b.kept, func() { _ = unix.Unlinkat(dfd, keep, 0) })
		return nil
	}
	switch {
	case it.Link != "":
		return b.placeLink(it, dfd, exists, aside)
	case it.Remove:
		if !exists {
			return nil
		}
		return aside()
	case it.Replace:
		if exists {
			if err := aside(); err != nil {
				return err
			}
		}
		if err := unix.Renameat(dfd, it.tmp, dfd, it.base); err != nil {
			return fmt.Errorf("failed to write %s: %w", it.Rel, err)
		}
		it.tmp = ""
	default:
		if exists {
			return fmt.Errorf("%s: %w", it.Rel, ErrExist)
		}
		var err error
		if it.anon != nil {
			err = linkAnon(it.anon, dfd, it.base)
			if errors.Is(err, unix.EXDEV) { // its folder is another file system
				if err = b.writeNamed(it); err == nil && b.whole {
					err = b.syncfs()
				}
				if err == nil {
					err = unix.Linkat(dfd, it.tmp, dfd, it.base, 0)
				}
			}
		} else {
			err = unix.Linkat(dfd, it.tmp, dfd, it.base, 0)
		}
		if err != nil {
			if errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("%s: %w", it.Rel, ErrExist)
			}
			return fmt.Errorf("failed to write %s: %w", it.Rel, err)
		}
	}
	base := it.base
	b.undo = append(b.undo, func() error { return unix.Unlinkat(dfd, base, 0) })
	return nil
}

// placeLink makes a file another name for a regular file of the folder
// (never through a symbolic link), putting an existing file aside first
// with Replace, and records how to undo it.
func (b *Batch) placeLink(it *staged, dfd int, exists bool, aside func() error) error {
	sdir, sbase := path.Split(it.Link)
	sfd, err := b.dir(strings.TrimSuffix(sdir, "/"))
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(sfd, sbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "stat", Path: it.Link, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return &UnsafeError{Rel: it.Link, Reason: "is " + fileKind(uint32(st.Mode)) + ", not a regular file"}
	}
	if exists {
		if !it.Replace {
			return fmt.Errorf("%s: %w", it.Rel, ErrExist)
		}
		if err := aside(); err != nil {
			return err
		}
	}
	// linkat without AT_SYMLINK_FOLLOW links the entry itself.
	if err := unix.Linkat(sfd, sbase, dfd, it.base, 0); err != nil {
		return fmt.Errorf("failed to link %s to %s: %w", it.Rel, it.Link, err)
	}
	base := it.base
	b.undo = append(b.undo, func() error { return unix.Unlinkat(dfd, base, 0) })
	return nil
}

// chmod sets a mode by descriptor (never through a symbolic link),
// recording the old one for undo.
func (b *Batch) chmod(c chmod) error {
	root, err := b.d.fd()
	if err != nil {
		return err
	}
	fd := root
	if c.rel != "." {
		flags := unix.O_RDONLY | unix.O_NONBLOCK
		if c.dir {
			flags |= unix.O_DIRECTORY
		}
		if c.dir {
			fd, err = openBeneath(root, c.rel, flags, 0)
		} else {
			var f *os.File
			if f, err = openRegular(root, c.rel); err == nil {
				fd, err = unix.Dup(int(f.Fd()))
				f.Close()
			}
		}
		if err != nil {
			return pathErr(c.rel, err)
		}
	} else if fd, err = unix.Dup(root); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return &fs.PathError{Op: "stat", Path: c.rel, Err: err}
	}
	if !c.dir && st.Nlink > 1 {
		inside, err := b.linksInside(uint64(st.Dev), uint64(st.Ino))
		if err != nil {
			unix.Close(fd)
			return err
		}
		if uint64(st.Nlink) > uint64(inside) {
			unix.Close(fd)
			return &OutsideLinkError{Rel: c.rel, Links: uint64(st.Nlink), Inside: inside}
		}
	}
	old := uint32(st.Mode) & 0o7777
	if err := unix.Fchmod(fd, uint32(c.mode)); err != nil {
		unix.Close(fd)
		return &fs.PathError{Op: "chmod", Path: c.rel, Err: err}
	}
	b.undo = append(b.undo, func() error { return unix.Fchmod(fd, old) })
	b.closers = append(b.closers, func() { unix.Close(fd) })
	return nil
}

// OutsideLinkError: a file whose mode a batch would change has hard links
// outside the folder. A mode belongs to the inode, so changing it would
// change a file elsewhere too: the batch refuses instead (the folder's
// own links, a static Pod's under mounts/, are counted as inside).
type OutsideLinkError struct {
	Rel    string
	Links  uint64 // the inode's link count
	Inside int    // its names in the folder
}

func (e *OutsideLinkError) Error() string {
	return fmt.Sprintf("%s has %d hard links, %d of them outside the folder: not changing its mode (it would change the other file too); replace it with a copy (cp %s x && mv x %s), then run again",
		e.Rel, e.Links, e.Links-uint64(e.Inside), e.Rel, e.Rel)
}

// linksInside counts the names of an inode in the folder (symbolic links
// are not followed; the folder's scan refuses them anyway).
func (b *Batch) linksInside(dev, ino uint64) (int, error) {
	if b.inodes == nil {
		b.inodes = map[[2]uint64]int{}
		err := filepath.WalkDir(b.d.Root(), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.Type().IsRegular() {
				return nil
			}
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				return err
			}
			b.inodes[[2]uint64{uint64(st.Dev), uint64(st.Ino)}]++
			return nil
		})
		if err != nil {
			b.inodes = nil
			return 0, err
		}
	}
	return b.inodes[[2]uint64{dev, ino}], nil
}

// rollback undoes the steps of a failed Commit, newest first, and makes
// the undo durable.
func (b *Batch) rollback() {
	for i := len(b.undo) - 1; i >= 0; i-- {
		_ = b.undo[i]()
	}
	b.undo, b.kept = nil, nil
	all := map[string]bool{"": true}
	for rel := range b.dirs {
		all[rel] = true
		all[path.Dir(rel)] = true
	}
	delete(all, ".")
	_ = b.syncDirs(all)
}

// syncDirs flushes folders (their entries) in parallel; folders that are
// gone are skipped.
func (b *Batch) syncDirs(dirs map[string]bool) error {
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	return parallel(len(list), func(i int) error {
		fd, err := b.dir(list[i])
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := unix.Fsync(fd); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("failed to sync %s: %w", displayRel(list[i]), err)
		}
		return nil
	})
}

// syncfs flushes every file system that holds a folder of the batch
// (usually one: the root's).
func (b *Batch) syncfs() error {
	dirs := map[string]bool{"": true}
	for _, it := range b.all {
		dirs[it.dir] = true
	}
	seen := map[uint64]bool{}
	for rel := range dirs {
		fd, err := b.dir(rel)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fmt.Errorf("failed to sync %s: %w", displayRel(rel), err)
		}
		if seen[uint64(st.Dev)] {
			continue
		}
		seen[uint64(st.Dev)] = true
		if err := syncFS(fd); err != nil {
			return fmt.Errorf("failed to sync %s: %w", displayRel(rel), err)
		}
	}
	return nil
}

// parallel runs f for 0..n-1 on a few workers and returns the first error.
// File system calls block on the disk, not the CPU, so more workers than
// cores keep it busy.
func parallel(n int, f func(i int) error) error { return par.Do(n, batchWriters, f) }
