package upstream

// The decoder of rbac.Decode before it read YAML through node trees
// (bulwark commit 7a292e9): every document through sigs.k8s.io/yaml's
// YAMLToJSON, then strict encoding/json, objects added one by one. Kept,
// unchanged but for names, to measure the new one against in the same
// run (BenchmarkLoad).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/rbac"
)

// Decode reads RBAC objects from YAML or JSON: one or more documents, each
// an object or a List (v1 List, RoleList, ClusterRoleList...). Objects of
// other kinds are skipped, so a folder of mixed manifests loads. Decoding
// is strict: an unknown field in an RBAC object is an error, as
// kubectl apply's server-side validation makes it. source names the input
// in errors and in Policy.Sources.
func oldDecode(data []byte, source string, opts rbac.DecodeOptions) (*rbac.Policy, error) {
	if opts.Namespace == "" {
		opts.Namespace = metav1.NamespaceDefault
	}
	var docs [][]byte
	r := utilyaml.NewYAMLReader(oldBufioReader(data))
	for doc := 1; ; doc++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, doc, err)
		}
		docs = append(docs, raw)
	}
	// Documents decode independently (YAML is the slow part), in parallel;
	// they are merged in order.
	parts := make([]*rbac.Policy, len(docs))
	errs := make([]error, len(docs))
	decodeDoc := func(i int) {
		raw := bytes.TrimSpace(docs[i])
		if len(bytes.TrimSpace(oldStripComments(raw))) == 0 {
			return
		}
		js := raw
		if raw[0] != '{' {
			var err error
			if js, err = yaml.YAMLToJSON(raw); err != nil {
				errs[i] = fmt.Errorf("%s: document %d: %w", source, i+1, err)
				return
			}
		}
		q := &rbac.Policy{}
		if err := oldDecodeObject(q, js, fmt.Sprintf("%s#%d", source, i+1), opts, 0); err != nil {
			errs[i] = fmt.Errorf("%s: document %d: %w", source, i+1, err)
			return
		}
		parts[i] = q
	}
	workers := min(runtime.GOMAXPROCS(0), len(docs)/64+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(docs); i += workers {
				decodeDoc(i)
			}
		}()
	}
	wg.Wait()
	p := &rbac.Policy{}
	for i := range docs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if parts[i] != nil {
			p.Merge(parts[i])
		}
	}
	return p, nil
}

// maxListDepth bounds Lists nested in Lists.
const oldMaxListDepth = 8

func oldDecodeObject(p *rbac.Policy, js []byte, source string, opts rbac.DecodeOptions, depth int) error {
	if string(js) == "null" {
		return nil
	}
	var tm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &tm); err != nil {
		return fmt.Errorf("not a Kubernetes object: %w", err)
	}
	group, version, _ := strings.Cut(tm.APIVersion, "/")
	if !strings.Contains(tm.APIVersion, "/") {
		group, version = "", tm.APIVersion
	}
	if strings.HasSuffix(tm.Kind, "List") && tm.Items != nil {
		if group == rbacv1.GroupName && version != "v1" {
			return fmt.Errorf("%w: %s (Kubernetes 1.36 serves rbac.authorization.k8s.io/v1 only)", rbac.ErrUnsupportedVersion, tm.APIVersion)
		}
		if depth >= oldMaxListDepth {
			return errors.New("lists nested too deep")
		}
		for i, item := range tm.Items {
			if err := oldDecodeObject(p, item, fmt.Sprintf("%s.items[%d]", source, i), opts, depth+1); err != nil {
				return fmt.Errorf("items[%d]: %w", i, err)
			}
		}
		return nil
	}
	if group != rbacv1.GroupName {
		return nil
	}
	if version != "v1" {
		return fmt.Errorf("%w: %s %s (Kubernetes 1.36 serves rbac.authorization.k8s.io/v1 only)", rbac.ErrUnsupportedVersion, tm.APIVersion, tm.Kind)
	}
	var obj any
	switch tm.Kind {
	case rbac.KindRole:
		o := &rbacv1.Role{}
		if err := oldStrict(js, o, tm.Kind); err != nil {
			return err
		}
		if o.Namespace == "" {
			o.Namespace = opts.Namespace
		}
		obj = o
	case rbac.KindClusterRole:
		o := &rbacv1.ClusterRole{}
		if err := oldStrict(js, o, tm.Kind); err != nil {
			return err
		}
		o.Namespace = ""
		obj = o
	case rbac.KindRoleBinding:
		o := &rbacv1.RoleBinding{}
		if err := oldStrict(js, o, tm.Kind); err != nil {
			return err
		}
		if o.Namespace == "" {
			o.Namespace = opts.Namespace
		}
		oldDefaultSubjects(o.Subjects)
		obj = o
	case rbac.KindClusterRoleBinding:
		o := &rbacv1.ClusterRoleBinding{}
		if err := oldStrict(js, o, tm.Kind); err != nil {
			return err
		}
		o.Namespace = ""
		oldDefaultSubjects(o.Subjects)
		obj = o
	default:
		return fmt.Errorf("unknown kind %s in %s", tm.Kind, tm.APIVersion)
	}
	name := oldObjectName(obj)
	if name == "" {
		return fmt.Errorf("%s without metadata.name", tm.Kind)
	}
	return p.Add(obj, source)
}

func oldObjectName(obj any) string {
	switch o := obj.(type) {
	case *rbacv1.Role:
		return o.Name
	case *rbacv1.ClusterRole:
		return o.Name
	case *rbacv1.RoleBinding:
		return o.Name
	case *rbacv1.ClusterRoleBinding:
		return o.Name
	}
	return ""
}

// defaultSubjects fills a subject's apiGroup as the API server's defaulting
// does: rbac.authorization.k8s.io for users and groups.
func oldDefaultSubjects(ss []rbacv1.Subject) {
	for i := range ss {
		if ss[i].APIGroup == "" && (ss[i].Kind == rbacv1.UserKind || ss[i].Kind == rbacv1.GroupKind) {
			ss[i].APIGroup = rbacv1.GroupName
		}
	}
}

func oldStrict(js []byte, v any, kind string) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid %s: %w", kind, err)
	}
	return nil
}

func oldBufioReader(data []byte) *bufio.Reader {
	return bufio.NewReaderSize(bytes.NewReader(data), 64<<10)
}

// stripComments drops YAML comment lines, to tell an empty document from
// one that holds an object.
func oldStripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, t...)
		}
	}
	return out
}
