package incident

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/codes"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/opsmesh/opsmesh/agents/ask"
	"github.com/opsmesh/opsmesh/agents/diagnosis"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// run is an investigation or a verification working in the background.
type run struct {
	uid     types.UID
	purpose string
	cancel  context.CancelFunc
	done    bool
	d       *diagnosis.Diagnosis
	task    string
	err     error
}

const (
	purposeInvestigate = "investigate"
	purposeVerify      = "verify"
)

// assign chooses the coordinator and starts the investigation.
func (r *Reconciler) assign(ctx context.Context, inc *opsv1.Incident) (bool, ctrl.Result, error) {
	ref, err := r.coordinator(ctx, inc)
	if err != nil {
		setReady(inc, false, "NoCoordinator", err.Error())
		return false, ctrl.Result{RequeueAfter: 15 * time.Second}, nil
	}
	inc.Status.Coordinator = ref
	setReady(inc, true, "Assigned", "coordinator "+ref+" handles the incident")
	transition(inc, opsv1.PhaseInvestigating, "Assigned", "coordinator "+ref+" investigates", r.actor())
	return true, ctrl.Result{}, nil
}

// coordinator is the Agent (namespace/name) that handles inc: spec.coordinator, else the
// coordinator of inc's namespace whose incidentSelector matches inc's labels most specifically,
// else one of the CoordinatorNamespace.
func (r *Reconciler) coordinator(ctx context.Context, inc *opsv1.Incident) (string, error) {
	if name := inc.Spec.Coordinator; name != "" {
		for _, ns := range r.namespaces(inc) {
			var a opsv1.Agent
			if err := r.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &a); err == nil {
				return ns + "/" + name, nil
			}
		}
		return "", fmt.Errorf("spec.coordinator names Agent %q, which exists in none of the namespaces %s; create it or fix the name", name, strings.Join(r.namespaces(inc), ", "))
	}
	for _, ns := range r.namespaces(inc) {
		var list opsv1.AgentList
		if err := r.c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return "", fmt.Errorf("listing Agents in %s: %w", ns, err)
		}
		type cand struct {
			name        string
			specificity int
		}
		var cands []cand
		for _, a := range list.Items {
			if a.Spec.Role != opsv1.RoleCoordinator {
				continue
			}
			sel := a.Spec.IncidentSelector
			if sel == nil {
				sel = &metav1.LabelSelector{}
			}
			s, err := metav1.LabelSelectorAsSelector(sel)
			if err != nil || !s.Matches(labels.Set(inc.Labels)) {
				continue
			}
			cands = append(cands, cand{a.Name, len(sel.MatchLabels) + len(sel.MatchExpressions)})
		}
		sort.Slice(cands, func(i, j int) bool {
			if cands[i].specificity != cands[j].specificity {
				return cands[i].specificity > cands[j].specificity
			}
			return cands[i].name < cands[j].name
		})
		if len(cands) > 0 {
			return ns + "/" + cands[0].name, nil
		}
	}
	return "", fmt.Errorf("no coordinator Agent in %s selects this Incident (labels %v); create one (deploy/samples/agent-coordinator.yaml) or set spec.coordinator", strings.Join(r.namespaces(inc), " or "), inc.Labels)
}

func (r *Reconciler) namespaces(inc *opsv1.Incident) []string {
	ns := []string{inc.Namespace}
	if r.cfg.CoordinatorNamespace != "" && r.cfg.CoordinatorNamespace != inc.Namespace {
		ns = append(ns, r.cfg.CoordinatorNamespace)
	}
	return ns
}

// investigate waits for the coordinator's diagnosis (asked in the background) and writes it.
func (r *Reconciler) investigate(ctx context.Context, inc *opsv1.Incident) (bool, ctrl.Result, error) {
	rn := r.background(inc, purposeInvestigate)
	if rn == nil {
		return false, ctrl.Result{RequeueAfter: r.cfg.InvestigateTimeout + 30*time.Second}, nil
	}
	if rn.err != nil {
		tries := since(inc, opsv1.PhaseInvestigating, "InvestigationRetry") + 1
		if tries >= r.cfg.InvestigateAttempts {
			transition(inc, opsv1.PhaseEscalated, "Escalated", fmt.Sprintf("coordinator %s gave no diagnosis after %d attempts: %v", inc.Status.Coordinator, tries, rn.err), r.actor())
			return false, ctrl.Result{}, nil
		}
		wait := time.Duration(1<<tries) * time.Second
		note(inc, "", "InvestigationRetry", fmt.Sprintf("attempt %d of %d failed: %v; retrying in %s", tries, r.cfg.InvestigateAttempts, rn.err, wait), r.actor())
		return false, ctrl.Result{RequeueAfter: wait}, nil
	}
	d := rn.d
	inc.Status.TaskID = rn.task
	inc.Status.Findings = d.Findings
	if len(inc.Status.Findings) > 64 {
		inc.Status.Findings = inc.Status.Findings[:64]
	}
	rc := d.RootCause
	inc.Status.RootCause = &rc
	inc.Status.Actions = nil
	for i, a := range d.Plan {
		if i == 20 {
			break
		}
		inc.Status.Actions = append(inc.Status.Actions, actionOf(inc, i, a))
	}
	usage := fmt.Sprintf("%d tool calls", d.ToolCalls)
	if d.Tokens > 0 {
		usage += fmt.Sprintf("; %d tokens", d.Tokens)
	}
	msg := fmt.Sprintf("%s: %s (confidence %s; agents %s; %s)", rc.Category, rc.Summary, rc.Confidence, strings.Join(d.Agents, ", "), usage)
	if len(d.Notes) > 0 {
		msg += "; notes: " + strings.Join(d.Notes, "; ")
	}
	transition(inc, opsv1.PhaseDiagnosed, "Diagnosed", msg, inc.Status.Coordinator)
	return true, ctrl.Result{}, nil
}

// background returns the finished run of purpose for inc, or nil after starting one (or while
// one works). A finished run is taken: the next call starts a new one.
func (r *Reconciler) background(inc *opsv1.Incident, purpose string) *run {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := types.NamespacedName{Namespace: inc.Namespace, Name: inc.Name}
	if rn, ok := r.runs[key]; ok && rn.purpose == purpose && rn.uid == inc.UID {
		if !rn.done {
			return nil
		}
		delete(r.runs, key)
		return rn
	} else if ok {
		rn.cancel()
	}
	timeout := r.cfg.InvestigateTimeout
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	ctx, span := stepSpan(ctx, inc, purpose)
	rn := &run{uid: inc.UID, purpose: purpose, cancel: cancel}
	r.runs[key] = rn
	req := requestOf(inc)
	go func() {
		defer cancel()
		d, task, err := r.ask(ctx, req)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		r.mu.Lock()
		rn.done, rn.d, rn.task, rn.err = true, d, task, err
		r.mu.Unlock()
		obj := &opsv1.Incident{}
		obj.Namespace, obj.Name = key.Namespace, key.Name
		r.wake <- event.GenericEvent{Object: obj}
	}()
	return nil
}

// forget stops the background work of an Incident that is gone.
func (r *Reconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rn, ok := r.runs[key]; ok {
		rn.cancel()
		delete(r.runs, key)
	}
}

// ask sends req to its coordinator over A2A and returns its diagnosis and task id.
func (r *Reconciler) ask(ctx context.Context, req ask.Request) (*diagnosis.Diagnosis, string, error) {
	d, reply, err := ask.New(r.cfg.NATS).Diagnose(ctx, req)
	return d, reply.TaskID, err
}

// subjectKinds are the kinds of Incident targets the agents examine as a subject (docs/agents.md);
// a target of another kind becomes a question about its namespace. The subject names the kind in
// lower case, and the runtime resolves it from discovery.
var subjectKinds = []string{"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Service",
	"PersistentVolumeClaim", "Node", "HorizontalPodAutoscaler", "ResourceQuota", "Workload"}

// requestOf is what inc's coordinator is asked about it.
func requestOf(inc *opsv1.Incident) ask.Request {
	q := inc.Spec.Question
	if q == "" {
		q = inc.Spec.Summary
	}
	req := ask.Request{Agent: inc.Status.Coordinator, Question: clip(q, 4000)}
	t := inc.Spec.Target
	if t == nil {
		req.Namespace = inc.Spec.Source.Labels["namespace"]
		return req
	}
	kind := strings.ToLower(t.Kind)
	switch {
	case !slices.Contains(subjectKinds, t.Kind):
		req.Question = clip(fmt.Sprintf("%s (about %s %s/%s)", q, t.Kind, t.Namespace, t.Name), 4000)
		req.Namespace = t.Namespace
	case kind == "node":
		req.Subject = "node/" + t.Name
	default:
		req.Subject = kind + "/" + t.Namespace + "/" + t.Name
	}
	return req
}

// actionOf is plan step i as an action of inc's status.
func actionOf(inc *opsv1.Incident, i int, a diagnosis.Action) opsv1.RemediationAction {
	id := fmt.Sprintf("a%d", i+1)
	desc := a.Reason
	if desc == "" {
		desc = a.Tool
	}
	out := opsv1.RemediationAction{ID: id, Description: clip(desc, 1024), Agent: a.Agent, ToolServer: a.ToolServer, Tool: a.Tool,
		Risk: a.Risk, IdempotencyKey: string(inc.UID) + "." + id, State: opsv1.ActionProposed}
	if len(a.Arguments) > 0 {
		out.Arguments = rawOf(a.Arguments)
	}
	return out
}
