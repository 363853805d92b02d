package scheduler

import (
	"fmt"
	"slices"
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
	for _, one := range []struct {
		pred string
		rank int
		word func(nodes []string) string
	}{
		{predSpread, rankSpread, func(nodes []string) string {
			return fmt.Sprintf("raise maxSkew of its topologySpreadConstraints, or set whenUnsatisfiable: ScheduleAnyway: %s fail%s only the spread", nodeList(nodes), pluralVerb(nodes))
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
			fixes = append(fixes, fix{text: fmt.Sprintf("no node has %s %s allocatable (%s): add a node that large, or request at most that", qty(res, e.req[res]), res, largest), rank: rankCapacity})
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
	reducible := true
	for _, res := range best.lack.names() {
		free := max(best.n.free(res), 0)
		if res == corev1.ResourcePods || free <= 0 {
			reducible = false
			break
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
		fixes = append(fixes, fix{text: fmt.Sprintf("reduce %s: node %s has %s free", strings.Join(changes, " and "), best.n.node.Name, strings.Join(has, ", ")), rank: rankReduce, unlocks: fits})
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
