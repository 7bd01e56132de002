package pinned

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// EtcdMember is one member of a test etcd cluster.
type EtcdMember struct {
	Name string
	// ClientURL is where the health check reaches it.
	ClientURL string
	// Args are every flag of the member: tests take them from a rendered
	// manifest, with only host paths and ports remapped.
	Args []string
}

// EtcdCluster is a running etcd cluster.
type EtcdCluster struct {
	Members   []EtcdMember
	Processes []*Process
}

// Endpoints lists every member's client URL.
func (c *EtcdCluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// StartEtcd starts every member and waits until each is healthy through
// its client port, using health (a client TLS configuration etcd accepts).
func StartEtcd(t testing.TB, members []EtcdMember, health *tls.Config) *EtcdCluster {
	t.Helper()
	bin := Path(t, "etcd")
	c := &EtcdCluster{Members: members}
	for _, m := range members {
		c.Processes = append(c.Processes, Start(t, "etcd-"+m.Name, bin, append(m.Args, "--log-level=warn")...))
	}
	client := HTTPClient(health)
	for i, m := range members {
		WaitFor(t, "etcd member "+m.Name, 60*time.Second, func() error {
			if c.Processes[i].Exited() {
				t.Fatalf("etcd member %s exited:\n%s", m.Name, c.Processes[i].Tail(30))
			}
			resp, err := client.Get(m.ClientURL + "/health")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if !bytes.Contains(body, []byte(`"health":"true"`)) {
				return fmt.Errorf("unhealthy: %s", body)
			}
			return nil
		})
	}
	return c
}

// EtcdPut writes a key through etcd's v3 JSON gateway.
func EtcdPut(client *http.Client, endpoint, key, value string) error {
	body, _ := json.Marshal(map[string]string{
		"key":   base64.StdEncoding.EncodeToString([]byte(key)),
		"value": base64.StdEncoding.EncodeToString([]byte(value)),
	})
	resp, err := client.Post(endpoint+"/v3/kv/put", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("put: %s: %s", resp.Status, b)
	}
	return nil
}

// EtcdGet reads a key through etcd's v3 JSON gateway; missing is "".
func EtcdGet(client *http.Client, endpoint, key string) (string, error) {
	body, _ := json.Marshal(map[string]string{"key": base64.StdEncoding.EncodeToString([]byte(key))})
	resp, err := client.Post(endpoint+"/v3/kv/range", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("range: %s: %s", resp.Status, b)
	}
	var out struct {
		KVs []struct {
			Value string `json:"value"`
		} `json:"kvs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	if len(out.KVs) == 0 {
		return "", nil
	}
	v, err := base64.StdEncoding.DecodeString(out.KVs[0].Value)
	return string(v), err
}
