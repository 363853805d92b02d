package cluster_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// headlessService creates a headless Service (clusterIP: None) selecting app=name on port.
func headlessService(t *testing.T, ns, name string, port int32) {
	t.Helper()
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "peer", Port: port}}}})
}

// brokerFailure is how a message broker's start fails in these tests.
const brokerFailure = `FATAL quorum: stored epoch 41 is ahead of the ensemble's epoch 7; refusing to join`

// TestReferenceCheckHeadlessAndPorts: reference_check with a host follows the names a headless
// Service gives (its own, and pod.service of a StatefulSet's pod) to the pods behind it, and
// says why such a name does not resolve while the pods are not ready; and it reports a Service
// port whose targetPort nothing listens on, which refuses connections while the pods are Ready.
func TestReferenceCheckHeadlessAndPorts(t *testing.T) {
	s := connect(t, cluster.Config{})
	ns := namespace(t, "ref-headless")
	other := namespace(t, "ref-headless-caller")

	// quorum-store: a StatefulSet whose only pod crashloops, behind a headless Service.
	crashingStatefulSet(t, ns, "quorum-store", brokerFailure)
	headlessService(t, ns, "quorum-store", 2888)
	// feature-cache: a StatefulSet scaled to 0 behind a headless Service.
	create(t, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "feature-cache"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](0), ServiceName: "feature-cache",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "feature-cache"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "feature-cache"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/cache:2"}}}}}})
	headlessService(t, ns, "feature-cache", 6379)
	// price-feed: a Ready pod behind Service port 8443 → targetPort 9443, while it listens on 8443;
	// its admin port targets a port name no container has.
	_, rs := deploymentWithRevisions(t, ns, "price-feed", 1, func(p *corev1.PodSpec) {
		p.Containers[0].Ports = []corev1.ContainerPort{{Name: "https", ContainerPort: 8443}}
	})
	runningPod(t, ns, "price-feed-h1-x2x4z", rs.Spec.Template.Labels, ptr.To(controllerRef("apps/v1", "ReplicaSet", rs)), "10.0.7.21", rs.Spec.Template.Spec)
	priceFeed := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "price-feed"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "price-feed"}, Ports: []corev1.ServicePort{
			{Name: "https", Port: 8443, TargetPort: intstr.FromInt(9443)},
			{Name: "admin", Port: 9000, TargetPort: intstr.FromString("admin")},
		}}}
	create(t, priceFeed)
	readySlice(t, ns, "price-feed", "10.0.7.21", 9443)

	type refCase struct {
		name      string
		args      map[string]any
		wait      string
		category  contract.Category
		object    string
		field     string
		summary   []string
		evidence  []string
		fix       []string
		notInText []string
	}
	headless := "Service quorum-store is headless (clusterIP: None), so its name resolves only to ready pods"
	for _, tc := range []refCase{{
		name: "a headless Service's name with a port, its pod crashlooping",
		args: map[string]any{"namespace": ns, "host": "quorum-store:2888"}, wait: "epoch",
		category: contract.DependencyUnreachable, object: "statefulset/" + ns + "/quorum-store",
		summary: []string{
			`its pod quorum-store-0 crashloops (exit 1: "` + brokerFailure + `")`,
			headless, "quorum-store has no DNS record and does not resolve",
		},
		evidence: []string{"message=" + brokerFailure, "service/" + ns + "/quorum-store spec.clusterIP: None, publishNotReadyAddresses: false"},
	}, {
		name: "a headless Service by its full name, from another namespace",
		args: map[string]any{"namespace": other, "host": "quorum-store." + ns + ".svc.cluster.local", "port": 2888}, wait: "epoch",
		category: contract.DependencyUnreachable, object: "statefulset/" + ns + "/quorum-store",
		summary: []string{headless},
	}, {
		name: "a StatefulSet pod's stable name, pod.service",
		args: map[string]any{"namespace": ns, "host": "quorum-store-0.quorum-store:2888"}, wait: "epoch",
		category: contract.DependencyUnreachable, object: "statefulset/" + ns + "/quorum-store",
		summary: []string{
			"the dependency quorum-store-0.quorum-store:2888 (pod quorum-store-0 of Service " + ns + "/quorum-store): pod quorum-store-0 crashloops",
			"quorum-store-0.quorum-store has no DNS record and does not resolve",
		},
		evidence: []string{"message=" + brokerFailure},
	}, {
		name: "a StatefulSet pod's name with the namespace, pod.service.namespace",
		args: map[string]any{"namespace": other, "host": "quorum-store-0.quorum-store." + ns}, wait: "epoch",
		category: contract.DependencyUnreachable, object: "statefulset/" + ns + "/quorum-store",
		summary: []string{"(pod quorum-store-0 of Service " + ns + "/quorum-store)"},
	}, {
		name: "a StatefulSet pod that does not exist",
		args: map[string]any{"namespace": ns, "host": "quorum-store-2.quorum-store", "port": 2888}, wait: "quorum-store-2",
		category: contract.ReferenceMissing, object: "pod/" + ns + "/quorum-store-2",
		summary: []string{"names pod quorum-store-2, which does not exist", "its pods are quorum-store-0 (StatefulSet quorum-store has 1 replica)"},
	}, {
		name: "a headless Service whose StatefulSet is scaled to 0",
		args: map[string]any{"namespace": ns, "host": "feature-cache:6379"}, wait: "scaled to 0",
		category: contract.DependencyUnreachable, object: "statefulset/" + ns + "/feature-cache", field: "spec.replicas",
		summary: []string{"StatefulSet feature-cache, which is scaled to 0 replicas", "Service feature-cache is headless (clusterIP: None)"},
	}, {
		name: "connection refused: the port called targets a port nothing listens on",
		args: map[string]any{"namespace": ns, "host": "price-feed", "port": 8443}, wait: "9443",
		category: contract.ReferenceMissing, object: "service/" + ns + "/price-feed", field: "spec.ports[0].targetPort",
		summary: []string{"Service price-feed sends port 8443 to targetPort 9443, but its pod (Deployment price-feed) listens on 8443 (https): " +
			"nothing listens on 9443, so connections to port 8443 are refused"},
		evidence:  []string{"service/" + ns + "/price-feed spec.ports[0].targetPort: 9443 (port 8443)", "container ports of the selected pods: 8443 (https)"},
		notInText: []string{"targetPort \"admin\""}, // the port the caller does not dial is not its cause
	}, {
		name: "the same, by URL",
		args: map[string]any{"namespace": other, "host": "https://price-feed." + ns + ":8443/quotes"}, wait: "9443",
		category: contract.ReferenceMissing, object: "service/" + ns + "/price-feed", field: "spec.ports[0].targetPort",
		summary: []string{"sends port 8443 to targetPort 9443"},
	}, {
		name: "the same, by the Service's ClusterIP",
		args: map[string]any{"namespace": ns, "host": read(t, priceFeed).Spec.ClusterIP + ":8443"}, wait: "9443",
		category: contract.ReferenceMissing, object: "service/" + ns + "/price-feed", field: "spec.ports[0].targetPort",
		summary: []string{"sends port 8443 to targetPort 9443"},
	}, {
		name: "a Service's named targetPort no container declares",
		args: map[string]any{"namespace": ns, "kind": "service", "name": "price-feed"}, wait: "admin",
		category: contract.ReferenceMissing, object: "service/" + ns + "/price-feed", field: "spec.ports[1].targetPort",
		summary: []string{`Service price-feed sends port 9000 to targetPort "admin", but no container of its pod (Deployment price-feed) declares a port named "admin" (they declare 8443 (https))`},
		fix:     []string{`or name a container port "admin"`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := s.With(t)
			s.Eventually("reference_check", tc.args, tc.wait)
			var r contract.CheckReport
			text := s.Data("reference_check", tc.args, &r)
			t.Logf("%s", text)
			var c *contract.Cause
			for i := range r.Causes {
				if r.Causes[i].Object == tc.object && r.Causes[i].Field == tc.field {
					c = &r.Causes[i]
					break
				}
			}
			if c == nil {
				t.Fatalf("no cause on %s (%s): %+v", tc.object, tc.field, r.Causes)
			}
			if c.Category != tc.category || c.Fix == nil || c.Fix.Text == "" {
				t.Errorf("cause: %+v", c)
			}
			mustContain(t, c.Summary, tc.summary...)
			mustContain(t, strings.Join(c.Evidence, "\n"), tc.evidence...)
			mustContain(t, c.Fix.Text, tc.fix...)
			mustNotContain(t, text, tc.notInText...)
		})
	}

	t.Run("a Service that is not headless gets no word of DNS", func(t *testing.T) {
		s := s.With(t)
		pay := namespace(t, "ref-plain-svc")
		crashingStatefulSet(t, pay, "ledger-store", initdbFailure)
		service(t, pay, "ledger-store", corev1.ServicePort{Name: "pg", Port: 5432})
		args := map[string]any{"namespace": pay, "host": "ledger-store:5432"}
		text := s.Eventually("reference_check", args, "initdb")
		mustContain(t, text, "DependencyUnreachable statefulset/"+pay+"/ledger-store")
		mustNotContain(t, text, "headless", "does not resolve")
	})

	t.Run("a.b is a Service of namespace b when b is no headless Service here", func(t *testing.T) {
		s := s.With(t)
		s.Eventually("reference_check", map[string]any{"namespace": other, "host": "quorum-store." + ns}, headless)
	})

	t.Run("a gang member calling a peer that is gone names the ingress policy between them", func(t *testing.T) {
		s := s.With(t)
		gang := namespace(t, "ref-gang")
		create(t, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: gang, Name: "ingress-lockdown"},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{}, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "gateway"}}}},
					Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(8080))}}}}}})
		headlessService(t, gang, "trainer", 29500)
		// rank 1 of an Indexed Job is left; rank 0 (hostname trainer-0) went with the Job's end
		runningPod(t, gang, "trainer-1-q8x2d", map[string]string{"app": "trainer"}, nil, "10.0.9.12", corev1.PodSpec{Hostname: "trainer-1", Subdomain: "trainer",
			Containers: []corev1.Container{{Name: "c", Image: "registry.example/train:1", Ports: []corev1.ContainerPort{{Name: "c10d", ContainerPort: 29500}}}}})
		args := map[string]any{"namespace": gang, "host": "trainer-0.trainer:29500", "fromPod": "trainer-1-q8x2d"}
		text := s.Eventually("reference_check", args, "ingress-lockdown")
		mustContain(t, text, "NetworkPolicyBlocked networkpolicy/"+gang+"/ingress-lockdown", "is itself behind Service trainer")
		mustNotContain(t, text, "does not exist")
	})

	t.Run("a member looking up its peer through their own headless Service names publishNotReadyAddresses", func(t *testing.T) {
		s := s.With(t)
		ens := namespace(t, "ref-peers")
		headlessService(t, ens, "meta-store", 2380)
		// member 1 crashloops, waiting for member 0, which waits for member 1: neither is ready
		crashingStatefulSet(t, ens, "meta-store", `{"level":"warn","msg":"failed to resolve peer","peer":"meta-store-0.meta-store"}`)
		runningPod(t, ens, "meta-store-1", map[string]string{"app": "meta-store"}, nil, "10.0.9.31", corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/etcd:3.5"}}})
		args := map[string]any{"namespace": ens, "host": "meta-store-0.meta-store:2380", "fromPod": "meta-store-1", "failure": "resolve"}
		text := s.Eventually("reference_check", args, "publishNotReadyAddresses")
		mustContain(t, text, "DNSFailure service/"+ens+"/meta-store (spec.publishNotReadyAddresses)",
			"the caller, pod meta-store-1, is itself one of headless Service meta-store's pods", "set publishNotReadyAddresses: true on Service "+ens+"/meta-store")

		// called from outside the ensemble, the member's own failure stays the cause
		text = s.Eventually("reference_check", map[string]any{"namespace": ens, "host": "meta-store-0.meta-store:2380"}, "crashloops")
		mustContain(t, text, "DependencyUnreachable statefulset/"+ens+"/meta-store")
	})

	t.Run("a host outside the cluster is not followed", func(t *testing.T) {
		s := s.With(t)
		var r contract.CheckReport
		s.Data("reference_check", map[string]any{"namespace": ns, "host": "api.payments.example:443"}, &r)
		if len(r.Causes) > 0 || !strings.Contains(r.Checked, "not followed") {
			t.Errorf("an external host was followed: %+v", r)
		}
	})
}
