package scheduler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

// The queued control plane runs Kueue's real CRDs (sigs.k8s.io/kueue v0.17.0, read from the
// module cache) and the test-only Volcano CRDs, with two 8-GPU nodes, and these objects, their
// status set as Kueue's and Volcano's controllers would:
//
//	ClusterQueue team-a   cohort research, flavor h100: nvidia.com/gpu 32 nominal, borrowingLimit 0, 32 used
//	ClusterQueue team-b   cohort research, flavor h100: nvidia.com/gpu 16 nominal, 4 used
//	ClusterQueue team-stop  stopPolicy Hold
//	ClusterQueue team-w   for the write tests
//	LocalQueues ml/team-a, ml/team-b, ml/stopped, ml/team-w
//	Job ml/train (suspended; 8 GPUs) and its Workload ml/job-train-1a2b3 (priority 100, not admitted)
//	Workload ml/wl-low (priority 0, older, team-a), ml/wl-nolq (LocalQueue missing-q),
//	ml/wl-stopped (team-stop), ml/wl-fpga (asks for a resource team-b has no quota for)
var queuedOnce sync.Once

const clusterQueueYAML = `
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: %s}
spec:
  cohortName: research
  namespaceSelector: {}
  stopPolicy: %s
  resourceGroups:
  - coveredResources: [cpu, memory, nvidia.com/gpu]
    flavors:
    - name: h100
      resources:
      - {name: cpu, nominalQuota: "64"}
      - {name: memory, nominalQuota: 256Gi}
      - {name: nvidia.com/gpu, nominalQuota: "%d"%s}
status:
  pendingWorkloads: 2
  reservingWorkloads: %d
  admittedWorkloads: %d
  flavorsUsage:
  - name: h100
    resources:
    - {name: cpu, total: "4"}
    - {name: memory, total: 16Gi}
    - {name: nvidia.com/gpu, total: "%d"}
`

const workloadYAML = `
apiVersion: kueue.x-k8s.io/v1beta2
kind: Workload
metadata:
  name: %s
  namespace: ml
spec:
  queueName: %s
  priority: %d
  podSets:
  - name: main
    count: 1
    template:
      spec:
        restartPolicy: Never
        containers:
        - name: main
          image: registry.example/train:1
          resources:
            requests: {cpu: "1", %s: "%d"}
            limits: {%s: "%d"}
status:
  conditions:
  - type: QuotaReserved
    status: "False"
    reason: Pending
    message: "%s"
    lastTransitionTime: "2026-12-01T19:00:00Z"
`

func queuedCluster(t *testing.T) *testbed.Env {
	t.Helper()
	env := queued.Env(t)
	queuedOnce.Do(func() {
		c := env.Client
		makeNode(t, c, nodeSpec{name: "kq-gpu-1", cpu: "64", gpus: 8})
		makeNode(t, c, nodeSpec{name: "kq-gpu-2", cpu: "64", gpus: 8})
		for _, ns := range []string{"ml", "vc"} {
			ensureNamespace(t, c, ns)
		}
		create(t, c, makePod(podSpec{ns: "vc", name: "busy", node: "kq-gpu-2", gpus: 4, cpu: "1"}))
		createWithStatus(t, c, fromYAML(t, "{apiVersion: kueue.x-k8s.io/v1beta2, kind: ResourceFlavor, metadata: {name: h100}, spec: {}}"))
		for _, cq := range []struct {
			name, stop, borrow string
			nominal, used      int
			admitted           int
		}{
			{"team-a", "None", ", borrowingLimit: \"0\"", 32, 32, 4},
			{"team-b", "None", "", 16, 4, 1},
			{"team-stop", "Hold", "", 8, 0, 0},
			{"team-w", "None", ", borrowingLimit: \"0\"", 8, 0, 0},
		} {
			createWithStatus(t, c, fromYAML(t, clusterQueueYAML, cq.name, cq.stop, cq.nominal, cq.borrow, cq.admitted, cq.admitted, cq.used))
		}
		for _, lq := range [][2]string{{"team-a", "team-a"}, {"team-b", "team-b"}, {"stopped", "team-stop"}, {"team-w", "team-w"}} {
			create(t, c, fromYAML(t, "{apiVersion: kueue.x-k8s.io/v1beta2, kind: LocalQueue, metadata: {name: %s, namespace: ml}, spec: {clusterQueue: %s}}", lq[0], lq[1]))
		}
		const noQuota = "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor h100, 8 more needed"
		createWithStatus(t, c, fromYAML(t, workloadYAML, "wl-low", "team-a", 0, "nvidia.com/gpu", 8, "nvidia.com/gpu", 8, noQuota))
		j := job("ml", "train", true, map[string]string{"kueue.x-k8s.io/queue-name": "team-a"}, 8)
		create(t, c, j)
		w := fromYAML(t, workloadYAML, "job-train-1a2b3", "team-a", 100, "nvidia.com/gpu", 8, "nvidia.com/gpu", 8, noQuota)
		w.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "train", UID: j.UID}})
		createWithStatus(t, c, w)
		createWithStatus(t, c, fromYAML(t, workloadYAML, "wl-nolq", "missing-q", 0, "nvidia.com/gpu", 1, "nvidia.com/gpu", 1, "LocalQueue missing-q doesn't exist"))
		createWithStatus(t, c, fromYAML(t, workloadYAML, "wl-stopped", "stopped", 0, "nvidia.com/gpu", 1, "nvidia.com/gpu", 1, "ClusterQueue team-stop is inactive"))
		createWithStatus(t, c, fromYAML(t, workloadYAML, "wl-fpga", "team-b", 0, "example.com/fpga", 1, "example.com/fpga", 1, "couldn't assign flavors"))
		createWithStatus(t, c, fromYAML(t, workloadYAML, "wl-move", "team-a", 0, "nvidia.com/gpu", 1, "nvidia.com/gpu", 1, noQuota))
		createWithStatus(t, c, fromYAML(t, workloadYAML, "wl-prio", "team-w", 5, "nvidia.com/gpu", 1, "nvidia.com/gpu", 1, "pending"))
	})
	return env
}

// TestExplainKueue: a Job held back by its ClusterQueue's quota, and Workloads whose LocalQueue
// is missing, whose ClusterQueue is stopped, and whose resource has no quota.
func TestExplainKueue(t *testing.T) {
	env := queuedCluster(t)
	s := connect(t, env, scheduler.Config{})

	var d contract.Explanation
	out := s.Data("explain_pending", map[string]any{"namespace": "ml", "name": "train", "kind": "job"}, &d)
	mustContain(t, out,
		"Kueue (kueue.x-k8s.io/v1beta2): Workload ml/job-train-1a2b3 in LocalQueue team-a → ClusterQueue team-a (cohort research).",
		"QuotaReserved=False (Pending): couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor h100, 8 more needed",
		"verdict: Workload ml/job-train-1a2b3 is not admitted: ClusterQueue team-a is at 32/32 nvidia.com/gpu in flavor h100 (borrowing limit 0), and it needs 8 more.",
		"1. raise nominalQuota of nvidia.com/gpu in flavor h100 of ClusterQueue team-a from 32 to 40 (clusterqueue_set_quota)",
		"2. move it to LocalQueue team-b (workload_set_queue): its ClusterQueue team-b has room for nvidia.com/gpu 8, cpu 1 in flavor h100",
		"raise borrowingLimit of nvidia.com/gpu in flavor h100 of ClusterQueue team-a from 0 to 8",
		"position (estimated by priority, then age; the visibility API is not served): 1 of ",
		"Volcano: installed; the pod is in no PodGroup.")
	if row := rowOf(out, "h100", "nvidia.com/gpu"); strings.Join(row, " ") != "h100 nvidia.com/gpu 32 0 32 0 8 0" {
		t.Errorf("quota row = %v, want nominal 32, limit 0, used 32, borrowed 0, requested 8, room 0:\n%s", row, out)
	}
	// The structured content says the same as the text: the quota is the root cause, and the
	// first fix raises it.
	if d.Target != "Job ml/train" || d.Category != contract.QueueQuotaExhausted || line(out, "verdict: ") != d.Verdict ||
		len(d.Fixes) == 0 || d.Fixes[0].Text != "raise nominalQuota of nvidia.com/gpu in flavor h100 of ClusterQueue team-a from 32 to 40 (clusterqueue_set_quota)" {
		t.Errorf("structured: %+v", d)
	}
	x := categoryIs(t, s, map[string]any{"namespace": "ml", "name": "train", "kind": "job"}, "QueueQuotaExhausted")
	// The fixes that are one tool call say so, with the arguments to call it with.
	if len(x.Fixes) < 2 || x.Fixes[0].Tool != "clusterqueue_set_quota" ||
		fmt.Sprint(x.Fixes[0].Arguments) != "map[flavor:h100 name:team-a nominalQuota:40 resource:nvidia.com/gpu]" ||
		x.Fixes[1].Tool != "workload_set_queue" || fmt.Sprint(x.Fixes[1].Arguments) != "map[kind:workload name:job-train-1a2b3 namespace:ml queue:team-b]" {
		t.Errorf("fixes as tool calls: %+v", x.Fixes)
	}
	// The same answer for the Workload itself.
	out = s.OK("explain_pending", map[string]any{"namespace": "ml", "name": "job-train-1a2b3", "kind": "workload"})
	mustContain(t, out, "verdict: Workload ml/job-train-1a2b3 is not admitted: ClusterQueue team-a is at 32/32 nvidia.com/gpu")

	out = s.OK("explain_pending", map[string]any{"namespace": "ml", "name": "wl-nolq", "kind": "workload"})
	mustContain(t, out, "verdict: Workload ml/wl-nolq names LocalQueue ml/missing-q, which does not exist, so Kueue will not admit it.",
		"1. LocalQueue ml/missing-q is missing: create it, or move the workload to an existing LocalQueue of namespace ml (workload_set_queue): stopped, team-a, team-b, team-w")

	out = s.OK("explain_pending", map[string]any{"namespace": "ml", "name": "wl-stopped", "kind": "workload"})
	mustContain(t, out, "verdict: Workload ml/wl-stopped is not admitted: ClusterQueue team-stop is stopped (stopPolicy Hold) and admits nothing.",
		"1. set spec.stopPolicy of ClusterQueue team-stop to None")
	categoryIs(t, s, map[string]any{"namespace": "ml", "name": "wl-stopped", "kind": "workload"}, contract.QueueClosed)

	out = s.OK("explain_pending", map[string]any{"namespace": "ml", "name": "wl-fpga", "kind": "workload"})
	mustContain(t, out, "verdict: Workload ml/wl-fpga is not admitted: ClusterQueue team-b has no quota for example.com/fpga (it covers cpu, memory, nvidia.com/gpu).")

	s.Fails("explain_pending", map[string]any{"namespace": "ml", "name": "nope", "kind": "workload"}, "Workload ml/nope not found")
}

// rowOf returns the cells of the first table row whose cells begin with first.
func rowOf(text string, first ...string) []string {
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) >= len(first) && strings.Join(f[:len(first)], " ") == strings.Join(first, " ") {
			return f
		}
	}
	return nil
}

// TestQueueStatus lists the queues, and one ClusterQueue with its pending workloads in admission
// order: priority first, then age.
func TestQueueStatus(t *testing.T) {
	env := queuedCluster(t)
	s := connect(t, env, scheduler.Config{})
	var qs contract.QueueStatus
	out := s.Data("queue_status", nil, &qs)
	mustContain(t, out, "Kueue ClusterQueues (kueue.x-k8s.io/v1beta2): 4", "h100: cpu 4/64, memory 16Gi/256Gi, gpu 32/32 (borrowing limit 0)",
		"Volcano Queues (scheduling.volcano.sh/v1beta1)")
	if row := rowOf(out, "ml/team-a"); len(row) < 2 || row[1] != "team-a" {
		t.Errorf("LocalQueue ml/team-a row = %v, want it to point at team-a:\n%s", row, out)
	}
	if row := fieldsOf(out, "team-stop "); len(row) < 3 || row[2] != "stopped:Hold" {
		t.Errorf("team-stop row = %v, want it marked stopped:\n%s", row, out)
	}
	// The structured content holds the rows of the tables.
	if k := qs.Kueue; k == nil || !k.Installed || k.Version != "v1beta2" || len(k.ClusterQueues) != 4 {
		t.Fatalf("structured Kueue overview: %+v", qs.Kueue)
	}
	cqs := map[string]contract.ClusterQueue{}
	for _, cq := range qs.Kueue.ClusterQueues {
		cqs[cq.Name] = cq
	}
	gpu := contract.FlavorQuota{Flavor: "h100", Resource: "nvidia.com/gpu", Nominal: "32", BorrowingLimit: "0", Used: "32", Borrowed: "0"}
	if a := cqs["team-a"]; a.Cohort != "research" || a.Admitted != 4 || a.StopPolicy != "" || !slices.Contains(a.Quotas, gpu) {
		t.Errorf("ClusterQueue team-a = %+v, want cohort research, 4 admitted and quota %+v", a, gpu)
	}
	if cqs["team-stop"].StopPolicy != "Hold" {
		t.Errorf("ClusterQueue team-stop = %+v, want stopPolicy Hold", cqs["team-stop"])
	}
	if !slices.Contains(qs.Kueue.LocalQueues, contract.LocalQueue{Queue: "ml/team-a", ClusterQueue: "team-a"}) {
		t.Errorf("LocalQueues = %+v, want ml/team-a → team-a", qs.Kueue.LocalQueues)
	}
	if qs.Volcano == nil || !qs.Volcano.Installed || qs.Volcano.Version != "v1beta1" {
		t.Errorf("structured Volcano = %+v, want installed, v1beta1", qs.Volcano)
	}

	var detail contract.QueueStatus
	out = s.Data("queue_status", map[string]any{"kind": "clusterqueue", "name": "team-a"}, &detail)
	mustContain(t, out, "ClusterQueue team-a: cohort research, 2 pending, 4 admitted.", "pending workloads, in admission order (priority, then age): ")
	first, second := fieldsOf(out, "1 "), fieldsOf(out, "2 ")
	if len(first) < 2 || first[1] != "ml/job-train-1a2b3" || len(second) < 2 || second[1] != "ml/wl-low" {
		t.Errorf("admission order: #1 %v, #2 %v; want the priority-100 workload first:\n%s", first, second, out)
	}
	if k := detail.Kueue; k == nil || len(k.ClusterQueues) != 1 || k.ClusterQueues[0].Name != "team-a" || detail.Volcano != nil ||
		len(k.Pending) < 2 || !reflect.DeepEqual(k.Pending[0], contract.PendingWorkload{Position: 1, Workload: "ml/job-train-1a2b3", LocalQueue: "team-a", Priority: 100,
		Requests: map[string]string{"cpu": "1", "nvidia.com/gpu": "8"}, Message: "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor h100, 8 more needed"}) ||
		k.Pending[1].Workload != "ml/wl-low" || k.Pending[1].Position != 2 {
		t.Errorf("structured detail of team-a: %+v", detail.Kueue)
	}
	out = s.OK("queue_status", map[string]any{"kind": "localqueue", "namespace": "ml", "name": "team-b"})
	mustContain(t, out, "LocalQueue ml/team-b → ClusterQueue team-b", "ml/wl-fpga")
	s.Fails("queue_status", map[string]any{"kind": "clusterqueue", "name": "nope"}, "ClusterQueue nope not found")
	s.Fails("queue_status", map[string]any{"name": "team-a"}, `argument "kind" is required`)
}

// TestKueueWrites: each write as a dry run (nothing stored, a diff returned) and for real.
func TestKueueWrites(t *testing.T) {
	env := queuedCluster(t)
	c := env.Client
	ctx := context.Background()
	s := connect(t, env, scheduler.Config{})
	get := func(kind, ns, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("kueue.x-k8s.io/v1beta2")
		u.SetKind(kind)
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	gpuQuota := func() string {
		rg := get("ClusterQueue", "", "team-w").Object["spec"].(map[string]any)["resourceGroups"].([]any)[0].(map[string]any)
		for _, r := range rg["flavors"].([]any)[0].(map[string]any)["resources"].([]any) {
			if r.(map[string]any)["name"] == "nvidia.com/gpu" {
				return r.(map[string]any)["nominalQuota"].(string)
			}
		}
		return ""
	}
	args := map[string]any{"name": "team-w", "flavor": "h100", "resource": "nvidia.com/gpu", "nominalQuota": "12", "dryRun": true}
	var ch contract.Change
	out := s.Data("clusterqueue_set_quota", args, &ch)
	mustContain(t, out, "dry run of ClusterQueue team-w: nvidia.com/gpu in flavor h100: nominalQuota 8 → 12", `-        nominalQuota: "8"`, `+        nominalQuota: "12"`)
	if ch.Object != "ClusterQueue team-w" || ch.Summary != "nvidia.com/gpu in flavor h100: nominalQuota 8 → 12" || !ch.DryRun || ch.NoChange ||
		!strings.Contains(ch.Diff, `+        nominalQuota: "12"`) {
		t.Errorf("the dry run's Change = %+v", ch)
	}
	if got := gpuQuota(); got != "8" {
		t.Fatalf("a dry run changed the quota to %s", got)
	}
	args["dryRun"] = false
	mustContain(t, s.OK("clusterqueue_set_quota", args), "changed ClusterQueue team-w: nvidia.com/gpu in flavor h100: nominalQuota 8 → 12")
	if got := gpuQuota(); got != "12" {
		t.Fatalf("quota = %s after the write, want 12", got)
	}
	ch = contract.Change{}
	mustContain(t, s.Data("clusterqueue_set_quota", args, &ch), "nothing to change")
	if !ch.NoChange || ch.DryRun || ch.Diff != "" {
		t.Errorf("a write that changes nothing: Change = %+v, want NoChange and no diff", ch)
	}
	s.Fails("clusterqueue_set_quota", map[string]any{"name": "team-w", "flavor": "a100", "resource": "nvidia.com/gpu", "nominalQuota": "1"}, `has no flavor "a100"; its flavors are h100`)
	s.Fails("clusterqueue_set_quota", map[string]any{"name": "team-w", "flavor": "h100", "resource": "nvidia.com/gpu", "nominalQuota": "lots"}, `argument "nominalQuota" must be a quantity`)

	ch = contract.Change{}
	out = s.Data("workload_set_queue", map[string]any{"kind": "workload", "namespace": "ml", "name": "wl-move", "queue": "team-b", "dryRun": true}, &ch)
	mustContain(t, out, "dry run of Workload ml/wl-move: LocalQueue team-a → team-b", "-  queueName: team-a", "+  queueName: team-b", "LocalQueue team-b feeds ClusterQueue team-b")
	if ch.Object != "Workload ml/wl-move" || !ch.DryRun || !slices.Contains(ch.Notes, "LocalQueue team-b feeds ClusterQueue team-b") {
		t.Errorf("the dry run's Change = %+v", ch)
	}
	mustContain(t, s.OK("workload_set_queue", map[string]any{"kind": "workload", "namespace": "ml", "name": "wl-move", "queue": "team-b"}), "changed Workload ml/wl-move")
	if q := get("Workload", "ml", "wl-move").Object["spec"].(map[string]any)["queueName"]; q != "team-b" {
		t.Errorf("queueName = %v after the move", q)
	}
	s.Fails("workload_set_queue", map[string]any{"kind": "workload", "namespace": "ml", "name": "wl-move", "queue": "nope"},
		"LocalQueue ml/nope does not exist; nothing was changed; the LocalQueues of namespace ml are: stopped, team-a, team-b, team-w")
	mustContain(t, s.OK("workload_set_queue", map[string]any{"kind": "job", "namespace": "ml", "name": "train", "queue": "team-b", "dryRun": true}),
		"dry run of Job ml/train: LocalQueue team-a → team-b")
	var j batchv1.Job
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ml", Name: "train"}, &j); err != nil || j.Labels["kueue.x-k8s.io/queue-name"] != "team-a" {
		t.Errorf("a dry run moved Job ml/train (labels %v, %v)", j.Labels, err)
	}

	mustContain(t, s.OK("workload_set_priority", map[string]any{"namespace": "ml", "name": "wl-prio", "priority": 900, "dryRun": true}), "priority 5 → 900", "-  priority: 5", "+  priority: 900")
	mustContain(t, s.OK("workload_set_priority", map[string]any{"namespace": "ml", "name": "wl-prio", "priority": 900}), "changed Workload ml/wl-prio: priority 5 → 900")
	if p := get("Workload", "ml", "wl-prio").Object["spec"].(map[string]any)["priority"]; p != int64(900) {
		t.Errorf("priority = %v after the write", p)
	}
	confined := connect(t, env, scheduler.Config{AllowNamespaces: []string{"ml"}})
	confined.Fails("clusterqueue_set_quota", args, "cluster-scoped", "nothing was changed")
}

// categoryIs checks explain_pending's root-cause category with output: json, whose text is the
// structured content.
func categoryIs(t *testing.T, s *session, args map[string]any, want string) contract.Explanation {
	t.Helper()
	args["output"] = "json"
	var x, d contract.Explanation
	if err := json.Unmarshal([]byte(s.Data("explain_pending", args, &d)), &x); err != nil {
		t.Fatal(err)
	}
	if x.Category != want {
		t.Errorf("explain_pending %v: category %q, want %q (verdict %q)", args, x.Category, want, x.Verdict)
	}
	if !reflect.DeepEqual(x, d) {
		t.Errorf("explain_pending %v: the output: json text and the structured content differ:\ntext       %+v\nstructured %+v", args, x, d)
	}
	return x
}
