package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// opsmesh demo refuses bad flags and a missing cluster with what to do, before touching anything.
func TestDemoBadInputSaysWhatToDo(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no sandbox kubeconfig
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--timeout", "0s"}, "--timeout 0s: give a positive duration"},
		{[]string{"demo", "extra"}, `unknown command "extra" for "opsmesh demo"`},
		{[]string{"demo", "--kubeconfig", filepath.Join(t.TempDir(), "nope")}, "start the sandbox with opsmesh sandbox up, or pass --kubeconfig"},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("opsmesh %s: err = %v, want it to say %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// Without --kubeconfig and $KUBECONFIG, the sandbox's kubeconfig is the one used.
func TestDemoDefaultsToTheSandboxKubeconfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	p := filepath.Join(home, ".cache", "opsmesh", "sandbox", "kubeconfig")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("not: [a kubeconfig"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := run(t, "demo")
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want it to come from reading %s", err, p)
	}
}
