package bootstraptoken

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
)

// Client reads and writes bootstrap token Secrets of a live cluster.
type Client struct{ rc *rest.RESTClient }

// coreScheme knows the core/v1 types only: the client needs Secrets, and
// the full client-go scheme (every API group) costs every bulwark command
// its registration at start-up.
var coreScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(s))
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s
}()

// NewClient connects with a kubeconfig file.
func NewClient(kubeconfigPath string) (*Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return nil, fmt.Errorf("failed to load kubeconfig %q: %w", kubeconfigPath, err)
	}
	cfg.APIPath = "/api"
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(coreScheme).WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to build a client from %q: %w", kubeconfigPath, err)
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
