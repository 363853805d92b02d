package incident

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/kubehost"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// policyActor is who approves what the policy Auto lets run.
const policyActor = "policy Auto"

func rawOf(args map[string]any) *runtime.RawExtension {
	b, err := json.Marshal(args)
	if err != nil {
		return nil
	}
	return &runtime.RawExtension{Raw: b}
}

func argsOf(a opsv1.RemediationAction) (map[string]any, error) {
	args := map[string]any{}
	if a.Arguments == nil || len(a.Arguments.Raw) == 0 {
		return args, nil
	}
	if err := json.Unmarshal(a.Arguments.Raw, &args); err != nil {
		return nil, fmt.Errorf("action %s: arguments are not a JSON object: %w", a.ID, err)
	}
	return args, nil
}

// describe is an action in one line for the timeline.
func describe(a opsv1.RemediationAction) string {
	args := "{}"
	if a.Arguments != nil && len(a.Arguments.Raw) > 0 {
		args = string(a.Arguments.Raw)
	}
	return fmt.Sprintf("%s %s [%s] — %s", a.Tool, args, a.Risk, a.Description)
}

// remediate decides the plan by the policy, applies people's decisions, runs the approved
// actions in order — an action waiting for approval holds back the ones after it — and starts
// verification when the plan is done.
func (r *Reconciler) remediate(ctx context.Context, inc *opsv1.Incident) (bool, ctrl.Result, error) {
	if inc.Status.Phase == opsv1.PhaseDiagnosed {
		return r.decide(ctx, inc)
	}
	for i := range inc.Status.Actions {
		a := &inc.Status.Actions[i]
		if a.State != opsv1.ActionAwaitingApproval {
			continue
		}
		d, ok := inc.ApprovalOf(a.ID)
		if !ok {
			continue
		}
		msg := fmt.Sprintf("action %s: %s by %s", a.ID, strings.ToLower(string(d.Decision)), d.By)
		if d.Reason != "" {
			msg += ": " + d.Reason
		}
		if d.Decision == opsv1.DecisionApproved {
			a.State = opsv1.ActionApproved
			note(inc, "", "ActionApproved", msg, d.By)
		} else {
			a.State = opsv1.ActionRejected
			a.Message = clip(msg, 2048)
			note(inc, "", "ActionRejected", msg, d.By)
		}
	}
	return r.advance(ctx, inc)
}

// advance runs the plan in order as far as the actions' states allow.
func (r *Reconciler) advance(ctx context.Context, inc *opsv1.Incident) (bool, ctrl.Result, error) {
	for i := range inc.Status.Actions {
		a := &inc.Status.Actions[i]
		switch a.State {
		case opsv1.ActionSucceeded, opsv1.ActionSkipped, opsv1.ActionRejected:
			continue
		case opsv1.ActionFailed:
			transition(inc, opsv1.PhaseEscalated, "Escalated", fmt.Sprintf("action %s (%s) failed: %s", a.ID, a.Tool, a.Message), r.actor())
			return false, ctrl.Result{}, nil
		case opsv1.ActionAwaitingApproval, opsv1.ActionProposed:
			if inc.Status.Phase != opsv1.PhaseAwaitingApproval {
				transition(inc, opsv1.PhaseAwaitingApproval, "AwaitingApproval", fmt.Sprintf("action %s waits for approval: %s; approve with: opsmesh approve %s %s -n %s", a.ID, describe(*a), inc.Name, a.ID, inc.Namespace), r.actor())
			}
			return false, ctrl.Result{}, nil
		case opsv1.ActionApproved:
			if inc.Status.Phase != opsv1.PhaseRemediating {
				transition(inc, opsv1.PhaseRemediating, "Remediating", "running action "+a.ID, r.actor())
			}
			a.State = opsv1.ActionRunning
			now := metav1.Now()
			a.StartedAt = &now
			note(inc, "", "ActionStarted", fmt.Sprintf("action %s: %s", a.ID, describe(*a)), agentOf(inc, *a))
			// The Running state is written before the tool is called.
			return false, ctrl.Result{Requeue: true}, nil
		case opsv1.ActionRunning:
			r.execute(ctx, inc, a)
			return true, ctrl.Result{}, nil
		}
	}
	ran := slices.ContainsFunc(inc.Status.Actions, func(a opsv1.RemediationAction) bool { return a.State == opsv1.ActionSucceeded })
	if !ran {
		transition(inc, opsv1.PhaseEscalated, "Escalated", "no action of the plan ran (rejected or skipped); the diagnosis is for a person to act on", r.actor())
		return false, ctrl.Result{}, nil
	}
	transition(inc, opsv1.PhaseVerifying, "Verifying", fmt.Sprintf("checking that %s is gone", inc.Status.RootCause.Category), r.actor())
	return true, ctrl.Result{}, nil
}

// decide applies the coordinator's remediation policy to each proposed action.
func (r *Reconciler) decide(ctx context.Context, inc *opsv1.Incident) (bool, ctrl.Result, error) {
	rc := inc.Status.RootCause
	if rc != nil && (rc.Category == diagnosis.NoProblemFound || rc.Category == diagnosis.Unknown && len(inc.Status.Actions) == 0) {
		return r.conclude(ctx, inc)
	}
	if len(inc.Status.Actions) == 0 {
		transition(inc, opsv1.PhaseEscalated, "Escalated", "the diagnosis proposes nothing the controller can run; a person acts on it", r.actor())
		return false, ctrl.Result{}, nil
	}
	pol, err := r.policy(ctx, inc)
	if err != nil {
		return false, ctrl.Result{}, err
	}
	maxActions := 5
	if pol.MaxActions != nil {
		maxActions = int(*pol.MaxActions)
	}
	for i := range inc.Status.Actions {
		a := &inc.Status.Actions[i]
		if a.State != opsv1.ActionProposed {
			continue
		}
		_, _, grantErr := r.grant(ctx, inc, *a)
		switch {
		case i >= maxActions:
			a.State, a.Message = opsv1.ActionSkipped, fmt.Sprintf("beyond the policy's maxActions (%d)", maxActions)
			note(inc, "", "ActionSkipped", fmt.Sprintf("action %s: %s", a.ID, a.Message), r.actor())
		case grantErr != nil && pol.Mode != opsv1.RemediationSuggest:
			// Nobody could run it: asking for an approval would only lead to a failure.
			a.State, a.Message = opsv1.ActionSkipped, "not executable here: "+grantErr.Error()+"; a person can carry it out"
			note(inc, "", "ActionSkipped", fmt.Sprintf("action %s: %s: %s", a.ID, a.Message, describe(*a)), r.actor())
		case pol.Mode == opsv1.RemediationSuggest:
			a.State, a.Message = opsv1.ActionSkipped, "policy Suggest: proposed, never executed"
			note(inc, "", "ActionSkipped", fmt.Sprintf("action %s: %s: %s", a.ID, a.Message, describe(*a)), r.actor())
		case pol.Mode == opsv1.RemediationAuto && r.grantNeedsApproval(ctx, inc, *a):
			a.State = opsv1.ActionAwaitingApproval
			note(inc, "", "ActionAwaitingApproval", fmt.Sprintf("action %s: the agent's grant requires approval for %s: %s", a.ID, a.Tool, describe(*a)), r.actor())
		case pol.Mode == opsv1.RemediationAuto && (a.Risk == opsv1.RiskSafe || slices.Contains(pol.AutoClasses, a.Tool)):
			a.State = opsv1.ActionApproved
			why := "risk safe"
			if a.Risk != opsv1.RiskSafe {
				why = "class " + a.Tool + " in autoClasses"
			}
			note(inc, "", "ActionApproved", fmt.Sprintf("action %s: approved by policy Auto (%s): %s", a.ID, why, describe(*a)), policyActor)
		default:
			a.State = opsv1.ActionAwaitingApproval
			note(inc, "", "ActionAwaitingApproval", fmt.Sprintf("action %s: %s", a.ID, describe(*a)), r.actor())
		}
	}
	if pol.Mode == opsv1.RemediationSuggest {
		transition(inc, opsv1.PhaseEscalated, "Escalated", "policy Suggest: the plan is for a person to carry out", r.actor())
		return false, ctrl.Result{}, nil
	}
	return r.advance(ctx, inc)
}

// policy is the remediation policy of inc's coordinator (ApprovalRequired when it has none).
func (r *Reconciler) policy(ctx context.Context, inc *opsv1.Incident) (opsv1.RemediationPolicy, error) {
	def := opsv1.RemediationPolicy{Mode: opsv1.RemediationApprovalRequired}
	a, err := r.agent(ctx, inc.Status.Coordinator)
	if err != nil {
		return def, nil
	}
	if a.Spec.Remediation == nil {
		return def, nil
	}
	return *a.Spec.Remediation, nil
}

// agent reads the Agent ns/name.
func (r *Reconciler) agent(ctx context.Context, ref string) (*opsv1.Agent, error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		return nil, fmt.Errorf("agent %q is not namespace/name", ref)
	}
	var a opsv1.Agent
	if err := r.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &a); err != nil {
		return nil, fmt.Errorf("reading Agent %s: %w", ref, err)
	}
	return &a, nil
}

// agentOf is the agent that runs a: the specialist the plan names, else the coordinator.
func agentOf(inc *opsv1.Incident, a opsv1.RemediationAction) string {
	if a.Agent != "" {
		if !strings.Contains(a.Agent, "/") {
			ns, _, _ := strings.Cut(inc.Status.Coordinator, "/")
			return ns + "/" + a.Agent
		}
		return a.Agent
	}
	return inc.Status.Coordinator
}

// grant is the grant of a's tool that runs it: the proposing specialist's, else that of the
// first of the coordinator and its delegates that is granted the tool (a specialist may propose
// a fix another one runs, as the scheduler specialist proposes an uncordon).
func (r *Reconciler) grant(ctx context.Context, inc *opsv1.Incident, a opsv1.RemediationAction) (*opsv1.Agent, *opsv1.AgentTools, error) {
	first := agentOf(inc, a)
	refs := []string{first, inc.Status.Coordinator}
	if co, err := r.agent(ctx, inc.Status.Coordinator); err == nil {
		ns, _, _ := strings.Cut(inc.Status.Coordinator, "/")
		for _, d := range co.Spec.Delegates {
			refs = append(refs, ns+"/"+d.Name)
		}
	}
	var tried []string
	for _, ref := range refs {
		if slices.Contains(tried, ref) {
			continue
		}
		tried = append(tried, ref)
		ag, err := r.agent(ctx, ref)
		if err != nil {
			continue
		}
		for i := range ag.Spec.Tools {
			t := &ag.Spec.Tools[i]
			if (a.ToolServer == "" || t.ToolServer == a.ToolServer || ref != first) && slices.Contains(t.AllowedTools, a.Tool) {
				return ag, t, nil
			}
		}
	}
	return nil, nil, fmt.Errorf("no Agent of %s is granted tool %s; add it to the allowedTools of the Agent that should run it", strings.Join(tried, ", "), a.Tool)
}

func (r *Reconciler) grantNeedsApproval(ctx context.Context, inc *opsv1.Incident, a opsv1.RemediationAction) bool {
	_, g, err := r.grant(ctx, inc, a)
	return err == nil && slices.Contains(g.RequireApproval, a.Tool)
}

// execute runs the action a (state Running, written) exactly once: the ledger entry is made
// before the tool is called, and an entry found from before means it is not called again.
func (r *Reconciler) execute(ctx context.Context, inc *opsv1.Incident, a *opsv1.RemediationAction) {
	actor := agentOf(inc, *a)
	finish := func(ok bool, msg string) {
		now := metav1.Now()
		a.CompletedAt, a.Message = &now, clip(msg, 2048)
		if ok {
			a.State = opsv1.ActionSucceeded
			note(inc, "", "ActionSucceeded", fmt.Sprintf("action %s: %s succeeded: %s", a.ID, a.Tool, firstLine(msg)), actor)
		} else {
			a.State = opsv1.ActionFailed
			note(inc, "", "ActionFailed", fmt.Sprintf("action %s: %s failed: %s", a.ID, a.Tool, firstLine(msg)), actor)
		}
	}
	prev, err := r.ledger.begin(ctx, a.IdempotencyKey)
	if err != nil {
		// Nothing was called; the action stays Running and is tried again.
		r.log.Error(err, "action ledger unavailable", "incident", inc.Namespace+"/"+inc.Name, "action", a.ID)
		return
	}
	if prev != nil {
		if prev.State == entryDone {
			finish(prev.OK, prev.Message+" (outcome recorded before a restart; not run again)")
			return
		}
		finish(false, fmt.Sprintf("the action was started at %s and the controller stopped before it recorded the outcome; it is not run again: check %s's effect by hand", prev.Time.Format(time.RFC3339), a.Tool))
		return
	}
	ok, msg := r.call(ctx, inc, *a)
	if err := r.ledger.finish(ctx, a.IdempotencyKey, ok, msg); err != nil {
		r.log.Error(err, "recording an action's outcome", "incident", inc.Namespace+"/"+inc.Name, "action", a.ID)
	}
	finish(ok, msg)
}

// call runs a's tool through the executing agent's grant.
func (r *Reconciler) call(ctx context.Context, inc *opsv1.Incident, a opsv1.RemediationAction) (bool, string) {
	ag, g, err := r.grant(ctx, inc, a)
	if err != nil {
		return false, err.Error()
	}
	var ts opsv1.ToolServer
	if err := r.c.Get(ctx, client.ObjectKey{Namespace: ag.Namespace, Name: g.ToolServer}, &ts); err != nil {
		return false, fmt.Sprintf("reading ToolServer %s/%s: %v", ag.Namespace, g.ToolServer, err)
	}
	ep, err := r.endpoint(ctx, &ts)
	if err != nil {
		return false, err.Error()
	}
	args, err := argsOf(a)
	if err != nil {
		return false, err.Error()
	}
	set := r.pool.Toolset([]mcppool.Grant{{Server: g.ToolServer, Endpoint: ep, Allowed: []string{a.Tool}}}).WithWrites()
	cctx, cancel := context.WithTimeout(ctx, r.cfg.ActionTimeout)
	defer cancel()
	res, err := set.Call(cctx, g.ToolServer, a.Tool, args)
	if err != nil {
		return false, err.Error()
	}
	return !res.IsError, res.Text
}

// endpoint adds ts to the pool (again when how to reach it changed) and returns its name there.
func (r *Reconciler) endpoint(ctx context.Context, ts *opsv1.ToolServer) (string, error) {
	var ep mcppool.Endpoint
	var err error
	if r.cfg.Endpoint != nil {
		ep, err = r.cfg.Endpoint(ctx, ts)
	} else {
		ep, err = kubehost.Endpoint(ctx, r.c, ts, r.cfg.Builtins, r.cfg.ServicePort)
	}
	if err != nil {
		return "", err
	}
	ep.Name = ts.Namespace + "/" + ts.Name
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%q|%p", ep.URL, ep.Token, ep.Command, ep.InProcess))
	h := hex.EncodeToString(sum[:8])
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.endpoints[ep.Name] != h {
		if err := r.pool.Add(ep); err != nil {
			return "", err
		}
		r.endpoints[ep.Name] = h
	}
	return ep.Name, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return clip(s, 300)
}
