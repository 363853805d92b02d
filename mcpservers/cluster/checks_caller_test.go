package cluster_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// runningPod creates pod ns/name with labels, owned by owner (apiVersion/kind; nil: a bare pod),
// with spec, and writes the status a kubelet would: Running, Ready, with an IP.
func runningPod(t *testing.T, ns, name string, labels map[string]string, owner *metav1.OwnerReference, ip string, spec corev1.PodSpec) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Spec: spec}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	create(t, p)
	readyPod(p)
	p.Status.PodIP = ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	setStatus(t, p)
	return p
}

// readySlice creates the EndpointSlice the EndpointSlice controller would write for a Service
// with one ready pod at ip (envtest runs no controllers).
func readySlice(t *testing.T, ns, service, ip string, port int32) {
	t.Helper()
	create(t, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: service + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(port)}},
	})
}

// TestReferenceCheckFromPod: with fromPod, reference_check checks the caller's side of a
// dependency that is itself healthy — the ingress policy of the pods behind the Service (the
// storefront's BFF not admitted by catalog-api's policy), the caller's own egress policy, and a
// hostNetwork pod that resolves with the node's resolver — and why a Service has no pods at all
// (its StatefulSet scaled to 0, its Deployment refused by quota).
func TestReferenceCheckFromPod(t *testing.T) {
	s := connect(t, cluster.Config{})
	shop := namespace(t, "ref-caller")
	reports := namespace(t, "ref-caller-reports")
	app := func(name string, more ...string) map[string]string {
		l := map[string]string{"app": name}
		for i := 0; i+1 < len(more); i += 2 {
			l[more[i]] = more[i+1]
		}
		return l
	}
	tcp := func(port int) []networkingv1.NetworkPolicyPort {
		return []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt(port))}}
	}
	container := corev1.Container{Name: "app", Image: "registry.example/app:1"}

	// catalog-api: a healthy Service (port 80 → the container port named http, 8080) whose pods
	// admit only tier=frontend.
	_, rs := deploymentWithRevisions(t, shop, "catalog-api", 1, func(p *corev1.PodSpec) {
		p.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	})
	runningPod(t, shop, "catalog-api-h1-abcde", rs.Spec.Template.Labels, ptr.To(controllerRef("apps/v1", "ReplicaSet", rs)), "10.0.1.10", rs.Spec.Template.Spec)
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "catalog-api"},
		Spec: corev1.ServiceSpec{Selector: app("catalog-api"), Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}})
	readySlice(t, shop, "catalog-api", "10.0.1.10", 8080)
	create(t, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "catalog-api-allow-frontend"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: app("catalog-api")},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "frontend"}}}},
				Ports: tcp(8080),
			}}}})
	// Callers in the same namespace: one the policy admits, one it does not.
	runningPod(t, shop, "storefront-bff-7c9-x", app("storefront-bff", "tier", "bff"), nil, "10.0.1.20", corev1.PodSpec{Containers: []corev1.Container{container}})
	runningPod(t, shop, "storefront-web-5d1-y", app("storefront-web", "tier", "frontend"), nil, "10.0.1.21", corev1.PodSpec{Containers: []corev1.Container{container}})

	// A caller in another namespace whose own egress policy allows DNS and its database only.
	runningPod(t, reports, "reporter-0", app("reporter", "tier", "frontend"), nil, "10.0.2.30", corev1.PodSpec{Containers: []corev1.Container{container}})
	create(t, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: reports, Name: "reporter-egress"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: app("reporter")},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
				}}, Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt(53))}}},
				{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: app("reports-db")}}}, Ports: tcp(5432)},
			}}})

	// Node agents on the host network: a DaemonSet pod that keeps the default dnsPolicy, and a
	// bare pod with ClusterFirstWithHostNet.
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "node-agent"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: app("node-agent")},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: app("node-agent")},
				Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{container}}}}}
	create(t, ds)
	runningPod(t, shop, "node-agent-k2x9p", app("node-agent"), ptr.To(controllerRef("apps/v1", "DaemonSet", ds)), "192.168.0.5", ds.Spec.Template.Spec)
	runningPod(t, shop, "node-probe", app("node-probe"), nil, "192.168.0.6",
		corev1.PodSpec{HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet, Containers: []corev1.Container{container}})

	// opensearch: a Service whose StatefulSet is scaled to 0; indexer: one whose Deployment's
	// pods are refused by quota.
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "opensearch"},
		Spec: corev1.ServiceSpec{Selector: app("opensearch"), Ports: []corev1.ServicePort{{Name: "http", Port: 9200}}}})
	create(t, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: "opensearch"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](0), ServiceName: "opensearch", Selector: &metav1.LabelSelector{MatchLabels: app("opensearch")},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: app("opensearch")}, Spec: corev1.PodSpec{Containers: []corev1.Container{container}}}}})
	service(t, shop, "indexer", corev1.ServicePort{Name: "http", Port: 80})
	_, indexerRS := deploymentWithRevisions(t, shop, "indexer", 1, nil)
	const quota = `pods "indexer-h1-7fj2k" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=8, limited: cpu=8`
	warningEvent(t, indexerRS, "ReplicaSet", "FailedCreate", "Error creating: "+quota, "")

	cases := []struct {
		name     string
		args     map[string]any
		wait     string
		category contract.Category // "": no cause
		object   string
		field    string
		summary  []string
		evidence []string
		fix      []string
		facts    []string
		wantErr  []string
	}{
		{
			name: "the callee's ingress policy does not admit the caller",
			args: map[string]any{"namespace": shop, "host": "catalog-api", "fromPod": "storefront-bff-7c9-x"}, wait: "catalog-api-allow-frontend",
			category: contract.NetworkPolicyBlocked, object: "networkpolicy/ref-caller/catalog-api-allow-frontend", field: "spec.ingress",
			summary: []string{"NetworkPolicy catalog-api-allow-frontend isolates the ingress of the pods behind Service catalog-api (app=catalog-api) and admits only pods tier=frontend on port 8080; " +
				"the calling pod storefront-bff-7c9-x (app=storefront-bff, tier=bff) is not admitted, so its connections time out"},
			evidence: []string{"NetworkPolicy catalog-api-allow-frontend ingress[0]: from podSelector tier=frontend; ports TCP/8080", "calling pod ref-caller/storefront-bff-7c9-x labels: app=storefront-bff, tier=bff"},
			fix:      []string{"{from: [{podSelector: {matchLabels: {app: storefront-bff}}}], ports: [{protocol: TCP, port: 8080}]}"},
		},
		{
			name: "the callee's ingress policy admits the caller",
			args: map[string]any{"namespace": shop, "host": "catalog-api:80", "fromPod": "storefront-web-5d1-y"}, wait: "admits the calling pod",
			facts: []string{"NetworkPolicy catalog-api-allow-frontend ingress[0] admits the calling pod storefront-web-5d1-y (app=storefront-web, tier=frontend) to the pods behind Service catalog-api (app=catalog-api) on port 8080/TCP",
				"no NetworkPolicy isolates the egress of pod storefront-web-5d1-y"},
		},
		{
			name: "the caller's own egress policy blocks it",
			args: map[string]any{"namespace": reports, "host": "http://catalog-api.ref-caller/products", "fromPod": "reporter-0"}, wait: "reporter-egress",
			category: contract.NetworkPolicyBlocked, object: "networkpolicy/ref-caller-reports/reporter-egress", field: "spec.egress",
			summary: []string{"NetworkPolicy reporter-egress isolates the egress of the calling pod reporter-0 (app=reporter, tier=frontend) and allows it only to " +
				"pods k8s-app=kube-dns in namespaces kubernetes.io/metadata.name=kube-system on port UDP/53; or to pods app=reports-db on port 5432; " +
				"no rule allows port 8080/TCP to the pods behind Service ref-caller/catalog-api (app=catalog-api), so its connections time out"},
			evidence: []string{"NetworkPolicy reporter-egress egress[1]: to podSelector app=reports-db; ports TCP/5432", "pod ref-caller/catalog-api-h1-abcde (behind Service catalog-api) labels: app=catalog-api"},
			fix:      []string{"namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ref-caller}}, podSelector: {matchLabels: {app: catalog-api}}", "port: 8080"},
		},
		{
			name: "a hostNetwork DaemonSet pod with the default dnsPolicy",
			args: map[string]any{"namespace": shop, "host": "catalog-api:80", "fromPod": "node-agent-k2x9p"}, wait: "hostNetwork",
			category: contract.DNSFailure, object: "daemonset/ref-caller/node-agent", field: "spec.template.spec.dnsPolicy",
			summary: []string{"the calling pod node-agent-k2x9p uses the node's network (hostNetwork: true) with dnsPolicy ClusterFirst, so it resolves names with the node's resolver, " +
				"which does not answer for cluster Service names such as catalog-api; set dnsPolicy: ClusterFirstWithHostNet"},
			evidence: []string{"spec.hostNetwork: true, spec.dnsPolicy: ClusterFirst", `Kubernetes "DNS for Services and Pods", Pod's DNS Policy: "ClusterFirstWithHostNet"`},
			fix:      []string{"set spec.template.spec.dnsPolicy of daemonset/ref-caller/node-agent to ClusterFirstWithHostNet"},
			facts:    []string{"uses the node's network (hostNetwork: true): its connections come from the node's address"},
		},
		{
			name: "a hostNetwork pod with ClusterFirstWithHostNet resolves cluster names",
			args: map[string]any{"namespace": shop, "host": "catalog-api", "fromPod": "node-probe"}, wait: "node-probe",
			facts: []string{"Service ref-caller/catalog-api has 1 ready endpoint (1 in all)", "pod node-probe uses the node's network"},
		},
		{
			name: "a Service whose StatefulSet is scaled to 0",
			args: map[string]any{"namespace": shop, "host": "opensearch:9200", "fromPod": "storefront-bff-7c9-x"}, wait: "opensearch",
			category: contract.DependencyUnreachable, object: "statefulset/ref-caller/opensearch", field: "spec.replicas",
			summary:  []string{"the dependency opensearch:9200 (Service ref-caller/opensearch) has no ready endpoints: the pods it selects (app=opensearch) belong to StatefulSet opensearch, which is scaled to 0 replicas"},
			evidence: []string{"statefulset/ref-caller/opensearch spec.replicas: 0"},
			fix:      []string{"workload_scale", "once whoever scaled it down agrees"},
		},
		{
			name: "a Service whose Deployment's pods are refused by quota",
			args: map[string]any{"namespace": shop, "host": "indexer"}, wait: "exceeded quota",
			category: contract.DependencyUnreachable, object: "deployment/ref-caller/indexer",
			summary:  []string{"the pods it selects (app=indexer) belong to Deployment indexer, which wants 2 replicas but has none: replicaset/indexer-h1 event FailedCreate", quota},
			evidence: []string{"deployment/ref-caller/indexer spec.replicas: 2; no pod of it exists"},
		},
		{
			name:    "a caller that does not exist",
			args:    map[string]any{"namespace": shop, "host": "catalog-api", "fromPod": "storefront-bff-nope"},
			wantErr: []string{"fromPod: pod storefront-bff-nope not found in namespace ref-caller; pass the name of the pod that calls host, as pods_list shows it"},
		},
		{
			name:    "fromPod goes with host only",
			args:    map[string]any{"namespace": shop, "kind": "service", "name": "catalog-api", "fromPod": "storefront-bff-7c9-x"},
			wantErr: []string{`"fromPod" goes with "host"`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := s.With(t)
			if tc.wantErr != nil {
				s.Fails("reference_check", tc.args, tc.wantErr...)
				return
			}
			s.Eventually("reference_check", tc.args, tc.wait)
			var r contract.CheckReport
			text := s.Data("reference_check", tc.args, &r)
			t.Logf("%s", text)
			if from, ok := tc.args["fromPod"].(string); ok {
				mustContain(t, r.Checked, "; called from pod "+tc.args["namespace"].(string)+"/"+from)
			}
			mustContain(t, strings.Join(r.Facts, "\n"), tc.facts...)
			if tc.category == "" {
				if len(r.Causes) > 0 {
					t.Fatalf("causes where nothing is wrong: %+v\n%s", r.Causes, text)
				}
				return
			}
			if len(r.Causes) != 1 {
				t.Fatalf("%d causes, want 1: %+v\n%s", len(r.Causes), r.Causes, text)
			}
			c := r.Causes[0]
			if c.Category != tc.category || c.Object != tc.object || c.Field != tc.field {
				t.Errorf("cause = %s %s %q, want %s %s %q", c.Category, c.Object, c.Field, tc.category, tc.object, tc.field)
			}
			mustContain(t, c.Summary, tc.summary...)
			mustContain(t, strings.Join(c.Evidence, "\n"), tc.evidence...)
			if c.Fix == nil || c.Fix.Text == "" {
				t.Fatalf("the cause has no fix: %+v", c)
			}
			mustContain(t, c.Fix.Text, tc.fix...)
			mustContain(t, text, c.Summary)
		})
	}
}

// TestReferenceCheckLocalTraffic: a Service with internalTrafficPolicy Local serves a caller
// only from the Service's pods on the caller's node: one on another node has its calls dropped,
// and the Service's field is the cause; a caller beside a pod of it is served.
func TestReferenceCheckLocalTraffic(t *testing.T) {
	s := connect(t, cluster.Config{})
	ns := namespace(t, "ref-localtraffic")
	container := corev1.Container{Name: "app", Image: "registry.example/app:1"}
	on := func(node string) corev1.PodSpec {
		return corev1.PodSpec{NodeName: node, Containers: []corev1.Container{container}}
	}
	runningPod(t, ns, "flagd-0", map[string]string{"app": "flagd"}, nil, "10.0.7.10", on("node-a"))
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "feature-flags"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "flagd"}, Ports: []corev1.ServicePort{{Name: "http", Port: 8013, TargetPort: intstr.FromInt(8013)}},
			InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyLocal)}})
	readySlice(t, ns, "feature-flags", "10.0.7.10", 8013)
	runningPod(t, ns, "pricing-b", map[string]string{"app": "pricing"}, nil, "10.0.8.11", on("node-b"))
	runningPod(t, ns, "pricing-a", map[string]string{"app": "pricing"}, nil, "10.0.7.11", on("node-a"))
	nodeLocal := on("node-a")
	nodeLocal.DNSPolicy, nodeLocal.DNSConfig = corev1.DNSNone, &corev1.PodDNSConfig{Nameservers: []string{"169.254.20.10"}}
	runningPod(t, ns, "settlement", map[string]string{"app": "settlement"}, nil, "10.0.7.12", nodeLocal)
	// flags-all serves every node; pod pricing-locked may reach it only through an ipBlock of
	// Service addresses, which a policy never sees
	flagsAll := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "flags-all"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "flagd"}, Ports: []corev1.ServicePort{{Name: "http", Port: 8013, TargetPort: intstr.FromInt(8013)}}}}
	create(t, flagsAll)
	readySlice(t, ns, "flags-all", "10.0.7.10", 8013)
	runningPod(t, ns, "pricing-locked", map[string]string{"app": "locked"}, nil, "10.0.7.13", on("node-a"))
	cidr := flagsAll.Spec.ClusterIP + "/32"
	create(t, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "locked-egress"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "locked"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt(53))}}},
				{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cidr}}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt(8013))}}}}}})
	// ray-head exposes the dashboard only; its pod listens on the GCS port 6379 as well
	gcs := on("node-a")
	gcs.Containers = []corev1.Container{{Name: "ray-head", Image: "rayproject/ray:2.40.0", Ports: []corev1.ContainerPort{{ContainerPort: 6379}, {ContainerPort: 8265}}}}
	runningPod(t, ns, "ray-head-0", map[string]string{"app": "ray-head"}, nil, "10.0.7.20", gcs)
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ray-head"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "ray-head"}, Ports: []corev1.ServicePort{{Name: "dashboard", Port: 8265}}}})
	readySlice(t, ns, "ray-head", "10.0.7.20", 8265)
	runChecks(t, s, "reference_check", []checkCase{{
		name:     "a port the Service lacks while its pods listen on it",
		args:     map[string]any{"namespace": ns, "host": "ray-head:6379", "fromPod": "pricing-a"},
		category: contract.ReferenceMissing, object: "service/" + ns + "/ray-head", field: "spec.ports",
		summary: []string{"is called on port 6379, which the Service does not expose", contract.PodsListenOn + " 6379 (pod ray-head-0, container ray-head): the Service lacks the port"},
		fix:     []string{"add port 6379 (targetPort 6379) to spec.ports of Service " + ns + "/ray-head"},
	}, {
		name:     "a port neither the Service nor its pods have",
		args:     map[string]any{"namespace": ns, "host": "ray-head:7000", "fromPod": "pricing-a"},
		category: contract.ReferenceMissing, object: "service/" + ns + "/ray-head", field: "spec.ports",
		fix: []string{"call Service ray-head on a port it exposes"},
	}, {
		name:     "an egress ipBlock of the Service's address, not its pods'",
		args:     map[string]any{"namespace": ns, "host": "flags-all:8013", "fromPod": "pricing-locked"},
		category: contract.NetworkPolicyBlocked, object: "networkpolicy/" + ns + "/locked-egress", field: "spec.egress",
		summary: []string{"allows ipBlock " + cidr + ", which does not hold pod flagd-0's address 10.0.7.10", "it holds Service flags-all's ClusterIP " + flagsAll.Spec.ClusterIP},
	}, {
		name:     "a caller on a node without a pod of the Service",
		args:     map[string]any{"namespace": ns, "host": "http://feature-flags:8013", "fromPod": "pricing-b"},
		category: contract.DependencyUnreachable, object: "service/" + ns + "/feature-flags", field: "spec.internalTrafficPolicy",
		summary:  []string{"internalTrafficPolicy: Local", "the calling pod pricing-b runs on node node-b, where none of its ready pods runs (they run on node-a)"},
		evidence: []string{"spec.internalTrafficPolicy: Local", "pod " + ns + "/pricing-b spec.nodeName: node-b"},
		fix:      []string{"set spec.internalTrafficPolicy of Service " + ns + "/feature-flags to Cluster"},
	}, {
		name:     "a caller with dnsPolicy None whose nameservers are not the cluster's DNS",
		args:     map[string]any{"namespace": ns, "host": "feature-flags:8013", "fromPod": "settlement"},
		category: contract.DNSFailure, object: "pod/" + ns + "/settlement", field: "spec.dnsPolicy",
		summary:  []string{"has dnsPolicy None with its own dnsConfig.nameservers [169.254.20.10], not the cluster's DNS Service", "the nameservers of its dnsConfig", "set dnsPolicy: ClusterFirst"},
		evidence: []string{"spec.dnsPolicy: None, spec.dnsConfig.nameservers: [169.254.20.10]"},
	}, {
		name:    "a caller beside a pod of the Service",
		args:    map[string]any{"namespace": ns, "host": "http://feature-flags:8013", "fromPod": "pricing-a"},
		checked: []string{"dependency http://feature-flags:8013"},
	}})
}
