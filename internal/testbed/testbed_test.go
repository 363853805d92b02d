package testbed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A missing binary must fail the tests with the command that builds it, never skip them.
func TestMissingBinariesSayHowToBuildThem(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KUBEBUILDER_ASSETS", dir)

	_, err := Start()
	if err == nil {
		t.Fatal("Start succeeded without kube-apiserver and etcd")
	}
	for _, want := range []string{"kube-apiserver and etcd missing from " + dir, "make testbins", "hack/testbins.sh ensure"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}

	// With one of the two present, the error names only the other.
	if err := os.WriteFile(filepath.Join(dir, "kube-apiserver"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = AssetsDir()
	if err == nil || !strings.Contains(err.Error(), "etcd missing from "+dir) || strings.Contains(err.Error(), "kube-apiserver and") {
		t.Errorf("with kube-apiserver present: err = %v, want it to name etcd alone", err)
	}
}

// Without KUBEBUILDER_ASSETS the binaries are looked for where hack/testbins.sh builds them.
func TestAssetsDirDefaultsToTheTestbinsCache(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("KUBEBUILDER_ASSETS", "")
	t.Setenv("OPSMESH_CACHE", cache)
	_, err := AssetsDir()
	if err == nil || !strings.Contains(err.Error(), filepath.Join(cache, "k8s")) {
		t.Errorf("err = %v, want it to name a directory under OPSMESH_CACHE %s", err, cache)
	}
}
