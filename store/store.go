// Package store writes and reads a cluster folder: every write of a
// command goes through it (readers such as audit also read node files of
// their own). Every write is atomic (a temporary file in the same folder,
// fsync, then link or rename into place, then fsync of the folder),
// creation never replaces an existing file, and secrets (private keys,
// kubeconfigs, token Secrets) go through one interface so that encryption
// at rest can sit behind it.
package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bulwark-k8s/bulwark/layout"
)

// ErrExist is returned by Create when the file is already there.
var ErrExist = fs.ErrExist

// maxFileSize caps reads: nothing bulwark keeps is larger than a kubeconfig.
const maxFileSize = 4 << 20

// tmpPrefix marks temporary files; a run killed mid-write leaves only these,
// and the next locked run removes them.
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
}

// Open returns the cluster folder at root. It does not create it.
func Open(root string) (*Dir, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("invalid folder %q: %w", root, err)
	}
	return &Dir{root: abs, Secrets: Plain{}}, nil
}

// Root is the folder's absolute path.
func (d *Dir) Root() string { return d.root }

// Path is the absolute path of a file of the folder.
func (d *Dir) Path(rel string) string { return filepath.Join(d.root, filepath.FromSlash(rel)) }

// Init creates the folder (0700) if needed and checks that it is a folder.
func (d *Dir) Init() error {
	if err := os.MkdirAll(d.root, layout.DirMode); err != nil {
		return fmt.Errorf("failed to create %s: %w", d.root, unwrapPath(err))
	}
	fi, err := os.Stat(d.root)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", d.root, unwrapPath(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", d.root)
	}
	return nil
}

// Exists reports whether a file of the folder exists.
func (d *Dir) Exists(rel string) (bool, error) {
	_, err := os.Lstat(d.Path(rel))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("failed to read %s: %w", rel, unwrapPath(err))
}

// Read returns a file's contents.
func (d *Dir) Read(rel string) ([]byte, error) {
	f, err := os.Open(d.Path(rel))
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
	return d.write(rel, data, mode, false)
}

// Replace writes a file atomically, replacing any existing one.
func (d *Dir) Replace(rel string, data []byte, mode fs.FileMode) error {
	return d.write(rel, data, mode, true)
}

// Remove deletes a file; a missing file is not an error.
func (d *Dir) Remove(rel string) error {
	err := os.Remove(d.Path(rel))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("failed to remove %s: %w", rel, unwrapPath(err))
	}
	if err == nil {
		return syncDir(filepath.Dir(d.Path(rel)))
	}
	return nil
}

func (d *Dir) write(rel string, data []byte, mode fs.FileMode, replace bool) error {
	final := d.Path(rel)
	dir := filepath.Dir(final)
	if err := d.mkdirs(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", rel, unwrapPath(err))
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a link, the temporary name is dropped; after a rename, it is gone already
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("failed to write %s: %w", rel, unwrapPath(err))
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("failed to write %s: %w", rel, unwrapPath(err))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("failed to write %s: %w", rel, unwrapPath(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("failed to write %s: %w", rel, unwrapPath(err))
	}
	if replace {
		err = os.Rename(tmp, final)
	} else {
		err = os.Link(tmp, final)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", rel, ErrExist)
		}
		return fmt.Errorf("failed to write %s: %w", rel, unwrapPath(err))
	}
	return syncDir(dir)
}

// mkdirs creates missing folders 0700 and makes their creation durable.
func (d *Dir) mkdirs(dir string) error {
	created := map[string]bool{}
	if err := makeDirs(dir, created); err != nil {
		return err
	}
	return syncParents(created)
}

// makeDirs creates missing folders 0700, noting each one made.
func makeDirs(dir string, created map[string]bool) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := makeDirs(parent, created); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, layout.DirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("failed to create %s: %w", dir, unwrapPath(err))
	}
	created[dir] = true
	return nil
}

// syncParents makes the creation of folders durable: each parent once, in
// parallel.
func syncParents(created map[string]bool) error {
	parents := map[string]bool{}
	for dir := range created {
		parents[filepath.Dir(dir)] = true
	}
	list := make([]string, 0, len(parents))
	for p := range parents {
		list = append(list, p)
	}
	return parallel(len(list), func(i int) error { return syncDir(list[i]) })
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("failed to sync %s: %w", dir, unwrapPath(err))
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("failed to sync %s: %w", dir, unwrapPath(err))
	}
	return nil
}

// CleanTemp removes temporary files that a killed run left behind. Call it
// with the lock held.
func (d *Dir) CleanTemp() error {
	return filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !e.IsDir() && strings.HasPrefix(e.Name(), tmpPrefix) {
			return os.Remove(p)
		}
		return nil
	})
}

// Walk lists the files under a folder of the cluster folder, as paths
// relative to the root, skipping temporary files and the lock.
func (d *Dir) Walk(rel string) ([]string, error) {
	var files []string
	base := d.Path(rel)
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == base {
				return nil
			}
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), tmpPrefix) || e.Name() == layout.LockFile {
			return nil
		}
		r, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		files = append(files, filepath.ToSlash(r))
		return nil
	})
	return files, err
}

// Mode reports a file's permission bits.
func (d *Dir) Mode(rel string) (fs.FileMode, error) {
	fi, err := os.Stat(d.Path(rel))
	if err != nil {
		return 0, err
	}
	return fi.Mode().Perm(), nil
}

// ModTime reports a file's modification time.
func (d *Dir) ModTime(rel string) (time.Time, error) {
	fi, err := os.Stat(d.Path(rel))
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
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
	sealed, err := d.Secrets.Seal(rel, data)
	if err != nil {
		return fmt.Errorf("failed to seal %s: %w", rel, err)
	}
	return d.Create(rel, sealed, layout.SecretMode)
}

// ReplaceSecret seals and atomically replaces a secret file; only explicit
// renew and rotate commands call it.
func (d *Dir) ReplaceSecret(rel string, data []byte) error {
	sealed, err := d.Secrets.Seal(rel, data)
	if err != nil {
		return fmt.Errorf("failed to seal %s: %w", rel, err)
	}
	return d.Replace(rel, sealed, layout.SecretMode)
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

// ReadInput reads a file named on the command line (a configuration, a
// manifest), refusing more than max bytes. Errors name the path once.
func ReadInput(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", path, unwrapPath(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", path, unwrapPath(err))
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%q is larger than %d bytes", path, max)
	}
	return data, nil
}

// IsDir reports whether the folder exists.
func (d *Dir) IsDir() bool {
	fi, err := os.Stat(d.root)
	return err == nil && fi.IsDir()
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
