package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/admins"
	"github.com/bulwark-k8s/bulwark/atrest"
	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/internal/termsafe"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/rotate"
	"github.com/bulwark-k8s/bulwark/store"
)

const defaultLockTimeout = 2 * time.Minute

// clusterFlags are the flags of every command that works on a cluster folder.
type clusterFlags struct {
	dir        string
	configFile string
	// render, for init and render: their --root, --image-repository,
	// --kubernetes-version and --etcd-version, which override the
	// configuration's render section when given.
	render   *renderFlags
	cmd      *cobra.Command
	identity string
}

func (f *clusterFlags) register(cmd *cobra.Command, needDir bool) {
	f.cmd = cmd
	cmd.Flags().StringVar(&f.dir, "dir", "", "cluster folder (kubeadm layout: pki/, *.conf, cluster/)")
	cmd.Flags().StringVar(&f.configFile, "config", "", "cluster configuration file, or - for standard input (default: the folder's "+layout.ConfigFile+
		"; without one, what the folder's certificates and kubeconfigs say; in a new folder, built-in defaults)")
	cmd.Flags().StringVar(&f.identity, "identity", "", identityHelp)
	if needDir {
		_ = cmd.MarkFlagRequired("dir")
	}
}

// checkDir refuses an empty --dir: it would mean the current directory.
func (f *clusterFlags) checkDir() error {
	if f.cmd != nil && f.cmd.Flags().Changed("dir") && strings.TrimSpace(f.dir) == "" {
		return usagef("--dir is empty (name the cluster folder; use --dir . for the current directory)")
	}
	return nil
}

// resolved is a run's configuration and where it came from.
type resolved struct {
	c *config.Cluster
	p *plan.Plan
	// given: from --config or from flags, so it is saved by commands
	// that write.
	given bool
	// derived: read from the folder's own files (no saved configuration).
	derived bool
	// saved: the folder's bulwark.yaml, as read.
	saved []byte
}

// yaml is the resolved configuration, as saved in bulwark.yaml.
func (r *resolved) yaml() ([]byte, error) { return config.Marshal(r.c) }

// resolve reads the configuration: --config, else the folder's saved
// bulwark.yaml, else what the folder's own files say (a kubeadm folder, a
// bulwark folder that lost its bulwark.yaml), else, for a folder with no
// cluster in it, the built-in defaults with this host's name. d is nil
// for commands without a folder. Called with the folder's lock held by
// commands that write, so that what is read is what is written over.
func (f *clusterFlags) resolve(env *Env, d *store.Dir) (*resolved, error) {
	host := hostname(env)
	r := &resolved{}
	var (
		data []byte
		err  error
		name = f.configFile
	)
	switch {
	case f.configFile == "-":
		data, err = io.ReadAll(io.LimitReader(env.Stdin, maxConfigInput+1))
		if err == nil && len(data) > maxConfigInput {
			err = fmt.Errorf("standard input is larger than %d bytes", maxConfigInput)
		}
		name, r.given = "standard input", true
	case f.configFile != "":
		data, err = store.ReadInput(f.configFile, maxConfigInput)
		r.given = true
	case d != nil:
		var ok bool
		if ok, err = d.Exists(layout.ConfigFile); err == nil && ok {
			name = d.Path(layout.ConfigFile)
			data, err = d.Read(layout.ConfigFile)
			if errors.Is(err, store.ErrUnsafe) {
				return nil, err
			}
			r.saved = data
		} else if errors.Is(err, store.ErrUnsafe) {
			return nil, err
		}
	}
	if err != nil {
		return nil, usageError{err}
	}
	switch {
	case data != nil:
		if r.c, err = config.Parse(data, host); err != nil {
			return nil, usagef("%s: %v", name, err)
		}
	case d != nil && d.IsDir():
		has, err := provision.HasCluster(d)
		if err != nil {
			return nil, err
		}
		if has {
			if r.c, err = provision.Derive(d); err != nil {
				return nil, fmt.Errorf("%s holds a cluster but no %s: %w; give its configuration with --config", d.Root(), layout.ConfigFile, err)
			}
			r.derived = true
		}
	}
	if r.c == nil {
		r.c, r.given = config.Default(host), true
	}
	if f.render != nil {
		changed, err := f.render.apply(f.cmd, &r.c.Render)
		if err != nil {
			return nil, err
		}
		r.given = r.given || changed
	}
	if r.p, err = plan.New(r.c); err != nil {
		return nil, err
	}
	return r, nil
}

// options are provision's options for a run on d with this configuration:
// the fixes it names carry --dir and --config, and a configuration that
// was given is saved.
func (r *resolved) options(env *Env, f *clusterFlags, d *store.Dir) (provision.Options, error) {
	rot := rotate.InProgress(d, r.p)
	if err := refuseUnfinished(d, rot); err != nil {
		return provision.Options{}, err
	}
	opts := provision.Options{Now: env.Now, Rand: env.Rand, Derived: r.derived, FixArgs: provision.DirArgs(d.Root()),
		Rotating: rot.Keys}
	if f.configFile != "" && f.configFile != "-" {
		abs, err := filepath.Abs(f.configFile)
		if err != nil {
			return opts, err
		}
		opts.FixArgs += " --config " + provision.ShellQuote(abs)
	}
	if r.given {
		data, err := r.yaml()
		if err != nil {
			return opts, err
		}
		opts.Config = data
	}
	return opts, nil
}

// refuseUnfinished refuses to go on while a rotation step is written only
// in part: only running that step again completes it (init would take the
// old CA beside the new for a stray CA and advise dropping it, export would
// hand a node half a step).
func refuseUnfinished(d *store.Dir, rot rotate.Rotations) error {
	u := rot.Unfinished
	if len(u) == 0 {
		return nil
	}
	return fmt.Errorf("%s: the %s step of its rotation did not complete (%d file(s) still to change): run `bulwark rotate %s%s` again (with the flags it was given) to complete it; nothing else uses the folder until then",
		u[0].Root, u[0].Step, len(u[0].Pending), u[0].Root, provision.DirArgs(d.Root()))
}

// maxConfigInput caps a configuration read from a file or standard input.
const maxConfigInput = 1 << 20

// hostname is the default node name: the host's name made a valid DNS name.
func hostname(env *Env) string {
	h := "node"
	if env.Hostname != nil {
		if s, err := env.Hostname(); err == nil && s != "" {
			h = strings.ToLower(s)
		}
	}
	if c := config.Default(h); c.Validate() != nil {
		return "node"
	}
	return h
}

// openLocked opens a folder with its lock held. With create, a missing
// folder is made (and removed again by the returned cleanup if the run
// fails: cleanup(err)).
func openLocked(dir string, create bool) (*store.Dir, func(failed bool), error) {
	d, err := store.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	if create {
		if err := d.Init(); err != nil {
			return nil, nil, err
		}
	} else if !d.IsDir() {
		return nil, nil, fmt.Errorf("%s is not a cluster folder: run `bulwark init%s` first", dir, provision.DirArgs(d.Root()))
	}
	unlock, err := d.Lock(defaultLockTimeout)
	if err != nil {
		d.RemoveCreated()
		return nil, nil, err
	}
	done := func(failed bool) {
		unlock()
		if failed {
			d.RemoveCreated()
		}
		_ = d.Close()
	}
	// Cleaning walks the whole folder: its error is the first file the
	// folder may not hold (a symbolic link, a FIFO), named as it is.
	if err := d.CleanTemp(); err != nil {
		done(true)
		return nil, nil, err
	}
	return d, done, nil
}

// output is the -o flag of report commands.
type output struct{ format string }

func (o *output) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "table", "output format: table, json or yaml")
}

func (o *output) validate() error {
	switch o.format {
	case "table", "json", "yaml":
		return nil
	}
	return usagef("unknown output format %q (want table, json or yaml)", o.format)
}

// print writes v as JSON or YAML, or calls table for the table format.
func (o *output) print(w io.Writer, v any, table func(*tabwriter.Writer)) error {
	switch o.format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		// Through JSON with every control character escaped: the YAML
		// reader sigs.k8s.io/yaml converts with refuses raw ones.
		js, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b, err := yaml.JSONToYAML([]byte(termsafe.String(string(js))))
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func printSummary(w io.Writer, dir string, s provision.Summary) {
	for _, r := range s {
		switch {
		case r.Note != "":
			fmt.Fprintf(w, "  %-8s %s: %s\n", r.Action, r.File, r.Note)
		case r.Action != provision.Kept:
			fmt.Fprintf(w, "  %-8s %s\n", r.Action, r.File)
		}
	}
	fmt.Fprintf(w, "%s: %d created, %d issued for existing keys, %d renewed, %d removed, %d kept", dir,
		s.Count(provision.Created), s.Count(provision.Issued), s.Count(provision.Renewed), s.Count(provision.Removed), s.Count(provision.Kept))
	if n := s.Count(provision.Fixed); n > 0 {
		fmt.Fprintf(w, ", %d modes fixed", n)
	}
	fmt.Fprintln(w)
}

func join(ss []string) string {
	if len(ss) == 0 {
		return "-"
	}
	return strings.Join(ss, ",")
}

// openResolved takes a folder's lock, opens its secrets with the identity
// given (they are needed to read what the configuration is derived from)
// and resolves its configuration under the lock. done(failed) releases
// it (and removes a folder it made, when failed). With write, the
// identity of an encrypted folder must be an administrator's.
func openResolved(env *Env, cf *clusterFlags, create, write bool) (*store.Dir, *resolved, func(failed bool), error) {
	d, r, _, done, err := openFolder(env, cf, create, true, write)
	return d, r, done, err
}

// openFolder is openResolved for commands that may also run without the
// secrets of an encrypted folder (need false): the administrators' tree
// it returns then has no identity.
func openFolder(env *Env, cf *clusterFlags, create, need, write bool) (*store.Dir, *resolved, *admins.Tree, func(failed bool), error) {
	d, done, err := openLocked(cf.dir, create)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	t, err := unlockDir(env, d, cf.identity, need)
	if err == nil && t != nil && write {
		// Every change to an encrypted folder is an administrator's:
		// a reader decrypts, never writes (a certificate or manifest
		// it wrote would be trusted as theirs).
		if _, err = t.Actor(); errors.Is(err, atrest.ErrCannotSign) {
			err = errors.New("changing an encrypted folder needs an administrator's SSH identity: an age X25519 identity is read-only")
		}
	}
	if err != nil {
		done(true)
		return nil, nil, nil, nil, err
	}
	r, err := cf.resolve(env, d)
	if err != nil {
		done(true)
		return nil, nil, nil, nil, err
	}
	return d, r, t, done, nil
}

// onFolder is the shape of every command that changes a cluster folder:
// take the folder's lock, resolve the configuration under it, do the
// work, print what was done. A run that fails leaves the folder as it was
// (and a folder it made, gone).
func onFolder(env *Env, cf *clusterFlags, create bool, work func(d *store.Dir, r *resolved, opts provision.Options) (provision.Summary, error)) (err error) {
	if err := cf.checkDir(); err != nil {
		return err
	}
	if cf.render != nil {
		if err := cf.render.validate(); err != nil {
			return err
		}
	}
	d, r, done, err := openResolved(env, cf, create, true)
	if err != nil {
		return err
	}
	defer func() { done(err != nil) }()
	opts, err := r.options(env, cf, d)
	if err != nil {
		return err
	}
	sum, err := work(d, r, opts)
	if err != nil {
		return err
	}
	printSummary(env.Stdout, d.Root(), sum)
	return nil
}
