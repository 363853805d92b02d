package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// causeFinding is the finding of category on object whose cause has field, or nil.
func causeFinding(a contract.Analysis, category, object, field string) *contract.Finding {
	for i := range a.Findings {
		if f := &a.Findings[i]; f.Category == category && f.Object == object && f.Cause != nil && f.Cause.Field == field {
			return f
		}
	}
	return nil
}

// deleteAtEnd deletes cluster-scoped objects a case creates, so that they do not change what
// later tests on the shared API server see.
func deleteAtEnd(t *testing.T, objs ...client.Object) {
	t.Cleanup(func() {
		for _, o := range objs {
			if err := apiServer(t).Client.Delete(context.Background(), o); err != nil {
				t.Errorf("deleting %s: %v", o.GetName(), err)
			}
		}
	})
}

// guardedWebhook is a webhook on pod creation that calls Service ns/name; its namespaceSelector
// matches no namespace, so that the real API server never calls it in these tests.
func guardedWebhook(name, ns, service string) admissionregistrationv1.ValidatingWebhook {
	return admissionregistrationv1.ValidatingWebhook{Name: name,
		ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: service, Path: ptr.To("/validate")}},
		Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
		FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"an-refs.example/never": "true"}},
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		AdmissionReviewVersions: []string{"v1"},
	}
}

// webhookFailure is the message a controller records when the API server's call of webhook
// fails: "Error creating: Internal error occurred: failed calling webhook ...".
func webhookFailure(webhook, ns, service, why string) string {
	return fmt.Sprintf(`Error creating: Internal error occurred: failed calling webhook %q: failed to call webhook: Post "https://%s.%s.svc:443/validate?timeout=10s": %s`,
		webhook, service, ns, why)
}

// unavailable writes the status the Deployment controller gives d when it has no pod.
func unavailable(t *testing.T, d *appsv1.Deployment) {
	read(t, d)
	d.Status = appsv1.DeploymentStatus{UnavailableReplicas: 2, ObservedGeneration: d.Generation}
	setStatus(t, d)
}

// TestAnalyzeFollowsReferences covers causes in the objects a failing one refers to: the admission
// webhook (and its Service) that refuses a controller's pods, the IngressClass and TLS Secret an
// Ingress names, and the container or emptyDir volume whose use got a pod evicted.
func TestAnalyzeFollowsReferences(t *testing.T) {
	s := connect(t, cluster.Config{})

	type want struct {
		category, object string
		cause            contract.Cause // Summary: substrings, one a line
	}
	cases := []struct {
		name  string
		ns    string
		setup func(t *testing.T, ns string)
		wait  []string
		want  []want
		// absent are "category object field" findings that must not be there.
		absent []string
	}{
		{
			name: "a Deployment whose pods a validating webhook refuses, its Service missing",
			ns:   "an-hookgone",
			setup: func(t *testing.T, ns string) {
				hooks := namespace(t, "an-hookgone-guard")
				cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "an-guard-policies"},
					Webhooks: []admissionregistrationv1.ValidatingWebhook{guardedWebhook("verify.guard.example", hooks, "guard-svc")}}
				create(t, cfg)
				deleteAtEnd(t, cfg)
				d, rs := deploymentWithRevisions(t, ns, "ledger-api", 1, nil)
				warningEvent(t, rs, "ReplicaSet", "FailedCreate", webhookFailure("verify.guard.example", hooks, "guard-svc", `service "guard-svc" not found`), "")
				unavailable(t, d)
			},
			wait: []string{"ReplicasUnavailable", "an-guard-policies"},
			want: []want{{category: "ReplicasUnavailable", object: "deployment/an-hookgone/ledger-api",
				cause: contract.Cause{Category: contract.DependencyUnreachable, Object: "validatingwebhookconfiguration/an-guard-policies", Field: "webhooks[0].clientConfig.service",
					Summary: "admission webhook \"verify.guard.example\" of ValidatingWebhookConfiguration an-guard-policies\nService an-hookgone-guard/guard-svc does not exist\nwith failurePolicy Fail the API server refuses every pod it matches, so deployment/an-hookgone/ledger-api creates none"}}},
		},
		{
			name: "a StatefulSet whose pods a mutating webhook refuses, its Service's pods crashing",
			ns:   "an-hookcrash",
			setup: func(t *testing.T, ns string) {
				hooks := namespace(t, "an-hookcrash-gate")
				create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: hooks, Name: "gate-svc"},
					Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "gate"}, Ports: []corev1.ServicePort{{Port: 443}}}})
				gate := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: hooks, Name: "gate-0", Labels: map[string]string{"app": "gate"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/gate:3"}}}}
				create(t, gate)
				gate.Status = waiting("CrashLoopBackOff", "back-off", terminated("Error", 2))
				setStatus(t, gate)
				other := guardedWebhook("defaults.gate.example", hooks, "gate-svc")
				named := guardedWebhook("inject.gate.example", hooks, "gate-svc")
				mutating := func(w admissionregistrationv1.ValidatingWebhook) admissionregistrationv1.MutatingWebhook {
					return admissionregistrationv1.MutatingWebhook{Name: w.Name, ClientConfig: w.ClientConfig, Rules: w.Rules, FailurePolicy: w.FailurePolicy,
						NamespaceSelector: w.NamespaceSelector, SideEffects: w.SideEffects, AdmissionReviewVersions: w.AdmissionReviewVersions}
				}
				cfg := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "an-gate-mutator"},
					Webhooks: []admissionregistrationv1.MutatingWebhook{mutating(other), mutating(named)}}
				create(t, cfg)
				deleteAtEnd(t, cfg)
				labels := map[string]string{"app": "ledger-db"}
				sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ledger-db"},
					Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
						Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
							Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "registry.example/db:16"}}}}}}
				create(t, sts)
				warningEvent(t, sts, "StatefulSet", "FailedCreate", webhookFailure("inject.gate.example", hooks, "gate-svc", "dial tcp 10.96.7.7:443: connect: connection refused"), "")
			},
			wait: []string{"statefulset/an-hookcrash/ledger-db", "an-gate-mutator"},
			want: []want{{category: "ReplicasUnavailable", object: "statefulset/an-hookcrash/ledger-db",
				cause: contract.Cause{Category: contract.DependencyUnreachable, Object: "mutatingwebhookconfiguration/an-gate-mutator", Field: "webhooks[1].clientConfig.service",
					Summary: "admission webhook \"inject.gate.example\" of MutatingWebhookConfiguration an-gate-mutator\nService an-hookcrash-gate/gate-svc has no ready endpoints (its pods: 1 pod CrashLoopBackOff (exit 2))"}}},
		},
		{
			name: "a Deployment whose pods a webhook refuses though its Service is ready: the message's TLS failure",
			ns:   "an-hooktls",
			setup: func(t *testing.T, ns string) {
				hooks := namespace(t, "an-hooktls-sign")
				create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: hooks, Name: "sign-svc"},
					Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "sign"}, Ports: []corev1.ServicePort{{Port: 443}}}})
				create(t, &discoveryv1.EndpointSlice{
					ObjectMeta:  metav1.ObjectMeta{Namespace: hooks, Name: "sign-svc-x1", Labels: map[string]string{discoveryv1.LabelServiceName: "sign-svc"}},
					AddressType: discoveryv1.AddressTypeIPv4,
					Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.3.9"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
				})
				cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "an-sign-checks"},
					Webhooks: []admissionregistrationv1.ValidatingWebhook{guardedWebhook("verify.sign.example", hooks, "sign-svc")}}
				create(t, cfg)
				deleteAtEnd(t, cfg)
				d, rs := deploymentWithRevisions(t, ns, "payout-api", 1, nil)
				warningEvent(t, rs, "ReplicaSet", "FailedCreate", webhookFailure("verify.sign.example", hooks, "sign-svc",
					`tls: failed to verify certificate: x509: certificate signed by unknown authority`), "")
				unavailable(t, d)
			},
			wait: []string{"ReplicasUnavailable", "an-sign-checks"},
			want: []want{{category: "ReplicasUnavailable", object: "deployment/an-hooktls/payout-api",
				cause: contract.Cause{Category: contract.DependencyUnreachable, Object: "validatingwebhookconfiguration/an-sign-checks", Field: "webhooks[0].clientConfig.service",
					Summary: "Service an-hooktls-sign/sign-svc has ready endpoints\ndoes not trust the webhook's TLS certificate\nx509: certificate signed by unknown authority"}}},
		},
		{
			name: "Ingresses that name a class that does not exist, name none without a default, or a TLS Secret that does not exist",
			ns:   "an-ingclass",
			setup: func(t *testing.T, ns string) {
				nginx := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "an-nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}}
				traefik := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "an-traefik"}, Spec: networkingv1.IngressClassSpec{Controller: "traefik.io/ingress-controller"}}
				create(t, nginx, traefik)
				deleteAtEnd(t, nginx, traefik)
				create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"},
					Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
				ingress := func(name string, class *string, tls []networkingv1.IngressTLS) *networkingv1.Ingress {
					return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
						Spec: networkingv1.IngressSpec{IngressClassName: class, TLS: tls,
							DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "shop", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}
				}
				create(t, ingress("shop-web", ptr.To("an-contour"), nil))
				create(t, ingress("shop-plain", nil, nil))
				create(t, ingress("shop-tls", ptr.To("an-nginx"), []networkingv1.IngressTLS{{Hosts: []string{"shop.an.example"}, SecretName: "shop-cert"}}))
			},
			wait: []string{"ingress/an-ingclass/shop-web", "ingress/an-ingclass/shop-plain", "ingress/an-ingclass/shop-tls"},
			want: []want{
				{category: "Unknown", object: "ingress/an-ingclass/shop-web",
					cause: contract.Cause{Category: contract.ReferenceMissing, Object: "ingress/an-ingclass/shop-web", Field: "spec.ingressClassName",
						Summary: "Ingress shop-web asks for class an-contour; no IngressClass an-contour exists (classes: an-nginx, an-traefik), so no controller serves it"}},
				{category: "Unknown", object: "ingress/an-ingclass/shop-plain",
					cause: contract.Cause{Category: contract.ReferenceMissing, Object: "ingress/an-ingclass/shop-plain", Field: "spec.ingressClassName",
						Summary: "Ingress shop-plain names no class, and no IngressClass is the default (classes: an-nginx, an-traefik)"}},
				{category: "Unknown", object: "ingress/an-ingclass/shop-tls",
					cause: contract.Cause{Category: contract.ReferenceMissing, Object: "ingress/an-ingclass/shop-tls", Field: "spec.tls[0].secretName",
						Summary: "Ingress shop-tls names TLS Secret shop-cert for shop.an.example; no Secret shop-cert exists in namespace an-ingclass"}},
			},
			absent: []string{"Unknown ingress/an-ingclass/shop-tls spec.ingressClassName"},
		},
		{
			name: "evicted pods name the container or emptyDir volume whose use the kubelet's message blames",
			ns:   "an-evict",
			setup: func(t *testing.T, ns string) {
				evicted := func(p *corev1.Pod, message string) {
					p.Spec.NodeName = "an-node-3"
					create(t, p)
					p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: message}
					setStatus(t, p)
				}
				_, rs := deploymentWithRevisions(t, ns, "render-worker", 1, nil)
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "render-worker-h1-a", Labels: rs.Spec.Template.Labels,
					OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "ReplicaSet", rs)}}, Spec: *rs.Spec.Template.Spec.DeepCopy()}
				evicted(p, "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 8Gi. Container app was using 12Gi, request is 0, has larger consumption of ephemeral-storage. ")
				_, rs = deploymentWithRevisions(t, ns, "thumbnailer", 1, func(s *corev1.PodSpec) {
					s.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("2Gi"))}}}}
				})
				p = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "thumbnailer-h1-b", Labels: rs.Spec.Template.Labels,
					OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "ReplicaSet", rs)}}, Spec: *rs.Spec.Template.Spec.DeepCopy()}
				evicted(p, `Usage of EmptyDir volume "scratch" exceeds the limit "2Gi". `)
				evicted(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "notebook-7"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kernel", Image: "registry.example/lab:2"}}}},
					"The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. Container kernel was using 3Gi, request is 1Gi, has larger consumption of memory. ")
				evicted(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "etl-3"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "load", Image: "registry.example/etl:5",
						Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}}}}}},
					"Pod ephemeral local storage usage exceeds the total limit of containers 1Gi. ")
			},
			wait: []string{"render-worker-h1-a", "thumbnailer-h1-b", "notebook-7", "etl-3"},
			want: []want{
				{category: "NodePressure", object: "pod/an-evict/render-worker-h1-a",
					cause: contract.Cause{Category: contract.VolumeFull, Object: "deployment/an-evict/render-worker", Field: "spec.template.spec.containers[app].resources.requests.ephemeral-storage",
						Summary: "node an-node-3 ran low on ephemeral-storage; container app used 12Gi against a request of 0"}},
				{category: "NodePressure", object: "pod/an-evict/thumbnailer-h1-b",
					cause: contract.Cause{Category: contract.VolumeFull, Object: "deployment/an-evict/thumbnailer", Field: "spec.template.spec.volumes[scratch].emptyDir.sizeLimit",
						Summary: "emptyDir volume scratch of pod thumbnailer-h1-b outgrew its sizeLimit 2Gi"}},
				{category: "NodePressure", object: "pod/an-evict/notebook-7",
					cause: contract.Cause{Category: contract.MemoryLimit, Object: "pod/an-evict/notebook-7", Field: "spec.containers[kernel].resources.requests.memory",
						Summary: "ran low on memory; container kernel used 3Gi against a request of 1Gi"}},
				{category: "NodePressure", object: "pod/an-evict/etl-3",
					cause: contract.Cause{Category: contract.VolumeFull, Object: "pod/an-evict/etl-3", Field: "spec.containers[load].resources.limits.ephemeral-storage",
						Summary: "than the total limit of its containers 1Gi (set on container load)"}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := s.With(t)
			ns := namespace(t, tc.ns)
			tc.setup(t, ns)
			args := map[string]any{"namespace": ns}
			s.Eventually("analyze", args, tc.wait...)
			var a contract.Analysis
			text := s.Data("analyze", args, &a)
			for _, w := range tc.want {
				f := causeFinding(a, w.category, w.object, w.cause.Field)
				if f == nil {
					t.Fatalf("no %s finding on %s with a cause in %s:\n%s", w.category, w.object, w.cause.Field, text)
				}
				c := f.Cause
				if c.Category != w.cause.Category || c.Object != w.cause.Object || c.Fix == nil || len(c.Evidence) == 0 {
					t.Fatalf("%s %s: cause %+v, want %+v\n%s", w.category, w.object, c, w.cause, text)

				}
				mustContain(t, c.Summary, strings.Split(w.cause.Summary, "\n")...)
				mustContain(t, text, fmt.Sprintf("cause: %s %s (%s)", c.Category, c.Object, c.Field))
			}
			for _, ab := range tc.absent {
				parts := strings.SplitN(ab, " ", 3)
				if f := causeFinding(a, parts[0], parts[1], parts[2]); f != nil {
					t.Errorf("unwanted finding %s: %+v", ab, f.Cause)
				}
			}
		})
	}
}

// TestAnalyzeWebhookWithoutConfigurations: a server whose identity may not read webhook
// configurations (cluster-scoped) still follows the webhook's URL in the refusal to its Service,
// and says what it could not read.
func TestAnalyzeWebhookWithoutConfigurations(t *testing.T) {
	env := apiServer(t)
	ns := namespace(t, "an-hookconfined")
	hooks := namespace(t, "an-hookconfined-audit")
	// The user reads everything in both namespaces, and nothing cluster-scoped.
	for _, n := range []string{ns, hooks} {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: n, Name: "reader"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}}}}
		binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: n, Name: "reader"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "hook-reader"}}}
		create(t, role, binding)
	}
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: hooks, Name: "audit-svc"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "audit"}, Ports: []corev1.ServicePort{{Port: 443}}}})
	d, rs := deploymentWithRevisions(t, ns, "claims-api", 1, nil)
	warningEvent(t, rs, "ReplicaSet", "FailedCreate", webhookFailure("record.audit.example", hooks, "audit-svc", "context deadline exceeded"), "")
	unavailable(t, d)
	cfg, err := env.UserConfig("hook-reader")
	if err != nil {
		t.Fatal(err)
	}
	s := connectAs(t, cfg, cluster.Config{AllowNamespaces: []string{ns, hooks}})
	args := map[string]any{"namespace": ns}
	s.Eventually("analyze", args, "ReplicasUnavailable", "service/an-hookconfined-audit/audit-svc")
	var a contract.Analysis
	text := s.Data("analyze", args, &a)
	f := findingOf(a, "ReplicasUnavailable", "deployment/an-hookconfined/claims-api")
	if f == nil || f.Cause == nil || f.Cause.Category != contract.DependencyUnreachable || f.Cause.Object != "service/an-hookconfined-audit/audit-svc" {
		t.Fatalf("want a DependencyUnreachable cause on service/an-hookconfined-audit/audit-svc:\n%s", text)
	}
	mustContain(t, f.Cause.Summary, `admission webhook "record.audit.example" cannot answer`,
		"its Service an-hookconfined-audit/audit-svc has no ready endpoints: its selector app=audit matches no running pod")
	mustContain(t, strings.Join(f.Evidence, "\n"), "could not read the webhook configurations", "validatingwebhookconfigurations")
}
