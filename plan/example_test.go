package plan_test

import (
	"fmt"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/plan"
)

// Resolve the tables for a one-node cluster and list what init would
// write, with who signs each certificate.
func ExamplePlan_Items() {
	c, err := config.Parse([]byte(`apiVersion: bulwark.dev/v1alpha1
kind: ClusterConfig
controlPlane:
  - {name: cp-1, ips: [10.0.0.11]}
`), "unused-hostname")
	if err != nil {
		panic(err)
	}
	p, err := plan.New(c)
	if err != nil {
		panic(err)
	}
	for _, it := range p.Items() {
		ca := it.CA
		if ca == "" {
			ca = "-"
		}
		fmt.Printf("%-24s %-11s %s\n", it.Name, it.Kind, ca)
	}
	// Output:
	// ca                       ca          -
	// etcd/ca                  ca          -
	// etcd/peer-ca             ca          -
	// front-proxy-ca           ca          -
	// sa                       key-pair    -
	// apiserver                certificate ca
	// apiserver-kubelet-client certificate ca
	// front-proxy-client       certificate front-proxy-ca
	// apiserver-etcd-client    certificate etcd/ca
	// etcd/healthcheck-client  certificate etcd/ca
	// etcd/server              certificate etcd/ca
	// etcd/peer                certificate etcd/peer-ca
	// admin                    kubeconfig  ca
	// super-admin              kubeconfig  ca
	// controller-manager       kubeconfig  ca
	// scheduler                kubeconfig  ca
	// bootstrap-kubelet        kubeconfig  -
	// bootstrap-token          manifest    -
	// rbac                     manifest    -
	// service-accounts         manifest    -
}

// The API server's serving certificate covers the in-cluster names, the
// first Service IP, the endpoint and every control-plane node.
func ExampleNew() {
	c, err := config.Parse([]byte(`apiVersion: bulwark.dev/v1alpha1
kind: ClusterConfig
apiEndpoint: 10.0.0.10:6443
controlPlane:
  - {name: cp-1, ips: [10.0.0.11]}
  - {name: cp-2, ips: [10.0.0.12]}
`), "unused-hostname")
	if err != nil {
		panic(err)
	}
	p, err := plan.New(c)
	if err != nil {
		panic(err)
	}
	for _, cert := range p.Certs {
		if cert.Name == "apiserver" {
			fmt.Println(cert.Subject.CommonName, cert.Usages)
			fmt.Println(plan.SANStrings(cert.Subject))
		}
	}
	// Output:
	// kube-apiserver [server]
	// [kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local cp-1 cp-2 10.96.0.1 10.0.0.10 10.0.0.11 10.0.0.12]
}
