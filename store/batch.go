package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	par "github.com/bulwark-k8s/bulwark/internal/parallel"
)

// File is one file of a batch.
type File struct {
	Rel  string
	Data []byte
	// Mode of a file that is not a secret (secrets are always 0600).
	Mode   fs.FileMode
	Secret bool
	// Replace an existing file; otherwise the write fails if one exists.
	Replace bool
	// Stage orders the batch: every file of a stage is durable in place
	// before any file of a later stage appears.
	Stage int
}

// WriteBatch writes files atomically and durably with few flushes. Every
// file's content goes to a temporary file beside it (an unnamed one where
// the file system allows), all of them are flushed to disk together, and
// then, stage by stage, they are linked (or,
// with Replace, renamed) into place and their folders flushed. After a
// crash each file is absent (or, with Replace, its old self) or complete,
// and no file of a stage is there unless every file of the stages before it
// is.
func (d *Dir) WriteBatch(files []File) error {
	if len(files) == 0 {
		return nil
	}
	type staged struct {
		File
		tmp   string   // named temporary file, or
		anon  *os.File // an unnamed one (O_TMPFILE), linked in by descriptor
		final string
	}
	items := make([]*staged, len(files))
	created := map[string]bool{}
	for i, f := range files {
		if f.Secret {
			sealed, err := d.Secrets.Seal(f.Rel, f.Data)
			if err != nil {
				return fmt.Errorf("failed to seal %s: %w", f.Rel, err)
			}
			f.Data, f.Mode = sealed, SecretMode
		} else if f.Mode == 0 {
			f.Mode = PublicMode
		}
		items[i] = &staged{File: f, final: d.Path(f.Rel)}
		if err := makeDirs(filepath.Dir(items[i].final), created); err != nil {
			return err
		}
	}
	// The new folders' own entries are flushed while the files are
	// written; they must be durable before any file is linked into them.
	parentsSynced := make(chan error, 1)
	go func() { parentsSynced <- syncParents(created) }()
	defer func() {
		for _, it := range items {
			if it.tmp != "" {
				os.Remove(it.tmp)
			}
			if it.anon != nil {
				it.anon.Close()
			}
		}
	}()
	err := parallel(len(items), func(i int) error {
		it := items[i]
		dir := filepath.Dir(it.final)
		var (
			f   *os.File
			err error
		)
		// A new file starts as an unnamed inode: one directory operation
		// (the link) instead of three (create, link, unlink).
		if !it.Replace {
			if fd, terr := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(it.Mode)); terr == nil {
				f = os.NewFile(uintptr(fd), it.final)
				it.anon = f
			}
		}
		if f == nil {
			if f, err = os.CreateTemp(dir, tmpPrefix+"*"); err != nil {
				return fmt.Errorf("failed to write %s: %w", it.Rel, unwrapPath(err))
			}
			it.tmp = f.Name()
		}
		if err = f.Chmod(it.Mode); err == nil {
			_, err = f.Write(it.Data)
		}
		if err != nil {
			if it.anon == nil {
				f.Close()
			}
			return fmt.Errorf("failed to write %s: %w", it.Rel, unwrapPath(err))
		}
		// Each file is flushed as soon as it is written, on many workers
		// at once, so that the journal commits them together. (syncfs
		// would be one call, but it also waits for every other process's
		// dirty data on the file system.)
		err = f.Sync()
		if it.anon == nil {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("failed to sync %s: %w", it.Rel, unwrapPath(err))
		}
		return nil
	})
	if perr := <-parentsSynced; err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	stages := map[int][]*staged{}
	var order []int
	for _, it := range items {
		if _, ok := stages[it.Stage]; !ok {
			order = append(order, it.Stage)
		}
		stages[it.Stage] = append(stages[it.Stage], it)
	}
	sort.Ints(order)
	linked := 0
	for _, st := range order {
		dirs := map[string]bool{}
		for _, it := range stages[st] {
			var err error
			switch {
			case it.anon != nil:
				err = unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", it.anon.Fd()), unix.AT_FDCWD, it.final, unix.AT_SYMLINK_FOLLOW)
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
		list := make([]string, 0, len(dirs))
		for dir := range dirs {
			list = append(list, dir)
		}
		if err := parallel(len(list), func(i int) error { return syncDir(list[i]) }); err != nil {
			return err
		}
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
func parallel(n int, f func(i int) error) error { return par.Do(n, 8, f) }
