package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/release"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
)

// renderFlags are the flags of init and render that shape the rendered files.
type renderFlags struct{ o render.Options }

func (f *renderFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.o.Root, "root", layout.DefaultRoot, "where the cluster folder sits on the nodes; every host path in the manifests is under it")
	cmd.Flags().StringVar(&f.o.KubernetesVersion, "kubernetes-version", release.Kubernetes, "tag of the control-plane images")
	cmd.Flags().StringVar(&f.o.ImageRepository, "image-repository", render.DefaultImageRepository, "registry of the control-plane images")
	cmd.Flags().StringVar(&f.o.EtcdVersion, "etcd-version", release.EtcdImageTag, "tag of the etcd image")
}

func (f *renderFlags) validate() error {
	if err := f.o.Validate(); err != nil {
		return usageError{err}
	}
	return nil
}

func newRenderCmd(env *Env) *cobra.Command {
	var (
		cf clusterFlags
		rf renderFlags
	)
	cmd := &cobra.Command{
		Use:   "render --dir DIR [--root /etc/kubernetes]",
		Short: "Write hardened configuration: static Pod manifests, kubelet, encryption, authentication, audit",
		Long: fmt.Sprintf(`render writes, from the hardening table ("bulwark render" is also run by init):
  %[1]s/{etcd,kube-apiserver,kube-controller-manager,kube-scheduler}.yaml
      (%[1]s/<node>/… when there are several nodes)
  %-30[2]s KubeletConfiguration
  %-30[3]s Secrets encrypted at rest (its key is made once and kept)
  %-30[4]s anonymous access to health endpoints only
  %[5]s
Rendered files are %04[6]o. Files that follow from the configuration are brought up to
date on every run; the encryption configuration is never replaced.`, layout.ManifestsDir, layout.KubeletConfigFile,
			layout.EncryptionConfigFile, layout.AuthnConfigFile, layout.AuditPolicyFile, layout.Manifest.Mode()),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := rf.validate(); err != nil {
				return err
			}
			return onFolder(env, &cf, false, func(d *store.Dir, p *plan.Plan, _ []byte) (provision.Summary, error) {
				return provision.Render(d, p, rf.o, buildOptions(env))
			})
		},
	}
	cf.register(cmd, true)
	rf.register(cmd)
	return cmd
}
