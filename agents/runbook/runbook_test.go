//go:build cgo

package runbook_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	"github.com/opsmesh/opsmesh/agents/runbook"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

func create(t testing.TB, obj client.Object) {
	t.Helper()
	if err := shared.Env(t).Client.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

func setStatus(t testing.TB, obj client.Object) {
	t.Helper()
	if err := shared.Env(t).Client.Status().Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

func namespace(t testing.TB, name string) string {
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	return name
}

// deployment creates a Deployment with revisions ReplicaSets (the last one current) and returns
// the current ReplicaSet.
func deployment(t testing.TB, ns, name string, revisions int, mutate func(*corev1.PodSpec)) *appsv1.ReplicaSet {
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + name + ":1"}}}
	if mutate != nil {
		mutate(&spec)
	}
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}}}
	create(t, d)
	var rs *appsv1.ReplicaSet
	for rev := 1; rev <= revisions; rev++ {
		l := map[string]string{"app": name, "pod-template-hash": fmt.Sprintf("h%d", rev)}
		rs = &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-h%d", name, rev), Labels: l,
			Annotations:     map[string]string{"deployment.kubernetes.io/revision": fmt.Sprint(rev)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: ptr.To(true)}}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: l},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: spec}}}
		create(t, rs)
	}
	return rs
}

// pod creates a pod of rs on node with status.
func pod(t testing.TB, rs *appsv1.ReplicaSet, ns, name, node string, status corev1.PodStatus) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: rs.Spec.Template.Labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
		Spec: *rs.Spec.Template.Spec.DeepCopy()}
	p.Spec.NodeName = node
	create(t, p)
	p.Status = status
	setStatus(t, p)
}

func waiting(reason, message string, last *corev1.ContainerStateTerminated) corev1.PodStatus {
	st := corev1.ContainerStatus{Name: "app", Image: "registry.example/app:1", RestartCount: 6,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}}
	if last != nil {
		st.LastTerminationState.Terminated = last
	}
	return corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{st}}
}

func terminated(reason string, code int32) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, StartedAt: metav1.Now(), FinishedAt: metav1.Now()}
}

// gpuNode creates a GPU node and a simulated GPU node agent for it (a real node agent on go-nvml's
// mock DGX H100, over HTTP on 127.0.0.1, found by the GPU view through its pod).
func gpuNode(t testing.TB, name, faults string) {
	eight := corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}}}
	create(t, n)
	n.Status.Capacity, n.Status.Allocatable = eight, eight
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
	setStatus(t, n)

	var f *simulate.Faults
	if faults != "" {
		var err error
		if f, err = simulate.ParseFaults([]byte(faults), simulate.NodeGPUs); err != nil {
			t.Fatal(err)
		}
	}
	lib, err := simulate.New("dgxh100", f)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, err := gpu.NewNodeAgent(ctx, lib, gpu.Config{NodeName: name})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(serve.HTTPHandler(a.MCP, mcptest.Token))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "gpu-system", Name: "agent-" + name,
		Labels:      map[string]string{"app.kubernetes.io/component": "gpu-node-agent"},
		Annotations: map[string]string{gpuview.PortAnnotation: u.Port()}},
		Spec: corev1.PodSpec{NodeName: name, Containers: []corev1.Container{{Name: "agent", Image: "opsmesh"}}}}
	create(t, p)
	p.Status.Phase, p.Status.PodIP, p.Status.PodIPs = corev1.PodRunning, "127.0.0.1", []corev1.PodIP{{IP: "127.0.0.1"}}
	setStatus(t, p)
}

// engine is a runbook engine with the real cluster server and GPU view in this process, granted
// what the sample specialists are granted.
func engine(t testing.TB) *runbook.Engine {
	env := shared.Env(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cs, err := cluster.New(ctx, env.Config, cluster.Config{})
	if err != nil {
		t.Fatal(err)
	}
	view, err := gpuview.New(ctx, env.Config, gpuview.Config{NodeAgentNamespace: "gpu-system", NodeAgentToken: mcptest.Token})
	if err != nil {
		t.Fatal(err)
	}
	gs := mcptool.NewServer("opsmesh-gpu", "test", "")
	mcptool.Register(gs, mcptool.Options{}, view.Tools()...)
	pool, err := mcppool.New([]mcppool.Endpoint{{Name: "cluster-tools", InProcess: cs.MCP}, {Name: "gpu-tools", InProcess: gs}}, mcppool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return runbook.New("opsmesh/incident-coordinator", pool.Toolset([]mcppool.Grant{
		{Server: "cluster-tools", Allowed: []string{"analyze", "resources_list", "pod_logs", "events_list", "describe",
			"workload_restart", "workload_rollback", "workload_set_image", "workload_set_resources", "node_cordon", "node_drain"}},
		{Server: "gpu-tools", Allowed: []string{"gpu_node_health", "gpu_inventory"}},
	}))
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
	namespace(t, "gpu-system")
	gpuNode(t, "rb-gpu-1", "gpus:\n  - index: 3\n    lost: true\n    xids:\n      - {code: 79, time: 2026-11-30T03:00:00Z}\n")

	t.Run("CrashLoopBackOff rolls back to the previous revision", func(t *testing.T) {
		ns := namespace(t, "rb-crash")
		rs := deployment(t, ns, "infer", 2, nil)
		pod(t, rs, ns, "infer-h2-0", "", waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=app", terminated("Error", 1)))
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
		ns := namespace(t, "rb-oom")
		rs := deployment(t, ns, "worker", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
		})
		pod(t, rs, ns, "worker-h1-0", "", waiting("CrashLoopBackOff", "back-off", terminated("OOMKilled", 137)))
		d := diagnose(t, e, runbook.Question{Subject: "pod/rb-oom/worker-h1-0"}, diagnosis.OOMKilled)
		mustSay(t, d, "reason=OOMKilled exitCode=137", "resources.limits.memory: 64Mi")
		planIs(t, d, "workload_set_resources@cluster-tools[disruptive]")
		if lim, _ := d.Plan[0].Arguments["limits"].(map[string]any); lim["memory"] != "128Mi" {
			t.Errorf("plan arguments %v", d.Plan[0].Arguments)
		}
	})

	t.Run("ImagePullBackOff sets an image", func(t *testing.T) {
		ns := namespace(t, "rb-image")
		rs := deployment(t, ns, "shop", 1, func(p *corev1.PodSpec) { p.Containers[0].Image = "registry.example/shop:nope" })
		pod(t, rs, ns, "shop-h1-0", "", waiting("ErrImagePull", `failed to pull image "registry.example/shop:nope": not found`, nil))
		d := diagnose(t, e, runbook.Question{Namespace: ns}, diagnosis.ImagePullBackOff)
		mustSay(t, d, "registry.example/shop:nope", "subject: namespace/rb-image")
		planIs(t, d, "workload_set_image@cluster-tools[disruptive]")
	})

	t.Run("CreateContainerConfigError names what is missing and plans nothing", func(t *testing.T) {
		ns := namespace(t, "rb-config")
		rs := deployment(t, ns, "billing", 1, func(p *corev1.PodSpec) {
			p.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "billing-settings"}}}}
		})
		pod(t, rs, ns, "billing-h1-0", "", waiting("CreateContainerConfigError", `configmap "billing-settings" not found`, nil))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/rb-config/billing"}, diagnosis.CreateContainerConfigError)
		mustSay(t, d, "ConfigMap rb-config/billing-settings does not exist", "note: no automatic fix: create what is missing")
		planIs(t, d)
	})

	t.Run("an XID 79 under a training job's pods names the GPU and drains the node", func(t *testing.T) {
		ns := namespace(t, "rb-gpu")
		rs := deployment(t, ns, "trainer", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}
		})
		pod(t, rs, ns, "trainer-h1-0", "rb-gpu-1", waiting("CrashLoopBackOff", "back-off 5m0s", terminated("Error", 1)))
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

	t.Run("a node asked about directly", func(t *testing.T) {
		d := diagnose(t, e, runbook.Question{Subject: "node/rb-gpu-1"}, "GPUXid79")
		planIs(t, d, "node_cordon@cluster-tools[safe]", "node_drain@cluster-tools[destructive]")
	})

	t.Run("a healthy namespace", func(t *testing.T) {
		ns := namespace(t, "rb-healthy")
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
	_, err := runbook.New("ns/lonely", pool.Toolset(nil)).Diagnose(context.Background(), runbook.Question{Namespace: "x"})
	if err == nil || !strings.Contains(err.Error(), "agent ns/lonely has no read-only tools to investigate with: grant it analyze") {
		t.Errorf("%v", err)
	}
}
