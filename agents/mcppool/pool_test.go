package mcppool_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/opsmesh/opsmesh/agents/mcppool"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

const token = "pool-test-token"

// TestMain doubles as a stdio MCP server: with MCPPOOL_STDIO_SERVER set, this test binary serves
// testServer on stdin/stdout, so the pool's stdio transport is tested against a real process.
func TestMain(m *testing.M) {
	if os.Getenv("MCPPOOL_STDIO_SERVER") != "" {
		var calls atomic.Int32
		if err := serve.Stdio(context.Background(), testServer(&calls, "stdio"), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestStdioEndpoint(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := mcppool.New([]mcppool.Endpoint{{Name: "proc", Command: []string{exe}, Env: []string{"MCPPOOL_STDIO_SERVER=1"}}}, mcppool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ts := pool.Toolset([]mcppool.Grant{{Server: "proc", Allowed: []string{"echo"}}})
	res, err := ts.Call(context.Background(), "proc", "echo", map[string]any{"say": "over stdio"})
	if err != nil || !strings.HasPrefix(res.Text, "stdio says over stdio") || strings.Contains(res.Text, "hunter2") {
		t.Errorf("stdio echo: %+v, %v", res, err)
	}
}

type echoArgs struct {
	Say string `json:"say"`
}

// testServer is a real MCP server with a read tool that echoes (and leaks a credential in its
// answer), a read tool with a long answer, and a write tool; calls counts every handler run.
func testServer(calls *atomic.Int32, name string) *server.MCPServer {
	s := mcptool.NewServer(name, "test", "")
	mcptool.Register(s, mcptool.Options{MaxBytes: 1 << 20},
		mcptool.New(mcptool.Spec{Name: "echo", Description: "echoes", Effect: mcptool.Read,
			Params: []mcp.ToolOption{mcp.WithString("say", mcp.Required())}},
			func(_ context.Context, a echoArgs) (string, error) {
				calls.Add(1)
				return name + " says " + a.Say + "; db password=hunter2hunter2", nil
			}),
		mcptool.New(mcptool.Spec{Name: "big", Description: "long answer", Effect: mcptool.Read},
			func(_ context.Context, _ struct{}) (string, error) {
				calls.Add(1)
				return strings.Repeat("x", 40000), nil
			}),
		mcptool.New(mcptool.Spec{Name: "fix", Description: "changes things", Effect: mcptool.Destructive},
			func(_ context.Context, _ struct{}) (string, error) {
				calls.Add(1)
				return "fixed", nil
			}),
	)
	return s
}

func TestToolset(t *testing.T) {
	var inproc, overHTTP atomic.Int32
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpSrv := &http.Server{Handler: serve.HTTPHandler(testServer(&overHTTP, "remote"), token)}
	go func() { _ = httpSrv.Serve(l) }()
	defer httpSrv.Close()

	pool, err := mcppool.New([]mcppool.Endpoint{
		{Name: "local", InProcess: testServer(&inproc, "local")},
		{Name: "remote", URL: "http://" + l.Addr().String() + serve.Path, Token: token},
	}, mcppool.Options{MaxResultBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ts := pool.Toolset([]mcppool.Grant{
		{Server: "local", Allowed: []string{"echo", "big", "fix", "not_served"}, RequireApproval: []string{"fix"}},
		{Server: "remote", Allowed: []string{"echo"}},
	})
	ctx := context.Background()

	tools, err := ts.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools {
		names = append(names, tl.Server+"/"+tl.Name)
		if tl.Name == "fix" && (!tl.Destructive || tl.ReadOnly || !tl.NeedsApproval) {
			t.Errorf("fix: %+v, want destructive, not read-only, needs approval", tl)
		}
		if tl.Name == "echo" && (!tl.ReadOnly || tl.Destructive || !strings.Contains(string(tl.InputSchema), `"say"`)) {
			t.Errorf("echo: %+v", tl)
		}
	}
	if got := strings.Join(names, " "); got != "local/big local/echo local/fix remote/echo" {
		t.Errorf("listed %s: want only the granted tools the servers serve, servers in grant order", got)
	}

	// Both transports answer, and the credential in the answer is blanked at this client too.
	for _, server := range []string{"local", "remote"} {
		res, err := ts.Call(ctx, server, "echo", map[string]any{"say": "hi"})
		if err != nil || res.IsError || !strings.HasPrefix(res.Text, server+" says hi") || strings.Contains(res.Text, "hunter2") {
			t.Errorf("%s echo: %+v, %v", server, res, err)
		}
	}
	// A tool error is a result, not a Go error.
	if res, err := ts.Call(ctx, "local", "echo", map[string]any{"say": 7}); err != nil || !res.IsError || !strings.Contains(res.Text, `"say"`) {
		t.Errorf("bad arguments: %+v, %v", res, err)
	}
	// Long answers are capped with a marker.
	if res, err := ts.Call(ctx, "local", "big", nil); err != nil || len(res.Text) > 4096 || !strings.Contains(res.Text, "truncated: ") {
		t.Errorf("big: %d bytes, %v", len(res.Text), err)
	}

	before := inproc.Load() + overHTTP.Load()
	for _, tc := range []struct{ server, tool, want string }{
		{"remote", "fix", `tool "fix" of ToolServer remote is not on this agent's allowlist (allowed: echo)`},
		{"other", "echo", "ToolServer other is not granted to this agent (granted: local, remote)"},
		{"local", "fix", `tool "fix" of ToolServer local changes the cluster: an investigation only reads; propose it in the remediation plan instead`},
		{"local", "not_served", `tool "not_served" is not served by ToolServer local`},
	} {
		if _, err := ts.Call(ctx, tc.server, tc.tool, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s/%s: %v, want %q", tc.server, tc.tool, err, tc.want)
		}
	}
	if after := inproc.Load() + overHTTP.Load(); after != before {
		t.Errorf("refused calls reached a server: %d handler runs", after-before)
	}
	if res, err := ts.WithWrites().Call(ctx, "local", "fix", nil); err != nil || res.Text != "fixed" {
		t.Errorf("fix with writes: %+v, %v", res, err)
	}
	if ts.Calls() != 5 {
		t.Errorf("Calls() = %d, want the 5 calls that ran", ts.Calls())
	}

	// The remote server restarts at the same address: the next call reconnects by itself.
	httpSrv.Close()
	l2, err := net.Listen("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var restarted atomic.Int32
	httpSrv2 := &http.Server{Handler: serve.HTTPHandler(testServer(&restarted, "remote-2"), token)}
	go func() { _ = httpSrv2.Serve(l2) }()
	defer httpSrv2.Close()
	res, err := ts.Call(ctx, "remote", "echo", map[string]any{"say": "again"})
	if err != nil || !strings.HasPrefix(res.Text, "remote-2 says again") || restarted.Load() != 1 {
		t.Errorf("after the restart: %+v, %v", res, err)
	}

	// A server that is down is an error naming it.
	down, _ := mcppool.New([]mcppool.Endpoint{{Name: "gone", URL: "http://127.0.0.1:1/mcp"}}, mcppool.Options{})
	if _, err := down.Toolset([]mcppool.Grant{{Server: "gone", Allowed: []string{"x"}}}).List(ctx); err == nil || !strings.Contains(err.Error(), "ToolServer gone (http://127.0.0.1:1/mcp)") {
		t.Errorf("down server: %v", err)
	}
}

func TestEndpointErrors(t *testing.T) {
	for _, tc := range []struct {
		ep   mcppool.Endpoint
		want string
	}{
		{mcppool.Endpoint{URL: "http://x"}, "an endpoint has no name"},
		{mcppool.Endpoint{Name: "a"}, "ToolServer a: give exactly one of a URL, a command or an in-process server (got 0)"},
		{mcppool.Endpoint{Name: "a", URL: "http://x", Command: []string{"x"}}, "(got 2)"},
	} {
		if _, err := mcppool.New([]mcppool.Endpoint{tc.ep}, mcppool.Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.ep, err, tc.want)
		}
	}
}

// TestEndpointStringRedacts: an endpoint's description, which logs carry, never shows a password
// in its URL.
func TestEndpointStringRedacts(t *testing.T) {
	e := mcppool.Endpoint{Name: "r", URL: "https://bot:s3cret@mcp.example/mcp"}
	if s := e.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "mcp.example/mcp") {
		t.Errorf("String() = %q", s)
	}
}
