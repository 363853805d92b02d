package mcptool_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// TestToolCallsOnMetrics: a server's /metrics counts each served call by server, tool and
// outcome (ok, error, invalid arguments, panic) and times it, for calls made by a real MCP client
// over streamable HTTP.
func TestToolCallsOnMetrics(t *testing.T) {
	type echoArgs struct {
		Text string `json:"text"`
	}
	s := mcptool.NewServer("opsmesh-metrics-test", "0", "")
	mcptool.Register(s, mcptool.Options{Server: "metricstest"},
		mcptool.New(mcptool.Spec{Name: "echo", Description: "Echo.", Params: []mcp.ToolOption{mcp.WithString("text", mcp.Required())}},
			func(_ context.Context, a echoArgs) (string, error) { return a.Text, nil }),
		mcptool.New(mcptool.Spec{Name: "fail", Description: "Fail."},
			func(context.Context, struct{}) (string, error) { return "", errors.New("no") }),
		mcptool.New(mcptool.Spec{Name: "boom", Description: "Panic."},
			func(context.Context, struct{}) (string, error) { panic("boom") }),
	)
	url := mcptest.Serve(t, s)
	sess := mcptest.Dial(t, url+"/mcp", mcptest.Token)
	sess.OK("echo", map[string]any{"text": "hi"})
	sess.OK("echo", map[string]any{"text": "again"})
	sess.Fails("echo", map[string]any{"txt": "typo"})
	sess.Fails("fail", nil)
	sess.Fails("boom", nil)

	resp, err := http.Get(url + "/metrics") // no token: Prometheus scrapes without one
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	text := string(b)
	for _, want := range []string{
		`opsmesh_mcp_tool_calls_total{outcome="ok",server="metricstest",tool="echo"} 2`,
		`opsmesh_mcp_tool_calls_total{outcome="invalid",server="metricstest",tool="echo"} 1`,
		`opsmesh_mcp_tool_calls_total{outcome="error",server="metricstest",tool="fail"} 1`,
		`opsmesh_mcp_tool_calls_total{outcome="panic",server="metricstest",tool="boom"} 1`,
		`opsmesh_mcp_tool_call_duration_seconds_count{server="metricstest",tool="echo"} 3`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, "typo") || strings.Contains(text, "again") {
		t.Error("/metrics shows a call's arguments")
	}
}
