package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand(&out, &errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// golden compares got with testdata/<name>; UPDATE_GOLDEN=1 rewrites the file instead.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (UPDATE_GOLDEN=1 to accept, then review the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestHelpDescribesTheProduct(t *testing.T) {
	out, _, err := run(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "help.golden", out)
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	want := "opsmesh dev (commit unknown, " + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + "), API opsmesh.dev/v1alpha1\n"
	if out != want {
		t.Errorf("version = %q, want %q", out, want)
	}

	out, _, err = run(t, "version", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("version -o json is not JSON: %v\n%s", err, out)
	}
	if v.Version != "dev" || v.APIVersion != "opsmesh.dev/v1alpha1" || v.GoVersion != runtime.Version() {
		t.Errorf("version -o json = %+v", v)
	}
}

func TestBadInputSaysWhatToFix(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"version", "-o", "yaml"}, `--output "yaml" is not supported; use --output json`},
		{[]string{"version", "extra"}, `unknown command "extra" for "opsmesh version"`},
		{[]string{"versoin"}, "Did you mean this?\n\tversion"},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("opsmesh %s: err = %v, want it to say %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
