package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"k8s.io/client-go/rest"

	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// offlineServer builds the server against an address nothing listens on: enough to list tools
// and decode arguments, which need no API server.
func offlineServer(t testing.TB) *cluster.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := cluster.New(ctx, &rest.Config{Host: "http://127.0.0.1:1"}, cluster.Config{Version: "snapshot"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestToolListSnapshot keeps every tool's name, description, annotations and input schema — the
// server's public surface — in testdata/tools.golden.json, so that any change shows in review.
// Regenerate with UPDATE_GOLDEN=1 and read the diff.
func TestToolListSnapshot(t *testing.T) {
	s := offlineServer(t)
	c, err := mcpclient.NewInProcessClient(s.MCP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tools := res.Tools
	sort.Slice(tools, func(i, j int) bool { return tools[i].Name < tools[j].Name })
	for _, tl := range tools {
		a := tl.Annotations
		if a.ReadOnlyHint == nil || a.DestructiveHint == nil || a.IdempotentHint == nil || a.OpenWorldHint == nil {
			t.Errorf("tool %s does not set every annotation explicitly: %+v", tl.Name, a)
		}
		if tl.Description == "" {
			t.Errorf("tool %s has no description", tl.Name)
		}
	}
	got, err := json.MarshalIndent(tools, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "tools.golden.json")
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the tool list differs from %s; if the change is intended, run with UPDATE_GOLDEN=1 and review the diff", path)
	}
}
