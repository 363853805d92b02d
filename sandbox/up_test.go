//go:build sandbox

package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// upForTest builds opsmesh from the clone at root, brings a sandbox up in a temporary state
// directory (s.Dir; s.opts.Opsmesh is the binary), and takes it down when the test ends unless
// the test did.
func upForTest(t *testing.T, root string) *Sandbox {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "opsmesh")
	build := exec.Command("go", "build", "-o", bin, "./cmd/opsmesh")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building opsmesh: %v\n%s", err, out)
	}
	dir := t.TempDir()
	s, err := Up(context.Background(), Options{StateDir: dir, RepoRoot: root, Opsmesh: bin, Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(dir, "state.json")); err != nil {
			return // the test took it down
		}
		if err := Down(context.Background(), dir); err != nil {
			t.Error(err)
		}
	})
	return s
}
