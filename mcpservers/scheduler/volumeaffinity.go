package scheduler

// A volume node affinity conflict: the pod's claim is bound to a PersistentVolume whose
// spec.nodeAffinity allows no node the pod could use (a local volume whose node is gone, cordoned
// or otherwise closed to the pod). The volume is the cause; the nodes it names, and whether each
// exists, the evidence. The data lives on that node, so the fix brings the node back or moves the
// data; deleting the claim is not offered lightly.

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/opsmesh/opsmesh/api/contract"
)

// affinityConflictWords is what kube-scheduler's VolumeBinding plugin says of such a node.
const affinityConflictWords = "volume node affinity conflict"

// volumeAffinityCause establishes the bound volume whose node affinity keeps the pod off every
// node: one that no schedulable node matches, or, when the scheduler reports a volume node
// affinity conflict, the one the fewest schedulable nodes match. Nil when no node fails on a
// volume's affinity, or some node fits.
func volumeAffinityCause(e *evaluation, v *clusterView, tg *target, sched *schedWord) *nodeCause {
	if len(e.bound) == 0 || len(e.fitting()) > 0 || e.volumeFailure != nil || len(v.nodes) == 0 {
		return nil
	}
	said := sched != nil && strings.Contains(sched.message, affinityConflictWords)
	var best *boundVolume
	bestOpen := -1
	var bestNodes []string
	for i := range e.bound {
		b := &e.bound[i]
		var open []string // schedulable nodes the volume allows
		for _, n := range v.nodes {
			if b.sel.Match(n.node) && !n.node.Spec.Unschedulable {
				open = append(open, n.node.Name)
			}
		}
		if bestOpen < 0 || len(open) < bestOpen {
			best, bestOpen, bestNodes = b, len(open), open
		}
	}
	if bestOpen > 0 {
		// The volume allows a schedulable node: a conflict only when the scheduler says so and
		// every node it allows fails on something else too.
		if !said {
			return nil
		}
		for _, r := range e.results {
			if slices.Contains(bestNodes, r.n.node.Name) && r.failing(predVolumes) == nil && len(r.fails) == 0 {
				return nil
			}
		}
	}
	pv := best.volume
	ref := "PersistentVolume " + pv.Name
	claim := "PersistentVolumeClaim " + e.pod.Namespace + "/" + best.claim
	terms := nodeSelectorWords(pv.Spec.NodeAffinity.Required)
	required := requiredNodeNames(pv.Spec.NodeAffinity.Required)
	var missing, states []string
	cordoned := false
	for _, name := range required {
		n := nodeNamed(v, name)
		switch {
		case n == nil:
			missing = append(missing, name)
			states = append(states, fmt.Sprintf("node %s does not exist (the cluster has %d nodes)", name, len(v.nodes)))
		case n.Spec.Unschedulable:
			cordoned = true
			states = append(states, fmt.Sprintf("node %s exists but is cordoned", n.Name))
		default:
			detail := "exists"
			for _, r := range e.results {
				if r.n.node == n && len(r.fails) > 0 {
					detail = "exists but " + lacks(r, e.req)
				}
			}
			states = append(states, fmt.Sprintf("node %s %s", n.Name, detail))
		}
	}
	// The cause's category: a node that is gone is a missing reference; a cordoned one keeps the
	// pod off with its node.kubernetes.io/unschedulable taint. Otherwise no cause category fits
	// (the node fails the pod's other checks, which the verdict names) and the cause is said in
	// the verdict alone.
	category := ""
	switch {
	case len(missing) > 0:
		category = contract.ReferenceMissing
	case cordoned:
		category = contract.TaintNotTolerated
	}
	allows := "allows no schedulable node"
	if bestOpen > 0 {
		allows = fmt.Sprintf("allows only %s, which fail%s the pod's other checks", nodeList(bestNodes), plural(bestNodes))
	}
	where := "nodes matching " + terms
	if len(required) > 0 {
		where = nodeList(required)
	}
	state := strings.Join(states, "; ")
	if state == "" {
		state = fmt.Sprintf("no node of %d matches it", len(v.nodes))
	}
	c := &contract.Cause{
		Category: category,
		Object:   "persistentvolume/" + pv.Name,
		Field:    "spec.nodeAffinity",
		Summary: fmt.Sprintf("%s, bound to claim %s of %s, may be used only on %s (%s), and %s: %s; %s",
			ref, best.claim, tg.ref, where, terms, allows, state, affinityConflictWords),
		Evidence: []string{fmt.Sprintf("%s spec.nodeAffinity.required: %s", ref, terms),
			fmt.Sprintf("%s spec.volumeName: %s; storageClassName %q", claim, pv.Name, best.class)},
	}
	if src := volumeSource(pv); src != "" {
		c.Evidence = append(c.Evidence, ref+" "+src)
	}
	c.Evidence = append(c.Evidence, states...)
	if said {
		c.Evidence = append(c.Evidence, "scheduler: "+sched.message)
	}
	var fixText string
	switch {
	case len(missing) > 0:
		fixText = fmt.Sprintf("the data of %s lives on node %s (a node-local volume), which no longer exists: bring node %s back (same name, same disk) and the pod runs there; "+
			"if it is gone for good, restore the data elsewhere (from a backup or a replica) and recreate %s and %s for a node that exists — "+
			"deleting the claim alone does not move the data, and with a Delete reclaim policy it discards the volume",
			ref, strings.Join(missing, ", "), strings.Join(missing, ", "), ref, claim)
	default:
		fixText = fmt.Sprintf("the data of %s lives on %s (%s): make that node usable for the pod again (%s), "+
			"or restore the data on another node and recreate %s and %s there — do not delete the claim before the data is safe",
			ref, where, terms, state, ref, claim)
	}
	c.Fix = &contract.Fix{Text: fixText}
	who := tg.ref
	if !strings.HasPrefix(tg.ref, "Pod ") {
		who = "the pods of " + tg.ref
	}
	verdict := fmt.Sprintf("No node can run %s: its claim %s is bound to %s, whose nodeAffinity (%s) %s: %s (%s).",
		who, best.claim, ref, terms, allows, state, affinityConflictWords)
	if category == "" {
		c = nil
	}
	return &nodeCause{verdict: verdict, category: contract.SchedulingConstraint, cause: c,
		fixes: []fix{{text: fixText, rank: rankVolume, unlocks: len(required)}}}
}

// requiredNodeNames lists the node names a node selector requires: the values of
// kubernetes.io/hostname In and of the field metadata.name In.
func requiredNodeNames(sel *corev1.NodeSelector) []string {
	var out []string
	for _, t := range sel.NodeSelectorTerms {
		for _, x := range t.MatchExpressions {
			if x.Key == corev1.LabelHostname && x.Operator == corev1.NodeSelectorOpIn {
				out = append(out, x.Values...)
			}
		}
		for _, x := range t.MatchFields {
			if x.Key == "metadata.name" && x.Operator == corev1.NodeSelectorOpIn {
				out = append(out, x.Values...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// nodeNamed finds the node with name, or with that kubernetes.io/hostname label.
func nodeNamed(v *clusterView, name string) *corev1.Node {
	if n := v.byName[name]; n != nil {
		return n.node
	}
	for _, n := range v.nodes {
		if n.node.Labels[corev1.LabelHostname] == name {
			return n.node
		}
	}
	return nil
}

// nodeSelectorWords renders a node selector: "kubernetes.io/hostname In [node-7]", terms joined
// by " or ".
func nodeSelectorWords(sel *corev1.NodeSelector) string {
	var terms []string
	for _, t := range sel.NodeSelectorTerms {
		var parts []string
		for _, x := range t.MatchExpressions {
			parts = append(parts, fmt.Sprintf("%s %s [%s]", x.Key, x.Operator, strings.Join(x.Values, ", ")))
		}
		for _, x := range t.MatchFields {
			parts = append(parts, fmt.Sprintf("field %s %s [%s]", x.Key, x.Operator, strings.Join(x.Values, ", ")))
		}
		terms = append(terms, strings.Join(parts, " and "))
	}
	return strings.Join(terms, " or ")
}

// volumeSource says where a node-bound volume's data is: "spec.local.path: /mnt/disks/ssd1".
func volumeSource(pv *corev1.PersistentVolume) string {
	switch {
	case pv.Spec.Local != nil:
		return "spec.local.path: " + pv.Spec.Local.Path
	case pv.Spec.HostPath != nil:
		return "spec.hostPath.path: " + pv.Spec.HostPath.Path
	case pv.Spec.CSI != nil:
		return "spec.csi: driver " + pv.Spec.CSI.Driver + ", volumeHandle " + pv.Spec.CSI.VolumeHandle
	}
	return ""
}
