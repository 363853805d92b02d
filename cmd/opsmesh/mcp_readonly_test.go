package main

import (
	"context"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	mcpclient "github.com/mark3labs/mcp-go/client"
)

func TestMCPClusterReadOnly(t *testing.T) {
	bin, kc := opsmeshBinary(t), kubeconfig(t)
	full, err := mcpclient.NewStdioMCPClient(bin, nil, "mcp", "cluster", "--kubeconfig", kc)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	initialize(t, full)
	_, writes := listTools(t, full)
	if len(writes) == 0 {
		t.Fatal("the full server lists no write tools")
	}

	ro, err := mcpclient.NewStdioMCPClient(bin, nil, "mcp", "cluster", "--kubeconfig", kc, "--read-only")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	initialize(t, ro)
	reads, roWrites := listTools(t, ro)
	if len(roWrites) != 0 || len(reads) == 0 {
		t.Errorf("--read-only lists write tools %v (reads %v)", roWrites, reads)
	}
	for _, w := range writes {
		req := mcp.CallToolRequest{}
		req.Params.Name = w
		req.Params.Arguments = map[string]any{"name": "x", "namespace": "default", "dryRun": true}
		res, err := ro.CallTool(context.Background(), req)
		if err == nil && !res.IsError {
			t.Errorf("--read-only served %s: %+v", w, res.Content)
		}
		if err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("calling %s on a --read-only server: %v, want tool not found", w, err)
		}
	}
}
