// Package runbook is opsmesh's built-in reasoning engine: a deterministic investigator that needs
// no LLM. Given an object or a namespace it runs the analyzers and tools an agent is granted,
// follows the evidence (pod → owner → events → logs → node → GPU → queue), and names one root
// cause from the taxonomy with the evidence it rests on and a remediation plan built from the
// tools' own suggested fixes. It only reads: every tool it calls is read-only, and the plan is a
// proposal. It must not talk to a model, and must not decide what runs: the controller does.
package runbook

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/knowledge"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// Tools are the tools an agent may call (an mcppool.Toolset).
type Tools interface {
	List(ctx context.Context) ([]mcppool.Tool, error)
	Call(ctx context.Context, server, tool string, args map[string]any) (mcppool.Result, error)
}

// Question is what to investigate.
type Question struct {
	// Subject is the object: kind/namespace/name, or kind/name for a node; empty investigates
	// Namespace as a whole.
	Subject string
	// Namespace to investigate when Subject is empty (and the default namespace of a Subject
	// given as kind/name of a namespaced kind).
	Namespace string
	// Text is the question or the incident's summary, in words (kept in the diagnosis's notes).
	Text string
}

// Engine investigates with one agent's tools.
type Engine struct {
	tools Tools
	agent string
	kinds Kinds
	book  *knowledge.Set
}

// New returns an engine for the agent named agent (namespace/name), calling tools; kinds
// resolves the kinds of subjects (nil: kinds are taken as written). It knows the built-in
// runbooks (package knowledge); WithRunbooks gives it others.
func New(agent string, tools Tools, kinds Kinds) *Engine {
	return &Engine{tools: tools, agent: agent, kinds: kinds, book: knowledge.Builtin()}
}

// WithRunbooks has the engine use book (the built-in runbooks and a user's, from
// knowledge.Load) instead of the built-in ones alone.
func (e *Engine) WithRunbooks(book *knowledge.Set) *Engine {
	if book != nil {
		e.book = book
	}
	return e
}

// Diagnose investigates q and returns the diagnosis. Tool failures do not fail it: they become
// notes, and the cause is named from what could be read. It fails only when q cannot be read or
// the agent has no tools at all.
func (e *Engine) Diagnose(ctx context.Context, q Question) (*diagnosis.Diagnosis, error) {
	inv := &investigation{e: e, ctx: ctx, where: map[string]string{}, writes: map[string]mcppool.Tool{}, schemas: map[string]json.RawMessage{}, answers: map[string]answer{},
		d: &diagnosis.Diagnosis{Engine: opsv1.ReasoningRunbook, Agents: []string{e.agent}}}
	var sub *subject
	if q.Subject != "" {
		canonical, err := Canonical(ctx, e.kinds, q.Subject, q.Namespace)
		if err != nil {
			return nil, err
		}
		parts := strings.Split(canonical, "/") // kind/name (cluster-scoped) or kind/namespace/name
		k, ns, n := parts[0], "", parts[len(parts)-1]
		if len(parts) == 3 {
			ns = parts[1]
		}
		sub = &subject{k, ns, n}
		inv.d.Subject = sub.String()
	} else if q.Namespace != "" {
		inv.d.Subject = "namespace/" + q.Namespace
	} else {
		inv.d.Subject = "the cluster"
	}
	tools, err := e.tools.List(ctx)
	if err != nil {
		inv.note("some tools could not be listed: %v", err)
	}
	for _, t := range tools {
		if len(t.InputSchema) > 0 {
			inv.schemas[t.Name] = t.InputSchema
		}
		if t.ReadOnly {
			if _, dup := inv.where[t.Name]; !dup {
				inv.where[t.Name] = t.Server
			}
		} else if _, dup := inv.writes[t.Name]; !dup {
			inv.writes[t.Name] = t
		}
	}
	if len(inv.where) == 0 {
		return nil, fmt.Errorf("agent %s has no read-only tools to investigate with: grant it analyze (cluster), gpu_node_health (gpu) or explain_pending (scheduler)", e.agent)
	}
	if q.Text != "" {
		inv.d.Notes = append(inv.d.Notes, "asked: "+firstLine(q.Text))
	}
	inv.run(sub, q.Namespace)
	return inv.d, nil
}

// run follows the evidence from the subject and names the cause.
func (inv *investigation) run(sub *subject, ns string) {
	// 1. The cluster's analyzers, focused on the subject.
	var an contract.Analysis
	haveAnalyze := false
	if sub != nil && sub.kind == "workload" {
		// a Kueue Workload: the scheduler server explains it
	} else {
		args := map[string]any{}
		switch {
		case sub != nil:
			args["kind"], args["name"] = sub.kind, sub.name
			if sub.namespace != "" {
				args["namespace"] = sub.namespace
			}
		case ns != "":
			args["namespace"] = ns
		}
		haveAnalyze = inv.callData("analyze", args, &an)
	}
	inv.findings = an.Findings
	for _, f := range an.Findings {
		inv.d.Findings = append(inv.d.Findings, inv.reported(f))
	}

	// 2. GPUs: the nodes of the pods involved (or the subject node) against the GPU view; when
	// no finding names a pod, the nodes where the subject's pods hold GPUs (a Job whose pods
	// look fine while a GPU under them has failed).
	nodes := inv.nodesInvolved(sub, an)
	if len(nodes) == 0 && sub != nil && sub.kind != "node" {
		for _, g := range an.GPUPods {
			if !slices.Contains(nodes, g.Node) {
				nodes = append(nodes, g.Node)
			}
		}
		slices.Sort(nodes)
		inv.gpuPods = an.GPUPods
	}
	inv.d.Nodes = nodes
	gpuCause := inv.gpus(nodes)

	// 3. Pending pods: the scheduler's explanation.
	pendingCause := inv.pending(sub, an)

	// 4. Name the cause: a failed GPU under the workload explains its crashes; a pending
	// explanation is more precise than the analyzer's Unschedulable; else the first critical
	// finding; with nothing broken, GPUs held but idle are the waste to report, or a failure
	// the subject's running pods log.
	switch {
	case gpuCause:
	case pendingCause:
	case len(an.Findings) > 0:
		inv.fromFinding(an.Findings, sub)
	case inv.idle(sub, nodes, ns):
	case haveAnalyze && inv.loggedFailure(sub):
	case haveAnalyze:
		inv.d.RootCause = opsv1.RootCause{Category: diagnosis.NoProblemFound, Confidence: opsv1.ConfidenceMedium,
			Summary: fmt.Sprintf("no problem found in %s (checked %s)", an.Where, an.Checked)}
	default:
		inv.d.RootCause = opsv1.RootCause{Category: diagnosis.Unknown, Confidence: opsv1.ConfidenceLow,
			Summary: "the evidence names no cause: the tools this agent may call could not read " + inv.d.Subject}
	}
}
