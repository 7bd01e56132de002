package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/internal/kubeclient"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/rbac"
)

// DefaultSAAutomountID is the finding for a namespace whose default
// ServiceAccount gives every Pod that runs as it an API token.
const DefaultSAAutomountID, defaultSAAutomountCIS = "cluster:default-sa-automount", "5.1.5"

// maxTokenLife is the longest a bootstrap token may live before it counts
// as long-lived (kubeadm's and bulwark's default is 24h).
const maxTokenLife = 7 * 24 * time.Hour

// clusterComponent is the Component of findings about cluster objects.
const clusterComponent = "cluster"

func (l *live) clusterObjects(ctx context.Context) {
	rc, err := kubeclient.Core(l.opts.Kubeconfig)
	if err != nil {
		l.unreachable(clusterComponent, "the cluster's objects", l.opts.Kubeconfig, err)
		return
	}
	sel := fields.OneTermEqualSelector("metadata.name", "default").String()
	var sas []corev1.ServiceAccount
	for cont := ""; ; {
		page := &corev1.ServiceAccountList{}
		req := rc.Get().Resource("serviceaccounts").Param("fieldSelector", sel).Param("limit", "500")
		if cont != "" {
			req = req.Param("continue", cont)
		}
		if err := req.Do(ctx).Into(page); err != nil {
			l.unreachable(clusterComponent, "the cluster's ServiceAccounts", rc.Get().Resource("serviceaccounts").URL().String(), err)
			return
		}
		sas = append(sas, page.Items...)
		if cont = page.Continue; cont == "" {
			break
		}
	}
	l.checked(DefaultSAAutomountID)
	endpoint := rc.Get().Resource("serviceaccounts").URL().String()
	for _, sa := range sas {
		if f, ok := automount(sa, Evidence{Endpoint: endpoint}); ok {
			l.add(f)
		}
	}
}

// automount judges a default ServiceAccount.
func automount(sa corev1.ServiceAccount, ev Evidence) (Finding, bool) {
	if sa.Name != "default" || sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken {
		return Finding{}, false
	}
	state := "unset (the default is true)"
	if sa.AutomountServiceAccountToken != nil {
		state = "true"
	}
	ev.Object = "ServiceAccount " + sa.Namespace + "/default"
	ev.Detail = "automountServiceAccountToken " + state
	f := Rules().New(DefaultSAAutomountID, ev)
	f.Component = clusterComponent
	f.Remediation = fmt.Sprintf("kubectl -n %s patch serviceaccount default -p '{\"automountServiceAccountToken\": false}', and give Pods that need the API a ServiceAccount of their own (bulwark init writes %s for %s)",
		sa.Namespace, plan.ServiceAccountsManifestFile, strings.Join(plan.QuietNamespaces(), ", "))
	return f, true
}

// checkClusterObjects judges the objects under cluster/, as they would be
// applied: bootstrap tokens (expiry), legacy service-account token
// Secrets, default ServiceAccounts, and every RoleBinding and
// ClusterRoleBinding through rbac lint (over the built-in policy, so that
// the roles they name resolve).
func (a *auditor) checkClusterObjects() {
	files, err := a.dir.Walk(layout.ClusterObjectsDir)
	if err != nil || len(files) == 0 {
		return
	}
	policy := rbac.Builtin()
	for _, rel := range files {
		if layout.Classify(rel) != layout.ClusterObject && layout.Classify(rel) != layout.TokenSecret {
			continue
		}
		// Cluster objects are plaintext; bootstrap token Secrets are
		// secrets, sealed in an encrypted folder.
		read := a.dir.Read
		if layout.Classify(rel).Secret() {
			read = a.dir.ReadSecret
		}
		data, err := read(rel)
		if errors.Is(err, atrest.ErrLocked) {
			continue // said once by admins' secrets-skipped
		}
		if err != nil {
			a.r.Add(newFinding(idClusterUnreadable, nil, Evidence{File: rel, Detail: err.Error()}))
			continue
		}
		a.r.Check(idClusterUnreadable)
		if err := a.objects(rel, data); err != nil {
			a.r.Add(newFinding(idClusterUnreadable, nil, Evidence{File: rel, Detail: err.Error()}))
			continue
		}
		p, err := rbac.Decode(data, rel, rbac.DecodeOptions{})
		if err != nil {
			a.r.Add(newFinding(idClusterUnreadable, nil, Evidence{File: rel, Detail: err.Error()}))
			continue
		}
		policy.Merge(p)
	}
	rep := rbac.Compile(policy, rbac.Options{}).Lint(rbac.LintOptions{KubeletClients: a.kubeletClients()})
	lint := rep.Report()
	for _, ru := range lint.Rules().All() {
		a.r.Check(ru.ID)
	}
	for _, f := range lint.Findings {
		f.Component = clusterComponent
		a.r.Add(f)
	}
}

// objects judges the Secrets and ServiceAccounts of one manifest file.
func (a *auditor) objects(rel string, data []byte) error {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for doc := 1; ; doc++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("document %d: %w", doc, err)
		}
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(raw, &meta); err != nil {
			return fmt.Errorf("document %d: %w", doc, err)
		}
		switch meta.Kind {
		case "Secret":
			var s corev1.Secret
			if err := yaml.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("document %d: %w", doc, err)
			}
			a.secret(rel, s)
		case "ServiceAccount":
			var sa corev1.ServiceAccount
			if err := yaml.Unmarshal(raw, &sa); err != nil {
				return fmt.Errorf("document %d: %w", doc, err)
			}
			a.r.Check(DefaultSAAutomountID)
			if f, ok := automount(sa, Evidence{File: rel}); ok {
				a.r.Add(f)
			}
		}
	}
}

// secretValue reads a Secret's key from data or stringData.
func secretValue(s corev1.Secret, key string) (string, bool) {
	if v, ok := s.StringData[key]; ok {
		return v, true
	}
	v, ok := s.Data[key]
	return string(v), ok
}

func (a *auditor) secret(rel string, s corev1.Secret) {
	obj := "Secret " + s.Namespace + "/" + s.Name
	switch s.Type {
	case bootstrapapi.SecretTypeBootstrapToken:
		a.r.Check(idTokenGroups)
		if groups, ok := secretValue(s, bootstrapapi.BootstrapTokenExtraGroupsKey); ok {
			for _, g := range strings.Split(groups, ",") {
				if g = strings.TrimSpace(g); g != "" && bootstraputil.ValidateBootstrapGroupName(g) != nil {
					a.r.Add(newFinding(idTokenGroups, nil, Evidence{File: rel, Object: obj, Detail: bootstrapapi.BootstrapTokenExtraGroupsKey + " includes " + g}))
					break
				}
			}
		}
		a.r.Check(idTokenNoExpiry)
		exp, ok := secretValue(s, bootstrapapi.BootstrapTokenExpirationKey)
		if !ok || strings.TrimSpace(exp) == "" {
			a.r.Add(newFinding(idTokenNoExpiry, nil, Evidence{File: rel, Object: obj, Detail: "no " + bootstrapapi.BootstrapTokenExpirationKey}))
			return
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(exp))
		if err != nil {
			a.r.Add(newFinding(idTokenNoExpiry, nil, Evidence{File: rel, Object: obj, Detail: "expiration " + exp + " is not RFC 3339: the API server treats the token as expired, tokencleaner never removes it"}))
			return
		}
		a.r.Check(idTokenLongLived)
		if t.Sub(a.opts.Now) > maxTokenLife {
			a.r.Add(newFinding(idTokenLongLived, nil, Evidence{File: rel, Object: obj, Detail: "expires " + t.UTC().Format(time.RFC3339) + ", more than 7 days away"}))
		}
	case corev1.SecretTypeServiceAccountToken:
		a.r.Check(idSATokenSecret)
		a.r.Add(newFinding(idSATokenSecret, nil, Evidence{File: rel, Object: obj, Detail: "type " + string(s.Type) + " for ServiceAccount " + s.Annotations[corev1.ServiceAccountNameKey]}))
	}
}

// kubeletClients are the users the API servers reach kubelets as: the CN
// of each --kubelet-client-certificate, and the plan's.
func (a *auditor) kubeletClients() []string {
	out := []string{plan.UserKubeletClient}
	for _, node := range a.nodeNames() {
		if c := findIn(a.nodes[node], hardening.APIServer); c != nil && c.Given("kubelet-client-certificate") {
			if certs := a.loadCerts(a.local(c.Flags["kubelet-client-certificate"].Value)); len(certs) > 0 {
				out = append(out, certs[0].Subject.CommonName)
			}
		}
	}
	return out
}
