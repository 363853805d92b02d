//go:build cgo

package gpuview_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

var shared testbed.Shared

func apiServer(t testing.TB) *testbed.Env { return shared.Env(t) }

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

const testToken = "test-token-0123456789abcdef"

type session struct {
	t testing.TB
	c *mcpclient.Client
}

// serveTools serves tools on an MCP server over streamable HTTP and connects a client to it.
func serveTools(t testing.TB, tools []mcptool.Tool) *session {
	t.Helper()
	s := mcptool.NewServer("opsmesh-gpuview-test", "test", "")
	mcptool.Register(s, mcptool.Options{}, tools...)
	srv := httptest.NewServer(serve.HTTPHandler(s, testToken))
	t.Cleanup(srv.Close)
	c, err := mcpclient.NewStreamableHttpClient(srv.URL+serve.Path,
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + testToken}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return &session{t: t, c: c}
}

func connect(t testing.TB, cfg gpuview.Config) *session {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if cfg.NodeAgentToken == "" {
		cfg.NodeAgentToken = testToken
	}
	v, err := gpuview.New(ctx, apiServer(t).Config, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return serveTools(t, v.Tools())
}

// simAgent runs a real simulated node agent over streamable HTTP on 127.0.0.1 and returns its port.
func simAgent(t testing.TB, node, faultFile string) string {
	t.Helper()
	var faults *simulate.Faults
	if faultFile != "" {
		data, err := os.ReadFile(faultFile)
		if err != nil {
			t.Fatal(err)
		}
		if faults, err = simulate.ParseFaults(data, simulate.NodeGPUs); err != nil {
			t.Fatal(err)
		}
	}
	lib, err := simulate.New("dgxh100", faults)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, err := gpu.NewNodeAgent(ctx, lib, gpu.Config{NodeName: node})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(serve.HTTPHandler(a.MCP, testToken))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u.Port()
}

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

func (s *session) ok(tool string, args map[string]any) string {
	s.t.Helper()
	text, isErr := s.call(tool, args)
	if isErr {
		s.t.Fatalf("%s(%v) failed: %s", tool, args, text)
	}
	return text
}

func (s *session) fails(tool string, args map[string]any, want ...string) {
	s.t.Helper()
	text, isErr := s.call(tool, args)
	if !isErr {
		s.t.Fatalf("%s(%v) succeeded, want an error saying %q:\n%s", tool, args, want, text)
	}
	mustContain(s.t, text, want...)
}

func mustContain(t testing.TB, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("output does not contain %q:\n%s", w, text)
		}
	}
}

// fields returns the whitespace-separated cells of the first line of text starting with prefix.
func fields(text, prefix string) []string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.Fields(l)
		}
	}
	return nil
}
