package incident

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/metrics"
)

// observed is what the orchestrator last saw of each Incident, so it can emit the incident series
// at transitions: opsmesh_incidents (by phase), opsmesh_incident_transitions_total, the
// time-to-diagnosis and time-to-resolution histograms and opsmesh_remediation_actions_total.
//
// It is one per process, as the series are: Reconcilers started one after another in one process
// (a test that restarts the controller) carry on from what the last one saw. The first sight of an
// Incident (a new one, or any after a restart) records its state without counting a transition,
// so a restart does not count old transitions again.
var observed = &tracker{seen: map[types.NamespacedName]*sight{}}

type tracker struct {
	mu   sync.Mutex
	seen map[types.NamespacedName]*sight
}

type sight struct {
	phase   opsv1.IncidentPhase
	actions map[string]opsv1.ActionState
}

// ended says whether an action's state is one it stays in.
func ended(s opsv1.ActionState) bool {
	switch s {
	case opsv1.ActionSucceeded, opsv1.ActionFailed, opsv1.ActionRejected, opsv1.ActionSkipped:
		return true
	}
	return false
}

// observe records inc's status as read from or written to the API server.
func (t *tracker) observe(inc *opsv1.Incident) {
	key := types.NamespacedName{Namespace: inc.Namespace, Name: inc.Name}
	t.mu.Lock()
	defer t.mu.Unlock()
	prev, known := t.seen[key]
	now := &sight{phase: inc.Status.Phase, actions: map[string]opsv1.ActionState{}}
	for _, a := range inc.Status.Actions {
		now.actions[a.ID] = a.State
	}
	t.seen[key] = now
	if known && prev.phase != "" {
		metrics.Incidents.WithLabelValues(string(prev.phase)).Dec()
	}
	if now.phase != "" {
		metrics.Incidents.WithLabelValues(string(now.phase)).Inc()
	}
	if !known {
		return
	}
	if now.phase != prev.phase && now.phase != "" {
		metrics.IncidentTransitions.WithLabelValues(string(now.phase)).Inc()
		switch now.phase {
		case opsv1.PhaseDiagnosed:
			metrics.TimeToDiagnosis.Observe(sinceDetected(inc, opsv1.PhaseDiagnosed))
		case opsv1.PhaseResolved:
			metrics.TimeToResolution.Observe(sinceDetected(inc, opsv1.PhaseResolved))
		}
	}
	for _, a := range inc.Status.Actions {
		if ended(a.State) && !ended(prev.actions[a.ID]) {
			metrics.RemediationActions.WithLabelValues(string(a.State), riskLabel(a.Risk)).Inc()
		}
	}
}

// forget drops a deleted Incident from the phase gauge.
func (t *tracker) forget(key types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.seen[key]; ok {
		if prev.phase != "" {
			metrics.Incidents.WithLabelValues(string(prev.phase)).Dec()
		}
		delete(t.seen, key)
	}
}

// riskLabel keeps the risk label to the schema's three values.
func riskLabel(r opsv1.ActionRisk) string {
	switch r {
	case opsv1.RiskSafe, opsv1.RiskDisruptive, opsv1.RiskDestructive:
		return string(r)
	}
	return "unknown"
}

// sinceDetected is the seconds from inc's detection to its last entry into phase.
func sinceDetected(inc *opsv1.Incident, phase opsv1.IncidentPhase) float64 {
	from := inc.CreationTimestamp.Time
	for _, e := range inc.Status.Timeline {
		if e.Phase == opsv1.PhaseDetected {
			from = e.Time.Time
			break
		}
	}
	to := time.Now()
	for i := len(inc.Status.Timeline) - 1; i >= 0; i-- {
		if inc.Status.Timeline[i].Phase == phase {
			to = inc.Status.Timeline[i].Time.Time
			break
		}
	}
	return max(0, to.Sub(from).Seconds())
}
