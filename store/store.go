// Package store writes and reads a cluster folder: every write of a
// command goes through it (readers such as audit also read node files of
// their own). Every write is atomic (a temporary file in the same folder,
// fsync, then link or rename into place, then fsync of the folder),
// creation never replaces an existing file, and a batch that fails
// part-way is rolled back: the folder is left as it was. Secrets (private
// keys, kubeconfigs, token Secrets) go through one interface so that
// encryption at rest can sit behind it.
//
// Nothing in a cluster folder is reached through a symbolic link, in any
// position: paths are resolved beneath the folder's root with no-follow
// semantics (openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS on Linux, a
// component-by-component O_NOFOLLOW walk elsewhere), and a symbolic link
// in the way is an *UnsafeError. Named pipes, sockets and devices are
// refused before they are opened, so nothing blocks. The folder's root
// itself may be reached through symbolic links: it is the path the user
// named.
package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark-k8s/bulwark/layout"
)

// ErrExist is returned by Create when the file is already there.
var ErrExist = fs.ErrExist

// ErrEmptyDir is returned by Open for an empty folder name: it would mean
// the current directory, which is never what was meant.
var ErrEmptyDir = errors.New("the cluster folder's name is empty")

// maxFileSize caps reads: nothing bulwark keeps is larger than a kubeconfig.
const maxFileSize = 4 << 20

// tmpPrefix marks temporary files (new contents before they are linked
// into place, and old contents kept until a batch has committed); a run
// killed mid-write leaves only these, and the next locked run removes them.
const tmpPrefix = ".bulwark-tmp-"

// Secrets seals files that hold secrets (private keys, kubeconfigs with
// embedded keys or tokens, bootstrap token Secrets, the encryption key)
// before they are written, and opens them when read. Every secret goes
// through it, so that encryption at rest can be put behind it without the
// generators noticing. The default is plain: files are stored as they are,
// mode 0600.
type Secrets interface {
	Seal(rel string, plaintext []byte) ([]byte, error)
	Open(rel string, stored []byte) ([]byte, error)
}

// Plain stores secrets unencrypted (mode 0600).
type Plain struct{}

// Seal returns the plaintext.
func (Plain) Seal(_ string, plaintext []byte) ([]byte, error) { return plaintext, nil }

// Open returns the stored bytes.
func (Plain) Open(_ string, stored []byte) ([]byte, error) { return stored, nil }

// Dir is a cluster folder.
type Dir struct {
	root string
	// Secrets seals and opens secret files; Plain by default.
	Secrets Secrets

	mu      sync.Mutex
	rootF   *os.File // the root, opened once: every path is resolved beneath it
	created []string // folders Init made, deepest last
}

// Open returns the cluster folder at root. It does not create it. An
// empty root is ErrEmptyDir.
func Open(root string) (*Dir, error) {
	if strings.TrimSpace(root) == "" {
		return nil, ErrEmptyDir
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("invalid folder %q: %w", root, err)
	}
	return &Dir{root: abs, Secrets: Plain{}}, nil
}

// Sealed reports whether the folder's secrets are sealed (encrypted at
// rest) rather than stored as they are.
func (d *Dir) Sealed() bool {
	_, plain := d.Secrets.(Plain)
	return !plain
}

// Root is the folder's absolute path.
func (d *Dir) Root() string { return d.root }

// Path is the absolute path of a file of the folder, for messages and for
// programs given the path. bulwark itself never opens it by this path.
func (d *Dir) Path(rel string) string { return filepath.Join(d.root, filepath.FromSlash(rel)) }

// fd is the root's descriptor, opened on first use.
func (d *Dir) fd() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rootF != nil {
		return int(d.rootF.Fd()), nil
	}
	fd, err := unix.Open(d.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return -1, fmt.Errorf("%s is not a folder", d.root)
		}
		return -1, &fs.PathError{Op: "open", Path: d.root, Err: err}
	}
	d.rootF = os.NewFile(uintptr(fd), d.root)
	return fd, nil
}

// Close releases the folder's descriptor. The Dir may be used again: it
// is reopened when needed.
func (d *Dir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rootF == nil {
		return nil
	}
	err := d.rootF.Close()
	d.rootF = nil
	return err
}

// Init creates the folder (0700) if needed and checks that it is a folder.
// The folders it makes are remembered, for RemoveCreated.
func (d *Dir) Init() error {
	var made []string
	for p := d.root; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || filepath.Dir(p) == p {
			break
		}
		made = append([]string{p}, made...)
	}
	if err := os.MkdirAll(d.root, layout.DirMode); err != nil {
		return fmt.Errorf("failed to create %s: %w", d.root, unwrapPath(err))
	}
	for _, p := range made {
		if err := os.Chmod(p, layout.DirMode); err != nil {
			return fmt.Errorf("failed to create %s: %w", p, unwrapPath(err))
		}
	}
	d.created = append(d.created, made...)
	fi, err := os.Stat(d.root)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", d.root, unwrapPath(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", d.root)
	}
	_, err = d.fd()
	return err
}

// RemoveCreated removes the folders Init made, if they are empty: a run
// that failed on a new location leaves nothing behind.
func (d *Dir) RemoveCreated() {
	_ = d.Close()
	for i := len(d.created) - 1; i >= 0; i-- {
		if os.Remove(d.created[i]) != nil {
			break
		}
	}
	d.created = nil
}

// Exists reports whether a file of the folder exists. A symbolic link, or
// something that is neither a regular file nor a folder, is an
// *UnsafeError.
func (d *Dir) Exists(rel string) (bool, error) {
	root, err := d.fd()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	st, ok, err := statBeneath(root, rel)
	if err != nil || !ok {
		return false, err
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFDIR {
		return true, &UnsafeError{Rel: rel, Reason: "is " + fileKind(uint32(st.Mode)) + ", not a regular file"}
	}
	return true, nil
}

// Read returns a file's contents.
func (d *Dir) Read(rel string) ([]byte, error) {
	root, err := d.fd()
	if err != nil {
		return nil, err
	}
	f, err := openRegular(root, rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", rel, unwrapPath(err))
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", rel, maxFileSize)
	}
	return data, nil
}

// Create writes a new file atomically with the given mode. It never
// replaces an existing file: the final step is a hard link, which fails if
// the name is taken.
func (d *Dir) Create(rel string, data []byte, mode fs.FileMode) error {
	return d.WriteBatch([]File{{Rel: rel, Data: data, Mode: mode}})
}

// Replace writes a file atomically, replacing any existing one.
func (d *Dir) Replace(rel string, data []byte, mode fs.FileMode) error {
	return d.WriteBatch([]File{{Rel: rel, Data: data, Mode: mode, Replace: true}})
}

// Remove deletes a file; a missing file is not an error.
func (d *Dir) Remove(rel string) error {
	return d.WriteBatch([]File{{Rel: rel, Remove: true}})
}

// unwrapPath drops the *PathError wrapper, whose message repeats the path
// the caller already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// CreateSecret seals and writes a new secret file, mode 0600; it fails
// with ErrExist rather than replace one.
func (d *Dir) CreateSecret(rel string, data []byte) error {
	return d.WriteBatch([]File{{Rel: rel, Data: data, Secret: true}})
}

// ReplaceSecret seals and atomically replaces a secret file; only explicit
// renew and rotate commands call it.
func (d *Dir) ReplaceSecret(rel string, data []byte) error {
	return d.WriteBatch([]File{{Rel: rel, Data: data, Secret: true, Replace: true}})
}

// ReadSecret reads and opens a secret file.
func (d *Dir) ReadSecret(rel string) ([]byte, error) {
	stored, err := d.Read(rel)
	if err != nil {
		return nil, err
	}
	data, err := d.Secrets.Open(rel, stored)
	if err != nil {
		return nil, fmt.Errorf("failed to open %s: %w", rel, err)
	}
	return data, nil
}

// IsDir reports whether the folder exists.
func (d *Dir) IsDir() bool {
	fi, err := os.Stat(d.root)
	return err == nil && fi.IsDir()
}

// Entry is one file or folder found by Scan.
type Entry struct {
	Rel  string
	Dir  bool
	Mode fs.FileMode // permission bits
}

// Scan lists every file and folder under the root (the root itself as
// "."), skipping temporary files and the lock file, sorted. A symbolic
// link, a named pipe, a socket or a device anywhere in the folder is an
// *UnsafeError: nothing is read through them.
func (d *Dir) Scan() ([]Entry, error) {
	root, err := d.fd()
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(root, &st); err != nil {
		return nil, err
	}
	out := []Entry{{Rel: ".", Dir: true, Mode: fs.FileMode(st.Mode).Perm()}}
	err = scanDir(root, "", func(e Entry) error { out = append(out, e); return nil }, false)
	sort.Slice(out, func(i, j int) bool { return out[i].Rel < out[j].Rel })
	return out, err
}

// scanDir reads a folder by descriptor and calls f for each entry,
// descending into folders. Temporary files are passed only with temps.
func scanDir(dirfd int, rel string, f func(Entry) error, temps bool) error {
	// Read through a second descriptor of the open folder: nothing is
	// looked up by path, and the caller's descriptor stays its own.
	dfd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("failed to list %s: %w", displayRel(rel), err)
	}
	dir := os.NewFile(uintptr(dfd), displayRel(rel))
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return fmt.Errorf("failed to list %s: %w", displayRel(rel), unwrapPath(err))
	}
	sort.Strings(names)
	for _, name := range names {
		sub := path.Join(rel, name)
		if rel == "" && name == layout.LockFile {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return &fs.PathError{Op: "stat", Path: sub, Err: err}
		}
		isTemp := strings.HasPrefix(name, tmpPrefix)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			return &UnsafeError{Rel: sub, Reason: symlinkReason}
		case unix.S_IFDIR:
			if err := f(Entry{Rel: sub, Dir: true, Mode: fs.FileMode(st.Mode).Perm()}); err != nil {
				return err
			}
			fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
					return &UnsafeError{Rel: sub, Reason: symlinkReason}
				}
				return &fs.PathError{Op: "open", Path: sub, Err: err}
			}
			err = scanDir(fd, sub, f, temps)
			unix.Close(fd)
			if err != nil {
				return err
			}
		case unix.S_IFREG:
			if isTemp && !temps {
				continue
			}
			if err := f(Entry{Rel: sub, Mode: fs.FileMode(st.Mode).Perm()}); err != nil {
				return err
			}
		default:
			return &UnsafeError{Rel: sub, Reason: "is " + fileKind(uint32(st.Mode)) + ", not a regular file"}
		}
	}
	return nil
}

func displayRel(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

// Walk lists the files under a folder of the cluster folder, as paths
// relative to the root, skipping temporary files and the lock. A missing
// folder lists nothing; a symbolic link or a non-regular file on the way
// is an *UnsafeError.
func (d *Dir) Walk(rel string) ([]string, error) {
	root, err := d.fd()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	rel = strings.Trim(path.Clean("/"+rel), "/")
	start := root
	if rel != "" {
		start, err = openBeneath(root, rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		if err != nil {
			return nil, pathErr(rel, err)
		}
		defer unix.Close(start)
	}
	var files []string
	err = scanDir(start, rel, func(e Entry) error {
		if !e.Dir {
			files = append(files, e.Rel)
		}
		return nil
	}, false)
	return files, err
}

// CleanTemp removes temporary files that a killed run left behind. Call it
// with the lock held: no other run can be using them.
func (d *Dir) CleanTemp() error {
	root, err := d.fd()
	if err != nil {
		return err
	}
	return scanDir(root, "", func(e Entry) error {
		if e.Dir || !strings.HasPrefix(path.Base(e.Rel), tmpPrefix) {
			return nil
		}
		dir, base := path.Split(e.Rel)
		pfd := root
		if dir != "" {
			pfd, err = openBeneath(root, strings.TrimSuffix(dir, "/"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
			if err != nil {
				return pathErr(e.Rel, err)
			}
			defer unix.Close(pfd)
		}
		if err := unix.Unlinkat(pfd, base, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return &fs.PathError{Op: "remove", Path: e.Rel, Err: err}
		}
		return nil
	}, true)
}

// Stat reports a file's permission bits and modification time, without
// following a symbolic link.
func (d *Dir) Stat(rel string) (fs.FileMode, time.Time, error) {
	root, err := d.fd()
	if err != nil {
		return 0, time.Time{}, err
	}
	st, ok, err := statBeneath(root, rel)
	if err != nil {
		return 0, time.Time{}, err
	}
	if !ok {
		return 0, time.Time{}, &fs.PathError{Op: "stat", Path: rel, Err: fs.ErrNotExist}
	}
	return fs.FileMode(st.Mode).Perm(), time.Unix(st.Mtim.Unix()).UTC(), nil
}

// Mode reports a file's permission bits.
func (d *Dir) Mode(rel string) (fs.FileMode, error) {
	m, _, err := d.Stat(rel)
	return m, err
}

// ModTime reports a file's modification time.
func (d *Dir) ModTime(rel string) (time.Time, error) {
	_, t, err := d.Stat(rel)
	return t, err
}

// ReadInput reads a file named on the command line (a configuration, a
// manifest), refusing more than max bytes and anything that is not a
// regular file (a named pipe would block; use "-" for standard input where
// a command accepts it). Errors name the path once.
func ReadInput(path string, max int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", path, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("cannot read %q: %w", path, &UnsafeError{Rel: path, Reason: "is not a regular file"})
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", path, unwrapPath(err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("cannot read %q: it changed while being opened", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", path, unwrapPath(err))
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%q is larger than %d bytes", path, max)
	}
	return data, nil
}

// List returns the files directly in a folder whose names end with one of
// the suffixes, sorted. A missing folder lists nothing.
func List(dir string, suffixes ...string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list %q: %w", dir, unwrapPath(err))
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		for _, s := range suffixes {
			if strings.HasSuffix(e.Name(), s) {
				out = append(out, filepath.Join(dir, e.Name()))
				break
			}
		}
	}
	return out, nil
}
