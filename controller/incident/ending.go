package incident

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/trigger/dedup"
	"github.com/opsmesh/opsmesh/controller/trigger/events"
)

// Reasons of the Ready condition an ending sets, each with the timeline event of the same name.
const (
	// ReasonInconclusive: the agents found no problem (or could not tell), but the signal that
	// raised the Incident persists; a person looks.
	ReasonInconclusive = "Inconclusive"
	// ReasonNoProblemFound: the agents found no problem and the signal is gone.
	ReasonNoProblemFound = "NoProblemFound"
	// ReasonNotVerified: the remediation ran and the cause is gone, but the workload did not
	// become healthy within the verify timeout.
	ReasonNotVerified = "NotVerified"
	// ReasonVerified: the cause is gone and the workload is healthy.
	ReasonVerified = "Verified"
)

// persisting says which of inc's signals persist since the diagnosis started at since: the alert
// that raised it still firing, repeats counted into it (Warning events whose count or last
// timestamp moved), Warning events about its target, and its workload being unhealthy. Empty
// when every signal is gone.
func (r *Reconciler) persisting(ctx context.Context, inc *opsv1.Incident, since time.Time) []string {
	var out []string
	if firing, _ := dedup.AlertFiring(inc); firing {
		out = append(out, fmt.Sprintf("alert %s is still firing (Alertmanager has not resolved it)", inc.Spec.Source.Name))
	}
	if ls := inc.Status.LastSeen; ls != nil && ls.Time.Truncate(time.Second).After(since.Truncate(time.Second)) && inc.Spec.Source.Type != opsv1.SourceAlertmanager {
		out = append(out, fmt.Sprintf("%s %s repeated after the diagnosis started (last seen %s, count %d)", inc.Spec.Source.Type, inc.Spec.Source.Name, ls.UTC().Format(time.RFC3339), inc.Status.Count))
	}
	if ev := r.warningsSince(ctx, inc, since); ev != "" {
		out = append(out, ev)
	}
	if h := r.workloadHealth(ctx, inc); h.known && !h.ok {
		out = append(out, h.String())
	}
	return out
}

// warningsSince is the latest Warning event about inc's target seen after since, in words; empty
// when none (or the events cannot be listed).
func (r *Reconciler) warningsSince(ctx context.Context, inc *opsv1.Incident, since time.Time) string {
	t := inc.Spec.Target
	if t == nil || t.Namespace == "" {
		return ""
	}
	var list corev1.EventList
	sel := fields.Set{"involvedObject.kind": t.Kind, "involvedObject.name": t.Name, "type": corev1.EventTypeWarning}.AsSelector()
	if err := r.reader.List(ctx, &list, client.InNamespace(t.Namespace), client.MatchingFieldsSelector{Selector: sel}); err != nil {
		r.log.V(1).Info("listing the Warning events of an Incident's target", "incident", inc.Namespace+"/"+inc.Name, "error", err.Error())
		return ""
	}
	var latest *corev1.Event
	for i := range list.Items {
		ev := &list.Items[i]
		if at := events.LastSeen(ev); at.Truncate(time.Second).After(since.Truncate(time.Second)) && (latest == nil || at.After(events.LastSeen(latest))) {
			latest = ev
		}
	}
	if latest == nil {
		return ""
	}
	return fmt.Sprintf("Warning event %s about %s still arrives (count %d, last %s): %s", latest.Reason, describeRef(*t),
		max(latest.Count, 1), events.LastSeen(latest).UTC().Format(time.RFC3339), clip(strings.TrimSpace(latest.Message), 300))
}

// checked says what the diagnosis looked at: its Diagnosed entry (agents, tool calls, notes) and
// its findings.
func checked(inc *opsv1.Incident) string {
	var parts []string
	for i := len(inc.Status.Timeline) - 1; i >= 0; i-- {
		if e := inc.Status.Timeline[i]; e.Phase == opsv1.PhaseDiagnosed {
			parts = append(parts, "diagnosis: "+e.Message)
			break
		}
	}
	if n := len(inc.Status.Findings); n == 0 {
		parts = append(parts, "findings: none")
	} else {
		fs := make([]string, 0, n)
		for i, f := range inc.Status.Findings {
			if i == 8 {
				fs = append(fs, fmt.Sprintf("%d more", n-i))
				break
			}
			fs = append(fs, f.Category+" ("+clip(f.Summary, 160)+")")
		}
		parts = append(parts, "findings: "+strings.Join(fs, "; "))
	}
	return strings.Join(parts, "; ")
}

// conclude ends an Incident whose diagnosis found no problem (NoProblemFound) or could not tell
// (Unknown): Resolved only when the agents found no problem and every signal is gone; otherwise
// Escalated as Inconclusive, saying what was checked and which signal persists.
func (r *Reconciler) conclude(ctx context.Context, inc *opsv1.Incident) (bool, ctrl.Result, error) {
	rc := inc.Status.RootCause
	left := r.persisting(ctx, inc, enteredAt(inc, opsv1.PhaseInvestigating))
	if rc.Category == diagnosis.NoProblemFound && len(left) == 0 {
		msg := "the agents found no problem and the signal is gone: " + rc.Summary
		setReady(inc, true, ReasonNoProblemFound, msg)
		transition(inc, opsv1.PhaseResolved, "Resolved", msg, inc.Status.Coordinator)
		return false, ctrl.Result{}, nil
	}
	what := "found no problem"
	if rc.Category != diagnosis.NoProblemFound {
		what = "could not name the problem (" + rc.Category + ")"
	}
	signal := "no signal persists, yet a diagnosis that names no cause is for a person to judge"
	if len(left) > 0 {
		signal = "the signal persists: " + strings.Join(left, "; ")
	}
	msg := fmt.Sprintf("inconclusive: the agents %s (%s); %s. Checked: %s", what, rc.Summary, signal, checked(inc))
	setReady(inc, false, ReasonInconclusive, msg)
	transition(inc, opsv1.PhaseEscalated, ReasonInconclusive, msg, r.actor())
	return false, ctrl.Result{}, nil
}
