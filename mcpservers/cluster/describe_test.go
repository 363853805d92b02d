package cluster_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

func TestDescribePod(t *testing.T) {
	ns := namespace(t, "rd-describe-pod")
	p := pod(ns, "api-0", map[string]string{"app": "api"})
	p.Spec.NodeName = "rd-node-describe"
	c := &p.Spec.Containers[0]
	c.Image = "registry.example/api:2"
	c.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
	c.Env = []corev1.EnvVar{
		{Name: "LOG_LEVEL", Value: "debug-verbose-xyz"},
		{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
	}
	createWithStatus(t, p, func() {
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = "10.1.2.3"
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [app]"}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{crashLooping(7, "Error", 1)}
	})
	api := refTo("Pod", ns, "api-0", string(p.UID))
	event(t, ns, "api-0.backoff-a", api, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container app", 4, 2*time.Minute)
	event(t, ns, "api-0.backoff-b", api, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container app", 3, 10*time.Second)
	event(t, ns, "api-0.pulled", api, corev1.EventTypeNormal, "Pulled", "Container image already present on machine", 8, time.Minute)
	// An event about an earlier pod of the same name is not about this one.
	event(t, ns, "api-0.earlier", refTo("Pod", ns, "api-0", "00000000-0000-0000-0000-00000000000e"), corev1.EventTypeWarning, "Evicted", "an earlier pod", 1, time.Second)
	s := connect(t, cluster.Config{})

	out := s.Eventually("describe", map[string]any{"kind": "po", "namespace": ns, "name": "api-0"}, "BackOff", "Pulled")
	mustContain(t, out,
		"Pod rd-describe-pod/api-0",
		"Phase: Running   Status: CrashLoopBackOff   Ready: 0/1   Restarts: 7",
		"Node: rd-node-describe   IP: 10.1.2.3",
		"Ready=False (ContainersNotReady: containers with unready status: [app])",
		"image: registry.example/api:2",
		"state: Waiting: CrashLoopBackOff: back-off 5m0s restarting failed container=app",
		"ready: false   restarts: 7",
		"last termination: Error (exit 1), 10m ago",
		"requests: cpu=250m,memory=64Mi   limits: memory=128Mi",
		"env (names only): LOG_LEVEL, DB_PASSWORD (secret db/password)",
	)
	notContain(t, out, "debug-verbose-xyz", "Evicted")
	inOrder(t, out, "Events (newest first", "Warning  BackOff", "Normal   Pulled")
	hasField(t, line(t, out, "Warning", "BackOff"), "7") // 4 + 3, collapsed
	hasField(t, line(t, out, "Pulled"), "8")

	t.Run("bad arguments", func(t *testing.T) {
		s.Fails("describe", map[string]any{"kind": "pod", "name": "api-0"}, `argument "namespace" is required`)
		s.Fails("describe", map[string]any{"kind": "pod", "namespace": ns}, "name")
		s.Fails("describe", map[string]any{"kind": "pod", "namespace": ns, "name": ""}, "name")
		s.Fails("describe", map[string]any{"kind": "gizmo", "namespace": ns, "name": "x"}, `unknown kind "gizmo"`, "api_resources")
		s.Fails("describe", map[string]any{"kind": "pod", "namespace": ns, "name": "nope"}, "pod/rd-describe-pod/nope not found")
		confined := connect(t, cluster.Config{AllowNamespaces: []string{"rd-describe-elsewhere"}})
		confined.Fails("describe", map[string]any{"kind": "pod", "namespace": ns, "name": "api-0"}, `namespace "rd-describe-pod" is outside this server's --allow-namespaces`)
	})
}

func TestDescribeWorkloads(t *testing.T) {
	ns := namespace(t, "rd-describe-wl")
	seedWorkloads(t, ns)
	s := connect(t, cluster.Config{})

	t.Run("deployment: rollout, conditions, its pods and why, events of it and its pods", func(t *testing.T) {
		out := s.Eventually("describe", map[string]any{"kind": "deploy", "namespace": ns, "name": "web"}, "web-7d9-oom", "ScalingReplicaSet", "BackOff")
		mustContain(t, out,
			"Deployment rd-describe-wl/web",
			"Replicas: 3 desired, 1 ready, 3 updated, 1 available, 2 unavailable",
			"Selector: app=web",
			"Health: UNHEALTHY",
			"Pods (3):",
		)
		mustContain(t, line(t, out, "Progressing", "False"), "ProgressDeadlineExceeded", `ReplicaSet "web-7d9" has timed out progressing.`)
		crash := line(t, out, "web-7d9-crash")
		mustContain(t, crash, "0/1", "CrashLoopBackOff", "Error (exit 1)")
		hasField(t, crash, "4")
		oom := line(t, out, "web-7d9-oom")
		mustContain(t, oom, "OOMKilled (exit 137)", "CrashLoopBackOff")
		hasField(t, oom, "9")
		ok := line(t, out, "web-7d9-ok")
		mustContain(t, ok, "1/1", "Running")
		noRow(t, out, "web-foreign") // owned by another controller
		// BackOff of both pods collapsed (12 + 8), naming the newest's pod.
		backoff := line(t, out, "Warning", "BackOff")
		hasField(t, backoff, "20")
		mustContain(t, backoff, "pod/rd-describe-wl/web-7d9-oom")
		inOrder(t, out, "Events (newest first", "Warning  BackOff", "Normal   ScalingReplicaSet")
		notContain(t, out, "not web's")
	})
	t.Run("statefulset with a pod that cannot be scheduled", func(t *testing.T) {
		out := s.Eventually("describe", map[string]any{"kind": "sts", "namespace": ns, "name": "db"}, "db-0")
		mustContain(t, line(t, out, "db-0"), "Pending", "Unschedulable")
		mustContain(t, out, "1 pod Pending: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")
	})
	t.Run("job", func(t *testing.T) {
		out := s.Eventually("describe", map[string]any{"kind": "job", "namespace": ns, "name": "train"}, "Failed")
		mustContain(t, out, "Status: Failed   Completions: 0/1   Parallelism: 1   Active: 0   Failed: 3   BackoffLimit: 2")
		mustContain(t, line(t, out, "Failed", "True"), "BackoffLimitExceeded")
	})
	t.Run("cronjob with its jobs", func(t *testing.T) {
		out := s.Eventually("describe", map[string]any{"kind": "cj", "namespace": ns, "name": "nightly"}, "nightly-29000000")
		mustContain(t, out, `Schedule: "0 2 * * *"   Suspended: true`, "Last scheduled: 3h ago", "Health: healthy")
		mustContain(t, line(t, out, "nightly-29000000"), "Complete", "1/1")
	})
	t.Run("missing", func(t *testing.T) {
		s.Fails("describe", map[string]any{"kind": "deployment", "namespace": ns, "name": "nope"}, "deployment/rd-describe-wl/nope not found")
	})
}

func TestDescribeOtherKinds(t *testing.T) {
	ns := namespace(t, "rd-describe-other")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Data: map[string][]byte{"password": []byte("s3cr3t-value-123"), "user": []byte("admin")}}
	createWithStatus(t, secret, nil)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"app.yaml": "replicas: 3\n"}}
	createWithStatus(t, cm, nil)
	web := pod(ns, "web-0", map[string]string{"app": "web"})
	createWithStatus(t, web, func() { readyPod(web) })
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
	createWithStatus(t, svc, nil)
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "data", Labels: map[string]string{"tier": "db"}},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	createWithStatus(t, pvc, func() {
		pvc.Status.Phase = corev1.ClaimPending
		pvc.Status.Conditions = []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionTrue, Reason: "Waiting", Message: "waiting for the volume"}}
	})
	event(t, ns, "data.provisioning", refTo("PersistentVolumeClaim", ns, "data", string(pvc.UID)), corev1.EventTypeWarning, "ProvisioningFailed", "storageclass \"fast\" not found", 6, time.Minute)
	s := connect(t, cluster.Config{})

	t.Run("secret: keys and sizes, never values", func(t *testing.T) {
		out := s.OK("describe", map[string]any{"kind": "secret", "namespace": ns, "name": "db"})
		mustContain(t, out, "Secret rd-describe-other/db", "Type: Opaque", "values are not shown")
		hasField(t, line(t, out, "password"), "16")
		hasField(t, line(t, out, "user"), "5")
		notContain(t, out, "s3cr3t-value-123", "admin")
		var got contract.Description
		text := s.Data("describe", map[string]any{"kind": "secret", "namespace": ns, "name": "db"}, &got)
		if got.Object != "secret/rd-describe-other/db" || got.Text != text {
			t.Errorf("describe secret: structured %+v, want the object and the text", got)
		}
	})
	t.Run("configmap: keys and sizes", func(t *testing.T) {
		out := s.OK("describe", map[string]any{"kind": "cm", "namespace": ns, "name": "settings"})
		hasField(t, line(t, out, "app.yaml"), "12")
		notContain(t, out, "replicas: 3")
	})
	t.Run("service: the pods it selects", func(t *testing.T) {
		out := s.Eventually("describe", map[string]any{"kind": "svc", "namespace": ns, "name": "web"}, "1 selected, 1 ready")
		mustContain(t, out, "Type: ClusterIP", "Ports: http 80/TCP", "Selector: app=web")
	})
	t.Run("any other kind: metadata, status conditions, events", func(t *testing.T) {
		out := s.Eventually("describe", map[string]any{"kind": "pvc", "namespace": ns, "name": "data"}, "ProvisioningFailed")
		mustContain(t, out, "PersistentVolumeClaim rd-describe-other/data", "Labels: tier=db", "Phase: Pending", "resource_get kind=persistentvolumeclaims name=data")
		mustContain(t, line(t, out, "Resizing", "True"), "Waiting", "waiting for the volume")
		hasField(t, line(t, out, "ProvisioningFailed"), "6")
		out = s.OK("describe", map[string]any{"kind": "namespace", "name": ns})
		mustContain(t, out, "Namespace rd-describe-other", "Phase: Active")
	})
}
