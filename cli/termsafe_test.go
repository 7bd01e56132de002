package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestTermSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain text\twith\ttabs\n":  "plain text\twith\ttabs\n",
		"é ü 日本":                    "é ü 日本",
		"a\x1b[31mred":              `a\u001b[31mred`,
		"bell\x07 cr\r bs\b":        `bell\u0007 cr\u000d bs\u0008`,
		"del\x7f":                   `del\u007f`,
		"c1 \u009b31m":              `c1 \u009b31m`,
		"bidi \u202eevil\u2066":     `bidi \u202eevil\u2066`,
		"invalid \xff\xfe bytes":    `invalid \xff\xfe bytes`,
		"truncated \xe6\x97":        `truncated \xe6\x97`,
		"osc \x1b]8;;http://x\x07.": `osc \u001b]8;;http://x\u0007.`,
	} {
		if got := termSafe(in); got != want {
			t.Errorf("termSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// The writer escapes the same whatever the writes' boundaries, and JSON
// it escapes still decodes to the same strings.
func TestSafeWriter(t *testing.T) {
	in := "name: \"日本\x1b[1m\u202e\u009b\"\n"
	want := termSafe(in)
	for size := 1; size <= len(in); size++ {
		var out bytes.Buffer
		w := newSafeWriter(&out)
		for i := 0; i < len(in); i += size {
			if _, err := w.Write([]byte(in[i:min(i+size, len(in))])); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Fatalf("writes of %d bytes: %q, want %q", size, out.String(), want)
		}
	}
	value := "evil\u009b\u202e\x7f\x1b"
	js, _ := json.Marshal(map[string]string{"name": value})
	var out bytes.Buffer
	w := newSafeWriter(&out)
	_, _ = w.Write(js)
	_ = w.Flush()
	var back map[string]string
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back["name"] != value {
		t.Fatalf("%s: %v %q", out.String(), err, back["name"])
	}
	if strings.ContainsAny(out.String(), "\u009b\u202e\x7f\x1b") {
		t.Fatalf("raw control characters in %q", out.String())
	}
}
