package cli

import (
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/bulwark-k8s/bulwark/admins"
	"github.com/bulwark-k8s/bulwark/layout"
)

func newEncryptCmd(env *Env) *cobra.Command {
	var (
		dir, identity string
		rf            recipientFlags
	)
	cmd := &cobra.Command{
		Use:   "encrypt --dir DIR --identity FILE [--recipient KEY... | --recipients-file FILE]",
		Short: "Encrypt every secret of a folder (bulwark's or kubeadm's) to its administrators, or finish an interrupted re-encryption",
		Long: `encrypt converts a folder whose secrets are plaintext (private keys, kubeconfigs,
the encryption configuration, bootstrap token Secrets: every file whose kind is a
secret) to age files encrypted to the recipients given, each signed by the identity,
and writes the first recipients manifest (` + layout.RecipientsFile(1) + `) last. The
identity must be one of the SSH recipients. Every file is replaced atomically: a run
killed part-way leaves each file plaintext or encrypted to the new set, and the
same command run again finishes the conversion.

On a folder that is encrypted already, encrypt finishes a re-encryption that "admin
add" or "admin remove" left unfinished: every secret still encrypted to an earlier
set is re-encrypted to the current one — if it is byte for byte the file that was
there when the change began (the manifest version records each file's digest) and
the head does not say the re-encryption finished; any other is refused, named. On a
folder encrypted before seals named the manifest's digest, encrypt upgrades it once:
a new manifest version with the same holders, every secret re-sealed.

A private key or a kubeconfig with a key or token that encryption would leave in
plaintext (found by content: a backup such as pki/ca.key.bak, tmp/**, *.old,
*-key.pem, a copy under nodes/) is refused, one line per file, and nothing is
written: move it out of the folder or delete it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := loadIdentity(env, identity)
			if err != nil {
				return err
			}
			if id == nil {
				return usagef("give --identity FILE (or $%s): an administrator's SSH key signs every encrypted file", IdentityEnv)
			}
			d, done, err := openLocked(dir, false)
			if err != nil {
				return err
			}
			defer func() { done(err != nil) }()
			enc, err := admins.Encrypted(d)
			if err != nil {
				return err
			}
			// A credential that encryption would leave in plaintext (a
			// backup, a copy under another name) is refused, one line
			// each: the folder is not what "every secret encrypted" says.
			copies, err := admins.PlaintextCopies(d, enc)
			if err != nil {
				return err
			}
			// The Pods' links (mounts/) go in the same run: not refused.
			copies = slices.DeleteFunc(copies, func(c admins.PlaintextCopy) bool { return layout.Classify(c.File) == layout.Mounted })
			if len(copies) > 0 {
				var errs []error
				for _, c := range copies {
					errs = append(errs, fmt.Errorf("%s, outside the files encrypt seals: move it out of the folder (or delete it) and run again", c))
				}
				return errors.Join(errs...)
			}
			if !enc {
				if !rf.given() {
					return usagef("the secrets of %s are plaintext: give --recipient or --recipients-file to encrypt them", dir)
				}
				rs, err := rf.parse()
				if err != nil {
					return err
				}
				res, err := admins.Convert(d, rs, id, env.Now())
				if err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "%s: %d secrets encrypted to %d recipients (manifest version 1)\n", d.Root(), len(res.Sealed), len(rs))
				return nil
			}
			if rf.given() {
				return usagef("the secrets of %s are encrypted already: change who reads them with `bulwark admin add` and `bulwark admin remove`", dir)
			}
			t, err := admins.Open(d, id)
			if err != nil {
				return err
			}
			res, err := t.Resume(env.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s: %d secrets re-encrypted, %d already encrypted to manifest version %d\n", d.Root(), len(res.Sealed), len(res.Kept), res.Serial)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cluster folder")
	cmd.Flags().StringVar(&identity, "identity", "", identityHelp)
	rf.register(cmd)
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}
