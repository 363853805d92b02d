package cluster_test

import (
	"context"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/opsmesh/opsmesh/internal/mcptest"
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
	mcptest.GoldenTools(t, offlineServer(t).MCP)
}
