package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// node creates a node with conditions (type → status) and allocatable resources, as its
// kubelet would report them, and deletes it when the test ends.
func node(t *testing.T, name string, spec corev1.NodeSpec, conditions map[corev1.NodeConditionType]corev1.ConditionStatus, allocatable corev1.ResourceList) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"node-role.kubernetes.io/gpu": ""}}, Spec: spec}
	createWithStatus(t, n, func() {
		for typ, status := range conditions {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{
				Type: typ, Status: status, Reason: "Kubelet" + string(typ) + string(status),
				Message: "kubelet says " + string(typ) + " is " + string(status), LastTransitionTime: metav1.Now(),
			})
		}
		n.Status.Allocatable = allocatable
		n.Status.Capacity = allocatable
	})
	t.Cleanup(func() { _ = apiServer(t).Client.Delete(context.Background(), n) })
}

func requests(cpu, memory string, gpus int64) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}}
	if gpus > 0 {
		q := *resource.NewQuantity(gpus, resource.DecimalSI)
		r.Requests["nvidia.com/gpu"] = q
		r.Limits = corev1.ResourceList{"nvidia.com/gpu": q}
	}
	return r
}

// runningPod creates a pod bound to a node in the given phase.
func podOnNode(t *testing.T, ns, name, nodeName string, phase corev1.PodPhase, spec func(*corev1.PodSpec)) {
	t.Helper()
	p := pod(ns, name, nil)
	p.Spec.NodeName = nodeName
	if spec != nil {
		spec(&p.Spec)
	}
	createWithStatus(t, p, func() { p.Status.Phase = phase })
}

func TestNodesStatus(t *testing.T) {
	ns := namespace(t, "rd-nodes")
	T, F := corev1.ConditionTrue, corev1.ConditionFalse
	node(t, "rd-node-gpu", corev1.NodeSpec{
		Unschedulable: true,
		Taints:        []corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}},
	}, map[corev1.NodeConditionType]corev1.ConditionStatus{
		corev1.NodeReady: T, corev1.NodeMemoryPressure: T, corev1.NodeDiskPressure: F, corev1.NodePIDPressure: F, corev1.NodeNetworkUnavailable: F,
	}, corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"),
		"nvidia.com/gpu": resource.MustParse("8"), corev1.ResourcePods: resource.MustParse("110"),
	})
	node(t, "rd-node-cpu", corev1.NodeSpec{}, map[corev1.NodeConditionType]corev1.ConditionStatus{
		corev1.NodeReady: F, corev1.NodeDiskPressure: T, corev1.NodeMemoryPressure: F,
	}, corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110"),
	})
	podOnNode(t, ns, "trainer", "rd-node-gpu", corev1.PodRunning, func(s *corev1.PodSpec) {
		s.Containers[0].Resources = requests("500m", "1Gi", 2)
	})
	podOnNode(t, ns, "api", "rd-node-gpu", corev1.PodRunning, func(s *corev1.PodSpec) {
		s.Containers[0].Resources = requests("1", "512Mi", 0)
		// An init step that needs more than the app: the scheduler reserves 2 CPUs.
		s.InitContainers = []corev1.Container{{Name: "warmup", Image: "registry.example/warmup:1", Resources: requests("2", "64Mi", 0)}}
	})
	podOnNode(t, ns, "done", "rd-node-gpu", corev1.PodSucceeded, func(s *corev1.PodSpec) {
		s.Containers[0].Resources = requests("3", "4Gi", 4)
		s.RestartPolicy = corev1.RestartPolicyNever
	})
	event(t, "default", "rd-node-gpu.evict", refTo("Node", "", "rd-node-gpu"), corev1.EventTypeWarning, "EvictionThresholdMet", "Attempting to reclaim memory", 4, time.Minute)
	s := connect(t, cluster.Config{})

	t.Run("table: conditions, taints, requested vs allocatable", func(t *testing.T) {
		out := s.Eventually("nodes_status", nil, "rd-node-gpu", "rd-node-cpu", "2/110")
		gpu := line(t, out, "rd-node-gpu")
		hasField(t, gpu, "Ready,SchedulingDisabled")
		hasField(t, gpu, "MemoryPressure")
		mustContain(t, gpu, "nvidia.com/gpu:NoSchedule")
		// trainer 500m + api 2 (its init step); the Succeeded pod requests nothing any more.
		mustContain(t, gpu, "2500m/4 (62%)", "1.5Gi/16Gi (9%)", "2/8 (25%)", "2/110")
		cpu := line(t, out, "rd-node-cpu")
		hasField(t, cpu, "NotReady")
		hasField(t, cpu, "DiskPressure")
		mustContain(t, cpu, "0/2 (0%)", "0/8Gi (0%)", "0/110")
		hasField(t, cpu, "-") // no GPUs
		notContain(t, cpu, "MemoryPressure")
		var got contract.NodeStatusList
		s.Data("nodes_status", nil, &got)
		byName := map[string]contract.NodeStatus{}
		for _, n := range got.Nodes {
			byName[n.Name] = n
		}
		g, c := byName["rd-node-gpu"], byName["rd-node-cpu"]
		usage := func(n contract.NodeStatus, r string) string {
			for _, u := range n.Resources {
				if u.Resource == r && u.Percent != nil {
					return fmt.Sprintf("%s/%s (%d%%)", u.Requested, u.Allocatable, *u.Percent)
				}
			}
			return "-"
		}
		if !g.Ready || !g.Cordoned || !slices.Contains(g.Problems, "MemoryPressure") || !slices.Contains(g.Taints, "nvidia.com/gpu:NoSchedule") ||
			usage(g, "cpu") != "2500m/4 (62%)" || usage(g, "nvidia.com/gpu") != "2/8 (25%)" || g.Pods != 2 || g.PodsAllocatable != "110" {
			t.Errorf("nodes_status rd-node-gpu: structured %+v", g)
		}
		if c.Ready || c.Status != "NotReady" || !slices.Contains(c.Problems, "DiskPressure") || usage(c, "nvidia.com/gpu") != "-" || got.Detail != nil {
			t.Errorf("nodes_status rd-node-cpu: structured %+v", c)
		}
	})
	t.Run("one node in detail", func(t *testing.T) {
		out := s.Eventually("nodes_status", map[string]any{"name": "rd-node-gpu"}, "EvictionThresholdMet")
		notContain(t, out, "rd-node-cpu")
		mustContain(t, out, "Cordoned: yes", "Taints: nvidia.com/gpu=present:NoSchedule", "Roles: gpu")
		mustContain(t, line(t, out, "MemoryPressure", "True"), "kubelet says MemoryPressure is True")
		res := line(t, out, "nvidia.com/gpu ", "25%")
		hasField(t, res, "2")
		hasField(t, res, "8")
		mustContain(t, line(t, out, "pods ", "110"), "2 ")
		mustContain(t, line(t, out, "trainer"), "500m", "1Gi", "2")
		mustContain(t, line(t, out, " api "), "2", "512Mi")
		noRow(t, out, "done") // a Succeeded pod holds nothing on the node
		hasField(t, line(t, out, "EvictionThresholdMet"), "4")
		var got contract.NodeStatusList
		s.Data("nodes_status", map[string]any{"name": "rd-node-gpu"}, &got)
		d := got.Detail
		if len(got.Nodes) != 1 || d == nil || !slices.Contains(d.Roles, "gpu") || !slices.Contains(d.Taints, "nvidia.com/gpu=present:NoSchedule") ||
			!slices.ContainsFunc(d.Pods, func(p contract.NodePod) bool {
				return strings.HasSuffix(p.Pod, "/trainer") && p.CPU == "500m" && p.GPU == "2"
			}) ||
			slices.ContainsFunc(d.Pods, func(p contract.NodePod) bool { return strings.HasSuffix(p.Pod, "/done") }) ||
			!slices.ContainsFunc(d.Events, func(e contract.Event) bool { return e.Reason == "EvictionThresholdMet" && e.Count == 4 }) ||
			!slices.ContainsFunc(d.Conditions, func(c contract.Condition) bool { return c.Type == "MemoryPressure" && c.Status == "True" }) {
			t.Errorf("nodes_status rd-node-gpu detail: structured %+v", d)
		}
	})
	t.Run("describe node", func(t *testing.T) {
		out := s.Eventually("describe", map[string]any{"kind": "node", "name": "rd-node-gpu"}, "EvictionThresholdMet", "trainer")
		mustContain(t, out, "Node rd-node-gpu: Ready,SchedulingDisabled", "Cordoned: yes", "Taints: nvidia.com/gpu=present:NoSchedule", "Attempting to reclaim memory")
	})
	t.Run("errors", func(t *testing.T) {
		s.Fails("nodes_status", map[string]any{"name": "rd-node-nope"}, "node rd-node-nope not found")
		confined := connect(t, cluster.Config{AllowNamespaces: []string{ns}})
		confined.Fails("nodes_status", nil, "nodes is cluster-scoped", "--allow-namespaces")
		confined.Fails("describe", map[string]any{"kind": "node", "name": "rd-node-gpu"}, "cluster-scoped")
	})
}
