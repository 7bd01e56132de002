// Command etcd is the real etcd server, built from the pinned
// go.etcd.io/etcd/server/v3 module for bulwark's tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
