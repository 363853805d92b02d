package incident

import (
	"context"
	"fmt"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// verify asks the coordinator again, as the incident's first investigation did, and checks the
// workload: the incident is Resolved when the root cause it named is no longer found and the
// workload behind its target is healthy again (a Deployment's rollout complete with every
// replica ready, a StatefulSet's or DaemonSet's pods ready, a Job not failed and running, a Node
// Ready: see healthRules). Until both hold it keeps checking; once VerifyTimeout has passed since
// remediation ended it escalates, saying which one does not.
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
		h := r.workloadHealth(ctx, inc)
		if h.known && !h.ok {
			if late {
				msg := fmt.Sprintf("%s applied, but %s is not healthy after %s: %s; %s is no longer found, yet the fix is not verified", ran(inc), h.object, r.cfg.VerifyTimeout, h.detail, want)
				setReady(inc, false, ReasonNotVerified, msg)
				transition(inc, opsv1.PhaseEscalated, ReasonNotVerified, msg, r.actor())
				return false, ctrl.Result{}, nil
			}
			if since(inc, opsv1.PhaseVerifying, "WaitingForWorkload") == 0 {
				note(inc, "", "WaitingForWorkload", fmt.Sprintf("%s is no longer found; waiting up to %s for %s to be healthy: %s", want, r.cfg.VerifyTimeout, h.object, h.detail), r.actor())
			}
			return false, ctrl.Result{RequeueAfter: r.cfg.VerifyInterval}, nil
		}
		msg := fmt.Sprintf("verified: %s is no longer found", want)
		if h.known {
			msg += fmt.Sprintf(" and %s is healthy (%s)", h.object, h.detail)
		}
		if got.Category != "NoProblemFound" {
			msg += fmt.Sprintf(" (the agents now report %s: %s)", got.Category, got.Summary)
		}
		setReady(inc, true, ReasonVerified, msg)
		transition(inc, opsv1.PhaseResolved, "Resolved", msg, inc.Status.Coordinator)
		return false, ctrl.Result{}, nil
	}
	if late {
		transition(inc, opsv1.PhaseEscalated, "Escalated", fmt.Sprintf("after remediation the agents still find %s: %s (checked for %s)", got.Category, got.Summary, r.cfg.VerifyTimeout), r.actor())
		return false, ctrl.Result{}, nil
	}
	return false, ctrl.Result{RequeueAfter: r.cfg.VerifyInterval}, nil
}

// ran names the actions that succeeded and the target, as "workload_rollback on deployment
// shop/checkout".
func ran(inc *opsv1.Incident) string {
	var tools []string
	for _, a := range inc.Status.Actions {
		if a.State == opsv1.ActionSucceeded {
			tools = append(tools, a.Tool)
		}
	}
	s := strings.Join(tools, ", ")
	if s == "" {
		s = "the remediation"
	}
	if t := inc.Spec.Target; t != nil {
		s += " on " + describeRef(*t)
	}
	return s
}
