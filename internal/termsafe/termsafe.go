// Package termsafe writes text for a terminal with its control characters
// shown as escapes: what bulwark prints may hold text read from files or
// from a cluster (a token's description, a certificate's subject, a
// kubeconfig's server), which must not move the cursor, change colours,
// retitle the window or reorder a line.
package termsafe

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

// Writer shows control characters as \uXXXX escapes (\u001b, \u009b),
// which JSON and double-quoted YAML read back as the same characters, and
// invalid UTF-8 bytes as \xNN. Newlines and tabs pass. A rune split across writes
// waits for the next write, or for Flush.
type Writer struct {
	w    io.Writer
	tail []byte
}

// New wraps w.
func New(w io.Writer) *Writer { return &Writer{w: w} }

// Write writes p, escaped.
func (s *Writer) Write(p []byte) (int, error) {
	if len(s.tail) == 0 && plain(p) {
		if _, err := s.w.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	data := append(s.tail, p...)
	s.tail = nil
	var out bytes.Buffer
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(data) {
				s.tail = append([]byte(nil), data...)
				break
			}
			fmt.Fprintf(&out, `\x%02x`, data[0])
			data = data[1:]
			continue
		}
		if unsafeRune(r) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.Write(data[:size])
		}
		data = data[size:]
	}
	if _, err := s.w.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes a rune left incomplete by the last write, escaped.
func (s *Writer) Flush() {
	for _, b := range s.tail {
		fmt.Fprintf(s.w, `\x%02x`, b)
	}
	s.tail = nil
}

// plain reports whether p is printable ASCII, newlines and tabs only.
func plain(p []byte) bool {
	for _, b := range p {
		if (b < 0x20 && b != '\n' && b != '\t') || b >= 0x7f {
			return false
		}
	}
	return true
}

// unsafeRune reports whether a rune must not reach a terminal as is: C0
// controls other than tab and newline, DEL, C1 controls (0x9b is CSI on
// some terminals), the line and paragraph separators, and the
// bidirectional-text controls that reorder what a line shows.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20:
		return r != '\t' && r != '\n'
	case r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029,
		r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// String returns s as a Writer would write it.
func String(s string) string {
	var b bytes.Buffer
	w := New(&b)
	_, _ = w.Write([]byte(s))
	w.Flush()
	return b.String()
}
