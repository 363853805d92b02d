package v1alpha1_test

import (
	"testing"

	"k8s.io/utils/ptr"

	v1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

func TestAgentSpecReasoning(t *testing.T) {
	for _, tc := range []struct {
		spec v1.AgentSpec
		want string
	}{
		{v1.AgentSpec{}, "runbook"},
		{v1.AgentSpec{Model: &v1.ModelSpec{Provider: v1.ProviderOpenAI, Model: "gpt-4o"}}, "openai/gpt-4o"},
		{v1.AgentSpec{Model: &v1.ModelSpec{Provider: v1.ProviderAnthropic, Model: "claude-sonnet-4-5"}}, "anthropic/claude-sonnet-4-5"},
	} {
		if got := tc.spec.Reasoning(); got != tc.want {
			t.Errorf("Reasoning() = %q, want %q", got, tc.want)
		}
	}
}

func TestToolServerSpecIsReadOnly(t *testing.T) {
	for _, tc := range []struct {
		readOnly *bool
		want     bool
	}{{nil, true}, {ptr.To(true), true}, {ptr.To(false), false}} {
		s := v1.ToolServerSpec{ReadOnly: tc.readOnly}
		if got := s.IsReadOnly(); got != tc.want {
			t.Errorf("IsReadOnly() with readOnly=%v = %v, want %v", tc.readOnly, got, tc.want)
		}
	}
}

func TestIncidentPhaseTerminal(t *testing.T) {
	terminal := map[v1.IncidentPhase]bool{v1.PhaseResolved: true, v1.PhaseEscalated: true, v1.PhaseFailed: true}
	for _, p := range []v1.IncidentPhase{
		v1.PhaseDetected, v1.PhaseInvestigating, v1.PhaseDiagnosed, v1.PhaseAwaitingApproval,
		v1.PhaseRemediating, v1.PhaseVerifying, v1.PhaseResolved, v1.PhaseEscalated, v1.PhaseFailed,
	} {
		if got := p.Terminal(); got != terminal[p] {
			t.Errorf("%s.Terminal() = %v, want %v", p, got, terminal[p])
		}
	}
}
