package render

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bulwark-k8s/bulwark/plan"
)

// Why the default ServiceAccounts are written.
const defaultSAWhy = "Pods that run as the default ServiceAccount get no API token unless their spec asks for one (CIS 5.1.5)"

// DefaultServiceAccounts are the default ServiceAccounts of
// plan.QuietNamespaces, with token automount off.
func DefaultServiceAccounts() []corev1.ServiceAccount {
	var out []corev1.ServiceAccount
	off := false
	for _, ns := range plan.QuietNamespaces() {
		out = append(out, corev1.ServiceAccount{
			TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta:                   objectMeta("default", ns, defaultSAWhy),
			AutomountServiceAccountToken: &off,
		})
	}
	return out
}

// ServiceAccounts is the multi-document manifest of DefaultServiceAccounts.
func ServiceAccounts() ([]byte, error) {
	sas := DefaultServiceAccounts()
	return documents(len(sas), func(i int) (any, string) { return sas[i], "ServiceAccount " + sas[i].Namespace + "/" + sas[i].Name })
}
