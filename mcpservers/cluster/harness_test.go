package cluster_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// shared is the real kube-apiserver and etcd, with opsmesh's CRDs, for this package's tests;
// it starts on the first call of apiServer.
var shared testbed.Shared

func apiServer(t testing.TB) *testbed.Env { return shared.Env(t) }

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard()) // the watch cache's logs are not what these tests check
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

// session is an MCP client connected over streamable HTTP, with the bearer token, to a cluster
// server on the test API server.
type session = mcptest.Session

var mustContain = mcptest.MustContain

func connect(t testing.TB, cfg cluster.Config) *session {
	t.Helper()
	return connectAs(t, apiServer(t).Config, cfg)
}

// connectAs is connect with the server running as the identity in restConfig.
func connectAs(t testing.TB, restConfig *rest.Config, cfg cluster.Config) *session {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := cluster.New(ctx, restConfig, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return mcptest.Connect(t, s.MCP)
}

// namespace creates a namespace for one test.
func namespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := apiServer(t).Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return name
}

// clientObject is what the test client creates.
type clientObject = client.Object

// setups are the benchmark fixtures already built in this process, by namespace.
var setups sync.Map

// setupOnce runs a benchmark's setup once per process, however often -count runs the benchmark.
func setupOnce(ns string, setup func()) {
	o, _ := setups.LoadOrStore(ns, &sync.Once{})
	o.(*sync.Once).Do(setup)
}
