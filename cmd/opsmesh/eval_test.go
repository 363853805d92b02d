package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvalBadInputSaysWhatToFix: wrong flags and broken scenario folders are refused with what
// to fix, before any cluster is touched.
func TestEvalBadInputSaysWhatToFix(t *testing.T) {
	bad := t.TempDir()
	if err := os.MkdirAll(filepath.Join(bad, "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "broken", "scenario.yaml"), []byte("description: x\ntags: {area: gpus, difficulty: easy}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	suite := filepath.Join("..", "..", "evals", "scenarios")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--scenarios", t.TempDir()}, "no scenario.yaml in it or in its subfolders"},
		{[]string{"eval", "--scenarios", suite, "--min-score", "120%"}, "--min-score \"120%\": give a fraction such as 0.9"},
		{[]string{"eval", "--scenarios", suite, "--model", "gpt-4o"}, "--model \"gpt-4o\": write PROVIDER/MODEL"},
		{[]string{"eval", "--scenarios", suite, "--repeat", "0"}, "--repeat 0: give 1 or more"},
		{[]string{"eval", "--scenarios", suite, "--model", "openai/gpt-4o", "--model-api-key-secret", "openai"}, "write SECRET/KEY"},
		{[]string{"eval", "--scenarios", suite, "--model-base-url", "http://x"}, "go with --model PROVIDER/MODEL"},
		{[]string{"eval", "--check", "--scenarios", bad}, `tags.area "gpus": use one of workload`},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("opsmesh %s: error %v, want it to say %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// TestEvalCheckReadsTheSuite: --check reads and validates every scenario without a cluster.
func TestEvalCheckReadsTheSuite(t *testing.T) {
	out, _, err := run(t, "eval", "--check", "--scenarios", filepath.Join("..", "..", "evals", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "scenarios read and valid") {
		t.Errorf("output %q", out)
	}
}
