package cli

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/bulwark-k8s/bulwark/admins"
	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/audit"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/export"
	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/store"
)

// IdentityEnv names the identity file when --identity is not given.
const IdentityEnv = "BULWARK_IDENTITY"

// maxKeyInput caps an identity, key or request file read from the command line.
const maxKeyInput = 64 << 10

const identityHelp = "identity file: an administrator's SSH private key (ssh-ed25519, ssh-rsa) or a reader's age identity (default $" + IdentityEnv + ")"

func (e *Env) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// identityPath is --identity, else $BULWARK_IDENTITY.
func identityPath(env *Env, flag string) string {
	if flag != "" {
		return flag
	}
	return env.getenv(IdentityEnv)
}

// loadIdentity reads the identity, or returns nil if none is given.
func loadIdentity(env *Env, flag string) (*atrest.Identity, error) {
	p := identityPath(env, flag)
	if p == "" {
		return nil, nil
	}
	data, err := store.ReadInput(p, maxKeyInput)
	if err != nil {
		return nil, usageError{fmt.Errorf("identity: %w", err)}
	}
	id, err := atrest.ParseIdentity(data)
	if errors.Is(err, atrest.ErrPassphrase) {
		return nil, usagef("identity %q: %v (decrypting needs the key itself: give a copy without passphrase on an encrypted disk, or an age identity)", p, err)
	}
	if err != nil {
		return nil, usagef("identity %q: %v", p, err)
	}
	return id, nil
}

// unlockDir puts the folder's administrators' encryption behind its
// Secrets when it has a recipients manifest. With need, an identity is
// required for an encrypted folder (a command that writes or reads
// secrets); without, a folder opened without one reports its secrets as
// locked.
func unlockDir(env *Env, d *store.Dir, identityFlag string, need bool) (*admins.Tree, error) {
	id, err := loadIdentity(env, identityFlag)
	if err != nil {
		return nil, err
	}
	t, err := admins.Open(d, id)
	if errors.Is(err, admins.ErrNoManifest) {
		if err := checkNotHalfConverted(d); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if need && id == nil {
		return nil, usagef("the secrets of %s are encrypted: give --identity FILE (or $%s)", d.Root(), IdentityEnv)
	}
	return t, nil
}

// checkNotHalfConverted refuses a folder with sealed secrets but no
// manifest: a conversion killed part-way.
func checkNotHalfConverted(d *store.Dir) error {
	files, err := admins.SecretFiles(d)
	if err != nil {
		return err
	}
	for _, f := range files {
		data, err := d.Read(f)
		if err == nil && atrest.IsSealed(data) {
			return fmt.Errorf("%s is encrypted but the folder has no recipients manifest: an interrupted `bulwark encrypt`? run it again", f)
		}
	}
	return nil
}

// recipientFlags are --recipient and --recipients-file.
type recipientFlags struct {
	keys []string
	file string
}

func (r *recipientFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&r.keys, "recipient", nil, "administrator (ssh-ed25519 or ssh-rsa public key, authorized_keys format) or read-only holder (age1… X25519 recipient); NAME=KEY names it; repeatable")
	cmd.Flags().StringVar(&r.file, "recipients-file", "", "file of recipients, one per line (# comments)")
}

func (r *recipientFlags) given() bool { return len(r.keys) > 0 || r.file != "" }

func (r *recipientFlags) parse() ([]admins.NamedRecipient, error) {
	lines := append([]string(nil), r.keys...)
	if r.file != "" {
		data, err := store.ReadInput(r.file, maxKeyInput)
		if err != nil {
			return nil, usageError{err}
		}
		lines = append(lines, strings.Split(string(data), "\n")...)
	}
	rs, err := admins.ParseRecipients(lines)
	if err != nil {
		return nil, usageError{err}
	}
	return rs, nil
}

func newAdminCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Administrators: requests, enrolment, short-lived certificates, removal",
		Long: `A folder's secrets are encrypted to its holders, listed in a recipients manifest
(` + layout.RecipientsDir + `/) that an administrator signs. Administrators are SSH keys
(ssh-ed25519, ssh-rsa of 2048 bits or more): the same key decrypts and signs. Readers
are age X25519 recipients: they decrypt, never sign.

Onboarding: the new administrator runs "admin request" on their own machine and
sends the request; an administrator enrols their key with "admin add" and issues a
certificate with "admin sign" (verified against the enrolled key; at most 12h; never
system:masters). "admin remove" re-encrypts everything with fresh file keys and
marks every key they could read for rotation.`,
	}
	cmd.AddCommand(newAdminRequestCmd(env), newAdminAddCmd(env), newAdminSignCmd(env), newAdminListCmd(env), newAdminRemoveCmd(env))
	return cmd
}

// sshSigner loads the signer for a request: the private key file, or, if
// it cannot be used as it is (passphrase, or a .pub given), the matching
// key of the ssh-agent at $SSH_AUTH_SOCK.
func sshSigner(env *Env, keyPath string) (ssh.Signer, func(), error) {
	data, err := store.ReadInput(keyPath, maxKeyInput)
	if err != nil {
		return nil, nil, usageError{err}
	}
	if id, err := atrest.ParseIdentity(data); err == nil {
		if id.Signer == nil {
			return nil, nil, usagef("--key %q is an age identity: a request is signed with an SSH key", keyPath)
		}
		return id.Signer, func() {}, nil
	} else if !errors.Is(err, atrest.ErrPassphrase) && !strings.HasSuffix(keyPath, ".pub") {
		return nil, nil, usagef("--key %q: %v", keyPath, err)
	}
	// The public half: the .pub given, or the one beside the key.
	pubPath := keyPath
	if !strings.HasSuffix(pubPath, ".pub") {
		pubPath += ".pub"
	}
	pubData, err := store.ReadInput(pubPath, maxKeyInput)
	if err != nil {
		return nil, nil, usagef("--key %q is passphrase-protected and its public key cannot be read for the ssh-agent: %v", keyPath, err)
	}
	want, _, err := atrest.ParseRecipient(string(pubData))
	if err != nil || !want.CanSign() {
		return nil, nil, usagef("%q: not an SSH public key bulwark takes", pubPath)
	}
	sock := env.getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil, usagef("--key %q is passphrase-protected: load it into an ssh-agent (SSH_AUTH_SOCK) or give an unprotected key", keyPath)
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach the ssh-agent: %v", err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("ssh-agent: %v", err)
	}
	for _, s := range signers {
		if want.Is(s.PublicKey()) {
			return s, func() { conn.Close() }, nil
		}
	}
	conn.Close()
	return nil, nil, fmt.Errorf("the ssh-agent does not hold %s", want.Fingerprint())
}

func newAdminRequestCmd(env *Env) *cobra.Command {
	var (
		name, key, out string
		groups         []string
	)
	cmd := &cobra.Command{
		Use:   "request --name NAME --key ~/.ssh/id_ed25519 [--out DIR] [--group G]",
		Short: "On the new administrator's machine: make a client key and a request signed with your SSH key",
		Long: `request makes a client key (ECDSA P-256) and a certificate request for the user
` + admins.UserName("NAME") + `, and signs the request with your SSH key (SSHSIG). It writes
DIR/NAME.key (mode 0600: it never leaves this machine) and DIR/NAME.request (send it
to an administrator). The SSH key is the one you are enrolled with; a passphrase-
protected key is used through your ssh-agent (SSH_AUTH_SOCK). A request is valid
for ` + admins.MaxRequestAge.String() + ` and is issued once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := admins.ValidateName(name); err != nil {
				return usageError{err}
			}
			signer, done, err := sshSigner(env, key)
			if err != nil {
				return err
			}
			defer done()
			req, keyPEM, err := admins.NewRequest(name, groups, signer, env.Now(), env.Rand)
			if err != nil {
				if errors.Is(err, admins.ErrGroup) {
					return usageError{err}
				}
				return err
			}
			o, err := store.Open(out)
			if err != nil {
				return err
			}
			keyFile, reqFile := name+layout.KeyExt, name+".request"
			for _, f := range []string{keyFile, reqFile} {
				if ok, _ := o.Exists(f); ok {
					return fmt.Errorf("%s exists: not replaced", o.Path(f))
				}
			}
			if err := o.WriteBatch([]store.File{
				{Rel: keyFile, Data: keyPEM, Secret: true},
				{Rel: reqFile, Data: req, Mode: layout.PublicMode, Stage: 1},
			}); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "wrote %s (keep it) and %s (send it to an administrator)\n", o.Path(keyFile), o.Path(reqFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "your administrator name, as enrolled")
	cmd.Flags().StringVar(&key, "key", "", "your SSH private key (or its .pub, with the key in ssh-agent)")
	cmd.Flags().StringVar(&out, "out", ".", "folder to write NAME.key and NAME.request in")
	cmd.Flags().StringSliceVar(&groups, "group", nil, "groups to ask for (the approver decides)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

// adminFolder opens an encrypted folder, locked, with the identity.
func adminFolder(env *Env, dir, identity string) (*admins.Tree, func(), error) {
	d, done, err := openLocked(dir, false)
	if err != nil {
		return nil, nil, err
	}
	t, err := unlockDir(env, d, identity, true)
	if err == nil && t == nil {
		err = fmt.Errorf("the secrets of %s are not encrypted: run `bulwark encrypt --dir %s --recipient KEY --identity FILE` first", dir, dir)
	}
	if err != nil {
		done(true)
		return nil, nil, err
	}
	return t, func() { done(false) }, nil
}

func newAdminAddCmd(env *Env) *cobra.Command {
	var dir, identity, recipient, role string
	cmd := &cobra.Command{
		Use:   "add NAME --dir DIR --recipient PUBKEY --identity FILE [--cluster-role ROLE]",
		Short: "Enrol an administrator (SSH key) or reader (age recipient); re-encrypt every secret to the new set",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := admins.ValidateName(name); err != nil {
				return usageError{err}
			}
			r, _, err := atrest.ParseRecipient(recipient)
			if err != nil {
				return usagef("--recipient: %v", err)
			}
			t, unlock, err := adminFolder(env, dir, identity)
			if err != nil {
				return err
			}
			defer unlock()
			res, err := t.Add(name, r, role, env.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "added %s (%s %s); %d secrets re-encrypted to manifest version %d\n", name, r.Type, r.Fingerprint(), len(res.Sealed), res.Serial)
			if role != "" {
				fmt.Fprintf(env.Stdout, "wrote %s: apply it to bind %s to %s\n", layout.AdminBindingFile(name), admins.UserName(name), role)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cluster folder")
	cmd.Flags().StringVar(&identity, "identity", "", identityHelp)
	cmd.Flags().StringVar(&recipient, "recipient", "", "the new holder's public key")
	cmd.Flags().StringVar(&role, "cluster-role", "", "also bind the administrator's own user to this ClusterRole (under cluster/)")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("recipient")
	return cmd
}

func newAdminSignCmd(env *Env) *cobra.Command {
	var (
		cf        clusterFlags
		ttl, out  string
		groups    []string
		overwrite bool
	)
	cmd := &cobra.Command{
		Use:   "sign REQUEST --dir DIR --identity FILE [--ttl 8h] [--group G] [--out DIR]",
		Short: "Verify a request against the enrolled key and issue a short-lived administrator certificate",
		Long: fmt.Sprintf(`sign checks that REQUEST names an enrolled administrator and is signed by that
administrator's enrolled SSH key (not by whatever key it carries), that it is fresh
(at most %s old) and not issued before, and that every group is bound by an RBAC
binding under cluster/ (never system:masters or another system: group). It appends
the certificate to the signed, hash-chained issuance log (%s) and then writes
OUT/NAME.crt and OUT/NAME.conf, a kubeconfig that uses the NAME.key kept beside it.

Lifetime: --ttl, default %s, at most %s. There is no revocation list for client
certificates in Kubernetes: the short life, and deleting the group's binding, are
the revocation.`, admins.MaxRequestAge, layout.IssuanceLogFile, admins.DefaultTTL, admins.MaxTTL),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			life := time.Duration(0)
			if ttl != "" {
				d, err := config.ParseDuration(ttl)
				if err != nil || d.D() < admins.MinTTL || d.D() > admins.MaxTTL {
					return usagef("invalid --ttl %q (between %s and %s)", ttl, admins.MinTTL, admins.MaxTTL)
				}
				life = d.D()
			}
			req, err := store.ReadInput(args[0], maxKeyInput)
			if err != nil {
				return usageError{err}
			}
			if err := checkSignOut(cf.dir, out, req, overwrite); err != nil {
				return err
			}
			t, unlock, err := adminFolder(env, cf.dir, cf.identity)
			if err != nil {
				return err
			}
			defer unlock()
			r, err := cf.resolve(env, t.D)
			if err != nil {
				return err
			}
			p := r.p
			iss, err := t.Sign(req, admins.SignOptions{TTL: life, Groups: groups, Server: p.Config.APIServerURL(),
				ClusterName: p.Config.ClusterName, Now: env.Now(), Rand: env.Rand})
			if err != nil {
				return err
			}
			o, err := store.Open(out)
			if err != nil {
				return usageError{err}
			}
			crt, conf := iss.Name+layout.CertExt, layout.KubeconfigFile(iss.Name)
			if err := o.WriteBatch([]store.File{
				{Rel: crt, Data: iss.CertPEM, Mode: layout.PublicMode, Replace: overwrite},
				{Rel: conf, Data: iss.Kubeconfig, Mode: layout.PublicMode, Replace: overwrite},
			}); err != nil {
				return err
			}
			e := iss.Entry
			fmt.Fprintf(env.Stdout, "issued %s: user %s, groups %s, serial %s, valid until %s (%s); log entry %d\n",
				o.Path(crt), e.Subject, strings.Join(e.Groups, ","), e.Serial, e.NotAfter.Format(time.RFC3339), e.Lifetime, e.Seq)
			fmt.Fprintf(env.Stdout, "wrote %s (uses %s beside it)\n", o.Path(conf), iss.Name+layout.KeyExt)
			return nil
		},
	}
	cf.register(cmd, true)
	cmd.Flags().StringVar(&ttl, "ttl", "", fmt.Sprintf("certificate lifetime (default %s, at most %s)", admins.DefaultTTL, admins.MaxTTL))
	cmd.Flags().StringSliceVar(&groups, "group", nil, "groups (default: the request's, else "+admins.DefaultGroup()+")")
	cmd.Flags().StringVar(&out, "out", ".", "folder to write NAME.crt and NAME.conf in (not inside the cluster folder)")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace NAME.crt and NAME.conf if they exist in --out")
	return cmd
}

// checkSignOut refuses, before anything is issued or logged, an --out
// inside the cluster folder (NAME.conf would replace a kubeconfig there:
// admin.conf, super-admin.conf) and, without overwrite, one that holds
// NAME.crt or NAME.conf already.
func checkSignOut(dir, out string, request []byte, overwrite bool) error {
	if dir != "" && export.Inside(dir, out) {
		return usagef("--out %s is inside the cluster folder %s: write the certificate and kubeconfig elsewhere", out, dir)
	}
	name, err := admins.RequestName(request)
	if err != nil {
		return nil // refused with its reason when verified
	}
	o, err := store.Open(out)
	if err != nil {
		return usageError{err}
	}
	for _, f := range []string{name + layout.CertExt, layout.KubeconfigFile(name)} {
		if ok, err := o.Exists(f); err != nil {
			return err
		} else if ok && !overwrite {
			return usagef("%s exists: not replaced (give --overwrite to replace it)", o.Path(f))
		}
	}
	return nil
}

func newAdminListCmd(env *Env) *cobra.Command {
	var (
		dir string
		out output
	)
	cmd := &cobra.Command{
		Use:   "list --dir DIR",
		Short: "List the holders of the folder's secrets and the certificates issued (no identity needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			d, err := store.Open(dir)
			if err != nil {
				return err
			}
			h, err := admins.LoadHistory(d)
			if err != nil {
				return err
			}
			log, err := admins.ReadLog(d, h)
			if err != nil {
				return err
			}
			cur := h.Current()
			type row struct {
				Name        string `json:"name"`
				Role        string `json:"role"`
				Key         string `json:"key"`
				Fingerprint string `json:"fingerprint"`
				Issued      int    `json:"issued"`
			}
			var rows []row
			for _, ho := range cur.Holders {
				r, _, _ := atrest.ParseRecipient(ho.Key)
				n := 0
				for _, e := range log {
					if e.Subject == admins.UserName(ho.Name) {
						n++
					}
				}
				rows = append(rows, row{ho.Name, string(ho.Role), ho.Key, r.Fingerprint(), n})
			}
			v := map[string]any{"version": cur.Serial, "digest": cur.Digest(), "holders": rows, "issued": log}
			return out.print(env.Stdout, v, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tROLE\tTYPE\tFINGERPRINT\tCERTIFICATES ISSUED")
				for _, r := range rows {
					typ, _, _ := strings.Cut(r.Key, " ")
					if strings.HasPrefix(typ, "age1") {
						typ = atrest.TypeX25519
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\n", r.Name, r.Role, typ, r.Fingerprint, r.Issued)
				}
				fmt.Fprintf(w, "\nmanifest version %d %s (%s by %s, %s); %d certificates in the issuance log\n",
					cur.Serial, cur.Digest(), cur.Change, cur.SignedBy, cur.Time.Format(time.RFC3339), len(log))
			})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cluster folder")
	_ = cmd.MarkFlagRequired("dir")
	out.register(cmd)
	return cmd
}

func newAdminRemoveCmd(env *Env) *cobra.Command {
	var dir, identity string
	cmd := &cobra.Command{
		Use:   "remove NAME --dir DIR --identity FILE",
		Short: "Remove a holder: re-encrypt every secret with fresh file keys, remove their binding, mark their keys for rotation",
		Long: `remove takes NAME out of the recipients manifest and re-encrypts every secret with
fresh file keys to those who remain, removes NAME's own binding under cluster/, and
marks every key, CA and secret NAME could read as compromised in ` + layout.RotationStateFile + `:
re-encrypting does not un-leak what NAME already read. "bulwark rotate status" and
"bulwark audit" report them until they are rotated. Certificates issued to NAME stay
valid until they expire (at most ` + admins.MaxTTL.String() + `) unless their group's binding is deleted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, unlock, err := adminFolder(env, dir, identity)
			if err != nil {
				return err
			}
			defer unlock()
			rem, err := t.Remove(args[0], env.Now())
			if err != nil {
				return err
			}
			cas := 0
			for _, c := range rem.Compromised {
				if c.CA {
					cas++
				}
			}
			fmt.Fprintf(env.Stdout, "removed %s; %d secrets re-encrypted to manifest version %d\n", args[0], len(rem.Sealed), rem.Serial)
			for _, b := range rem.Bindings {
				fmt.Fprintf(env.Stdout, "removed %s: delete it from the live cluster too (kubectl delete -f)\n", b)
			}
			fmt.Fprintf(env.Stdout, "rotation required: %d files (%d CA keys) were readable by %s; see `bulwark rotate status --dir %s`\n", len(rem.Compromised), cas, args[0], dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cluster folder")
	cmd.Flags().StringVar(&identity, "identity", "", identityHelp)
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

// auditAdministrators checks an audited folder's administrators (see
// admins.Audit) and puts the folder's encryption behind o.Secrets (locked
// without an identity: checks that need a secret skip it, and a finding
// says how many).
func auditAdministrators(env *Env, o *audit.Options, identity string) (*audit.Report, error) {
	d, err := store.Open(o.Dir)
	if err != nil || !d.IsDir() {
		return &audit.Report{Report: *finding.NewReport(admins.Rules())}, nil
	}
	id, err := loadIdentity(env, identity)
	if err != nil {
		return nil, err
	}
	fr, secrets, err := admins.Audit(d, id)
	if err != nil {
		return nil, err
	}
	o.Secrets = secrets
	return &audit.Report{Report: *fr}, nil
}
