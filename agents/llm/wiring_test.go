package llm_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/agents/llm"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	"github.com/opsmesh/opsmesh/agents/runbook"
	"github.com/opsmesh/opsmesh/agents/runtime"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// The engine plugs into the runtime as it is: a Toolset is its Tools, the runbook engine its
// Fallback, and it is a runtime Engine.
var (
	_ llm.Tools      = (*mcppool.Toolset)(nil)
	_ llm.Fallback   = (*runbook.Engine)(nil)
	_ llm.Fallback   = runtime.Engine(nil)
	_ runtime.Engine = (*llm.Engine)(nil)
)

// NewForAgent maps the Agent, and offers the fallback's diagnosis as the analyze tool.
func TestNewForAgentOffersTheRunbookAsAnalyze(t *testing.T) {
	m := newModel(t, toolCalls(10, call{"a", "analyze", `{"subject":"deployment/default/web"}`}), final(10, goodAnswer))
	steps := int32(5)
	agent := &opsv1.Agent{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "cluster-specialist"},
		Spec: opsv1.AgentSpec{
			Instructions: "Investigate workloads in the default namespace.",
			Model:        &opsv1.ModelSpec{Provider: opsv1.ProviderOpenAI, Model: "test-model", BaseURL: m.URL()},
			Limits:       &opsv1.AgentLimits{MaxSteps: &steps},
		},
	}
	fb := &runbookStub{}
	e, err := llm.NewForAgent(agent, newCluster(t, ""), fb, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Diagnose(context.Background(), question)
	if err != nil {
		t.Fatal(err)
	}
	if d.Engine != "openai/test-model" || d.ToolCalls != 1 || fb.calls != 1 {
		t.Errorf("engine %q toolCalls %d fallback calls %d", d.Engine, d.ToolCalls, fb.calls)
	}
	reqs := m.requests()
	if sys := text(reqs[0].parsed.Messages[0].Content); !strings.Contains(sys, "Investigate workloads in the default namespace.") {
		t.Error("the Agent's instructions are not in the system prompt")
	}
	got := toolResults(reqs[1])["a"]
	if !strings.Contains(got, "runbook engine's diagnosis") || !strings.Contains(got, "subject: deployment/default/web") ||
		!strings.Contains(got, "CrashLoopBackOff: web-1 exits with code 1") {
		t.Errorf("analyze answered %q", got)
	}
	if reqs[0].auth != "Bearer none" {
		t.Errorf("a keyless endpoint got Authorization %q", reqs[0].auth)
	}

	agent.Spec.Model = nil
	if _, err := llm.NewForAgent(agent, nil, nil, "", nil); err == nil || !strings.Contains(err.Error(), "default/cluster-specialist has no spec.model") {
		t.Errorf("err = %v", err)
	}
}
