package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

func sampleIncident(phase opsv1.IncidentPhase, state opsv1.ActionState) (ScenarioResult, *opsv1.Incident) {
	inc := &opsv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: "demo-inference", Name: "backoff-llm-inference-1a2b3"}}
	inc.Status.Phase = phase
	inc.Status.Coordinator = "opsmesh/incident-coordinator"
	inc.Status.RootCause = &opsv1.RootCause{Category: "CrashLoopBackOff", Summary: "its containers crash"}
	inc.Status.Actions = []opsv1.RemediationAction{{ID: "a1", Tool: "workload_rollback", Risk: opsv1.RiskDisruptive, State: state}}
	var res ScenarioResult
	res.Scenario = ScenarioCrashLoop
	fill(&res, inc)
	return res, inc
}

// One line per change when not a terminal: an update that changes nothing prints nothing, and
// a waiting action says how to approve it.
func TestLiveViewOneLinePerChange(t *testing.T) {
	var b bytes.Buffer
	s := newShow(&b, false, 0, time.Now())
	s.add(ScenarioCrashLoop, "title")
	res, inc := sampleIncident(opsv1.PhaseAwaitingApproval, opsv1.ActionAwaitingApproval)
	s.update(res, inc)
	n := strings.Count(b.String(), "\n")
	s.update(res, inc)
	if got := strings.Count(b.String(), "\n"); got != n {
		t.Errorf("an unchanged Incident printed %d more lines:\n%s", got-n, b.String())
	}
	out := b.String()
	for _, want := range []string{"phase AwaitingApproval", "diagnosis CrashLoopBackOff: its containers crash", "agents consulted: opsmesh/incident-coordinator",
		"approve with: opsmesh approve backoff-llm-inference-1a2b3 a1 -n demo-inference"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("escape sequences in non-interactive output:\n%q", out)
	}
}

// On a terminal the table is erased and drawn again below each new line, showing the latest
// state; close leaves no table behind it to erase.
func TestLiveViewRedrawsOnATerminal(t *testing.T) {
	var b bytes.Buffer
	s := newShow(&b, true, 60, time.Now())
	s.add(ScenarioCrashLoop, "title")
	res, inc := sampleIncident(opsv1.PhaseAwaitingApproval, opsv1.ActionAwaitingApproval)
	s.update(res, inc)
	res, inc = sampleIncident(opsv1.PhaseResolved, opsv1.ActionSucceeded)
	s.update(res, inc)
	s.close()
	out := b.String()
	if !strings.Contains(out, "\x1b[2A\x1b[J") {
		t.Errorf("the two-line table is never erased to be redrawn:\n%q", out)
	}
	last := out[strings.LastIndex(out, "SCENARIO"):]
	if !strings.Contains(last, "Resolved") || strings.Contains(last, "AwaitingApproval") {
		t.Errorf("the last table drawn is not the latest state:\n%q", last)
	}
	if !strings.HasSuffix(out, "\x1b[2A\x1b[J") {
		t.Errorf("close must erase the live table (the summary follows):\n%q", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "SCENARIO") || strings.HasPrefix(l, ScenarioCrashLoop+" ") {
			if n := len([]rune(l)); n >= 60 {
				t.Errorf("a table line of %d columns on a 60-column terminal would wrap: %q", n, l)
			}
		}
	}
	if !strings.Contains(out, "phase Resolved") {
		t.Errorf("no line for the Resolved phase:\n%q", out)
	}
}

func TestSummaryNamesSkippedAndFailedScenarios(t *testing.T) {
	res := Result{Scenarios: []ScenarioResult{
		{Scenario: ScenarioCrashLoop, Namespace: "demo-inference", Incident: "backoff-llm-inference-1a2b3", RootCause: "CrashLoopBackOff", Phase: opsv1.PhaseResolved, OK: true,
			TimeToDiagnosis: 1234 * time.Millisecond, Actions: []Action{{ID: "a1", Tool: "workload_rollback", Risk: opsv1.RiskDisruptive, State: opsv1.ActionSucceeded, ApprovedBy: "alice"}}},
		{Scenario: ScenarioPendingGPU, Problem: "no Incident was raised for Job demo-training/llm-finetune"},
		{Scenario: ScenarioXID, Skipped: "no fault injector"},
		{Scenario: ScenarioOOM, Namespace: "demo-batch", Incident: "backoff-feature-worker-1a2b3", RootCause: "OOMKilled", Phase: opsv1.PhaseAwaitingApproval, OK: true, TimeToDiagnosis: time.Second},
	}}
	var b bytes.Buffer
	WriteSummary(&b, res)
	out := b.String()
	for _, want := range []string{
		"a1 workload_rollback [disruptive] Succeeded by alice", "1.2s", "demo-batch/backoff-feature-worker-1a2b3",
		"training-pending-gpu FAILED: no Incident was raised for Job demo-training/llm-finetune",
		"gpu-xid79 skipped: no fault injector",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if got := res.Failed(); len(got) != 1 || got[0] != ScenarioPendingGPU {
		t.Errorf("Failed() = %v, want only the pending scenario (a skipped one is not a failure)", got)
	}
}

// The agents consulted are those the Diagnosed entry names, also the ones without a finding.
func TestAgentsConsultedIncludeThoseWithoutFindings(t *testing.T) {
	_, inc := sampleIncident(opsv1.PhaseDiagnosed, opsv1.ActionProposed)
	inc.Status.Findings = []opsv1.Finding{{Agent: "opsmesh/gpu-specialist", Category: "GPUXid79"}}
	inc.Status.Timeline = []opsv1.TimelineEntry{{Event: "Diagnosed", Message: "GPUXid79: GPU 3 fell off the bus; it runs a, b (confidence high; agents opsmesh/incident-coordinator, opsmesh/cluster-specialist, opsmesh/gpu-specialist; 4 tool calls)"}}
	var res ScenarioResult
	fill(&res, inc)
	want := "opsmesh/incident-coordinator, opsmesh/cluster-specialist, opsmesh/gpu-specialist"
	if got := strings.Join(res.Agents, ", "); got != want {
		t.Errorf("agents %s, want %s", got, want)
	}
}

// FuzzDiagnosedAgents: the Diagnosed entry's message is read, never trusted: any message gives
// agents that are in it, and one in the controller's format gives its agents back.
func FuzzDiagnosedAgents(f *testing.F) {
	f.Add("GPUXid79: lost (confidence high; agents a/b, c/d; 4 tool calls)", "a/b,c/d")
	f.Add("x; agents ; y", "")
	f.Add("; agents ", "")
	f.Add("no agents here", "x")
	f.Add("summary with; agents in it (confidence low; agents ns/coord; 0 tool calls)", "ns/coord")
	f.Fuzz(func(t *testing.T, msg, agents string) {
		inc := &opsv1.Incident{}
		inc.Status.Timeline = []opsv1.TimelineEntry{{Event: "Diagnosed", Message: msg}}
		for _, a := range diagnosedAgents(inc) {
			if !strings.Contains(msg, a) {
				t.Fatalf("agent %q is not in the message %q", a, msg)
			}
		}
		if agents == "" || strings.ContainsAny(agents, ";, ") {
			return
		}
		want := strings.Split(strings.ReplaceAll(agents, ",", "\x00"), "\x00")
		inc.Status.Timeline[0].Message = "Cause: " + msg + " (confidence high; agents " + strings.Join(want, ", ") + "; 3 tool calls)"
		if got := diagnosedAgents(inc); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("agents %q from %q, want %q", got, inc.Status.Timeline[0].Message, want)
		}
	})
}
