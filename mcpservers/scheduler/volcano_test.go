package scheduler_test

import (
	"testing"

	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

// TestExplainVolcano: a gang of four 4-GPU pods (minMember 4) when the queued cluster's two
// 8-GPU nodes have room for three (kq-gpu-2 already runs a 4-GPU pod), and a PodGroup in a
// closed Queue.
func TestExplainVolcano(t *testing.T) {
	env := queuedCluster(t)
	c := env.Client
	for _, q := range [][2]string{{"default", "Open"}, {"open-q", "Open"}, {"closed-q", "Closed"}} {
		createWithStatus(t, c, fromYAML(t, "{apiVersion: scheduling.volcano.sh/v1beta1, kind: Queue, metadata: {name: %s}, spec: {weight: 1, capability: {nvidia.com/gpu: 16}}, status: {state: %s}}", q[0], q[1]))
	}
	createWithStatus(t, c, fromYAML(t, `{apiVersion: scheduling.volcano.sh/v1beta1, kind: PodGroup, metadata: {name: gang, namespace: vc},
  spec: {minMember: 4, queue: open-q},
  status: {phase: Pending, conditions: [{type: Unschedulable, status: "True", reason: NotEnoughResources, message: "4/4 tasks in gang unschedulable: pod group is not ready, 4 Pending, 4 minAvailable", lastTransitionTime: "2026-12-01T19:00:00Z"}]}}`))
	createWithStatus(t, c, fromYAML(t, `{apiVersion: scheduling.volcano.sh/v1beta1, kind: PodGroup, metadata: {name: closed-gang, namespace: vc},
  spec: {minMember: 1, queue: closed-q}, status: {phase: Pending}}`))
	member := map[string]string{"scheduling.k8s.io/group-name": "gang"}
	for _, name := range []string{"gang-0", "gang-1", "gang-2", "gang-3"} {
		p := makePod(podSpec{ns: "vc", name: name, gpus: 4, cpu: "1", annotations: member})
		p.Spec.SchedulerName = "volcano"
		create(t, c, p)
	}
	p := makePod(podSpec{ns: "vc", name: "closed-0", gpus: 1, cpu: "1", annotations: map[string]string{"scheduling.k8s.io/group-name": "closed-gang"}})
	p.Spec.SchedulerName = "volcano"
	create(t, c, p)

	s := connect(t, env, scheduler.Config{})
	out := s.OK("explain_pending", map[string]any{"namespace": "vc", "name": "gang-0"})
	mustContain(t, out,
		"Volcano (scheduling.volcano.sh/v1beta1): PodGroup vc/gang in Queue open-q, phase Pending, minMember 4, running 0.",
		"Unschedulable=True (NotEnoughResources): 4/4 tasks in gang unschedulable",
		"gang: 4 member pods (0 bound, 4 pending); 3 more fit the nodes now",
		"verdict: PodGroup vc/gang needs 4 pods placed together (minMember 4), but only 3 can be now (0 bound, 3 more fit), so Volcano binds none of the rest until all fit.",
		"1. reduce minMember of PodGroup vc/gang from 4 to 3, if the job can start with that many",
		"scheduler volcano")

	categoryIs(t, s, map[string]any{"namespace": "vc", "name": "gang-0"}, "GangUnsatisfiable")
	categoryIs(t, s, map[string]any{"namespace": "vc", "name": "closed-0"}, "QueueClosed")
	out = s.OK("explain_pending", map[string]any{"namespace": "vc", "name": "closed-0"})
	mustContain(t, out,
		"verdict: PodGroup vc/closed-gang waits in Volcano Queue closed-q, which is Closed, so Volcano admits no new PodGroups from it.",
		"1. open Queue closed-q (vcctl queue operate --name closed-q --action open)",
		"2. or move PodGroup vc/closed-gang to an open Queue (spec.queue): default, open-q")

	out = s.OK("queue_status", map[string]any{"kind": "volcano", "name": "open-q"})
	mustContain(t, out, "Volcano Queue open-q: state Open, weight 1, capability gpu=16", "vc/gang", "Unschedulable=True")
	if row := fieldsOf(s.OK("queue_status", map[string]any{"kind": "volcano"}), "closed-q "); len(row) < 2 || row[1] != "Closed" {
		t.Errorf("closed-q row = %v, want state Closed", row)
	}
}
