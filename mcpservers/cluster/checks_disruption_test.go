package cluster_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// TestDisruptionCheck: a budget that allows no disruption is the cause of a drain that cannot
// finish (evals/heldout-causal/drain-evictions-refused, drain-lone-replica), whether the
// disruption controller computed its status (written here, as it would) or not (computed from the
// pods, as envtest runs no controllers); DaemonSet pods are skipped as a drain skips them.
func TestDisruptionCheck(t *testing.T) {
	ns := namespace(t, "chk-disrupt")
	node(t, "chk-worker-3", corev1.NodeSpec{Unschedulable: true}, map[corev1.NodeConditionType]corev1.ConditionStatus{corev1.NodeReady: corev1.ConditionTrue}, nil)
	node(t, "chk-worker-4", corev1.NodeSpec{}, map[corev1.NodeConditionType]corev1.ConditionStatus{corev1.NodeReady: corev1.ConditionTrue}, nil)
	onNode := func(name, nodeName string, labels map[string]string, owner string) {
		p := pod(ns, name, labels)
		p.Spec.NodeName = nodeName
		if owner != "" {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: owner, Name: name[:strings.LastIndex(name, "-")], UID: "uid-" + k8stypes.UID(name), Controller: ptr.To(true)}}
		}
		createWithStatus(t, p, func() { readyPod(p) })
	}
	gateway := map[string]string{"app": "llm-gateway"}
	onNode("llm-gateway-ab", "chk-worker-3", gateway, "ReplicaSet")
	onNode("llm-gateway-cd", "chk-worker-3", gateway, "ReplicaSet")
	onNode("log-agent-xy", "chk-worker-3", map[string]string{"app": "log-agent"}, "DaemonSet") // a drain skips it
	onNode("vector-index-0", "chk-worker-4", map[string]string{"app": "vector-index"}, "StatefulSet")
	onNode("web-ab", "chk-worker-4", map[string]string{"app": "web"}, "ReplicaSet")

	budget := func(name string, app string, min, maxUn *intstr.IntOrString) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: min, MaxUnavailable: maxUn,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}
	}
	create(t, budget("llm-gateway-pdb", "llm-gateway", ptr.To(intstr.FromInt(2)), nil)) // status not computed
	withStatus := func(b *policyv1.PodDisruptionBudget, healthy, expected, allowed int32) {
		createWithStatus(t, b, func() {
			b.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: b.Generation, CurrentHealthy: healthy, DesiredHealthy: healthy - allowed,
				ExpectedPods: expected, DisruptionsAllowed: allowed}
		})
	}
	withStatus(budget("shard-protect", "vector-index", nil, ptr.To(intstr.FromInt(0))), 1, 1, 0)
	withStatus(budget("web-pdb", "web", nil, ptr.To(intstr.FromInt(1))), 1, 1, 1)

	s := connect(t, cluster.Config{})
	runChecks(t, s, "disruption_check", []checkCase{{
		name:     "a drain refused by a budget the controller has not computed",
		args:     map[string]any{"node": "chk-worker-3"},
		category: contract.DisruptionBudgetBlocks, object: "poddisruptionbudget/" + ns + "/llm-gateway-pdb", field: "spec.minAvailable",
		summary:  []string{"PodDisruptionBudget llm-gateway-pdb (minAvailable 2; 2 of 2 pods healthy, 0 disruptions allowed) refuses evicting pod llm-gateway-ab on node chk-worker-3, so the drain cannot finish", "so the drain cannot finish (and 1 more of its pods there)"},
		evidence: []string{"PodDisruptionBudget llm-gateway-pdb spec: minAvailable 2, selector app=llm-gateway", "not yet computed by the disruption controller"},
		fix:      []string{"scale replicaset/llm-gateway up", "relax PodDisruptionBudget llm-gateway-pdb", "never force the drain"},
		checked:  []string{"node chk-worker-3: 2 pods to evict (1 DaemonSet, mirror or finished pods skipped"},
	}, {
		name:     "one pod whose budget allows no disruption at any scale",
		args:     map[string]any{"namespace": ns, "pod": "vector-index-0"},
		category: contract.DisruptionBudgetBlocks, object: "poddisruptionbudget/" + ns + "/shard-protect", field: "spec.maxUnavailable",
		summary:  []string{"PodDisruptionBudget shard-protect (maxUnavailable 0; 1 of 1 pods healthy, 0 disruptions allowed) refuses evicting pod vector-index-0 on node chk-worker-4"},
		evidence: []string{"PodDisruptionBudget shard-protect status: currentHealthy 1, desiredHealthy 1, expectedPods 1, disruptionsAllowed 0"},
		fix:      []string{"allows no disruption at any scale, so scaling up does not help", "never force the drain"},
	}, {
		name:    "a budget that allows a disruption",
		args:    map[string]any{"namespace": ns, "pod": "web-ab"},
		checked: []string{"pod " + ns + "/web-ab: 1 pod to evict; 1 of them selected by a PodDisruptionBudget", "every budget allows a disruption"},
	}, {
		name:    "a DaemonSet pod is not evicted by a drain",
		args:    map[string]any{"namespace": ns, "pod": "log-agent-xy"},
		checked: []string{"a pod of DaemonSet log-agent:", "no PodDisruptionBudget is consulted"},
	}, {
		name:    "node or pod, not both",
		args:    map[string]any{"node": "chk-worker-3", "namespace": ns, "pod": "web-ab"},
		wantErr: []string{`pass either "node"`},
	}, {
		name:    "a pod needs its namespace",
		args:    map[string]any{"pod": "web-ab"},
		wantErr: []string{`argument "namespace" is required with "pod"`},
	}, {
		name:    "a node that does not exist",
		args:    map[string]any{"node": "chk-nowhere"},
		wantErr: []string{"node/chk-nowhere not found"},
	}})
}
