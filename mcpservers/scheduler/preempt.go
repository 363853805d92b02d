package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func (t *tools) preemptionTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "preemption_candidates",
			Description: "For a pending pod (or the first pending pod of a Job or other owner), the lower-priority pods whose eviction " +
				"would make it fit, per node, fewest evictions first. Only nodes that pass every other check (taints, affinity, " +
				"cordons, volumes) are candidates, as in kube-scheduler's preemption. Changes nothing.",
			Effect: mcptool.Read,
			Params: []mcp.ToolOption{
				namespaceParam(), nameParam("pending pod, Job or other owner"),
				mcp.WithString("kind", mcp.DefaultString("pod"), mcp.MaxLength(63), mcp.Description("pod (default), job, workload, or another owner kind")),
			},
		}, t.preemptionCandidates),
	}
}

// candidate is one node and the pods to evict from it.
type candidate struct {
	node    *nodeState
	victims []*corev1.Pod
	freed   resList
}

func (c *candidate) maxPriority() int32 {
	var m int32 = -1 << 31
	for _, p := range c.victims {
		m = max(m, priorityOf(p))
	}
	return m
}

// victimsOn chooses the fewest pods of lower priority than the evaluated pod whose eviction frees
// what node r lacks: greedily the pods that free the most of what is missing, then, as
// kube-scheduler does, it gives back (reprieves) every victim that is not needed, highest
// priority first. nil when the lower-priority pods cannot free enough.
func victimsOn(e *evaluation, r *nodeResult) *candidate {
	prio := priorityOf(e.pod)
	need := r.lack
	var lower []*corev1.Pod
	for _, p := range r.n.pods {
		if priorityOf(p) < prio && p.UID != e.pod.UID {
			lower = append(lower, p)
		}
	}
	if len(lower) == 0 {
		return nil
	}
	frees := func(p *corev1.Pod) resList {
		f := podRequests(&p.Spec)
		f[corev1.ResourcePods] = 1000
		return f
	}
	gain := func(p *corev1.Pod) float64 {
		f, g := frees(p), 0.0
		for res, n := range need {
			g += float64(min(f[res], n)) / float64(n)
		}
		return g
	}
	slices.SortStableFunc(lower, func(a, b *corev1.Pod) int {
		ga, gb := gain(a), gain(b)
		switch {
		case ga > gb:
			return -1
		case ga < gb:
			return 1
		}
		if d := priorityOf(a) - priorityOf(b); d != 0 {
			return int(d)
		}
		return strings.Compare(a.Name, b.Name)
	})
	enough := func(victims []*corev1.Pod) (resList, bool) {
		freed := resList{}
		for _, p := range victims {
			freed.add(frees(p))
		}
		for res, n := range need {
			if freed[res] < n {
				return freed, false
			}
		}
		return freed, true
	}
	var picked []*corev1.Pod
	ok := false
	for _, p := range lower {
		if gain(p) == 0 {
			break
		}
		picked = append(picked, p)
		if _, ok = enough(picked); ok {
			break
		}
	}
	if !ok {
		return nil
	}
	// Reprieve: highest priority first, keep a pod if the rest still suffice.
	order := slices.Clone(picked)
	slices.SortStableFunc(order, func(a, b *corev1.Pod) int { return int(priorityOf(b) - priorityOf(a)) })
	for _, p := range order {
		rest := slices.DeleteFunc(slices.Clone(picked), func(q *corev1.Pod) bool { return q == p })
		if _, still := enough(rest); still {
			picked = rest
		}
	}
	freed, _ := enough(picked)
	slices.SortFunc(picked, func(a, b *corev1.Pod) int { return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name) })
	return &candidate{node: r.n, victims: picked, freed: freed}
}

// candidates lists every node's preemption option, fewest victims first, then the lowest
// priority evicted, then the node's name.
func candidates(e *evaluation, nodes []*nodeResult) []*candidate {
	var out []*candidate
	for _, r := range nodes {
		if !r.failsOnly(predResources) {
			continue
		}
		if c := victimsOn(e, r); c != nil {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b *candidate) int {
		if d := len(a.victims) - len(b.victims); d != 0 {
			return d
		}
		if d := a.maxPriority() - b.maxPriority(); d != 0 {
			return int(d)
		}
		if fa, fb := freedShare(a, e.req), freedShare(b, e.req); fa != fb { // evict less
			if fa < fb {
				return -1
			}
			return 1
		}
		return strings.Compare(a.node.node.Name, b.node.node.Name)
	})
	return out
}

// freedShare sums what a candidate's evictions free of each requested resource, as a share of
// the request.
func freedShare(c *candidate, req resList) float64 {
	var s float64
	for res, v := range req {
		s += float64(c.freed[res]) / float64(v)
	}
	return s
}

func bestCandidate(e *evaluation, nodes []*nodeResult) *candidate {
	if c := candidates(e, nodes); len(c) > 0 {
		return c[0]
	}
	return nil
}

func (t *tools) preemptionCandidates(ctx context.Context, a explainArgs) (contract.PreemptionCandidates, string, error) {
	out := contract.PreemptionCandidates{}
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return out, "", err
	}
	tg, err := t.resolveTarget(ctx, a)
	if err != nil {
		return out, "", err
	}
	pod := tg.pod
	if pod == nil {
		return out, "", fmt.Errorf("%s has no pod to evaluate", tg.ref)
	}
	out.Target, out.Pod, out.Priority = tg.ref, pod.Namespace+"/"+pod.Name, priorityOf(pod)
	// answer ends the text with the verdict's line, which the structured answer keeps.
	answer := func(b *strings.Builder, verdict string) (contract.PreemptionCandidates, string, error) {
		b.WriteString(verdict)
		out.Verdict = strings.TrimSuffix(verdict, "\n")
		return out, b.String(), nil
	}
	if pod.Spec.NodeName != "" && !tg.fromTemplate {
		out.Node = pod.Spec.NodeName
		return answer(&strings.Builder{}, fmt.Sprintf("%s is not pending: %s runs on node %s; nothing needs to be preempted.\n", tg.ref, podRef(pod), pod.Spec.NodeName))
	}
	v, err := t.view(ctx)
	if err != nil {
		return out, "", err
	}
	vol, err := t.checkVolumes(ctx, pod)
	if err != nil {
		return out, "", err
	}
	e := evaluate(v, pod, vol)
	out.Requests = quantities(e.req)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: evaluating %s, priority %d, requests %s.\n", tg.ref, pod.Name, priorityOf(pod), reqSummary(e.req))
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever {
		note := "its preemptionPolicy is Never: kube-scheduler will not evict anything for it; the candidates below are what a person could evict."
		out.Notes = append(out.Notes, note)
		b.WriteString("note: " + note + "\n")
	}
	if fit := e.fitting(); len(fit) > 0 {
		out.Node = fit[0].n.node.Name
		return answer(&b, fmt.Sprintf("It fits node %s now without evicting anything.\n", fit[0].n.node.Name))
	}
	cs := candidates(e, e.results)
	if len(cs) == 0 {
		verdict := "No eviction makes it fit: "
		only := countOnly(e, predResources)
		if only == 0 {
			verdict += "every node fails a check other than resources (see explain_pending), and eviction frees only resources.\n"
		} else {
			verdict += fmt.Sprintf("on the %d node%s that lack only resources, the pods of lower priority than %d do not hold enough.\n", only, pluralN(only), priorityOf(pod))
		}
		return answer(&b, verdict)
	}
	head := fmt.Sprintf("%d node%s can make room by preemption; fewest evictions first", len(cs), pluralN(len(cs)))
	out.Verdict = head + "."
	b.WriteString(head + ":\n")
	tbl := mcptool.Table{Header: []string{"NODE", "EVICT", "HIGHEST-PRIORITY", "FREES", "PODS"}}
	for _, c := range cs {
		var names []string
		cand := contract.PreemptionCandidate{Node: c.node.node.Name, HighestPriority: c.maxPriority(), Frees: map[string]string{}}
		for _, p := range c.victims {
			names = append(names, fmt.Sprintf("%s/%s(%d)", p.Namespace, p.Name, priorityOf(p)))
			cand.Victims = append(cand.Victims, contract.Victim{Pod: p.Namespace + "/" + p.Name, Priority: priorityOf(p)})
		}
		var frees []string
		for _, res := range e.req.names() {
			frees = append(frees, shortRes(res)+" "+qty(res, c.freed[res]))
			cand.Frees[string(res)] = qty(res, c.freed[res])
		}
		tbl.Add(c.node.node.Name, fmt.Sprint(len(c.victims)), fmt.Sprint(c.maxPriority()), strings.Join(frees, " "), strings.Join(names, ", "))
		out.Candidates = append(out.Candidates, cand)
	}
	out.Candidates = bounded(out.Candidates, &out.Truncated)
	b.WriteString(tbl.Render(t.maxBytes - b.Len() - 256))
	const pdbNote = "PodDisruptionBudgets and graceful termination are not weighed; kube-scheduler respects them where it can."
	out.Notes = append(out.Notes, pdbNote)
	b.WriteString("note: " + pdbNote + "\n")
	return out, b.String(), nil
}
