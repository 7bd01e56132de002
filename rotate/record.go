package rotate

import (
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/store"
)

// RecordKind is the kind of layout.RotationFile.
const RecordKind = "Rotation"

// Record is layout.RotationFile: for each root that was ever rotated, the
// step written last and the keys involved. It is written first in every
// step, so that a run killed part-way is found and finished by the next;
// the files must always agree with it.
type Record struct {
	APIVersion string                 `json:"apiVersion"`
	Kind       string                 `json:"kind"`
	Roots      map[string]*RootRecord `json:"roots,omitempty"`
}

// RootRecord is one root's rotation.
type RootRecord struct {
	Step Step `json:"step"`
	// Old and New are the fingerprints (Fingerprint) of the key being
	// replaced and of its successor.
	Old string `json:"old"`
	New string `json:"new"`
	// When each step was started (written first).
	Trust   *time.Time `json:"trust,omitempty"`
	Reissue *time.Time `json:"reissue,omitempty"`
	Finish  *time.Time `json:"finish,omitempty"`
	// ReissueLive is when a live check first saw every API server use
	// what the reissue step wrote (for sa: sign with the new key).
	ReissueLive *time.Time `json:"reissueLive,omitempty"`
	// NewKey: the reissue gave every leaf a new key (--new-key), so the
	// finish also retires their old keys.
	NewKey bool `json:"newKey,omitempty"`
}

func (r *RootRecord) started(s Step) *time.Time {
	switch s {
	case Trust:
		return r.Trust
	case Reissue:
		return r.Reissue
	case Finish:
		return r.Finish
	}
	return nil
}

func (r *RootRecord) setStarted(s Step, t time.Time) {
	t = t.UTC().Truncate(time.Second)
	switch s {
	case Trust:
		r.Trust = &t
	case Reissue:
		r.Reissue = &t
	case Finish:
		r.Finish = &t
	}
}

// readRecord reads the record; a folder without one has rotated nothing.
func readRecord(d *store.Dir) (*Record, error) {
	data, err := d.Read(layout.RotationFile)
	if errors.Is(err, fs.ErrNotExist) {
		return &Record{APIVersion: config.APIVersion, Kind: RecordKind, Roots: map[string]*RootRecord{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", layout.RotationFile, err)
	}
	var r Record
	if err := yaml.UnmarshalStrict(data, &r); err != nil {
		return nil, disagree("%s: %v", layout.RotationFile, err)
	}
	if r.APIVersion != config.APIVersion || r.Kind != RecordKind {
		return nil, disagree("%s: not a %s %s", layout.RotationFile, config.APIVersion, RecordKind)
	}
	if r.Roots == nil {
		r.Roots = map[string]*RootRecord{}
	}
	for name, rr := range r.Roots {
		if rr == nil || !rr.Step.valid() || rr.Step == None || !isFingerprint(rr.Old) || !isFingerprint(rr.New) || rr.Old == rr.New {
			return nil, disagree("%s: root %q is not a valid record", layout.RotationFile, name)
		}
	}
	return &r, nil
}

func (r *Record) marshal() ([]byte, error) {
	return yaml.Marshal(r)
}

func (r *Record) clone() *Record {
	c := &Record{APIVersion: r.APIVersion, Kind: r.Kind, Roots: map[string]*RootRecord{}}
	for k, v := range r.Roots {
		cp := *v
		c.Roots[k] = &cp
	}
	return c
}

// Fingerprint names a public key (pki.Fingerprint).
func Fingerprint(pub crypto.PublicKey) string { return pki.Fingerprint(pub) }

func isFingerprint(s string) bool {
	if len(s) != len("sha256:")+64 || s[:7] != "sha256:" {
		return false
	}
	_, err := hex.DecodeString(s[7:])
	return err == nil
}

// short is a fingerprint's first 12 hex digits, for reports.
func short(fp string) string {
	if len(fp) < 19 {
		return fp
	}
	return fp[7:19]
}
