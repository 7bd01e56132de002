package render_test

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/render"
)

// TestServiceAccounts decodes the manifest strictly with the real API type:
// one default ServiceAccount per quiet namespace, in table order, each with
// token automount off.
func TestServiceAccounts(t *testing.T) {
	data, err := render.ServiceAccounts()
	if err != nil {
		t.Fatal(err)
	}
	docs := bytes.Split(data, []byte("---\n"))
	namespaces := plan.QuietNamespaces()
	if len(docs) != len(namespaces) {
		t.Fatalf("%d documents, want %d", len(docs), len(namespaces))
	}
	for i, doc := range docs {
		var sa corev1.ServiceAccount
		if err := yaml.UnmarshalStrict(doc, &sa); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		if sa.APIVersion != "v1" || sa.Kind != "ServiceAccount" || sa.Name != "default" || sa.Namespace != namespaces[i] {
			t.Errorf("document %d: %s %s %s/%s", i, sa.APIVersion, sa.Kind, sa.Namespace, sa.Name)
		}
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("%s/default: automountServiceAccountToken %v, want false", sa.Namespace, sa.AutomountServiceAccountToken)
		}
		if sa.Labels["app.kubernetes.io/managed-by"] != "bulwark" || sa.Annotations["bulwark.dev/why"] == "" {
			t.Errorf("%s/default: labels %v annotations %v", sa.Namespace, sa.Labels, sa.Annotations)
		}
	}
}
