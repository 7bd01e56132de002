package provision_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/store"
)

// Build a whole control-plane PKI in a folder, run again (everything is
// kept), then see Init refuse a folder whose API server certificate no
// longer covers the configuration.
func ExampleInit() {
	root, err := os.MkdirTemp("", "bulwark-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)

	cfg, err := config.Parse([]byte(`apiVersion: bulwark.dev/v1alpha1
kind: ClusterConfig
controlPlane:
  - {name: cp-1, ips: [10.0.0.11]}
etcdMembers:
  - {name: cp-1, ips: [10.0.0.11]}
`), "unused-hostname")
	if err != nil {
		panic(err)
	}
	p, err := plan.New(cfg)
	if err != nil {
		panic(err)
	}
	d, err := store.Open(root)
	if err != nil {
		panic(err)
	}
	unlock, err := d.Lock(0) // one run at a time per folder
	if err != nil {
		panic(err)
	}
	defer unlock()

	sum, err := provision.Init(d, p, provision.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println("first run: created", sum.Count(provision.Created))
	sum, err = provision.Init(d, p, provision.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println("second run: kept", sum.Count(provision.Kept), "created", sum.Count(provision.Created))

	// A new control-plane address: the API server certificate no longer fits.
	cfg.ControlPlane[0].IPs = append(cfg.ControlPlane[0].IPs, "10.0.0.99")
	p, err = plan.New(cfg)
	if err != nil {
		panic(err)
	}
	_, err = provision.Init(d, p, provision.Options{})
	var pr *provision.Problem
	if errors.As(err, &pr) {
		fmt.Println(pr.File+":", pr.Reason)
		fmt.Println("fix:", pr.Fix)
	}
	if _, err := provision.Renew(d, p, []string{"apiserver"}, false, provision.Options{}); err != nil {
		panic(err)
	}
	sum, err = provision.Init(d, p, provision.Options{})
	fmt.Println("after renew: kept", sum.Count(provision.Kept), err)
	// Output:
	// first run: created 33
	// second run: kept 33 created 0
	// pki/apiserver.crt: does not cover 10.0.0.99
	// fix: bulwark certs renew apiserver
	// after renew: kept 33 <nil>
}
