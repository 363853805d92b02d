package approval_test

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/approval"
)

func incident(phase opsv1.IncidentPhase, states ...opsv1.ActionState) *opsv1.Incident {
	inc := &opsv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout"}}
	inc.Status.Phase = phase
	for i, s := range states {
		inc.Status.Actions = append(inc.Status.Actions, opsv1.RemediationAction{ID: "a" + string(rune('1'+i)), Tool: "t", Risk: opsv1.RiskSafe, State: s})
	}
	return inc
}

func TestPending(t *testing.T) {
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
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := approval.Pending(c.inc, c.action)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("Pending = %v, %v; want %v", got, err, c.want)
			}
		})
	}
	if a, ok := approval.Decision(decided, "a1"); !ok || a.By != "bob" {
		t.Errorf("Decision(a1) = %+v, %v", a, ok)
	}
	if _, ok := approval.Decision(decided, "a2"); ok {
		t.Error("Decision(a2) found a decision nobody made")
	}
}
