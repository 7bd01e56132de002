package bootstraptoken

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"

	"github.com/bulwark-k8s/bulwark/internal/kubeclient"
)

// Client reads and writes bootstrap token Secrets of a live cluster.
type Client struct{ rc *rest.RESTClient }

// NewClient connects with a kubeconfig file.
func NewClient(kubeconfigPath string) (*Client, error) {
	rc, err := kubeclient.Core(kubeconfigPath)
	if err != nil {
		return nil, err
	}
	return &Client{rc: rc}, nil
}

// Create stores the token's Secret in kube-system.
func (c *Client) Create(ctx context.Context, t Token) error {
	err := c.rc.Post().Namespace(metav1.NamespaceSystem).Resource("secrets").Body(t.ToSecret()).Do(ctx).Error()
	if err != nil {
		return fmt.Errorf("failed to create Secret %s/%s: %w", metav1.NamespaceSystem, t.SecretName(), err)
	}
	return nil
}

// List returns every bootstrap token of the cluster, by ID. Secrets that do
// not parse are reported, not skipped silently.
func (c *Client) List(ctx context.Context) ([]Token, error) {
	sel := fields.OneTermEqualSelector("type", string(bootstrapapi.SecretTypeBootstrapToken)).String()
	list := &corev1.SecretList{}
	err := c.rc.Get().Namespace(metav1.NamespaceSystem).Resource("secrets").Param("fieldSelector", sel).Do(ctx).Into(list)
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
	err := c.rc.Delete().Namespace(metav1.NamespaceSystem).Resource("secrets").Name(name).Do(ctx).Error()
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("no bootstrap token %q in the cluster", id)
	}
	if err != nil {
		return fmt.Errorf("failed to delete Secret %s/%s: %w", metav1.NamespaceSystem, name, err)
	}
	return nil
}

// SetExpiration changes a token's expiration in its Secret (a merge patch
// of that one field): the API server refuses the token from then on, and
// the controller manager's tokencleaner deletes the Secret.
func (c *Client) SetExpiration(ctx context.Context, id string, at time.Time) error {
	if !bootstraputil.IsValidBootstrapTokenID(id) {
		return fmt.Errorf("invalid token ID %q (want 6 characters [a-z0-9])", id)
	}
	patch, err := json.Marshal(map[string]any{"data": map[string][]byte{
		bootstrapapi.BootstrapTokenExpirationKey: []byte(at.UTC().Format(time.RFC3339)),
	}})
	if err != nil {
		return err
	}
	name := bootstraputil.BootstrapTokenSecretName(id)
	err = c.rc.Patch(types.MergePatchType).Namespace(metav1.NamespaceSystem).Resource("secrets").Name(name).Body(patch).Do(ctx).Error()
	if err != nil {
		return fmt.Errorf("failed to set the expiration of Secret %s/%s: %w", metav1.NamespaceSystem, name, err)
	}
	return nil
}

// Exists reports whether a token's Secret is in the cluster.
func (c *Client) Exists(ctx context.Context, id string) (bool, error) {
	name := bootstraputil.BootstrapTokenSecretName(id)
	err := c.rc.Get().Namespace(metav1.NamespaceSystem).Resource("secrets").Name(name).Do(ctx).Error()
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}
