package incident

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// verify asks the coordinator again, as the incident's first investigation did: the incident is
// Resolved when the root cause it named is no longer found, and Escalated when it still is once
// VerifyTimeout has passed since remediation ended.
func (r *Reconciler) verify(ctx context.Context, inc *opsv1.Incident) (bool, ctrl.Result, error) {
	rn := r.background(inc, purposeVerify)
	if rn == nil {
		return false, ctrl.Result{RequeueAfter: r.cfg.InvestigateTimeout + 30*time.Second}, nil
	}
	want := ""
	if inc.Status.RootCause != nil {
		want = inc.Status.RootCause.Category
	}
	deadline := enteredAt(inc, opsv1.PhaseVerifying).Add(r.cfg.VerifyTimeout)
	late := time.Now().After(deadline)
	switch {
	case rn.err != nil && late:
		transition(inc, opsv1.PhaseEscalated, "Escalated", fmt.Sprintf("the remediation ran but could not be verified: %v", rn.err), r.actor())
		return false, ctrl.Result{}, nil
	case rn.err != nil:
		return false, ctrl.Result{RequeueAfter: r.cfg.VerifyInterval}, nil
	}
	got := rn.d.RootCause
	if got.Category != want {
		msg := fmt.Sprintf("verified: %s is no longer found", want)
		if got.Category != "NoProblemFound" {
			msg += fmt.Sprintf(" (the agents now report %s: %s)", got.Category, got.Summary)
		}
		transition(inc, opsv1.PhaseResolved, "Resolved", msg, inc.Status.Coordinator)
		return false, ctrl.Result{}, nil
	}
	if late {
		transition(inc, opsv1.PhaseEscalated, "Escalated", fmt.Sprintf("after remediation the agents still find %s: %s (checked for %s)", got.Category, got.Summary, r.cfg.VerifyTimeout), r.actor())
		return false, ctrl.Result{}, nil
	}
	return false, ctrl.Result{RequeueAfter: r.cfg.VerifyInterval}, nil
}
