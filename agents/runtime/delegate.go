package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/opsmesh/opsmesh/agents/ask"
	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	"github.com/opsmesh/opsmesh/agents/runbook"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/tracing"
)

// delegate is one specialist a coordinator may ask.
type delegate struct {
	ref  string
	area area
}

// delegates resolves the coordinator's delegates to their cards; one that is not running is a
// note, not a failure.
func (x *executor) delegates(ctx context.Context, notes *[]string) map[area][]delegate {
	out := map[area][]delegate{}
	for _, d := range x.h.agent.Spec.Delegates {
		ref := x.h.agent.Namespace + "/" + d.Name
		c, err := ask.New(x.rt.cfg.NATS).Card(ctx, ref)
		if err != nil {
			*notes = append(*notes, fmt.Sprintf("delegate %s could not be resolved: %v", ref, err))
			continue
		}
		a := areaOf(c)
		out[a] = append(out[a], delegate{ref: ref, area: a})
	}
	return out
}

// answer is one delegate's diagnosis, or why there is none.
type answer struct {
	from delegate
	d    *diagnosis.Diagnosis
	err  error
}

// ask sends req to a delegate and waits for its diagnosis.
func (x *executor) ask(ctx context.Context, to delegate, req Request) answer {
	return x.rt.ask(ctx, to, req)
}

func (r *Runtime) ask(ctx context.Context, to delegate, req Request) (ans answer) {
	ctx, span := tracing.Tracer().Start(ctx, "delegate "+to.ref, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("a2a.agent", to.ref)))
	defer func() {
		if ans.err != nil {
			span.SetStatus(codes.Error, ans.err.Error())
		}
		span.End()
	}()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.DelegateTimeout)
	defer cancel()
	d, _, err := ask.New(r.cfg.NATS).Diagnose(ctx, askRequest(to.ref, req))
	return answer{from: to, d: d, err: err}
}

// askRequest is req as a request to agent ref.
func askRequest(ref string, req Request) ask.Request {
	return ask.Request{Agent: ref, Subject: req.Subject, Namespace: req.Namespace, Question: req.Question}
}

// coordinate is the runbook coordinator's routing: the cluster specialist first (pods and
// workloads); then, in parallel, the GPU specialist for each node the subject's pods run on (or
// the subject node), and the scheduler specialist when something is pending or queued. Their
// answers are merged: a broken GPU explains what runs on it; a pending explanation is more precise
// than the cluster's; else the cluster's cause stands. The coordinator's own tools answer when it
// has no specialist for the area.
func (x *executor) coordinate(ctx context.Context, req Request) (*diagnosis.Diagnosis, error) {
	var notes []string
	ds := x.delegates(ctx, &notes)
	q := req.question()
	var kind, name string
	if req.Subject != "" {
		kind, _, name, _ = runbook.ParseSubject(req.Subject, req.Namespace) // ParseRequest checked it
	}

	var answers []answer
	// 1. Pods and workloads.
	var first answer
	switch {
	case kind == "workload":
		// A Kueue Workload: only the scheduler can say.
	case len(ds[areaCluster]) > 0:
		first = x.ask(ctx, ds[areaCluster][0], req)
	default:
		d, err := x.h.engine.Diagnose(ctx, q)
		first = answer{from: delegate{ref: x.h.ref, area: areaCluster}, d: d, err: err}
	}
	if first.from.ref != "" {
		answers = append(answers, first)
	}

	// 2. GPUs and queues, in parallel.
	var more []func() answer
	if g := ds[areaGPU]; len(g) > 0 {
		var nodes []string
		if kind == "node" {
			nodes = []string{name}
		} else if first.d != nil {
			nodes = first.d.Nodes
		}
		for _, n := range nodes {
			more = append(more, func() answer {
				return x.ask(ctx, g[0], Request{Subject: "node/" + n, Question: req.Question})
			})
		}
	}
	if s := ds[areaScheduler]; len(s) > 0 && x.needsScheduler(kind, req, first.d) {
		sreq := req
		if sub := unschedulablePod(first.d); sub != "" && (kind != "pod" && kind != "job" && kind != "workload") {
			sreq = Request{Subject: sub, Question: req.Question}
		}
		more = append(more, func() answer { return x.ask(ctx, s[0], sreq) })
	}
	results := make([]answer, len(more))
	var wg sync.WaitGroup
	for i, f := range more {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = f()
		}()
	}
	wg.Wait()
	answers = append(answers, results...)
	return x.merge(req, answers, notes)
}

// needsScheduler is true when the question is about something pending or queued.
func (x *executor) needsScheduler(kind string, req Request, first *diagnosis.Diagnosis) bool {
	if kind == "workload" {
		return true
	}
	if strings.Contains(strings.ToLower(req.Question), "pending") || strings.Contains(strings.ToLower(req.Question), "queue") {
		return true
	}
	return unschedulablePod(first) != "" || (first != nil && first.RootCause.Category == diagnosis.Unschedulable)
}

// unschedulablePod is the first pod an Unschedulable finding names, as pod/namespace/name.
func unschedulablePod(d *diagnosis.Diagnosis) string {
	if d == nil {
		return ""
	}
	for _, f := range d.Findings {
		if f.Category != diagnosis.Unschedulable {
			continue
		}
		for _, e := range f.Evidence {
			if strings.HasPrefix(e.Object, "pod/") {
				return e.Object
			}
		}
	}
	return ""
}

// rank orders causes for the merge: a broken GPU > scheduler > cluster > nothing found.
func rank(a answer) int {
	if a.d == nil {
		return -1
	}
	c := a.d.RootCause.Category
	switch {
	case c == diagnosis.NoProblemFound || c == diagnosis.Unknown:
		return 0
	case c == diagnosis.GPUFailed || c == diagnosis.GPUDegraded || strings.HasPrefix(c, "GPUXid"):
		return 3
	case a.from.area == areaScheduler:
		return 2
	}
	return 1
}

// merge makes one diagnosis of the delegates' answers.
func (x *executor) merge(req Request, answers []answer, notes []string) (*diagnosis.Diagnosis, error) {
	out := &diagnosis.Diagnosis{Engine: opsv1.ReasoningRunbook, Agents: []string{x.h.ref}, Notes: notes}
	out.Subject = req.Subject
	if out.Subject == "" && req.Namespace != "" {
		out.Subject = "namespace/" + req.Namespace
	}
	var best *answer
	var errs []error
	for i := range answers {
		a := &answers[i]
		if a.err != nil {
			out.Notes = append(out.Notes, fmt.Sprintf("%s did not answer: %v", a.from.ref, a.err))
			errs = append(errs, fmt.Errorf("%s: %w", a.from.ref, a.err))
			continue
		}
		for _, ag := range a.d.Agents {
			if !slices.Contains(out.Agents, ag) {
				out.Agents = append(out.Agents, ag)
			}
		}
		out.Findings = append(out.Findings, a.d.Findings...)
		for _, n := range a.d.Notes {
			out.Notes = append(out.Notes, a.from.ref+": "+n)
		}
		for _, n := range a.d.Nodes {
			if !slices.Contains(out.Nodes, n) {
				out.Nodes = append(out.Nodes, n)
			}
		}
		out.ToolCalls += a.d.ToolCalls
		out.Tokens += a.d.Tokens
		if best == nil || rank(*a) > rank(*best) {
			best = a
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no specialist answered: %w", errors.Join(errs...))
	}
	out.RootCause = best.d.RootCause
	for _, act := range best.d.Plan {
		if act.Agent == "" && best.from.ref != x.h.ref {
			act.Agent = best.from.ref
		}
		out.Plan = append(out.Plan, act)
	}
	if len(out.Findings) > 32 {
		out.Findings = out.Findings[:32]
	}
	if best.d.Engine != opsv1.ReasoningRunbook {
		out.Engine = best.d.Engine
	}
	return out, nil
}

// DelegatesServer is the server name under which a coordinator's model sees its delegates.
const DelegatesServer = "delegates"

// delegateTools offers a model coordinator its delegates as read-only tools beside its own: the
// tool named after a delegate sends it {subject, namespace, question} over A2A and answers with
// the delegate's diagnosis as text.
type delegateTools struct {
	rt    *Runtime
	agent *opsv1.Agent
	tools Tools
}

var delegateSchema = []byte(`{"type":"object","additionalProperties":false,"properties":{` +
	`"subject":{"type":"string","description":"kind/namespace/name (node/name for a node) of the object to investigate"},` +
	`"namespace":{"type":"string","description":"namespace to investigate when there is no subject"},` +
	`"question":{"type":"string","description":"what to find out, in words"}}}`)

func (d *delegateTools) List(ctx context.Context) ([]mcppool.Tool, error) {
	own, err := d.tools.List(ctx)
	for _, del := range d.agent.Spec.Delegates {
		own = append(own, mcppool.Tool{Server: DelegatesServer, Name: del.Name, ReadOnly: true, InputSchema: delegateSchema,
			Description: fmt.Sprintf("Ask the specialist agent %s/%s (over A2A) to investigate, and get its diagnosis: root cause, evidence, plan.", d.agent.Namespace, del.Name)})
	}
	return own, err
}

func (d *delegateTools) Call(ctx context.Context, server, tool string, args map[string]any) (mcppool.Result, error) {
	if server != DelegatesServer {
		return d.tools.Call(ctx, server, tool, args)
	}
	if !slices.ContainsFunc(d.agent.Spec.Delegates, func(r opsv1.LocalObjectReference) bool { return r.Name == tool }) {
		return mcppool.Result{}, fmt.Errorf("%s is not a delegate of agent %s/%s", tool, d.agent.Namespace, d.agent.Name)
	}
	m := a2a.NewMessage(a2a.MessageRoleUser, a2a.NewDataPart(args))
	req, err := ParseRequest(m)
	if err != nil {
		return mcppool.Result{Text: err.Error(), IsError: true}, nil
	}
	a := d.rt.ask(ctx, delegate{ref: d.agent.Namespace + "/" + tool}, req)
	if a.err != nil {
		return mcppool.Result{Text: fmt.Sprintf("delegate %s did not answer: %v", a.from.ref, a.err), IsError: true}, nil
	}
	return mcppool.Result{Text: "diagnosis of " + a.from.ref + ":\n" + a.d.Text()}, nil
}
