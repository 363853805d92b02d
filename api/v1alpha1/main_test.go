package v1alpha1_test

import (
	"os"
	"testing"

	"github.com/opsmesh/opsmesh/internal/testbed"
)

// shared is the real kube-apiserver and etcd, with opsmesh's CRDs, for this package's tests;
// it starts on the first call of apiServer.
var shared testbed.Shared

func apiServer(t testing.TB) *testbed.Env { return shared.Env(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}
