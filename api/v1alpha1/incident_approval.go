package v1alpha1

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxApprovals is how many approvals status.approvals keeps (its MaxItems); the oldest go first.
const maxApprovals = 64

// PendingApprovals returns the actions a decision on actionID applies to: actionID itself, or
// every action that waits for approval and has no decision yet when actionID is empty. The error
// says why nothing can be decided: the Incident is finished, has no such action, or the action
// does not wait for approval or was already decided.
func (inc *Incident) PendingApprovals(actionID string) ([]string, error) {
	name := inc.Namespace + "/" + inc.Name
	if inc.Status.Phase.Terminal() {
		return nil, fmt.Errorf("Incident %s is %s: nothing waits for approval", name, inc.Status.Phase)
	}
	decided := map[string]ApprovalDecision{}
	for _, a := range inc.Status.Approvals {
		decided[a.ActionID] = a.Decision
	}
	var waiting, all []string
	for _, a := range inc.Status.Actions {
		all = append(all, a.ID)
		if a.State == ActionAwaitingApproval {
			if _, ok := decided[a.ID]; !ok {
				waiting = append(waiting, a.ID)
			}
		}
	}
	if actionID == "" {
		if len(waiting) == 0 {
			return nil, fmt.Errorf("Incident %s (phase %s) has no action waiting for approval", name, phaseName(inc))
		}
		return waiting, nil
	}
	for _, a := range inc.Status.Actions {
		if a.ID != actionID {
			continue
		}
		if d, ok := decided[a.ID]; ok {
			return nil, fmt.Errorf("Incident %s: action %s was already %s", name, a.ID, strings.ToLower(string(d)))
		}
		if a.State != ActionAwaitingApproval {
			return nil, fmt.Errorf("Incident %s: action %s is %s, not AwaitingApproval; waiting: %s", name, a.ID, a.State, idList(waiting))
		}
		return []string{a.ID}, nil
	}
	return nil, fmt.Errorf("Incident %s has no action %q; its actions: %s (waiting for approval: %s)", name, actionID, idList(all), idList(waiting))
}

// RecordDecision records decision d by `by`, with reason, at time at, on the actions
// PendingApprovals(actionID) names, keeping the latest approvals status.approvals has room for,
// and returns those actions. It changes nothing when PendingApprovals refuses, and returns its
// error. It only changes inc in memory: writing the status is the caller's.
func (inc *Incident) RecordDecision(actionID string, d ApprovalDecision, by, reason string, at metav1.Time) ([]string, error) {
	ids, err := inc.PendingApprovals(actionID)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		inc.Status.Approvals = append(inc.Status.Approvals, Approval{ActionID: id, Decision: d, By: by, Reason: reason, Time: at})
	}
	if n := len(inc.Status.Approvals); n > maxApprovals {
		inc.Status.Approvals = inc.Status.Approvals[n-maxApprovals:]
	}
	return ids, nil
}

// ApprovalOf is the decision recorded on actionID, if any (the latest, should there be several).
func (inc *Incident) ApprovalOf(actionID string) (Approval, bool) {
	for i := len(inc.Status.Approvals) - 1; i >= 0; i-- {
		if a := inc.Status.Approvals[i]; a.ActionID == actionID {
			return a, true
		}
	}
	return Approval{}, false
}

// ApprovedBy is who approved actionID: a person's recorded approval, else the policy that
// approved it (its ActionApproved timeline entry's actor); "" when none did.
func (inc *Incident) ApprovedBy(actionID string) string {
	if d, ok := inc.ApprovalOf(actionID); ok && d.Decision == DecisionApproved {
		return d.By
	}
	for _, e := range inc.Status.Timeline {
		if e.Event == "ActionApproved" && strings.HasPrefix(e.Message, "action "+actionID+":") {
			return e.Actor
		}
	}
	return ""
}

func phaseName(inc *Incident) string {
	if inc.Status.Phase == "" {
		return "not started"
	}
	return string(inc.Status.Phase)
}

func idList(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}
