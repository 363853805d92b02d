package cluster_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// ingress creates an Ingress routing host/ to service:port (a number, or a name when portName
// is set).
func ingress(t *testing.T, ns, name, host, service string, port int32, portName string) {
	t.Helper()
	backend := networkingv1.IngressServiceBackend{Name: service, Port: networkingv1.ServiceBackendPort{Number: port, Name: portName}}
	create(t, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{Service: &backend}}}}}}}}})
}

// service creates a Service selecting app=name with the ports given.
func service(t *testing.T, ns, name string, ports ...corev1.ServicePort) {
	t.Helper()
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: ports}})
}

// initdbFailure is how a database's first start fails, as its container says it.
const initdbFailure = `initdb: error: could not change permissions of directory "/var/lib/postgresql/data": Operation not permitted`

// crashingStatefulSet creates a StatefulSet name whose pod name-0 crashloops with message.
func crashingStatefulSet(t *testing.T, ns, name, message string) {
	t.Helper()
	labels := map[string]string{"app": name}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, ServiceName: name,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/postgres:16"}}}}}}
	create(t, sts)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-0", Labels: labels,
		OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "StatefulSet", sts)}}, Spec: sts.Spec.Template.Spec}
	create(t, p)
	last := terminated("Error", 1)
	last.Message = message + "\n"
	p.Status = waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=app", last)
	setStatus(t, p)
}

func TestReferenceCheck(t *testing.T) {
	s := connect(t, cluster.Config{})
	ns := namespace(t, "ref-check")
	pay := namespace(t, "ref-payments")
	service(t, ns, "search-ui", corev1.ServicePort{Name: "http", Port: 80})
	service(t, ns, "web", corev1.ServicePort{Name: "http", Port: 80})
	ingress(t, ns, "chat", "chat.example.com", "chat-frontend", 80, "")
	ingress(t, ns, "search", "search.example.com", "search-ui", 8080, "")
	service(t, pay, "ledger-postgres", corev1.ServicePort{Name: "postgres", Port: 5432})
	// docs routes to Service docs-web, whose Deployment someone scaled to 0.
	ingress(t, ns, "docs", "docs.example.com", "docs-web", 80, "")
	service(t, ns, "docs-web", corev1.ServicePort{Name: "http", Port: 80})
	create(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "docs-web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "docs-web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "docs-web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/docs:1"}}}}}})
	crashingStatefulSet(t, pay, "ledger-postgres", initdbFailure)
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"LOG_LEVEL": "info"}})
	deploymentWithRevisions(t, ns, "api", 1, func(p *corev1.PodSpec) {
		p.Containers[0].Env = []corev1.EnvVar{{Name: "MODEL_PATH", ValueFrom: &corev1.EnvVarSource{
			ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "MODEL_PATH"}}}}
		p.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "api-data"}}}}
	})

	// vault-store's only pod waits for its claim, whose StorageClass's provisioner runs nowhere.
	service(t, pay, "vault-store", corev1.ServicePort{Name: "http", Port: 8200})
	gp3 := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "ref-gp3"}, Provisioner: "ebs.csi.aws.com"}
	create(t, gp3)
	deleteAtEnd(t, gp3)
	vaultClaim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: pay, Name: "data-vault-store-0"},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("ref-gp3"), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	create(t, vaultClaim)
	vaultClaim.Status.Phase = corev1.ClaimPending
	setStatus(t, vaultClaim)
	vaultPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: pay, Name: "vault-store-0", Labels: map[string]string{"app": "vault-store"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "vault", Image: "registry.example/vault:1"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-vault-store-0"}}}}}}
	create(t, vaultPod)
	vaultPod.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: "Unschedulable", Message: "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."}}}
	setStatus(t, vaultPod)

	cases := []struct {
		name     string
		args     map[string]any
		wait     string
		category contract.Category
		object   string
		field    string
		summary  []string
		evidence []string
	}{
		{
			name: "an Ingress whose backend Service does not exist",
			args: map[string]any{"namespace": ns, "kind": "ingress", "name": "chat"}, wait: "chat-frontend",
			category: contract.ReferenceMissing, object: "service/ref-check/chat-frontend",
			summary:  []string{"Ingress chat routes chat.example.com/ to Service chat-frontend, which does not exist (Services in the namespace: docs-web, search-ui, web)"},
			evidence: []string{"ingress/ref-check/chat spec.rules[0].http.paths[0].backend.service: name=chat-frontend port=80"},
		},
		{
			name: "an Ingress that sends to a port its Service does not expose",
			args: map[string]any{"namespace": ns, "kind": "ing", "name": "search"}, wait: "8080",
			category: contract.ReferenceMissing, object: "ingress/ref-check/search", field: "spec.rules[0].http.paths[0].backend.service.port",
			summary:  []string{"Ingress search sends to port 8080 of Service search-ui, which exposes only 80 (http)"},
			evidence: []string{"service/ref-check/search-ui spec.ports: 80 (http)"},
		},
		{
			name: "an Ingress whose backend's Deployment is scaled to 0",
			args: map[string]any{"namespace": ns, "kind": "ingress", "name": "docs"}, wait: "scaled to 0",
			category: contract.DependencyUnreachable, object: "deployment/ref-check/docs-web", field: "spec.replicas",
			summary: []string{"Service docs-web, the backend of Ingress docs for docs.example.com/, has no ready endpoints: " +
				"the pods it selects (app=docs-web) belong to Deployment docs-web, which is scaled to 0 replicas"},
			evidence: []string{"ingress/ref-check/docs spec.rules[0].http.paths[0].backend.service: name=docs-web port=80", "deployment/ref-check/docs-web spec.replicas: 0"},
		},
		{
			name: "a dependency URL whose Service's pod crashloops",
			args: map[string]any{"namespace": ns, "host": "postgres://app@ledger-postgres.ref-payments:5432/ledger"}, wait: "initdb",
			category: contract.DependencyUnreachable, object: "statefulset/ref-payments/ledger-postgres",
			summary: []string{`the dependency postgres://app@ledger-postgres.ref-payments:5432/ledger (Service ref-payments/ledger-postgres) has no ready endpoints: ` +
				`its pod ledger-postgres-0 crashloops (exit 1: "` + initdbFailure + `")`},
			evidence: []string{"reason=Error exitCode=1 message=" + initdbFailure},
		},
		{
			name: "a dependency whose pod waits for a claim no provisioner creates",
			args: map[string]any{"namespace": pay, "host": "vault-store:8200"}, wait: "data-vault-store-0",
			category: contract.DependencyUnreachable, object: "service/ref-payments/vault-store",
			summary: []string{"its pod vault-store-0 is Pending", "its claim data-vault-store-0 is Pending: ", "ebs.csi.aws.com"},
		},
		{
			name: "a dependency by its full cluster name and a port",
			args: map[string]any{"namespace": pay, "host": "ledger-postgres.ref-payments.svc.cluster.local", "port": 5432}, wait: "initdb",
			category: contract.DependencyUnreachable, object: "statefulset/ref-payments/ledger-postgres",
			summary: []string{"crashloops (exit 1: "},
		},
		{
			name: "a dependency on a port its Service does not expose",
			args: map[string]any{"namespace": pay, "host": "ledger-postgres:5433"}, wait: "5433",
			category: contract.ReferenceMissing, object: "service/ref-payments/ledger-postgres", field: "spec.ports",
			summary: []string{"is called on port 5433, which the Service does not expose (it exposes 5432 (postgres))"},
		},
		{
			name: "a host that is no Service",
			args: map[string]any{"namespace": pay, "host": "kv-cache:6379"}, wait: "kv-cache",
			category: contract.ReferenceMissing, object: "service/ref-payments/kv-cache",
			summary: []string{"the dependency kv-cache:6379 names Service ref-payments/kv-cache, which does not exist (Services in namespace ref-payments: ledger-postgres, vault-store)"},
		},
		{
			name: "a Deployment's template references a missing key and claim",
			args: map[string]any{"namespace": ns, "kind": "deployment", "name": "api"}, wait: "MODEL_PATH",
			category: contract.ReferenceMissing, object: "configmap/ref-check/settings", field: "data[MODEL_PATH]",
			summary: []string{"deployment/ref-check/api references key MODEL_PATH of ConfigMap settings (env MODEL_PATH of container app), which has no such key (its keys: LOG_LEVEL)"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := s.With(t)
			s.Eventually("reference_check", tc.args, tc.wait)
			var r contract.CheckReport
			text := s.Data("reference_check", tc.args, &r)
			c := causeOn(r, tc.object)
			if c == nil {
				t.Fatalf("no cause on %s: %+v\n%s", tc.object, r, text)
			}
			if c.Category != tc.category || c.Field != tc.field || c.Fix == nil || c.Fix.Text == "" {
				t.Errorf("cause: %+v", c)
			}
			mustContain(t, c.Summary, tc.summary...)
			mustContain(t, strings.Join(c.Evidence, "\n"), tc.evidence...)
			mustContain(t, text, c.Summary)
		})
	}

	t.Run("the template's missing claim is a cause too, and a healthy Service has none", func(t *testing.T) {
		s := s.With(t)
		var r contract.CheckReport
		s.Data("reference_check", map[string]any{"namespace": ns, "kind": "deployment", "name": "api"}, &r)
		if c := causeOn(r, "persistentvolumeclaim/ref-check/api-data"); c == nil || c.Category != contract.ReferenceMissing {
			t.Errorf("no ReferenceMissing cause on the claim: %+v", r)
		}
		if c := causeOn(r, "configmap/ref-check/settings"); c != nil && strings.Contains(c.Summary, "LOG_LEVEL (") {
			t.Errorf("a key that exists is reported: %+v", c)
		}
	})

	t.Run("bad arguments say what to fix", func(t *testing.T) {
		s := s.With(t)
		s.Fails("reference_check", map[string]any{"namespace": ns}, `give "kind" and "name"`)
		s.Fails("reference_check", map[string]any{"namespace": ns, "kind": "ingress", "name": "chat", "host": "x"}, "not both")
		s.Fails("reference_check", map[string]any{"namespace": ns, "host": "db", "failure": "refused"}, "failure")
		s.Fails("reference_check", map[string]any{"namespace": ns, "kind": "ingress", "name": "chat", "failure": "resolve"}, `"failure" goes with "host"`)
		s.Fails("reference_check", map[string]any{"namespace": ns, "kind": "configmap", "name": "settings"}, "reference_check follows the references of an ingress")
		s.Fails("reference_check", map[string]any{"namespace": ns, "kind": "ingress", "name": "nope"}, "ingress/ref-check/nope not found")
		s.Fails("reference_check", map[string]any{"namespace": ns, "host": "http://"}, "is not a URL with a host")
	})
}
