package cli_test

import (
	"encoding/json"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/cli"
)

// tokenRow is a row of `token list -o json`.
type tokenRow struct {
	Source      string    `json:"source"`
	ID          string    `json:"id"`
	Expires     time.Time `json:"expires"`
	Usages      []string  `json:"usages"`
	ExtraGroups []string  `json:"extraGroups"`
	Description string    `json:"description"`
	Expired     bool      `json:"expired"`
}

func listTokens(t *testing.T, dir string, now time.Time) map[string]tokenRow {
	t.Helper()
	r := mustRunAt(t, now, "token", "list", "--dir", dir, "-o", "json")
	var rows []tokenRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("token list -o json: %v\n%s", err, r.stdout)
	}
	out := map[string]tokenRow{}
	for _, row := range rows {
		out[row.ID] = row
	}
	return out
}

// createdToken is what one `token create` added to the folder.
type createdToken struct {
	id, secret       string
	manifest, config string
	data             map[string][]byte
}

// createToken runs token create at now and checks that it added exactly
// a Secret manifest and a bootstrap kubeconfig carrying its token, both
// 0600, and printed no secret.
func createToken(t *testing.T, dir string, now time.Time, args ...string) createdToken {
	t.Helper()
	before := snapshot(t, dir)
	r := mustRunAt(t, now, append([]string{"token", "create", "--dir", dir}, args...)...)
	var added []string
	for p, e := range snapshot(t, dir) {
		old, ok := before[p]
		switch {
		case !ok:
			added = append(added, p)
		case e.mode.IsRegular() && old != e:
			t.Errorf("token create changed %s", p)
		}
	}
	sort.Strings(added)
	if len(added) != 2 || !tokenIDInName.MatchString(added[1]) || !strings.HasPrefix(added[0], "bootstrap-kubelet-") {
		t.Fatalf("token create added %v, want a Secret manifest and a bootstrap kubeconfig", added)
	}
	tok := createdToken{config: added[0], manifest: added[1]}
	s, err := parseTokenSecret(readFile(t, dir, tok.manifest))
	if err != nil {
		t.Fatalf("%s: %v", tok.manifest, err)
	}
	tok.id, tok.secret, tok.data = string(s.Data["token-id"]), string(s.Data["token-secret"]), s.Data
	if !tokenRE.MatchString(tok.id + "." + tok.secret) {
		t.Fatalf("%s holds a token not of the form [a-z0-9]{6}.[a-z0-9]{16}", tok.manifest)
	}
	if s.Metadata.Name != "bootstrap-token-"+tok.id || path.Base(tok.manifest) != "bootstrap-token-"+tok.id+".yaml" {
		t.Errorf("%s: Secret %q does not carry its token's ID %s", tok.manifest, s.Metadata.Name, tok.id)
	}
	kc, err := parseKubeconfig(readFile(t, dir, tok.config))
	if err != nil {
		t.Fatalf("%s: %v", tok.config, err)
	}
	if kc.Users[0].User.Token != tok.id+"."+tok.secret {
		t.Errorf("%s does not carry the token of %s", tok.config, tok.manifest)
	}
	snap := snapshot(t, dir)
	for _, f := range added {
		if snap[f].mode != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, snap[f].mode)
		}
	}
	if strings.Contains(r.stdout+r.stderr, tok.secret) {
		t.Errorf("token create printed the token's secret without --print")
	}
	return tok
}

// TestTokensOffline: bootstrap tokens created, listed and deleted in a
// folder, with the clock injected.
func TestTokensOffline(t *testing.T) {
	dir := newTree(t, oneNodeConfig)
	initToken := tokens(t, dir)
	if len(initToken) != 1 {
		t.Fatalf("init made %d token Secrets, want 1", len(initToken))
	}
	now := t0.Add(5 * time.Hour)

	workers := createToken(t, dir, now, "--ttl", "2h", "--groups", "system:bootstrappers:workers", "--description", "rack 7")
	if got, want := string(workers.data["expiration"]), now.Add(2*time.Hour).Format(time.RFC3339); got != want {
		t.Errorf("--ttl 2h at %v: expiration %s, want %s", now, got, want)
	}
	for k, want := range map[string]string{"auth-extra-groups": "system:bootstrappers:workers", "description": "rack 7",
		"usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true"} {
		if got := string(workers.data[k]); got != want {
			t.Errorf("%s: %s is %q, want %q", workers.manifest, k, got, want)
		}
	}
	kc, _ := parseKubeconfig(readFile(t, dir, workers.config))
	if kc.Clusters[0].Cluster.Server != "https://10.0.0.11:6443" || string(kc.Clusters[0].Cluster.CAData) != string(readFile(t, dir, "pki/ca.crt")) {
		t.Errorf("%s does not point at the cluster with its CA: %s", workers.config, kc.Clusters[0].Cluster.Server)
	}
	// The configuration's TTL (24h) by default; days accepted.
	daily := createToken(t, dir, now)
	if got, want := string(daily.data["expiration"]), now.Add(24*time.Hour).Format(time.RFC3339); got != want {
		t.Errorf("default TTL: expiration %s, want %s", got, want)
	}
	weekly := createToken(t, dir, now, "--ttl", "7d", "--usages", "authentication")
	if got, want := string(weekly.data["expiration"]), now.Add(7*24*time.Hour).Format(time.RFC3339); got != want {
		t.Errorf("--ttl 7d: expiration %s, want %s", got, want)
	}
	if _, ok := weekly.data["usage-bootstrap-signing"]; ok {
		t.Errorf("--usages authentication: the Secret allows signing too")
	}
	printed := mustRunAt(t, now, "token", "create", "--dir", dir, "--print")
	var full []string
	for _, f := range strings.Fields(printed.stdout) {
		if tokenRE.MatchString(f) {
			full = append(full, f)
		}
	}
	if len(full) != 1 || !slices.Contains(slices.Collect(maps.Values(tokens(t, dir))), full[0]) {
		t.Errorf("token create --print printed %v, want the new token", full)
	}

	// list: every token, its expiry; expired once the clock passes it.
	rows := listTokens(t, dir, now.Add(time.Hour))
	for _, id := range []string{workers.id, daily.id, weekly.id, full[0][:6]} {
		if _, ok := rows[id]; !ok {
			t.Errorf("token list does not list %s", id)
		}
	}
	if len(rows) != 5 {
		t.Errorf("token list lists %d tokens, want 5", len(rows))
	}
	if w := rows[workers.id]; !w.Expires.Equal(now.Add(2*time.Hour)) || w.Expired || !slices.Equal(w.ExtraGroups, []string{"system:bootstrappers:workers"}) {
		t.Errorf("token list an hour later: %+v", w)
	}
	rows = listTokens(t, dir, now.Add(3*time.Hour))
	if !rows[workers.id].Expired || rows[daily.id].Expired || rows[weekly.id].Expired {
		t.Errorf("token list three hours later: expired %v %v %v, want true false false", rows[workers.id].Expired, rows[daily.id].Expired, rows[weekly.id].Expired)
	}

	// delete removes the Secret and the kubeconfig carrying it, nothing else.
	deleted := func(args []string, want ...string) {
		t.Helper()
		before := snapshot(t, dir)
		mustRunAt(t, now, append([]string{"token", "delete"}, append(args, "--dir", dir)...)...)
		var d []string
		for _, f := range want {
			d = append(d, "removed "+f)
		}
		sort.Strings(d)
		if got := diff(before, snapshot(t, dir)); !slices.Equal(got, d) {
			t.Errorf("token delete %s: %v, want %v", args[0], got, d)
		}
	}
	deleted([]string{workers.id}, workers.manifest, workers.config)
	deleted([]string{daily.id + "." + daily.secret}, daily.manifest, daily.config)
	for f, tok := range initToken {
		deleted([]string{tok[:6]}, f, "bootstrap-kubelet.conf")
	}
	rows = listTokens(t, dir, now)
	if _, ok := rows[workers.id]; ok || len(rows) != 2 {
		t.Errorf("token list after deletes: %v", rows)
	}
	// init makes a new bootstrap kubeconfig, with a new token.
	if s := parseSummary(t, mustRunAt(t, now, "init", "--dir", dir)); s.created != 2 {
		t.Errorf("init after deleting its token created %d files, want its Secret and bootstrap-kubelet.conf", s.created)
	}
	checkTree(t, dir, now)

	// Bad input: usage errors, or a token that is not there; nothing written.
	for _, bad := range []struct {
		args []string
		code int
	}{
		{[]string{"create", "--groups", "workers"}, cli.ExitUsage},
		{[]string{"create", "--groups", "system:masters"}, cli.ExitUsage},
		{[]string{"create", "--groups", "system:bootstrappers:workers,system:nodes"}, cli.ExitUsage},
		{[]string{"create", "--ttl", "0s"}, cli.ExitUsage},
		{[]string{"create", "--ttl", "-2h"}, cli.ExitUsage},
		{[]string{"create", "--ttl", "soon"}, cli.ExitUsage},
		{[]string{"create", "--usages", "everything"}, cli.ExitUsage},
		{[]string{"delete", workers.id}, cli.ExitError},
		{[]string{"delete", "ABC"}, cli.ExitUsage},
		{[]string{"delete", "abcdefg"}, cli.ExitUsage},
		{[]string{"delete"}, cli.ExitUsage},
	} {
		before := snapshot(t, dir)
		r := runAt(t, now, append(append([]string{"token"}, bad.args...), "--dir", dir)...)
		if r.code != bad.code {
			t.Errorf("exit %d, want %d\n%v", r.code, bad.code, r)
			continue
		}
		errorLine(t, r)
		if d := diff(before, snapshot(t, dir)); len(d) > 0 {
			t.Errorf("token %s changed the folder: %v", strings.Join(bad.args, " "), d)
		}
	}
}
