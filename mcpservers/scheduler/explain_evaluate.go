package scheduler

// explain_pending's judgement: the verdict, its root-cause category in the taxonomy
// (api/contract) and the ranked fixes, from the scheduler's word, the queues' and the evaluation
// of every node.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/opsmesh/opsmesh/api/contract"
)

// explanation is explain_pending's answer before rendering.
type explanation struct {
	tg       *target
	verdict  string
	category string // the verdict's root-cause category (api/contract)
	fixes    []fix
	status   string // the first line: what the object is and requests
	sched    *schedWord
	queue    []string // Kueue / Volcano sections
	eval     *evaluation
	view     *clusterView
	notes    []string
	// cause is the object and field at fault behind the verdict, when one is established.
	cause *contract.Cause
	// selector are facts about a node selector that matches no node.
	selector []string
}

// fix is one change that would let the workload run.
type fix struct {
	text    string
	rank    int // lower first
	unlocks int // nodes it alone makes fit
	// tool and args are the fix as one tool call, when it is one (without dryRun).
	tool string
	args map[string]any
}

func (t *tools) explain(ctx context.Context, tg *target) (*explanation, error) {
	v, err := t.view(ctx)
	if err != nil {
		return nil, err
	}
	x := &explanation{tg: tg, view: v}
	pod := tg.pod
	if pod == nil {
		return nil, fmt.Errorf("%s has no pods and no pod template to evaluate", tg.ref)
	}
	req := podRequests(&pod.Spec)
	x.status = t.statusLine(tg, req)
	if v.confined {
		x.notes = append(x.notes, fmt.Sprintf("this server sees pods only in %s (--allow-namespaces): pods elsewhere are not counted, so free capacity may be overstated", strings.Join(t.k.Allow, ", ")))
	}

	// The scheduler's word.
	if !tg.fromTemplate {
		events, err := t.k.events(ctx, pod.Namespace, "Pod", pod.Name)
		if err != nil {
			return nil, err
		}
		x.sched = readSchedWord(pod, events)
	}

	// Our evaluation of every node.
	vol, err := t.checkVolumes(ctx, pod)
	if err != nil {
		return nil, err
	}
	x.eval = evaluate(v, pod, vol)
	x.notes = append(x.notes, x.eval.notes...)

	// Queues: their verdicts come before the nodes', since an unadmitted workload has no pods to place.
	kq, err := t.kueueFor(ctx, tg)
	if err != nil {
		return nil, err
	}
	vq, err := t.volcanoFor(ctx, tg, x.eval)
	if err != nil {
		return nil, err
	}
	for _, q := range []*queueReport{kq, vq} {
		if q == nil {
			continue
		}
		x.queue = append(x.queue, q.section)
		x.fixes = append(x.fixes, q.fixes...)
		if x.verdict == "" && q.verdict != "" {
			x.verdict, x.category = q.verdict, q.category
		}
		x.notes = append(x.notes, q.notes...)
	}

	bound := pod.Spec.NodeName != "" && !tg.fromTemplate
	switch {
	case x.verdict != "":
		// the queue holds it back
	case tg.job != nil && tg.job.Spec.Suspend != nil && *tg.job.Spec.Suspend && tg.pending() == 0:
		x.verdict, x.category = fmt.Sprintf("%s is suspended (spec.suspend: true), so it has no pods to schedule.", refOf(tg.job)), contract.Suspended
		x.fixes = append(x.fixes, fix{text: fmt.Sprintf("resume Job %s/%s (job_resume)", tg.job.Namespace, tg.job.Name), rank: -1,
			tool: "job_resume", args: map[string]any{"namespace": tg.job.Namespace, "name": tg.job.Name}})
	case bound && tg.pending() == 0:
		x.verdict, x.category = fmt.Sprintf("%s is not pending: %s is bound to node %s (phase %s).", tg.ref, podRef(pod), pod.Spec.NodeName, pod.Status.Phase), contract.NoProblemFound
		return x, nil
	case len(pod.Spec.SchedulingGates) > 0:
		var gates []string
		for _, g := range pod.Spec.SchedulingGates {
			gates = append(gates, g.Name)
		}
		x.verdict, x.category = fmt.Sprintf("%s is held by scheduling gates %s: the scheduler does not consider it until they are removed.", podRef(pod), strings.Join(gates, ", ")), contract.SchedulingConstraint
		x.fixes = append(x.fixes, fix{text: fmt.Sprintf("find the controller that owns gate %s and why it has not removed it", gates[0]), rank: -1})
	}
	if !bound {
		x.selector = selectorFacts(x.eval, v)
		// A resource no node advertises keeps the pod off every node, whatever else each
		// lacks: that is the verdict, before any node is compared with the pod.
		var w workloadRef
		var na *nodeCause
		if x.verdict == "" {
			w = t.workloadOf(ctx, tg)
			// Nodes that look like GPU nodes but do not advertise the GPUs come first: the device
			// plugin there is the cause, whatever the other nodes lack.
			if na, err = t.unadvertisedOnGPUNodes(ctx, x.eval, v, tg, w); err != nil {
				return nil, err
			}
			if na == nil {
				na = notAdvertised(x.eval, v, tg, w)
			}
		}
		if na != nil {
			x.verdict, x.category, x.cause = na.verdict, na.category, na.cause
			x.fixes = append(x.fixes, na.fixes...)
		} else {
			nodeVerdict, fixes := nodeVerdict(x.eval, v, tg, x.selector)
			if x.verdict == "" {
				x.verdict, x.category = nodeVerdict, nodeCategory(x.eval, fixes)
				if fr, ok := fragmented(x.eval); ok && x.category == contract.GPUFragmentation {
					x.verdict += " The free GPUs are fragmented: " + fr.words() + "."
				}
				if x.category == contract.InsufficientGPU || x.category == contract.InsufficientResource || x.category == contract.GPUFragmentation {
					// who holds what it lacks, and whom the scheduler evicted its predecessor for
					if h := holdersWords(x.eval); h != "" {
						x.verdict += " " + upperFirst(h) + "."
					}
					if p := t.preemptions(ctx, pod, v); p != "" {
						x.verdict += " " + upperFirst(p) + "."
					}
				}
				if x.eval.volumeFailure != nil {
					x.cause = x.eval.volumeFailure.cause
				} else if vc := volumeAffinityCause(x.eval, v, tg, x.sched); vc != nil {
					x.verdict, x.category, x.cause = vc.verdict, vc.category, vc.cause
					// The volume's node is the change; "no single change opens any node" is not.
					fixes = append(vc.fixes, slices.DeleteFunc(fixes, func(f fix) bool {
						return f.rank == rankCombined && f.unlocks <= 1 && strings.HasPrefix(f.text, "no single change")
					})...)
				} else if x.cause = taintCause(x.eval, tg, w); x.cause == nil {
					x.cause = hostPortCause(x.eval, tg, w)
				}
			}
			x.fixes = append(x.fixes, fixes...)
		}
	}
	slices.SortStableFunc(x.fixes, func(a, b fix) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return b.unlocks - a.unlocks
	})
	return x, nil
}

func refOf(j *batchv1.Job) string { return "Job " + j.Namespace + "/" + j.Name }

func podRef(p *corev1.Pod) string { return "pod " + p.Namespace + "/" + p.Name }

// statusLine says what the object is, how many of its pods wait, and what one requests.
func (t *tools) statusLine(tg *target, req resList) string {
	p := tg.pod
	var b strings.Builder
	b.WriteString(tg.ref)
	switch {
	case tg.fromTemplate:
		b.WriteString(": no pods yet; evaluating its pod template")
	case len(tg.pods) > 1 || tg.job != nil && !strings.HasPrefix(tg.ref, "Pod "):
		fmt.Fprintf(&b, ": %d of %d pods pending; evaluating %s", tg.pending(), len(tg.pods), p.Name)
	default:
		phase := string(p.Status.Phase)
		if phase == "" {
			phase = "Pending"
		}
		fmt.Fprintf(&b, ": %s", phase)
		if p.Spec.NodeName != "" {
			b.WriteString(" on node " + p.Spec.NodeName)
		}
	}
	fmt.Fprintf(&b, ". Requests %s; priority %d", reqSummary(req), priorityOf(p))
	if p.Spec.SchedulerName != "" && p.Spec.SchedulerName != corev1.DefaultSchedulerName {
		fmt.Fprintf(&b, "; scheduler %s", p.Spec.SchedulerName)
	}
	b.WriteString(".")
	return b.String()
}

// nodeVerdict words the evaluation as one sentence, and the fixes it suggests. With selector
// facts (a node selector that matches no node) the sentence is about the selector alone: what
// else the nodes lack does not matter while no node is selected.
func nodeVerdict(e *evaluation, v *clusterView, tg *target, selector []string) (string, []fix) {
	fixes := nodeFixes(e, v)
	who := tg.ref
	if !strings.HasPrefix(tg.ref, "Pod ") {
		who = "the pods of " + tg.ref
	}
	if len(v.nodes) == 0 {
		return fmt.Sprintf("No node can run %s: the cluster has no nodes.", who), fixes
	}
	if fit := e.fitting(); len(fit) > 0 {
		var names []string
		for _, r := range fit[:min(len(fit), 3)] {
			names = append(names, r.n.node.Name)
		}
		more := ""
		if len(fit) > 3 {
			more = fmt.Sprintf(" and %d more", len(fit)-3)
		}
		return fmt.Sprintf("%d of %d nodes fit %s now (%s%s) by this evaluation; if it stays pending, the scheduler is slow to retry or applies a check this evaluation does not (see the scheduler's word).",
			len(fit), len(v.nodes), who, strings.Join(names, ", "), more), fixes
	}
	if e.volumeFailure != nil {
		return fmt.Sprintf("No node can run %s: %s.", who, e.volumeFailure.verdict), fixes
	}
	if len(selector) > 0 {
		near := e.nearest()[0]
		return fmt.Sprintf("No node of %d fits %s: its %s; nearest is %s, which does not match the node selector (%s).",
			len(v.nodes), who, strings.Join(selector, "; "), near.n.node.Name, near.failing(predAffinity).detail), fixes
	}
	counts := map[string]int{}
	lacking := map[corev1.ResourceName]int{} // nodes that lack each resource
	for _, r := range e.results {
		for _, f := range r.fails {
			counts[f.pred]++
		}
		for res := range r.lack {
			lacking[res]++
		}
	}
	var parts []string
	for _, p := range predOrder {
		n := counts[p]
		if n == 0 {
			continue
		}
		switch p {
		case predResources:
			parts = append(parts, lackWords(lacking))
		case predTaints:
			parts = append(parts, fmt.Sprintf("%d have a taint it does not tolerate", n))
		case predAffinity:
			parts = append(parts, fmt.Sprintf("%d do not match its node selector or affinity", n))
		case predUnschedulable:
			parts = append(parts, fmt.Sprintf("%d are cordoned", n))
		case predVolumes:
			parts = append(parts, fmt.Sprintf("%d conflict with its volumes", n))
		case predPodAffinity:
			parts = append(parts, fmt.Sprintf("%d fail its pod affinity or anti-affinity", n))
		case predSpread:
			parts = append(parts, fmt.Sprintf("%d would break its topology spread", n))
		case predPorts:
			parts = append(parts, fmt.Sprintf("%d have a host port it asks for in use", n))
		}
	}
	// A request larger than any node's allocatable: no node could hold it even empty, whatever
	// else each node lacks, so it leads.
	var lead []string
	for _, o := range e.oversized() {
		lead = append(lead, o.words()+"; ")
	}
	near := e.nearest()[0]
	return fmt.Sprintf("No node of %d fits %s: %s%s; nearest is %s, which %s.", len(v.nodes), who, strings.Join(lead, ""), strings.Join(parts, ", "), near.n.node.Name, lacks(near, e.req)), fixes
}

// lackWords says how many nodes lack each resource, most first: "6 lack cpu, 2 lack
// nvidia.com/gpu"; resources lacked by as many nodes share a clause ("7 lack cpu and memory").
func lackWords(lacking map[corev1.ResourceName]int) string {
	names := slices.Collect(maps.Keys(lacking))
	slices.SortFunc(names, func(a, b corev1.ResourceName) int {
		if d := lacking[b] - lacking[a]; d != 0 {
			return d
		}
		return strings.Compare(string(a), string(b))
	})
	var clauses []string
	for i := 0; i < len(names); {
		j := i + 1
		for j < len(names) && lacking[names[j]] == lacking[names[i]] {
			j++
		}
		var group []string
		for _, r := range names[i:j] {
			group = append(group, string(r))
		}
		clauses = append(clauses, fmt.Sprintf("%d lack %s", lacking[names[i]], strings.Join(group, " and ")))
		i = j
	}
	return strings.Join(clauses, ", ")
}

// oversize is a resource the pod requests more of than any node has allocatable.
type oversize struct {
	res     corev1.ResourceName
	want    int64  // the pod's request (milli)
	largest int64  // the most any node has allocatable (milli)
	node    string // that node
}

// words: "it requests 250 cpu and the largest node (gpu-7) has 224 allocatable, so no node
// could hold it even empty".
func (o oversize) words() string {
	if o.largest <= 0 {
		return fmt.Sprintf("it requests %s %s and no node has any allocatable", qty(o.res, o.want), o.res)
	}
	return fmt.Sprintf("it requests %s %s and the largest node (%s) has %s allocatable, so no node could hold it even empty",
		qty(o.res, o.want), o.res, o.node, qty(o.res, o.largest))
}

// oversized lists the resources the pod requests more of than any node has allocatable, in the
// order of the request's names (GPUs first).
func (e *evaluation) oversized() []oversize {
	if len(e.results) == 0 {
		return nil
	}
	var out []oversize
	for _, res := range e.req.names() {
		o := oversize{res: res, want: e.req[res], largest: -1}
		for _, r := range e.results {
			if a := r.n.alloc[res]; a > o.largest {
				o.largest, o.node = a, r.n.node.Name
			}
		}
		if o.largest < o.want {
			out = append(out, o)
		}
	}
	return out
}

// bindingResource is the resource that keeps the pod off the nodes nearest to fitting: of what
// the nearest node that lacks any resource lacks, one that no node could hold even empty, else
// one that every node lacks, else the first it lacks (GPUs first). A resource lacked only on
// nodes that also lack another is not binding: a pod asking for 250 CPUs and one GPU is kept off
// the GPU nodes by its CPUs, whatever the CPU-only nodes lack. Empty when no node lacks any.
func (e *evaluation) bindingResource() corev1.ResourceName {
	var ref *nodeResult
	for _, r := range e.nearest() {
		if len(r.lack) > 0 {
			ref = r
			break
		}
	}
	if ref == nil {
		return ""
	}
	lacked := ref.lack.names()
	for _, o := range e.oversized() {
		if slices.Contains(lacked, o.res) {
			return o.res
		}
	}
	for _, res := range lacked {
		if !slices.ContainsFunc(e.results, func(r *nodeResult) bool { return r.lack[res] <= 0 }) {
			return res
		}
	}
	return lacked[0]
}

// lacks says what a node lacks for the pod, in words: "lacks 4 nvidia.com/gpu and is cordoned".
func lacks(r *nodeResult, req resList) string {
	var parts []string
	for _, f := range r.fails {
		switch f.pred {
		case predResources:
			var l []string
			for _, res := range r.lack.names() {
				if res == corev1.ResourcePods {
					l = append(l, "room for another pod")
					continue
				}
				l = append(l, fmt.Sprintf("%s %s (has %s free of %s requested)", qty(res, r.lack[res]), res, qty(res, max(req[res]-r.lack[res], 0)), qty(res, req[res])))
			}
			parts = append(parts, "lacks "+strings.Join(l, " and "))
		case predTaints:
			parts = append(parts, "has untolerated taint "+f.detail)
		case predAffinity:
			parts = append(parts, "does not match the node selector ("+f.detail+")")
		case predUnschedulable:
			parts = append(parts, "is cordoned")
		case predVolumes:
			parts = append(parts, "conflicts with its volumes ("+f.detail+")")
		case predPodAffinity:
			parts = append(parts, "fails pod "+f.detail)
		case predSpread:
			parts = append(parts, "breaks topology spread ("+f.detail+")")
		case predPorts:
			parts = append(parts, "has no free port for it ("+f.detail+")")
		}
	}
	if len(parts) == 0 {
		return "fits"
	}
	return strings.Join(parts, " and ")
}

// takenOnly says whether node r has the capacity for every resource it lacks for the request:
// what it lacks, its pods hold.
func takenOnly(r *nodeResult, req resList) bool {
	for res := range r.lack {
		if r.n.alloc[res] < req[res] {
			return false
		}
	}
	return len(r.lack) > 0
}

// nodeCategory names why no node fits after the best of the node fixes (the lowest rank, then
// the most nodes opened): what the explanation itself would change first.
func nodeCategory(e *evaluation, fixes []fix) string {
	if e == nil || len(e.results) == 0 {
		return contract.InsufficientResource
	}
	if len(e.fitting()) > 0 {
		return contract.Unschedulable
	}
	if e.volumeFailure != nil {
		return contract.PVCPending
	}
	// The resource that binds on the nodes nearest to fitting decides between a GPU shortage
	// and any other; without one (no node lacks a resource), whether the pod asks for a GPU.
	gpu := false
	if res := e.bindingResource(); res != "" {
		gpu = isGPU(res) || gpuResource(res)
	} else {
		gpu = slices.ContainsFunc(e.req.names(), func(r corev1.ResourceName) bool { return isGPU(r) || gpuResource(r) })
	}
	insufficient := contract.InsufficientResource
	if gpu {
		insufficient = contract.InsufficientGPU
	}
	if len(fixes) == 0 {
		return insufficient
	}
	// A node the pod may use whose resources are only taken (it has the capacity; its pods hold
	// it): that shortage is what keeps the pod pending, whatever constraints keep it off the
	// other nodes (a selector that pins a GPU job to its node, GPUs that a preemptor holds).
	if slices.ContainsFunc(e.results, func(r *nodeResult) bool { return r.failsOnly(predResources) && takenOnly(r, e.req) }) {
		if _, ok := fragmented(e); ok && gpu {
			return contract.GPUFragmentation
		}
		return insufficient
	}
	best := slices.MinFunc(fixes, func(a, b fix) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return b.unlocks - a.unlocks
	})
	switch best.rank {
	case rankVolume:
		return contract.PVCPending
	case rankToleration, rankSpread, rankPodAffinity, rankSelector:
		return contract.SchedulingConstraint
	case rankUncordon:
		return contract.NodeCordoned
	case rankReduce, rankPreempt, rankCapacity:
		if _, ok := fragmented(e); ok && gpu {
			return contract.GPUFragmentation
		}
		return insufficient
	}
	// A combination on the nearest node: its first failing check.
	for _, f := range e.nearest()[0].fails {
		switch f.pred {
		case predResources:
			return insufficient
		case predUnschedulable:
			return contract.NodeCordoned
		}
		return contract.SchedulingConstraint
	}
	return contract.Unschedulable
}
