//go:build cgo

package gpu_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

const testToken = "test-token-0123456789abcdef"

// simNode builds a simulated node of model with the faults in the fault file at path ("" for
// none).
func simNode(t testing.TB, model, path string) *simulate.Node {
	t.Helper()
	var faults *simulate.Faults
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if faults, err = simulate.ParseFaults(data, simulate.NodeGPUs); err != nil {
			t.Fatal(err)
		}
	}
	n, err := simulate.New(model, faults)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// session is an MCP client connected over streamable HTTP, with the bearer token, to a node
// agent.
type session struct {
	t     testing.TB
	c     *mcpclient.Client
	agent *gpu.NodeAgent
}

func (s *session) with(t testing.TB) *session { return &session{t: t, c: s.c, agent: s.agent} }

func connect(t testing.TB, lib gpu.Library, cfg gpu.Config) *session {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if cfg.NodeName == "" {
		cfg.NodeName = "gpu-node-1"
	}
	a, err := gpu.NewNodeAgent(ctx, lib, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(serve.HTTPHandler(a.MCP, testToken))
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
	return &session{t: t, c: c, agent: a}
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

func mustContain(t testing.TB, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("output does not contain %q:\n%s", w, text)
		}
	}
}

// line returns the first line of text that starts with prefix.
func line(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
