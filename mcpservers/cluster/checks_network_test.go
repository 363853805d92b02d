package cluster_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// TestNetworkCheck: a policy that isolates a pod's egress and allows no DNS is the cause of names
// that do not resolve (evals/heldout-causal/netpol-blocks-resolver); a pod no policy isolates has
// no NetworkPolicy cause; with port and peer, the port is checked too.
func TestNetworkCheck(t *testing.T) {
	locked := namespace(t, "chk-netpol")
	open := namespace(t, "chk-netpol-open")
	dns := namespace(t, "chk-netpol-dns")
	tcp := func(port int) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt(port))}
	}
	podSel := func(app string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	}
	create(t,
		pod(locked, "payments-api-7d4", map[string]string{"app": "payments-api"}),
		&networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: locked, Name: "baseline-lockdown"},
			Spec: networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					To: []networkingv1.NetworkPolicyPeer{{PodSelector: podSel("ledger-db")}}, Ports: []networkingv1.NetworkPolicyPort{tcp(5432)},
				}},
			},
		},
		pod(open, "payments-api-7d4", map[string]string{"app": "payments-api"}),
		pod(dns, "payments-api-7d4", map[string]string{"app": "payments-api"}),
		&networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: dns, Name: "allow-dns-and-db"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: *podSel("payments-api"),
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress},
				Egress: []networkingv1.NetworkPolicyEgressRule{
					{To: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
						PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
					}}, Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt(53))}}},
					{To: []networkingv1.NetworkPolicyPeer{{PodSelector: podSel("ledger-db")}}, Ports: []networkingv1.NetworkPolicyPort{tcp(5432)}},
				},
			},
		},
	)
	s := connect(t, cluster.Config{})
	runChecks(t, s, "network_check", []checkCase{{
		name:     "egress isolated with no DNS rule",
		args:     map[string]any{"namespace": locked, "pod": "payments-api-7d4"},
		category: contract.NetworkPolicyBlocked, object: "networkpolicy/" + locked + "/baseline-lockdown", field: "spec.egress",
		summary:  []string{"NetworkPolicy baseline-lockdown selects pod payments-api-7d4 and isolates its egress; no rule allows DNS (port 53), so names do not resolve"},
		evidence: []string{"NetworkPolicy baseline-lockdown: podSelector {}; policyTypes [Egress]", "egress[0]: to podSelector app=ledger-db; ports TCP/5432"},
		fix:      []string{"port: 53", "kube-dns"},
		checked:  []string{"isolated for egress by 1 NetworkPolicy (baseline-lockdown)"},
	}, {
		name:     "a port no rule allows, and no DNS",
		args:     map[string]any{"namespace": locked, "pod": "payments-api-7d4", "port": 6379, "peerLabels": "app=cache"},
		category: contract.NetworkPolicyBlocked, object: "networkpolicy/" + locked + "/baseline-lockdown", field: "spec.egress",
		summary:   []string{"no rule allows port 6379/TCP of pods app=cache in namespace " + locked},
		fix:       []string{"protocol: TCP, port: 6379"},
		moreCause: []contract.Category{contract.NetworkPolicyBlocked},
	}, {
		name:    "no policy selects the pod",
		args:    map[string]any{"namespace": open, "pod": "payments-api-7d4"},
		checked: []string{"no NetworkPolicy selects pod " + open + "/payments-api-7d4", "comes from elsewhere"},
	}, {
		name:    "DNS and the database allowed",
		args:    map[string]any{"namespace": dns, "pod": "payments-api-7d4", "port": 5432, "peerLabels": "app=ledger-db"},
		checked: []string{"1 NetworkPolicy (allow-dns-and-db)"},
	}, {
		name:     "ingress isolated with no rule: a port asked is blocked",
		args:     map[string]any{"namespace": dns, "pod": "payments-api-7d4", "direction": "ingress", "port": 8080},
		category: contract.NetworkPolicyBlocked, object: "networkpolicy/" + dns + "/allow-dns-and-db", field: "spec.ingress",
		summary: []string{"isolates its ingress; no rule allows port 8080/TCP"},
	}, {
		name:    "the pod is required",
		args:    map[string]any{"namespace": locked},
		wantErr: []string{`argument "pod" is required`},
	}, {
		name:    "protocol needs a port",
		args:    map[string]any{"namespace": locked, "pod": "payments-api-7d4", "protocol": "UDP"},
		wantErr: []string{`argument "protocol" needs "port"`},
	}, {
		name:    "a direction is egress or ingress",
		args:    map[string]any{"namespace": locked, "pod": "payments-api-7d4", "direction": "sideways"},
		wantErr: []string{`"direction"`, `"egress"`},
	}, {
		name:    "a missing pod is named",
		args:    map[string]any{"namespace": locked, "pod": "nope"},
		wantErr: []string{"pod/" + locked + "/nope not found"},
	}})
}
