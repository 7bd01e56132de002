package admins

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/store"
)

// The rotation state (layout.RotationStateFile) is the marker issue 13's
// rotation reads: every key, CA and secret that someone who should no
// longer have it could read. A rotation that replaces a file removes its
// entry (RotationState.Done); `rotate status` and `audit` report the rest.

const kindRotation = "RotationRequired"

// Compromised is one file that must be rotated.
type Compromised struct {
	// File is relative to the folder ("pki/ca.key", "admin.conf").
	File string `json:"file"`
	// What the file is (layout's kind).
	What string `json:"what"`
	// CA is true for a CA's private key: everything it signed follows.
	CA bool `json:"ca,omitempty"`
	// Holder is who could read it; Reason says why it counts.
	Holder string    `json:"holder"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// RotationState is the document at layout.RotationStateFile.
type RotationState struct {
	APIVersion  string        `json:"apiVersion"`
	Kind        string        `json:"kind"`
	Compromised []Compromised `json:"compromised"`
}

// Required reports whether anything must be rotated.
func (s *RotationState) Required() bool { return len(s.Compromised) > 0 }

// Done removes the entries of a file that has been rotated.
func (s *RotationState) Done(file string) {
	s.Compromised = slices.DeleteFunc(s.Compromised, func(c Compromised) bool { return c.File == file })
}

// ReadRotationState reads the marker; a folder without one needs no
// rotation.
func ReadRotationState(d *store.Dir) (*RotationState, error) {
	s := &RotationState{APIVersion: apiVersion, Kind: kindRotation}
	data, err := d.Read(layout.RotationStateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(data, s); err != nil || s.Kind != kindRotation || s.APIVersion != apiVersion {
		return nil, fmt.Errorf("%s is not a %s document", layout.RotationStateFile, kindRotation)
	}
	return s, nil
}

// WriteRotationState replaces the marker atomically (or removes it when
// nothing is left to rotate).
func WriteRotationState(d *store.Dir, s *RotationState) error {
	if !s.Required() {
		return d.Remove(layout.RotationStateFile)
	}
	s.APIVersion, s.Kind = apiVersion, kindRotation
	data, err := yaml.Marshal(s)
	if err != nil {
		return err
	}
	return d.Replace(layout.RotationStateFile, data, layout.RotationState.Mode())
}

// File is the marker as a write of a batch (store.File): replaced, or
// removed when nothing is left to rotate. A rotation puts it in the batch
// of the step that rotates the files it marks (their Done).
func (s *RotationState) File() (store.File, error) {
	if !s.Required() {
		return store.File{Rel: layout.RotationStateFile, Remove: true}, nil
	}
	s.APIVersion, s.Kind = apiVersion, kindRotation
	data, err := yaml.Marshal(s)
	if err != nil {
		return store.File{}, err
	}
	return store.File{Rel: layout.RotationStateFile, Data: data, Replace: true}, nil
}

// AddCompromised adds marks to the state, keeping those already there.
func AddCompromised(d *store.Dir, marks []Compromised) error {
	s, err := ReadRotationState(d)
	if err != nil {
		return err
	}
	s.Compromised = append(s.Compromised, marks...)
	return WriteRotationState(d, s)
}
