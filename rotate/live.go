package rotate

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/rest"

	"github.com/bulwark-k8s/bulwark/hardening"
	"github.com/bulwark-k8s/bulwark/internal/kubeclient"
	"github.com/bulwark-k8s/bulwark/pki"
	"github.com/bulwark-k8s/bulwark/plan"
)

// Live says how to reach the running cluster, to check before a step that
// it serves and trusts what the previous step wrote.
type Live struct {
	// Kubeconfig is an administrator's kubeconfig.
	Kubeconfig string
	// APIServers are the API servers' URLs (default: the kubeconfig's).
	APIServers []string
	// EtcdClients and EtcdPeers are the etcd members' client and peer
	// URLs (default: every member's, from the configuration).
	EtcdClients []string
	EtcdPeers   []string
	// Timeout bounds each probe (default 10s).
	Timeout time.Duration
}

// Validate checks the URLs.
func (lv *Live) Validate() error {
	for _, list := range [][]string{lv.APIServers, lv.EtcdClients, lv.EtcdPeers} {
		for _, u := range list {
			p, err := url.Parse(u)
			if err != nil || p.Scheme != "https" || p.Host == "" || (p.Path != "" && p.Path != "/") {
				return fmt.Errorf("invalid endpoint %q (want https://host:port)", u)
			}
		}
	}
	return nil
}

// Probe is one check of a live component.
type Probe struct {
	Endpoint string `json:"endpoint"`
	Check    string `json:"check"`
	OK       bool   `json:"ok"`
	Detail   string `json:"detail,omitempty"`
}

// ProbeCN is the name of the throwaway credentials a live check makes
// (in memory only) to see that a component trusts a new CA or key.
const ProbeCN = "bulwark:rotation-probe"

type live struct {
	*Live
	t     *tree
	v     *view
	admin *rest.Config
	ctx   context.Context
	out   []Probe
}

func (l *live) add(endpoint, check string, err error) {
	p := Probe{Endpoint: endpoint, Check: check, OK: err == nil}
	if err != nil {
		p.Detail = err.Error()
	}
	l.out = append(l.out, p)
}

// ready checks that the cluster serves and trusts what step s of the
// root wrote. A failed probe is a Refusal.
func (lv *Live) ready(t *tree, v *view, s Step) ([]Probe, error) {
	if s == None {
		return nil, nil
	}
	admin, err := kubeclient.Load(lv.Kubeconfig)
	if err != nil {
		return nil, err
	}
	timeout := lv.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	admin.Timeout = timeout
	ctx, cancel := context.WithTimeout(context.Background(), 6*timeout)
	defer cancel()
	l := &live{Live: lv, t: t, v: v, admin: admin, ctx: ctx}
	if len(l.APIServers) == 0 {
		l.APIServers = []string{admin.Host}
	}
	if len(l.EtcdClients) == 0 {
		l.EtcdClients = t.etcdURLs(hardening.EtcdClientPort)
	}
	if len(l.EtcdPeers) == 0 {
		l.EtcdPeers = t.etcdURLs(hardening.EtcdPeerPort)
	}
	if err := l.run(s); err != nil {
		return l.out, err
	}
	for _, p := range l.out {
		if !p.OK {
			return l.out, &Refusal{Msg: fmt.Sprintf("%s: the cluster does not yet serve and trust what the %s step wrote: %s: %s: %s", v.root, s, p.Endpoint, p.Check, p.Detail)}
		}
	}
	return l.out, nil
}

func (t *tree) etcdURLs(port int) []string {
	var out []string
	for _, m := range t.p.Config.EtcdMembers {
		host := "127.0.0.1"
		if len(m.IPs) > 0 {
			host = m.IPs[0]
		}
		out = append(out, "https://"+net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return out
}

func (l *live) run(s Step) error {
	v := l.v
	newKey := v.newKey()
	if v.new == nil || newKey == nil {
		return fmt.Errorf("%s: the new %s's key is not in the folder", v.root, v.what())
	}
	reissued := s == Reissue || s == Finish
	if err := l.folderCredentials(reissued); err != nil {
		return err
	}
	switch v.root {
	case plan.RootCluster:
		pool, err := l.trustPool(v.trustFile)
		if err != nil {
			return err
		}
		for _, api := range l.APIServers {
			if s == Trust || s == Reissue {
				cert, err := probeCert(v.new.cert, newKey, pki.Subject{CommonName: ProbeCN}, []pki.Usage{pki.ClientAuth})
				if err != nil {
					return err
				}
				l.add(api, "trusts a client certificate of the new CA", l.whoami(api, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, nil, ProbeCN))
			}
			if reissued {
				l.add(api, "serves a certificate of the new CA", l.servedBy(api, v.new.cert, nil))
			}
		}
		l.rootCAConfigMap(s)
		if s == Reissue {
			l.csrSignedByNew()
		}
	case plan.RootFrontProxy:
		pool, err := l.trustPool(plan.ClusterCA + ".crt")
		if err != nil {
			return err
		}
		cert, err := probeCert(v.new.cert, newKey, pki.Subject{CommonName: plan.FrontProxyClientCN}, []pki.Usage{pki.ClientAuth})
		if err != nil {
			return err
		}
		for _, api := range l.APIServers {
			l.add(api, "trusts a front-proxy request signed by the new CA", l.whoami(api, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
				http.Header{"X-Remote-User": {ProbeCN}}, ProbeCN))
		}
	case plan.RootEtcd:
		pool, err := l.trustPool(v.trustFile)
		if err != nil {
			return err
		}
		cert, err := probeCert(v.new.cert, newKey, pki.Subject{CommonName: ProbeCN}, []pki.Usage{pki.ClientAuth})
		if err != nil {
			return err
		}
		for _, ep := range l.EtcdClients {
			l.add(ep, "trusts a client certificate of the new CA", l.get(ep+"/health", &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, true))
			if reissued {
				l.add(ep, "serves a certificate of the new CA", l.servedBy(ep, v.new.cert, &cert))
			}
		}
	case plan.RootEtcdPeer:
		pool, err := l.trustPool(v.trustFile)
		if err != nil {
			return err
		}
		cert, err := probeCert(v.new.cert, newKey, pki.Subject{CommonName: ProbeCN}, []pki.Usage{pki.ServerAuth, pki.ClientAuth})
		if err != nil {
			return err
		}
		for _, ep := range l.EtcdPeers {
			l.add(ep, "trusts a peer certificate of the new CA", l.get(ep+"/version", &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, false))
			if reissued {
				l.add(ep, "serves a peer certificate of the new CA", l.servedBy(ep, v.new.cert, &cert))
			}
		}
	case plan.RootServiceAccount:
		return l.serviceAccount(s, newKey)
	}
	return nil
}

// folderCredentials probes every component with the credentials the
// folder holds now for the root's channel: signed by the old CA before
// the reissue, by the new one after; either way they must keep working.
func (l *live) folderCredentials(reissued bool) error {
	v := l.v
	by := "old"
	if reissued {
		by = "new"
	}
	pair := func(base string) (tls.Certificate, error) {
		return tls.LoadX509KeyPair(l.t.d.Path(base+".crt"), l.t.d.Path(base+".key"))
	}
	switch v.root {
	case plan.RootCluster:
		pool, err := l.trustPool(v.trustFile)
		if err != nil {
			return err
		}
		tc := l.admin.TLSClientConfig
		cert, err := tls.X509KeyPair(tc.CertData, tc.KeyData)
		if len(tc.CertData) == 0 && tc.CertFile != "" {
			cert, err = tls.LoadX509KeyPair(tc.CertFile, tc.KeyFile)
		}
		if err != nil {
			return fmt.Errorf("%s holds no client certificate: %w", l.Kubeconfig, err)
		}
		for _, api := range l.APIServers {
			l.add(api, "trusts the administrator's client certificate", l.whoami(api, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, nil, ""))
		}
	case plan.RootEtcd:
		pool, err := l.trustPool(v.trustFile)
		if err != nil {
			return err
		}
		cert, err := pair("pki/apiserver-etcd-client")
		if err != nil {
			return err
		}
		for _, ep := range l.EtcdClients {
			l.add(ep, "trusts the folder's apiserver-etcd-client (the "+by+" CA's)", l.get(ep+"/health", &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, true))
		}
	case plan.RootEtcdPeer:
		pool, err := l.trustPool(v.trustFile)
		if err != nil {
			return err
		}
		var peer string
		for _, lf := range v.leaves {
			if strings.HasSuffix(lf.file, "/peer.crt") {
				peer = strings.TrimSuffix(lf.file, ".crt")
				break
			}
		}
		if peer == "" {
			return nil
		}
		cert, err := pair(peer)
		if err != nil {
			return err
		}
		for _, ep := range l.EtcdPeers {
			l.add(ep, "trusts the folder's "+peer+" (the "+by+" CA's)", l.get(ep+"/version", &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, false))
		}
	case plan.RootFrontProxy:
		pool, err := l.trustPool(plan.ClusterCA + ".crt")
		if err != nil {
			return err
		}
		cert, err := pair("pki/" + plan.CertFrontProxyClient)
		if err != nil {
			return err
		}
		for _, api := range l.APIServers {
			l.add(api, "trusts the folder's front-proxy-client (the "+by+" CA's)", l.whoami(api, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
				http.Header{"X-Remote-User": {ProbeCN}}, ProbeCN))
		}
	}
	return nil
}

// trustPool is the CAs of a trust file of the folder.
func (l *live) trustPool(file string) (*x509.CertPool, error) {
	if !strings.Contains(file, "/") {
		file = "pki/" + file
	}
	certs, err := l.t.readCerts(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// probeCert is a throwaway certificate of a CA, for ten minutes, kept in
// memory only.
func probeCert(ca *x509.Certificate, caKey crypto.Signer, subj pki.Subject, usages []pki.Usage) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	c, err := pki.Issuer{Cert: ca, Key: caKey}.Sign(pki.Request{Subject: subj, Usages: usages, Validity: 10 * time.Minute}, key.Public(), time.Now(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}, nil
}

func (l *live) client(cfg *tls.Config) *http.Client {
	cfg.MinVersion = tls.VersionTLS12
	timeout := l.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// whoami asks an API server who the request is (SelfSubjectReview) and
// checks the answer.
func (l *live) whoami(api string, cfg *tls.Config, h http.Header, want string) error {
	body, _ := json.Marshal(authenticationv1.SelfSubjectReview{TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "SelfSubjectReview"}})
	req, err := http.NewRequestWithContext(l.ctx, http.MethodPost, strings.TrimSuffix(api, "/")+"/apis/authentication.k8s.io/v1/selfsubjectreviews", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := l.client(cfg).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	var ssr authenticationv1.SelfSubjectReview
	if err := json.Unmarshal(data, &ssr); err != nil {
		return err
	}
	if got := ssr.Status.UserInfo.Username; got != want && !(want == "" && got != "" && got != user.Anonymous) {
		return fmt.Errorf("authenticated as %q, want %q", got, want)
	}
	return nil
}

// get makes a request over mutual TLS; with ok200 the answer must be 200,
// else any HTTP answer shows the TLS handshake was accepted.
func (l *live) get(u string, cfg *tls.Config, ok200 bool) error {
	req, err := http.NewRequestWithContext(l.ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := l.client(cfg).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if ok200 && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

// servedBy checks that an endpoint's serving certificate is signed by ca.
func (l *live) servedBy(endpoint string, ca *x509.Certificate, client *tls.Certificate) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} // verified below, against ca alone
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	d := &tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
	conn, err := d.DialContext(l.ctx, "tcp", u.Host)
	if err != nil {
		return err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return errors.New("no certificate served")
	}
	if !pki.SignedBy(certs[0], ca) {
		return fmt.Errorf("serves %q issued by %q, not by the new CA", certs[0].Subject.CommonName, certs[0].Issuer.CommonName)
	}
	return nil
}

// adminDo calls the first API server as the administrator.
func (l *live) adminDo(api, method, path string, in, out any) error {
	cfg := rest.CopyConfig(l.admin)
	cfg.Host = api
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(l.ctx, method, strings.TrimSuffix(api, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// rootCAConfigMap checks what Pods are given to trust (the controller
// manager publishes its --root-ca-file as every namespace's
// kube-root-ca.crt): the new CA, and after finish the new CA alone.
func (l *live) rootCAConfigMap(s Step) {
	api := l.APIServers[0]
	var cm corev1.ConfigMap
	err := l.adminDo(api, http.MethodGet, "/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt", nil, &cm)
	check := "kube-root-ca.crt holds the new CA"
	if s == Finish {
		check = "kube-root-ca.crt holds the new CA alone"
	}
	if err == nil {
		var fps []string
		for rest := []byte(cm.Data["ca.crt"]); ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if c, perr := x509.ParseCertificate(b.Bytes); perr == nil {
				fps = append(fps, Fingerprint(c.PublicKey))
			}
		}
		switch {
		case !slices.Contains(fps, l.v.new.fp):
			err = errors.New("the controller manager publishes a root CA without the new CA (has it restarted with the new --root-ca-file?)")
		case s == Finish && len(fps) != 1:
			err = fmt.Errorf("it holds %d CAs (has the controller manager restarted with the new --root-ca-file?)", len(fps))
		}
	}
	l.add(api, check, err)
}

// csrSignedByNew checks that the controller manager signs with the new
// CA: a CSR for a throwaway client certificate, approved by the
// administrator, must come back signed by it. The CSR is deleted.
func (l *live) csrSignedByNew() {
	api := l.APIServers[0]
	err := func() error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: ProbeCN}}, key)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("bulwark-rotation-probe-%d", time.Now().UnixNano())
		exp := int32(600)
		csr := certificatesv1.CertificateSigningRequest{
			TypeMeta:   metav1.TypeMeta{APIVersion: "certificates.k8s.io/v1", Kind: "CertificateSigningRequest"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: certificatesv1.CertificateSigningRequestSpec{
				Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
				SignerName: certificatesv1.KubeAPIServerClientSignerName, ExpirationSeconds: &exp,
				Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			},
		}
		path := "/apis/certificates.k8s.io/v1/certificatesigningrequests"
		if err := l.adminDo(api, http.MethodPost, path, &csr, &csr); err != nil {
			return err
		}
		defer l.adminDo(api, http.MethodDelete, path+"/"+name, nil, nil)
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "BulwarkRotationProbe", Message: "bulwark rotate checks the signing CA"})
		if err := l.adminDo(api, http.MethodPut, path+"/"+name+"/approval", &csr, &csr); err != nil {
			return err
		}
		for {
			if len(csr.Status.Certificate) > 0 {
				c, err := pki.ParseCert(csr.Status.Certificate)
				if err != nil {
					return err
				}
				if !pki.SignedBy(c, l.v.new.cert) {
					return fmt.Errorf("signed by %q, not by the new CA (the controller manager still signs with the old one)", c.Issuer.CommonName)
				}
				return nil
			}
			select {
			case <-l.ctx.Done():
				return errors.New("the controller manager did not sign it in time")
			case <-time.After(200 * time.Millisecond):
			}
			if err := l.adminDo(api, http.MethodGet, path+"/"+name, nil, &csr); err != nil {
				return err
			}
		}
	}()
	l.add(api, "the controller manager signs CSRs with the new CA", err)
}

// serviceAccount checks the API servers' service-account keys: at trust,
// each accepts a token signed by the new key; once reissued, each signs
// with it.
func (l *live) serviceAccount(s Step, newKey crypto.Signer) error {
	var sa corev1.ServiceAccount
	api0 := l.APIServers[0]
	if err := l.adminDo(api0, http.MethodGet, "/api/v1/namespaces/default/serviceaccounts/default", nil, &sa); err != nil {
		l.add(api0, "reads ServiceAccount default/default", err)
		return nil
	}
	exp := int64(600)
	request := func(api string) (string, error) {
		tr := authenticationv1.TokenRequest{TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenRequest"},
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}
		if err := l.adminDo(api, http.MethodPost, "/api/v1/namespaces/default/serviceaccounts/default/token", &tr, &tr); err != nil {
			return "", err
		}
		return tr.Status.Token, nil
	}
	pool, err := l.trustPool(plan.ClusterCA + ".crt")
	if err != nil {
		return err
	}
	for _, api := range l.APIServers {
		tok, err := request(api)
		if err != nil {
			l.add(api, "issues a token", err)
			continue
		}
		if s == Reissue || s == Finish {
			if !verifyJWS(tok, l.v.new.pub) {
				err = errors.New("its tokens are not signed by the new key (has it restarted with the new --service-account-signing-key-file?)")
			}
			l.add(api, "signs tokens with the new key", err)
		}
		if s == Trust || s == Reissue {
			claims, err := jwsClaims(tok)
			if err != nil {
				return err
			}
			now := time.Now()
			claims["iat"], claims["nbf"], claims["exp"] = now.Unix(), now.Unix(), now.Add(5*time.Minute).Unix()
			probe, err := signJWS(claims, newKey, nil)
			if err != nil {
				return err
			}
			l.add(api, "trusts a token signed by the new key", l.whoami(api, &tls.Config{RootCAs: pool}, http.Header{"Authorization": {"Bearer " + probe}},
				"system:serviceaccount:default:default"))
		}
	}
	return nil
}

// legacyTokens lists the cluster's Secret-based service-account tokens
// that the old key signed.
func (lv *Live) legacyTokens(v *view) ([]string, error) {
	admin, err := kubeclient.Load(lv.Kubeconfig)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := &live{Live: lv, admin: admin, ctx: ctx, v: v}
	api := admin.Host
	if len(lv.APIServers) > 0 {
		api = lv.APIServers[0]
	}
	var list corev1.SecretList
	if err := l.adminDo(api, http.MethodGet, "/api/v1/secrets?fieldSelector=type%3D"+url.QueryEscape(string(corev1.SecretTypeServiceAccountToken)), nil, &list); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range list.Items {
		if tok := string(s.Data[corev1.ServiceAccountTokenKey]); tok != "" && verifyJWS(tok, v.old.pub) {
			out = append(out, s.Namespace+"/"+s.Name)
		}
	}
	return out, nil
}
