package toolserver

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// TestDiscovered checks what status.tools keeps of a server's tool list: the first paragraph
// of a description within the field's limit, MCP's annotation defaults, no duplicate or
// over-long names, and only read-only tools for a read-only ToolServer.
func TestDiscovered(t *testing.T) {
	long := strings.Repeat("é", 2000)
	tools := []mcp.Tool{
		mcp.NewTool("a", mcp.WithDescription("First.\n\nSecond."), mcp.WithReadOnlyHintAnnotation(true)),
		mcp.NewTool("b", mcp.WithDescription(long)),
		mcp.NewTool("a", mcp.WithDescription("duplicate")),
		mcp.NewTool(strings.Repeat("n", 129)),
	}
	// mcp.NewTool sets readOnlyHint false and destructiveHint true by default; a server may send
	// no annotations at all.
	tools[1].Annotations = mcp.ToolAnnotation{}
	f := false
	got := discovered(&opsv1.ToolServer{Spec: opsv1.ToolServerSpec{ReadOnly: &f}}, tools)
	if len(got) != 2 || got[0] != (opsv1.DiscoveredTool{Name: "a", Description: "First.", ReadOnly: true}) {
		t.Fatalf("discovered: %+v", got)
	}
	if b := got[1]; b.Name != "b" || b.ReadOnly || !b.Destructive || utf8.RuneCountInString(b.Description) != maxDescription || !strings.HasSuffix(b.Description, "…") {
		t.Errorf("b: readOnly %v destructive %v, description of %d characters", b.ReadOnly, b.Destructive, utf8.RuneCountInString(b.Description))
	}
	if ro := discovered(&opsv1.ToolServer{}, tools); len(ro) != 1 || ro[0].Name != "a" {
		t.Errorf("a read-only ToolServer lists %+v", ro)
	}
}
