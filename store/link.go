package store

// SameFile reports whether two files of the folder are one inode (hard
// links to each other), never following a symbolic link. A missing file
// is not an error: false.
func (d *Dir) SameFile(a, b string) (bool, error) {
	root, err := d.fd()
	if err != nil {
		return false, err
	}
	sa, ok, err := statBeneath(root, a)
	if err != nil || !ok {
		return false, err
	}
	sb, ok, err := statBeneath(root, b)
	if err != nil || !ok {
		return false, err
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}
