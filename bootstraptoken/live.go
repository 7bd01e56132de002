package bootstraptoken

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
)

// Client reads and writes bootstrap token Secrets of a live cluster.
type Client struct{ cs kubernetes.Interface }

// NewClient connects with a kubeconfig file.
func NewClient(kubeconfigPath string) (*Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return nil, fmt.Errorf("failed to load kubeconfig %q: %w", kubeconfigPath, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to build a client from %q: %w", kubeconfigPath, err)
	}
	return &Client{cs: cs}, nil
}

// Create stores the token's Secret in kube-system.
func (c *Client) Create(ctx context.Context, t Token) error {
	_, err := c.cs.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, t.ToSecret(), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("failed to create Secret %s/%s: %w", metav1.NamespaceSystem, t.SecretName(), err)
	}
	return nil
}

// List returns every bootstrap token of the cluster, by ID. Secrets that do
// not parse are reported, not skipped silently.
func (c *Client) List(ctx context.Context) ([]Token, error) {
	sel := fields.OneTermEqualSelector("type", string(bootstrapapi.SecretTypeBootstrapToken)).String()
	list, err := c.cs.CoreV1().Secrets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("failed to list bootstrap token Secrets: %w", err)
	}
	var out []Token
	for i := range list.Items {
		t, err := FromSecret(&list.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Delete removes a token's Secret.
func (c *Client) Delete(ctx context.Context, id string) error {
	if !bootstraputil.IsValidBootstrapTokenID(id) {
		return fmt.Errorf("invalid token ID %q (want 6 characters [a-z0-9])", id)
	}
	name := bootstraputil.BootstrapTokenSecretName(id)
	err := c.cs.CoreV1().Secrets(metav1.NamespaceSystem).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("no bootstrap token %q in the cluster", id)
	}
	if err != nil {
		return fmt.Errorf("failed to delete Secret %s/%s: %w", metav1.NamespaceSystem, name, err)
	}
	return nil
}
