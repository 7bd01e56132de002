//go:build unix

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUnsafe is wrapped by every refusal to use a path of the folder: a
// symbolic link in any position, or something that is not a regular file
// (a named pipe, a socket, a device) where a file is expected.
var ErrUnsafe = errors.New("unsafe path in the cluster folder")

// UnsafeError names the path bulwark refuses to use, and why.
type UnsafeError struct {
	Rel    string // relative to the folder's root
	Reason string
}

func (e *UnsafeError) Error() string { return e.Rel + ": " + e.Reason }

// Unwrap returns ErrUnsafe.
func (e *UnsafeError) Unwrap() error { return ErrUnsafe }

const symlinkReason = "is a symbolic link (bulwark reads and writes nothing through symbolic links in a cluster folder: replace it with the file or folder itself)"

// checkRel refuses relative paths that could leave the folder: every
// path bulwark uses is its own, slash-separated, without "." or "..".
func checkRel(rel string) error {
	if rel == "" || path.IsAbs(rel) {
		return fmt.Errorf("invalid path %q in the cluster folder", rel)
	}
	for _, c := range strings.Split(rel, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("invalid path %q in the cluster folder", rel)
		}
	}
	return nil
}

// openBeneath opens rel under the folder whose descriptor is dirfd without
// following any symbolic link on the way (the last component included)
// and without leaving the folder. Linux has a system call for exactly
// this (openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, beneath_linux.go);
// elsewhere, and on kernels without it, each component is opened in turn
// with O_NOFOLLOW. A symbolic link in the way is an *UnsafeError.
func openBeneath(dirfd int, rel string, flags int, mode uint32) (int, error) {
	if err := checkRel(rel); err != nil {
		return -1, err
	}
	flags |= unix.O_CLOEXEC | unix.O_NOFOLLOW
	fd, err := openat2Beneath(dirfd, rel, flags, mode)
	if errors.Is(err, errNoOpenat2) {
		fd, err = walkBeneath(dirfd, rel, flags, mode)
	}
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV), errors.Is(err, unix.EMLINK):
		if e := findSymlink(dirfd, rel); e != nil {
			return -1, e
		}
		return -1, &UnsafeError{Rel: rel, Reason: "changed while bulwark opened it (a symbolic link came and went)"}
	case errors.Is(err, unix.ENOTDIR):
		// Some systems say ENOTDIR for a symbolic link opened as a folder.
		if e := findSymlink(dirfd, rel); e != nil {
			return -1, e
		}
	}
	return fd, err
}

// walkBeneath is the portable openBeneath: every folder on the way is
// opened with O_DIRECTORY|O_NOFOLLOW, then the last component with
// O_NOFOLLOW, each relative to the one before.
func walkBeneath(dirfd int, rel string, flags int, mode uint32) (int, error) {
	parts := strings.Split(rel, "/")
	cur := dirfd
	closeCur := func() {
		if cur != dirfd {
			unix.Close(cur)
		}
	}
	for _, p := range parts[:len(parts)-1] {
		next, err := unix.Openat(cur, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		closeCur()
		if err != nil {
			return -1, err
		}
		cur = next
	}
	fd, err := unix.Openat(cur, parts[len(parts)-1], flags, mode)
	closeCur()
	return fd, err
}

// findSymlink finds the symbolic link on rel's way, for the error; nil if
// there is none.
func findSymlink(dirfd int, rel string) error {
	parts := strings.Split(rel, "/")
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, sub, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			break
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return &UnsafeError{Rel: sub, Reason: symlinkReason}
		}
	}
	return nil
}

// fileKind describes a mode for errors: "a named pipe (FIFO)".
func fileKind(m uint32) string {
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		return "a folder"
	case unix.S_IFIFO:
		return "a named pipe (FIFO)"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFLNK:
		return "a symbolic link"
	}
	return "not a regular file"
}

// statBeneath reports what rel is without following a symbolic link in
// any position and without opening it (so that a named pipe or a device
// is never opened). ok is false when rel or a folder on its way does not
// exist.
func statBeneath(dirfd int, rel string) (st unix.Stat_t, ok bool, err error) {
	if err := checkRel(rel); err != nil {
		return st, false, err
	}
	dir, base := path.Split(rel)
	pfd := dirfd
	if dir != "" {
		pfd, err = openBeneath(dirfd, strings.TrimSuffix(dir, "/"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if errors.Is(err, unix.ENOENT) {
			return st, false, nil
		}
		if errors.Is(err, unix.ENOTDIR) {
			return st, false, &UnsafeError{Rel: strings.TrimSuffix(dir, "/"), Reason: "is not a folder"}
		}
		if err != nil {
			return st, false, pathErr(rel, err)
		}
		defer unix.Close(pfd)
	}
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return st, false, nil
		}
		return st, false, pathErr(rel, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return st, true, &UnsafeError{Rel: rel, Reason: symlinkReason}
	}
	return st, true, nil
}

// openRegular opens an existing regular file of the folder for reading:
// never through a symbolic link, never a named pipe or a device (checked
// before opening, so nothing can block or rewind a tape), and checked
// again on the open descriptor.
func openRegular(dirfd int, rel string) (*os.File, error) {
	st, ok, err := statBeneath(dirfd, rel)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: rel, Err: fs.ErrNotExist}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &UnsafeError{Rel: rel, Reason: "is " + fileKind(uint32(st.Mode)) + ", not a regular file"}
	}
	fd, err := openBeneath(dirfd, rel, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, ErrUnsafe) {
			return nil, err
		}
		return nil, pathErr(rel, err)
	}
	var again unix.Stat_t
	if err := unix.Fstat(fd, &again); err != nil || again.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, &UnsafeError{Rel: rel, Reason: "changed while bulwark opened it"}
	}
	return os.NewFile(uintptr(fd), rel), nil
}

// pathErr wraps a system call error as a *fs.PathError naming rel, so
// that errors.Is(err, fs.ErrNotExist) and friends work.
func pathErr(rel string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &fs.PathError{Op: "open", Path: rel, Err: err}
}
