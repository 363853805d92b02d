package runbook

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

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
	var idle contract.IdleGPUs
	if !inv.callData("gpu_idle", args, &idle) {
		return false
	}
	var ev []opsv1.Evidence
	var pods []string
	for _, p := range slices.Concat(idle.Idle, idle.Recent) {
		namespace, pod, _ := strings.Cut(p.Pod, "/")
		if !match(namespace, pod, p.Node) {
			continue
		}
		pods = append(pods, p.Pod)
		if len(ev) < 16 {
			ev = append(ev, evidence("pod/"+p.Pod, fmt.Sprintf("holds GPUs on node %s that are idle (gpu_idle: GPUs %s %s, idle %s%dm)", p.Node, joinInts(p.GPUs), percents(p.UtilizationPercent), atLeast(p.AtLeast), p.IdleMinutes)))
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

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func percents(v []uint32) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprintf("%d%%", n)
	}
	return strings.Join(s, ",")
}

func atLeast(b bool) string {
	if b {
		return "at least "
	}
	return ""
}
