package gateway_test

import (
	"context"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/gateway"
	"github.com/opsmesh/opsmesh/internal/mcptest"
)

// BenchmarkCall compares a tool call made to a remote MCP server directly with the same call made
// through the gateway (client → gateway over streamable HTTP → pooled connection → server): the
// difference is what the gateway costs per call.
func BenchmarkCall(b *testing.B) {
	env := shared.Env(b)
	ns := namespace(b, env.Client, "gw-bench")
	url := remoteServer(b, "bench")
	create(b, env.Client, remoteTS(ns, "echo-tools", url, tokenSecret(b, env.Client, ns)), true, echoTools...)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	g, err := gateway.New(ctx, gateway.Config{RestConfig: env.Config, Namespaces: []string{ns}})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		s    *mcptest.Session
		tool string
	}{{"direct", mcptest.Dial(b, url, mcptest.Token), "echo"}, {"gateway", mcptest.Connect(b, g.MCP), "echo-tools__echo"}} {
		b.Run(c.name, func(b *testing.B) {
			req := mcp.CallToolRequest{}
			req.Params.Name, req.Params.Arguments = c.tool, map[string]any{"text": "x"}
			for b.Loop() {
				res, err := c.s.C.CallTool(context.Background(), req)
				if err != nil || res.IsError {
					b.Fatalf("%v %+v", err, res)
				}
			}
		})
	}
}
