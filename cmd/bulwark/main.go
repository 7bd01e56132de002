// Command bulwark builds, proves and keeps the security of a Kubernetes
// control plane. See cli for the commands and exit codes.
package main

import (
	"os"
	"runtime/debug"

	"github.com/bulwark-k8s/bulwark/cli"
)

// gcPercent is the garbage collector's target, unless GOGC says otherwise.
// Most commands run for tens of milliseconds on a heap of a few MiB, where
// the default (100) collects several times a run; the largest heap,
// RBAC's compiled 100k-rule policy, stays under a GiB at this setting.
const gcPercent = 400

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
