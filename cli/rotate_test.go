package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-k8s/bulwark/cli"
)

type rotateStatus struct {
	Root     string   `json:"root"`
	Step     string   `json:"step"`
	Complete bool     `json:"complete"`
	Pending  []string `json:"pending"`
	Old      string   `json:"old"`
	New      string   `json:"new"`
	Next     string   `json:"next"`
	Problem  string   `json:"problem"`
	Blocked  string   `json:"blocked"`
	Absent   bool     `json:"absent"`
}

func rotateStatusJSON(t *testing.T, dir string, want int) map[string]rotateStatus {
	t.Helper()
	r := run(t, "rotate", "status", "--dir", dir, "-o", "json")
	if r.code != want {
		t.Fatalf("rotate status: exit %d, want %d\n%v", r.code, want, r)
	}
	var doc struct {
		Roots            []rotateStatus `json:"roots"`
		RotationRequired []struct {
			File string `json:"file"`
		} `json:"rotationRequired"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.RotationRequired == nil {
		t.Fatalf("rotate status -o json: %v (rotationRequired %v)\n%s", err, doc.RotationRequired, r.stdout)
	}
	out := map[string]rotateStatus{}
	for _, s := range doc.Roots {
		out[s.Root] = s
	}
	return out
}

// refused runs a command that must fail with one line on stderr and the
// exit code given, and checks that it wrote nothing.
func refused(t *testing.T, dir string, want int, args ...string) string {
	t.Helper()
	before := snapshot(t, dir)
	r := run(t, args...)
	if r.code != want {
		t.Fatalf("exit %d, want %d\n%v", r.code, want, r)
	}
	line := errorLine(t, r)
	if d := diff(before, snapshot(t, dir)); len(d) > 0 {
		t.Errorf("%s wrote %v", strings.Join(args, " "), d)
	}
	return line
}

// TestRotateRefusesBadInput: an unknown root or step, a step out of
// order, flags that do not go together and a folder whose files disagree
// with its rotation record each get one line, exit 2, and nothing
// written; status shows the disagreement too.
func TestRotateRefusesBadInput(t *testing.T) {
	dir := newTree(t, threeNodeConfig)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rotate", "kubelet-ca", "--dir", dir}, `unknown root "kubelet-ca"`},
		{[]string{"rotate", "kubelet-ca"}, `unknown root "kubelet-ca"`},
		{[]string{"rotate", "ca", "--dir", dir, "--step", "reissue"}, "out of order"},
		{[]string{"rotate", "ca", "--dir", dir, "--step", "finish"}, "out of order"},
		{[]string{"rotate", "sa", "--dir", dir, "--step", "later"}, `unknown step "later"`},
		{[]string{"rotate", "ca", "--dir", dir, "--live"}, "--live needs --kubeconfig"},
		{[]string{"rotate", "ca", "--dir", dir, "--kubeconfig", "x"}, "go with --live"},
		{[]string{"rotate", "ca", "etcd-ca", "--dir", dir}, "accepts at most 1 arg"},
		{[]string{"rotate", "ca"}, "required flag"},
		{[]string{"rotate", "ca", "--dir", dir, "-o", "xml"}, "unknown output format"},
	} {
		if line := refused(t, dir, cli.ExitUsage, tc.args...); !strings.Contains(line, tc.want) {
			t.Errorf("%v: %q, want it to say %q", tc.args, line, tc.want)
		}
	}
	mustRun(t, "rotate", "ca", "--dir", dir)
	for _, args := range [][]string{
		{"rotate", "ca", "--dir", dir, "--step", "finish"},
		{"rotate", "etcd-ca", "--dir", dir, "--step", "reissue"},
	} {
		refused(t, dir, cli.ExitUsage, args...)
	}

	// Files that disagree with the record: each way gets exit 2 from a
	// step and from status, and nothing written.
	breakings := []struct {
		name  string
		brk   func(t *testing.T, dir string)
		wants string
	}{
		{"record removed while two CAs are trusted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "rotation.yaml"))
		}, "records no rotation"},
		{"the new CA's key removed", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "pki/next/ca.key"))
		}, "missing"},
		{"a stranger in the trust file", func(t *testing.T, dir string) {
			other := newTree(t, oneNodeConfig)
			data := append(readFile(t, dir, "pki/ca.crt"), readFile(t, other, "pki/ca.crt")...)
			os.WriteFile(filepath.Join(dir, "pki/ca.crt"), data, 0o644)
		}, "neither the old nor the new"},
		{"a record that is not one", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "rotation.yaml"), []byte("roots: [1, 2]\n"), 0o644)
		}, "rotation.yaml"},
	}
	for _, b := range breakings {
		t.Run(b.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "copy")
			if out, err := exec.Command("cp", "-a", dir, d).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v\n%s", err, out)
			}
			b.brk(t, d)
			for _, args := range [][]string{{"rotate", "ca", "--dir", d}, {"rotate", "ca", "--dir", d, "--step", "trust"}} {
				if line := refused(t, d, cli.ExitUsage, args...); !strings.Contains(line, b.wants) {
					t.Errorf("%v: %q, want it to say %q", args, line, b.wants)
				}
			}
			before := snapshot(t, d)
			r := run(t, "rotate", "status", "--dir", d)
			if r.code != cli.ExitUsage || !strings.Contains(r.stdout, "DISAGREES") && !strings.Contains(r.stderr, "rotation.yaml") {
				t.Errorf("status: %v", r)
			}
			errorLine(t, r)
			if d := diff(before, snapshot(t, d)); len(d) > 0 {
				t.Errorf("status wrote %v", d)
			}
		})
	}

	// After the reissue, a trust file put back as it was before the
	// rotation fits neither the reissue nor the trust step.
	mustRun(t, "rotate", "ca", "--dir", dir)
	d := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", dir, d).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	first := readFile(t, d, "pki/ca.crt")
	end := strings.Index(string(first), "-----END CERTIFICATE-----\n") + len("-----END CERTIFICATE-----\n")
	os.WriteFile(filepath.Join(d, "pki/ca.crt"), first[:end], 0o644)
	if line := refused(t, d, cli.ExitUsage, "rotate", "ca", "--dir", d); !strings.Contains(line, "neither as reissue leaves it nor as trust left it") {
		t.Errorf("%q", line)
	}
}

// TestRotateStatus follows a rotation in status: each step, and a step
// left part-way (files of the trust step put back as they were) is
// "in progress" and finished by running it again.
func TestRotateStatus(t *testing.T) {
	dir := newTree(t, threeNodeConfig)
	st := rotateStatusJSON(t, dir, cli.ExitOK)
	if len(st) != 5 {
		t.Fatalf("%d roots", len(st))
	}
	for root, s := range st {
		if s.Step != "" || !s.Complete || s.Next != "trust" || s.Problem != "" || s.Old == "" || s.New != "" {
			t.Errorf("%s before any rotation: %+v", root, s)
		}
	}
	before := map[string][]byte{}
	for _, f := range []string{"admin.conf", "nodes/cp-1/scheduler.conf", "pki/ca.crt"} {
		before[f] = readFile(t, dir, f)
	}
	r := mustRun(t, "rotate", "ca", "--dir", dir)
	for _, want := range []string{"ca: trust step done", "pki/next/ca.key", "every node (kubelet)", "kube-controller-manager", "restarted by the kubelet", "rereads them by itself", "next: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("trust report lacks %q:\n%s", want, r.stdout)
		}
	}
	st = rotateStatusJSON(t, dir, cli.ExitOK)
	if s := st["ca"]; s.Step != "trust" || !s.Complete || s.Next != "reissue" || s.New == "" {
		t.Errorf("ca after trust: %+v", s)
	}
	// Put two files back: the trust step is now in progress.
	for _, f := range []string{"admin.conf", "nodes/cp-1/scheduler.conf"} {
		os.WriteFile(filepath.Join(dir, f), before[f], 0o600)
	}
	st = rotateStatusJSON(t, dir, cli.ExitOK)
	if s := st["ca"]; s.Step != "trust" || s.Complete || s.Next != "trust" || fmt.Sprint(s.Pending) != "[admin.conf nodes/cp-1/scheduler.conf]" {
		t.Errorf("ca with the trust step undone in two files: %+v", s)
	}
	r = mustRun(t, "rotate", "ca", "--dir", dir)
	if !strings.Contains(r.stdout, "ca: trust step finished (it had been started by an earlier run)") {
		t.Errorf("resumed trust:\n%s", r.stdout)
	}
	if s := rotateStatusJSON(t, dir, cli.ExitOK)["ca"]; !s.Complete || s.Step != "trust" {
		t.Errorf("after the resumed trust: %+v", s)
	}
	mustRun(t, "rotate", "ca", "--dir", dir)
	mustRun(t, "rotate", "etcd-ca", "--dir", dir)
	st = rotateStatusJSON(t, dir, cli.ExitOK)
	if st["ca"].Step != "reissue" || st["etcd-ca"].Step != "trust" || st["sa"].Step != "" {
		t.Errorf("two roots at once: %+v", st)
	}
	r = mustRun(t, "rotate", "status", "--dir", dir)
	for _, want := range []string{"ROOT", "ca              reissue", "etcd-ca         trust", "not rotating"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status table lacks %q:\n%s", want, r.stdout)
		}
	}
	// The finish waits until kubelets have renewed the client
	// certificates the old CA signed: --cluster-signing-duration (72h)
	// after the reissue.
	r = mustRun(t, "rotate", "status", "--dir", dir)
	if !strings.Contains(r.stdout, "finish (not before ") {
		t.Errorf("status does not say when the finish is allowed:\n%s", r.stdout)
	}
	if line := refused(t, dir, cli.ExitError, "rotate", "ca", "--dir", dir); !strings.Contains(line, "--cluster-signing-duration=72h0m0s") {
		t.Errorf("early finish: %q", line)
	}
	mustRunAt(t, t0.Add(73*time.Hour), "rotate", "ca", "--dir", dir)
	if s := rotateStatusJSON(t, dir, cli.ExitOK)["ca"]; s.Step != "finish" || !s.Complete || s.Next != "trust" {
		t.Errorf("ca after finish: %+v", s)
	}
}

// TestRotateStatusKubeadm: status reads a folder the real kubeadm made:
// nothing rotating, no peer CA of its own, and a cluster CA that cannot be
// rotated until bulwark renders the controller manager (kubeadm's signs
// from pki/ca.crt, which a rotation makes a bundle: kubeadm#1350), which
// rotate then refuses with one line and exit 2.
func TestRotateStatusKubeadm(t *testing.T) {
	dir := kubeadmTree(t)
	st := rotateStatusJSON(t, dir, cli.ExitOK)
	for _, root := range []string{"ca", "etcd-ca", "front-proxy-ca", "sa"} {
		if s := st[root]; s.Step != "" || !s.Complete || s.Problem != "" || s.Old == "" {
			t.Errorf("kubeadm %s: %+v", root, s)
		}
	}
	if s := st["ca"]; !strings.Contains(s.Blocked, "kubeadm#1350") {
		t.Errorf("kubeadm's controller manager signs from pki/ca.crt, status says %+v", s)
	}
	if s := st["etcd-peer-ca"]; !s.Absent || s.Problem != "" {
		t.Errorf("kubeadm has no etcd peer CA of its own: %+v", s)
	}
	if line := refused(t, dir, cli.ExitUsage, "rotate", "ca", "--dir", dir); !strings.Contains(line, "kubeadm#1350") {
		t.Errorf("%q", line)
	}
	// The other roots rotate on kubeadm's folder as it is: its etcd peers
	// trust etcd-ca, so that rotation reissues the peer certificates too.
	for _, root := range []string{"etcd-ca", "front-proxy-ca", "sa"} {
		for range 3 {
			mustRun(t, "rotate", root, "--dir", dir, "--force")
		}
	}
	st = rotateStatusJSON(t, dir, cli.ExitOK)
	for _, root := range []string{"etcd-ca", "front-proxy-ca", "sa"} {
		if s := st[root]; s.Step != "finish" || !s.Complete {
			t.Errorf("kubeadm %s after three steps: %+v", root, s)
		}
	}
	peer, err := parseCertPEM(readFile(t, dir, "pki/etcd/peer.crt"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := parseCertPEM(readFile(t, dir, "pki/etcd/ca.crt"))
	if err != nil || peer.CheckSignatureFrom(ca) != nil {
		t.Errorf("kubeadm's etcd peer certificate is not signed by the new etcd CA (%v)", err)
	}
}

func bootstrapTokenID(t *testing.T, dir string) string {
	t.Helper()
	kc, err := parseKubeconfig(readFile(t, dir, "bootstrap-kubelet.conf"))
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := strings.Cut(kc.Users[0].User.Token, ".")
	return id
}

func tokenExpiry(t *testing.T, dir, id string) time.Time {
	t.Helper()
	s, err := parseTokenSecret(readFile(t, dir, "cluster/bootstrap-token-"+id+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339, string(s.Data["expiration"]))
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestTokenRotate: token rotate gives bootstrap-kubelet.conf a new token
// with its Secret, ends the old one after the grace period (its Secret's
// expiration brought forward, never pushed back), deletes it at once with
// --grace 0, and drops Secrets of tokens that have ended; the tree still
// checks out; a bad grace is refused with exit 2 and nothing written.
func TestTokenRotate(t *testing.T) {
	dir := newTree(t, threeNodeConfig)
	first := bootstrapTokenID(t, dir)
	mustRunAt(t, t0, "token", "rotate", "--dir", dir, "--grace", "1h")
	second := bootstrapTokenID(t, dir)
	if second == first {
		t.Fatal("the token did not change")
	}
	if got := tokenExpiry(t, dir, first); !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("the old token ends %v, want %v", got, t0.Add(time.Hour))
	}
	if got := tokenExpiry(t, dir, second); !got.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("the new token ends %v", got)
	}
	checkTree(t, dir, t0)
	// A grace longer than the old token has left does not extend it.
	mustRunAt(t, t0.Add(10*time.Minute), "token", "rotate", "--dir", dir, "--grace", "0")
	third := bootstrapTokenID(t, dir)
	if _, err := os.Stat(filepath.Join(dir, "cluster/bootstrap-token-"+second+".yaml")); !os.IsNotExist(err) {
		t.Errorf("--grace 0 left the old token's Secret (%v)", err)
	}
	if got := tokenExpiry(t, dir, first); !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("the first token's end moved to %v", got)
	}
	// Two hours on, the first token has ended: its Secret goes.
	mustRunAt(t, t0.Add(2*time.Hour), "token", "rotate", "--dir", dir, "--grace", "30m")
	if _, err := os.Stat(filepath.Join(dir, "cluster/bootstrap-token-"+first+".yaml")); !os.IsNotExist(err) {
		t.Errorf("the ended token's Secret is still there (%v)", err)
	}
	if got := tokenExpiry(t, dir, third); !got.Equal(t0.Add(2*time.Hour + 30*time.Minute)) {
		t.Errorf("the third token ends %v", got)
	}
	checkTree(t, dir, t0.Add(2*time.Hour))
	for _, args := range [][]string{
		{"token", "rotate", "--dir", dir},
		{"token", "rotate", "--dir", dir, "--grace", "-1h"},
		{"token", "rotate", "--dir", dir, "--grace", "48h"},
		{"token", "rotate", "--dir", dir, "--grace", "soon"},
	} {
		refused(t, dir, cli.ExitUsage, args...)
	}
}

// TestCheckExpirationDuringRotation: two CAs in pki/ca.crt are no finding
// while the cluster CA is rotated (each is named old or new), nor after
// the finish; a second CA trusted outside any rotation is one (exit 3,
// status stale).
func TestCheckExpirationDuringRotation(t *testing.T) {
	dir := newTree(t, threeNodeConfig)
	notes := func(entries []expiryEntry) (old, nu, stale int) {
		for _, e := range entries {
			switch {
			case e.File != "pki/ca.crt":
			case strings.HasPrefix(e.Note, "old ca CA"):
				old++
			case strings.HasPrefix(e.Note, "new ca CA"):
				nu++
			case e.Status == "stale":
				stale++
			}
		}
		return
	}
	mustRun(t, "rotate", "ca", "--dir", dir)
	afterTrust := copyOf(t, dir)
	for _, step := range []string{"trust", "reissue"} {
		if step == "reissue" {
			mustRun(t, "rotate", "ca", "--dir", dir)
		}
		if o, n, s := notes(checkExpiration(t, dir, t0.Add(time.Hour), cli.ExitOK)); o != 1 || n != 1 || s != 0 {
			t.Errorf("after %s: pki/ca.crt has %d old, %d new, %d stale CAs", step, o, n, s)
		}
	}
	oldCA := readFile(t, dir, "pki/ca.crt")
	mustRun(t, "rotate", "ca", "--dir", dir, "--force")
	if o, n, s := notes(checkExpiration(t, dir, t0.Add(time.Hour), cli.ExitOK)); o+n+s != 0 {
		t.Errorf("after finish: %d old, %d new, %d stale", o, n, s)
	}
	// The old CA put back after the finish.
	if err := os.WriteFile(filepath.Join(dir, "pki/ca.crt"), oldCA, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, s := notes(checkExpiration(t, dir, t0.Add(time.Hour), cli.ExitFindings)); s != 1 {
		t.Errorf("an old CA put back after the finish: %d stale", s)
	}
	// A bundle with no rotation recorded.
	os.Remove(filepath.Join(afterTrust, "rotation.yaml"))
	if _, _, s := notes(checkExpiration(t, afterTrust, t0.Add(time.Hour), cli.ExitFindings)); s != 1 {
		t.Errorf("two CAs and no rotation: %d stale", s)
	}
}

// TestRotateStatusCompromised: a key the administrators' record marks
// compromised (a removed administrator could read it) shows in status.
func TestRotateStatusCompromised(t *testing.T) {
	dir := newTree(t, threeNodeConfig)
	if err := os.MkdirAll(filepath.Join(dir, "admins"), 0o700); err != nil {
		t.Fatal(err)
	}
	doc := "apiVersion: bulwark.dev/v1alpha1\nkind: RotationRequired\ncompromised:\n" +
		"  - {file: pki/etcd/ca.key, what: a private key, ca: true, holder: alice, reason: removed administrator, since: \"2031-03-01T00:00:00Z\"}\n" +
		"  - {file: pki/apiserver-etcd-client.key, what: a private key, holder: alice, reason: removed administrator, since: \"2031-03-01T00:00:00Z\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "admins/rotation-required.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	// Marked for rotation: exit 3, the root and the file named.
	r := run(t, "rotate", "status", "--dir", dir)
	if r.code != cli.ExitFindings || !strings.Contains(r.stdout, "etcd-ca: COMPROMISED, rotation required: pki/etcd/ca.key could be read by alice") || strings.Contains(r.stdout, "\nca: COMPROMISED") ||
		!strings.Contains(r.stderr, "rotation required: 2 files, 1 of them CA keys") {
		t.Errorf("status: %v", r)
	}
	// The etcd CA's rotation, its leaves given new keys, clears both
	// marks: status exits 0 again.
	for _, step := range []string{"trust", "reissue", "finish"} {
		args := []string{"rotate", "etcd-ca", "--dir", dir, "--step", step, "--force"}
		if step == "reissue" {
			args = append(args, "--new-key")
		}
		mustRun(t, args...)
	}
	if _, err := os.Stat(filepath.Join(dir, "admins/rotation-required.yaml")); !os.IsNotExist(err) {
		t.Errorf("the mark is still there after the rotation: %v", err)
	}
	if s := rotateStatusJSON(t, dir, cli.ExitOK); s["etcd-ca"].Step != "finish" || !s["etcd-ca"].Complete {
		t.Errorf("etcd-ca after its rotation: %+v", s["etcd-ca"])
	}
}

// TestOtherCommandsBetweenSteps: between a rotation's steps (each written
// completely) the folder trusts two keys on purpose. init keeps every
// file, audit raises nothing above info, and `certs renew sa` (which would
// rewrite sa.pub from sa.key alone: every token of the other key refused)
// refuses and changes nothing.
func TestOtherCommandsBetweenSteps(t *testing.T) {
	for _, root := range []string{"ca", "etcd-ca", "etcd-peer-ca", "front-proxy-ca", "sa"} {
		t.Run(root, func(t *testing.T) {
			dir := newTree(t, threeNodeConfig)
			for _, step := range []string{"trust", "reissue"} {
				mustRun(t, "rotate", root, "--dir", dir, "--step", step)
				if s := parseSummary(t, mustRun(t, "init", "--dir", dir)); s.created+s.issued+s.renewed+s.removed > 0 {
					t.Errorf("after %s: init changed files: %+v", step, s)
				}
				if r := run(t, "audit", "--dir", dir, "--fail-on", "low"); r.code != cli.ExitOK {
					t.Errorf("after %s: audit: want no finding above info\n%v", step, r)
				}
				before := snapshot(t, dir)
				for _, args := range [][]string{{"certs", "renew", "sa", "--dir", dir}, {"certs", "renew", "sa", "--new-key", "--dir", dir}} {
					r := run(t, args...)
					if root == "sa" && (r.code != cli.ExitError || !strings.Contains(errorLine(t, r), "sa is being rotated")) {
						t.Errorf("after %s: %v: want a refusal\n%v", step, args, r)
					}
					if root == "sa" {
						if d := diff(before, snapshot(t, dir)); len(d) > 0 {
							t.Errorf("after %s: a refused %v changed %v", step, args, d)
						}
					}
				}
			}
		})
	}
}
