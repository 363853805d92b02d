package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/mcpservers/bridge"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

const childEnv = "OPSMESH_BRIDGE_TEST_CHILD"

// TestMain runs the test binary as a stdio MCP server when childEnv is set: the child the
// bridge starts.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := server.ServeStdio(child()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childTools are the stdio server's tools, with every kind of annotation and schema.
func childTools() []mcp.Tool {
	return []mcp.Tool{
		mcp.NewTool("echo", mcp.WithDescription("Echoes its text."), mcp.WithString("text", mcp.Required(), mcp.Description("what to echo")),
			mcp.WithNumber("times", mcp.Min(1)), mcp.WithReadOnlyHintAnnotation(true), mcp.WithIdempotentHintAnnotation(true)),
		mcp.NewTool("wipe", mcp.WithDescription("Wipes a volume."), mcp.WithString("volume", mcp.Required(), mcp.Enum("a", "b")),
			mcp.WithReadOnlyHintAnnotation(false), mcp.WithDestructiveHintAnnotation(true)),
		mcp.NewTool("crash", mcp.WithDescription("Exits the server."), mcp.WithReadOnlyHintAnnotation(false), mcp.WithDestructiveHintAnnotation(false)),
	}
}

func child() *server.MCPServer {
	s := server.NewMCPServer("child-server", "9.9.9", server.WithToolCapabilities(false), server.WithInstructions("use echo"))
	t := childTools()
	s.AddTool(t[0], func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("echo: " + req.GetString("text", "")), nil
	})
	s.AddTool(t[1], func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultError("volume " + req.GetString("volume", "") + " is busy"), nil
	})
	s.AddTool(t[2], func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		fmt.Fprintln(os.Stderr, "boom: disk on fire")
		os.Exit(3)
		return nil, nil
	})
	return s
}

func start(t *testing.T) (*bridge.Bridge, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := bridge.Start(t.Context(), bridge.Config{Command: []string{exe, "-test.run=^$"}, Env: []string{childEnv + "=1"}, CheckEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	srv := httptest.NewServer(b.Handler(mcptest.Token))
	t.Cleanup(srv.Close)
	return b, srv.URL
}

// text is a tool result's text content.
func text(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReservesTools lists and calls the child's tools through the bridge with a real
// streamable-HTTP client, and checks the bridge's auth.
func TestReservesTools(t *testing.T) {
	_, url := start(t)
	s := mcptest.Dial(t, url+serve.Path, mcptest.Token)
	ctx := t.Context()
	res, err := s.C.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]mcp.Tool{}
	for _, tl := range res.Tools {
		got[tl.Name] = tl
	}
	for _, want := range childTools() {
		g, ok := got[want.Name]
		if !ok {
			t.Errorf("the bridge does not serve %s (serves %d tools)", want.Name, len(res.Tools))
			continue
		}
		if g.Description != want.Description || js(t, g.Annotations) != js(t, want.Annotations) || js(t, g.InputSchema) != js(t, want.InputSchema) {
			t.Errorf("%s through the bridge:\n%s\nwant\n%s", want.Name, js(t, g), js(t, want))
		}
	}
	if len(res.Tools) != len(childTools()) {
		t.Errorf("the bridge serves %d tools, the child %d", len(res.Tools), len(childTools()))
	}

	call := func(name string, args map[string]any) (*mcp.CallToolResult, error) {
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = name, args
		return s.C.CallTool(ctx, req)
	}
	r, err := call("echo", map[string]any{"text": "hello"})
	if err != nil || r.IsError || text(r) != "echo: hello" {
		t.Errorf("echo through the bridge: %v %v", err, r)
	}
	// A tool's own error result passes through as it is.
	r, err = call("wipe", map[string]any{"volume": "a"})
	if err != nil || !r.IsError || text(r) != "volume a is busy" {
		t.Errorf("wipe through the bridge: %v %+v", err, r)
	}

	// Without the token, nothing is served.
	resp, err := http.Post(url+serve.Path, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a request without the token: %s", resp.Status)
	}
}

// TestChildExit checks that when the child dies, calls fail saying so (with its stderr) and the
// health endpoint turns 503.
func TestChildExit(t *testing.T) {
	b, url := start(t)
	health := func() (int, string) {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := health(); code != http.StatusOK {
		t.Fatalf("healthz before the crash: %d %s", code, body)
	}
	s := mcptest.Dial(t, url+serve.Path, mcptest.Token)
	req := mcp.CallToolRequest{}
	req.Params.Name = "crash"
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if r, err := s.C.CallTool(ctx, req); err == nil && !r.IsError {
		t.Errorf("crash answered %+v", r)
	}
	select {
	case <-b.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the bridge did not notice the child exit")
	}
	code, body := health()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "exited or stopped answering") || !strings.Contains(body, "boom: disk on fire") {
		t.Errorf("healthz after the crash: %d %s", code, body)
	}
	req.Params.Name = "echo"
	req.Params.Arguments = map[string]any{"text": "x"}
	r, err := s.C.CallTool(ctx, req)
	msg := fmt.Sprint(err)
	if r != nil {
		msg += text(r)
	}
	if !strings.Contains(msg, "stdio MCP server") || !strings.Contains(msg, "exited") {
		t.Errorf("a call after the crash: %v %+v", err, r)
	}
}

// TestBadCommand checks a command that cannot start is named in the error.
func TestBadCommand(t *testing.T) {
	_, err := bridge.Start(t.Context(), bridge.Config{Command: []string{"/no/such/mcp-server", "--stdio"}})
	if err == nil || !strings.Contains(err.Error(), "/no/such/mcp-server --stdio") {
		t.Errorf("Start of a missing command: %v", err)
	}
	if _, err := bridge.Start(t.Context(), bridge.Config{}); err == nil || !strings.Contains(err.Error(), "give the stdio MCP server's command after --") {
		t.Errorf("Start without a command: %v", err)
	}
}
