package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

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
	// Stage orders the batch: every file of a stage is durable in place
	// before any file of a later stage appears.
	Stage int
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
// Commit then, stage by stage, links
// (or, with Replace, renames) the files into place and flushes their
// folders. After a crash each file is absent (or, with Replace, its old
// self) or complete, and no file of a stage is there unless every file of
// the stages before it is. Until Commit nothing appears in the folder: a
// batch that is discarded leaves it as it was.
//
// Add writes a new file's content at once, in the background, so that
// the disk works while the caller computes the next file.
type Batch struct {
	d    *Dir
	sem  chan struct{} // bounds the writers
	wg   sync.WaitGroup
	mu   sync.Mutex
	all  []*staged
	errs []error
	// whole: flush the whole file system once (syncfs) instead of
	// every file on its own. It is chosen when the machine has little
	// dirty data, so that the one flush has little else to write.
	whole bool
}

// QuietDirtyBytes is the most dirty page cache (the machine's, from
// /proc/meminfo) at which a batch flushes the whole file system rather
// than each file: below it, one syncfs costs less than a flush per file
// and waits for little that is not the batch's own.
var QuietDirtyBytes int64 = 32 << 20

// quiet reports whether the machine's dirty page cache is under
// QuietDirtyBytes. Unreadable means no.
func quiet() bool {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "Dirty:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return err == nil && len(f) == 2 && f[1] == "kB" && kb*1024 < QuietDirtyBytes
		}
	}
	return false
}

// testFlush, from BULWARK_TEST_FLUSH ("file" or "whole"), fixes how every
// batch flushes whatever the dirty page cache: the crash tests use it to
// kill real runs in each mode. Unset (or anything else), quiet decides.
var testFlush = os.Getenv("BULWARK_TEST_FLUSH")

// flushWhole reports whether a new batch flushes the whole file system.
func flushWhole() bool {
	switch testFlush {
	case "file":
		return false
	case "whole":
		return true
	}
	return quiet()
}

type staged struct {
	File
	tmp   string   // a named temporary file beside final, or
	anon  *os.File // an unnamed one (O_TMPFILE) in the root, linked in by descriptor
	final string
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
	it := &staged{File: f, final: b.d.Path(f.Rel)}
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

// early seals a file and, if it is new, writes and flushes its content to
// an unnamed file in the root: its own folder may not exist yet, and an
// unnamed file can be linked anywhere on the same file system.
func (b *Batch) early(it *staged) error {
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
	fd, err := unix.Open(b.d.root, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(it.Mode))
	if err != nil {
		return nil // no unnamed files here: Commit writes a named one
	}
	it.anon = os.NewFile(uintptr(fd), it.final)
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

// writeNamed writes a file's content to a named temporary file beside it.
func (b *Batch) writeNamed(it *staged) error {
	f, err := os.CreateTemp(filepath.Dir(it.final), tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", it.Rel, unwrapPath(err))
	}
	it.tmp = f.Name()
	err = fill(f, it, !b.whole)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("failed to write %s: %w", it.Rel, unwrapPath(cerr))
	}
	return err
}

// syncfs flushes every file system that holds a folder of the batch
// (usually one: the folder's).
func (b *Batch) syncfs() error {
	dirs := map[string]bool{b.d.root: true}
	for _, it := range b.all {
		dirs[filepath.Dir(it.final)] = true
	}
	seen := map[uint64]bool{}
	for dir := range dirs {
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			return fmt.Errorf("failed to sync %s: %w", dir, err)
		}
		if seen[st.Dev] {
			continue
		}
		seen[st.Dev] = true
		f, err := os.Open(dir)
		if err != nil {
			return fmt.Errorf("failed to sync %s: %w", dir, unwrapPath(err))
		}
		err = unix.Syncfs(int(f.Fd()))
		f.Close()
		if err != nil {
			return fmt.Errorf("failed to sync %s: %w", dir, err)
		}
	}
	return nil
}

// Discard drops the batch: nothing of it appears in the folder.
func (b *Batch) Discard() {
	b.wg.Wait()
	b.cleanup()
}

func (b *Batch) cleanup() {
	for _, it := range b.all {
		if it.tmp != "" {
			os.Remove(it.tmp)
		}
		if it.anon != nil {
			it.anon.Close()
		}
	}
}

// Commit puts every file of the batch in place, durably, stage by stage.
func (b *Batch) Commit() error {
	b.wg.Wait()
	defer b.cleanup()
	if err := errors.Join(b.errs...); err != nil {
		return err
	}
	items := b.all
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].Stage != items[j].Stage {
			return items[i].Stage < items[j].Stage
		}
		return items[i].Rel < items[j].Rel
	})
	created := map[string]bool{}
	for _, it := range items {
		if err := makeDirs(filepath.Dir(it.final), created); err != nil {
			return err
		}
	}
	// The new folders' own entries are flushed while the last files are
	// written; they must be durable before any file is linked into them.
	parentsSynced := make(chan error, 1)
	if b.whole {
		parentsSynced <- nil // the syncfs below
	} else {
		go func() { parentsSynced <- syncParents(created) }()
	}
	var named []*staged
	for _, it := range items {
		if it.anon == nil {
			named = append(named, it)
		}
	}
	err := parallel(len(named), func(i int) error { return b.writeNamed(named[i]) })
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
			var err error
			switch {
			case it.anon != nil:
				err = unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", it.anon.Fd()), unix.AT_FDCWD, it.final, unix.AT_SYMLINK_FOLLOW)
				if errors.Is(err, unix.EXDEV) { // its folder is another file system
					if err = b.writeNamed(it); err == nil && b.whole {
						err = b.syncfs()
					}
					if err == nil {
						err = os.Link(it.tmp, it.final)
					}
				}
			case it.Replace:
				err = os.Rename(it.tmp, it.final)
			default:
				err = os.Link(it.tmp, it.final)
			}
			if err != nil {
				if errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("%s: %w", it.Rel, ErrExist)
				}
				return fmt.Errorf("failed to write %s: %w", it.Rel, unwrapPath(err))
			}
			dirs[filepath.Dir(it.final)] = true
			linked++
			if linked == killAfterLinks {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
		if b.whole {
			if err := b.syncfs(); err != nil {
				return err
			}
		} else {
			list := make([]string, 0, len(dirs))
			for dir := range dirs {
				list = append(list, dir)
			}
			if err := parallel(len(list), func(i int) error { return syncDir(list[i]) }); err != nil {
				return err
			}
		}
		start = end
	}
	return nil
}

// killAfterLinks, from BULWARK_TEST_KILL_AFTER_LINKS, makes a batch kill
// its own process after that many files are in place: the crash tests use
// it to stop a real run at every point of its write phase. Unset, it is 0
// and never matches.
var killAfterLinks, _ = strconv.Atoi(os.Getenv("BULWARK_TEST_KILL_AFTER_LINKS"))

// parallel runs f for 0..n-1 on a few workers and returns the first error.
// File system calls block on the disk, not the CPU, so more workers than
// cores keep it busy.
func parallel(n int, f func(i int) error) error { return par.Do(n, batchWriters, f) }
