package v1alpha1_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

func incident(phase opsv1.IncidentPhase, states ...opsv1.ActionState) *opsv1.Incident {
	inc := &opsv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout"}}
	inc.Status.Phase = phase
	for i, s := range states {
		inc.Status.Actions = append(inc.Status.Actions, opsv1.RemediationAction{ID: "a" + string(rune('1'+i)), Tool: "t", Risk: opsv1.RiskSafe, State: s})
	}
	return inc
}

func TestPendingApprovals(t *testing.T) {
	waiting := incident(opsv1.PhaseAwaitingApproval, opsv1.ActionSucceeded, opsv1.ActionAwaitingApproval, opsv1.ActionAwaitingApproval)
	decided := incident(opsv1.PhaseAwaitingApproval, opsv1.ActionAwaitingApproval, opsv1.ActionAwaitingApproval)
	decided.Status.Approvals = []opsv1.Approval{{ActionID: "a1", Decision: opsv1.DecisionRejected, By: "bob"}}
	for _, c := range []struct {
		name    string
		inc     *opsv1.Incident
		action  string
		want    []string
		wantErr string
	}{
		{"every waiting action", waiting, "", []string{"a2", "a3"}, ""},
		{"one action", waiting, "a3", []string{"a3"}, ""},
		{"an action that does not wait", waiting, "a1", nil, "action a1 is Succeeded, not AwaitingApproval; waiting: a2, a3"},
		{"an unknown action", waiting, "a9", nil, `has no action "a9"; its actions: a1, a2, a3 (waiting for approval: a2, a3)`},
		{"an action already decided", decided, "a1", nil, "action a1 was already rejected"},
		{"decided ones are not waiting", decided, "", []string{"a2"}, ""},
		{"a finished incident", incident(opsv1.PhaseResolved, opsv1.ActionSucceeded), "", nil, "Incident shop/checkout is Resolved: nothing waits for approval"},
		{"nothing waits", incident(opsv1.PhaseRemediating, opsv1.ActionRunning), "", nil, "has no action waiting for approval"},
		{"nothing waits before it started", incident("", opsv1.ActionProposed), "", nil, "(phase not started) has no action waiting for approval"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.inc.PendingApprovals(c.action)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("PendingApprovals = %v, %v; want %v", got, err, c.want)
			}
		})
	}
	if a, ok := decided.ApprovalOf("a1"); !ok || a.By != "bob" {
		t.Errorf("ApprovalOf(a1) = %+v, %v", a, ok)
	}
	if _, ok := decided.ApprovalOf("a2"); ok {
		t.Error("ApprovalOf(a2) found a decision nobody made")
	}
}

func TestRecordDecision(t *testing.T) {
	at := metav1.NewTime(time.Date(2025, 6, 18, 12, 0, 0, 0, time.UTC))

	t.Run("every waiting action", func(t *testing.T) {
		inc := incident(opsv1.PhaseAwaitingApproval, opsv1.ActionSucceeded, opsv1.ActionAwaitingApproval, opsv1.ActionAwaitingApproval)
		ids, err := inc.RecordDecision("", opsv1.DecisionApproved, "alice", "the :2 release is bad", at)
		if err != nil || !slices.Equal(ids, []string{"a2", "a3"}) {
			t.Fatalf("RecordDecision = %v, %v; want [a2 a3]", ids, err)
		}
		want := []opsv1.Approval{
			{ActionID: "a2", Decision: opsv1.DecisionApproved, By: "alice", Reason: "the :2 release is bad", Time: at},
			{ActionID: "a3", Decision: opsv1.DecisionApproved, By: "alice", Reason: "the :2 release is bad", Time: at},
		}
		if !reflect.DeepEqual(inc.Status.Approvals, want) {
			t.Errorf("approvals %+v, want %+v", inc.Status.Approvals, want)
		}
		if _, err := inc.PendingApprovals(""); err == nil {
			t.Error("actions still wait for approval after every one was decided")
		}
	})

	t.Run("a refusal changes nothing", func(t *testing.T) {
		inc := incident(opsv1.PhaseAwaitingApproval, opsv1.ActionSucceeded, opsv1.ActionAwaitingApproval)
		before := inc.DeepCopy()
		if _, err := inc.RecordDecision("a1", opsv1.DecisionRejected, "bob", "", at); err == nil || !strings.Contains(err.Error(), "action a1 is Succeeded") {
			t.Fatalf("error %v, want one saying action a1 does not wait", err)
		}
		if !reflect.DeepEqual(inc, before) {
			t.Errorf("a refused decision changed the Incident: %+v, was %+v", inc.Status, before.Status)
		}
	})

	t.Run("only the latest approvals are kept", func(t *testing.T) {
		inc := incident(opsv1.PhaseAwaitingApproval, opsv1.ActionAwaitingApproval)
		for i := range 64 {
			inc.Status.Approvals = append(inc.Status.Approvals, opsv1.Approval{ActionID: fmt.Sprintf("old%d", i), Decision: opsv1.DecisionRejected, By: "bob"})
		}
		if _, err := inc.RecordDecision("a1", opsv1.DecisionApproved, "alice", "", at); err != nil {
			t.Fatal(err)
		}
		got := inc.Status.Approvals
		if len(got) != 64 || got[0].ActionID != "old1" || got[63].ActionID != "a1" {
			t.Errorf("approvals: %d, from %s to %s; want the 64 latest, from old1 to a1", len(got), got[0].ActionID, got[len(got)-1].ActionID)
		}
	})
}

func TestApprovalOfAndApprovedBy(t *testing.T) {
	inc := incident(opsv1.PhaseRemediating, opsv1.ActionSucceeded, opsv1.ActionSucceeded, opsv1.ActionRejected, opsv1.ActionRunning)
	inc.Status.Approvals = []opsv1.Approval{
		{ActionID: "a1", Decision: opsv1.DecisionApproved, By: "alice"},
		{ActionID: "a3", Decision: opsv1.DecisionRejected, By: "bob"},
	}
	inc.Status.Timeline = []opsv1.TimelineEntry{
		{Event: "ActionApproved", Message: "action a1: approved by alice", Actor: "alice"},
		{Event: "ActionApproved", Message: "action a2: approved by policy Auto (safe): restart", Actor: "policy Auto"},
	}
	for action, want := range map[string]string{
		"a1": "alice",       // a person's approval
		"a2": "policy Auto", // the policy's, from the timeline
		"a3": "",            // rejected
		"a4": "",            // nobody approved it yet
	} {
		if got := inc.ApprovedBy(action); got != want {
			t.Errorf("ApprovedBy(%s) = %q, want %q", action, got, want)
		}
	}
	if a, ok := inc.ApprovalOf("a3"); !ok || a.Decision != opsv1.DecisionRejected || a.By != "bob" {
		t.Errorf("ApprovalOf(a3) = %+v, %v; want bob's rejection", a, ok)
	}
}
