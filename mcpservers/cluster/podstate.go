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

// quoteMessage keeps a message from a container or the kubelet as it was written, for evidence:
// surrounding space trimmed, lines joined with " | " (evidence is one line), and, past 600 bytes,
// the last lines that fit (a program's error comes last) after "… ".
func quoteMessage(m string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(m), "\n") {
		if l = strings.TrimRight(l, " \t\r"); strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	out := strings.Join(lines, " | ")
	if len(out) <= 600 {
		return out
	}
	kept, size := []string{}, 0
	for i := len(lines) - 1; i >= 0; i-- {
		if size+len(lines[i]) > 600 {
			break
		}
		kept = append([]string{lines[i]}, kept...)
		size += len(lines[i]) + 3
	}
	if len(kept) == 0 { // one long line: keep its end
		last := lines[len(lines)-1]
		cut := len(last) - 600
		for cut < len(last) && last[cut]&0xC0 == 0x80 {
			cut++
		}
		kept = []string{last[cut:]}
	}
	return "… " + strings.Join(kept, " | ")
}

// exitPhrase says how a container ended, with its message verbatim: `exit 1: "initdb: error:
// ..."`, `OOMKilled, exit 137`.
func exitPhrase(t *corev1.ContainerStateTerminated) string {
	out := fmt.Sprintf("exit %d", t.ExitCode)
	if t.Reason != "" && t.Reason != "Error" && t.Reason != "Completed" {
		out = t.Reason + ", " + out
	}
	if m := quoteMessage(t.Message); m != "" {
		out += `: "` + m + `"`
	}
	return out
}

// podTrouble says what is wrong with a pod that is not ready, in a phrase that follows its name
// ("crashloops (exit 1: \"...\")", "was OOMKilled (exit 137)", "is Pending: 0/3 nodes are
// available ..."), and the status fields it rests on, verbatim. It returns "" for a ready pod.
func podTrouble(p *corev1.Pod) (string, []string) {
	if podIsReady(p) {
		return "", nil
	}
	where := "pod " + p.Namespace + "/" + p.Name
	var phrase string
	var evidence []string
	eachContainer(p, func(st *corev1.ContainerStatus, _ *corev1.Container, init bool) {
		if phrase != "" {
			return
		}
		path := statusPath(init, st.Name)
		last := st.LastTerminationState.Terminated
		switch w := st.State.Waiting; {
		case w != nil && w.Reason == "CrashLoopBackOff":
			phrase = "crashloops"
			if last != nil {
				phrase += " (" + exitPhrase(last) + ")"
				evidence = append(evidence, where+": "+terminatedEvidence(path, "lastState.terminated", last, st.RestartCount))
			}
		case st.State.Terminated != nil && st.State.Terminated.ExitCode != 0:
			phrase = "exited (" + exitPhrase(st.State.Terminated) + ")"
			evidence = append(evidence, where+": "+terminatedEvidence(path, "state.terminated", st.State.Terminated, st.RestartCount))
		case w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing":
			phrase = "waits in " + w.Reason
			if w.Message != "" {
				phrase += ` ("` + quoteMessage(w.Message) + `")`
			}
			evidence = append(evidence, fmt.Sprintf("%s: %s.state.waiting: reason=%s message=%s", where, path, w.Reason, quoteMessage(w.Message)))
		case last != nil && last.Reason == "OOMKilled":
			phrase = "was OOMKilled (" + exitPhrase(last) + ")"
			evidence = append(evidence, where+": "+terminatedEvidence(path, "lastState.terminated", last, st.RestartCount))
		case !init && st.State.Running != nil && !st.Ready:
			phrase = "runs but is not ready"
			if last != nil {
				phrase += " (last ended " + exitPhrase(last) + ")"
				evidence = append(evidence, where+": "+terminatedEvidence(path, "lastState.terminated", last, st.RestartCount))
			}
		}
	})
	if phrase == "" {
		phrase = "is " + unreadyReason(p)
		if c := podCondition(p, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
			evidence = append(evidence, fmt.Sprintf("%s: status.conditions[PodScheduled]: reason=%s message=%s", where, orNone(c.Reason), quoteMessage(c.Message)))
		}
	}
	return phrase, evidence
}
