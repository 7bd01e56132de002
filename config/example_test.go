package config_test

import (
	"errors"
	"fmt"

	"github.com/bulwark-k8s/bulwark/config"
)

// Parse fills the defaults: one node named after this host, on loopback.
func ExampleParse() {
	c, err := config.Parse([]byte("apiVersion: bulwark.dev/v1alpha1\nkind: ClusterConfig\n"), "node-a")
	if err != nil {
		panic(err)
	}
	fmt.Println(c.APIServerURL(), c.ControlPlane[0].Name, c.ControlPlane[0].IPs, c.ServiceIPs(), c.Validity.Leaf, c.KeyAlgorithm)
	// Output:
	// https://127.0.0.1:6443 node-a [127.0.0.1] [10.96.0.1] 365d ecdsa-p256
}

// Errors name the line and the field, and suggest what a misspelt field
// most likely meant.
func ExampleError() {
	_, err := config.Parse([]byte(`apiVersion: bulwark.dev/v1alpha1
kind: ClusterConfig
controlPlane:
  - name: cp-1
    ip: [10.0.0.11]
`), "node-a")
	fmt.Println(err)
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Println(ce.Line, ce.Field, errors.Is(err, config.ErrUnknownField))
	}
	// Output:
	// line 5: controlPlane[0].ip: unknown field (did you mean "ips"?)
	// 5 controlPlane[0].ip true
}
