package scheduler

// Who holds what a pending pod lacks: on the nodes it may use whose resources are only taken
// (takenOnly), the pods that hold them, with their owners and priorities, and the scheduler's
// Preempted events about the pending pod's siblings (the pod it replaces was evicted for one of
// them). A pod that waits for GPUs a higher-priority job took is explained by naming that job.

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxHolders bounds the pods a verdict names per node.
const maxHolders = 3

// holdersWords says who holds what the pod lacks on the nodes it may use (at most two nodes),
// "" when no such node. It names each holder's owner and priority class, and whether its
// priority is above the pending pod's (then the scheduler may not preempt it for this pod).
func holdersWords(e *evaluation) string {
	if e == nil {
		return ""
	}
	prio := priorityOf(e.pod)
	var parts []string
	for _, r := range e.results {
		if len(parts) == 2 {
			break
		}
		if !r.failsOnly(predResources) || !takenOnly(r, e.req) {
			continue
		}
		lacked := r.lack.names()
		var held []string
		more := 0
		// in a stable order: the cache lists a node's pods in no particular one
		pods := slices.Clone(r.n.pods)
		slices.SortFunc(pods, func(a, b *corev1.Pod) int {
			return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
		})
		for _, p := range pods {
			req := podRequests(&p.Spec)
			if p.UID == e.pod.UID || !slices.ContainsFunc(lacked, func(res corev1.ResourceName) bool { return req[res] > 0 }) {
				continue
			}
			if len(held) == maxHolders {
				more++
				continue
			}
			held = append(held, holderWords(p, prio))
		}
		if len(held) == 0 {
			continue
		}
		if more > 0 {
			held = append(held, fmt.Sprintf("%d more", more))
		}
		names := make([]string, len(lacked))
		for i, res := range lacked {
			names[i] = string(res)
		}
		parts = append(parts, fmt.Sprintf("on node %s the %s it lacks is held by %s", r.n.node.Name, strings.Join(names, " and "), strings.Join(held, "; ")))
	}
	return strings.Join(parts, "; ")
}

// holderWords names pod p: its owner, its priority class and how its priority compares with prio.
func holderWords(p *corev1.Pod, prio int32) string {
	w := "pod " + p.Namespace + "/" + p.Name
	if c := metav1.GetControllerOfNoCopy(p); c != nil {
		w += fmt.Sprintf(" (of %s %s)", c.Kind, c.Name)
	}
	pc := p.Spec.PriorityClassName
	switch theirs := priorityOf(p); {
	case theirs > prio:
		w += fmt.Sprintf(", priorityClassName %s (priority %d, above this pod's %d, so it is not preempted for it)", orNone(pc), theirs, prio)
	case pc != "":
		w += fmt.Sprintf(", priorityClassName %s (priority %d)", pc, theirs)
	}
	return w
}

// preemptedBy reads the scheduler's Preempted event message: "Preempted by pod <uid> on node
// <node>" (the preemptor's UID), or "Preempted by a pod on node <node>".
var preemptedBy = regexp.MustCompile(`Preempted by (?:pod ([0-9a-f-]{36})|a pod) on node (\S+)`)

// preemptions says which pods of the pending pod's owner the scheduler preempted lately, and
// for which pod, when it can tell (the preemptor's UID among the pods it sees); "" when none.
func (t *tools) preemptions(ctx context.Context, pod *corev1.Pod, v *clusterView) string {
	owner := metav1.GetControllerOfNoCopy(pod)
	if owner == nil {
		return ""
	}
	var said []string
	err := t.k.each(ctx, grEvents, false, &corev1.Event{}, &corev1.EventList{}, pod.Namespace, func(o any) {
		e := o.(*corev1.Event)
		if e.Reason != "Preempted" || e.InvolvedObject.Kind != "Pod" || e.InvolvedObject.Name == pod.Name ||
			!strings.HasPrefix(e.InvolvedObject.Name, owner.Name+"-") {
			return
		}
		m := preemptedBy.FindStringSubmatch(e.Message)
		if m == nil {
			return
		}
		by := "a pod of higher priority"
		if p := v.podByUID(m[1]); p != nil {
			by = holderWords(p, priorityOf(pod))
		}
		said = append(said, fmt.Sprintf("the scheduler preempted pod %s on node %s for %s", e.InvolvedObject.Name, m[2], by))
	})
	if err != nil {
		return ""
	}
	slices.Sort(said)
	if len(said) > 2 {
		said = append(said[:2], fmt.Sprintf("%d more", len(said)-2))
	}
	return strings.Join(said, "; ")
}

// podByUID is the pod of the view with uid, or nil.
func (v *clusterView) podByUID(uid string) *corev1.Pod {
	if v == nil || uid == "" {
		return nil
	}
	for _, p := range v.pods {
		if string(p.UID) == uid {
			return p
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// upperFirst starts s with a capital letter.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
