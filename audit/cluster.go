package audit

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/internal/kubeclient"
	"github.com/bulwark-k8s/bulwark/plan"
)

// DefaultSAAutomountID is the finding for a namespace whose default
// ServiceAccount gives every Pod that runs as it an API token.
const DefaultSAAutomountID, defaultSAAutomountCIS = "cluster:default-sa-automount", "5.1.5"

// clusterComponent is the Component of findings about cluster objects.
const clusterComponent = "cluster"

// clusterObjects reads, with the kubeconfig's own credentials, the objects
// whose settings the seeds ask for and no file on a node shows: the
// default ServiceAccount of every namespace must not automount its token.
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
	l.checked()
	endpoint := rc.Get().Resource("serviceaccounts").URL().String()
	for _, sa := range sas {
		if sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken {
			continue
		}
		state := "unset (the default is true)"
		if sa.AutomountServiceAccountToken != nil {
			state = "true"
		}
		l.add(Finding{ID: DefaultSAAutomountID, Severity: hardening.Low, Component: clusterComponent, CIS: defaultSAAutomountCIS,
			Title:    fmt.Sprintf("the default ServiceAccount of namespace %s automounts its token", sa.Namespace),
			Evidence: Evidence{Endpoint: endpoint, Detail: fmt.Sprintf("ServiceAccount %s/default: automountServiceAccountToken %s", sa.Namespace, state)},
			Remediation: fmt.Sprintf("kubectl -n %s patch serviceaccount default -p '{\"automountServiceAccountToken\": false}', and give Pods that need the API a ServiceAccount of their own (bulwark init writes %s for %s)",
				sa.Namespace, plan.ServiceAccountsManifestFile, strings.Join(plan.QuietNamespaces(), ", "))})
	}
}
