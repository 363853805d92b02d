// Package approval records a person's decision on the remediation actions of an Incident that
// wait for approval: it appends an Approval (action, decision, who, why, when) to the Incident's
// status. It never changes an action's state or runs anything — the incident orchestrator reads
// the approvals and moves the actions on. The CLI (`opsmesh approve`, `opsmesh incidents
// reject`) and the MCP gateway's approve_action tool both decide through Decide.
package approval

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// maxReason bounds the reason given with a decision (the Approval field's limit).
const maxReason = 1024

// Decide records decision d by `by` on the action actionID of the Incident at key, or on every
// action that waits for approval when actionID is empty. It refuses, changing nothing, an
// Incident that is finished, an action it does not have, and an action that does not wait for
// approval or was already decided; the error names the incident, the action and what to do. It
// returns the Incident as written.
func Decide(ctx context.Context, c client.Client, key types.NamespacedName, actionID string, d opsv1.ApprovalDecision, by, reason string) (*opsv1.Incident, error) {
	if d != opsv1.DecisionApproved && d != opsv1.DecisionRejected {
		return nil, fmt.Errorf("decision %q: use %s or %s", d, opsv1.DecisionApproved, opsv1.DecisionRejected)
	}
	by = strings.TrimSpace(by)
	if by == "" {
		return nil, errors.New("who decides is empty: pass the user or service account that approves")
	}
	if len(by) > 253 {
		by = by[:253]
	}
	if len(reason) > maxReason {
		return nil, fmt.Errorf("the reason is %d bytes long; keep it under %d", len(reason), maxReason)
	}
	var out *opsv1.Incident
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var inc opsv1.Incident
		if err := c.Get(ctx, key, &inc); err != nil {
			return fmt.Errorf("reading Incident %s: %w", key, err)
		}
		ids, err := Pending(&inc, actionID)
		if err != nil {
			return err
		}
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		for _, id := range ids {
			inc.Status.Approvals = append(inc.Status.Approvals, opsv1.Approval{ActionID: id, Decision: d, By: by, Reason: reason, Time: now})
		}
		if n := len(inc.Status.Approvals); n > 64 {
			inc.Status.Approvals = inc.Status.Approvals[n-64:]
		}
		if err := c.Status().Update(ctx, &inc); err != nil {
			return err
		}
		out = &inc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Pending returns the actions of inc a decision on actionID applies to: actionID itself, or
// every action that waits for approval and has no decision yet when actionID is empty. The error
// says why nothing can be decided.
func Pending(inc *opsv1.Incident, actionID string) ([]string, error) {
	name := inc.Namespace + "/" + inc.Name
	if inc.Status.Phase.Terminal() {
		return nil, fmt.Errorf("Incident %s is %s: nothing waits for approval", name, inc.Status.Phase)
	}
	decided := map[string]opsv1.ApprovalDecision{}
	for _, a := range inc.Status.Approvals {
		decided[a.ActionID] = a.Decision
	}
	var waiting, all []string
	for _, a := range inc.Status.Actions {
		all = append(all, a.ID)
		if a.State == opsv1.ActionAwaitingApproval {
			if _, ok := decided[a.ID]; !ok {
				waiting = append(waiting, a.ID)
			}
		}
	}
	if actionID == "" {
		if len(waiting) == 0 {
			return nil, fmt.Errorf("Incident %s (phase %s) has no action waiting for approval", name, phaseOf(inc))
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
		if a.State != opsv1.ActionAwaitingApproval {
			return nil, fmt.Errorf("Incident %s: action %s is %s, not AwaitingApproval; waiting: %s", name, a.ID, a.State, list(waiting))
		}
		return []string{a.ID}, nil
	}
	return nil, fmt.Errorf("Incident %s has no action %q; its actions: %s (waiting for approval: %s)", name, actionID, list(all), list(waiting))
}

// Decision is the decision recorded on actionID of inc, if any.
func Decision(inc *opsv1.Incident, actionID string) (opsv1.Approval, bool) {
	for i := len(inc.Status.Approvals) - 1; i >= 0; i-- {
		if a := inc.Status.Approvals[i]; a.ActionID == actionID {
			return a, true
		}
	}
	return opsv1.Approval{}, false
}

// ApprovedBy is who approved actionID of inc: a person's recorded approval, else the policy
// that approved it (its ActionApproved timeline entry's actor); "" when none did.
func ApprovedBy(inc *opsv1.Incident, actionID string) string {
	if d, ok := Decision(inc, actionID); ok && d.Decision == opsv1.DecisionApproved {
		return d.By
	}
	for _, e := range inc.Status.Timeline {
		if e.Event == "ActionApproved" && strings.HasPrefix(e.Message, "action "+actionID+":") {
			return e.Actor
		}
	}
	return ""
}

// WhoAmI is the user name the API server knows the client c by (as `kubectl auth whoami`).
func WhoAmI(ctx context.Context, c client.Client) (string, error) {
	r := &authnv1.SelfSubjectReview{}
	if err := c.Create(ctx, r); err != nil {
		return "", fmt.Errorf("asking the API server who you are (SelfSubjectReview): %w; pass --as-user to name yourself", err)
	}
	if r.Status.UserInfo.Username == "" {
		return "", errors.New("the API server did not say who you are; pass --as-user to name yourself")
	}
	return r.Status.UserInfo.Username, nil
}

func phaseOf(inc *opsv1.Incident) string {
	if inc.Status.Phase == "" {
		return "not started"
	}
	return string(inc.Status.Phase)
}

func list(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}
