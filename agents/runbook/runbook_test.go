//go:build cgo

package runbook_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	"github.com/opsmesh/opsmesh/agents/runbook"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/fixture"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

// engine is a runbook engine with the real cluster server and GPU view in this process, granted
// what the sample specialists are granted.
func engine(t testing.TB) *runbook.Engine {
	pool, err := mcppool.New(fixture.Servers(t, shared.Env(t).Config).Endpoints(), mcppool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	kinds, err := kubeaccess.NewShared(context.Background(), shared.Env(t).Config, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return runbook.New("opsmesh/incident-coordinator", pool.Toolset([]mcppool.Grant{
		{Server: "cluster-tools", Allowed: []string{"analyze", "resources_list", "resource_get", "pod_logs", "events_list", "describe",
			"access_check", "network_check", "volume_check", "disruption_check", "placement_check", "reference_check",
			"workload_restart", "workload_rollback", "workload_set_image", "workload_set_resources", "node_cordon", "node_drain"}},
		{Server: "gpu-tools", Allowed: []string{"gpu_node_health", "gpu_inventory", "gpu_idle"}},
		{Server: "scheduler-tools", Allowed: []string{"explain_pending"}},
	}), kinds)
}

// diagnose waits for the watch cache to see the objects (the analyzers read it) until the
// diagnosis has the category.
func diagnose(t *testing.T, e *runbook.Engine, q runbook.Question, category string) *diagnosis.Diagnosis {
	t.Helper()
	var d *diagnosis.Diagnosis
	for deadline := time.Now().Add(20 * time.Second); ; {
		var err error
		if d, err = e.Diagnose(context.Background(), q); err != nil {
			t.Fatal(err)
		}
		if d.RootCause.Category == category || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if d.RootCause.Category != category {
		t.Fatalf("category %s, want %s:\n%s", d.RootCause.Category, category, d.Text())
	}
	if err := d.Validate(); err != nil {
		t.Errorf("the diagnosis is not valid: %v\n%s", err, d.Text())
	}
	return d
}

func mustSay(t *testing.T, d *diagnosis.Diagnosis, want ...string) {
	t.Helper()
	text := d.Text()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("diagnosis does not say %q:\n%s", w, text)
		}
	}
}

// planIs checks the plan's tools, risks and an argument of each.
func planIs(t *testing.T, d *diagnosis.Diagnosis, want ...string) {
	t.Helper()
	var got []string
	for _, a := range d.Plan {
		got = append(got, fmt.Sprintf("%s@%s[%s]", a.Tool, a.ToolServer, a.Risk))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("plan %v, want %v:\n%s", got, want, d.Text())
	}
}

func TestRunbookByCategory(t *testing.T) {
	e := engine(t)
	c := fixture.Cluster{T: t, C: shared.Env(t).Client}
	c.Namespace(fixture.AgentNamespace)
	c.GPUNode("rb-gpu-1", fixture.XID79)

	t.Run("CrashLoopBackOff rolls back to the previous revision", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-crash")
		rs := c.Deployment(ns, "infer", 2, nil)
		c.Pod(rs, ns, "infer-h2-0", "", fixture.Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=app", fixture.Terminated("Error", 1)))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/rb-crash/infer"}, diagnosis.CrashLoopBackOff)
		mustSay(t, d, "deployment/rb-crash/infer: its containers crash and restart in a loop", "reason=Error exitCode=1", "subject: deployment/rb-crash/infer", "engine: runbook")
		planIs(t, d, "workload_rollback@cluster-tools[disruptive]")
		if d.Plan[0].Arguments["name"] != "infer" || d.Plan[0].Arguments["dryRun"] != nil {
			t.Errorf("rollback arguments %v: want the Deployment, without dryRun", d.Plan[0].Arguments)
		}
		// envtest has no kubelet: the previous log cannot be read, and the diagnosis says so.
		mustSay(t, d, "note: pod_logs answered an error")
	})

	t.Run("OOMKilled raises the memory limit", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-oom")
		rs := c.Deployment(ns, "worker", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
		})
		c.Pod(rs, ns, "worker-h1-0", "", fixture.Waiting("CrashLoopBackOff", "back-off", fixture.Terminated("OOMKilled", 137)))
		d := diagnose(t, e, runbook.Question{Subject: "pod/rb-oom/worker-h1-0"}, diagnosis.OOMKilled)
		mustSay(t, d, "reason=OOMKilled exitCode=137", "resources.limits.memory: 64Mi")
		planIs(t, d, "workload_set_resources@cluster-tools[disruptive]")
		if lim, _ := d.Plan[0].Arguments["limits"].(map[string]any); lim["memory"] != "128Mi" {
			t.Errorf("plan arguments %v", d.Plan[0].Arguments)
		}
	})

	t.Run("ImagePullBackOff without a previous revision says which image to set, and plans no placeholder", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-image")
		rs := c.Deployment(ns, "shop", 1, func(p *corev1.PodSpec) { p.Containers[0].Image = "registry.example/shop:nope" })
		c.Pod(rs, ns, "shop-h1-0", "", fixture.Waiting("ErrImagePull", `failed to pull image "registry.example/shop:nope": not found`, nil))
		d := diagnose(t, e, runbook.Question{Namespace: ns}, diagnosis.ImagePullBackOff)
		mustSay(t, d, "registry.example/shop:nope", "subject: namespace/rb-image",
			"note: no automatic fix: workload_set_image needs <an image the registry has> for deployment/rb-image/shop")
		planIs(t, d)
	})

	t.Run("CreateContainerConfigError names what is missing and plans nothing", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-config")
		rs := c.Deployment(ns, "billing", 1, func(p *corev1.PodSpec) {
			p.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "billing-settings"}}}}
		})
		c.Pod(rs, ns, "billing-h1-0", "", fixture.Waiting("CreateContainerConfigError", `configmap "billing-settings" not found`, nil))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/rb-config/billing"}, diagnosis.CreateContainerConfigError)
		mustSay(t, d, "ConfigMap rb-config/billing-settings does not exist", "note: no automatic fix: create what is missing")
		planIs(t, d)
	})

	t.Run("an XID 79 under a training job's pods names the GPU and drains the node", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-gpu")
		rs := c.Deployment(ns, "trainer", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}
		})
		c.Pod(rs, ns, "trainer-h1-0", "rb-gpu-1", fixture.Waiting("CrashLoopBackOff", "back-off 5m0s", fixture.Terminated("Error", 1)))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/rb-gpu/trainer", Text: "trainer keeps crashing"}, "GPUXid79")
		mustSay(t, d, "GPU 3 on node rb-gpu-1 reports XID 79: failed; action: drain and reboot the node",
			"it explains the CrashLoopBackOff seen on the pods there",
			"evidence: node/rb-gpu-1: GPU 3 ", "XID 79 (GPU has fallen off the bus)",
			"note: asked: trainer keeps crashing",
			"finding (opsmesh/incident-coordinator): CrashLoopBackOff")
		planIs(t, d, "node_cordon@cluster-tools[safe]", "node_drain@cluster-tools[destructive]")
		if d.Plan[1].Arguments["name"] != "rb-gpu-1" {
			t.Errorf("drain arguments %v", d.Plan[1].Arguments)
		}
		if d.RootCause.Confidence != opsv1.ConfidenceHigh {
			t.Errorf("confidence %s", d.RootCause.Confidence)
		}
	})

	t.Run("a workload whose pods look fine is asked about: the failed GPU under its GPUs is named, a CPU workload's is not", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-gpu-quiet")
		running := corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "registry.example/app:1", Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}
		rs := c.Deployment(ns, "finetune", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("2")}
		})
		c.Pod(rs, ns, "finetune-h1-0", "rb-gpu-1", running)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/rb-gpu-quiet/finetune", Text: "why is finetune failing?"}, "GPUXid79")
		mustSay(t, d, "GPU 3 on node rb-gpu-1 reports XID 79: failed; action: drain and reboot the node; deployment/rb-gpu-quiet/finetune runs there (pod finetune-h1-0)",
			"pod finetune-h1-0 holds 2 nvidia.com/gpu on node rb-gpu-1")
		planIs(t, d, "node_cordon@cluster-tools[safe]", "node_drain@cluster-tools[destructive]")

		cpu := c.Deployment(ns, "exporter", 1, nil)
		c.Pod(cpu, ns, "exporter-h1-0", "rb-gpu-1", running)
		// Once the cache has the exporter's pod (the namespace's second), it is still not blamed.
		var d2 *diagnosis.Diagnosis
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			d2 = diagnose(t, e, runbook.Question{Subject: "deployment/rb-gpu-quiet/exporter"}, diagnosis.NoProblemFound)
			if strings.Contains(d2.RootCause.Summary, "checked 2 pods") || time.Now().After(deadline) {
				break
			}
		}
		mustSay(t, d2, "checked 2 pods")
	})

	t.Run("an XID 94 on the node of a workload's pod restarts the workload", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		c.GPUNode("rb-gpu-2", "gpus:\n  - index: 1\n    xids:\n      - {code: 94, time: 2026-11-30T03:00:00Z}\n")
		ns := c.Namespace("rb-gpu94")
		rs := c.Deployment(ns, "infer", 1, nil)
		c.Pod(rs, ns, "infer-h1-0", "rb-gpu-2", fixture.Waiting("CrashLoopBackOff", "back-off", fixture.Terminated("Error", 1)))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/rb-gpu94/infer"}, "GPUXid94")
		mustSay(t, d, "GPU 1 on node rb-gpu-2 reports XID 94: degraded; action: restart the application", "XID 94 (Contained ECC error)")
		planIs(t, d, "workload_restart@cluster-tools[disruptive]")
		if d.Plan[0].Arguments["name"] != "infer" || d.Plan[0].Arguments["kind"] != "deployment" {
			t.Errorf("workload_restart arguments %v", d.Plan[0].Arguments)
		}
	})

	t.Run("an XID 48 on a node asked about plans a GPU reset", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		c.GPUNode("rb-gpu-3", "gpus:\n  - index: 2\n    xids:\n      - {code: 48, time: 2026-11-30T03:00:00Z}\n")
		d := diagnose(t, e, runbook.Question{Subject: "node/rb-gpu-3"}, "GPUXid48")
		mustSay(t, d, "GPU 2 on node rb-gpu-3 reports XID 48: failed; action: reset the GPU", "XID 48 (Double-bit ECC error)")
		planIs(t, d, "gpu_reset@[destructive]")
		if idx, _ := d.Plan[0].Arguments["index"].(int); idx != 2 {
			t.Errorf("gpu_reset arguments %v", d.Plan[0].Arguments)
		}
	})

	t.Run("a node that is not Ready", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "rb-down"}}
		c.Create(n)
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.", LastTransitionTime: metav1.Now(), LastHeartbeatTime: metav1.Now()}}
		c.SetStatus(n)
		d := diagnose(t, e, runbook.Question{Subject: "node/rb-down"}, diagnosis.NodeNotReady)
		mustSay(t, d, "node/rb-down: the node is not Ready", "Kubelet stopped posting node status")
	})

	t.Run("a node asked about directly", func(t *testing.T) {
		d := diagnose(t, e, runbook.Question{Subject: "node/rb-gpu-1"}, "GPUXid79")
		planIs(t, d, "node_cordon@cluster-tools[safe]", "node_drain@cluster-tools[destructive]")
	})

	t.Run("an XID 94 on a node asked about restarts the workload whose pod runs there", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		c.GPUNode("rb-gpu-94n", "gpus:\n  - index: 1\n    xids:\n      - {code: 94, time: 2026-11-30T03:00:00Z}\n")
		ns := c.Namespace("rb-gpu94n")
		rs := c.Deployment(ns, "serve", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
		})
		c.Pod(rs, ns, "serve-h1-0", "rb-gpu-94n", corev1.PodStatus{Phase: corev1.PodRunning})
		d := diagnose(t, e, runbook.Question{Subject: "node/rb-gpu-94n"}, "GPUXid94")
		planIs(t, d, "workload_restart@cluster-tools[disruptive]")
		if a := d.Plan[0].Arguments; a["kind"] != "deployment" || a["namespace"] != ns || a["name"] != "serve" {
			t.Errorf("workload_restart arguments %v, want deployment %s/serve", a, ns)
		}
	})

	t.Run("an XID 13 leaves the GPU healthy but is named, with the application restart", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		c.GPUNode("rb-gpu-13", "gpus:\n  - index: 5\n    xids:\n      - {code: 13, time: 2026-11-30T03:00:00Z}\n")
		d := diagnose(t, e, runbook.Question{Subject: "node/rb-gpu-13"}, "GPUXid13")
		mustSay(t, d, "GPU 5 on node rb-gpu-13 reports XID 13: healthy; action: restart the application", "XID 13 (Graphics engine exception)",
			"note: the GPU asks for the application to be restarted")
		planIs(t, d)
	})

	t.Run("GPUs held by a pod at 0% utilization are named idle", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-idle")
		c.GPUNode("rb-gpu-idle", "gpus:\n  - index: 0\n    utilization: {gpu: 0, memory: 0}\n    processes:\n      - {pid: 700, usedMiB: 2048, pod: rb-idle/notebook-0, container: app}\n"+
			"  - index: 1\n    utilization: {gpu: 0, memory: 0}\n    processes:\n      - {pid: 701, usedMiB: 2048, pod: rb-idle/notebook-0, container: app}\n")
		rs := c.Deployment(ns, "notebook", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("2")}
		})
		c.Pod(rs, ns, "notebook-0", "rb-gpu-idle", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}})
		d := diagnose(t, e, runbook.Question{Subject: "node/rb-gpu-idle"}, diagnosis.GPUIdle)
		mustSay(t, d, "1 pods hold GPUs they do not use (utilization below 5%): rb-idle/notebook-0",
			"evidence: pod/rb-idle/notebook-0: holds GPUs on node rb-gpu-idle that are idle (gpu_idle: GPUs 0,1 0%,0%", "no automatic fix for idle GPUs")
		planIs(t, d)
		// A failed GPU is the cause before any idleness on its node.
		d = diagnose(t, e, runbook.Question{Subject: "node/rb-gpu-1"}, "GPUXid79")
		if d.RootCause.Category == diagnosis.GPUIdle {
			t.Errorf("a failed GPU must come before idleness:\n%s", d.Text())
		}
	})

	t.Run("a GPU node that is only cordoned names no GPU cause", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		c.GPUNode("rb-gpu-cordoned", "")
		var n corev1.Node
		if err := c.C.Get(context.Background(), client.ObjectKey{Name: "rb-gpu-cordoned"}, &n); err != nil {
			t.Fatal(err)
		}
		n.Spec.Unschedulable = true
		if err := c.C.Update(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
		d := diagnose(t, e, runbook.Question{Subject: "node/rb-gpu-cordoned"}, diagnosis.NoProblemFound)
		mustSay(t, d, "no problem found")
	})

	t.Run("a pod pending for GPUs names the shortage and ranks the fixes", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-pending")
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "big-0"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/big:1",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("16")}}}}}}
		c.Create(p)
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."}}}
		c.SetStatus(p)
		d := diagnose(t, e, runbook.Question{Subject: "pod/rb-pending/big-0"}, diagnosis.InsufficientGPU)
		mustSay(t, d, "fits Pod rb-pending/big-0", "Requests nvidia.com/gpu 16", "scheduler: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
			"note: fix 1: ", "no node has 16 nvidia.com/gpu allocatable")
		planIs(t, d)
	})

	t.Run("a pod pinned to a cordoned node plans the uncordon", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "rb-cordoned", Labels: map[string]string{"kubernetes.io/hostname": "rb-cordoned"}},
			Spec: corev1.NodeSpec{Unschedulable: true}}
		c.Create(n)
		n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")}
		n.Status.Capacity = n.Status.Allocatable
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
		c.SetStatus(n)
		c.Untaint(n)
		ns := c.Namespace("rb-pinned")
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pinned-0"},
			Spec: corev1.PodSpec{NodeSelector: map[string]string{"kubernetes.io/hostname": "rb-cordoned"},
				Containers: []corev1.Container{{Name: "app", Image: "registry.example/pinned:1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}}
		c.Create(p)
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 node(s) were unschedulable."}}}
		c.SetStatus(p)
		d := diagnose(t, e, runbook.Question{Subject: "pod/rb-pinned/pinned-0"}, diagnosis.NodeCordoned)
		mustSay(t, d, "nearest is rb-cordoned, which is cordoned")
		planIs(t, d, "node_uncordon@[safe]")
		if d.Plan[0].Arguments["name"] != "rb-cordoned" {
			t.Errorf("node_uncordon arguments %v", d.Plan[0].Arguments)
		}
	})

	t.Run("a drain a disruption budget holds names the budget and proposes the drain again, unforced", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "rb-draining", Labels: map[string]string{"kubernetes.io/hostname": "rb-draining"}},
			Spec: corev1.NodeSpec{Unschedulable: true}}
		c.Create(n)
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
		c.SetStatus(n)
		c.Untaint(n)
		ns := c.Namespace("rb-drain")
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "quorum-0", Labels: map[string]string{"app": "quorum"}},
			Spec: corev1.PodSpec{NodeName: "rb-draining", Containers: []corev1.Container{{Name: "kv", Image: "registry.example/kv:1"}}}}
		c.Create(p)
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		c.SetStatus(p)
		pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "quorum-pdb"},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "quorum"}}}}
		c.Create(pdb)
		pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 1}
		c.SetStatus(pdb)
		d := diagnose(t, e, runbook.Question{Subject: "node/rb-draining"}, diagnosis.NodeCordoned)
		mustSay(t, d, "cause: DisruptionBudgetBlocks at poddisruptionbudget/rb-drain/quorum-pdb", "allows 0 disruptions")
		planIs(t, d, "node_drain@cluster-tools[destructive]")
		if a := d.Plan[0].Arguments; a["name"] != "rb-draining" || a["force"] != nil {
			t.Errorf("node_drain arguments %v, want the node and no force", a)
		}
	})

	t.Run("ServiceNoEndpoints names the selector", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-svc")
		c.Create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ghost"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "ghost"}, Ports: []corev1.ServicePort{{Port: 80}}}})
		d := diagnose(t, e, runbook.Question{Subject: "service/rb-svc/ghost"}, diagnosis.ServiceNoEndpoints)
		// reference_check (the service-endpoints-follow runbook) names the selector as the cause
		mustSay(t, d, "cause: ReferenceMissing at service/rb-svc/ghost spec.selector", "spec.selector app=ghost matches no pod in namespace rb-svc")
		planIs(t, d)
	})

	t.Run("PVCPending names the missing StorageClass", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-pvc")
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("rb-fast"), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
		c.Create(pvc)
		pvc.Status.Phase = corev1.ClaimPending
		c.SetStatus(pvc)
		d := diagnose(t, e, runbook.Question{Namespace: ns}, diagnosis.PVCPending)
		mustSay(t, d, "cause: ReferenceMissing at persistentvolumeclaim/rb-pvc/data spec.storageClassName", "claim data names StorageClass rb-fast, which does not exist", "storageclass rb-fast does not exist")
	})

	t.Run("a pod waiting for a claim restored from a snapshot that does not exist names the claim's data source", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-restore")
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "rb-restore-rbd"}, Provisioner: "rbd.csi.ceph.com"}
		c.Create(sc)
		t.Cleanup(func() { _ = c.C.Delete(context.Background(), sc) })
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pgdata"},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("rb-restore-rbd"), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				DataSource: &corev1.TypedLocalObjectReference{APIGroup: ptr.To("snapshot.storage.k8s.io"), Kind: "VolumeSnapshot", Name: "nightly-1206"},
				Resources:  corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
		c.Create(pvc)
		pvc.Status.Phase = corev1.ClaimPending
		c.SetStatus(pvc)
		rs := c.Deployment(ns, "pg", 1, func(p *corev1.PodSpec) {
			p.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "pgdata"}}}}
		})
		c.Pod(rs, ns, "pg-h1-0", "", corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: "Unschedulable", Message: "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."}}})
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/pg"}, diagnosis.PVCPending)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ReferenceMissing || cz.Object != "persistentvolumeclaim/"+ns+"/pgdata" || cz.Field != "spec.dataSourceRef" {
			t.Fatalf("cause %+v, want the claim's data source:\n%s", cz, d.Text())
		}
		mustSay(t, d, "VolumeSnapshot nightly-1206")
	})

	t.Run("JobFailed cites the backoff limit", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-job")
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "migrate"},
			Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](2), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "migrate", Image: "registry.example/migrate:1"}}}}}}
		c.Create(job)
		now := metav1.Now()
		job.Status = batchv1.JobStatus{StartTime: &now, Failed: 3, Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
		}}
		c.SetStatus(job)
		d := diagnose(t, e, runbook.Question{Subject: "job/rb-job/migrate"}, diagnosis.JobFailed)
		mustSay(t, d, "job/rb-job/migrate: the Job failed", "status.failed: 3, succeeded: 0, backoffLimit: 2")
		planIs(t, d)
	})

	t.Run("ProbeFailing: a running container that is not ready", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-probe")
		rs := c.Deployment(ns, "front", 1, func(p *corev1.PodSpec) {
			p.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}}
		})
		c.Pod(rs, ns, "front-h1-0", "", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "registry.example/front:1",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}})
		d := diagnose(t, e, runbook.Question{Subject: "deployment/rb-probe/front"}, diagnosis.ProbeFailing)
		mustSay(t, d, "deployment/rb-probe/front: its probes fail", "spec.containers[app].readinessProbe: httpGet /ready:8080")
	})

	t.Run("RolloutStuck rolls back", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-rollout")
		c.Deployment(ns, "checkout", 2, nil)
		var dep appsv1.Deployment
		if err := c.C.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "checkout"}, &dep); err != nil {
			t.Fatal(err)
		}
		now := metav1.Now()
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 2, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, UnavailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
				Message: `ReplicaSet "checkout-h2" has timed out progressing.`, LastUpdateTime: now, LastTransitionTime: now}}}
		c.SetStatus(&dep)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/rb-rollout/checkout"}, diagnosis.RolloutStuck)
		mustSay(t, d, "deployment/rb-rollout/checkout: its rollout is stuck", "reason=ProgressDeadlineExceeded")
		planIs(t, d, "workload_rollback@cluster-tools[disruptive]")
	})

	t.Run("HPAUnableToScale names the missing request", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-hpa")
		hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5,
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}}}}}
		c.Create(hpa)
		now := metav1.Now()
		hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 1, DesiredReplicas: 1, Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
			{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric", LastTransitionTime: now,
				Message: "the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for cpu in container app of Pod web-1"}}}
		c.SetStatus(hpa)
		d := diagnose(t, e, runbook.Question{Subject: "hpa/rb-hpa/web"}, diagnosis.HPAUnableToScale)
		mustSay(t, d, "horizontalpodautoscaler/rb-hpa/web: the HorizontalPodAutoscaler cannot scale", "missing request for cpu")
	})

	t.Run("QuotaFull suggests raising the quota", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-quota")
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "compute"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")}}}
		c.Create(q)
		q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")}}
		c.SetStatus(q)
		d := diagnose(t, e, runbook.Question{Namespace: ns}, diagnosis.QuotaFull)
		mustSay(t, d, "resourcequota/rb-quota/compute: a ResourceQuota is full", "status.used.pods: 2 >= spec.hard.pods: 2")
		planIs(t, d, "resource_patch@[disruptive]")
	})

	t.Run("NodePressure cordons the node", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "rb-full"}}
		c.Create(n)
		now := metav1.Now()
		n.Status.Conditions = []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastTransitionTime: now, LastHeartbeatTime: now},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue, Reason: "KubeletHasInsufficientMemory", Message: "kubelet has insufficient memory available", LastTransitionTime: now, LastHeartbeatTime: now}}
		c.SetStatus(n)
		d := diagnose(t, e, runbook.Question{Subject: "node/rb-full"}, diagnosis.NodePressure)
		mustSay(t, d, "node/rb-full: the node is under resource pressure", "reason=KubeletHasInsufficientMemory")
		planIs(t, d, "node_cordon@cluster-tools[safe]")
	})

	t.Run("a healthy namespace", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("rb-healthy")
		d := diagnose(t, e, runbook.Question{Namespace: ns}, diagnosis.NoProblemFound)
		mustSay(t, d, "no problem found in namespace rb-healthy")
		planIs(t, d)
	})

	t.Run("a subject it cannot read", func(t *testing.T) {
		_, err := e.Diagnose(context.Background(), runbook.Question{Subject: "gizmo/x/y"})
		if err == nil || !strings.Contains(err.Error(), `subject "gizmo/x/y": unknown kind "gizmo"`) {
			t.Errorf("bad subject: %v", err)
		}
		_, err = e.Diagnose(context.Background(), runbook.Question{Subject: "deployment/web"})
		if err == nil || !strings.Contains(err.Error(), "write kind/namespace/name (or node/name)") {
			t.Errorf("subject without a namespace: %v", err)
		}
	})
}

// An agent without tools cannot investigate, and says what to grant.
func TestNoTools(t *testing.T) {
	pool, _ := mcppool.New(nil, mcppool.Options{})
	_, err := runbook.New("ns/lonely", pool.Toolset(nil), nil).Diagnose(context.Background(), runbook.Question{Namespace: "x"})
	if err == nil || !strings.Contains(err.Error(), "agent ns/lonely has no read-only tools to investigate with: grant it analyze") {
		t.Errorf("%v", err)
	}
}
