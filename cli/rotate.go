package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/admins"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/store"
)

// newRotateCmd is the rotation command; for now it reports what must be
// rotated (issue 13 adds the rotations themselves).
func newRotateCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Rotation of trust roots and keys",
	}
	cmd.AddCommand(newRotateStatusCmd(env))
	return cmd
}

func newRotateStatusCmd(env *Env) *cobra.Command {
	var (
		dir string
		out output
	)
	cmd := &cobra.Command{
		Use:   "status --dir DIR",
		Short: "Say which keys and CAs must be rotated (exit 3 if any)",
		Long: `status reads ` + layout.RotationStateFile + `: every key, CA and secret that someone who no
longer should could read (a removed administrator). Exit 0: nothing to rotate;
3: rotation required. No identity is needed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			d, err := store.Open(dir)
			if err != nil {
				return err
			}
			if !d.IsDir() {
				return fmt.Errorf("%s is not a folder", dir)
			}
			s, err := admins.ReadRotationState(d)
			if err != nil {
				return err
			}
			if err := out.print(env.Stdout, s, func(w *tabwriter.Writer) {
				if !s.Required() {
					fmt.Fprintln(w, "no rotation required")
					return
				}
				fmt.Fprintln(w, "FILE\tWHAT\tCA\tREASON\tSINCE")
				for _, c := range s.Compromised {
					fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\n", c.File, c.What, c.CA, c.Reason, c.Since.Format(time.RFC3339))
				}
			}); err != nil {
				return err
			}
			if s.Required() {
				cas := 0
				for _, c := range s.Compromised {
					if c.CA {
						cas++
					}
				}
				return findingsError{fmt.Sprintf("rotation required: %d files, %d of them CA keys", len(s.Compromised), cas)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cluster folder")
	_ = cmd.MarkFlagRequired("dir")
	out.register(cmd)
	return cmd
}
