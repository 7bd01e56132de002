package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeysOnly(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "keysonly")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"ecdsa-p256", "4"}, 0, ""},
		{[]string{"rsa-2048", "1"}, 0, ""},
		{[]string{"ecdsa-p256"}, 2, "usage: keysonly ALGORITHM N"},
		{[]string{"ecdsa-p256", "0"}, 2, `N must be a positive number, not "0"`},
		{[]string{"ecdsa-p256", "many"}, 2, `N must be a positive number, not "many"`},
		{[]string{"dsa-1024", "2"}, 1, `unknown key algorithm "dsa-1024"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(bin, tc.args...)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d; output %q", code, tc.code, out)
			}
			if got := strings.TrimSpace(string(out)); tc.err == "" && got != "" || !strings.Contains(got, tc.err) || strings.Count(got, "\n") > 0 {
				t.Errorf("output %q, want one line with %q", got, tc.err)
			}
			if names, _ := os.ReadDir(dir); len(names) != 0 {
				t.Errorf("wrote %d files; it writes none", len(names))
			}
		})
	}
}
