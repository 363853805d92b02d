package toolserver

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/agents/mcppool"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// maxTools and maxDescription are the status fields' limits.
const (
	maxTools       = 512
	maxDescription = 1024
)

// listTools connects to ep with a client that lives for this call only, and lists its tools.
func listTools(ctx context.Context, ep mcppool.Endpoint) ([]mcp.Tool, error) {
	var (
		cl  *mcpclient.Client
		err error
	)
	switch {
	case ep.InProcess != nil:
		cl, err = mcpclient.NewInProcessClient(ep.InProcess)
	case ep.URL != "":
		var opts []transport.StreamableHTTPCOption
		if ep.Token != "" {
			opts = append(opts, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + ep.Token}))
		}
		cl, err = mcpclient.NewStreamableHttpClient(ep.URL, opts...)
	default:
		return nil, fmt.Errorf("no URL and no in-process server to connect to")
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = cl.Close() }()
	if err := cl.Start(ctx); err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "opsmesh-controller", Version: "1"}
	if _, err := cl.Initialize(ctx, init); err != nil {
		return nil, fmt.Errorf("initializing the MCP session: %w", err)
	}
	var tools []mcp.Tool
	req := mcp.ListToolsRequest{}
	for range 100 {
		res, err := cl.ListTools(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("listing tools: %w", err)
		}
		tools = append(tools, res.Tools...)
		if res.NextCursor == "" {
			return tools, nil
		}
		req.Params.Cursor = res.NextCursor
	}
	return nil, fmt.Errorf("listing tools: the server kept returning a next page after 100 pages")
}

// discovered turns tools/list's answer into status.tools, with only read-only tools when the
// ToolServer is read-only (its server is started with --read-only, and an in-process or remote
// server's write tools are not offered either).
func discovered(ts *opsv1.ToolServer, tools []mcp.Tool) []opsv1.DiscoveredTool {
	out := make([]opsv1.DiscoveredTool, 0, len(tools))
	seen := map[string]bool{}
	for _, t := range tools {
		a := t.Annotations
		ro := a.ReadOnlyHint != nil && *a.ReadOnlyHint
		if ts.Spec.IsReadOnly() && !ro {
			continue
		}
		if seen[t.Name] || t.Name == "" || len(t.Name) > 128 {
			continue
		}
		seen[t.Name] = true
		out = append(out, opsv1.DiscoveredTool{
			Name:        t.Name,
			Description: shorten(t.Description),
			ReadOnly:    ro,
			// MCP's default destructiveHint is true for a tool that is not read-only.
			Destructive: !ro && (a.DestructiveHint == nil || *a.DestructiveHint),
			Idempotent:  a.IdempotentHint != nil && *a.IdempotentHint,
		})
		if len(out) == maxTools {
			break
		}
	}
	return out
}

// shorten keeps a description's first paragraph, within the status field's limit.
func shorten(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "\n\n"); i >= 0 {
		s = s[:i]
	}
	if utf8.RuneCountInString(s) <= maxDescription {
		return s
	}
	r := []rune(s)[:maxDescription-1]
	return string(r) + "…"
}
