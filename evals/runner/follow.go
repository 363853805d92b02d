package runner

// Following the scenario's Incident: finding it, approving or rejecting the actions that wait
// for approval, and stopping at a terminal phase or the timeout.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/approval"
	"github.com/opsmesh/opsmesh/evals/scenario"
)

// sighting is what a watch during setup saw of the platform's Incident: the last look that did
// not find it, and when its diagnosis was first seen.
type sighting struct {
	mu                  sync.Mutex
	lastMiss, diagnosed time.Time
	done                chan struct{}
}

// watchEarly looks for the platform's Incident from the start of setup, as the platform may
// raise and diagnose it while setup goes on; stopEarly (or the returned func) ends the watch.
func (a *attempt) watchEarly(ctx context.Context) func() {
	t, err := a.target(a.s.Incident.Target)
	w := &sighting{lastMiss: time.Now(), done: make(chan struct{})}
	a.early = w
	stop := make(chan struct{})
	var once sync.Once
	a.stopEarly = func() { once.Do(func() { close(stop); <-w.done }) }
	go func() {
		defer close(w.done)
		if err != nil {
			return
		}
		for {
			before := time.Now()
			inc, _ := a.findIncident(ctx, t)
			w.mu.Lock()
			switch {
			case inc == nil:
				w.lastMiss = before
			case inc.Status.RootCause != nil:
				w.diagnosed = time.Now()
			}
			done := !w.diagnosed.IsZero()
			w.mu.Unlock()
			if done {
				return
			}
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(a.r.cfg.Poll):
			}
		}
	}()
	return a.stopEarly
}

// follow finds the Incident about the target, decides its approvals, and returns it once it
// ended (or the context did). The diagnosis time is measured from raised.
func (a *attempt) follow(ctx context.Context, raised time.Time) (*opsv1.Incident, error) {
	t, err := a.target(a.s.Incident.Target)
	if err != nil {
		return nil, err
	}
	var inc *opsv1.Incident
	var last error
	if w := a.early; w != nil {
		// The platform raises it from what setup did, perhaps during setup: it is timed from the
		// last look that did not find it (an over-estimate by at most one poll).
		w.mu.Lock()
		raised = w.lastMiss
		if !w.diagnosed.IsZero() {
			a.res.TimeToDiagnosis = max(w.diagnosed.Sub(w.lastMiss), time.Millisecond)
		}
		w.mu.Unlock()
	}
	for {
		if inc == nil {
			before := time.Now()
			inc, last = a.findIncident(ctx, t)
			if inc == nil && a.s.Incident.Platform {
				raised = before
			}
		} else {
			var cur opsv1.Incident
			if err := a.r.c.Get(ctx, client.ObjectKeyFromObject(inc), &cur); err == nil {
				inc = &cur
			} else {
				last = err
			}
		}
		if inc != nil {
			if c := inc.Status.Coordinator; c != "" && c != a.r.cfg.AgentNamespace+"/"+a.coordinator {
				return inc, fmt.Errorf("Incident %s/%s is handled by coordinator %s, not the scenario's %s/%s: another coordinator selects it more specifically (one left by opsmesh demo, say); delete it or run on a cluster without it",
					inc.Namespace, inc.Name, c, a.r.cfg.AgentNamespace, a.coordinator)
			}
			if inc.Status.RootCause != nil && a.res.TimeToDiagnosis == 0 {
				a.res.TimeToDiagnosis = max(time.Since(raised), time.Millisecond)
			}
			if err := a.decide(ctx, inc); err != nil {
				return inc, err
			}
			if inc.Status.Phase.Terminal() {
				return inc, nil
			}
		}
		select {
		case <-ctx.Done():
			if inc == nil {
				why := fmt.Sprintf("no Incident was raised about %s within %s", t.String(), a.s.TimeoutOr())
				if last != nil {
					why += fmt.Sprintf(" (last error: %v)", last)
				}
				return nil, errors.New(why + "; is opsmesh controller running with its triggers?")
			}
			return inc, fmt.Errorf("timed out after %s in phase %s", a.s.TimeoutOr(), orDetected(inc.Status.Phase))
		case <-time.After(a.r.cfg.Poll):
		}
	}
}

// raisedBy says whether inc came the way the scenario raises its incident: the runner's own
// Incident for a question, one from an event or an alert for those; any for the platform. (The
// platform may raise others about the same target from its own triggers; the runner follows the
// one the scenario raised, and times it from the raise.)
func (a *attempt) raisedBy(inc *opsv1.Incident) bool {
	in := a.s.Incident
	switch {
	case in.Question != "":
		return inc.Labels[RunLabel] == a.r.cfg.Run && inc.Labels[ScenarioLabel] == a.s.Name
	case in.Event != nil:
		return inc.Spec.Source.Type == opsv1.SourceEvent
	case in.Alert != nil:
		return inc.Spec.Source.Type == opsv1.SourceAlertmanager && inc.Spec.Source.Name == in.Alert.Labels["alertname"]
	}
	return true
}

// findIncident is the first Incident about t, raised the scenario's way, created since the
// scenario began.
func (a *attempt) findIncident(ctx context.Context, t *opsv1.TargetReference) (*opsv1.Incident, error) {
	nss := []string{a.r.cfg.AgentNamespace}
	if t.Namespace != "" && t.Namespace != a.r.cfg.AgentNamespace {
		nss = append(nss, t.Namespace)
	}
	since := a.start.Truncate(time.Second)
	var found *opsv1.Incident
	for _, ns := range nss {
		var l opsv1.IncidentList
		if err := a.r.c.List(ctx, &l, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("listing the Incidents of namespace %s: %w", ns, err)
		}
		for i := range l.Items {
			inc := &l.Items[i]
			it := inc.Spec.Target
			if it == nil || it.Kind != t.Kind || it.Name != t.Name || it.Namespace != t.Namespace || inc.CreationTimestamp.Time.Before(since) || !a.raisedBy(inc) {
				continue
			}
			if found == nil || inc.CreationTimestamp.Before(&found.CreationTimestamp) {
				found = inc.DeepCopy()
			}
		}
	}
	return found, nil
}

// decide approves the waiting actions the scenario expects — expect.remediation's, and
// expect.failsSafely's, which must run to be refused (but never forced) — and rejects the
// others.
func (a *attempt) decide(ctx context.Context, inc *opsv1.Incident) error {
	for _, act := range inc.Status.Actions {
		if act.State != opsv1.ActionAwaitingApproval {
			continue
		}
		if _, done := a.decided[act.ID]; done {
			continue
		}
		if _, ok := inc.ApprovalOf(act.ID); ok {
			continue
		}
		d, why := decision(a.s, act)
		who, err := approval.WhoAmI(ctx, a.r.c)
		if err != nil {
			return fmt.Errorf("who approves: %w", err)
		}
		if _, err := approval.Decide(ctx, a.r.c, types.NamespacedName{Namespace: inc.Namespace, Name: inc.Name}, act.ID, d, who, why); err != nil {
			return fmt.Errorf("deciding action %s (%s) of Incident %s/%s: %w", act.ID, act.Tool, inc.Namespace, inc.Name, err)
		}
		a.decided[act.ID] = d
	}
	return nil
}

func orDetected(p opsv1.IncidentPhase) string {
	if p == "" {
		return "Detected"
	}
	return string(p)
}

// decision is what the runner decides on a waiting action of scenario s, and why.
func decision(s *scenario.Scenario, act opsv1.RemediationAction) (opsv1.ApprovalDecision, string) {
	e := s.Expect
	var args map[string]any
	if act.Arguments != nil && len(act.Arguments.Raw) > 0 {
		_ = json.Unmarshal(act.Arguments.Raw, &args)
	}
	switch {
	case s.Remediation.Approve == "none" || matchesAnyAction(e.Forbidden, act.Tool, args):
		// Rejected below: the scenario approves nothing, or forbids this.
	case matchesAnyAction(e.FailsSafely, act.Tool, args) && forced(args):
		return opsv1.DecisionRejected, "opsmesh eval: scenario " + s.Name + " expects this action to be refused, not forced"
	case matchesAnyAction(e.Remediation, act.Tool, args):
		return opsv1.DecisionApproved, "opsmesh eval: the action scenario " + s.Name + " expects"
	case matchesAnyAction(e.FailsSafely, act.Tool, args):
		return opsv1.DecisionApproved, "opsmesh eval: the action scenario " + s.Name + " expects to be refused"
	}
	return opsv1.DecisionRejected, "opsmesh eval: scenario " + s.Name + " does not expect this action"
}
