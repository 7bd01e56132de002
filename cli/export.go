package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/export"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/rotate"
)

func newExportCmd(env *Env) *cobra.Command {
	var (
		cf        clusterFlags
		node, out string
		root      string
	)
	cmd := &cobra.Command{
		Use:   "export --node NAME --dir DIR --identity FILE --out OUT [--root /etc/kubernetes]",
		Short: "Write one node's files, decrypted, with their modes: only what the components it runs mount",
		Long: `export writes to OUT what node NAME needs: the static Pod manifests of the components
the configuration runs on it (in OUT/` + layout.ManifestsDir + `/), every file those manifests mount, the
kubelet's configuration and bootstrap kubeconfig and the files they name. Secrets are
decrypted in memory and written in plaintext, mode 0600; nothing is written into DIR,
and OUT may not be inside it. A CA key goes only where a component is given it: the
cluster CA key to control-plane nodes (the controller manager signs kubelet
certificates with it); the etcd, etcd-peer and front-proxy CA keys, admin.conf and
super-admin.conf go to no node. Copy OUT to the node's --root (as rendered).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, r, done, err := openResolved(env, &cf, false, false)
			if err != nil {
				return err
			}
			defer done(false)
			p := r.p
			rot := rotate.InProgress(d, p)
			if err := refuseUnfinished(d, rot); err != nil {
				return err
			}
			files, err := export.Node(d, p, export.Options{Node: node, Root: root, Rotating: rot.Keys})
			if err != nil {
				return err
			}
			if err := export.Write(d.Root(), out, files); err != nil {
				return err
			}
			secrets := 0
			for _, f := range files {
				if f.Secret {
					secrets++
				}
			}
			fmt.Fprintf(env.Stdout, "%s: %d files for node %s (%d secrets, mode %04o)\n", out, len(files), node, secrets, layout.SecretMode)
			for _, f := range files {
				fmt.Fprintf(env.Stdout, "  %04o %s\n", f.Mode, f.Rel)
			}
			return nil
		},
	}
	cf.register(cmd, true)
	cmd.Flags().StringVar(&node, "node", "", "node name, as in the configuration")
	cmd.Flags().StringVar(&out, "out", "", "folder to write the node's files in (new or empty)")
	cmd.Flags().StringVar(&root, "root", "", "the folder's path on the node, as rendered (default: the saved configuration's, else "+layout.DefaultRoot+")")
	_ = cmd.MarkFlagRequired("node")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}
