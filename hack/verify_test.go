// Package hack_test checks the development scripts under hack/: that verify-generated.sh — which
// `make test` runs first — passes on the checked-in tree, fails on every kind of stale generated
// file with a message that says to run `make generate`, and never changes the tree it checks.
package hack_test

import (
	"bytes"
	"crypto/sha256"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// controllerGen is the pinned controller-gen: $CONTROLLER_GEN (make test sets it), else built
// from hack/tools.
func controllerGen(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CONTROLLER_GEN"); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), "controller-gen")
	cmd := exec.Command("go", "build", "-C", filepath.Join(repoRoot(), "hack", "tools"), "-o", out, "sigs.k8s.io/controller-tools/cmd/controller-gen")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building controller-gen from hack/tools: %v\n%s", err, b)
	}
	return out
}

// copyTree copies what code generation reads and writes into a scratch checkout.
func copyTree(t *testing.T) string {
	t.Helper()
	root, dst := repoRoot(), t.TempDir()
	for _, p := range []string{"go.mod", "go.sum", "api", "deploy/crds", "hack/generate.sh", "hack/verify-generated.sh"} {
		err := filepath.WalkDir(filepath.Join(root, p), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			info, _ := d.Info()
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, rel), b, info.Mode().Perm())
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// digest fingerprints every file under dir, to show a check changed nothing.
func digest(t *testing.T, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q; update the test", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyGenerated(t *testing.T) {
	gen := controllerGen(t)
	verify := func(dir string) (string, error) {
		cmd := exec.Command(filepath.Join(dir, "hack", "verify-generated.sh"))
		cmd.Env = append(os.Environ(), "CONTROLLER_GEN="+gen)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	t.Run("the checked-in files are up to date", func(t *testing.T) {
		dir := copyTree(t)
		out, err := verify(dir)
		if err != nil || !strings.Contains(out, "generated files are up to date") {
			t.Fatalf("verify-generated.sh on the checked-in tree: %v\n%s\nrun `make generate` and commit the result", err, out)
		}
	})

	for _, tc := range []struct {
		name      string
		stale     func(t *testing.T, dir string)
		mentioned string // the file the diff must point at
	}{
		{"a doc comment changed without regenerating the CRD", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "api/v1alpha1/agent_types.go"), "Role is coordinator", "Role is the agent's job: coordinator")
		}, "opsmesh.dev_agents.yaml"},
		{"a hand edit of a generated CRD", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "deploy/crds/opsmesh.dev_incidents.yaml"), "name: Severity", "name: Sev")
		}, "opsmesh.dev_incidents.yaml"},
		{"a new slice field without regenerating deepcopy", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "api/v1alpha1/toolserver_types.go"),
				"\tLastDiscoveryTime *metav1.Time `json:\"lastDiscoveryTime,omitempty\"`",
				"\tLastDiscoveryTime *metav1.Time `json:\"lastDiscoveryTime,omitempty\"`\n\n\t// Warnings from discovery.\n\t// +optional\n\tWarnings []string `json:\"warnings,omitempty\"`")
		}, "zz_generated.deepcopy.go"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTree(t)
			tc.stale(t, dir)
			before := digest(t, dir)
			out, err := verify(dir)
			if err == nil {
				t.Fatalf("verify-generated.sh passed on a stale tree:\n%s", out)
			}
			for _, want := range []string{"generated files are stale", "Run 'make generate'", tc.mentioned} {
				if !strings.Contains(out, want) {
					t.Errorf("output does not say %q:\n%s", want, out)
				}
			}
			if digest(t, dir) != before {
				t.Errorf("verify-generated.sh changed the tree it checked")
			}
		})
	}
}
