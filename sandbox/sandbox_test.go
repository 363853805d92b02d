//go:build sandbox

package sandbox

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
)

// TestSandbox brings the whole sandbox up from the repository (building nothing when the
// binaries are cached), checks what a user of it would see — nodes, scheduling of GPU pods,
// kwok's fault stages (crash, OOM, complete, fail, hold), the samples, an injected XID turning into
// an Incident, GPU faults set and cleared — and tears it down, checking that no process is left.
// Run it with make test-sandbox.
func TestSandbox(t *testing.T) {
	ctx := context.Background()
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s := upForTest(t, root)
	dir, bin := s.Dir, s.opts.Opsmesh
	t.Logf("sandbox up in %s", time.Since(start).Round(time.Second))
	var pids []int
	for _, c := range s.Components {
		pids = append(pids, c.PID)
	}
	c := s.Client

	t.Run("status", func(t *testing.T) {
		r, err := Status(ctx, dir)
		if err != nil || !r.Healthy() {
			var b strings.Builder
			r.Print(&b)
			t.Fatalf("Status: %v\n%s", err, b.String())
		}
		if len(r.Components) != 10 {
			t.Errorf("Status lists %d components; want etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, controller, 3 node agents, gateway", len(r.Components))
		}
		if _, err := Up(ctx, Options{StateDir: dir, RepoRoot: root, Opsmesh: bin}); err == nil || !strings.Contains(err.Error(), "a sandbox already runs") {
			t.Errorf("a second Up: %v; want an error saying a sandbox already runs", err)
		}
	})

	t.Run("nodes are Ready, untainted and labelled simulated", func(t *testing.T) {
		var nodes corev1.NodeList
		if err := c.List(ctx, &nodes); err != nil {
			t.Fatal(err)
		}
		if len(nodes.Items) != 6 {
			t.Fatalf("%d nodes; want 3 CPU and 3 GPU nodes", len(nodes.Items))
		}
		for _, n := range nodes.Items {
			if n.Labels[SimulatedLabel] != "true" || !strings.Contains(n.Annotations[SimulatedAnnotation], "simulated") && !strings.Contains(n.Annotations[SimulatedAnnotation], "kwok") {
				t.Errorf("node %s is not labelled simulated: %v %v", n.Name, n.Labels, n.Annotations)
			}
			if len(n.Spec.Taints) > 0 {
				t.Errorf("node %s has taints %v", n.Name, n.Spec.Taints)
			}
			ready := false
			for _, cond := range n.Status.Conditions {
				ready = ready || cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue
			}
			if !ready {
				t.Errorf("node %s is not Ready: %+v", n.Name, n.Status.Conditions)
			}
			// The sandbox's capacity, not kwok's default of 1k CPUs (its first write can land
			// after the sandbox's).
			want := "32"
			if n.Labels["nvidia.com/gpu.present"] == "true" {
				want = "224"
			}
			if q := n.Status.Allocatable[corev1.ResourceCPU]; q.String() != want {
				t.Errorf("node %s: allocatable cpu %s, want %s", n.Name, q.String(), want)
			}
		}
		var mig corev1.Node
		if err := c.Get(ctx, client.ObjectKey{Name: s.MIGNode}, &mig); err != nil {
			t.Fatal(err)
		}
		if q := mig.Status.Allocatable["nvidia.com/mig-1g.10gb"]; q.Value() != 14 || mig.Labels["nvidia.com/mig.strategy"] != "mixed" {
			t.Errorf("MIG node %s: allocatable %v, labels %v", s.MIGNode, mig.Status.Allocatable, mig.Labels)
		}
	})

	t.Run("samples are Ready", func(t *testing.T) {
		if err := s.samplesReady(ctx); err != nil {
			t.Fatal(err)
		}
	})

	ns := "sandbox-test"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	gpuPod := func(name string, gpus int64) {
		t.Helper()
		p := testPod(ns, name, nil)
		p.Spec.NodeSelector = map[string]string{"nvidia.com/gpu.present": "true"}
		p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": *resource.NewQuantity(gpus, resource.DecimalSI)}
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	gpuPod("gpu-4", 4)
	gpuPod("gpu-16", 16)
	for name, fault := range map[string]string{"plain": "", "crash": "CrashLoopBackOff", "oom": "OOMKilled", "job": "Complete"} {
		var ann map[string]string
		if fault != "" {
			ann = map[string]string{"demo.opsmesh.dev/fault": fault}
		}
		p := testPod(ns, name, ann)
		if fault == "Complete" {
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
		}
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	// Hold: kwok leaves the pod's status to whoever patches it; Fail: a Job's pods fail.
	if err := c.Create(ctx, testPod(ns, "held", map[string]string{"demo.opsmesh.dev/fault": "Hold"})); err != nil {
		t.Fatal(err)
	}
	backoff := int32(1)
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "failing"}, Spec: batchv1.JobSpec{
		BackoffLimit: &backoff,
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"demo.opsmesh.dev/fault": "Fail"}},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "main", Image: "busybox"}}}},
	}}
	if err := c.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	var heldAt time.Time
	var heldVersion string
	t.Run("a pod annotated Hold stays Pending on its node and takes a status patch", func(t *testing.T) {
		p := waitPod(t, c, ns, "held", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" })
		patch := []byte(`{"status":{"conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"False","reason":"ContainersNotReady"}],` +
			`"containerStatuses":[{"name":"main","image":"busybox","imageID":"","ready":false,"restartCount":0,` +
			`"state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \"busybox\""}}}]}}`)
		if err := c.Status().Patch(ctx, p, client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Fatal(err)
		}
		heldAt, heldVersion = time.Now(), p.ResourceVersion
		if p.Status.Phase != corev1.PodPending {
			t.Errorf("the held pod is %s; want Pending", p.Status.Phase)
		}
	})

	t.Run("a pod asking for 4 GPUs runs on a GPU node", func(t *testing.T) {
		p := waitPod(t, c, ns, "gpu-4", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && podReady(p) })
		if !strings.HasPrefix(p.Spec.NodeName, "sim-gpu-") {
			t.Errorf("gpu-4 runs on %s; want a GPU node", p.Spec.NodeName)
		}
	})
	t.Run("a pod asking for 16 GPUs gets the scheduler's FailedScheduling", func(t *testing.T) {
		e := waitEvent(t, c, ns, "gpu-16", "FailedScheduling")
		if !strings.Contains(e.Message, "Insufficient nvidia.com/gpu") {
			t.Errorf("FailedScheduling says %q; want Insufficient nvidia.com/gpu", e.Message)
		}
	})
	t.Run("a pod without a fault annotation is Running and Ready", func(t *testing.T) {
		waitPod(t, c, ns, "plain", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && podReady(p) })
	})
	for name, want := range map[string]struct {
		reason string
		code   int32
	}{"crash": {"Error", 1}, "oom": {"OOMKilled", 137}} {
		t.Run(name+" waits in CrashLoopBackOff with restarts rising", func(t *testing.T) {
			p := waitPod(t, c, ns, name, func(p *corev1.Pod) bool {
				return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 2
			})
			cs := p.Status.ContainerStatuses[0]
			if cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" {
				t.Errorf("%s's container state: %+v; want waiting CrashLoopBackOff", name, cs.State)
			}
			if term := cs.LastTerminationState.Terminated; term == nil || term.Reason != want.reason || term.ExitCode != want.code {
				t.Errorf("%s's last state: %+v; want terminated %s, exit code %d", name, cs.LastTerminationState, want.reason, want.code)
			}
			if podReady(p) {
				t.Errorf("%s is Ready while crashing", name)
			}
			e := waitEvent(t, c, ns, name, "BackOff")
			if e.Type != corev1.EventTypeWarning || !strings.Contains(e.Message, "Back-off restarting failed container") {
				t.Errorf("%s's BackOff event: %s %q", name, e.Type, e.Message)
			}
		})
	}
	t.Run("a pod annotated Complete succeeds", func(t *testing.T) {
		p := waitPod(t, c, ns, "job", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.Reason != "Completed" || term.ExitCode != 0 {
			t.Errorf("the completed pod's container: %+v", p.Status.ContainerStatuses[0].State)
		}
	})

	t.Run("a Job whose pods are annotated Fail fails with BackoffLimitExceeded after backoffLimit+1 pods", func(t *testing.T) {
		var j batchv1.Job
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "failing"}, &j); err != nil {
				t.Fatal(err)
			}
			if jobCondition(&j, batchv1.JobFailed) != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Job failing after 90 s: %+v", j.Status)
			}
		}
		if cond := jobCondition(&j, batchv1.JobFailed); cond.Reason != "BackoffLimitExceeded" || j.Status.Failed != 2 {
			t.Errorf("Job failing: Failed because %s, %d failed pods; want BackoffLimitExceeded, 2", cond.Reason, j.Status.Failed)
		}
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"job-name": "failing"}); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != 2 {
			t.Errorf("Job failing has %d pods; want 2", len(pods.Items))
		}
		for _, p := range pods.Items {
			term := p.Status.ContainerStatuses[0].State.Terminated
			if p.Status.Phase != corev1.PodFailed || term == nil || term.Reason != "Error" || term.ExitCode != 1 {
				t.Errorf("pod %s: phase %s, container %+v; want Failed, terminated Error exit code 1", p.Name, p.Status.Phase, p.Status.ContainerStatuses[0].State)
			}
		}
		if len(pods.Items) > 0 {
			// Normal, as a kubelet records nothing when a container merely exits: the Job's
			// BackoffLimitExceeded is what raises an Incident.
			if e := waitEvent(t, c, ns, pods.Items[0].Name, "Died"); e.Type != corev1.EventTypeNormal || !strings.Contains(e.Message, "simulated by kwok") {
				t.Errorf("the failed pod's event: %s %q", e.Type, e.Message)
			}
		}
	})
	t.Run("kwok leaves the held pod's patched status alone, and deletes it", func(t *testing.T) {
		if heldAt.IsZero() {
			t.Skip("the held pod was not patched")
		}
		time.Sleep(time.Until(heldAt.Add(15 * time.Second)))
		var p corev1.Pod
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "held"}, &p); err != nil {
			t.Fatal(err)
		}
		cs := p.Status.ContainerStatuses
		if p.Status.Phase != corev1.PodPending || len(cs) != 1 || cs[0].State.Waiting == nil || cs[0].State.Waiting.Reason != "ImagePullBackOff" {
			t.Errorf("15 s after the patch the held pod is %s with containers %+v; want Pending, waiting ImagePullBackOff", p.Status.Phase, cs)
		}
		if p.ResourceVersion != heldVersion {
			t.Errorf("someone changed the held pod after the patch (resourceVersion %s, then %s); managed fields %+v", heldVersion, p.ResourceVersion, p.ManagedFields)
		}
		if err := c.Delete(ctx, &p); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
			err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "held"}, &p)
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the held pod is still there 30 s after its deletion: %v", err)
			}
		}
	})

	t.Run("an injected XID is reported by the node agent and raises an Incident on the Node", func(t *testing.T) {
		node := s.GPUNodes[0]
		if err := s.InjectXID(ctx, node, 3, 79); err != nil {
			t.Fatal(err)
		}
		health, err := s.CallAgent(ctx, node, "gpu_health", map[string]any{"index": 3})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(health, "simulated: true") || !strings.Contains(health, "79") {
			t.Errorf("gpu_health of GPU 3 on %s after XID 79:\n%s", node, health)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var list opsv1.IncidentList
			if err := c.List(ctx, &list); err != nil {
				t.Fatal(err)
			}
			for _, in := range list.Items {
				if in.Spec.Target != nil && in.Spec.Target.Kind == "Node" && in.Spec.Target.Name == node {
					t.Logf("Incident %s/%s on Node %s: phase %s", in.Namespace, in.Name, node, in.Status.Phase)
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no Incident on Node %s two minutes after XID 79; controller log %s", node, s.path("logs", "controller.log"))
			}
			time.Sleep(time.Second)
		}
	})

	t.Run("faults set on a GPU show in gpu_health; cleared, every GPU is healthy", func(t *testing.T) {
		node := s.GPUNodes[1]
		if err := s.SetGPUFaults(ctx, node, simulate.GPUFaults{Index: 5, XIDs: []simulate.XID{{Code: 48}},
			RemappedRows: &simulate.RemappedRows{Uncorrectable: 1, Pending: true}}); err != nil {
			t.Fatal(err)
		}
		if h, err := s.CallAgent(ctx, node, "gpu_health", map[string]any{"index": 5}); err != nil || !strings.Contains(h, "XID 48") {
			t.Errorf("gpu_health of GPU 5 on %s after XID 48: %v\n%s", node, err, h)
		}
		for _, n := range s.GPUNodes[:2] {
			if err := s.ClearGPUFaults(ctx, n); err != nil {
				t.Fatal(err)
			}
			if h, err := s.CallAgent(ctx, n, "gpu_health", nil); err != nil || !strings.Contains(h, "8 GPUs: 8 healthy") {
				t.Errorf("gpu_health of %s after ClearGPUFaults: %v\n%s", n, err, h)
			}
		}
	})

	if err := Down(ctx, dir); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still runs after Down", pid)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func testPod(ns, name string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}}}
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if c := &j.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func waitPod(t *testing.T, c client.Client, ns, name string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
			t.Fatal(err)
		}
		if ok(&p) {
			return &p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s after 90 s: phase %s, node %q, conditions %+v, containers %+v", ns, name, p.Status.Phase, p.Spec.NodeName, p.Status.Conditions, p.Status.ContainerStatuses)
		}
	}
}

func waitEvent(t *testing.T, c client.Client, ns, pod, reason string) corev1.Event {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		var list corev1.EventList
		if err := c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, e := range list.Items {
			if e.InvolvedObject.Name == pod && e.Reason == reason {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event on pod %s/%s after 90 s", reason, ns, pod)
		}
	}
}
