package cluster

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"

	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// What describe and workload_health say about a pod's containers: why it is not ready, how its
// containers last ended, what it asks of a node.

// lastTermination is how a pod's most recently ended container ended: "Error (exit 1)", or ""
// when none has ended. With several containers the container is named.
func lastTermination(p *corev1.Pod) string {
	var best *corev1.ContainerStateTerminated
	bestName := ""
	for i := range p.Status.ContainerStatuses {
		s := &p.Status.ContainerStatuses[i]
		for _, t := range []*corev1.ContainerStateTerminated{s.State.Terminated, s.LastTerminationState.Terminated} {
			if t != nil && (best == nil || t.FinishedAt.After(best.FinishedAt.Time)) {
				best, bestName = t, s.Name
			}
		}
	}
	if best == nil {
		return ""
	}
	out := termination(best)
	if len(p.Spec.Containers) > 1 {
		out = bestName + ": " + out
	}
	return out
}

// termination formats a container's end: "OOMKilled (exit 137)", "exit 1", "signal 9".
func termination(t *corev1.ContainerStateTerminated) string {
	code := fmt.Sprintf("exit %d", t.ExitCode)
	if t.Signal != 0 && t.ExitCode == 0 {
		code = fmt.Sprintf("signal %d", t.Signal)
	}
	if t.Reason == "" {
		return code
	}
	return t.Reason + " (" + code + ")"
}

// waitingReason is the first reason a container (init containers first) of the pod is waiting
// for, with the container named when the pod has several.
func waitingReason(p *corev1.Pod) string {
	for _, s := range p.Status.InitContainerStatuses {
		if s.State.Waiting != nil && s.State.Waiting.Reason != "" && s.State.Waiting.Reason != "PodInitializing" {
			return "init " + s.Name + ": " + s.State.Waiting.Reason
		}
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Waiting != nil && s.State.Waiting.Reason != "" {
			if len(p.Spec.Containers) > 1 {
				return s.Name + ": " + s.State.Waiting.Reason
			}
			return s.State.Waiting.Reason
		}
	}
	if c := podCondition(p, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse && c.Reason != "" {
		return c.Reason
	}
	return ""
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// podIsReady reports whether the pod's Ready condition is true.
func podIsReady(p *corev1.Pod) bool {
	c := podCondition(p, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func podTerminated(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// unreadyReason says in a few words why a pod is not ready: "CrashLoopBackOff (exit 1)",
// "Pending: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", "Running, not ready".
func unreadyReason(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, s := range p.Status.InitContainerStatuses {
		switch {
		case s.State.Waiting != nil && s.State.Waiting.Reason != "" && s.State.Waiting.Reason != "PodInitializing":
			return "Init:" + s.State.Waiting.Reason + lastExit(s.LastTerminationState.Terminated)
		case s.State.Terminated != nil && s.State.Terminated.ExitCode != 0:
			return "Init:" + termination(s.State.Terminated)
		}
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Waiting != nil && s.State.Waiting.Reason != "" && s.State.Waiting.Reason != "ContainerCreating" {
			return s.State.Waiting.Reason + lastExit(s.LastTerminationState.Terminated)
		}
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Terminated != nil && s.State.Terminated.ExitCode != 0 {
			return termination(s.State.Terminated)
		}
	}
	switch p.Status.Phase {
	case corev1.PodPending, "":
		if c := podCondition(p, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
			if c.Message != "" {
				return "Pending: " + oneLine(c.Message, 200)
			}
			return "Pending: " + orNone(c.Reason)
		}
		for _, s := range p.Status.ContainerStatuses {
			if s.State.Waiting != nil && s.State.Waiting.Reason != "" {
				return "Pending: " + s.State.Waiting.Reason
			}
		}
		if p.Spec.NodeName == "" {
			return "Pending: not scheduled yet"
		}
		return "Pending"
	case corev1.PodFailed:
		if p.Status.Reason != "" {
			return "Failed: " + p.Status.Reason
		}
		return "Failed"
	case corev1.PodSucceeded:
		return "Succeeded"
	}
	return string(p.Status.Phase) + ", not ready"
}

// lastExit is " (exit N)" for the last termination, with its reason when it says more than Error.
func lastExit(t *corev1.ContainerStateTerminated) string {
	if t == nil {
		return ""
	}
	if t.Reason != "" && t.Reason != "Error" && t.Reason != "Completed" {
		return " (" + t.Reason + ", exit " + strconv.Itoa(int(t.ExitCode)) + ")"
	}
	return " (exit " + strconv.Itoa(int(t.ExitCode)) + ")"
}

// summarizeUnready counts the unready pods by reason, most common first (then by name):
// "2 pods CrashLoopBackOff (exit 1), 1 pod Pending: 0/3 nodes are available".
func summarizeUnready(pods []*corev1.Pod) string {
	counts := map[string]int{}
	var order []string
	for _, p := range pods {
		if podIsReady(p) || p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		r := unreadyReason(p)
		if counts[r] == 0 {
			order = append(order, r)
		}
		counts[r]++
	}
	sort.Slice(order, func(i, j int) bool {
		if counts[order[i]] != counts[order[j]] {
			return counts[order[i]] > counts[order[j]]
		}
		return order[i] < order[j]
	})
	parts := make([]string, len(order))
	for i, r := range order {
		noun := "pods"
		if counts[r] == 1 {
			noun = "pod"
		}
		parts[i] = fmt.Sprintf("%d %s %s", counts[r], noun, r)
	}
	return strings.Join(parts, ", ")
}

// podTable renders pods with the facts that say why they are (not) ready.
func podTable(pods []*corev1.Pod, max int) string {
	if len(pods) == 0 {
		return "Pods: <none>\n"
	}
	sorted := append([]*corev1.Pod(nil), pods...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	tbl := mcptool.Table{Header: []string{"NAME", "READY", "STATUS", "RESTARTS", "LAST-TERMINATION", "WAITING-REASON", "NODE", "AGE"}}
	for _, p := range sorted {
		tbl.Add(p.Name, podReady(p), podStatus(p), strconv.Itoa(int(podRestarts(p))),
			orNone(lastTermination(p)), orNone(waitingReason(p)), orNone(p.Spec.NodeName), age(p.CreationTimestamp))
	}
	return fmt.Sprintf("Pods (%d):\n", len(pods)) + tbl.Render(max)
}

// podRequests is what a pod asks of its node, as the scheduler counts it: the larger of its app
// containers (with sidecars) and its heaviest init step, plus the pod's overhead.
func podRequests(p *corev1.Pod) corev1.ResourceList {
	reqs := corev1.ResourceList{}
	for _, c := range p.Spec.Containers {
		addResources(reqs, c.Resources.Requests)
	}
	sidecars := corev1.ResourceList{}
	initMax := corev1.ResourceList{}
	for _, c := range p.Spec.InitContainers {
		step := corev1.ResourceList{}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addResources(reqs, c.Resources.Requests)
			addResources(sidecars, c.Resources.Requests)
			addResources(step, sidecars)
		} else {
			addResources(step, c.Resources.Requests)
			addResources(step, sidecars)
		}
		for name, q := range step {
			if cur, ok := initMax[name]; !ok || q.Cmp(cur) > 0 {
				initMax[name] = q.DeepCopy()
			}
		}
	}
	for name, q := range initMax {
		if cur, ok := reqs[name]; !ok || q.Cmp(cur) > 0 {
			reqs[name] = q.DeepCopy()
		}
	}
	addResources(reqs, p.Spec.Overhead)
	return reqs
}

func addResources(into, add corev1.ResourceList) {
	for name, q := range add {
		cur := into[name]
		cur.Add(q)
		into[name] = cur
	}
}

// quantity formats a quantity for reading; zero as 0.
func quantity(q apiresource.Quantity) string {
	if q.IsZero() {
		return "0"
	}
	return q.String()
}
