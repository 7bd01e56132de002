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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/bulwark-k8s/bulwark/internal/kubeclient"
	"github.com/bulwark-k8s/bulwark/rbac"
)

// Source is the Policy.Sources value of objects read from a cluster.
const Source = "cluster"

var scheme = kubeclient.Scheme(rbacv1.AddToScheme, authnv1.AddToScheme)

// Client reads one cluster.
type Client struct {
	rbac, authn *rest.RESTClient
	host        string
}

// NewClient connects with a kubeconfig file.
func NewClient(kubeconfigPath string) (*Client, error) {
	cfg, err := kubeclient.Load(kubeconfigPath)
	if err != nil {
		return nil, err
	}
	return NewForConfig(cfg)
}

// NewForConfig connects with a REST configuration.
func NewForConfig(cfg *rest.Config) (*Client, error) {
	r, err := kubeclient.For(cfg, rbacv1.SchemeGroupVersion, scheme)
	if err != nil {
		return nil, err
	}
	a, err := kubeclient.For(cfg, authnv1.SchemeGroupVersion, scheme)
	if err != nil {
		return nil, err
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
