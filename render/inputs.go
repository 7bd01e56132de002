package render

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/layout"
)

// Reader reads a file of the folder as it is, or is about to be, written.
// A missing file is an error satisfying errors.Is(err, fs.ErrNotExist).
type Reader func(rel string) ([]byte, error)

// Stamp sets a static Pod manifest's layout.InputsAnnotation: "sha256:"
// and the SHA-256 of the name and content of every file of the folder that
// the Pod's flags name and that its component reads only at start (a
// setting not marked Reloaded in the hardening table); root is where the
// folder sits on the host. A manifest that does not parse, or names no
// component of the table, is returned as it is.
func Stamp(manifest []byte, root string, read Reader) ([]byte, error) {
	var pod corev1.Pod
	if err := yaml.Unmarshal(manifest, &pod); err != nil || len(pod.Spec.Containers) != 1 || len(pod.Spec.Containers[0].Command) == 0 {
		return manifest, nil
	}
	c := pod.Spec.Containers[0]
	comp := hardening.Component(path.Base(c.Command[0]))
	settings := map[string]hardening.Setting{}
	for _, s := range hardening.For(comp) {
		settings[s.Name] = s
	}
	if len(settings) == 0 {
		return manifest, nil
	}
	h := sha256.New()
	for _, a := range c.Command[1:] {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		rel, under := strings.CutPrefix(value, root+"/")
		if !ok || !under || strings.Contains(value, ",") {
			continue
		}
		if s, known := settings[name]; known && s.Reloaded {
			continue
		}
		data, err := read(rel)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(h, "%s\x00missing\n", rel)
		case err != nil:
			return nil, fmt.Errorf("failed to read %s, an input of %s: %w", rel, comp, err)
		default:
			fmt.Fprintf(h, "%s\x00%x\n", rel, sha256.Sum256(data))
		}
	}
	sum := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if pod.Annotations[layout.InputsAnnotation] == sum {
		return manifest, nil
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[layout.InputsAnnotation] = sum
	return yaml.Marshal(&pod)
}
