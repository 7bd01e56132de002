// Package rbac answers authorization questions about a cluster's RBAC
// policy exactly as kube-apiserver does with --authorization-mode=Node,RBAC:
// "may this user do this?" (Engine.Check, Engine.Authorize, Engine.Allowed),
// "what may this user do?" (Engine.RulesFor), "who may do this?"
// (Engine.WhoCan), "who gains or loses what between two policies?" (Diff),
// and which grants are risky (Lint). Questions are read as the command line
// writes them (Engine.ParseAction, ParseQuestions).
//
// A Policy is loaded from manifests (Decode) or from a live cluster (package
// rbac/live), merged over the built-in policy of the pinned Kubernetes
// release (Builtin), and compiled into an Engine. The engine computes
// ClusterRole aggregation the way kube-controller-manager's
// clusterrole-aggregation controller does, so that manifests answer the
// same as the running cluster.
//
// The facts it reproduces, from the pinned k8s.io/kubernetes release:
//   - the authorizer chain: members of system:masters are allowed
//     everything before any authorizer runs; the Node authorizer then
//     answers for node identities (user system:node:<name> in group
//     system:nodes); RBAC last. Neither denies: a request is allowed when
//     one of them allows it.
//   - a ClusterRoleBinding grants its role in every namespace and at cluster
//     scope; a RoleBinding grants its Role, or a ClusterRole, in its own
//     namespace only.
//   - subjects: User by name, Group by membership, ServiceAccount by the
//     username system:serviceaccount:<namespace>:<name>, the namespace
//     defaulting to the RoleBinding's.
//   - rules: verbs, apiGroups, resources ("*", "resource/subresource",
//     "*/subresource"), resourceNames (empty means any), nonResourceURLs
//     (exact, "*" or a "/prefix/*").
package rbac

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	yamlv3 "go.yaml.in/yaml/v3"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/release"
)

// Kinds of the objects in a Policy, and of the references in paths.
const (
	KindRole               = "Role"
	KindClusterRole        = "ClusterRole"
	KindRoleBinding        = "RoleBinding"
	KindClusterRoleBinding = "ClusterRoleBinding"
)

// Ref names one RBAC object.
type Ref struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (r Ref) String() string {
	var b strings.Builder
	r.write(&b)
	return b.String()
}

func (r *Ref) write(b *strings.Builder) {
	b.WriteString(r.Kind)
	b.WriteByte(' ')
	if r.Namespace != "" {
		b.WriteString(r.Namespace)
		b.WriteByte('/')
	}
	b.WriteString(r.Name)
}

// Policy is a set of RBAC objects. Objects are kept in the order they were
// added; adding an object with the key of an existing one replaces it, as
// applying a manifest does.
type Policy struct {
	ClusterRoles        []rbacv1.ClusterRole        `json:"clusterRoles,omitempty"`
	ClusterRoleBindings []rbacv1.ClusterRoleBinding `json:"clusterRoleBindings,omitempty"`
	Roles               []rbacv1.Role               `json:"roles,omitempty"`
	RoleBindings        []rbacv1.RoleBinding        `json:"roleBindings,omitempty"`
	// Sources says where each object came from ("file.yaml#3": the third
	// document of file.yaml; "built-in"; "cluster"), for reports.
	Sources map[Ref]string `json:"-"`

	index   map[Ref]int // position of each object in its slice
	indexed int         // Len when index was built
}

// Len is the number of objects.
func (p *Policy) Len() int {
	return len(p.ClusterRoles) + len(p.ClusterRoleBindings) + len(p.Roles) + len(p.RoleBindings)
}

// Rules counts the rules of every role as written (before aggregation).
func (p *Policy) Rules() int {
	n := 0
	for i := range p.ClusterRoles {
		n += len(p.ClusterRoles[i].Rules)
	}
	for i := range p.Roles {
		n += len(p.Roles[i].Rules)
	}
	return n
}

// Source is where an object came from, or "".
func (p *Policy) Source(r Ref) string { return p.Sources[r] }

func (p *Policy) setSource(r Ref, src string) {
	if src == "" {
		return
	}
	if p.Sources == nil {
		p.Sources = map[Ref]string{}
	}
	p.Sources[r] = src
}

// Merge adds every object of q to p, replacing objects with the same kind,
// namespace and name.
func (p *Policy) Merge(q *Policy) {
	p.reindex()
	p.ClusterRoles = mergeObjects(p, p.ClusterRoles, q.ClusterRoles, q, func(o *rbacv1.ClusterRole) Ref { return Ref{KindClusterRole, "", o.Name} })
	p.ClusterRoleBindings = mergeObjects(p, p.ClusterRoleBindings, q.ClusterRoleBindings, q, func(o *rbacv1.ClusterRoleBinding) Ref { return Ref{KindClusterRoleBinding, "", o.Name} })
	p.Roles = mergeObjects(p, p.Roles, q.Roles, q, func(o *rbacv1.Role) Ref { return Ref{KindRole, o.Namespace, o.Name} })
	p.RoleBindings = mergeObjects(p, p.RoleBindings, q.RoleBindings, q, func(o *rbacv1.RoleBinding) Ref { return Ref{KindRoleBinding, o.Namespace, o.Name} })
	p.indexed = p.Len()
}

// reindex rebuilds the index of objects by key unless it is current (the
// slices were not changed behind Merge's back).
func (p *Policy) reindex() {
	if p.index != nil && p.indexed == p.Len() {
		return
	}
	p.index = make(map[Ref]int, p.Len())
	for i := range p.ClusterRoles {
		p.index[Ref{KindClusterRole, "", p.ClusterRoles[i].Name}] = i
	}
	for i := range p.ClusterRoleBindings {
		p.index[Ref{KindClusterRoleBinding, "", p.ClusterRoleBindings[i].Name}] = i
	}
	for i := range p.Roles {
		p.index[Ref{KindRole, p.Roles[i].Namespace, p.Roles[i].Name}] = i
	}
	for i := range p.RoleBindings {
		p.index[Ref{KindRoleBinding, p.RoleBindings[i].Namespace, p.RoleBindings[i].Name}] = i
	}
	p.indexed = p.Len()
}

func mergeObjects[T any](p *Policy, dst, src []T, q *Policy, ref func(*T) Ref) []T {
	for i := range src {
		r := ref(&src[i])
		if j, ok := p.index[r]; ok && j < len(dst) && ref(&dst[j]) == r {
			dst[j] = src[i]
		} else {
			p.index[r] = len(dst)
			dst = append(dst, src[i])
		}
		if s := q.Sources[r]; s != "" {
			p.setSource(r, s)
		} else if p.Sources != nil {
			delete(p.Sources, r)
		}
	}
	return dst
}

// Add appends one object: a Role, ClusterRole, RoleBinding or
// ClusterRoleBinding, by value or pointer.
func (p *Policy) Add(obj any, source string) error {
	q := &Policy{}
	var r Ref
	switch o := obj.(type) {
	case rbacv1.Role:
		return p.Add(&o, source)
	case rbacv1.ClusterRole:
		return p.Add(&o, source)
	case rbacv1.RoleBinding:
		return p.Add(&o, source)
	case rbacv1.ClusterRoleBinding:
		return p.Add(&o, source)
	case *rbacv1.Role:
		q.Roles, r = []rbacv1.Role{*o}, Ref{KindRole, o.Namespace, o.Name}
	case *rbacv1.ClusterRole:
		q.ClusterRoles, r = []rbacv1.ClusterRole{*o}, Ref{KindClusterRole, "", o.Name}
	case *rbacv1.RoleBinding:
		q.RoleBindings, r = []rbacv1.RoleBinding{*o}, Ref{KindRoleBinding, o.Namespace, o.Name}
	case *rbacv1.ClusterRoleBinding:
		q.ClusterRoleBindings, r = []rbacv1.ClusterRoleBinding{*o}, Ref{KindClusterRoleBinding, "", o.Name}
	default:
		return fmt.Errorf("not an RBAC object: %T", obj)
	}
	q.setSource(r, source)
	p.Merge(q)
	return nil
}

// DecodeOptions tune Decode.
type DecodeOptions struct {
	// Namespace is given to Roles and RoleBindings that name none, as
	// kubectl apply gives them the context's namespace ("default" when
	// empty).
	Namespace string

	referenceOnly bool // tests: decode every YAML document the reference way
}

// ErrUnsupportedVersion is wrapped by errors for RBAC objects of an API
// version that the pinned Kubernetes release does not serve.
var ErrUnsupportedVersion = errors.New("unsupported RBAC API version")

func unsupportedVersion(apiVersion, kind string) error {
	what := apiVersion
	if kind != "" {
		what += " " + kind
	}
	return fmt.Errorf("%w: %s (Kubernetes %s serves rbac.authorization.k8s.io/v1 only)", ErrUnsupportedVersion, what, release.KubernetesMinor())
}

// Decode reads RBAC objects from YAML or JSON: one or more documents, each
// an object or a List (v1 List, RoleList, ClusterRoleList...). Objects of
// other kinds are skipped, so a folder of mixed manifests loads. Decoding
// is strict: an unknown field in an RBAC object is an error, as
// kubectl apply's server-side validation makes it. source names the input
// in errors and in Policy.Sources.
//
// YAML is read as kubectl reads it (YAML 1.1, sigs.k8s.io/yaml); documents
// are decoded in parallel, most through a faster reading of the same
// result (see yamlnode.go).
func Decode(data []byte, source string, opts DecodeOptions) (*Policy, error) {
	if opts.Namespace == "" {
		opts.Namespace = metav1.NamespaceDefault
	}
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, fmt.Errorf("%s: document %d: %w", source, len(docs)+1, err)
	}
	if len(data) >= roomyDecode {
		defer roomyGC()()
	}
	parts := make([]*Policy, len(docs))
	errs := make([]error, len(docs))
	decodeDoc := func(i int) {
		raw := bytes.TrimSpace(docs[i])
		if !hasContent(raw) {
			return
		}
		q := &Policy{}
		src := source + "#" + strconv.Itoa(i+1)
		var err error
		switch {
		case raw[0] == '{':
			err = q.decodeObject(raw, src, opts, 0)
		default:
			handled := false
			if !opts.referenceOnly {
				handled, err = q.decodeNode(raw, src, opts)
			}
			if !handled {
				q = &Policy{}
				var js []byte
				if js, err = yaml.YAMLToJSON(raw); err == nil {
					err = q.decodeObject(js, src, opts, 0)
				}
			}
		}
		if err != nil {
			errs[i] = fmt.Errorf("%s: document %d: %w", source, i+1, err)
			return
		}
		parts[i] = q
	}
	workers := min(runtime.GOMAXPROCS(0), len(docs)/64+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(docs); i += workers {
				decodeDoc(i)
			}
		})
	}
	wg.Wait()
	p := &Policy{}
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

// roomyDecode is the size of input from which Decode gives the garbage
// collector more room.
const roomyDecode = 1 << 20

var (
	roomyMu    sync.Mutex
	roomyUsers int
	roomySaved int
)

// roomyGC lets the heap grow to 5 times what is live (GOGC=400, unless it
// is set higher) until the returned function is called: decoding YAML
// makes a node tree per document that is garbage once read, and
// collecting it four times less often takes a third off the decoding's
// CPU time (BENCHMARKS.md), for a peak heap about the size the previous
// decoder reached. Concurrent decodes share the setting; the last restores
// it.
func roomyGC() func() {
	roomyMu.Lock()
	defer roomyMu.Unlock()
	if roomyUsers++; roomyUsers == 1 {
		roomySaved = debug.SetGCPercent(400)
		if roomySaved > 400 || roomySaved < 0 {
			debug.SetGCPercent(roomySaved)
		}
	}
	return func() {
		roomyMu.Lock()
		defer roomyMu.Unlock()
		if roomyUsers--; roomyUsers == 0 {
			debug.SetGCPercent(roomySaved)
		}
	}
}

// splitDocuments splits a YAML stream where k8s.io/apimachinery's
// YAMLReader (kubectl's) does: at lines that start with "---" followed by
// nothing but spaces or a comment. Like it, it returns every document that
// holds at least a line, and an error for a separator followed by
// anything else.
func splitDocuments(data []byte) ([][]byte, error) {
	if bytes.IndexByte(data, '\r') >= 0 {
		// Lines end in \r\n: the reader's own line handling.
		var docs [][]byte
		r := utilyaml.NewYAMLReader(bufioReader(data))
		for {
			raw, err := r.Read()
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			if err != nil {
				return docs, err
			}
			docs = append(docs, raw)
		}
	}
	var docs [][]byte
	start := 0
	for pos := 0; pos < len(data); {
		end := bytes.IndexByte(data[pos:], '\n')
		next := pos + end + 1
		if end < 0 {
			end, next = len(data)-pos, len(data)
		}
		line := data[pos : pos+end]
		if bytes.HasPrefix(line, docSeparator) {
			if t := bytes.TrimSpace(line[len(docSeparator):]); len(t) > 0 && t[0] != '#' {
				return docs, fmt.Errorf("invalid Yaml document separator: %s", t)
			}
			if pos > start {
				docs = append(docs, data[start:pos])
			}
			start = next
		}
		pos = next
	}
	if start < len(data) {
		docs = append(docs, data[start:])
	}
	return docs, nil
}

var docSeparator = []byte("---")

// hasContent reports whether a document holds more than blank lines and
// comments.
func hasContent(doc []byte) bool {
	for len(doc) > 0 {
		line := doc
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			line, doc = doc[:i], doc[i+1:]
		} else {
			doc = nil
		}
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			return true
		}
	}
	return false
}

// decodeNode decodes a YAML document through its node tree, unless it
// holds something only the reference decoder reads exactly (then handled
// is false and nothing was added).
func (p *Policy) decodeNode(raw []byte, source string, opts DecodeOptions) (handled bool, err error) {
	if bytes.IndexByte(raw, '!') >= 0 {
		return false, nil // tags, which YAML 1.1 and 1.2 resolve differently
	}
	var doc yamlv3.Node
	if yamlv3.Unmarshal(raw, &doc) != nil || doc.Kind != yamlv3.DocumentNode || len(doc.Content) != 1 {
		return false, nil
	}
	d := nodeReader{ok: true}
	err = p.nodeObject(&d, doc.Content[0], source, opts, 0)
	if err != nil && d.ok && !jsonable(doc.Content[0]) {
		// The reference would fail on the document as a whole first.
		return false, nil
	}
	return d.ok, err
}

func (p *Policy) nodeObject(d *nodeReader, n *yamlv3.Node, source string, opts DecodeOptions, depth int) error {
	if isNull(n) {
		return nil
	}
	apiVersion, kind, items, isList := d.typeMeta(n)
	if !d.ok {
		return nil
	}
	group, version := splitAPIVersion(apiVersion)
	if strings.HasSuffix(kind, "List") && isList {
		if group == rbacv1.GroupName && version != "v1" {
			return unsupportedVersion(apiVersion, "")
		}
		if depth >= maxListDepth {
			return errors.New("lists nested too deep")
		}
		for i, item := range items {
			err := p.nodeObject(d, item, source+".items["+strconv.Itoa(i)+"]", opts, depth+1)
			if !d.ok {
				return nil
			}
			if err != nil {
				return fmt.Errorf("items[%d]: %w", i, err)
			}
		}
		return nil
	}
	for _, item := range items {
		if !jsonable(item) {
			d.fail()
			return nil
		}
	}
	if group != rbacv1.GroupName {
		return nil
	}
	if version != "v1" {
		return unsupportedVersion(apiVersion, kind)
	}
	obj := d.object(n, kind)
	if !d.ok {
		return nil
	}
	return p.addDecoded(obj, kind, source, opts)
}

func splitAPIVersion(apiVersion string) (group, version string) {
	if g, v, ok := strings.Cut(apiVersion, "/"); ok {
		return g, v
	}
	return "", apiVersion
}

// maxListDepth bounds Lists nested in Lists.
const maxListDepth = 8

func (p *Policy) decodeObject(js []byte, source string, opts DecodeOptions, depth int) error {
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
	group, version := splitAPIVersion(tm.APIVersion)
	if strings.HasSuffix(tm.Kind, "List") && tm.Items != nil {
		if group == rbacv1.GroupName && version != "v1" {
			return unsupportedVersion(tm.APIVersion, "")
		}
		if depth >= maxListDepth {
			return errors.New("lists nested too deep")
		}
		for i, item := range tm.Items {
			if err := p.decodeObject(item, fmt.Sprintf("%s.items[%d]", source, i), opts, depth+1); err != nil {
				return fmt.Errorf("items[%d]: %w", i, err)
			}
		}
		return nil
	}
	if group != rbacv1.GroupName {
		return nil
	}
	if version != "v1" {
		return unsupportedVersion(tm.APIVersion, tm.Kind)
	}
	var obj any
	switch tm.Kind {
	case KindRole:
		obj = &rbacv1.Role{}
	case KindClusterRole:
		obj = &rbacv1.ClusterRole{}
	case KindRoleBinding:
		obj = &rbacv1.RoleBinding{}
	case KindClusterRoleBinding:
		obj = &rbacv1.ClusterRoleBinding{}
	default:
		return fmt.Errorf("unknown kind %s in %s", tm.Kind, tm.APIVersion)
	}
	if err := strict(js, obj, tm.Kind); err != nil {
		return err
	}
	return p.addDecoded(obj, tm.Kind, source, opts)
}

// addDecoded defaults a decoded object as the API server would (the
// manifest namespace for namespaced objects, none for cluster-scoped ones,
// subjects' API groups) and appends it.
func (p *Policy) addDecoded(obj any, kind, source string, opts DecodeOptions) error {
	var r Ref
	switch o := obj.(type) {
	case *rbacv1.Role:
		if o.Namespace == "" {
			o.Namespace = opts.Namespace
		}
		r = Ref{KindRole, o.Namespace, o.Name}
		p.Roles = append(p.Roles, *o)
	case *rbacv1.ClusterRole:
		o.Namespace = ""
		r = Ref{KindClusterRole, "", o.Name}
		p.ClusterRoles = append(p.ClusterRoles, *o)
	case *rbacv1.RoleBinding:
		if o.Namespace == "" {
			o.Namespace = opts.Namespace
		}
		defaultSubjects(o.Subjects)
		r = Ref{KindRoleBinding, o.Namespace, o.Name}
		p.RoleBindings = append(p.RoleBindings, *o)
	case *rbacv1.ClusterRoleBinding:
		o.Namespace = ""
		defaultSubjects(o.Subjects)
		r = Ref{KindClusterRoleBinding, "", o.Name}
		p.ClusterRoleBindings = append(p.ClusterRoleBindings, *o)
	}
	if r.Name == "" {
		return fmt.Errorf("%s without metadata.name", kind)
	}
	p.setSource(r, source)
	return nil
}

// defaultSubjects fills a subject's apiGroup as the API server's defaulting
// does: rbac.authorization.k8s.io for users and groups.
func defaultSubjects(ss []rbacv1.Subject) {
	for i := range ss {
		if ss[i].APIGroup == "" && (ss[i].Kind == rbacv1.UserKind || ss[i].Kind == rbacv1.GroupKind) {
			ss[i].APIGroup = rbacv1.GroupName
		}
	}
}

func strict(js []byte, v any, kind string) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid %s: %w", kind, err)
	}
	return nil
}

func bufioReader(data []byte) *bufio.Reader {
	return bufio.NewReaderSize(bytes.NewReader(data), 64<<10)
}
