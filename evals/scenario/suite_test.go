package scenario

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestSuiteReads reads every scenario of the suite and of the held-out batch with placeholder
// values: each must decode strictly and validate, and names must be unique.
func TestSuiteReads(t *testing.T) {
	dirs, err := Find([]string{filepath.Join("..", "scenarios"), filepath.Join("..", "heldout-causal"), filepath.Join("..", "unseen-causal")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs {
		s, err := Read(d, nil)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if slices.Contains(names, s.Name) {
			t.Errorf("%s: name %q is used twice", d, s.Name)
		}
		names = append(names, s.Name)
	}
}
