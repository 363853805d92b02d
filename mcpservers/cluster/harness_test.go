package cluster_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
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

const testToken = "test-token-0123456789abcdef"

// session is an MCP client connected over streamable HTTP, with the bearer token, to a cluster
// server on the test API server.
type session struct {
	t testing.TB
	c *mcpclient.Client
}

// with returns the session reporting to t, for use inside subtests.
func (s *session) with(t testing.TB) *session { return &session{t: t, c: s.c} }

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
	srv := httptest.NewServer(serve.HTTPHandler(s.MCP, testToken))
	t.Cleanup(srv.Close)
	c, err := mcpclient.NewStreamableHttpClient(srv.URL+serve.Path,
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + testToken}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "opsmesh-test", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return &session{t: t, c: c}
}

// call calls a tool and returns its text and whether it is a tool error.
func (s *session) call(tool string, args map[string]any) (string, bool) {
	s.t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := s.c.CallTool(context.Background(), req)
	if err != nil {
		s.t.Fatalf("%s: protocol error: %v", tool, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError
}

// ok calls a tool that must succeed.
func (s *session) ok(tool string, args map[string]any) string {
	s.t.Helper()
	text, isErr := s.call(tool, args)
	if isErr {
		s.t.Fatalf("%s(%v) failed: %s", tool, args, text)
	}
	return text
}

// fails calls a tool that must fail, and checks the error says each of want.
func (s *session) fails(tool string, args map[string]any, want ...string) string {
	s.t.Helper()
	text, isErr := s.call(tool, args)
	if !isErr {
		s.t.Fatalf("%s(%v) succeeded, want an error saying %q:\n%s", tool, args, want, text)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			s.t.Errorf("%s(%v) error does not say %q:\n%s", tool, args, w, text)
		}
	}
	return text
}

func (s *session) toolNames() []string {
	s.t.Helper()
	res, err := s.c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		s.t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
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

func mustContain(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("output does not contain %q:\n%s", w, text)
		}
	}
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
