//go:build cgo

package gpu_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
)

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
type session = mcptest.Session

var mustContain = mcptest.MustContain

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
	return mcptest.Connect(t, a.MCP)
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
