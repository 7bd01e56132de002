package config_test

import (
	"reflect"
	"testing"

	"github.com/bulwark-k8s/bulwark/config"
)

// FuzzParse: no document panics the parser, every accepted configuration
// validates, and parse → Marshal → Parse gives an equal configuration.
func FuzzParse(f *testing.F) {
	for _, doc := range []string{
		header,
		full,
		header + "controlPlane:\n  - {name: cp-1, ips: [10.0.0.11]}\n",
		header + "apiEndpoint: 10.0.0.10:6443\ncontrolPlane:\n  - {name: cp-1, ips: [10.0.0.11]}\n  - {name: cp-2, ips: [10.0.0.12]}\n  - {name: cp-3, ips: [10.0.0.13]}\n",
		header + "validity: {ca: 3650d, leaf: 8760h, kubeletClient: 72h}\nbootstrapToken: {ttl: 24h}\n",
		header + "clusterNmae: x\n",
		header + "---\n" + header,
		header + "clusterName: &a x\nclusterDomain: *a\n",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data, "node-a")
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
		out, err := config.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := config.Parse(out, "other-host")
		if err != nil {
			t.Fatalf("Parse(Marshal(c)): %v\n%s", err, out)
		}
		normalize(c)
		normalize(back)
		if !reflect.DeepEqual(c, back) {
			t.Fatalf("round trip changed the config:\n got %+v\nwant %+v\n%s", back, c, out)
		}
	})
}

// normalize makes empty lists nil: Marshal omits empty lists, so "ips: []"
// comes back as no list at all, which means the same.
func normalize(c *config.Cluster) {
	nilIfEmpty := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return s
	}
	c.ExtraSANs = nilIfEmpty(c.ExtraSANs)
	c.BootstrapToken.ExtraGroups = nilIfEmpty(c.BootstrapToken.ExtraGroups)
	for _, nodes := range [][]config.Node{c.ControlPlane, c.EtcdMembers} {
		for i := range nodes {
			nodes[i].IPs = nilIfEmpty(nodes[i].IPs)
			nodes[i].DNSNames = nilIfEmpty(nodes[i].DNSNames)
		}
	}
}
