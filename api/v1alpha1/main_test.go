package v1alpha1_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/opsmesh/opsmesh/internal/testbed"
)

// env is the real kube-apiserver and etcd, with opsmesh's CRDs installed, shared by this package's
// tests.
var env *testbed.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testbed.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}
