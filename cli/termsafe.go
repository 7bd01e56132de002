package cli

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Names and descriptions read from files or from a cluster may hold
// terminal escape sequences (a RoleBinding named "\x1b]8;;..."), other
// control characters or bidirectional-text controls that make a terminal
// show something else than what is there. Everything bulwark prints from
// them goes through termSafe or a safeWriter: those characters are
// written as \uXXXX (a byte that is not UTF-8 as \xNN), which JSON and
// double-quoted YAML read back as the same characters. Tabs and newlines
// pass: tables and reports are made of them.

// unsafeRune reports whether a rune must not reach a terminal as is: C0
// controls other than tab and newline, DEL, C1 controls, and the
// bidirectional-text controls.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20:
		return r != '\t' && r != '\n'
	case r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}

// termSafe escapes what a terminal must not receive.
func termSafe(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	writeSafe(&b, s, true)
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || unsafeRune(r) {
			return true
		}
		i += n
	}
	return false
}

// writeSafe writes s escaped; with final false, an incomplete UTF-8
// sequence at its end is left unwritten and its length returned.
func writeSafe(b *strings.Builder, s string, final bool) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			if !final && !utf8.FullRuneInString(s[i:]) {
				return len(s) - i
			}
			fmt.Fprintf(b, `\x%02x`, s[i])
		case unsafeRune(r):
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return 0
}

// safeWriter escapes what a terminal must not receive in everything
// written through it.
type safeWriter struct {
	w       io.Writer
	pending []byte // an incomplete UTF-8 sequence from the last Write
}

func newSafeWriter(w io.Writer) *safeWriter { return &safeWriter{w: w} }

func (s *safeWriter) Write(p []byte) (int, error) {
	data := string(s.pending) + string(p)
	s.pending = s.pending[:0]
	if !needsEscape(data) {
		_, err := io.WriteString(s.w, data)
		return len(p), err
	}
	var b strings.Builder
	if rest := writeSafe(&b, data, false); rest > 0 {
		s.pending = append(s.pending, data[len(data)-rest:]...)
	}
	_, err := io.WriteString(s.w, b.String())
	return len(p), err
}

// Flush writes an incomplete sequence left at the end, escaped.
func (s *safeWriter) Flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	var b strings.Builder
	writeSafe(&b, string(s.pending), true)
	s.pending = s.pending[:0]
	_, err := io.WriteString(s.w, b.String())
	return err
}
