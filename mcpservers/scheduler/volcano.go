package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/opsmesh/opsmesh/api/contract"
)

// Volcano's API (scheduling.volcano.sh), read through the dynamic client. The fields read are
// PodGroup spec.minMember, spec.queue, status.phase, status.conditions, status.running, and Queue
// spec.weight, spec.capability, status.state, status.pending, status.running, status.inqueue.
const (
	volcanoGroup      = "scheduling.volcano.sh"
	volcanoScheduler  = "volcano"
	groupNameKey      = "scheduling.k8s.io/group-name" // the annotation naming a pod's PodGroup
	defaultVolcanoQue = "default"
)

func volcanoGVR(version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: volcanoGroup, Version: version, Resource: resource}
}

func (t *tools) volcanoVersion() (string, error) {
	return t.k.served(volcanoGroup, "podgroups", "v1beta1")
}

// volcanoFor reports a pod's PodGroup (gang) and Queue.
func (t *tools) volcanoFor(ctx context.Context, tg *target, e *evaluation) (*queueReport, error) {
	pod := tg.pod
	group := pod.Annotations[groupNameKey]
	if group == "" {
		group = pod.Labels[groupNameKey]
	}
	version, err := t.volcanoVersion()
	if err != nil {
		return nil, err
	}
	if version == "" {
		rep := &queueReport{section: "Volcano: not installed (no scheduling.volcano.sh CRDs).\n"}
		if pod.Spec.SchedulerName == volcanoScheduler {
			rep.category = contract.QueueClosed
			rep.verdict = fmt.Sprintf("%s asks for schedulerName %s, but Volcano is not installed, so no scheduler will place it.", podRef(pod), volcanoScheduler)
			rep.fixes = append(rep.fixes, fix{text: "install Volcano, or remove schedulerName: volcano so that kube-scheduler places it", rank: rankQueue})
		}
		return rep, nil
	}
	if group == "" {
		return &queueReport{section: "Volcano: installed; the pod is in no PodGroup.\n"}, nil
	}
	pg, err := t.k.dynGet(ctx, volcanoGVR(version, "podgroups"), tg.ns, group)
	if err != nil {
		return nil, err
	}
	rep := &queueReport{}
	var b strings.Builder
	defer func() { rep.section = b.String() }()
	pgRef := "PodGroup " + tg.ns + "/" + group
	if pg == nil {
		fmt.Fprintf(&b, "Volcano (%s/%s): the pod names %s (annotation %s), which does not exist.\n", volcanoGroup, version, pgRef, groupNameKey)
		rep.category = contract.QueueClosed
		rep.verdict = fmt.Sprintf("%s belongs to %s, which does not exist, so Volcano will not schedule it.", podRef(pod), pgRef)
		rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("create %s, or correct the pod's %s annotation", pgRef, groupNameKey), rank: rankQueue})
		return rep, nil
	}
	o := pg.Object
	minMember, _ := num(o, "spec", "minMember")
	queue := str(o, "spec", "queue")
	if queue == "" {
		queue = defaultVolcanoQue
	}
	phase := str(o, "status", "phase")
	running, _ := num(o, "status", "running")
	fmt.Fprintf(&b, "Volcano (%s/%s): %s in Queue %s, phase %s, minMember %d, running %d.\n", volcanoGroup, version, pgRef, queue, orDash(phase), minMember, running)
	for _, c := range conditions(o) {
		b.WriteString("  " + c.String() + "\n")
	}
	q, err := t.k.dynGet(ctx, volcanoGVR(version, "queues"), "", queue)
	if err != nil {
		return nil, err
	}
	if q == nil {
		rep.category = contract.QueueClosed
		rep.verdict = fmt.Sprintf("%s names Volcano Queue %s, which does not exist, so Volcano does not schedule it.", pgRef, queue)
		rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("create Queue %s, or set spec.queue of %s to an existing Queue", queue, pgRef), rank: rankQueue})
		return rep, nil
	}
	state := str(q.Object, "status", "state")
	fmt.Fprintf(&b, "  Queue %s: state %s\n", queue, orDash(state))
	if state == "Closed" || state == "Closing" {
		open, err := t.openVolcanoQueues(ctx, version, queue)
		if err != nil {
			return nil, err
		}
		rep.category = contract.QueueClosed
		rep.verdict = fmt.Sprintf("%s waits in Volcano Queue %s, which is %s, so Volcano admits no new PodGroups from it.", pgRef, queue, state)
		rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("open Queue %s (vcctl queue operate --name %s --action open)", queue, queue), rank: rankQueue})
		if len(open) > 0 {
			rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("or move %s to an open Queue (spec.queue): %s", pgRef, strings.Join(open, ", ")), rank: rankQueue})
		}
		return rep, nil
	}
	// The gang: can minMember pods be placed at once?
	var members, bound, pending int64
	err = t.k.pods(ctx, tg.ns, func(p *corev1.Pod) {
		if terminated(p) || (p.Annotations[groupNameKey] != group && p.Labels[groupNameKey] != group) {
			return
		}
		members++
		if p.Spec.NodeName != "" {
			bound++
		} else {
			pending++
		}
	})
	if err != nil {
		return nil, err
	}
	var fitNow int64
	for _, r := range e.results {
		if len(r.fails) > 0 && !r.failsOnly(predResources) {
			continue
		}
		n := int64(-1)
		for _, res := range e.req.names() {
			k := max(r.n.free(res), 0) / e.req[res]
			if n < 0 || k < n {
				n = k
			}
		}
		if n < 0 {
			n = pending // requests nothing
		}
		fitNow += n
	}
	placeable := bound + min(fitNow, pending)
	fmt.Fprintf(&b, "  gang: %d member pods (%d bound, %d pending); %d more fit the nodes now\n", members, bound, pending, fitNow)
	switch {
	case members < minMember:
		rep.category = contract.GangUnsatisfiable
		rep.verdict = fmt.Sprintf("%s needs %d pods placed together (minMember %d), but only %d exist, so Volcano binds none of them.", pgRef, minMember, minMember, members)
		rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("create the missing %d pods (check the job's replicas and its controller), or reduce minMember of %s from %d to %d", minMember-members, pgRef, minMember, members), rank: rankQueue})
	case placeable < minMember:
		rep.category = contract.GangUnsatisfiable
		rep.verdict = fmt.Sprintf("%s needs %d pods placed together (minMember %d), but only %d can be now (%d bound, %d more fit), so Volcano binds none of the rest until all fit.",
			pgRef, minMember, minMember, placeable, bound, min(fitNow, pending))
		if placeable > 0 {
			rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("reduce minMember of %s from %d to %d, if the job can start with that many", pgRef, minMember, placeable), rank: rankQueue + 1})
		}
		rep.fixes = append(rep.fixes, fix{text: fmt.Sprintf("free room for %d more pods of %s each (see the node table), or add nodes", minMember-placeable, reqSummary(e.req)), rank: rankQueue + 2})
	}
	return rep, nil
}

func (t *tools) openVolcanoQueues(ctx context.Context, version, except string) ([]string, error) {
	qs, err := t.k.dynList(ctx, volcanoGVR(version, "queues"), "", false)
	if err != nil {
		return nil, err
	}
	var open []string
	for _, q := range qs {
		if q.GetName() != except && str(q.Object, "status", "state") == "Open" {
			open = append(open, q.GetName())
		}
	}
	return open, nil
}

// volcanoQueueRow summarizes a Volcano Queue for queue_status.
func volcanoQueueRow(q *unstructured.Unstructured) []string {
	o := q.Object
	weight, _ := num(o, "spec", "weight")
	pending, _ := num(o, "status", "pending")
	running, _ := num(o, "status", "running")
	inqueue, _ := num(o, "status", "inqueue")
	capability, _, _ := unstructured.NestedMap(o, "spec", "capability")
	var caps []string
	for _, k := range sortedKeys(capability) {
		caps = append(caps, fmt.Sprintf("%s=%v", shortRes(corev1.ResourceName(k)), capability[k]))
	}
	return []string{q.GetName(), orDash(str(o, "status", "state")), fmt.Sprint(weight), orDash(strings.Join(caps, " ")), fmt.Sprint(pending), fmt.Sprint(inqueue), fmt.Sprint(running)}
}

// volcanoQueueOf is a Volcano Queue as the contract writes it.
func volcanoQueueOf(q *unstructured.Unstructured) contract.VolcanoQueue {
	o := q.Object
	out := contract.VolcanoQueue{Name: q.GetName(), State: str(o, "status", "state")}
	out.Weight, _ = num(o, "spec", "weight")
	out.Pending, _ = num(o, "status", "pending")
	out.Running, _ = num(o, "status", "running")
	out.Inqueue, _ = num(o, "status", "inqueue")
	capability, _, _ := unstructured.NestedMap(o, "spec", "capability")
	for _, k := range sortedKeys(capability) {
		if out.Capability == nil {
			out.Capability = map[string]string{}
		}
		out.Capability[k] = fmt.Sprint(capability[k])
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
