package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/config"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/provision"
	"github.com/bulwark-k8s/bulwark/store"
)

const defaultLockTimeout = 2 * time.Minute

// clusterFlags are the flags of every command that works on a cluster folder.
type clusterFlags struct {
	dir        string
	configFile string
}

func (f *clusterFlags) register(cmd *cobra.Command, needDir bool) {
	cmd.Flags().StringVar(&f.dir, "dir", "", "cluster folder (kubeadm layout: pki/, *.conf, cluster/)")
	cmd.Flags().StringVar(&f.configFile, "config", "", "cluster configuration file (default: the folder's "+layout.ConfigFile+", else built-in defaults)")
	if needDir {
		_ = cmd.MarkFlagRequired("dir")
	}
}

// load reads the configuration: --config, else the folder's saved copy,
// else the defaults. It returns the raw document too, for saving.
func (f *clusterFlags) load(env *Env) (*config.Cluster, []byte, error) {
	host := hostname(env)
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
	case f.configFile != "":
		data, err = store.ReadInput(f.configFile, maxConfigInput)
	case f.dir != "":
		d, derr := store.Open(f.dir)
		if derr != nil {
			return nil, nil, derr
		}
		if ok, _ := d.Exists(layout.ConfigFile); ok {
			name = d.Path(layout.ConfigFile)
			data, err = d.Read(layout.ConfigFile)
		}
	}
	if err != nil {
		return nil, nil, usageError{err}
	}
	if data == nil {
		c := config.Default(host)
		raw, err := config.Marshal(c)
		return c, raw, err
	}
	c, err := config.Parse(data, host)
	if err != nil {
		return nil, nil, usagef("%s: %v", name, err)
	}
	return c, data, nil
}

// maxConfigInput caps a configuration read from a file or standard input.
const maxConfigInput = 1 << 20

func (f *clusterFlags) plan(env *Env) (*plan.Plan, []byte, error) {
	c, raw, err := f.load(env)
	if err != nil {
		return nil, nil, err
	}
	p, err := plan.New(c)
	return p, raw, err
}

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

// openLocked opens an existing folder with its lock held.
func openLocked(dir string, create bool) (*store.Dir, func(), error) {
	d, err := store.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	if create {
		if err := d.Init(); err != nil {
			return nil, nil, err
		}
	} else if !d.IsDir() {
		return nil, nil, fmt.Errorf("%s is not a cluster folder: run `bulwark init --dir %s` first", dir, dir)
	}
	unlock, err := d.Lock(defaultLockTimeout)
	if err != nil {
		return nil, nil, err
	}
	if err := d.CleanTemp(); err != nil {
		unlock()
		return nil, nil, fmt.Errorf("failed to clean temporary files: %w", err)
	}
	return d, unlock, nil
}

func buildOptions(env *Env) provision.Options { return provision.Options{Now: env.Now, Rand: env.Rand} }

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
		b, err := yaml.JSONToYAML([]byte(termSafe(string(js))))
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
		if r.Action != provision.Kept {
			fmt.Fprintf(w, "  %-8s %s\n", r.Action, r.File)
		}
	}
	fmt.Fprintf(w, "%s: %d created, %d issued for existing keys, %d renewed, %d removed, %d kept\n", dir,
		s.Count(provision.Created), s.Count(provision.Issued), s.Count(provision.Renewed), s.Count(provision.Removed), s.Count(provision.Kept))
}

func join(ss []string) string {
	if len(ss) == 0 {
		return "-"
	}
	return strings.Join(ss, ",")
}

// onFolder is the shape of every command that changes a cluster folder:
// resolve the plan, take the folder's lock, do the work, print what was
// done.
func onFolder(env *Env, cf *clusterFlags, create bool, work func(d *store.Dir, p *plan.Plan, raw []byte) (provision.Summary, error)) error {
	p, raw, err := cf.plan(env)
	if err != nil {
		return err
	}
	d, unlock, err := openLocked(cf.dir, create)
	if err != nil {
		return err
	}
	defer unlock()
	sum, err := work(d, p, raw)
	if err != nil {
		return err
	}
	printSummary(env.Stdout, d.Root(), sum)
	return nil
}
