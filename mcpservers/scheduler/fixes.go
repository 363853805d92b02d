package scheduler

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Ranks of fixes: changes to the pod's own spec that need no one else first, then what touches
// other workloads, then what changes the nodes for everyone.
const (
	rankQueue       = 0 // the queue holds the workload back: nothing else helps first
	rankVolume      = 1
	rankToleration  = 2
	rankReduce      = 3
	rankSpread      = 4
	rankPodAffinity = 5
	rankSelector    = 6
	rankPreempt     = 7
	rankUncordon    = 8
	rankCombined    = 9
	rankCapacity    = 10
)

// nodeFixes proposes, from an evaluation, the changes that would let the pod onto some node:
// one per kind of failure that alone keeps nodes out, each with the nodes it would open.
func nodeFixes(e *evaluation, v *clusterView) []fix {
	if len(e.fitting()) > 0 {
		return nil
	}
	var fixes []fix
	if e.volumeFailure != nil {
		fixes = append(fixes, fix{text: e.volumeFailure.fix, rank: rankVolume, unlocks: countOnly(e, predVolumes)})
	}
	// Tolerations: nodes that fail only on taints, grouped by the taints they carry.
	byTaints := map[string][]string{}
	for _, r := range e.results {
		if r.failsOnly(predTaints) {
			key := taintList(r.taint)
			byTaints[key] = append(byTaints[key], r.n.node.Name)
		}
	}
	for key, nodes := range byTaints {
		word := "a toleration"
		if strings.Contains(key, ", ") {
			word = "tolerations"
		}
		fixes = append(fixes, fix{text: fmt.Sprintf("add %s for %s: then %s fit%s", word, key, nodeList(nodes), plural(nodes)), rank: rankToleration, unlocks: len(nodes)})
	}
	fixes = append(fixes, resourceFixes(e, v)...)
	if fr, ok := fragmented(e); ok {
		fixes = append(fixes, fix{text: fmt.Sprintf("consolidate the fragmented GPUs (%s): move the small GPU pods off one of those nodes (gpu_fragmentation names the node with the fewest GPUs to move), or give the job a priority that preempts them", fr.words()), rank: rankCombined, unlocks: 1})
	}
	for _, one := range []struct {
		pred string
		rank int
		word func(nodes []string) string
	}{
		{predSpread, rankSpread, func(nodes []string) string {
			return fmt.Sprintf("raise maxSkew of its topologySpreadConstraints, or set whenUnsatisfiable: ScheduleAnyway: %s fail%s only the spread", nodeList(nodes), pluralVerb(nodes))
		}},
		{predPorts, rankPodAffinity, func(nodes []string) string {
			return fmt.Sprintf("free the host port on %s (remove or move the pod that holds it, named above), or give this pod another hostPort: %s fit%s otherwise", nodeList(nodes), nodeList(nodes), plural(nodes))
		}},
		{predPodAffinity, rankPodAffinity, func(nodes []string) string {
			return fmt.Sprintf("relax its required pod affinity/anti-affinity (or move the pods it conflicts with): %s fail%s only that", nodeList(nodes), pluralVerb(nodes))
		}},
		{predAffinity, rankSelector, func(nodes []string) string {
			return fmt.Sprintf("change its nodeSelector/node affinity: %s fit%s otherwise (%s)", nodeList(nodes), plural(nodes), e.detailOn(nodes[0], predAffinity))
		}},
		{predUnschedulable, rankUncordon, func(nodes []string) string {
			return fmt.Sprintf("uncordon %s (node_uncordon in the cluster server): cordoned, and it fits otherwise", nodeList(nodes))
		}},
	} {
		var nodes []string
		for _, r := range e.results {
			if r.failsOnly(one.pred) {
				nodes = append(nodes, r.n.node.Name)
			}
		}
		if len(nodes) > 0 {
			f := fix{text: one.word(nodes), rank: one.rank, unlocks: len(nodes)}
			if one.pred == predUnschedulable && len(nodes) == 1 {
				f.tool, f.args = "node_uncordon", map[string]any{"name": nodes[0]}
			}
			fixes = append(fixes, f)
		}
	}
	if len(fixes) == 0 && len(e.results) > 0 {
		near := e.nearest()[0]
		var steps []string
		for _, f := range near.fails {
			switch f.pred {
			case predTaints:
				steps = append(steps, "tolerate "+taintList(near.taint))
			case predResources:
				var l []string
				for _, res := range near.lack.names() {
					if res != corev1.ResourcePods {
						l = append(l, fmt.Sprintf("%s from %s to %s", res, qty(res, e.req[res]), qty(res, max(e.req[res]-near.lack[res], 0))))
					}
				}
				steps = append(steps, "reduce "+strings.Join(l, " and "))
			case predUnschedulable:
				steps = append(steps, "uncordon it")
			case predAffinity:
				steps = append(steps, "match its labels ("+f.detail+")")
			default:
				steps = append(steps, "resolve "+f.pred+" ("+f.detail+")")
			}
		}
		fixes = append(fixes, fix{text: fmt.Sprintf("no single change opens any node; nearest is %s, which needs all of: %s", near.n.node.Name, strings.Join(steps, "; ")), rank: rankCombined, unlocks: 1})
	}
	return fixes
}

func (e *evaluation) detailOn(node, pred string) string {
	for _, r := range e.results {
		if r.n.node.Name == node {
			if f := r.failing(pred); f != nil {
				return node + ": " + f.detail
			}
		}
	}
	return ""
}

func countOnly(e *evaluation, pred string) int {
	n := 0
	for _, r := range e.results {
		if r.failsOnly(pred) {
			n++
		}
	}
	return n
}

// resourceFixes: for nodes that fail only on resources, the smallest reduction of the request
// that fits the roomiest of them, the preemption that would make room, and — when no node could
// hold the request even empty — that capacity is missing.
func resourceFixes(e *evaluation, v *clusterView) []fix {
	var only []*nodeResult
	for _, r := range e.results {
		if r.failsOnly(predResources) {
			only = append(only, r)
		}
	}
	var fixes []fix
	oversized := map[corev1.ResourceName]bool{}
	// What no node could hold even when empty.
	for _, res := range e.req.names() {
		var best *nodeState
		for _, n := range v.nodes {
			if best == nil || n.alloc[res] > best.alloc[res] {
				best = n
			}
		}
		if best != nil && best.alloc[res] < e.req[res] {
			largest := "no node has any"
			if best.alloc[res] > 0 {
				largest = fmt.Sprintf("the largest is %s with %s", best.node.Name, qty(res, best.alloc[res]))
			}
			oversized[res] = true
			fixes = append(fixes, fix{text: fmt.Sprintf("no node has %s %s allocatable (%s): add a node that large, or request at most that%s",
				qty(res, e.req[res]), res, largest, unitHint(res, e.req[res])), rank: rankCapacity})
		}
	}
	if len(only) == 0 {
		return fixes
	}
	// Reduce: to what the roomiest node has free, GPUs first.
	main := only[0].lack.names()[0]
	slices.SortStableFunc(only, func(a, b *nodeResult) int {
		fa, fb := a.n.free(main), b.n.free(main)
		if fa != fb {
			if fa > fb {
				return -1
			}
			return 1
		}
		return 0
	})
	best := only[0]
	var changes, has []string
	hint := ""
	reducible := true
	for _, res := range best.lack.names() {
		free := max(best.n.free(res), 0)
		if res == corev1.ResourcePods || free <= 0 {
			reducible = false
			break
		}
		if oversized[res] && hint == "" {
			hint = unitHint(res, e.req[res])
		}
		changes = append(changes, fmt.Sprintf("%s from %s to %s", res, qty(res, e.req[res]), qty(res, free)))
		has = append(has, qty(res, free)+" "+shortRes(res))
	}
	if reducible {
		if len(has) == 1 {
			has[0] = qty(best.lack.names()[0], max(best.n.free(best.lack.names()[0]), 0))
		}
		fits := 0
		for _, r := range only {
			ok := true
			for res := range best.lack {
				if r.n.free(res) < best.n.free(res) {
					ok = false
				}
			}
			if ok {
				fits++
			}
		}
		fixes = append(fixes, fix{text: fmt.Sprintf("reduce %s: node %s has %s free%s", strings.Join(changes, " and "), best.n.node.Name, strings.Join(has, ", "), hint), rank: rankReduce, unlocks: fits})
	}
	// Preempt: the fewest lower-priority pods whose eviction makes room on one node.
	if e.pod.Spec.PreemptionPolicy == nil || *e.pod.Spec.PreemptionPolicy != corev1.PreemptNever {
		if c := bestCandidate(e, only); c != nil {
			var names []string
			for _, p := range c.victims {
				names = append(names, p.Namespace+"/"+p.Name)
			}
			fixes = append(fixes, fix{text: fmt.Sprintf("evict %d lower-priority pod%s on node %s (%s) to make room; preemption_candidates lists every option",
				len(c.victims), pluralN(len(c.victims)), c.node.node.Name, strings.Join(names, ", ")), rank: rankPreempt, unlocks: 1})
		}
	}
	return fixes
}

// unitHint says, for a request of whole CPUs larger than any node has (milli is the request in
// millicores), how cpu is counted: such a request is often millicores written without the "m".
// Empty for any other resource or amount.
func unitHint(res corev1.ResourceName, milli int64) string {
	if res != corev1.ResourceCPU || milli%1000 != 0 {
		return ""
	}
	cores := milli / 1000
	return fmt.Sprintf(` (cpu is counted in CPUs: "%d" asks for %d of them; "%dm" would be %s of one)`,
		cores, cores, cores, strconv.FormatFloat(float64(cores)/1000, 'f', -1, 64))
}

func taintList(ts []corev1.Taint) string {
	var out []string
	for _, t := range ts {
		out = append(out, taintString(t))
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), ", ")
}

// nodeList names up to three nodes: "node gpu-1", "nodes gpu-1, gpu-2 and 3 more".
func nodeList(nodes []string) string {
	if len(nodes) == 1 {
		return "node " + nodes[0]
	}
	shown := nodes[:min(len(nodes), 3)]
	s := "nodes " + strings.Join(shown, ", ")
	if len(nodes) > 3 {
		s += fmt.Sprintf(" and %d more", len(nodes)-3)
	}
	return s
}

// plural is the verb ending for a subject of nodes: "node a fits", "nodes a, b fit".
func plural(nodes []string) string {
	if len(nodes) == 1 {
		return "s"
	}
	return ""
}

func pluralVerb(nodes []string) string { return plural(nodes) }

func pluralN(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// fragmentation is free device capacity scattered so that no node has what one pod asks for
// although, together, the nodes that could hold the pod have enough free.
type fragmentation struct {
	res   corev1.ResourceName
	want  int64    // the pod's request (milli)
	free  int64    // free on the nodes that could hold the request when empty (milli)
	nodes []string // those nodes with something free, most free first
}

// fragmented says whether the pod waits on fragmentation of a GPU resource: no node has its
// request free, yet the nodes that could hold it when empty (allocatable at least the request)
// and fail only on that resource have, together, at least the request free — so consolidating
// the small pods would make room, as gpu_fragmentation counts it. Nodes that also fail a taint,
// a selector or a cordon, or lack CPU or memory, do not count.
func fragmented(e *evaluation) (fragmentation, bool) {
	if e == nil || len(e.fitting()) > 0 || e.volumeFailure != nil {
		return fragmentation{}, false
	}
	for _, res := range e.req.names() {
		if !isGPU(res) {
			continue
		}
		want := e.req[res]
		fr := fragmentation{res: res, want: want}
		type nodeFree struct {
			name string
			free int64
		}
		var frees []nodeFree
		big := 0
		for _, r := range e.results {
			if r.n.alloc[res] < want {
				continue
			}
			big++
			if !r.failsOnly(predResources) {
				continue
			}
			other := false
			for l := range r.lack {
				if l != res && r.lack[l] > 0 {
					other = true
				}
			}
			if other {
				continue
			}
			if f := max(r.n.free(res), 0); f > 0 {
				frees = append(frees, nodeFree{r.n.node.Name, f})
				fr.free += f
			}
		}
		if big == 0 || len(frees) < 2 || fr.free < want {
			continue
		}
		slices.SortStableFunc(frees, func(a, b nodeFree) int { return int(b.free - a.free) })
		for _, f := range frees {
			fr.nodes = append(fr.nodes, fmt.Sprintf("%s (%s free)", f.name, qty(res, f.free)))
		}
		return fr, true
	}
	return fragmentation{}, false
}

// words says the fragmentation in a sentence.
func (f fragmentation) words() string {
	return fmt.Sprintf("%s %s are free across %d nodes (%s), but no node has the %s one pod requests free",
		qty(f.res, f.free), f.res, len(f.nodes), strings.Join(f.nodes, ", "), qty(f.res, f.want))
}
