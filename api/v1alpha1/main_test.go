package v1alpha1_test

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/opsmesh/opsmesh/internal/testbed"
)

// The real kube-apiserver and etcd, with opsmesh's CRDs installed, shared by this package's
// tests. It starts on the first call of apiServer, so tests that need no API server (unit tests,
// fuzz targets and their worker processes) never start one.
var (
	sharedOnce sync.Once
	shared     *testbed.Env
	sharedErr  error
)

func apiServer(t testing.TB) *testbed.Env {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = testbed.Start() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}
