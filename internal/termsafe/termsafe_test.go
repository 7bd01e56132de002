package termsafe_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bulwark-k8s/bulwark/internal/termsafe"
)

func escape(t testing.TB, chunks ...string) string {
	t.Helper()
	var buf bytes.Buffer
	w := termsafe.New(&buf)
	for _, c := range chunks {
		n, err := w.Write([]byte(c))
		if err != nil || n != len(c) {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
	}
	w.Flush()
	return buf.String()
}

func TestWriter(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "pki/ca.crt  ok\n\tnext\n", "pki/ca.crt  ok\n\tnext\n"},
		{"a title escape", "desc \x1b]0;owned\x07 end", `desc \u001b]0;owned\u0007 end`},
		{"clear screen", "\x1b[2J\x1b[H", `\u001b[2J\u001b[H`},
		{"carriage return and backspace", "ok\rFAKE\b", `ok\u000dFAKE\u0008`},
		{"DEL", "a\x7fb", `a\u007fb`},
		{"C1 CSI", "a\u009b31mb", `a\u009b31mb`},
		{"bidirectional override", "admin\u202egnp.exe", `admin\u202egnp.exe`},
		{"invalid UTF-8", "a\xffb\x9bc", `a\xffb\x9bc`},
		{"directional marks", "a\u200eb\u200fc\u061cd", `a\u200eb\u200fc\u061cd`},
		{"line separators", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"isolates", "x\u2066y\u2069", `x\u2066y\u2069`},
		{"UTF-8 kept", "Zürich — 東京 ✓\n", "Zürich — 東京 ✓\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := escape(t, tc.in); got != tc.want {
				t.Errorf("%q → %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	// A rune split across writes is whole again; one cut short is escaped.
	if got := escape(t, "Z\xc3", "\xbcrich"); got != "Zürich" {
		t.Errorf("split rune: %q", got)
	}
	if got := escape(t, "end\xe6\x9d"); got != `end\xe6\x9d` {
		t.Errorf("unfinished rune: %q", got)
	}
}

// FuzzWriter: whatever is written, in whatever chunks, what comes out is
// valid UTF-8 with no control character but newline and tab, and plain
// printable text passes unchanged.
func FuzzWriter(f *testing.F) {
	f.Add([]byte("token abcdef \x1b]0;x\x07\n"), 3)
	f.Add([]byte("a\u009b\u202eb\xff"), 1)
	f.Add([]byte("plain text\n"), 100)
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		if chunk <= 0 {
			chunk = 1
		}
		var parts []string
		for i := 0; i < len(data); i += chunk {
			parts = append(parts, string(data[i:min(i+chunk, len(data))]))
		}
		out := escape(t, parts...)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out: %q", out)
		}
		for _, r := range out {
			if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				t.Fatalf("control character %U out of %q", r, data)
			}
		}
		printable := true
		for _, b := range data {
			if (b < 0x20 && b != '\n' && b != '\t') || b >= 0x7f || b == '\\' {
				printable = false
			}
		}
		if printable && out != string(data) {
			t.Fatalf("printable %q came out as %q", data, out)
		}
		if !printable && !strings.Contains(string(data), "\\") && out == string(data) && !utf8.Valid(data) {
			t.Fatalf("invalid input passed unchanged")
		}
	})
}

// JSON that went through a Writer decodes to the same strings: the
// escapes are JSON's own.
func TestJSONReadsBack(t *testing.T) {
	value := "evil\u009b\u202e\u200f\x7f\x1b"
	js, err := json.Marshal(map[string]string{"name": value})
	if err != nil {
		t.Fatal(err)
	}
	out := termsafe.String(string(js))
	var back map[string]string
	if err := json.Unmarshal([]byte(out), &back); err != nil || back["name"] != value {
		t.Fatalf("%s: %v %q", out, err, back["name"])
	}
	if strings.ContainsAny(out, "\u009b\u202e\u200f\x7f\x1b") {
		t.Fatalf("raw control characters in %q", out)
	}
}
