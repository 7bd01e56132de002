// Package live reads the RBAC policy of a running cluster and who the
// caller is, for package rbac. It speaks to the API server through a REST
// client that knows the rbac.authorization.k8s.io/v1 and
// authentication.k8s.io/v1 types only: the full client-go scheme would cost
// every bulwark command its registration at start-up.
package live

import (
	"context"
	"fmt"

	authnv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/rbac"
)

// Source is the Policy.Sources value of objects read from a cluster.
const Source = "cluster"

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(rbacv1.AddToScheme(s))
	utilruntime.Must(authnv1.AddToScheme(s))
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s
}()

// Client reads one cluster.
type Client struct {
	rbac, authn *rest.RESTClient
	host        string
}

// NewClient connects with a kubeconfig file.
func NewClient(kubeconfigPath string) (*Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return nil, fmt.Errorf("failed to load kubeconfig %q: %w", kubeconfigPath, err)
	}
	return NewForConfig(cfg)
}

// NewForConfig connects with a REST configuration.
func NewForConfig(cfg *rest.Config) (*Client, error) {
	mk := func(gv schema.GroupVersion) (*rest.RESTClient, error) {
		c := rest.CopyConfig(cfg)
		c.APIPath = "/apis"
		c.GroupVersion = &gv
		c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
		if c.QPS == 0 {
			c.QPS, c.Burst = 50, 100
		}
		return rest.RESTClientFor(c)
	}
	r, err := mk(rbacv1.SchemeGroupVersion)
	if err != nil {
		return nil, fmt.Errorf("failed to build a client for %s: %w", cfg.Host, err)
	}
	a, err := mk(authnv1.SchemeGroupVersion)
	if err != nil {
		return nil, fmt.Errorf("failed to build a client for %s: %w", cfg.Host, err)
	}
	return &Client{rbac: r, authn: a, host: cfg.Host}, nil
}

// pageSize is the number of objects asked for per list call.
const pageSize = 500

// Policy reads every Role, ClusterRole, RoleBinding and ClusterRoleBinding.
// ClusterRoles come with the rules the aggregation controller stored;
// rbac.Compile recomputes them the same way.
func (c *Client) Policy(ctx context.Context) (*rbac.Policy, error) {
	p := &rbac.Policy{}
	if err := list(ctx, c, "clusterroles", p, func(l *rbacv1.ClusterRoleList) []rbacv1.ClusterRole { return l.Items }); err != nil {
		return nil, err
	}
	if err := list(ctx, c, "clusterrolebindings", p, func(l *rbacv1.ClusterRoleBindingList) []rbacv1.ClusterRoleBinding { return l.Items }); err != nil {
		return nil, err
	}
	if err := list(ctx, c, "roles", p, func(l *rbacv1.RoleList) []rbacv1.Role { return l.Items }); err != nil {
		return nil, err
	}
	if err := list(ctx, c, "rolebindings", p, func(l *rbacv1.RoleBindingList) []rbacv1.RoleBinding { return l.Items }); err != nil {
		return nil, err
	}
	return p, nil
}

// list reads every page of one resource into p, each page into a fresh
// list so that no object shares memory with the next page's.
func list[L any, PL interface {
	*L
	runtime.Object
	GetContinue() string
}, T any](ctx context.Context, c *Client, resource string, p *rbac.Policy, items func(PL) []T) error {
	cont := ""
	for {
		page := PL(new(L))
		req := c.rbac.Get().Resource(resource).Param("limit", fmt.Sprint(pageSize))
		if cont != "" {
			req = req.Param("continue", cont)
		}
		if err := req.Do(ctx).Into(page); err != nil {
			return fmt.Errorf("failed to list %s on %s: %w", resource, c.host, err)
		}
		objs := items(page)
		for i := range objs {
			if err := p.Add(&objs[i], Source); err != nil {
				return err
			}
		}
		if cont = page.GetContinue(); cont == "" {
			return nil
		}
	}
}

// WhoAmI asks the API server who the client's credentials authenticate as
// (a SelfSubjectReview), with every group it puts them in.
func (c *Client) WhoAmI(ctx context.Context) (rbac.User, error) {
	var r authnv1.SelfSubjectReview
	if err := c.authn.Post().Resource("selfsubjectreviews").Body(&authnv1.SelfSubjectReview{}).Do(ctx).Into(&r); err != nil {
		return rbac.User{}, fmt.Errorf("failed to ask %s who the kubeconfig authenticates as: %w", c.host, err)
	}
	return rbac.User{Name: r.Status.UserInfo.Username, Groups: r.Status.UserInfo.Groups}, nil
}
