package gateway_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/gateway"
	"github.com/opsmesh/opsmesh/internal/mcptest"
)

// incident creates an Incident and sets its status as the orchestrator would: diagnosed, with a
// root cause and two actions waiting for approval.
func incident(t *testing.T, c client.Client, ns, name string, phase opsv1.IncidentPhase) *opsv1.Incident {
	t.Helper()
	ctx := context.Background()
	inc := &opsv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: opsv1.IncidentSpec{Summary: "trainer pods crash on gpu-7", Severity: opsv1.SeverityCritical,
			Source: opsv1.IncidentSource{Type: opsv1.SourceManual},
			Target: &opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: "trainer"}}}
	if err := c.Create(ctx, inc); err != nil {
		t.Fatal(err)
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	inc.Status = opsv1.IncidentStatus{Phase: phase, Count: 3, Coordinator: "incident-coordinator",
		RootCause: &opsv1.RootCause{Category: "GPUXid79", Summary: "GPU 3 on node gpu-7 reports XID 79", Confidence: opsv1.ConfidenceHigh,
			Evidence: []opsv1.Evidence{{Object: "node/gpu-7", Detail: "NVML reports GPU 3 lost"}}},
		Actions: []opsv1.RemediationAction{
			{ID: "cordon-gpu-7", Description: "keep new pods off gpu-7", Tool: "node_cordon", Risk: opsv1.RiskSafe, State: opsv1.ActionSucceeded},
			{ID: "drain-gpu-7", Description: "move the pods off gpu-7", Tool: "node_drain", Risk: opsv1.RiskDestructive, State: opsv1.ActionAwaitingApproval,
				Arguments: &runtime.RawExtension{Raw: []byte(`{"name":"gpu-7"}`)}},
			{ID: "restart-trainer", Description: "restart the trainer", Tool: "workload_restart", Risk: opsv1.RiskDisruptive, State: opsv1.ActionAwaitingApproval},
		},
		Timeline: []opsv1.TimelineEntry{
			{Time: now, Phase: opsv1.PhaseInvestigating, Event: "Delegated", Message: "asked incident-coordinator", Actor: "controller"},
			{Time: now, Phase: phase, Event: "Diagnosed", Message: "GPUXid79", Actor: "opsmesh/incident-coordinator"},
		}}
	if err := c.Status().Update(ctx, inc); err != nil {
		t.Fatal(err)
	}
	return inc
}

// TestIncidentTools: list_incidents and get_incident show Incidents created in the API server;
// approve_action records a decision by the gateway's approver, refuses a bad action with the
// waiting ones listed, and bad arguments get errors that say what to fix.
func TestIncidentTools(t *testing.T) {
	env := shared.Env(t)
	ctx := context.Background()
	ns := namespace(t, env.Client, "gw-inc")
	other := namespace(t, env.Client, "gw-inc-other")
	incident(t, env.Client, ns, "gpu-7-xid", opsv1.PhaseAwaitingApproval)
	incident(t, env.Client, ns, "old-one", opsv1.PhaseResolved)
	incident(t, env.Client, other, "elsewhere", opsv1.PhaseDiagnosed)

	g := start(t, gateway.Config{RestConfig: env.Config, Namespaces: []string{ns, other}, AllowApprovals: true, Approver: "alice-via-claude"})
	s, _ := dial(t, g.MCP)

	var listed contract.IncidentList
	list := s.Data("list_incidents", map[string]any{"namespace": ns}, &listed)
	if n := len(listed.Incidents); n != 2 || listed.Truncated != 0 {
		t.Fatalf("list_incidents in %s: %d incidents (%d truncated), want 2: %+v", ns, n, listed.Truncated, listed)
	}
	for _, inc := range listed.Incidents {
		if inc.Namespace != ns || inc.Severity != "critical" || inc.RootCause != "GPUXid79" || inc.Target != "deployment/gw-inc/trainer" || inc.Count != 3 || inc.Created == "" {
			t.Errorf("list_incidents: %+v", inc)
		}
	}
	if phases := listed.Incidents[0].Phase + " " + listed.Incidents[1].Phase; phases != "AwaitingApproval Resolved" && phases != "Resolved AwaitingApproval" {
		t.Errorf("list_incidents phases: %s", phases)
	}
	mcptest.MustContain(t, list, "NAME", "SEVERITY", "PHASE", "ROOT CAUSE", "TARGET", "COUNT", "AGE",
		"gpu-7-xid", "critical", "AwaitingApproval", "GPUXid79", "Deployment/gw-inc/trainer", "old-one", "Resolved")
	if strings.Contains(list, "elsewhere") {
		t.Errorf("list_incidents in %s lists another namespace's:\n%s", ns, list)
	}
	all := s.OK("list_incidents", map[string]any{"phase": "AwaitingApproval"})
	if !strings.Contains(all, "gpu-7-xid") || strings.Contains(all, "old-one") || strings.Contains(all, "elsewhere") {
		t.Errorf("list_incidents phase AwaitingApproval:\n%s", all)
	}
	var one contract.IncidentList
	limited := s.Data("list_incidents", map[string]any{"limit": 1}, &one)
	mcptest.MustContain(t, limited, "2 more incidents")
	if len(one.Incidents) != 1 || one.Truncated != 2 {
		t.Errorf("list_incidents limit 1: %+v", one)
	}
	var none contract.IncidentList
	mcptest.MustContain(t, s.Data("list_incidents", map[string]any{"phase": "Failed"}, &none), "no Incidents in phase Failed")
	if len(none.Incidents) != 0 {
		t.Errorf("list_incidents phase Failed: %+v", none)
	}
	s.Fails("list_incidents", map[string]any{"phase": "Broken"}, `"phase" must be one of`)
	s.Fails("list_incidents", map[string]any{"namespace": "kube-system"}, "not watched by this gateway", "-n kube-system")

	var got contract.Incident
	text := s.Data("get_incident", map[string]any{"name": "gpu-7-xid"}, &got)
	if got.Name != "gpu-7-xid" || got.Phase != "AwaitingApproval" || got.Summary != "trainer pods crash on gpu-7" || got.Coordinator != "incident-coordinator" ||
		got.Cause == nil || got.Cause.Category != "GPUXid79" || got.Cause.Confidence != "high" || len(got.Cause.Evidence) != 1 || got.Cause.Evidence[0].Object != "node/gpu-7" {
		t.Errorf("get_incident: %+v", got)
	}
	if len(got.Actions) != 3 || got.Actions[1].ID != "drain-gpu-7" || got.Actions[1].State != "AwaitingApproval" || got.Actions[1].Risk != "destructive" ||
		got.Actions[1].Tool != "node_drain" || got.Actions[1].Arguments["name"] != "gpu-7" {
		t.Errorf("get_incident actions: %+v", got.Actions)
	}
	if len(got.Timeline) != 2 || got.Timeline[1].Event != "Diagnosed" || got.Timeline[1].Phase != "AwaitingApproval" {
		t.Errorf("get_incident timeline: %+v", got.Timeline)
	}
	t.Logf("get_incident:\n%s\nlist_incidents:\n%s", text, list)
	mcptest.MustContain(t, text, "Incident gw-inc/gpu-7-xid: trainer pods crash on gpu-7", "phase: AwaitingApproval",
		"root cause: GPUXid79: GPU 3 on node gpu-7 reports XID 79 (confidence high)", "evidence: node/gpu-7: NVML reports GPU 3 lost",
		"drain-gpu-7", "AwaitingApproval", "destructive", `node_drain {"name":"gpu-7"}`, "cordon-gpu-7", "Succeeded", "Diagnosed → AwaitingApproval")
	var js struct {
		Name   string               `json:"name"`
		Status opsv1.IncidentStatus `json:"status"`
	}
	if err := json.Unmarshal([]byte(s.OK("get_incident", map[string]any{"name": "gpu-7-xid", "output": "json"})), &js); err != nil {
		t.Fatal(err)
	}
	if js.Name != "gpu-7-xid" || len(js.Status.Actions) != 3 || js.Status.RootCause.Category != "GPUXid79" {
		t.Errorf("get_incident json: %+v", js)
	}
	s.Fails("get_incident", map[string]any{"name": "nope"}, `no Incident "nope"`, "gw-inc/gpu-7-xid", "gw-inc-other/elsewhere")
	s.Fails("get_incident", map[string]any{}, `"name" is required`)

	// A bad action id changes nothing and names the waiting actions.
	s.Fails("approve_action", map[string]any{"incident": "gpu-7-xid", "action": "reboot", "decision": "approve"},
		`has no action "reboot"`, "waiting for approval: drain-gpu-7, restart-trainer")
	s.Fails("approve_action", map[string]any{"incident": "gpu-7-xid", "action": "cordon-gpu-7", "decision": "approve"}, "is Succeeded, not AwaitingApproval")
	s.Fails("approve_action", map[string]any{"incident": "gpu-7-xid", "decision": "maybe"}, `"decision" must be one of "approve", "reject"`)
	s.Fails("approve_action", map[string]any{"incident": "old-one", "decision": "approve"}, "is Resolved: nothing waits for approval")
	var inc opsv1.Incident
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gpu-7-xid"}, &inc); err != nil {
		t.Fatal(err)
	}
	if len(inc.Status.Approvals) != 0 {
		t.Fatalf("refused decisions recorded approvals: %+v", inc.Status.Approvals)
	}

	var approved contract.Approval
	out := s.Data("approve_action", map[string]any{"incident": "gpu-7-xid", "action": "drain-gpu-7", "decision": "approve", "reason": "node is dead anyway"}, &approved)
	mcptest.MustContain(t, out, "action drain-gpu-7 (node_drain, destructive) approved by alice-via-claude")
	if d := approved.Decisions; approved.Incident != ns+"/gpu-7-xid" || len(d) != 1 || d[0].Action != "drain-gpu-7" || d[0].Decision != "Approved" ||
		d[0].By != "alice-via-claude" || d[0].Reason != "node is dead anyway" || d[0].Tool != "node_drain" || d[0].Risk != "destructive" || d[0].Time == "" {
		t.Errorf("approve_action: %+v", approved)
	}
	out = s.OK("approve_action", map[string]any{"incident": "gpu-7-xid", "namespace": ns, "decision": "reject"})
	mcptest.MustContain(t, out, "action restart-trainer (workload_restart, disruptive) rejected by alice-via-claude")
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gpu-7-xid"}, &inc); err != nil {
		t.Fatal(err)
	}
	if a := inc.Status.Approvals; len(a) != 2 || a[0].ActionID != "drain-gpu-7" || a[0].Decision != opsv1.DecisionApproved || a[0].By != "alice-via-claude" ||
		a[0].Reason != "node is dead anyway" || a[1].ActionID != "restart-trainer" || a[1].Decision != opsv1.DecisionRejected {
		t.Errorf("approvals %+v", a)
	}
	s.Fails("approve_action", map[string]any{"incident": "gpu-7-xid", "action": "drain-gpu-7", "decision": "reject"}, "already approved")
	mcptest.MustContain(t, s.OK("get_incident", map[string]any{"name": "gpu-7-xid"}), "drain-gpu-7 approved by alice-via-claude: node is dead anyway")
}

// TestListAgents lists Agents with their role, readiness, reasoning, skills and delegates.
func TestListAgents(t *testing.T) {
	env := shared.Env(t)
	ctx := context.Background()
	ns := namespace(t, env.Client, "gw-agents")
	for _, a := range []*opsv1.Agent{
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "coordinator"}, Spec: opsv1.AgentSpec{Role: opsv1.RoleCoordinator, Description: "leads",
			Delegates: []opsv1.LocalObjectReference{{Name: "gpu-specialist"}}, Skills: []opsv1.AgentSkill{{ID: "incident", Name: "Incident", Description: "d"}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gpu-specialist"}, Spec: opsv1.AgentSpec{Role: opsv1.RoleSpecialist, Description: "gpus",
			Model: &opsv1.ModelSpec{Provider: opsv1.ProviderOpenAI, Model: "gpt-4o"}}},
	} {
		if err := env.Client.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	g := start(t, gateway.Config{RestConfig: env.Config, Namespaces: []string{ns}})
	s, _ := dial(t, g.MCP)
	var agents contract.AgentList
	out := s.Data("list_agents", nil, &agents)
	want := []contract.Agent{
		{Namespace: ns, Name: "coordinator", Role: "coordinator", Ready: "Unknown", Reasoning: "runbook", Skills: []string{"incident"}, Delegates: []string{"gpu-specialist"}},
		{Namespace: ns, Name: "gpu-specialist", Role: "specialist", Ready: "Unknown", Reasoning: "openai/gpt-4o"},
	}
	if !reflect.DeepEqual(agents.Agents, want) {
		t.Errorf("list_agents: %+v, want %+v", agents.Agents, want)
	}
	mcptest.MustContain(t, out, "NAMESPACE", "ROLE", "READY", "REASONING", "SKILLS", "DELEGATES",
		"coordinator", "incident", "gpu-specialist", "openai/gpt-4o", "runbook", "Unknown")
	// ask_agent without NATS says how to give it one; a name no watched namespace has is listed.
	s.Fails("ask_agent", map[string]any{"agent": "coordinator", "question": "why?"}, "no NATS connection", "--nats-url")
	s.Fails("ask_agent", map[string]any{"agent": "coordinator"}, `"question" is required`)
	s.Fails("ask_agent", map[string]any{"agent": "coordinator", "question": "x", "timeoutSeconds": 100000}, "must be at most 600")
}
