package llm

import (
	"testing"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/mcppool"
)

// FuzzParseAnswer feeds arbitrary final answers to the extraction and parse path: it must never
// panic, and whatever it accepts is a valid diagnosis whose plan names only the agent's tools.
func FuzzParseAnswer(f *testing.F) {
	f.Add(`{"rootCause":{"category":"OOMKilled","summary":"s","confidence":"high","evidence":[{"detail":"d"}]}}`)
	f.Add("```json\n{\"rootCause\":{\"category\":\"Unknown\",\"summary\":\"s\",\"confidence\":\"low\"}}\n```")
	f.Add(`not json at all`)
	tools := []mcppool.Tool{
		{Server: "cluster", Name: "pod_delete", Destructive: true},
		{Server: "cluster", Name: "pod_logs", ReadOnly: true},
		{Server: "gpu", Name: "pod_logs", ReadOnly: true},
	}
	f.Fuzz(func(t *testing.T, text string) {
		d, err := parseAnswer(text, tools)
		if err != nil {
			if d != nil {
				t.Fatal("an error came with a diagnosis")
			}
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		if verr := d.Validate(); verr != nil {
			t.Fatalf("accepted an invalid diagnosis: %v", verr)
		}
		if !diagnosis.ValidCategory(d.RootCause.Category) {
			t.Fatalf("accepted category %q", d.RootCause.Category)
		}
		for _, a := range d.Plan {
			found := false
			for _, tool := range tools {
				if tool.Name == a.Tool && tool.Server == a.ToolServer {
					found = true
				}
			}
			if !found {
				t.Fatalf("accepted plan tool %s/%s, not one of the agent's", a.ToolServer, a.Tool)
			}
			if a.Risk != diagnosis.RiskOf(a.Tool, a.Tool == "pod_delete") {
				t.Fatalf("risk %q of %s not decided from the tool", a.Risk, a.Tool)
			}
		}
	})
}
