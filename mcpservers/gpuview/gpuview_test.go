//go:build cgo

package gpuview_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
)

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := apiServer(t).Client.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

func updateStatus(t *testing.T, obj client.Object) {
	t.Helper()
	if err := apiServer(t).Client.Status().Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

func res(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func node(t *testing.T, name string, labels map[string]string, capacity, allocatable corev1.ResourceList, taints []corev1.Taint, conds []corev1.NodeCondition) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
	create(t, n)
	n.Status.Capacity, n.Status.Allocatable = capacity, allocatable
	n.Status.Conditions = append([]corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}, conds...)
	updateStatus(t, n)
}

func annotate(t *testing.T, node, key, value string) {
	t.Helper()
	n := &corev1.Node{}
	c := apiServer(t).Client
	if err := c.Get(context.Background(), client.ObjectKey{Name: node}, n); err != nil {
		t.Fatal(err)
	}
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	n.Annotations[key] = value
	if err := c.Update(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}

func pod(t *testing.T, ns, name, nodeName string, labels, annotations map[string]string, limits corev1.ResourceList, ip string) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{
			Name: "main", Image: "busybox", Resources: corev1.ResourceRequirements{Limits: limits},
		}}},
	}
	create(t, p)
	p.Status.Phase = corev1.PodRunning
	if ip != "" {
		p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	}
	if nodeName != "" {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	} else {
		p.Status.Phase = corev1.PodPending
	}
	updateStatus(t, p)
}

// TestClusterView builds one GPU cluster and checks every tool against it:
//
//	gpu-a: 8 H100, a simulated node agent with the node agent's test faults (GPU 0 busy with
//	       training/job-7-worker-0, GPU 3 lost): training/job-7-worker-0 (1 GPU), ml/sharer (2 GPUs)
//	gpu-b: 8 H100 of which 7 allocatable, a GPU taint and a GPUXidError condition, a healthy
//	       simulated agent; ml/notebook (1 GPU, the only GPU pod: idle)
//	gpu-c: MIG mixed, 7 × mig-1g.10gb, no node agent; web/infer (1 mig-1g.10gb), cordoned
//	gpu-d: 4 GPUs, node agent pod that nothing answers; ml/stuck (1 GPU)
//	cpu-1: no GPUs; ml/waiting requests a GPU and is not scheduled
func TestClusterView(t *testing.T) {
	for _, ns := range []string{"gpu-system", "ml", "web", "training"} {
		create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	h100 := func(extra ...string) map[string]string {
		l := map[string]string{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.memory": "81559", "nvidia.com/gpu.count": "8", "nvidia.com/mig.strategy": "none"}
		for i := 0; i < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return l
	}
	node(t, "gpu-a", h100(), res("nvidia.com/gpu", "8", "cpu", "96"), res("nvidia.com/gpu", "8", "cpu", "96"), nil, nil)
	node(t, "gpu-b", h100(), res("nvidia.com/gpu", "8"), res("nvidia.com/gpu", "7"),
		[]corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}},
		[]corev1.NodeCondition{{Type: "GPUXidError", Status: corev1.ConditionTrue, Reason: "XID79", Message: "GPU has fallen off the bus"}})
	node(t, "gpu-c", map[string]string{"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB", "nvidia.com/mig.strategy": "mixed"},
		res("nvidia.com/mig-1g.10gb", "7"), res("nvidia.com/mig-1g.10gb", "7"), nil, nil)
	node(t, "gpu-d", nil, res("nvidia.com/gpu", "4"), res("nvidia.com/gpu", "4"), nil, nil)
	node(t, "cpu-1", nil, res("cpu", "8"), res("cpu", "8"), nil, nil)
	cordon := &corev1.Node{}
	if err := apiServer(t).Client.Get(context.Background(), client.ObjectKey{Name: "gpu-c"}, cordon); err != nil {
		t.Fatal(err)
	}
	cordon.Spec.Unschedulable = true
	if err := apiServer(t).Client.Update(context.Background(), cordon); err != nil {
		t.Fatal(err)
	}

	agentLabel := map[string]string{"app.kubernetes.io/component": "gpu-node-agent"}
	portA := simAgent(t, "gpu-a", "../gpu/testdata/faults.yaml")
	portB := simAgent(t, "gpu-b", "")
	pod(t, "gpu-system", "agent-a", "gpu-a", agentLabel, map[string]string{gpuview.PortAnnotation: portA}, nil, "127.0.0.1")
	pod(t, "gpu-system", "agent-b", "gpu-b", agentLabel, map[string]string{gpuview.PortAnnotation: portB}, nil, "127.0.0.1")
	pod(t, "gpu-system", "agent-d", "gpu-d", agentLabel, map[string]string{gpuview.PortAnnotation: "1"}, nil, "127.0.0.1")

	pod(t, "training", "job-7-worker-0", "gpu-a", nil, nil, res("nvidia.com/gpu", "1"), "")
	pod(t, "ml", "sharer", "gpu-a", nil, nil, res("nvidia.com/gpu", "2"), "")
	pod(t, "ml", "notebook", "gpu-b", nil, nil, res("nvidia.com/gpu", "1"), "")
	pod(t, "web", "infer", "gpu-c", nil, nil, res("nvidia.com/mig-1g.10gb", "1"), "")
	pod(t, "ml", "stuck", "gpu-d", nil, nil, res("nvidia.com/gpu", "1"), "")
	pod(t, "ml", "waiting", "", nil, nil, res("nvidia.com/gpu", "1"), "")

	s := connect(t, gpuview.Config{NodeAgentNamespace: "gpu-system"})

	t.Run("gpu_inventory", func(t *testing.T) {
		out := s.OK("gpu_inventory", nil)
		mustContain(t, out, "4 GPU nodes\n",
			"total nvidia.com/gpu: capacity 20, allocatable 19, requested 5, free 14",
			"total nvidia.com/mig-1g.10gb: capacity 7, allocatable 7, requested 1, free 6")
		if got := fields(out, "gpu-b  "); !slices.Equal(got, []string{"gpu-b", "NVIDIA-H100-80GB-HBM3", "81559", "MiB", "8", "none"}) {
			t.Errorf("gpu-b's GFD labels: %v\n%s", got, out)
		}
		if got := fields(out, "gpu-a  nvidia.com/gpu"); !slices.Equal(got, []string{"gpu-a", "nvidia.com/gpu", "8", "8", "3", "5"}) {
			t.Errorf("gpu-a's GPUs (capacity, allocatable, requested, free): %v\n%s", got, out)
		}
		if got := fields(out, "gpu-c  nvidia.com/mig"); !slices.Equal(got, []string{"gpu-c", "nvidia.com/mig-1g.10gb", "7", "7", "1", "6"}) {
			t.Errorf("gpu-c's MIG devices: %v\n%s", got, out)
		}
		if strings.Contains(out, "cpu-1") {
			t.Errorf("a node without GPUs is listed:\n%s", out)
		}
		var inv contract.GPUInventory
		s.Data("gpu_inventory", nil, &inv)
		if len(inv.Nodes) != 4 || inv.Nodes[1].Node != "gpu-b" || inv.Nodes[1].Product != "NVIDIA-H100-80GB-HBM3" || inv.Nodes[1].MemoryMiB != 81559 ||
			inv.Nodes[1].Count != 8 || inv.Nodes[1].MIGStrategy != "none" {
			t.Errorf("gpu_inventory structured: want gpu-a..gpu-d with gpu-b's GFD labels: %+v", inv.Nodes)
		}
		wantA := []contract.GPUResourceCount{{Resource: "nvidia.com/gpu", Capacity: 8, Allocatable: 8, Requested: 3, Free: 5}}
		if !slices.Equal(inv.Nodes[0].Resources, wantA) {
			t.Errorf("gpu_inventory structured gpu-a resources: %+v; want %+v", inv.Nodes[0].Resources, wantA)
		}
		wantTotals := []contract.GPUResourceCount{
			{Resource: "nvidia.com/gpu", Capacity: 20, Allocatable: 19, Requested: 5, Free: 14},
			{Resource: "nvidia.com/mig-1g.10gb", Capacity: 7, Allocatable: 7, Requested: 1, Free: 6},
		}
		if !slices.Equal(inv.Totals, wantTotals) || len(inv.RequestedIn) != 0 {
			t.Errorf("gpu_inventory structured totals: %+v; want %+v", inv.Totals, wantTotals)
		}
		one := s.OK("gpu_inventory", map[string]any{"node": "gpu-d"})
		mustContain(t, one, "1 GPU nodes", "total nvidia.com/gpu: capacity 4, allocatable 4, requested 1, free 3")
		s.Fails("gpu_inventory", map[string]any{"node": "cpu-1"}, "node cpu-1 has no NVIDIA GPU resources", "GPU nodes: gpu-a, gpu-b, gpu-c, gpu-d")
		s.Fails("gpu_inventory", map[string]any{"node": "nope"}, `node "nope" not found`)
		s.Fails("gpu_inventory", map[string]any{"nodes": "x"}, "unknown argument")
	})

	t.Run("gpu_allocation", func(t *testing.T) {
		out := s.OK("gpu_allocation", nil)
		mustContain(t, out, "5 pods hold GPU resources (nvidia.com/gpu: 5, nvidia.com/mig-1g.10gb: 1) in 3 namespaces",
			"namespace ml: 3 pods, nvidia.com/gpu: 4", "namespace training: 1 pods", "namespace web: 1 pods, nvidia.com/mig-1g.10gb: 1",
			"1 pods request GPUs but are not scheduled yet")
		if got := fields(out, "sharer"); len(got) < 5 || got[1] != "gpu-a" || got[2] != "Running" || got[4] != "2" {
			t.Errorf("ml/sharer's row: %v\n%s", got, out)
		}
		if !strings.Contains(strings.Join(fields(out, "sharer"), " "), "(since ") {
			t.Errorf("ml/sharer's row does not say since when it holds its GPUs:\n%s", out)
		}
		var alloc contract.GPUAllocation
		s.Data("gpu_allocation", nil, &alloc)
		var names []string
		for _, p := range alloc.Pods {
			names = append(names, p.Pod)
		}
		if !slices.Equal(names, []string{"ml/notebook", "ml/sharer", "ml/stuck", "training/job-7-worker-0", "web/infer"}) ||
			alloc.Totals["nvidia.com/gpu"] != 5 || alloc.Totals["nvidia.com/mig-1g.10gb"] != 1 || alloc.Unscheduled != 1 {
			t.Errorf("gpu_allocation structured: pods %v, totals %v, unscheduled %d", names, alloc.Totals, alloc.Unscheduled)
		}
		if p := alloc.Pods[1]; p.Node != "gpu-a" || p.Phase != "Running" || p.Resources["nvidia.com/gpu"] != 2 || p.HeldSince == "" {
			t.Errorf("gpu_allocation structured ml/sharer: %+v", p)
		}
		onB := s.OK("gpu_allocation", map[string]any{"node": "gpu-b"})
		mustContain(t, onB, "1 pods hold GPU resources on node gpu-b", "notebook")
		if strings.Contains(onB, "sharer") {
			t.Errorf("node filter leaks other nodes' pods:\n%s", onB)
		}
		web := s.OK("gpu_allocation", map[string]any{"namespace": "web"})
		mustContain(t, web, "infer")
		if strings.Contains(web, "notebook") {
			t.Errorf("namespace filter leaks:\n%s", web)
		}
	})

	t.Run("gpu_node_health", func(t *testing.T) {
		out := s.OK("gpu_node_health", nil)
		mustContain(t, out, "4 GPU nodes: 1 healthy, 2 degraded, 1 failed",
			"node gpu-a: failed", "node agent: GPU 3 failed",
			"node agent gpu-system/agent-a: 8 GPUs: ",
			"node gpu-b: degraded",
			"allocatable nvidia.com/gpu 7 < capacity 8: the device plugin marks 1 GPUs unhealthy",
			"condition GPUXidError=True (XID79: GPU has fallen off the bus)",
			"taint nvidia.com/gpu=present:NoSchedule",
			"node agent gpu-system/agent-b: 8 GPUs: 8 healthy, 0 degraded, 0 failed",
			"node gpu-c: degraded", "cordoned", "no GPU node agent pod on node gpu-c (selector app.kubernetes.io/component=gpu-node-agent in namespace gpu-system)",
			"node gpu-d: healthy", "node agent gpu-system/agent-d at http://127.0.0.1:1/mcp unreachable")

		var h contract.NodeHealthReport
		if err := json.Unmarshal([]byte(s.OK("gpu_node_health", map[string]any{"node": "gpu-a", "output": "json"})), &h); err != nil {
			t.Fatal(err)
		}
		check := func(how string, h contract.NodeHealthReport) {
			t.Helper()
			if len(h.Nodes) != 1 || h.Nodes[0].Node != "gpu-a" || h.Nodes[0].Verdict != "failed" || len(h.Nodes[0].GPUs) != 8 ||
				h.Nodes[0].GPUs[3].Verdict != "failed" || h.Nodes[0].GPUs[3].Action != "drain and reboot the node" || !slices.Equal(h.Nodes[0].GPUs[3].XIDs, []int{79}) {
				t.Errorf("gpu_node_health %s: %+v", how, h)
			}
		}
		check("output: json", h)
		// The structured content: the node failed, and which pod's processes run on which GPU.
		var data contract.NodeHealthReport
		s.Data("gpu_node_health", map[string]any{"node": "gpu-a"}, &data)
		check("structured", data)
		wantPods := []contract.GPUPod{
			{Pod: "ml/sharer", Node: "gpu-a", Resources: map[string]int64{"nvidia.com/gpu": 2}},
			{Pod: "training/job-7-worker-0", Node: "gpu-a", Resources: map[string]int64{"nvidia.com/gpu": 1}, GPUs: []int{0}},
		}
		if len(data.Nodes) == 1 && !slices.EqualFunc(data.Nodes[0].Pods, wantPods, func(a, b contract.GPUPod) bool {
			return a.Pod == b.Pod && a.Node == b.Node && a.Owner == b.Owner && slices.Equal(a.GPUs, b.GPUs) && a.Resources["nvidia.com/gpu"] == b.Resources["nvidia.com/gpu"]
		}) {
			t.Errorf("gpu_node_health structured pods on gpu-a: %+v; want %+v", data.Nodes[0].Pods, wantPods)
		}
		if len(data.Nodes) == 1 && !slices.ContainsFunc(data.Nodes[0].Reasons, func(r string) bool { return strings.HasPrefix(r, "node agent: GPU 3 failed") }) {
			t.Errorf("gpu_node_health structured reasons on gpu-a: %q", data.Nodes[0].Reasons)
		}
		// A node without an agent: its verdict from the API alone, with the reason as a fact.
		data = contract.NodeHealthReport{}
		s.Data("gpu_node_health", map[string]any{"node": "gpu-c"}, &data)
		if len(data.Nodes) != 1 || data.Nodes[0].Verdict != "degraded" || len(data.Nodes[0].GPUs) != 0 ||
			!slices.ContainsFunc(data.Nodes[0].Facts, func(f string) bool { return strings.Contains(f, "no GPU node agent pod on node gpu-c") }) ||
			len(data.Nodes[0].Pods) != 1 || data.Nodes[0].Pods[0].Pod != "web/infer" || data.Nodes[0].Pods[0].Resources["nvidia.com/mig-1g.10gb"] != 1 {
			t.Errorf("gpu_node_health structured gpu-c: %+v", data)
		}
	})

	t.Run("gpu_idle", func(t *testing.T) {
		out := s.OK("gpu_idle", map[string]any{"minIdleMinutes": 0})
		mustContain(t, out, "1 pods hold idle GPUs (utilization below 5%) for at least 0 minutes; 1 pods use their GPUs",
			"first observation now",
			"unknown: ml/sharer on gpu-a: no GPU process of it is seen and 2 GPU pods share the node",
			"node gpu-d: no utilization data: node agent gpu-system/agent-d at http://127.0.0.1:1/mcp")
		if got := fields(out, "ml  "); len(got) < 5 || got[1] != "notebook" || got[2] != "gpu-b" || !strings.HasPrefix(got[3], "0,1,2,3,4,5,6,7") {
			t.Errorf("ml/notebook idle row: %v\n%s", got, out)
		}
		if strings.Contains(out, "job-7-worker-0") {
			t.Errorf("the busy pod is reported idle:\n%s", out)
		}
		var idle contract.IdleGPUs
		s.Data("gpu_idle", map[string]any{"minIdleMinutes": 0}, &idle)
		if len(idle.Idle) != 1 || idle.Idle[0].Pod != "ml/notebook" || idle.Idle[0].Node != "gpu-b" || !idle.Idle[0].AllGPUsOfNode ||
			!slices.Equal(idle.Idle[0].GPUs, []int{0, 1, 2, 3, 4, 5, 6, 7}) || len(idle.Idle[0].UtilizationPercent) != 8 || !idle.Idle[0].AtLeast ||
			idle.Busy != 1 || !idle.Simulated || idle.MinIdleMinutes != 0 || idle.IdleBelowPercent != 5 {
			t.Errorf("gpu_idle structured: %+v", idle)
		}
		again := s.OK("gpu_idle", nil)
		mustContain(t, again, "0 pods hold idle GPUs (utilization below 5%) for at least 10 minutes", "idle, but seen idle for less than 10 minutes:", "at least 0m (since ")
		s.Fails("gpu_idle", map[string]any{"minIdleMinutes": -1}, "minIdleMinutes")
		s.Fails("gpu_idle", map[string]any{"minIdleMinutes": "ten"}, "minIdleMinutes")
	})

	t.Run("allow-namespaces", func(t *testing.T) {
		c := connect(t, gpuview.Config{AllowNamespaces: []string{"web"}, NodeAgentNamespace: "gpu-system"})
		c.Fails("gpu_allocation", map[string]any{"namespace": "ml"}, `namespace "ml" is outside this server's --allow-namespaces (web)`)
		out := c.OK("gpu_allocation", nil)
		mustContain(t, out, "1 pods hold GPU resources", "infer")
		inv := c.OK("gpu_inventory", nil)
		mustContain(t, inv, "total nvidia.com/gpu: capacity 20, allocatable 19, requested 0", "requested counts only pods in namespaces web")
	})

	// Last, since it adds nodes the counts above do not expect.
	t.Run("agent URL annotation on the node", func(t *testing.T) {
		// gpu-e names its agent's URL on the Node (as the sandbox does), which wins over its pod's IP;
		// gpu-f's annotation is not a URL.
		portE := simAgent(t, "gpu-e", "../gpu/testdata/faults.yaml")
		node(t, "gpu-e", h100(), res("nvidia.com/gpu", "8"), res("nvidia.com/gpu", "8"), nil, nil)
		node(t, "gpu-f", h100(), res("nvidia.com/gpu", "8"), res("nvidia.com/gpu", "8"), nil, nil)
		annotate(t, "gpu-e", gpuview.AgentURLAnnotation, "http://127.0.0.1:"+portE+"/mcp")
		annotate(t, "gpu-f", gpuview.AgentURLAnnotation, "127.0.0.1:1")
		pod(t, "gpu-system", "agent-e", "gpu-e", agentLabel, map[string]string{gpuview.PortAnnotation: "1"}, nil, "10.0.0.9")
		e := s.OK("gpu_node_health", map[string]any{"node": "gpu-e"})
		mustContain(t, e, "node gpu-e: failed", "node agent: GPU 3 failed", "node agent of node gpu-e (annotation "+gpuview.AgentURLAnnotation+"): 8 GPUs")
		f := s.OK("gpu_node_health", map[string]any{"node": "gpu-f"})
		mustContain(t, f, `node gpu-f: annotation `+gpuview.AgentURLAnnotation+`="127.0.0.1:1" is not an http(s) URL`)
	})
}
