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
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/internal/mcptest"
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

// session is an MCP client connected over streamable HTTP, with the bearer token, to a server.
type session = mcptest.Session

var mustContain = mcptest.MustContain

// serveTools serves tools on an MCP server over streamable HTTP and connects a client to it.
func serveTools(t testing.TB, tools []mcptool.Tool) *session {
	t.Helper()
	s := mcptool.NewServer("opsmesh-gpuview-test", "test", "")
	mcptool.Register(s, mcptool.Options{}, tools...)
	return mcptest.Connect(t, s)
}

func connect(t testing.TB, cfg gpuview.Config) *session {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if cfg.NodeAgentToken == "" {
		cfg.NodeAgentToken = mcptest.Token
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
	srv := httptest.NewServer(serve.HTTPHandler(a.MCP, mcptest.Token))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u.Port()
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
