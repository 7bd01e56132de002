package build_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/bulwark-k8s/bulwark/build"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/plan"
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

	sum, err := build.Init(d, p, build.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println("first run: created", sum.Count(build.Created))
	sum, err = build.Init(d, p, build.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println("second run: kept", sum.Count(build.Kept), "created", sum.Count(build.Created))

	// A new control-plane address: the API server certificate no longer fits.
	cfg.ControlPlane[0].IPs = append(cfg.ControlPlane[0].IPs, "10.0.0.99")
	p, err = plan.New(cfg)
	if err != nil {
		panic(err)
	}
	_, err = build.Init(d, p, build.Options{})
	var pr *build.Problem
	if errors.As(err, &pr) {
		fmt.Println(pr.File+":", pr.Reason)
		fmt.Println("fix:", pr.Fix)
	}
	if _, err := build.Renew(d, p, []string{"apiserver"}, false, build.Options{}); err != nil {
		panic(err)
	}
	sum, err = build.Init(d, p, build.Options{})
	fmt.Println("after renew: kept", sum.Count(build.Kept), err)
	// Output:
	// first run: created 32
	// second run: kept 32 created 0
	// pki/apiserver.crt: does not cover 10.0.0.99
	// fix: bulwark certs renew apiserver
	// after renew: kept 32 <nil>
}
