package scheduler_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

// TestGPUFragmentation checks the fleet's known answer: 17 GPUs free of 28 on four schedulable
// nodes (gpu-4 is cordoned), no node with 8 free although 13 free GPUs sit on 8-GPU nodes, and
// gpu-5 the cheapest node to clear for an 8-GPU job (one 1-GPU pod).
func TestGPUFragmentation(t *testing.T) {
	env := fleet(t)
	var d contract.GPUFragmentationReport
	out := connect(t, env, scheduler.Config{}).Data("gpu_fragmentation", nil, &d)
	mustContain(t, out, "nvidia.com/gpu: 17 free of 28 allocatable on 4 schedulable nodes.")
	for size, want := range map[string][]string{"1": {"17", "17"}, "2": {"7", "8"}, "4": {"3", "4"}, "8": {"0", "1"}} {
		if got := fieldsOf(out, size+" "); len(got) != 3 || got[1] != want[0] || got[2] != want[1] {
			t.Errorf("size %s: got %v, want now %s, if consolidated %s:\n%s", size, got, want[0], want[1], out)
		}
	}
	mustContain(t, out, "fragmentation blocks 8-GPU jobs",
		"- gpu-5: 7 free of 8; moving 1 GPU of small pods frees 8: fleet/g (1)",
		"- gpu-1: 5 free of 8; moving 3 GPUs of small pods frees 8: fleet/a (1), fleet/b (2)")
	if strings.Index(out, "- gpu-5:") > strings.Index(out, "- gpu-1:") {
		t.Errorf("gpu-5 (1 GPU to move) is not listed before gpu-1 (3):\n%s", out)
	}
	if got := fieldsOf(out, "gpu-4 "); len(got) < 5 || got[4] != "cordoned" {
		t.Errorf("gpu-4's row = %v, want it shown as cordoned:\n%s", got, out)
	}
	// The structured content holds the same numbers.
	wantSizes := []contract.JobSizeFit{{Size: 1, Now: 17, IfConsolidated: 17}, {Size: 2, Now: 7, IfConsolidated: 8}, {Size: 4, Now: 3, IfConsolidated: 4}, {Size: 8, Now: 0, IfConsolidated: 1}}
	if d.Resource != "nvidia.com/gpu" || d.Free != 17 || d.Allocatable != 28 || d.SchedulableNodes != 4 || !slices.Equal(d.Sizes, wantSizes) || d.Blocked != 8 {
		t.Errorf("structured: %+v, want 17 free of 28 on 4 nodes, sizes %+v, 8 blocked", d, wantSizes)
	}
	if len(d.Clear) < 2 || d.Clear[0].Node != "gpu-5" || d.Clear[0].Move != 1 || len(d.Clear[0].Pods) != 1 || d.Clear[0].Pods[0].Pod != "fleet/g" ||
		d.Clear[0].Pods[0].Resources["nvidia.com/gpu"] != 1 || d.Clear[1].Node != "gpu-1" || d.Clear[1].Move != 3 {
		t.Errorf("nodes to clear: %+v, want gpu-5 (move fleet/g, 1 GPU) then gpu-1 (3)", d.Clear)
	}
	cordoned := slices.IndexFunc(d.Nodes, func(n contract.FragmentationNode) bool { return n.Node == "gpu-4" })
	if len(d.Nodes) != 5 || cordoned < 0 || !d.Nodes[cordoned].Cordoned || d.Nodes[cordoned].Free != 8 {
		t.Errorf("nodes: %+v, want 5 GPU nodes with gpu-4 cordoned and 8 free", d.Nodes)
	}
	mig := connect(t, env, scheduler.Config{}).OK("gpu_fragmentation", map[string]any{"resource": "nvidia.com/mig-1g.10gb", "sizes": []int{1, 2}})
	mustContain(t, mig, "nvidia.com/mig-1g.10gb: 1 free of 7 allocatable on 1 schedulable nodes.", "fleet/mig-user(6)")
}

// fieldsOf returns the whitespace-separated cells of the first line that starts with prefix.
func fieldsOf(text, prefix string) []string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.Fields(l)
		}
	}
	return nil
}

// TestPreemptionCandidates: for an 8-GPU pod of priority 500, evicting fleet/g (1 GPU) from gpu-5
// is the smallest eviction, then fleet/c (7) from gpu-2, then both fleet/a and fleet/b from gpu-1;
// gpu-3 (4 GPUs) and the cordoned gpu-4 are no candidates.
func TestPreemptionCandidates(t *testing.T) {
	env := fleet(t)
	create(t, env.Client, makePod(podSpec{ns: "pred", name: "big", gpus: 8, cpu: "1", tolerate: true, priority: "high",
		mutate: func(p *corev1.Pod) { p.Spec.Priority = ptr.To[int32](500) }}))
	s := connect(t, env, scheduler.Config{})
	var d contract.PreemptionCandidates
	out := s.Data("preemption_candidates", map[string]any{"namespace": "pred", "name": "big"}, &d)
	mustContain(t, out, "priority 500", "3 nodes can make room by preemption")
	var order []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 5 && strings.HasPrefix(f[0], "gpu-") {
			order = append(order, f[0]+" "+f[1]+" "+f[len(f)-1])
		}
	}
	want := []string{"gpu-5 1 fleet/g(0)", "gpu-2 1 fleet/c(0)", "gpu-1 2 fleet/b(0)"}
	if strings.Join(order, "; ") != strings.Join(want, "; ") {
		t.Errorf("candidates = %q, want %q:\n%s", order, want, out)
	}
	mustContain(t, out, "fleet/a(0), fleet/b(0)")
	var nodes []string
	for _, c := range d.Candidates {
		nodes = append(nodes, c.Node)
	}
	if d.Target != "Pod pred/big" || d.Pod != "pred/big" || d.Priority != 500 || d.Verdict != "3 nodes can make room by preemption; fewest evictions first." ||
		!slices.Equal(nodes, []string{"gpu-5", "gpu-2", "gpu-1"}) ||
		!slices.Equal(d.Candidates[0].Victims, []contract.Victim{{Pod: "fleet/g", Priority: 0}}) || d.Candidates[0].Frees["nvidia.com/gpu"] != "1" ||
		len(d.Candidates[2].Victims) != 2 {
		t.Errorf("structured: %+v, want gpu-5 (evict fleet/g), gpu-2, gpu-1 (2 victims)", d)
	}

	exp := s.OK("explain_pending", map[string]any{"namespace": "pred", "name": "big"})
	mustContain(t, exp, "1. reduce nvidia.com/gpu from 8 to 7: node gpu-5 has 7 free",
		"2. evict 1 lower-priority pod on node gpu-5 (fleet/g) to make room",
		"3. uncordon node gpu-4")

	// A pod of priority 0 has nothing of lower priority to evict.
	create(t, env.Client, makePod(podSpec{ns: "pred", name: "small-prio", gpus: 8, cpu: "1", tolerate: true}))
	s.Eventually("preemption_candidates", map[string]any{"namespace": "pred", "name": "small-prio"}, "No eviction makes it fit") // the server's cache sees the new pod
	d = contract.PreemptionCandidates{}
	out = s.Data("preemption_candidates", map[string]any{"namespace": "pred", "name": "small-prio"}, &d)
	mustContain(t, out, "No eviction makes it fit", "the pods of lower priority than 0 do not hold enough")
	if !strings.HasPrefix(d.Verdict, "No eviction makes it fit") || len(d.Candidates) != 0 {
		t.Errorf("structured: %+v, want no candidates", d)
	}
}

// TestSchedulersWord: the PodScheduled condition and FailedScheduling events are read, and the
// message split into node counts per reason, most nodes first.
func TestSchedulersWord(t *testing.T) {
	env := fleet(t)
	c := env.Client
	ctx := context.Background()
	msg := "0/7 nodes are available: 1 node(s) were unschedulable, 4 Insufficient nvidia.com/gpu, 2 node(s) had untolerated taint {nvidia.com/gpu: present}. preemption: 0/7 nodes are available: 7 Preemption is not helpful for scheduling."
	p := makePod(podSpec{ns: "pred", name: "sched-word", gpus: 8, cpu: "1", tolerate: true})
	create(t, c, p)
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: msg, LastTransitionTime: metav1.Now()}}
	if err := c.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	create(t, c, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "pred", Name: "sched-word.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "pred", Name: "sched-word", UID: p.UID},
		Reason:         "FailedScheduling", Message: msg, Type: corev1.EventTypeWarning, Count: 3, FirstTimestamp: now, LastTimestamp: now})
	out := connect(t, env, scheduler.Config{}).OK("explain_pending", map[string]any{"namespace": "pred", "name": "sched-word"})
	mustContain(t, out, "scheduler's word: PodScheduled=False (Unschedulable); FailedScheduling ×3",
		"per reason (of 7 nodes): 4 Insufficient nvidia.com/gpu; 2 node(s) had untolerated taint {nvidia.com/gpu: present}; 1 node(s) were unschedulable")
}

func job(ns, name string, suspend bool, labels map[string]string, gpus int) *batchv1.Job {
	tmpl := makePod(podSpec{gpus: gpus, cpu: "1", tolerate: true})
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: batchv1.JobSpec{Suspend: ptr.To(suspend), Template: corev1.PodTemplateSpec{Spec: tmpl.Spec}}}
}

// ownedPod is a pending pod of an owner, as its controller would create it.
func ownedPod(name string, owner metav1.OwnerReference, gpus int) *corev1.Pod {
	p := makePod(podSpec{ns: "pred", name: name, gpus: gpus, cpu: "1", tolerate: true})
	p.OwnerReferences = []metav1.OwnerReference{owner}
	return p
}

// TestExplainOwners: a Job with pending pods, a suspended Job, a Job waiting for a Kueue that is
// not installed, and the pods of a custom owner kind.
func TestExplainOwners(t *testing.T) {
	env := fleet(t)
	c := env.Client
	trainer := job("pred", "trainer", false, nil, 8)
	held := job("pred", "held", true, nil, 1)
	queuedJob := job("pred", "queued", true, map[string]string{"kueue.x-k8s.io/queue-name": "team-a"}, 1)
	create(t, c, trainer, held, queuedJob)
	ref := metav1.OwnerReference{APIVersion: "batch/v1", Kind: "Job", Name: "trainer", UID: trainer.UID, Controller: ptr.To(true)}
	ptj := metav1.OwnerReference{APIVersion: "kubeflow.org/v1", Kind: "PyTorchJob", Name: "ptj", UID: "0b4e7f3c-1111-2222-3333-444455556666", Controller: ptr.To(true)}
	create(t, c, ownedPod("trainer-0", ref, 8), ownedPod("trainer-1", ref, 8), ownedPod("ptj-worker-0", ptj, 4))
	s := connect(t, env, scheduler.Config{})

	out := s.OK("explain_pending", map[string]any{"namespace": "pred", "name": "trainer", "kind": "job"})
	mustContain(t, out, "Job pred/trainer: 2 of 2 pods pending; evaluating trainer-0",
		"verdict: No node of 7 fits the pods of Job pred/trainer", "1. reduce nvidia.com/gpu from 8 to 7: node gpu-5 has 7 free")

	out = s.OK("explain_pending", map[string]any{"namespace": "pred", "name": "held", "kind": "job"})
	mustContain(t, out, "Job pred/held: no pods yet; evaluating its pod template",
		"verdict: Job pred/held is suspended (spec.suspend: true), so it has no pods to schedule.",
		"1. resume Job pred/held (job_resume)")

	out = s.OK("explain_pending", map[string]any{"namespace": "pred", "name": "queued", "kind": "job"})
	mustContain(t, out, "verdict: Job pred/queued waits for Kueue to admit it into LocalQueue team-a, but Kueue is not installed, so nothing will unsuspend it.",
		"1. install Kueue, or remove the kueue.x-k8s.io/queue-name label and resume the Job (job_resume)")

	out = s.OK("explain_pending", map[string]any{"namespace": "pred", "name": "ptj", "kind": "pytorchjob"})
	mustContain(t, out, "PyTorchJob pred/ptj: Pending", "verdict: 3 of 7 nodes fit the pods of PyTorchJob pred/ptj now (gpu-1, gpu-3, gpu-5)")

	// A Deployment's pods are found through its ReplicaSets.
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "pred", Name: "web"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "webdep"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "webdep"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}}}}}
	create(t, c, dep)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "pred", Name: "web-5d4f",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: dep.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: dep.Spec.Selector, Template: dep.Spec.Template}}
	create(t, c, rs)
	create(t, c, ownedPod("web-5d4f-x7k2p", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d4f", UID: rs.UID, Controller: ptr.To(true)}, 16))
	out = s.OK("explain_pending", map[string]any{"namespace": "pred", "name": "web", "kind": "deployment"})
	mustContain(t, out, "Deployment pred/web: Pending", "verdict: No node of 7 fits the pods of Deployment pred/web",
		"no node has 16 nvidia.com/gpu allocatable (the largest is gpu-1 with 8)")

	s.Fails("explain_pending", map[string]any{"namespace": "pred", "name": "nope", "kind": "job"}, "Job pred/nope not found")
	s.Fails("explain_pending", map[string]any{"namespace": "pred", "name": "nope"}, "pod pred/nope not found")
	s.Fails("explain_pending", map[string]any{"namespace": "pred", "name": "nope", "kind": "workload"}, "Kueue is not installed")
	s.Fails("explain_pending", map[string]any{"namespace": "pred"}, `argument "name" is required`)
	s.Fails("queue_status", map[string]any{"kind": "clusterqueue", "name": "team-a"}, "Kueue is not installed")
	var qs contract.QueueStatus
	mustContain(t, s.Data("queue_status", nil, &qs), "Kueue: not installed", "Volcano: not installed")
	if qs.Kueue == nil || qs.Kueue.Installed || qs.Volcano == nil || qs.Volcano.Installed {
		t.Errorf("structured: Kueue %+v, Volcano %+v; want both not installed", qs.Kueue, qs.Volcano)
	}
}

// TestJobSuspendResume: dry runs change nothing and return the diff; the real writes change the
// Job; a Kueue-managed Job is not resumed behind Kueue's back.
func TestJobSuspendResume(t *testing.T) {
	env := fleet(t)
	c := env.Client
	ctx := context.Background()
	j := job("pred", "writable", false, nil, 1)
	kj := job("pred", "kueue-managed", true, map[string]string{"kueue.x-k8s.io/queue-name": "team-a"}, 1)
	create(t, c, j, kj)
	s := connect(t, env, scheduler.Config{})
	read := func(name string) *batchv1.Job {
		var got batchv1.Job
		if err := c.Get(ctx, client.ObjectKey{Namespace: "pred", Name: name}, &got); err != nil {
			t.Fatal(err)
		}
		return &got
	}
	var ch contract.Change
	out := s.Data("job_suspend", map[string]any{"namespace": "pred", "name": "writable", "dryRun": true}, &ch)
	mustContain(t, out, "dry run of Job pred/writable: suspend false → true", "-  suspend: false", "+  suspend: true")
	if ch.Object != "Job pred/writable" || ch.Summary != "suspend false → true" || !ch.DryRun || ch.NoChange || ch.Deleted ||
		!strings.Contains(ch.Diff, "+  suspend: true") {
		t.Errorf("the dry run's Change = %+v", ch)
	}
	if *read("writable").Spec.Suspend {
		t.Fatal("a dry run suspended the Job")
	}
	mustContain(t, s.OK("job_suspend", map[string]any{"namespace": "pred", "name": "writable"}), "changed Job pred/writable: suspend false → true")
	if !*read("writable").Spec.Suspend {
		t.Fatal("job_suspend did not suspend the Job")
	}
	mustContain(t, s.OK("job_suspend", map[string]any{"namespace": "pred", "name": "writable"}), "nothing to change (already suspended)")
	mustContain(t, s.OK("job_resume", map[string]any{"namespace": "pred", "name": "writable"}), "changed Job pred/writable: suspend true → false")
	if *read("writable").Spec.Suspend {
		t.Fatal("job_resume did not resume the Job")
	}
	rv := read("kueue-managed").ResourceVersion
	s.Fails("job_resume", map[string]any{"namespace": "pred", "name": "kueue-managed"}, "managed by Kueue", "nothing was changed", "clusterqueue_set_quota")
	if read("kueue-managed").ResourceVersion != rv {
		t.Error("a refused job_resume changed the Job")
	}
	s.Fails("job_suspend", map[string]any{"namespace": "pred", "name": "missing"}, "Job pred/missing not found")

	ro := connect(t, env, scheduler.Config{ReadOnly: true})
	for _, name := range ro.ToolNames() {
		switch name {
		case "explain_pending", "queue_status", "gpu_fragmentation", "preemption_candidates":
		default:
			t.Errorf("a read-only server lists %s", name)
		}
	}
	confined := connect(t, env, scheduler.Config{AllowNamespaces: []string{"fleet"}})
	confined.Fails("job_suspend", map[string]any{"namespace": "pred", "name": "writable"}, `namespace "pred" is outside this server's --allow-namespaces (fleet)`)
	confined.Fails("explain_pending", map[string]any{"namespace": "pred", "name": "big"}, "outside this server's --allow-namespaces")
	out = confined.OK("explain_pending", map[string]any{"namespace": "fleet", "name": "a"})
	mustContain(t, out, "is not pending", "bound to node gpu-1")
}

// TestRBACDeniedSaysWhatToGrant: an identity that may not watch nodes gets an error naming the
// verb, the resource and the fix, at once rather than after a cache that never syncs.
func TestRBACDeniedSaysWhatToGrant(t *testing.T) {
	env := fleet(t)
	cfg, err := env.UserConfig("no-rights")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := scheduler.New(ctx, cfg, scheduler.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := mcptest.Connect(t, srv.MCP)
	s.Fails("gpu_fragmentation", nil, "RBAC denied", "nodes", "grant it to this server's ServiceAccount")
	s.Fails("explain_pending", map[string]any{"namespace": "pred", "name": "big"}, "RBAC denied")
}

// TestOutputIsCapped: with a small --max-output the answer stays within it and says that it
// was cut.
func TestOutputIsCapped(t *testing.T) {
	env := fleet(t)
	create(t, env.Client, makePod(podSpec{ns: "pred", name: "capped", gpus: 8, cpu: "1", tolerate: true}))
	out := connect(t, env, scheduler.Config{MaxBytes: 1024}).OK("explain_pending", map[string]any{"namespace": "pred", "name": "capped"})
	if len(out) > 1024 || !strings.Contains(out, "truncated: ") || !strings.HasPrefix(out, "Pod pred/capped") {
		t.Errorf("a 1024-byte cap gave %d bytes:\n%s", len(out), out)
	}
	mustContain(t, out, "verdict: ", "1. reduce nvidia.com/gpu from 8 to 7")
}
