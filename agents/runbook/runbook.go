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
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
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
}

// New returns an engine for the agent named agent (namespace/name), calling tools.
func New(agent string, tools Tools) *Engine { return &Engine{tools: tools, agent: agent} }

// subject is a parsed Question.Subject.
type subject struct{ kind, namespace, name string }

func (s subject) String() string {
	if s.namespace == "" {
		return s.kind + "/" + s.name
	}
	return s.kind + "/" + s.namespace + "/" + s.name
}

// kinds the engine knows by their short and plural names.
var kindNames = map[string]string{
	"pod": "pod", "pods": "pod", "po": "pod",
	"deployment": "deployment", "deployments": "deployment", "deploy": "deployment",
	"statefulset": "statefulset", "statefulsets": "statefulset", "sts": "statefulset",
	"daemonset": "daemonset", "daemonsets": "daemonset", "ds": "daemonset",
	"replicaset": "replicaset", "replicasets": "replicaset", "rs": "replicaset",
	"job": "job", "jobs": "job",
	"service": "service", "services": "service", "svc": "service",
	"persistentvolumeclaim": "persistentvolumeclaim", "pvc": "persistentvolumeclaim", "persistentvolumeclaims": "persistentvolumeclaim",
	"node": "node", "nodes": "node", "no": "node",
	"horizontalpodautoscaler": "horizontalpodautoscaler", "hpa": "horizontalpodautoscaler",
	"resourcequota": "resourcequota", "quota": "resourcequota",
	"workload": "workload", "workloads": "workload",
}

// ParseSubject reads kind/namespace/name (or kind/name for a node, or kind/name in defaultNS).
func ParseSubject(s, defaultNS string) (kind, namespace, name string, err error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	k, ok := kindNames[strings.ToLower(parts[0])]
	if !ok {
		return "", "", "", fmt.Errorf("subject %q: unknown kind %q; use pod, deployment, statefulset, daemonset, job, service, pvc, node, hpa, resourcequota or workload (kueue)", s, parts[0])
	}
	switch {
	case len(parts) == 2 && k == "node":
		return k, "", parts[1], nil
	case len(parts) == 2 && defaultNS != "":
		return k, defaultNS, parts[1], nil
	case len(parts) == 3 && k != "node":
		return k, parts[1], parts[2], nil
	}
	return "", "", "", fmt.Errorf("subject %q: write kind/namespace/name (or node/name)", s)
}

// investigation is the state of one Diagnose call.
type investigation struct {
	e        *Engine
	ctx      context.Context
	where    map[string]string       // read-only tool name -> server that serves it
	writes   map[string]mcppool.Tool // write tool name -> the tool, for the plan
	d        *diagnosis.Diagnosis
	findings []cluster.FindingJSON // the analyzers' findings, as analyze gave them
	gpuPods  []cluster.GPUPodJSON  // the subject's pods that hold GPUs, when they are what led to the GPUs
}

// Diagnose investigates q and returns the diagnosis. Tool failures do not fail it: they become
// notes, and the cause is named from what could be read. It fails only when q cannot be read or
// the agent has no tools at all.
func (e *Engine) Diagnose(ctx context.Context, q Question) (*diagnosis.Diagnosis, error) {
	inv := &investigation{e: e, ctx: ctx, where: map[string]string{}, writes: map[string]mcppool.Tool{},
		d: &diagnosis.Diagnosis{Engine: opsv1.ReasoningRunbook, Agents: []string{e.agent}}}
	var sub *subject
	if q.Subject != "" {
		k, ns, n, err := ParseSubject(q.Subject, q.Namespace)
		if err != nil {
			return nil, err
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

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func (inv *investigation) note(format string, a ...any) {
	inv.d.Notes = append(inv.d.Notes, fmt.Sprintf(format, a...))
}

// call runs a tool when the agent has it; ok is false (with a note) when it has not or the call
// failed.
func (inv *investigation) call(tool string, args map[string]any) (string, bool) {
	server, ok := inv.where[tool]
	if !ok {
		return "", false
	}
	inv.d.ToolCalls++
	res, err := inv.e.tools.Call(inv.ctx, server, tool, args)
	if err != nil {
		inv.note("%s failed: %v", tool, err)
		return "", false
	}
	if res.IsError {
		inv.note("%s answered an error: %s", tool, firstLine(res.Text))
		return "", false
	}
	return res.Text, true
}

// callJSON runs a tool with output: json and decodes its answer (after any header lines).
func (inv *investigation) callJSON(tool string, args map[string]any, v any) bool {
	if args == nil {
		args = map[string]any{}
	}
	args["output"] = "json"
	text, ok := inv.call(tool, args)
	if !ok {
		return false
	}
	i := strings.IndexByte(text, '{')
	if i < 0 || json.Unmarshal([]byte(text[i:]), v) != nil {
		inv.note("%s did not answer JSON this engine can read", tool)
		return false
	}
	return true
}

// evidence is one line of evidence about object.
func evidence(object, detail string) opsv1.Evidence {
	if len(detail) > 2000 {
		detail = detail[:2000] + "..."
	}
	return opsv1.Evidence{Object: object, Detail: detail}
}

// run follows the evidence from the subject and names the cause.
func (inv *investigation) run(sub *subject, ns string) {
	// 1. The cluster's analyzers, focused on the subject.
	var an cluster.AnalyzeJSON
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
		haveAnalyze = inv.callJSON("analyze", args, &an)
	}
	inv.findings = an.Findings
	for _, f := range an.Findings {
		inv.d.Findings = append(inv.d.Findings, opsv1.Finding{Agent: inv.e.agent, Category: f.Category, Summary: f.Object + ": " + firstEvidence(f), Severity: severityOf(f.Severity), Evidence: evidenceOf(f)})
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
	// finding; with nothing broken, GPUs held but idle are the waste to report.
	switch {
	case gpuCause:
	case pendingCause:
	case len(an.Findings) > 0:
		inv.fromFinding(an.Findings, sub)
	case inv.idle(sub, nodes, ns):
	case haveAnalyze:
		inv.d.RootCause = opsv1.RootCause{Category: diagnosis.NoProblemFound, Confidence: opsv1.ConfidenceMedium,
			Summary: fmt.Sprintf("no problem found in %s (checked %s)", an.Where, an.Checked)}
	default:
		inv.d.RootCause = opsv1.RootCause{Category: diagnosis.Unknown, Confidence: opsv1.ConfidenceLow,
			Summary: "the evidence names no cause: the tools this agent may call could not read " + inv.d.Subject}
	}
}

func firstEvidence(f cluster.FindingJSON) string {
	if len(f.Evidence) == 0 {
		return f.Category
	}
	return f.Evidence[0]
}

func severityOf(s string) opsv1.Severity {
	if s == "critical" {
		return opsv1.SeverityCritical
	}
	return opsv1.SeverityWarning
}

func evidenceOf(f cluster.FindingJSON) []opsv1.Evidence {
	var out []opsv1.Evidence
	for _, e := range f.Evidence {
		if len(out) == 8 {
			break
		}
		out = append(out, evidence(f.Object, e))
	}
	return out
}

// fromFinding names the cause after the most severe finding, preferring one on the subject, and
// plans its fix. For a crash it reads the crashed container's last log lines as evidence.
func (inv *investigation) fromFinding(found []cluster.FindingJSON, sub *subject) {
	f := found[0] // critical first, in the analyzers' order
	rc := opsv1.RootCause{Category: f.Category, Evidence: evidenceOf(f), Confidence: opsv1.ConfidenceHigh}
	if !diagnosis.ValidCategory(rc.Category) {
		rc.Category = diagnosis.Unknown
	}
	distinct := map[string]bool{}
	for _, g := range found {
		distinct[g.Category] = true
	}
	if len(distinct) > 1 {
		rc.Confidence = opsv1.ConfidenceMedium
	}
	owner := f.Object
	if f.Owner != "" {
		owner = f.Owner
	}
	rc.Summary = fmt.Sprintf("%s: %s", owner, summaryOf(f))
	if f.Category == diagnosis.CrashLoopBackOff && strings.HasPrefix(f.Object, "pod/") {
		if lines := inv.crashLog(f); len(lines) > 0 {
			for _, l := range lines {
				rc.Evidence = append(rc.Evidence, evidence(f.Object, "previous log: "+l))
			}
			rc.Summary += "; its last log says: " + lines[len(lines)-1]
		}
	}
	if len(rc.Evidence) > 16 {
		rc.Evidence = rc.Evidence[:16]
	}
	inv.d.RootCause = rc
	if p := placeholder(f.Fix.Arguments); f.Fix.Tool != "" && p != "" {
		// A value only a person knows (an image the registry has): proposed as words, not as a
		// call that would write the placeholder itself.
		inv.note("no automatic fix: %s needs %s for %s%s", f.Fix.Tool, p, owner, suggestionNote(f.Fix.Note))
	} else if f.Fix.Tool != "" {
		inv.plan(f.Fix.Tool, f.Fix.Arguments, "fixes "+f.Category+" on "+owner+suggestionNote(f.Fix.Note))
	} else if f.Fix.Note != "" {
		inv.note("no automatic fix: %s", f.Fix.Note)
	}
}

// placeholder is the first argument value written as <what to put here>, as the analyzers write
// values they cannot know; "" when there is none.
func placeholder(args map[string]any) string {
	for _, v := range args {
		if s, ok := v.(string); ok && len(s) > 2 && strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
			return s
		}
	}
	return ""
}

func suggestionNote(note string) string {
	if note == "" {
		return ""
	}
	return " (" + note + ")"
}

// findingWords say each analyzer category in words.
var findingWords = map[string]string{
	diagnosis.CrashLoopBackOff:           "its containers crash and restart in a loop",
	diagnosis.ImagePullBackOff:           "its image cannot be pulled",
	diagnosis.OOMKilled:                  "its container is killed for running out of its memory limit",
	diagnosis.CreateContainerConfigError: "its container cannot start: a ConfigMap, Secret or key it references is missing",
	diagnosis.ProbeFailing:               "its probes fail",
	diagnosis.RolloutStuck:               "its rollout is stuck",
	diagnosis.ReplicasUnavailable:        "replicas are unavailable",
	diagnosis.ServiceNoEndpoints:         "the Service has no ready endpoints",
	diagnosis.JobFailed:                  "the Job failed",
	diagnosis.HPAUnableToScale:           "the HorizontalPodAutoscaler cannot scale",
	diagnosis.QuotaExceeded:              "a ResourceQuota refuses its pods",
	diagnosis.QuotaFull:                  "a ResourceQuota is full",
	diagnosis.PVCPending:                 "its PersistentVolumeClaim is not bound",
	diagnosis.NodeNotReady:               "the node is not Ready",
	diagnosis.NodePressure:               "the node is under resource pressure",
	diagnosis.Unschedulable:              "its pods cannot be scheduled",
}

// summaryOf says a finding in words.
func summaryOf(f cluster.FindingJSON) string {
	w, ok := findingWords[f.Category]
	if !ok {
		w = f.Category
	}
	if len(f.Evidence) > 0 {
		w += " (" + f.Evidence[0] + ")"
	}
	return w
}

// crashLog reads the crashed container's previous log and keeps its last error-looking lines.
func (inv *investigation) crashLog(f cluster.FindingJSON) []string {
	parts := strings.SplitN(strings.TrimPrefix(f.Object, "pod/"), "/", 2)
	if len(parts) != 2 {
		return nil
	}
	args := map[string]any{"namespace": parts[0], "name": parts[1], "previous": true, "tailLines": 50}
	if f.Container != "" {
		args["container"] = f.Container
	}
	text, ok := inv.call("pod_logs", args)
	if !ok {
		return nil
	}
	var all, errs []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "… truncated") {
			continue
		}
		all = append(all, l)
		low := strings.ToLower(l)
		if strings.Contains(low, "error") || strings.Contains(low, "fatal") || strings.Contains(low, "panic") || strings.Contains(low, "exception") || strings.Contains(low, "invalid") || strings.Contains(low, "not found") || strings.Contains(low, "no such") {
			errs = append(errs, l)
		}
	}
	if len(errs) == 0 && len(all) > 0 {
		errs = all[len(all)-1:]
	}
	if len(errs) > 3 {
		errs = errs[len(errs)-3:]
	}
	for i, l := range errs {
		if len(l) > 300 {
			errs[i] = l[:300] + "..."
		}
	}
	return errs
}

// plan adds an action, with its risk from the tool, on the server that serves the tool when the
// agent was granted it (a tool it was not granted is still proposed, as destructive when opsmesh
// does not know it).
func (inv *investigation) plan(tool string, args map[string]any, reason string) {
	a := diagnosis.Action{Tool: tool, Arguments: args, Risk: diagnosis.RiskOf(tool, true), Reason: reason}
	if t, ok := inv.writes[tool]; ok {
		a.ToolServer, a.Risk = t.Server, diagnosis.RiskOf(tool, t.Destructive)
	}
	if a.Arguments == nil {
		a.Arguments = map[string]any{}
	}
	delete(a.Arguments, "dryRun")
	inv.d.Plan = append(inv.d.Plan, a)
}

// nodesInvolved are the nodes of the subject (a node) or of the pods the findings name.
func (inv *investigation) nodesInvolved(sub *subject, an cluster.AnalyzeJSON) []string {
	if sub != nil && sub.kind == "node" {
		return []string{sub.name}
	}
	pods := map[string]bool{}
	var namespaces []string
	for _, f := range an.Findings {
		if !strings.HasPrefix(f.Object, "pod/") {
			continue
		}
		parts := strings.SplitN(strings.TrimPrefix(f.Object, "pod/"), "/", 2)
		if len(parts) != 2 {
			continue
		}
		pods[parts[0]+"/"+parts[1]] = true
		for _, m := range f.More {
			pods[parts[0]+"/"+m] = true
		}
		if !slices.Contains(namespaces, parts[0]) {
			namespaces = append(namespaces, parts[0])
		}
	}
	if sub != nil && sub.kind == "pod" {
		pods[sub.namespace+"/"+sub.name] = true
		if !slices.Contains(namespaces, sub.namespace) {
			namespaces = append(namespaces, sub.namespace)
		}
	}
	var nodes []string
	for _, ns := range namespaces {
		text, ok := inv.call("resources_list", map[string]any{"kind": "pods", "namespace": ns, "limit": 500})
		if !ok {
			continue
		}
		for name, node := range podNodes(text) {
			if pods[ns+"/"+name] && node != "" && !slices.Contains(nodes, node) {
				nodes = append(nodes, node)
			}
		}
	}
	slices.Sort(nodes)
	return nodes
}

// podNodes reads resources_list's pod table: NAME ... NODE.
func podNodes(table string) map[string]string {
	out := map[string]string{}
	col := -1
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if f[0] == "NAME" {
			col = slices.Index(f, "NODE")
			continue
		}
		if col > 0 && len(f) > col && f[col] != "<none>" {
			out[f[0]] = f[col]
		}
	}
	return out
}

// gpus asks the GPU view about nodes and names a GPU cause when one is failed or degraded.
func (inv *investigation) gpus(nodes []string) bool {
	if _, ok := inv.where["gpu_node_health"]; !ok || len(nodes) == 0 {
		return false
	}
	var bad []gpuview.NodeVerdictJSON
	for _, n := range nodes {
		var h gpuview.NodeHealthJSON
		if !inv.callJSON("gpu_node_health", map[string]any{"node": n}, &h) {
			continue
		}
		for _, nv := range h.Nodes {
			if (nv.Verdict != "healthy" && !onlyCordoned(nv)) || slices.ContainsFunc(nv.GPUs, notableGPU) {
				bad = append(bad, nv)
			}
		}
	}
	if len(bad) == 0 {
		return false
	}
	// The worst node: failed before degraded.
	slices.SortStableFunc(bad, func(a, b gpuview.NodeVerdictJSON) int {
		return verdictRank(b.Verdict) - verdictRank(a.Verdict)
	})
	nv := bad[0]
	rc := opsv1.RootCause{Confidence: opsv1.ConfidenceHigh}
	var worst *gpuview.GPUVerdictJSON
	for i := range nv.GPUs {
		g := &nv.GPUs[i]
		if !notableGPU(*g) {
			continue
		}
		if worst == nil || gpuRank(*g) > gpuRank(*worst) {
			worst = g
		}
		for _, r := range g.Reasons {
			rc.Evidence = append(rc.Evidence, evidence("node/"+nv.Node, fmt.Sprintf("GPU %d %s: %s", g.Index, g.UUID, r)))
		}
	}
	for _, r := range nv.Reasons {
		if !strings.HasPrefix(r, "node agent: GPU") {
			rc.Evidence = append(rc.Evidence, evidence("node/"+nv.Node, r))
		}
	}
	if len(rc.Evidence) > 16 {
		rc.Evidence = rc.Evidence[:16]
	}
	action := ""
	switch {
	case worst != nil && len(worst.XIDs) > 0:
		rc.Category = diagnosis.XidCategory(worst.XIDs[0])
		rc.Summary = fmt.Sprintf("GPU %d on node %s reports XID %d: %s; action: %s", worst.Index, nv.Node, worst.XIDs[0], worst.Verdict, worst.Action)
		action = worst.Action
	case worst != nil:
		rc.Category = map[string]string{"failed": diagnosis.GPUFailed, "degraded": diagnosis.GPUDegraded}[worst.Verdict]
		rc.Summary = fmt.Sprintf("GPU %d on node %s is %s; action: %s", worst.Index, nv.Node, worst.Verdict, worst.Action)
		action = worst.Action
	default:
		// The API alone says so (allocatable below capacity, a GPU condition): no agent verdict.
		rc.Category = map[string]string{"failed": diagnosis.GPUFailed, "degraded": diagnosis.GPUDegraded}[nv.Verdict]
		rc.Summary = fmt.Sprintf("node %s's GPUs are %s: %s", nv.Node, nv.Verdict, strings.Join(nv.Reasons, "; "))
		rc.Confidence = opsv1.ConfidenceMedium
		if nv.Verdict == "failed" {
			action = "drain and reboot the node"
		}
	}
	if rc.Category == "" {
		rc.Category = diagnosis.GPUDegraded
	}
	if len(inv.d.Findings) > 0 {
		rc.Summary += fmt.Sprintf("; it explains the %s seen on the pods there", inv.d.Findings[0].Category)
	}
	var held []string
	for _, g := range inv.gpuPods {
		if g.Node != nv.Node {
			continue
		}
		var gpus []string
		for _, name := range slices.Sorted(maps.Keys(g.GPUs)) {
			gpus = append(gpus, fmt.Sprintf("%d %s", g.GPUs[name], name))
		}
		held = append(held, g.Pod)
		rc.Evidence = append(rc.Evidence, evidence(inv.d.Subject, fmt.Sprintf("pod %s holds %s on node %s", g.Pod, strings.Join(gpus, ", "), nv.Node)))
	}
	if len(held) > 0 {
		rc.Summary += fmt.Sprintf("; %s runs there (pod %s)", inv.d.Subject, strings.Join(held, ", "))
	}
	if len(rc.Evidence) > 16 {
		rc.Evidence = rc.Evidence[:16]
	}
	inv.d.RootCause = rc
	inv.d.Findings = append(inv.d.Findings, opsv1.Finding{Agent: inv.e.agent, Category: rc.Category, Summary: rc.Summary, Severity: opsv1.SeverityCritical, Evidence: rc.Evidence})
	switch action {
	case "drain and reboot the node":
		inv.plan("node_cordon", map[string]any{"name": nv.Node}, "keep new pods off node "+nv.Node+" while its GPU is broken")
		inv.plan("node_drain", map[string]any{"name": nv.Node}, "move the pods off node "+nv.Node+" so it can be rebooted (the reboot itself is a person's step)")
	case "reset the GPU":
		if worst != nil {
			inv.plan("gpu_reset", map[string]any{"index": worst.Index}, fmt.Sprintf("reset GPU %d on node %s (run by that node's GPU node agent; refused while processes use it)", worst.Index, nv.Node))
		}
	case "contact support / RMA":
		inv.plan("node_cordon", map[string]any{"name": nv.Node}, "keep new pods off node "+nv.Node+" until the GPU is replaced")
		inv.note("GPU on node %s needs replacement: contact NVIDIA support for an RMA", nv.Node)
	case "restart the application":
		owner := inv.workloadOwner()
		if owner == nil && worst != nil {
			owner = gpuAppOwner(nv, worst.Index)
		}
		if owner != nil {
			inv.plan("workload_restart", owner, fmt.Sprintf("restart %s/%s/%s: the GPU's error was contained to its application (XID catalog: restart the application)", owner["kind"], owner["namespace"], owner["name"]))
		} else {
			var pods []string
			for _, p := range nv.Pods {
				pods = append(pods, p.Pod)
			}
			on := ""
			if len(pods) > 0 {
				on = " (pods holding GPUs there: " + strings.Join(pods, ", ") + ")"
			}
			inv.note("the GPU asks for the application to be restarted: restart the workload that runs on node %s%s", nv.Node, on)
		}
	}
	return true
}

// workloadOwner is the first restartable workload (Deployment, StatefulSet, DaemonSet) that the
// findings name as an owner, as workload_restart's arguments.
func (inv *investigation) workloadOwner() map[string]any {
	for _, f := range inv.findings {
		if args := restartArgs(f.Owner); args != nil {
			return args
		}
	}
	return nil
}

// restartArgs are workload_restart's arguments for owner (kind/namespace/name) when it is a
// Deployment, StatefulSet or DaemonSet; nil otherwise.
func restartArgs(owner string) map[string]any {
	parts := strings.Split(owner, "/")
	if len(parts) != 3 || (parts[0] != "deployment" && parts[0] != "statefulset" && parts[0] != "daemonset") {
		return nil
	}
	return map[string]any{"kind": parts[0], "namespace": parts[1], "name": parts[2]}
}

// notableGPU says whether a GPU is part of a cause: its verdict is not healthy, or it reported
// an XID whose catalog action is more than none (XID 13, a graphics engine exception, leaves the
// GPU healthy but its application must be restarted).
func notableGPU(g gpuview.GPUVerdictJSON) bool {
	return g.Verdict != "healthy" || (len(g.XIDs) > 0 && g.Action != "" && g.Action != "none")
}

// gpuRank orders notable GPUs: by verdict, then one with an XID above one without.
func gpuRank(g gpuview.GPUVerdictJSON) int {
	r := 2 * verdictRank(g.Verdict)
	if len(g.XIDs) > 0 {
		r++
	}
	return r
}

// onlyCordoned says whether a node's verdict rests on nothing but its cordon: a cordoned node is
// no GPU fault (a person or a remediation cordoned it), so it names no GPU cause by itself.
func onlyCordoned(nv gpuview.NodeVerdictJSON) bool {
	if slices.ContainsFunc(nv.GPUs, func(g gpuview.GPUVerdictJSON) bool { return g.Verdict != "healthy" }) {
		return false
	}
	for _, r := range nv.Reasons {
		if !strings.HasPrefix(r, "cordoned") {
			return false
		}
	}
	return len(nv.Reasons) > 0
}

// gpuAppOwner is the restartable workload (Deployment, StatefulSet, DaemonSet) whose application
// ran on GPU index of the node, as workload_restart's arguments: the one whose pods' processes
// the node agent sees on that GPU, else the one that owns every pod holding GPUs on the node. Nil
// when that is not one such workload (several, a Job's or a bare pod: a person picks).
func gpuAppOwner(nv gpuview.NodeVerdictJSON, index int) map[string]any {
	var owners []string
	for _, p := range nv.Pods {
		if slices.Contains(p.GPUs, index) && !slices.Contains(owners, p.Owner) {
			owners = append(owners, p.Owner)
		}
	}
	if len(owners) == 0 {
		for _, p := range nv.Pods {
			if !slices.Contains(owners, p.Owner) {
				owners = append(owners, p.Owner)
			}
		}
	}
	if len(owners) != 1 {
		return nil
	}
	return restartArgs(owners[0])
}

// verdictRank orders GPU verdicts: failed above degraded above healthy.
func verdictRank(v string) int {
	switch v {
	case "failed":
		return 2
	case "degraded":
		return 1
	}
	return 0
}

// pending asks the scheduler server why the subject (or the first unschedulable pod the
// analyzers found) does not run, and names that cause.
func (inv *investigation) pending(sub *subject, an cluster.AnalyzeJSON) bool {
	if _, ok := inv.where["explain_pending"]; !ok {
		return false
	}
	var args map[string]any
	switch {
	case sub != nil && (sub.kind == "pod" || sub.kind == "job" || sub.kind == "workload") && (sub.kind == "workload" || hasCategory(an, diagnosis.Unschedulable) || len(an.Findings) == 0):
		args = map[string]any{"kind": sub.kind, "namespace": sub.namespace, "name": sub.name}
	default:
		for _, f := range an.Findings {
			if f.Category == diagnosis.Unschedulable && strings.HasPrefix(f.Object, "pod/") {
				parts := strings.SplitN(strings.TrimPrefix(f.Object, "pod/"), "/", 2)
				args = map[string]any{"kind": "pod", "namespace": parts[0], "name": parts[1]}
				break
			}
		}
	}
	if args == nil {
		return false
	}
	var x scheduler.ExplainJSON
	if !inv.callJSON("explain_pending", args, &x) || x.Category == "" || x.Category == diagnosis.NoProblemFound {
		return false
	}
	object := fmt.Sprintf("%s/%s/%s", args["kind"], args["namespace"], args["name"])
	rc := opsv1.RootCause{Category: x.Category, Summary: x.Verdict, Confidence: opsv1.ConfidenceHigh}
	if !diagnosis.ValidCategory(rc.Category) {
		rc.Category = diagnosis.Unschedulable
	}
	rc.Evidence = append(rc.Evidence, evidence(object, x.Verdict))
	for _, e := range x.Evidence {
		if len(rc.Evidence) == 16 {
			break
		}
		rc.Evidence = append(rc.Evidence, evidence(object, e))
	}
	inv.d.RootCause = rc
	inv.d.Findings = append(inv.d.Findings, opsv1.Finding{Agent: inv.e.agent, Category: rc.Category, Summary: x.Verdict, Severity: opsv1.SeverityCritical, Evidence: rc.Evidence})
	// The scheduler's fixes are alternatives, best first. The best one is the plan when it is one
	// tool call (raise a ClusterQueue's quota, move to another LocalQueue, resume a Job, uncordon
	// a node); the others, and changes only a person can make (a toleration, a smaller request),
	// are said as ranked notes.
	for i, f := range x.Fixes {
		if i == 0 && f.Tool != "" {
			inv.plan(f.Tool, f.Arguments, f.Text)
			continue
		}
		inv.note("fix %d: %s", i+1, f.Text)
	}
	return true
}

func hasCategory(an cluster.AnalyzeJSON, c string) bool {
	return slices.ContainsFunc(an.Findings, func(f cluster.FindingJSON) bool { return f.Category == c })
}

// idle names GPUIdle when nothing is broken but the subject's pods hold GPUs they do not use:
// gpu_idle's pods (at any idle time) on the subject node, of the subject pod, or in the
// namespace asked about on the nodes involved. There is no automatic fix: whether the workload
// is still needed is a person's call.
func (inv *investigation) idle(sub *subject, nodes []string, ns string) bool {
	if _, ok := inv.where["gpu_idle"]; !ok {
		return false
	}
	args := map[string]any{"minIdleMinutes": 0}
	var match func(namespace, pod, node string) bool
	switch {
	case sub != nil && sub.kind == "node":
		match = func(_, _, node string) bool { return node == sub.name }
	case sub != nil && sub.kind == "pod":
		args["namespace"] = sub.namespace
		match = func(namespace, pod, _ string) bool { return namespace == sub.namespace && pod == sub.name }
	case sub != nil && sub.namespace != "" && len(nodes) > 0:
		args["namespace"] = sub.namespace
		match = func(_, _, node string) bool { return slices.Contains(nodes, node) }
	case sub == nil && ns != "":
		args["namespace"] = ns
		match = func(string, string, string) bool { return true }
	default:
		return false
	}
	text, ok := inv.call("gpu_idle", args)
	if !ok {
		return false
	}
	rows := idleRows(text)
	var ev []opsv1.Evidence
	var pods []string
	for _, r := range rows {
		if !match(r.namespace, r.pod, r.node) {
			continue
		}
		pods = append(pods, r.namespace+"/"+r.pod)
		if len(ev) < 16 {
			ev = append(ev, evidence("pod/"+r.namespace+"/"+r.pod, fmt.Sprintf("holds GPUs on node %s that are idle (gpu_idle: GPUs %s)", r.node, r.rest)))
		}
	}
	if len(pods) == 0 {
		return false
	}
	shown := pods[:min(len(pods), 5)]
	more := ""
	if len(pods) > 5 {
		more = fmt.Sprintf(" and %d more", len(pods)-5)
	}
	rc := opsv1.RootCause{Category: diagnosis.GPUIdle, Confidence: opsv1.ConfidenceMedium, Evidence: ev,
		Summary: fmt.Sprintf("%d pods hold GPUs they do not use (utilization below 5%%): %s%s; the GPUs are allocated but idle, so other work cannot have them", len(pods), strings.Join(shown, ", "), more)}
	inv.d.RootCause = rc
	inv.d.Findings = append(inv.d.Findings, opsv1.Finding{Agent: inv.e.agent, Category: rc.Category, Summary: rc.Summary, Severity: opsv1.SeverityWarning, Evidence: ev})
	inv.note("no automatic fix for idle GPUs: scale the workload down or delete the pods if they are not needed, or check why they do not use their GPUs (waiting on data, a stuck step)")
	return true
}

// objectName matches a namespace, pod or node name; lines after a table (source:, unknown:, a
// truncation marker) do not.
var objectName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// idleRow is one pod of gpu_idle's tables.
type idleRow struct{ namespace, pod, node, rest string }

// idleRows reads gpu_idle's tables (NAMESPACE POD NODE GPUS UTILIZATION IDLE): the pods idle at
// least the minimum, and those idle for less.
func idleRows(text string) []idleRow {
	var out []idleRow
	in := false
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[0] == "NAMESPACE" && f[1] == "POD" && f[2] == "NODE":
			in = true
		case len(f) == 0:
			in = false
		case in && len(f) >= 4 && objectName.MatchString(f[0]) && objectName.MatchString(f[1]) && objectName.MatchString(f[2]):
			out = append(out, idleRow{namespace: f[0], pod: f[1], node: f[2], rest: strings.Join(f[3:], " ")})
		}
	}
	return out
}
