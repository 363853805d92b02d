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

// TestKubeconfigFromEnvNamesItsFile: $KUBECONFIG naming one file is that file's path, so that a
// sandbox's own kubeconfig given there is known as the sandbox's (its webhook and GPU faults);
// a list of files is left to client-go's merge and names none.
func TestKubeconfigFromEnvNamesItsFile(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	body := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]\n" +
		"users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
	if err := os.WriteFile(kc, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kc)
	if path, _, err := sandboxOrKubeconfig("", ""); err != nil || path != kc {
		t.Errorf("one file in $KUBECONFIG: path %q, %v; want %q", path, err, kc)
	}
	t.Setenv("KUBECONFIG", kc+string(os.PathListSeparator)+filepath.Join(dir, "other"))
	if path, _, err := sandboxOrKubeconfig("", ""); err != nil || path != "" {
		t.Errorf("a list in $KUBECONFIG: path %q, %v; want none", path, err)
	}
}
