package cluster_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// envtest runs no kubelet, so no log can be read: these tests check that each way of failing
// says what is wrong and what to do. What pod_logs does with a log (grep, keeping the newest
// lines, the truncation marker) is tested in logs_internal_test.go.
func TestPodLogsErrors(t *testing.T) {
	ns := namespace(t, "rd-logs")
	createWithStatus(t, pod(ns, "unscheduled", nil), nil)
	two := pod(ns, "two", nil)
	two.Spec.Containers = append(two.Spec.Containers, corev1.Container{Name: "proxy", Image: "registry.example/proxy:1"})
	createWithStatus(t, two, nil)
	bound := pod(ns, "bound", nil)
	bound.Spec.NodeName = "rd-node-logs"
	createWithStatus(t, bound, func() { bound.Status.Phase = corev1.PodRunning })
	s := connect(t, cluster.Config{})

	t.Run("a pod not on a node has no logs", func(t *testing.T) {
		s.Eventually("resources_list", map[string]any{"kind": "pods", "namespace": ns}, "unscheduled", "two", "bound")
		s.Fails("pod_logs", map[string]any{"namespace": ns, "name": "unscheduled"},
			"pod rd-logs/unscheduled is not running on a node", "describe")
	})
	t.Run("several containers and none named", func(t *testing.T) {
		s.Fails("pod_logs", map[string]any{"namespace": ns, "name": "two"},
			`pod rd-logs/two has 2 containers: name one with argument "container": app, proxy`)
		s.Fails("pod_logs", map[string]any{"namespace": ns, "name": "two", "container": "db"},
			`pod rd-logs/two has no container "db"; its containers are: app, proxy`)
	})
	t.Run("the API server cannot reach the node", func(t *testing.T) {
		s.Fails("pod_logs", map[string]any{"namespace": ns, "name": "bound"}, "log of pod rd-logs/bound container app", "rd-node-logs")
		s.Fails("pod_logs", map[string]any{"namespace": ns, "name": "bound", "previous": true}, "previous")
	})
	t.Run("bad arguments", func(t *testing.T) {
		s.Fails("pod_logs", map[string]any{"namespace": ns, "name": "bound", "grep": "(["}, `argument "grep" "([" is not a valid regular expression`)
		s.Fails("pod_logs", map[string]any{"namespace": ns, "name": "bound", "tailLines": 6000}, "tailLines")
		s.Fails("pod_logs", map[string]any{"namespace": ns}, "name")
		s.Fails("pod_logs", map[string]any{"namespace": ns, "name": "nope"}, "pod rd-logs/nope not found")
	})
	t.Run("confined to --allow-namespaces", func(t *testing.T) {
		confined := connect(t, cluster.Config{AllowNamespaces: []string{"rd-logs-only"}})
		confined.Fails("pod_logs", map[string]any{"namespace": ns, "name": "bound"}, `namespace "rd-logs" is outside this server's --allow-namespaces (rd-logs-only)`)
	})
}
