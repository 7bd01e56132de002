// Package kubeclient builds REST clients for the few API groups bulwark
// talks to. Each knows only the types it is given: the full client-go
// scheme (every API group) would cost every bulwark command its
// registration at start-up.
package kubeclient

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrLoad marks a kubeconfig that cannot be read or is not one: a bad
// argument, not a cluster that did not answer.
var ErrLoad = errors.New("cannot use kubeconfig")

// Load reads a kubeconfig file's current context.
func Load(kubeconfigPath string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "couldn't get version/kind") {
			msg = "not a kubeconfig (not a YAML mapping with apiVersion and kind)"
		}
		return nil, fmt.Errorf("%w %q: %s", ErrLoad, kubeconfigPath, msg)
	}
	return cfg, nil
}

// Scheme is a scheme of the given types' groups, with the meta/v1 types
// (Status, list options) every client needs.
func Scheme(add ...func(*runtime.Scheme) error) *runtime.Scheme {
	s := runtime.NewScheme()
	for _, f := range add {
		utilruntime.Must(f(s))
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s
}

// For is a client of one group version, decoding with scheme.
func For(cfg *rest.Config, gv schema.GroupVersion, scheme *runtime.Scheme) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.APIPath = "/apis"
	if gv.Group == "" {
		c.APIPath = "/api"
	}
	c.GroupVersion = &gv
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if c.QPS == 0 {
		c.QPS, c.Burst = 50, 100
	}
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("failed to build a client for %s: %w", cfg.Host, err)
	}
	return rc, nil
}

var coreScheme = Scheme(corev1.AddToScheme)

// Core is a core/v1 client from a kubeconfig file.
func Core(kubeconfigPath string) (*rest.RESTClient, error) {
	cfg, err := Load(kubeconfigPath)
	if err != nil {
		return nil, err
	}
	return For(cfg, corev1.SchemeGroupVersion, coreScheme)
}
