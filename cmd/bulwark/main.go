// Command bulwark builds, proves and keeps the security of a Kubernetes
// control plane. See internal/cli for the commands and exit codes.
package main

import (
	"os"

	"github.com/bulwark-k8s/bulwark/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
