package audit

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/bulwark-k8s/bulwark/expiry"
	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/store"
)

// KubeletReadOnlyPort is the kubelet's unauthenticated read-only port, on
// unless readOnlyPort: 0 turns it off.
const KubeletReadOnlyPort = 10255

// ClusterClientCert and ClusterClientKey are the cluster-CA client
// credential of a cluster folder that the live audit presents to etcd,
// which must refuse it.
const (
	ClusterClientCert = "pki/apiserver-kubelet-client.crt"
	ClusterClientKey  = "pki/apiserver-kubelet-client.key"
)

// LiveOptions say which endpoints the live audit probes. Endpoints are
// host:port, host (the component's default port) or a URL.
type LiveOptions struct {
	// Etcd and EtcdPeers are etcd client and peer endpoints (default ports
	// 2379 and 2380). Both must refuse a client without a certificate, and
	// one with a certificate from the cluster CA.
	Etcd, EtcdPeers []string
	// ClientCert and ClientKey are PEM files of a client certificate from
	// the cluster CA, presented to etcd. Default: Dir's
	// apiserver-kubelet-client, when Dir is given.
	ClientCert, ClientKey string
	// Dir is a cluster folder to take ClientCert and ClientKey from.
	Dir string
	// APIServer is the API server's URL (default port 6443 when it names
	// none); without it, Kubeconfig's current context names the server.
	APIServer string
	// Kubeconfig's credentials read the cluster's objects.
	Kubeconfig string
	// Kubelets are kubelet endpoints (default port 10250), which must
	// answer 401 to an anonymous request.
	Kubelets []string
	// ReadOnlyPort is the port that must be closed on every kubelet host
	// (default KubeletReadOnlyPort), unless SkipReadOnlyPort.
	ReadOnlyPort     int
	SkipReadOnlyPort bool
	// ControllerManagers and Schedulers are hosts whose controller-manager
	// and scheduler ports (default 10257 and 10259) must be bound to
	// loopback only: the port is probed on every non-loopback address of
	// the host, or of this machine when the host is empty, loopback or one
	// of this machine's addresses.
	ControllerManagers, Schedulers []string
	// Timeout bounds each connection (default 5s).
	Timeout time.Duration
	// Now and WarnWithin drive the expiry of the served certificates.
	Now        time.Time
	WarnWithin time.Duration
	// Unreachable is the severity of the finding for an endpoint that
	// could not be probed; empty makes it an error (ErrUnreachable): an
	// audit that reached nothing never passes silently.
	Unreachable finding.Severity
	// LocalAddrs lists this machine's non-loopback addresses. Default:
	// MachineAddrs.
	LocalAddrs func() ([]net.IP, error)
}

// Empty reports whether the options name no endpoint to probe.
func (o *LiveOptions) Empty() bool {
	return len(o.Etcd)+len(o.EtcdPeers)+len(o.Kubelets)+len(o.ControllerManagers)+len(o.Schedulers) == 0 &&
		o.APIServer == "" && o.Kubeconfig == ""
}

// Errors in the options, which Live returns before probing anything.
var (
	ErrNoEndpoint      = errors.New("no endpoint to probe")
	ErrInvalidEndpoint = errors.New("invalid endpoint")
	// ErrUnreachable is returned when endpoints could not be probed and
	// LiveOptions.Unreachable is empty.
	ErrUnreachable = errors.New("endpoints could not be probed")
)

// live is one run of the live audit. Probes run concurrently; mu guards
// the report and the served certificates.
type live struct {
	opts LiveOptions
	// clusterCert is the cluster-CA client certificate, nil if none.
	clusterCert *tls.Certificate
	mu          sync.Mutex
	r           *Report
	served      map[string]*x509.Certificate
	// missed lists the endpoints that could not be probed.
	missed []string
}

// Live probes a control plane's endpoints from outside: etcd's client and
// peer ports must refuse clients without a certificate and clients with a
// cluster-CA certificate; kubelets must answer 401 to anonymous requests
// and keep the read-only port closed; the API server must refuse anonymous
// requests for resources; the controller manager's and the scheduler's
// ports must not be reachable beyond loopback; every certificate served
// must be valid for WarnWithin; and, with a Kubeconfig, no namespace's
// default ServiceAccount may automount its token. An endpoint that cannot be reached
// is a finding (live:unreachable), since its checks did not run.
func Live(ctx context.Context, o LiveOptions) (*Report, error) {
	if o.Empty() {
		return nil, ErrNoEndpoint
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.WarnWithin == 0 {
		o.WarnWithin = expiry.DefaultWarnWithin
	}
	if o.ReadOnlyPort == 0 {
		o.ReadOnlyPort = KubeletReadOnlyPort
	}
	if o.LocalAddrs == nil {
		o.LocalAddrs = MachineAddrs
	}
	l := &live{opts: o, r: newReport(), served: map[string]*x509.Certificate{}}
	cert, err := o.loadClusterCert()
	if err != nil {
		return nil, err
	}
	l.clusterCert = cert

	api := o.APIServer
	if api == "" && o.Kubeconfig != "" {
		if api, err = kubeconfigServer(o.Kubeconfig); err != nil {
			return nil, err
		}
	}

	// Parse every endpoint before probing any, so that a typo is an
	// error, not a finding.
	type job struct {
		addr string
		run  func(ctx context.Context, addr string)
	}
	var jobs []job
	add := func(list []string, port int, hostOnly bool, run func(context.Context, string)) {
		for _, e := range list {
			a, perr := hostPort(e, port, hostOnly)
			if perr != nil && err == nil {
				err = perr
			}
			jobs = append(jobs, job{a, run})
		}
	}
	add(o.Etcd, hardening.EtcdClientPort, false, func(ctx context.Context, a string) { l.etcd(ctx, a, false) })
	add(o.EtcdPeers, hardening.EtcdPeerPort, false, func(ctx context.Context, a string) { l.etcd(ctx, a, true) })
	if api != "" {
		add([]string{api}, hardening.APIServerPort, false, l.apiServer)
	}
	n := len(jobs)
	add(o.Kubelets, hardening.KubeletPort, false, l.kubelet)
	kubelets := slices.Clone(jobs[n:])
	add(o.ControllerManagers, hardening.ControllerMgrPort, true, func(ctx context.Context, a string) { l.loopbackOnly(ctx, hardening.ControllerManager, a) })
	add(o.Schedulers, hardening.SchedulerPort, true, func(ctx context.Context, a string) { l.loopbackOnly(ctx, hardening.Scheduler, a) })
	if err != nil {
		return nil, err
	}
	if !o.SkipReadOnlyPort {
		if o.ReadOnlyPort < 1 || o.ReadOnlyPort > 65535 {
			return nil, fmt.Errorf("%w: read-only port %d", ErrInvalidEndpoint, o.ReadOnlyPort)
		}
		seen := map[string]bool{}
		for _, j := range kubelets {
			if host, _, _ := net.SplitHostPort(j.addr); !seen[host] {
				seen[host] = true
				jobs = append(jobs, job{net.JoinHostPort(host, strconv.Itoa(o.ReadOnlyPort)), l.readOnly})
			}
		}
	}

	if o.Kubeconfig != "" {
		jobs = append(jobs, job{"", func(ctx context.Context, _ string) { l.clusterObjects(ctx) }})
	}

	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() { j.run(ctx, j.addr) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(l.missed) > 0 && o.Unreachable == "" {
		sort.Strings(l.missed)
		return nil, fmt.Errorf("%w: %s", ErrUnreachable, strings.Join(l.missed, "; "))
	}
	l.checkServed()
	l.r.Sort()
	return l.r, nil
}

func (l *live) add(f Finding) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.Add(f)
}

func (l *live) checked(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.Check(id)
}

// serve records the certificate an endpoint served, for the expiry check.
func (l *live) serve(endpoint string, c *x509.Certificate) {
	if c == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.served[endpoint] = c
}

// liveFinding makes a finding of a declared rule, seen from outside.
func liveFinding(id string, comp hardening.Component, ev Evidence, fix string) Finding {
	f := Rules().New(id, ev)
	f.Component = string(comp)
	if fix != "" {
		f.Remediation = fix
	}
	return f
}

// Rule IDs only the live audit reports.
const (
	apiAnonymousLiveID     = "kube-apiserver:anonymous-served"
	kubeletAnonymousLiveID = "kubelet:anonymous-served"
	apiAnonymousCIS        = "1.2.1"
	kubeletAnonymousID     = "kubelet:authentication.anonymous.enabled"
	readOnlyPortID         = "kubelet:readOnlyPort"
	etcdPlainLiveID        = idEtcdPlainClient
)

// UnreachableID is the finding for an endpoint whose checks could not run.
const UnreachableID = "live:unreachable"

func (l *live) unreachable(comp hardening.Component, what, endpoint string, err error) {
	l.mu.Lock()
	l.missed = append(l.missed, fmt.Sprintf("%s %s: %v", what, endpoint, err))
	l.mu.Unlock()
	if l.opts.Unreachable == "" {
		return
	}
	f := liveFinding(UnreachableID, comp, Evidence{Endpoint: endpoint, Detail: what + " could not be probed: " + err.Error()}, "")
	f.Severity = l.opts.Unreachable
	l.add(f)
}

// etcd checks that a client or peer port refuses a client without a
// certificate, then one with a certificate from the cluster CA.
func (l *live) etcd(ctx context.Context, addr string, peer bool) {
	port, authRule, caRule, plainRule := "client", "etcd:client-cert-auth", idEtcdSeparateCA, idEtcdPlainClient
	authFix, caFix := "set --client-cert-auth=true and --trusted-ca-file to the etcd CA (pki/etcd/ca.crt)",
		"set --trusted-ca-file to a CA of etcd's own (pki/etcd/ca.crt), never the cluster CA, and reissue etcd's client certificates from it"
	if peer {
		port, authRule, caRule, plainRule = "peer", "etcd:peer-client-cert-auth", idEtcdPeerCluster, idEtcdPlainPeer
		authFix, caFix = "set --peer-client-cert-auth=true and --peer-trusted-ca-file to the etcd peer CA (pki/etcd/peer-ca.crt)",
			"set --peer-trusted-ca-file to a CA that signs etcd peer certificates only (pki/etcd/peer-ca.crt)"
	}
	what := "etcd's " + port + " port"
	a := l.attempt(ctx, addr, "/version", nil)
	switch {
	case a.noAnswer != nil:
		l.unreachable(hardening.Etcd, what, "https://"+addr, a.noAnswer)
		return
	case a.plain:
		l.checked(plainRule)
		p := l.plainGET(ctx, addr, "/version")
		l.add(liveFinding(plainRule, hardening.Etcd,
			Evidence{Endpoint: "http://" + addr, Response: p.response(), Detail: what + " does not speak TLS"},
			"serve TLS (--cert-file, --key-file, https:// listen URLs) and "+authFix))
		return
	}
	l.serve("https://"+addr, a.cert)
	l.checked(authRule)
	if a.accepted() {
		l.add(liveFinding(authRule, hardening.Etcd,
			Evidence{Endpoint: "https://" + addr, Response: a.response(), Detail: what + ": a TLS session without a client certificate was accepted"},
			authFix))
		return
	}
	if l.clusterCert == nil {
		return
	}
	b := l.attempt(ctx, addr, "/version", l.clusterCert)
	if b.noAnswer != nil {
		l.unreachable(hardening.Etcd, what, "https://"+addr, b.noAnswer)
		return
	}
	l.checked(caRule)
	if b.accepted() {
		detail := "a TLS session with the cluster client certificate was accepted: any Kubernetes client certificate opens etcd"
		if leaf := l.clusterCert.Leaf; leaf != nil {
			detail = fmt.Sprintf("a TLS session with %q, issued by %q, was accepted: any Kubernetes client certificate opens etcd", leaf.Subject.CommonName, leaf.Issuer.CommonName)
		}
		l.add(liveFinding(caRule, hardening.Etcd,
			Evidence{Endpoint: "https://" + addr, Response: b.response(), Detail: what + ": " + detail}, caFix))
	}
}

// anonymousVerdict judges the answer to an anonymous request for a
// resource. Only 401 means anonymous requests are refused: 403 means they
// are authenticated (as system:anonymous) and only authorization stands in
// the way; a 2xx means the resource was served.
func anonymousVerdict(status int) (served bool, meaning string) {
	switch {
	case status == http.StatusUnauthorized:
		return false, ""
	case status == http.StatusForbidden:
		return false, "anonymous requests are authenticated as system:anonymous; only authorization refuses them"
	case status >= 200 && status < 300:
		return true, "anonymous requests are authenticated and authorized: the resource was served"
	}
	return false, fmt.Sprintf("anonymous requests get past authentication (HTTP %d, not 401)", status)
}

// anonymous makes an anonymous GET, over TLS or, if the port does not
// speak it, plain HTTP; err says why no HTTP answer came. A TLS refusal of
// a client without a certificate counts as a 401.
func (l *live) anonymous(ctx context.Context, addr, path string) (endpoint string, status int, response string, err error) {
	a := l.attempt(ctx, addr, path, nil)
	l.serve("https://"+addr, a.cert)
	switch {
	case a.noAnswer != nil:
		return "https://" + addr + path, 0, "", a.noAnswer
	case a.plain:
		p := l.plainGET(ctx, addr, path)
		if p.err != nil {
			return "http://" + addr + path, 0, "", p.err
		}
		return "http://" + addr + path, p.status, p.response() + " (plain HTTP)", nil
	case a.refused != nil:
		return "https://" + addr + path, http.StatusUnauthorized, a.response(), nil
	case a.status == 0:
		return "https://" + addr + path, 0, "", fmt.Errorf("TLS session accepted but no HTTP answer: %v", a.readErr)
	}
	return "https://" + addr + path, a.status, a.response(), nil
}

// anonymousProbe asks an endpoint's path without credentials: a finding
// (id, or servedID when it answered with data) when it did not refuse.
type anonymousProbe struct {
	component      hardening.Component
	name, path     string
	id, servedID   string
	fix, servedFix string
}

var (
	kubeletProbe = anonymousProbe{
		component: hardening.Kubelet, name: "the kubelet", path: "/pods",
		id: kubeletAnonymousID, servedID: kubeletAnonymousLiveID,
		fix: "set authentication.anonymous.enabled: false, authentication.webhook.enabled: true and authorization.mode: Webhook in the KubeletConfiguration",
	}
	apiServerProbe = anonymousProbe{
		component: hardening.APIServer, name: "the API server", path: "/api/v1/namespaces",
		id: idAnonymous, servedID: apiAnonymousLiveID,
		fix:       "set --anonymous-auth=false, or --authentication-config with anonymous allowed on /livez, /readyz and /healthz only (bulwark render writes one)",
		servedFix: "; and remove whatever authorizes system:anonymous or system:unauthenticated (--authorization-mode=AlwaysAllow, a RoleBinding)",
	}
)

func (l *live) kubelet(ctx context.Context, addr string) { l.probeAnonymous(ctx, addr, kubeletProbe) }
func (l *live) apiServer(ctx context.Context, addr string) {
	l.probeAnonymous(ctx, addr, apiServerProbe)
}

func (l *live) probeAnonymous(ctx context.Context, addr string, p anonymousProbe) {
	endpoint, status, resp, err := l.anonymous(ctx, addr, p.path)
	if err != nil {
		l.unreachable(p.component, p.name, endpoint, err)
		return
	}
	l.checked(p.id)
	served, meaning := anonymousVerdict(status)
	if meaning == "" {
		return
	}
	id, fix := p.id, p.fix
	if served {
		id, fix = p.servedID, fix+p.servedFix
	}
	l.add(liveFinding(id, p.component, Evidence{Endpoint: endpoint, Response: resp, Detail: meaning}, fix))
}

// readOnly checks that nothing listens on a kubelet host's read-only port.
func (l *live) readOnly(ctx context.Context, addr string) {
	l.checked(readOnlyPortID)
	conn, err := l.dial(ctx, addr)
	if err != nil {
		return
	}
	conn.Close()
	ev := Evidence{Endpoint: addr, Detail: "the port accepts connections"}
	if p := l.plainGET(ctx, addr, "/pods"); p.err == nil {
		ev.Endpoint, ev.Response = "http://"+addr+"/pods", p.response()
		ev.Detail = "the port answers plain HTTP without authentication"
	}
	ev.Detail = "the read-only port is open: " + ev.Detail
	l.add(liveFinding(readOnlyPortID, hardening.Kubelet, ev, "set readOnlyPort: 0 in the KubeletConfiguration (and drop --read-only-port)"))
}

// loopbackOnly checks that a controller-manager or scheduler port cannot
// be reached on any non-loopback address of its host.
func (l *live) loopbackOnly(ctx context.Context, comp hardening.Component, addr string) {
	host, port, _ := net.SplitHostPort(addr)
	targets, local, err := l.nonLoopback(ctx, host)
	if err != nil {
		l.unreachable(comp, string(comp), addr, err)
		return
	}
	var reached []string
	for _, ip := range targets {
		a := net.JoinHostPort(ip.String(), port)
		conn, err := l.dial(ctx, a)
		if err != nil {
			continue
		}
		conn.Close()
		reached = append(reached, a)
		if t := l.attempt(ctx, a, "/healthz", nil); t.cert != nil {
			l.serve("https://"+a, t.cert)
		}
	}
	if local {
		// The component itself, on loopback: its certificate's expiry.
		lo := net.JoinHostPort("127.0.0.1", port)
		if t := l.attempt(ctx, lo, "/healthz", nil); t.cert != nil {
			l.serve("https://"+lo, t.cert)
		} else if len(reached) == 0 {
			err := t.noAnswer
			if err == nil {
				err = errors.New("no TLS certificate served")
			}
			l.unreachable(comp, string(comp)+" on loopback", "https://"+lo, err)
		}
	}
	if len(targets) == 0 {
		return
	}
	l.checked(string(comp) + ":bind-address")
	if len(reached) == 0 {
		return
	}
	l.add(liveFinding(string(comp)+":bind-address", comp,
		Evidence{Endpoint: reached[0], Detail: "accepts connections on " + strings.Join(reached, ", ")},
		"set --bind-address=127.0.0.1"))
}

// nonLoopback lists the addresses to probe for a host: this machine's
// non-loopback addresses when the host is this machine, else the host's
// own non-loopback addresses.
func (l *live) nonLoopback(ctx context.Context, host string) (ips []net.IP, local bool, err error) {
	mine, err := l.opts.LocalAddrs()
	if err != nil {
		return nil, false, fmt.Errorf("failed to list this machine's addresses: %w", err)
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || host == "localhost" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified())):
		return mine, true, nil
	case ip != nil:
		if slices.ContainsFunc(mine, ip.Equal) {
			return mine, true, nil
		}
		return []net.IP{ip}, false, nil
	}
	found, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, false, err
	}
	for _, a := range found {
		if !a.IP.IsLoopback() {
			ips = append(ips, a.IP)
		}
	}
	if len(ips) == 0 {
		// A name for this machine's loopback (Debian's 127.0.1.1).
		return mine, true, nil
	}
	return ips, false, nil
}

// MachineAddrs lists this machine's addresses that another host could
// use: its network interfaces' addresses, without loopback and link-local
// ones.
func MachineAddrs() ([]net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []net.IP
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() || n.IP.IsUnspecified() || n.IP.IsMulticast() {
			continue
		}
		out = append(out, n.IP)
	}
	return out, nil
}

func (l *live) checkServed() {
	eps := make([]string, 0, len(l.served))
	for ep := range l.served {
		eps = append(eps, ep)
	}
	sort.Strings(eps)
	for _, ep := range eps {
		c := l.served[ep]
		l.r.Check(idCertExpired)
		who := fmt.Sprintf("%q, issued by %q,", c.Subject.CommonName, c.Issuer.CommonName)
		fix := "renew the component's serving certificate (bulwark certs renew) and restart it"
		switch expiry.Judge(c, l.opts.Now, l.opts.WarnWithin) {
		case expiry.Expired:
			l.r.Add(liveFinding(idCertExpired, "", Evidence{Endpoint: ep, Detail: fmt.Sprintf("the certificate served: %s ended %s", who, c.NotAfter.UTC().Format(time.RFC3339))}, fix))
		case expiry.Expiring:
			l.r.Add(liveFinding(idCertExpiring, "", Evidence{Endpoint: ep, Detail: fmt.Sprintf("the certificate served: %s ends %s", who, c.NotAfter.UTC().Format(time.RFC3339))}, fix))
		}
	}
}

// attempt is what one connection showed.
type attempt struct {
	// noAnswer: no TCP connection, or no TLS answer in time; nothing was
	// learnt.
	noAnswer error
	// plain: the port answered the TLS hello with something else.
	plain   bool
	version uint16
	// cert is the certificate the server presented, when it got that far.
	cert *x509.Certificate
	// refused: the server ended the session, during the handshake or, in
	// TLS 1.3, right after it (where a refused client certificate shows).
	refused error
	// An accepted session's HTTP answer, or why none came (readErr).
	status  int
	header  string
	body    string
	readErr error
}

func (a attempt) accepted() bool { return a.noAnswer == nil && !a.plain && a.refused == nil }

func (a attempt) response() string {
	switch {
	case a.refused != nil:
		return "TLS refused: " + a.refused.Error()
	case a.status != 0:
		return fmt.Sprintf("%s accepted; HTTP %s %s", tls.VersionName(a.version), a.header, a.body)
	}
	return fmt.Sprintf("%s accepted; no HTTP answer: %v", tls.VersionName(a.version), a.readErr)
}

func (l *live) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: l.opts.Timeout}
	return d.DialContext(ctx, "tcp", addr)
}

// attempt opens a TLS session, presenting cert (or no certificate) whatever
// CAs the server asks for, and sends one GET. It does not verify the
// server: the audit judges whom the server lets in, and records what it
// serves.
func (l *live) attempt(ctx context.Context, addr, path string, cert *tls.Certificate) attempt {
	var a attempt
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	conn, err := l.dial(ctx, addr)
	if err != nil {
		a.noAnswer = err
		return a
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(addr)
	cfg := &tls.Config{
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS10,
		NextProtos:         []string{"http/1.1"},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) > 0 {
				a.cert, _ = x509.ParseCertificate(raw[0])
			}
			return nil
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert != nil {
				return cert, nil
			}
			return &tls.Certificate{}, nil
		},
	}
	if net.ParseIP(host) == nil {
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		var rh tls.RecordHeaderError
		switch {
		case errors.As(err, &rh):
			a.plain = true
		case isTimeout(err):
			a.noAnswer = fmt.Errorf("no TLS answer within %s", l.opts.Timeout)
		default:
			a.refused = err
		}
		return a
	}
	a.version = tc.ConnectionState().Version
	req := newGET(addr, path)
	err = req.Write(tc)
	var resp *http.Response
	if err == nil {
		resp, err = http.ReadResponse(bufio.NewReader(tc), req)
	}
	if err != nil {
		if sessionRefused(err, a.version) {
			a.refused = err
		} else {
			a.readErr = err
		}
		return a
	}
	defer resp.Body.Close()
	a.status, a.header, a.body = resp.StatusCode, resp.Status, snippet(resp.Body)
	return a
}

// sessionRefused tells whether an error after the handshake means the
// server ended the session: an alert, or, in TLS 1.3 (where the server
// judges the client's certificate after the client's side of the
// handshake is over), the connection closed without an answer.
func sessionRefused(err error, version uint16) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return true
	}
	closed := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
	return closed && version >= tls.VersionTLS13
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

type plainAnswer struct {
	status int
	header string
	body   string
	err    error
}

func (p plainAnswer) response() string {
	if p.err != nil {
		return "no HTTP answer: " + p.err.Error()
	}
	return fmt.Sprintf("HTTP %s %s", p.header, p.body)
}

// plainGET sends one GET over plain TCP.
func (l *live) plainGET(ctx context.Context, addr, path string) plainAnswer {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	conn, err := l.dial(ctx, addr)
	if err != nil {
		return plainAnswer{err: err}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req := newGET(addr, path)
	if err := req.Write(conn); err != nil {
		return plainAnswer{err: err}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return plainAnswer{err: err}
	}
	defer resp.Body.Close()
	return plainAnswer{status: resp.StatusCode, header: resp.Status, body: snippet(resp.Body)}
}

func newGET(addr, path string) *http.Request {
	req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}, Host: addr, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"User-Agent": {"bulwark-audit"}, "Accept": {"application/json, */*"}}, Close: true}
	return req
}

// snippet is the start of a response body on one line, for evidence: 100
// characters show what was served without copying it.
func snippet(body io.Reader) string {
	data, _ := io.ReadAll(io.LimitReader(body, 256))
	s := strings.Join(strings.FieldsFunc(string(data), func(r rune) bool { return r < 0x20 || r == 0x7f }), " ")
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 100 {
		s = string(r[:100]) + "…"
	}
	return s
}

// hostPort reads an endpoint: host:port, a bare host (default port) or a
// URL. hostOnly allows an empty host (":10257", "" : this machine).
func hostPort(ep string, defPort int, hostOnly bool) (string, error) {
	s := strings.TrimSpace(ep)
	if i := strings.Index(s, "://"); i >= 0 {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("%w %q", ErrInvalidEndpoint, ep)
		}
		if u.Port() == "" {
			switch u.Scheme {
			case "https":
				if defPort == hardening.APIServerPort {
					defPort = 443
				}
			case "http":
				defPort = 80
			}
			return net.JoinHostPort(u.Hostname(), strconv.Itoa(defPort)), nil
		}
		s = u.Host
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// A bare host, or a bare IPv6 address.
		host, port = strings.Trim(s, "[]"), strconv.Itoa(defPort)
		if strings.Contains(host, ":") && net.ParseIP(host) == nil {
			return "", fmt.Errorf("%w %q (want host:port)", ErrInvalidEndpoint, ep)
		}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("%w %q: bad port", ErrInvalidEndpoint, ep)
	}
	if host == "" && !hostOnly {
		return "", fmt.Errorf("%w %q: no host", ErrInvalidEndpoint, ep)
	}
	return net.JoinHostPort(host, port), nil
}

// loadClusterCert reads the cluster-CA client certificate to present to
// etcd: the given files, or the folder's.
func (o *LiveOptions) loadClusterCert() (*tls.Certificate, error) {
	var certPEM, keyPEM []byte
	switch {
	case o.ClientCert != "" || o.ClientKey != "":
		if o.ClientCert == "" || o.ClientKey == "" {
			return nil, errors.New("a cluster client certificate needs both its certificate and its key")
		}
		var err error
		if certPEM, err = store.ReadInput(o.ClientCert, maxInput); err != nil {
			return nil, err
		}
		if keyPEM, err = store.ReadInput(o.ClientKey, maxInput); err != nil {
			return nil, err
		}
	case o.Dir != "" && (len(o.Etcd) > 0 || len(o.EtcdPeers) > 0):
		d, err := store.Open(o.Dir)
		if err != nil {
			return nil, err
		}
		if certPEM, err = d.Read(ClusterClientCert); errors.Is(err, os.ErrNotExist) {
			return nil, nil // nothing to try
		} else if err != nil {
			return nil, err
		}
		if keyPEM, err = d.ReadSecret(ClusterClientKey); err != nil {
			return nil, err
		}
	default:
		return nil, nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("invalid cluster client certificate: %w", err)
	}
	return &pair, nil
}

// kubeconfigServer is the server of a kubeconfig's current context.
func kubeconfigServer(path string) (string, error) {
	data, err := store.ReadInput(path, maxInput)
	if err != nil {
		return "", err
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return "", fmt.Errorf("%s: not a valid kubeconfig", path)
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok || ctx == nil {
		return "", fmt.Errorf("%s: current context %q not found", path, cfg.CurrentContext)
	}
	cl, ok := cfg.Clusters[ctx.Cluster]
	if !ok || cl == nil || cl.Server == "" {
		return "", fmt.Errorf("%s: cluster %q has no server", path, ctx.Cluster)
	}
	return cl.Server, nil
}
