package provision

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/bulwark-k8s/bulwark/bootstraptoken"
	"github.com/bulwark-k8s/bulwark/kubeconfig"
	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/plan"
	"github.com/bulwark-k8s/bulwark/store"
)

// TokenFile is a token Secret manifest found in the folder.
type TokenFile struct {
	File  string
	Token bootstraptoken.Token
}

// ListTokenManifests reads every cluster/bootstrap-token-*.yaml.
func ListTokenManifests(d *store.Dir) ([]TokenFile, error) {
	files, err := d.Walk("cluster")
	if err != nil {
		return nil, err
	}
	var out []TokenFile
	for _, f := range files {
		base := path.Base(f)
		if layout.Classify(f) != layout.TokenSecret {
			continue
		}
		data, err := d.ReadSecret(f)
		if err != nil {
			if errors.Is(err, store.ErrUnsafe) {
				return nil, err
			}
			return nil, &Problem{Code: CodeUnreadable, File: f, Reason: "cannot be read: " + err.Error(), Cause: err}
		}
		t, err := bootstraptoken.UnmarshalSecret(data)
		if err != nil {
			id := strings.TrimSuffix(strings.TrimPrefix(base, layout.TokenSecretPrefix), ".yaml")
			fix := ""
			if bootstraptoken.ValidID(id) {
				fix = fixer{args: DirArgs(d.Root())}.tokenDelete(id)
			}
			return nil, &Problem{Code: CodeBadTokenSecret, File: f, Reason: err.Error(), Fix: fix}
		}
		out = append(out, TokenFile{File: f, Token: t})
	}
	return out, nil
}

// tokenKubeconfigFile is where token create puts a token's bootstrap kubeconfig.
func tokenKubeconfigFile(id string) string {
	return layout.KubeconfigFile(plan.KubeconfigBootstrapKubelet + "-" + id)
}

// CreateToken makes a new bootstrap token offline: its Secret manifest
// under cluster/ and a bootstrap kubeconfig that carries it.
func CreateToken(d *store.Dir, p *plan.Plan, ttl time.Duration, usages, groups []string, description string, opts Options) (bootstraptoken.Token, Summary, error) {
	cas, err := readCerts(d, clusterCA(p).CertFile())
	if err := firstFatal(err); err != nil {
		return bootstraptoken.Token{}, nil, err
	}
	if err != nil {
		return bootstraptoken.Token{}, nil, Problems{{Code: problemCode(err, CodeCorruptCert), File: clusterCA(p).CertFile(), Reason: reasonOf(err),
			Fix: fixFor(err, fixer{args: opts.FixArgs}.renew(false, plan.ClusterCA))}}
	}
	if len(cas) == 0 {
		return bootstraptoken.Token{}, nil, fmt.Errorf("%s is missing: run `bulwark init%s` first", clusterCA(p).CertFile(), opts.FixArgs)
	}
	tok, err := bootstraptoken.New(opts.now(), ttl, usages, groups, description)
	if err != nil {
		return bootstraptoken.Token{}, nil, err
	}
	secret, err := tok.MarshalSecret()
	if err != nil {
		return bootstraptoken.Token{}, nil, err
	}
	kc, err := BootstrapKubeconfig(p, cas, tok)
	if err != nil {
		return bootstraptoken.Token{}, nil, err
	}
	manifestFile, kcFile := layout.TokenSecretFile(tok.ID), tokenKubeconfigFile(tok.ID)
	b := d.NewBatch()
	b.Add(store.File{Rel: manifestFile, Data: secret, Secret: true, Stage: stageKeys})
	b.Add(store.File{Rel: kcFile, Data: kc, Secret: true, Stage: stageCerts})
	sum := Summary{{File: manifestFile, Action: Created}, {File: kcFile, Action: Created}}
	fixed, err := fixModes(d, b)
	if err != nil {
		b.Discard()
		return bootstraptoken.Token{}, nil, err
	}
	if err := b.Commit(); err != nil {
		return bootstraptoken.Token{}, nil, err
	}
	return tok, sortSummary(append(sum, fixed...)), nil
}

func clusterCA(p *plan.Plan) plan.CA {
	ca, _ := p.CA(plan.ClusterCA)
	return ca
}

// ErrNoToken is returned when a token to delete is not there.
var ErrNoToken = errors.New("no such bootstrap token")

// DeleteToken removes a token's Secret manifest and every kubeconfig of the
// folder that carries it.
func DeleteToken(d *store.Dir, id string) (Summary, error) {
	if _, err := bootstraptoken.Parse(id + ".0000000000000000"); err != nil {
		return nil, fmt.Errorf("invalid token ID %q (want 6 characters [a-z0-9])", id)
	}
	manifestFile := layout.TokenSecretFile(id)
	var (
		sum    Summary
		remove []store.File
	)
	ok, err := d.Exists(manifestFile)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{tokenKubeconfigFile(id), layout.KubeconfigFile(plan.KubeconfigBootstrapKubelet)} {
		carries, err := kubeconfigCarries(d, f, id)
		if err != nil {
			return nil, err
		}
		if carries {
			remove = append(remove, store.File{Rel: f, Remove: true})
			sum = append(sum, Result{File: f, Action: Removed})
		}
	}
	if !ok && len(sum) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNoToken, id)
	}
	if ok {
		// The Secret goes last: a kubeconfig is never left with a token
		// whose Secret is gone.
		remove = append(remove, store.File{Rel: manifestFile, Remove: true, Stage: 1})
		sum = append(sum, Result{File: manifestFile, Action: Removed})
	}
	if err := d.WriteBatch(remove); err != nil {
		return nil, err
	}
	return sum, nil
}

func kubeconfigCarries(d *store.Dir, file, id string) (bool, error) {
	ok, err := d.Exists(file)
	if err != nil || !ok {
		return false, err
	}
	data, err := d.ReadSecret(file)
	if err != nil {
		if errors.Is(err, store.ErrUnsafe) {
			return false, err
		}
		return false, nil
	}
	kc, err := kubeconfig.Parse(data)
	if err != nil {
		return false, nil
	}
	t, err := bootstraptoken.Parse(kc.Credentials.Token)
	return err == nil && t.ID == id, nil
}
