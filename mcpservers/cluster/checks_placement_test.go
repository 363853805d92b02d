package cluster_test

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// testNode creates a Ready node, deleted when the test ends so that the cluster-wide analyses of
// other tests do not see it.
func testNode(t *testing.T, name string, unschedulable bool, taints ...corev1.Taint) *corev1.Node {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Spec: corev1.NodeSpec{Unschedulable: unschedulable, Taints: taints}}
	create(t, n)
	t.Cleanup(func() { _ = apiServer(t).Client.Delete(context.Background(), n) })
	now := metav1.Now()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastTransitionTime: now, LastHeartbeatTime: now}}
	setStatus(t, n)
	// As the node lifecycle controller does once the node is Ready: the API server's admission
	// tainted it node.kubernetes.io/not-ready on creation.
	n.Spec.Taints = taints
	if err := apiServer(t).Client.Update(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	return n
}

// daemonSet creates a DaemonSet of one container "app" with tolerations, and a running pod of it
// on each of nodes.
func daemonSet(t *testing.T, ns, name string, tolerations []corev1.Toleration, nodes ...string) *appsv1.DaemonSet {
	t.Helper()
	labels := map[string]string{"app": name}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				Tolerations: tolerations, Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + name + ":1"}}}}}}
	create(t, ds)
	t.Cleanup(func() { _ = apiServer(t).Client.Delete(context.Background(), ds) })
	for _, n := range nodes {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-" + n, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "DaemonSet", ds)}},
			Spec: corev1.PodSpec{NodeName: n, Containers: ds.Spec.Template.Spec.Containers}}
		create(t, p)
	}
	return ds
}

// causeOn is the cause of r about object, or nil.
func causeOn(r contract.CheckReport, object string) *contract.Cause {
	for i := range r.Causes {
		if r.Causes[i].Object == object {
			return &r.Causes[i]
		}
	}
	return nil
}

func TestPlacementCheck(t *testing.T) {
	s := connect(t, cluster.Config{})
	ns := namespace(t, "pl-check")
	taint := corev1.Taint{Key: "inference-only", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	testNode(t, "pl-cpu-1", false)
	testNode(t, "pl-gpu-new-1", false, taint)
	testNode(t, "pl-gpu-2", false, corev1.Taint{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule})
	testNode(t, "pl-booting", false, corev1.Taint{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule})
	gpuToleration := corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	daemonSet(t, ns, "log-agent", []corev1.Toleration{gpuToleration}, "pl-cpu-1", "pl-gpu-2")
	// Tolerates every taint: no cause.
	daemonSet(t, ns, "node-exporter", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, "pl-cpu-1", "pl-gpu-2", "pl-gpu-new-1")
	_, rs := deploymentWithRevisions(t, ns, "trainer", 1, func(p *corev1.PodSpec) { p.NodeSelector = map[string]string{"pool": "a100"} })
	ownedPod(t, rs, ns, "trainer-h1-0", corev1.PodStatus{Phase: corev1.PodPending})

	cases := []struct {
		name      string
		args      map[string]any
		wait      string
		object    string // the cause expected on this object, "" for none
		field     string
		summary   []string
		evidence  []string
		facts     []string
		fixTool   string
		noCauseOn string
	}{
		{
			name: "a DaemonSet kept off a node by a taint it does not tolerate",
			args: map[string]any{"namespace": ns, "kind": "daemonset", "name": "log-agent"}, wait: "pl-gpu-new-1",
			object: "node/pl-gpu-new-1", field: "spec.taints[inference-only]",
			summary:  []string{"node pl-gpu-new-1 has taint inference-only=true:NoSchedule, which DaemonSet log-agent does not tolerate, so it runs no pod there"},
			evidence: []string{"node/pl-gpu-new-1 spec.taints: inference-only=true:NoSchedule", "daemonset/pl-check/log-agent spec.template.spec.tolerations: nvidia.com/gpu:Exists:NoSchedule"},
			fixTool:  "resource_patch", noCauseOn: "node/pl-gpu-2",
		},
		{
			name: "a taint Kubernetes puts on a node for its condition is a fact, not a cause",
			args: map[string]any{"namespace": ns, "kind": "daemonset", "name": "log-agent"}, wait: "pl-booting",
			facts: []string{"1 node NotReady or tainted for their condition (node.kubernetes.io/...), without its pod: pl-booting"}, noCauseOn: "node/pl-booting",
		},
		{
			name: "a DaemonSet that tolerates every taint has no cause",
			args: map[string]any{"namespace": ns, "kind": "ds", "name": "node-exporter"}, wait: "no taint keeps it off",
			facts: []string{"no taint keeps it off a node it selects"}, noCauseOn: "node/pl-gpu-new-1",
		},
		{
			name: "a pending Deployment's nodes counted by reason",
			args: map[string]any{"namespace": ns, "kind": "deployment", "name": "trainer"}, wait: "nodeSelector/affinity does not match",
			facts: []string{"nodeSelector/affinity does not match its labels: ", "pl-cpu-1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := s.With(t)
			s.Eventually("placement_check", tc.args, tc.wait)
			var r contract.CheckReport
			text := s.Data("placement_check", tc.args, &r)
			if tc.object != "" {
				c := causeOn(r, tc.object)
				if c == nil {
					t.Fatalf("no cause on %s: %+v\n%s", tc.object, r, text)
				}
				if c.Category != contract.TaintNotTolerated || c.Field != tc.field {
					t.Errorf("cause: %+v", c)
				}
				mustContain(t, c.Summary, tc.summary...)
				mustContain(t, strings.Join(c.Evidence, "\n"), tc.evidence...)
				if c.Fix == nil || c.Fix.Tool != tc.fixTool || !strings.Contains(c.Fix.Arguments["patch"].(string), `{"key":"inference-only","operator":"Equal","value":"true","effect":"NoSchedule"}`) {
					t.Errorf("fix: %+v", c.Fix)
				}
				mustContain(t, text, "cause 1: TaintNotTolerated node/pl-gpu-new-1 (spec.taints[inference-only])")
			}
			if tc.noCauseOn != "" && causeOn(r, tc.noCauseOn) != nil {
				t.Errorf("a cause on %s, which the workload tolerates: %+v", tc.noCauseOn, r)
			}
			mustContain(t, strings.Join(r.Facts, "\n"), tc.facts...)
		})
	}

	t.Run("bad arguments say what to fix", func(t *testing.T) {
		s := s.With(t)
		s.Fails("placement_check", map[string]any{"namespace": ns, "kind": "service", "name": "x"}, "placement_check takes a DaemonSet")
		s.Fails("placement_check", map[string]any{"namespace": ns, "kind": "daemonset", "name": "nope"}, "daemonset/pl-check/nope not found")
		confined := connect(t, cluster.Config{AllowNamespaces: []string{ns}})
		confined.Fails("placement_check", map[string]any{"namespace": ns, "kind": "daemonset", "name": "log-agent"}, "confined to namespaces")
	})
}
