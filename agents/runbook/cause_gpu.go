package runbook

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// nodesInvolved are the nodes of the subject (a node) or of the pods the findings name: the pods
// that are findings themselves, and the failed pods a Job's or CronJob's finding names in its
// evidence (a Job whose pods ran on a GPU that then failed).
func (inv *investigation) nodesInvolved(sub *subject, an contract.Analysis) []string {
	if sub != nil && sub.kind == "node" {
		return []string{sub.name}
	}
	pods := podsInvolved(sub, an.Findings)
	var namespaces []string
	for p := range pods {
		if ns, _, _ := strings.Cut(p, "/"); !slices.Contains(namespaces, ns) {
			namespaces = append(namespaces, ns)
		}
	}
	slices.Sort(namespaces)
	var nodes []string
	for _, ns := range namespaces {
		var list contract.ResourceList
		if !inv.callData("resources_list", map[string]any{"kind": "pods", "namespace": ns, "limit": 500}, &list) {
			continue
		}
		col := slices.Index(list.Columns, "NODE")
		for _, it := range list.Items {
			if col < 0 || col >= len(it.Cells) {
				continue
			}
			if node := it.Cells[col]; pods[ns+"/"+it.Name] && node != "" && node != "<none>" && !slices.Contains(nodes, node) {
				nodes = append(nodes, node)
			}
		}
	}
	slices.Sort(nodes)
	return nodes
}

// podsInvolved are the pods (namespace/name) the findings are about: pods that are findings
// (and the others of their owner the finding counts), the failed pods a Job's or CronJob's
// finding names in its evidence, and the subject when it is a pod.
func podsInvolved(sub *subject, findings []contract.Finding) map[string]bool {
	pods := map[string]bool{}
	for _, f := range findings {
		parts := strings.Split(f.Object, "/")
		if len(parts) != 3 {
			continue
		}
		ns := parts[1]
		if parts[0] == "pod" {
			pods[ns+"/"+parts[2]] = true
			for _, m := range f.More {
				pods[ns+"/"+m] = true
			}
			continue
		}
		for _, ref := range podsInEvidence(f.Evidence) {
			pods[ns+"/"+ref[0]] = true
		}
	}
	if sub != nil && sub.kind == "pod" {
		pods[sub.namespace+"/"+sub.name] = true
	}
	return pods
}

// gpuErrorLine finds, in a failed container's word, an error that a GPU's failure causes: a
// CUDA or NCCL error, an ECC error, a lost GPU. Such a line ties the crash to the GPU under it.
var gpuErrorLine = regexp.MustCompile(`(?i)CUDA error|cudaError\w*|CUDA_ERROR_\w+|NCCL (?:error|WARN)|ncclUnhandledCudaError|ncclSystemError|uncorrectable ECC|ECC error|Xid|fallen off the bus|illegal memory access|unspecified launch failure|GPU is lost`)

// gpus asks the GPU view about nodes and names a GPU cause when one is failed or degraded. When
// the view tells which GPUs the pods involved hold (their processes' GPUs), only those count: a
// fault on another GPU of the node does not explain them.
func (inv *investigation) gpus(nodes []string) bool {
	if _, ok := inv.where["gpu_node_health"]; !ok || len(nodes) == 0 {
		return false
	}
	var sub *subject
	if parts := strings.Split(inv.d.Subject, "/"); len(parts) == 3 {
		sub = &subject{parts[0], parts[1], parts[2]}
	}
	involved := map[string]bool{}
	if sub == nil || sub.kind != "node" {
		involved = podsInvolved(sub, inv.findings)
	}
	var bad []contract.NodeHealth
	for _, n := range nodes {
		var h contract.NodeHealthReport
		if !inv.callData("gpu_node_health", map[string]any{"node": n}, &h) {
			continue
		}
		for _, nv := range h.Nodes {
			if held := heldGPUs(nv, involved); len(held) > 0 {
				if !slices.ContainsFunc(nv.GPUs, func(g contract.GPUHealth) bool { return notableGPU(g) && slices.Contains(held, g.Index) }) {
					inv.note("node %s: the GPUs the failing pods run on (%s) are healthy; its other GPUs' faults do not explain them", nv.Node, intsText(held))
					continue
				}
				nv.GPUs = slices.DeleteFunc(slices.Clone(nv.GPUs), func(g contract.GPUHealth) bool { return notableGPU(g) && !slices.Contains(held, g.Index) })
			}
			if (nv.Verdict != "healthy" && !onlyCordoned(nv)) || slices.ContainsFunc(nv.GPUs, notableGPU) {
				bad = append(bad, nv)
			}
		}
	}
	if len(bad) == 0 {
		return false
	}
	// The worst node: failed before degraded.
	slices.SortStableFunc(bad, func(a, b contract.NodeHealth) int {
		return verdictRank(b.Verdict) - verdictRank(a.Verdict)
	})
	nv := bad[0]
	rc := opsv1.RootCause{Confidence: opsv1.ConfidenceHigh}
	var worst *contract.GPUHealth
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
		for _, name := range slices.Sorted(maps.Keys(g.Resources)) {
			gpus = append(gpus, fmt.Sprintf("%d %s", g.Resources[name], name))
		}
		_, name, _ := strings.Cut(g.Pod, "/") // namespace/name: the subject's namespace
		held = append(held, name)
		rc.Evidence = append(rc.Evidence, evidence(inv.d.Subject, fmt.Sprintf("pod %s holds %s on node %s", name, strings.Join(gpus, ", "), nv.Node)))
	}
	if len(held) > 0 {
		rc.Summary += fmt.Sprintf("; %s runs there (pod %s)", inv.d.Subject, strings.Join(held, ", "))
	}
	rc.Cause = gpuCause(nv, worst, action)
	if rc.Cause != nil {
		if rc.Cause.Category == contract.GPUHardwareFault {
			// the failed pods' own error, when it is one a GPU's failure causes
			if obj, line := inv.gpuErrorOf(); line != "" {
				rc.Cause.Summary += "; the failed pod's own error agrees: " + clip(line, 200)
				rc.Evidence = append([]opsv1.Evidence{evidence(obj, line)}, rc.Evidence...)
			}
		}
		rc.Summary += "; cause: " + rc.Cause.Summary
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

// gpuCause says who is at fault for a GPU's error: the application whose process raised it when
// NVIDIA's catalog says the error is the application's (its action: restart the application —
// XID 13, 31, 43), else the GPU hardware, with the workloads on it as its victims.
func gpuCause(nv contract.NodeHealth, worst *contract.GPUHealth, action string) *opsv1.CauseRef {
	if worst == nil {
		return nil
	}
	var onGPU, owners []string
	for _, p := range nv.Pods {
		if slices.Contains(p.GPUs, worst.Index) {
			onGPU = append(onGPU, p.Pod)
			if p.Owner != "" && !slices.Contains(owners, p.Owner) {
				owners = append(owners, p.Owner)
			}
		}
	}
	xid := ""
	if len(worst.XIDs) > 0 {
		xid = fmt.Sprintf(" (XID %d)", worst.XIDs[0])
	}
	if action == "restart the application" {
		c := &opsv1.CauseRef{Category: contract.GPUApplicationFault, Object: fmt.Sprintf("node/%s", nv.Node), Field: fmt.Sprintf("GPU %d", worst.Index)}
		switch {
		case len(owners) == 1:
			c.Object, c.Field = owners[0], ""
			c.Summary = fmt.Sprintf("the error%s on GPU %d of node %s came from %s's own process (pod %s): an application fault, not the GPU's; the GPU needs no reset or drain", xid, worst.Index, nv.Node, owners[0], strings.Join(onGPU, ", "))
		case len(onGPU) > 0:
			c.Object, c.Field = "pod/"+onGPU[0], ""
			c.Summary = fmt.Sprintf("the error%s on GPU %d of node %s came from the process of pod %s: an application fault, not the GPU's; the GPU needs no reset or drain", xid, worst.Index, nv.Node, strings.Join(onGPU, ", "))
		default:
			c.Summary = fmt.Sprintf("the error%s on GPU %d of node %s is an application fault (NVIDIA's catalog: restart the application), not the GPU's; no process on it is known now", xid, worst.Index, nv.Node)
		}
		return c
	}
	c := &opsv1.CauseRef{Category: contract.GPUHardwareFault, Object: "node/" + nv.Node, Field: fmt.Sprintf("GPU %d", worst.Index),
		Summary: fmt.Sprintf("GPU %d (%s) of node %s is %s%s: a hardware fault", worst.Index, worst.UUID, nv.Node, worst.Verdict, xid)}
	if len(onGPU) > 0 {
		c.Summary += "; its victims: " + strings.Join(onGPU, ", ")
	}
	return c
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
func notableGPU(g contract.GPUHealth) bool {
	return g.Verdict != "healthy" || (len(g.XIDs) > 0 && g.Action != "" && g.Action != "none")
}

// gpuRank orders notable GPUs: by verdict, then one with an XID above one without.
func gpuRank(g contract.GPUHealth) int {
	r := 2 * verdictRank(g.Verdict)
	if len(g.XIDs) > 0 {
		r++
	}
	return r
}

// onlyCordoned says whether a node's verdict rests on nothing but its cordon: a cordoned node is
// no GPU fault (a person or a remediation cordoned it), so it names no GPU cause by itself.
func onlyCordoned(nv contract.NodeHealth) bool {
	if slices.ContainsFunc(nv.GPUs, func(g contract.GPUHealth) bool { return g.Verdict != "healthy" }) {
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
func gpuAppOwner(nv contract.NodeHealth, index int) map[string]any {
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

// heldGPUs are the GPU indexes that the involved pods' processes use on the node, as the GPU view
// tells them (empty when it does not).
func heldGPUs(nv contract.NodeHealth, involved map[string]bool) []int {
	var out []int
	for _, p := range nv.Pods {
		if !involved[p.Pod] {
			continue
		}
		for _, i := range p.GPUs {
			if !slices.Contains(out, i) {
				out = append(out, i)
			}
		}
	}
	slices.Sort(out)
	return out
}

// gpuErrorOf is the first line of the findings' evidence that is a GPU error (gpuErrorLine), and
// the object it is about; "" when none.
func (inv *investigation) gpuErrorOf() (string, string) {
	for _, f := range inv.findings {
		for _, e := range f.Evidence {
			// a part of a message joined with " | " (the exception's line) before the whole
			parts := splitLines([]string{e})
			if len(parts) > 1 {
				parts = append(parts[1:], parts[0])
			}
			for _, l := range parts {
				if gpuErrorLine.MatchString(l) {
					return f.Object, l
				}
			}
		}
	}
	return "", ""
}

func intsText(xs []int) string {
	var out []string
	for _, x := range xs {
		out = append(out, fmt.Sprint(x))
	}
	return strings.Join(out, ", ")
}
