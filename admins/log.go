package admins

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bulwark-k8s/bulwark/layout"
	"github.com/bulwark-k8s/bulwark/sshsig"
	"github.com/bulwark-k8s/bulwark/store"
)

// Issuance is one line of the issuance log (layout.IssuanceLogFile): one
// certificate `bulwark admin sign` issued. Each line names the SHA-256 of
// the line before it and is signed by its approver, so that no entry can
// be changed, removed from the middle or inserted without breaking the
// chain.
type Issuance struct {
	Seq       int       `json:"seq"`
	Time      time.Time `json:"time"`
	Serial    string    `json:"serial"`
	Subject   string    `json:"subject"`
	Groups    []string  `json:"groups"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	Lifetime  string    `json:"lifetime"`
	Approver  string    `json:"approver"`
	// Request is the SHA-256 of the request file: a request is issued
	// once.
	Request string `json:"request"`
	// Prev is the SHA-256 of the previous line ("" for the first).
	Prev string `json:"prev"`
	// Sig is the approver's SSHSIG (base64) over the line without it.
	Sig string `json:"sig,omitempty"`
}

// ErrChain is wrapped by every break of the issuance log.
var ErrChain = errors.New("issuance log broken")

func (e Issuance) unsigned() ([]byte, error) {
	e.Sig = ""
	return json.Marshal(e)
}

// ReadLog reads and verifies the issuance log: the chain of digests, the
// sequence, every approver's signature (an administrator of that name,
// in some version of the manifest, with that key), and that it holds at
// least the entries the signed head counts, the last of them the one the
// head names (entries cut from its end are found).
func ReadLog(d *store.Dir, h History) ([]Issuance, error) {
	out, _, err := readLog(d, h)
	return out, err
}

// readLog is ReadLog, with the digest of the last line.
func readLog(d *store.Dir, h History) ([]Issuance, string, error) {
	hd, err := loadHead(d, h)
	if err != nil {
		return nil, "", err
	}
	data, err := d.Read(layout.IssuanceLogFile)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = nil, nil
	}
	if err != nil {
		return nil, "", err
	}
	out, digests, err := verifyLog(data, h)
	if err != nil {
		return nil, "", err
	}
	if hd != nil && hd.LogEntries > 0 {
		if len(out) < hd.LogEntries {
			return nil, "", fmt.Errorf("%w: it has %d entries but the signed head (%s) counts %d: entries were cut from its end", ErrChain, len(out), layout.HeadFile, hd.LogEntries)
		}
		if digests[hd.LogEntries-1] != hd.LogLast {
			return nil, "", fmt.Errorf("%w: entry %d is not the one the signed head (%s) names", ErrChain, hd.LogEntries, layout.HeadFile)
		}
	}
	last := ""
	if len(digests) > 0 {
		last = digests[len(digests)-1]
	}
	return out, last, nil
}

// logTail is the verified log's length and last line's digest.
func logTail(d *store.Dir, h History) (int, string, error) {
	out, last, err := readLog(d, h)
	return len(out), last, err
}

// VerifyIssuanceLog checks a folder's issuance log against its manifest
// history; a folder without a manifest has no log to check. It is the
// check `bulwark audit` runs.
func VerifyIssuanceLog(d *store.Dir) (entries int, err error) {
	h, err := LoadHistory(d)
	if errors.Is(err, ErrNoManifest) {
		ok, _ := d.Exists(layout.IssuanceLogFile)
		if ok {
			return 0, fmt.Errorf("%w: %s exists but the folder has no recipients manifest to check it against", ErrChain, layout.IssuanceLogFile)
		}
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	log, err := ReadLog(d, h)
	return len(log), err
}

func verifyLog(data []byte, h History) ([]Issuance, []string, error) {
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return nil, nil, fmt.Errorf("%w: the last line is incomplete", ErrChain)
	}
	var (
		out     []Issuance
		digests []string
		prev    string
	)
	for i, line := range bytes.SplitAfter(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		n := i + 1
		var e Issuance
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, nil, fmt.Errorf("%w: line %d is not an entry", ErrChain, n)
		}
		if e.Seq != n {
			return nil, nil, fmt.Errorf("%w: line %d says it is entry %d", ErrChain, n, e.Seq)
		}
		if e.Prev != prev {
			return nil, nil, fmt.Errorf("%w: line %d does not follow line %d (an entry was changed, removed or inserted)", ErrChain, n, n-1)
		}
		sig, err := base64.StdEncoding.DecodeString(e.Sig)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: line %d: malformed signature", ErrChain, n)
		}
		body, err := e.unsigned()
		if err != nil {
			return nil, nil, err
		}
		key, err := sshsig.VerifyRaw(sig, NamespaceLog, body)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: line %d: %v", ErrChain, n, err)
		}
		if !h.everAdmin(e.Approver, key) {
			return nil, nil, fmt.Errorf("%w: line %d is signed by %s, who was never administrator %q", ErrChain, n, ssh.FingerprintSHA256(key), e.Approver)
		}
		out = append(out, e)
		prev = digest(bytes.TrimSuffix(line, []byte("\n")))
		digests = append(digests, prev)
	}
	return out, digests, nil
}

// appendLog signs the entry, chains it to the log and replaces the log
// atomically.
func appendLog(d *store.Dir, log []Issuance, e Issuance, signer ssh.Signer) (Issuance, error) {
	data, err := d.Read(layout.IssuanceLogFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Issuance{}, err
	}
	e.Seq = len(log) + 1
	e.Prev = ""
	if len(log) > 0 {
		lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
		e.Prev = digest(lines[len(lines)-1])
	}
	body, err := e.unsigned()
	if err != nil {
		return Issuance{}, err
	}
	sig, err := sshsig.SignRaw(signer, NamespaceLog, body)
	if err != nil {
		return Issuance{}, err
	}
	e.Sig = base64.StdEncoding.EncodeToString(sig)
	line, err := json.Marshal(e)
	if err != nil {
		return Issuance{}, err
	}
	out := append(append(bytes.Clone(data), line...), '\n')
	if err := d.Replace(layout.IssuanceLogFile, out, layout.IssuanceLog.Mode()); err != nil {
		return Issuance{}, err
	}
	return e, nil
}
