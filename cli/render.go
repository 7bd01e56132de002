package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/release"
	"github.com/bulwark-k8s/bulwark/render"
	"github.com/bulwark-k8s/bulwark/store"
)

// renderFlags are the flags of init and render that shape the rendered
// files. Given, they override the configuration's render section (and are
// saved with it); not given, the saved settings stand.
type renderFlags struct{ o render.Options }

func (f *renderFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.o.Root, "root", layout.DefaultRoot, "where the cluster folder sits on the nodes; every host path in the manifests is under it (default: the saved configuration's)")
	cmd.Flags().StringVar(&f.o.KubernetesVersion, "kubernetes-version", release.Kubernetes, "tag of the control-plane images (default: the saved configuration's)")
	cmd.Flags().StringVar(&f.o.ImageRepository, "image-repository", render.DefaultImageRepository, "registry of the control-plane images (default: the saved configuration's)")
	cmd.Flags().StringVar(&f.o.EtcdVersion, "etcd-version", release.EtcdImageTag, "tag of the etcd image (default: the saved configuration's)")
}

func (f *renderFlags) validate() error {
	if err := f.o.Validate(); err != nil {
		return usageError{err}
	}
	return nil
}

// apply sets the settings given on the command line; it reports whether
// any was.
func (f *renderFlags) apply(cmd *cobra.Command, r *config.Render) (bool, error) {
	changed := false
	for flag, set := range map[string]func(){
		"root":               func() { r.Root = f.o.Root },
		"kubernetes-version": func() { r.KubernetesVersion = f.o.KubernetesVersion },
		"image-repository":   func() { r.ImageRepository = f.o.ImageRepository },
		"etcd-version":       func() { r.EtcdVersion = f.o.EtcdVersion },
	} {
		if cmd.Flags().Changed(flag) {
			set()
			changed = true
		}
	}
	if err := r.Validate(); err != nil {
		return false, usageError{err}
	}
	return changed, nil
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
      (nodes/<node>/%[1]s/… when there are several nodes), each Pod mounting
      %[7]s/<component>/ at the root: hard links to exactly the files its flags
      name, so a renewed file reaches it; a checksum of the files it reads only
      at start is in its manifest, so the kubelet recreates it when one changes
  %-30[2]s KubeletConfiguration
  %-30[3]s Secrets encrypted at rest (its key is made once and kept)
  %-30[4]s anonymous access to health endpoints only
  %[5]s
Rendered files are %04[6]o. Files that follow from the configuration are brought up to
date on every run; the encryption configuration is never replaced, and a missing
one is refused on a folder whose API server uses it (restore it from a backup).
--root, --image-repository and the versions, when given, are saved in the
folder's configuration: a later plain run renders the same files.`, layout.ManifestsDir, layout.KubeletConfigFile,
			layout.EncryptionConfigFile, layout.AuthnConfigFile, layout.AuditPolicyFile, layout.Manifest.Mode(), layout.MountsDir),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onFolder(env, &cf, false, func(d *store.Dir, r *resolved, opts provision.Options) (provision.Summary, error) {
				if err := checkDrift(d, r, opts); err != nil {
					return nil, err
				}
				return provision.Render(d, r.p, render.OptionsOf(r.c.Render), opts)
			})
		},
	}
	cf.register(cmd, true)
	rf.register(cmd)
	cf.render = &rf
	return cmd
}

// checkDrift refuses a saved or given configuration that the folder's
// existing keys and certificates contradict (a derived one describes them).
func checkDrift(d *store.Dir, r *resolved, opts provision.Options) error {
	if r.derived {
		return nil
	}
	has, err := provision.HasCluster(d)
	if err != nil || !has {
		return err
	}
	return provision.CheckDrift(d, r.c, opts)
}
