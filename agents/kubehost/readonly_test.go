package kubehost_test

import (
	"context"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/agents/kubehost"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// TestReadOnlyBuiltin: a builtin ToolServer served in process is read-only unless its spec says
// readOnly: false, as its Deployment would run with --read-only.
func TestReadOnlyBuiltin(t *testing.T) {
	s := server.NewMCPServer("test", "1")
	noop := func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("ok"), nil
	}
	s.AddTool(mcp.NewTool("look", mcp.WithReadOnlyHintAnnotation(true)), noop)
	s.AddTool(mcp.NewTool("change", mcp.WithReadOnlyHintAnnotation(false), mcp.WithDestructiveHintAnnotation(true)), noop)
	builtins := map[opsv1.BuiltinServer]*server.MCPServer{opsv1.BuiltinCluster: s}
	ts := &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cluster-tools"},
		Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerBuiltin, Builtin: &opsv1.BuiltinToolServer{Server: opsv1.BuiltinCluster}}}
	for _, c := range []struct {
		readOnly *bool
		want     []string
	}{{nil, []string{"look"}}, {ptr.To(true), []string{"look"}}, {ptr.To(false), []string{"change", "look"}}} {
		ts.Spec.ReadOnly = c.readOnly
		ep, err := kubehost.Endpoint(context.Background(), nil, ts, builtins, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for name := range ep.InProcess.ListTools() {
			got = append(got, name)
		}
		if len(got) != len(c.want) {
			t.Errorf("readOnly %v: tools %v, want %v", c.readOnly, got, c.want)
		}
		for _, w := range c.want {
			if ep.InProcess.GetTool(w) == nil {
				t.Errorf("readOnly %v: %s not served", c.readOnly, w)
			}
		}
	}
	if kubehost.ReadOnly(s) != kubehost.ReadOnly(s) {
		t.Error("ReadOnly builds a new view every call")
	}
}
