package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// setStatus writes obj's status (set by the caller after create) through the status subresource.
func setStatus(t testing.TB, obj client.Object) {
	t.Helper()
	if err := apiServer(t).Client.Status().Update(context.Background(), obj); err != nil {
		t.Fatalf("setting the status of %T %s: %v", obj, obj.GetName(), err)
	}
}

// warningEvent records an event about obj, as the kubelet or a controller would.
func warningEvent(t testing.TB, obj client.Object, kind, reason, message, fieldPath string) {
	t.Helper()
	now := metav1.Now()
	ns := obj.GetNamespace()
	if ns == "" {
		ns = "default"
	}
	create(t, &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: obj.GetName() + "."},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(),
			UID: obj.GetUID(), FieldPath: fieldPath},
		Reason: reason, Message: message, Type: corev1.EventTypeWarning,
		Count: 3, FirstTimestamp: now, LastTimestamp: now,
		Source: corev1.EventSource{Component: "test"},
	})
}

// deploymentWithRevisions creates a Deployment of one container "app" and as many ReplicaSets
// (revisions) as asked, and returns the latest ReplicaSet.
func deploymentWithRevisions(t testing.TB, ns, name string, revisions int, mutate func(*corev1.PodSpec)) (*appsv1.Deployment, *appsv1.ReplicaSet) {
	t.Helper()
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + name + ":1"}}}
	if mutate != nil {
		mutate(&spec)
	}
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}},
	}
	create(t, d)
	var rs *appsv1.ReplicaSet
	for rev := 1; rev <= revisions; rev++ {
		rsLabels := map[string]string{"app": name, "pod-template-hash": fmt.Sprintf("h%d", rev)}
		rs = &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-h%d", name, rev), Labels: rsLabels,
				Annotations:     map[string]string{"deployment.kubernetes.io/revision": fmt.Sprint(rev)},
				OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "Deployment", d)}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: rsLabels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: rsLabels}, Spec: spec}},
		}
		create(t, rs)
	}
	return d, rs
}

func controllerRef(apiVersion, kind string, owner client.Object) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true)}
}

// ownedPod creates a pod of rs (nil: a bare pod) and writes status onto it.
func ownedPod(t testing.TB, rs *appsv1.ReplicaSet, ns, name string, status corev1.PodStatus) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if rs != nil {
		p.Labels = rs.Spec.Template.Labels
		p.OwnerReferences = []metav1.OwnerReference{controllerRef("apps/v1", "ReplicaSet", rs)}
		p.Spec = *rs.Spec.Template.Spec.DeepCopy()
	} else {
		p.Spec = corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}
	}
	create(t, p)
	p.Status = status
	setStatus(t, p)
	return p
}

// waiting is the status of a pod whose container "app" waits for reason.
func waiting(reason, message string, last *corev1.ContainerStateTerminated) corev1.PodStatus {
	st := corev1.ContainerStatus{Name: "app", Image: "registry.example/app:1", RestartCount: 7,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}}
	if last != nil {
		st.LastTerminationState.Terminated = last
	}
	return corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{st}}
}

func terminated(reason string, code int32) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, StartedAt: metav1.Now(), FinishedAt: metav1.Now()}
}

func mustNotContain(t *testing.T, text string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(text, u) {
			t.Errorf("output contains %q:\n%s", u, text)
		}
	}
}

func TestAnalyze(t *testing.T) {
	s := connect(t, cluster.Config{})

	t.Run("CrashLoopBackOff rolls back a Deployment with a previous revision, else restarts it", func(t *testing.T) {
		ns := namespace(t, "an-crash")
		_, web := deploymentWithRevisions(t, ns, "web", 2, nil)
		_, api := deploymentWithRevisions(t, ns, "api", 1, nil)
		for i := range 3 {
			ownedPod(t, web, ns, fmt.Sprintf("web-h2-%d", i), waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=app", terminated("Error", 1)))
		}
		ownedPod(t, api, ns, "api-h1-0", waiting("CrashLoopBackOff", "back-off 40s restarting failed container=app", terminated("Completed", 0)))
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "api-h1-0", "2 more pods")
		mustContain(t, out,
			"2 findings in namespace an-crash: 2 critical, 0 warning",
			"by category: CrashLoopBackOff 2\n",
			"[critical] CrashLoopBackOff pod/an-crash/web-h2-0 (owner deployment/an-crash/web; 2 more pods: web-h2-1, web-h2-2)",
			"status.containerStatuses[app].lastState.terminated: reason=Error exitCode=1 (restarts 7)",
			"back-off 5m0s restarting failed container=app",
			`fix: workload_rollback {"kind":"deployment","namespace":"an-crash","name":"web","dryRun":true}`,
			"[critical] CrashLoopBackOff pod/an-crash/api-h1-0 (owner deployment/an-crash/api)",
			"reason=Completed exitCode=0",
			`fix: workload_restart {"kind":"deployment","namespace":"an-crash","name":"api","dryRun":true}`)
	})

	t.Run("ImagePullBackOff names the image and the pull error", func(t *testing.T) {
		ns := namespace(t, "an-image")
		_, rs := deploymentWithRevisions(t, ns, "shop", 1, func(p *corev1.PodSpec) { p.Containers[0].Image = "registry.example/shop:does-not-exist" })
		_, rs2 := deploymentWithRevisions(t, ns, "cart", 2, nil)
		ownedPod(t, rs, ns, "shop-h1-0", waiting("ErrImagePull", `failed to pull image "registry.example/shop:does-not-exist": not found`, nil))
		ownedPod(t, rs2, ns, "cart-h2-0", waiting("ImagePullBackOff", `Back-off pulling image "registry.example/cart:1"`, nil))
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "shop-h1-0", "cart-h2-0")
		mustContain(t, out,
			"[critical] ImagePullBackOff pod/an-image/shop-h1-0 (owner deployment/an-image/shop)",
			"spec.containers[app].image: registry.example/shop:does-not-exist",
			`status.containerStatuses[app].state.waiting: reason=ErrImagePull message=failed to pull image "registry.example/shop:does-not-exist": not found`,
			`fix: workload_set_image {"kind":"deployment","namespace":"an-image","name":"shop","container":"app","image":"<an image the registry has>","dryRun":true}`,
			"[critical] ImagePullBackOff pod/an-image/cart-h2-0",
			`fix: workload_rollback {"kind":"deployment","namespace":"an-image","name":"cart","dryRun":true}`)
	})

	t.Run("OOMKilled doubles the memory limit on the owner", func(t *testing.T) {
		ns := namespace(t, "an-oom")
		_, rs := deploymentWithRevisions(t, ns, "worker", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
		})
		ownedPod(t, rs, ns, "worker-h1-0", waiting("CrashLoopBackOff", "back-off", terminated("OOMKilled", 137)))
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "worker-h1-0")
		mustContain(t, out,
			"1 finding in namespace an-oom: 1 critical, 0 warning",
			"[critical] OOMKilled pod/an-oom/worker-h1-0 (owner deployment/an-oom/worker)",
			"status.containerStatuses[app].lastState.terminated: reason=OOMKilled exitCode=137",
			"spec.containers[app].resources.limits.memory: 64Mi",
			`fix: workload_set_resources {"kind":"deployment","namespace":"an-oom","name":"worker","container":"app","limits":{"memory":"128Mi"},"dryRun":true}`)
		mustNotContain(t, out, "] CrashLoopBackOff") // the same crash, reported once, as OOMKilled
	})

	t.Run("output json carries the same findings for programs", func(t *testing.T) {
		s.Eventually("analyze", map[string]any{"namespace": "an-oom"}, "worker-h1-0")
		out := s.OK("analyze", map[string]any{"namespace": "an-oom", "kind": "deployment", "name": "worker", "output": "json"})
		var got contract.Analysis
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if got.Where != "deployment/an-oom/worker" || len(got.Findings) != 1 || got.Truncated != 0 {
			t.Fatalf("analyze json: %+v", got)
		}
		f := got.Findings[0]
		if f.Severity != "critical" || f.Category != "OOMKilled" || f.Object != "pod/an-oom/worker-h1-0" || f.Owner != "deployment/an-oom/worker" || f.Container != "app" ||
			f.Fix.Tool != "workload_set_resources" || f.Fix.Arguments["name"] != "worker" || !strings.Contains(strings.Join(f.Evidence, "\n"), "reason=OOMKilled exitCode=137") {
			t.Errorf("finding: %+v", f)
		}
		if limits, _ := f.Fix.Arguments["limits"].(map[string]any); limits["memory"] != "128Mi" {
			t.Errorf("fix arguments: %v", f.Fix.Arguments)
		}
		// The structured content is the same Analysis, with output json or without.
		for _, output := range []string{"json", "text"} {
			var data contract.Analysis
			text := s.Data("analyze", map[string]any{"namespace": "an-oom", "kind": "deployment", "name": "worker", "output": output}, &data)
			if output == "json" {
				var fromText contract.Analysis
				if err := json.Unmarshal([]byte(text), &fromText); err != nil || !reflect.DeepEqual(fromText, data) {
					t.Errorf("output json: the text is not the structured content (%v):\n%s", err, text)
				}
			}
			if data.Where != got.Where || data.Checked != got.Checked || len(data.Findings) != 1 || data.Truncated != 0 {
				t.Fatalf("analyze output %s: structured %+v, json text %+v", output, data, got)
			}
			d := data.Findings[0]
			if d.Category != "OOMKilled" || d.Severity != "critical" || d.Object != f.Object || d.Owner != f.Owner ||
				strings.Join(d.Evidence, "\n") != strings.Join(f.Evidence, "\n") || d.Fix.Tool != "workload_set_resources" || d.Fix.Text == "" {
				t.Errorf("analyze output %s: structured finding %+v, json text finding %+v", output, d, f)
			}
			if output == "text" && (!strings.Contains(text, "[critical] OOMKilled "+d.Object) || !strings.Contains(text, "evidence: "+d.Evidence[0])) {
				t.Errorf("the text does not show the structured finding %+v:\n%s", d, text)
			}
		}
		s.Fails("analyze", map[string]any{"namespace": "an-oom", "output": "yaml"}, "output")
	})

	t.Run("CreateContainerConfigError names the missing ConfigMap and Secret key, never values", func(t *testing.T) {
		ns := namespace(t, "an-config")
		const secretValue = "s3cr3t-user-value-0123"
		create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-creds"}, Data: map[string][]byte{"username": []byte(secretValue)}})
		_, rs := deploymentWithRevisions(t, ns, "billing", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Env = []corev1.EnvVar{
				{Name: "DB_USER", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db-creds"}, Key: "username"}}},
				{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db-creds"}, Key: "password"}}},
			}
			p.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "billing-settings"}}}}
		})
		ownedPod(t, rs, ns, "billing-h1-0", waiting("CreateContainerConfigError", `couldn't find key password in Secret an-config/db-creds`, nil))
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "billing-h1-0")
		mustContain(t, out,
			"[critical] CreateContainerConfigError pod/an-config/billing-h1-0 (owner deployment/an-config/billing)",
			"status.containerStatuses[app].state.waiting.message: couldn't find key password in Secret an-config/db-creds",
			`missing: Secret an-config/db-creds has no key "password" (env DB_PASSWORD)`,
			"missing: ConfigMap an-config/billing-settings does not exist (envFrom)",
			"fix: no automatic fix: create what is missing (above; values are not shown), or correct the references in deployment/an-config/billing")
		mustNotContain(t, out, secretValue, "DB_USER") // the key that exists is not reported, and no value is
	})

	t.Run("ProbeFailing reports Unhealthy events and running containers that are not ready", func(t *testing.T) {
		ns := namespace(t, "an-probe")
		_, rs := deploymentWithRevisions(t, ns, "front", 1, func(p *corev1.PodSpec) {
			p.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}}
			p.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/live", Port: intstr.FromInt32(8080)}}}
		})
		running := func(ready bool) corev1.PodStatus {
			return corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "registry.example/front:1", Ready: ready,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}
		}
		ownedPod(t, rs, ns, "front-h1-0", running(false))
		live := ownedPod(t, nil, ns, "solo", running(true))
		warningEvent(t, live, "Pod", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500", "spec.containers{app}")
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "front-h1-0", "pod/an-probe/solo")
		mustContain(t, out,
			"[warning] ProbeFailing pod/an-probe/front-h1-0 (owner deployment/an-probe/front)",
			"status.containerStatuses[app]: running, ready=false",
			"spec.containers[app].readinessProbe: httpGet /ready:8080",
			"the readiness probe fails, so the pod gets no Service traffic",
			"[warning] ProbeFailing pod/an-probe/solo\n",
			"liveness probe failing: event Unhealthy (x3",
			"Liveness probe failed: HTTP probe failed with statuscode: 500",
			"the liveness probe fails, so the kubelet keeps restarting the container")
	})

	t.Run("Unschedulable gives the scheduler's reason and event", func(t *testing.T) {
		ns := namespace(t, "an-pending")
		_, rs := deploymentWithRevisions(t, ns, "big", 1, nil)
		msg := "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
		p := ownedPod(t, rs, ns, "big-h1-0", corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: msg, LastTransitionTime: metav1.Now()}}})
		warningEvent(t, p, "Pod", "FailedScheduling", msg, "")
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "big-h1-0", "event FailedScheduling")
		mustContain(t, out,
			"[warning] Unschedulable pod/an-pending/big-h1-0 (owner deployment/an-pending/big)",
			"status.conditions[PodScheduled]: status=False reason=Unschedulable message=0/3 nodes are available: 3 Insufficient memory.",
			"event FailedScheduling (x3",
			"lower the requests of deployment/an-pending/big (workload_set_resources)")
	})

	t.Run("ServiceNoEndpoints: a selector that matches nothing, and pods that are not ready", func(t *testing.T) {
		ns := namespace(t, "an-svc")
		svc := func(name string) *corev1.Service {
			return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80}}}}
		}
		create(t, svc("ghost"))
		create(t, svc("web"))
		create(t, svc("ok"))
		create(t, pod(ns, "web-0", map[string]string{"app": "web"}))
		create(t, pod(ns, "ok-0", map[string]string{"app": "ok"}))
		create(t, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "ok-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "ok"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		})
		// The EndpointSlice of "ok" may reach the cache after its Service and pod.
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "service/an-svc/ghost", "service/an-svc/web", "!service/an-svc/ok")
		mustContain(t, out,
			"[critical] ServiceNoEndpoints service/an-svc/ghost",
			"spec.selector app=ghost matches no pod in namespace an-svc",
			"correct the Service's selector",
			"[critical] ServiceNoEndpoints service/an-svc/web",
			"spec.selector app=web matches 1 pods, 0 of them Ready",
			"endpointslices (label kubernetes.io/service-name=web): 0, with 0 endpoints, 0 ready",
			"the pods behind the Service are not ready")
	})

	t.Run("PVCPending names the StorageClass and the provisioning event", func(t *testing.T) {
		ns := namespace(t, "an-pvc")
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("an-fast"), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
		create(t, pvc)
		pvc.Status.Phase = corev1.ClaimPending
		setStatus(t, pvc)
		warningEvent(t, pvc, "PersistentVolumeClaim", "ProvisioningFailed", `storageclass.storage.k8s.io "an-fast" not found`, "")
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "persistentvolumeclaim/an-pvc/data", "ProvisioningFailed")
		mustContain(t, out,
			"[warning] PVCPending persistentvolumeclaim/an-pvc/data",
			"status.phase: Pending; spec.storageClassName: an-fast",
			"storageclass an-fast does not exist",
			// The age is 0s or 1s by when the analysis runs.
			"event ProvisioningFailed (x3, last ", `ago): storageclass.storage.k8s.io "an-fast" not found`,
			"create StorageClass an-fast")
	})

	t.Run("NodeNotReady and NodePressure, in cluster mode only", func(t *testing.T) {
		c := apiServer(t).Client
		down := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "an-node-down"}}
		full := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "an-node-full"}}
		create(t, down)
		create(t, full)
		t.Cleanup(func() { _ = c.Delete(context.Background(), down); _ = c.Delete(context.Background(), full) })
		now := metav1.Now()
		down.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown",
			Message: "Kubelet stopped posting node status.", LastTransitionTime: now, LastHeartbeatTime: now}}
		setStatus(t, down)
		full.Status.Conditions = []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastTransitionTime: now, LastHeartbeatTime: now},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue, Reason: "KubeletHasInsufficientMemory", Message: "kubelet has insufficient memory available", LastTransitionTime: now, LastHeartbeatTime: now},
		}
		setStatus(t, full)
		// Focused on nodes: the findings of every other test's namespace would fill the cap.
		out := s.Eventually("analyze", map[string]any{"kind": "node"}, "node/an-node-down", "node/an-node-full")
		mustContain(t, out,
			"in the cluster:",
			"[critical] NodeNotReady node/an-node-down",
			"status.conditions[Ready]: status=Unknown reason=NodeStatusUnknown message=Kubelet stopped posting node status.",
			`fix: node_cordon {"name":"an-node-down","dryRun":true}`,
			"[warning] NodePressure node/an-node-full",
			"status.conditions[MemoryPressure]: status=True reason=KubeletHasInsufficientMemory",
			`fix: node_cordon {"name":"an-node-full","dryRun":true}`)
		focused := s.OK("analyze", map[string]any{"kind": "node", "name": "an-node-down"})
		mustContain(t, focused, "1 finding in node/an-node-down: 1 critical, 0 warning", "NodeNotReady")
		mustNotContain(t, focused, "an-node-full")
		mustNotContain(t, s.OK("analyze", map[string]any{"namespace": "default"}), "an-node-down", "NodeNotReady")
	})

	t.Run("RolloutStuck and ReplicasUnavailable", func(t *testing.T) {
		ns := namespace(t, "an-rollout")
		stuck, _ := deploymentWithRevisions(t, ns, "checkout", 2, nil)
		now := metav1.Now()
		stuck.Status = appsv1.DeploymentStatus{ObservedGeneration: stuck.Generation, Replicas: 3, UpdatedReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 2, UnavailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
				Message: `ReplicaSet "checkout-h2" has timed out progressing.`, LastUpdateTime: now, LastTransitionTime: now}}}
		setStatus(t, stuck)
		thin, _ := deploymentWithRevisions(t, ns, "search", 1, nil)
		thin.Status = appsv1.DeploymentStatus{ObservedGeneration: thin.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 0, AvailableReplicas: 0, UnavailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable",
				Message: "Deployment does not have minimum availability.", LastUpdateTime: now, LastTransitionTime: now}}}
		setStatus(t, thin)
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "RolloutStuck", "ReplicasUnavailable")
		mustContain(t, out,
			"by category: RolloutStuck 1, ReplicasUnavailable 1\n",
			"[critical] RolloutStuck deployment/an-rollout/checkout",
			`status.conditions[Progressing]: status=False reason=ProgressDeadlineExceeded message=ReplicaSet "checkout-h2" has timed out progressing.`,
			"replicas: desired 2, updated 1, ready 2, available 2, unavailable 1",
			`fix: workload_rollback {"kind":"deployment","namespace":"an-rollout","name":"checkout","dryRun":true}`,
			"[warning] ReplicasUnavailable deployment/an-rollout/search",
			"status.conditions[Available]: status=False reason=MinimumReplicasUnavailable",
			"see the findings of its pods")
		mustNotContain(t, out, "ReplicasUnavailable deployment/an-rollout/checkout") // stuck is reported once
	})

	t.Run("JobFailed with the backoff limit", func(t *testing.T) {
		ns := namespace(t, "an-job")
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "migrate"},
			Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](2), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "migrate", Image: "registry.example/migrate:1"}}}}}}
		create(t, job)
		now := metav1.Now()
		job.Status = batchv1.JobStatus{StartTime: &now, Failed: 3, Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
		}}
		setStatus(t, job)
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "job/an-job/migrate")
		mustContain(t, out,
			"[critical] JobFailed job/an-job/migrate",
			"status.conditions[Failed]: reason=BackoffLimitExceeded message=Job has reached the specified backoff limit",
			"status.failed: 3, succeeded: 0, backoffLimit: 2",
			"no automatic fix: read the logs of its failed pods")
	})

	t.Run("HPAUnableToScale with the controller's message", func(t *testing.T) {
		ns := namespace(t, "an-hpa")
		hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5,
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}}}}}
		create(t, hpa)
		now := metav1.Now()
		hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 1, DesiredReplicas: 1, Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
			{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "SucceededGetScale", LastTransitionTime: now},
			{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric", LastTransitionTime: now,
				Message: "the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for cpu in container app of Pod web-1"},
		}}
		setStatus(t, hpa)
		// (an HPA without status is a finding of its own now: its target does not exist)
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "horizontalpodautoscaler/an-hpa/web", "FailedGetResourceMetric")
		mustContain(t, out,
			"[warning] HPAUnableToScale horizontalpodautoscaler/an-hpa/web",
			"status.conditions[ScalingActive]: status=False reason=FailedGetResourceMetric message=the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for cpu",
			"spec.scaleTargetRef: deployment/web",
			"(workload_set_resources)")
		mustNotContain(t, out, "AbleToScale]")
	})

	t.Run("QuotaExceeded events and full ResourceQuotas suggest raising the quota", func(t *testing.T) {
		ns := namespace(t, "an-quota")
		d, rs := deploymentWithRevisions(t, ns, "web", 1, nil)
		_ = d
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "compute"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2"), corev1.ResourceLimitsMemory: resource.MustParse("1Gi")}}}
		create(t, q)
		q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard,
			Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2"), corev1.ResourceLimitsMemory: resource.MustParse("512Mi")}}
		setStatus(t, q)
		warningEvent(t, rs, "ReplicaSet", "FailedCreate",
			`Error creating: pods "web-h1-x7k2p" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2`, "")
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "QuotaExceeded", "QuotaFull")
		patch := `fix: resource_patch {"kind":"resourcequota","namespace":"an-quota","name":"compute","patchType":"merge","patch":"{\"spec\":{\"hard\":{\"pods\":\"4\"}}}","dryRun":true}`
		mustContain(t, out,
			"[critical] QuotaExceeded replicaset/an-quota/web-h1 (owner deployment/an-quota/web)",
			"event FailedCreate (x3",
			"exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2",
			"[warning] QuotaFull resourcequota/an-quota/compute",
			"status.used.pods: 2 >= spec.hard.pods: 2",
			patch)
		mustNotContain(t, out, "limits.memory: 512Mi") // below its hard limit
		if strings.Count(out, patch) != 2 {
			t.Errorf("want the same resource_patch for the event and the quota:\n%s", out)
		}
	})

	t.Run("a healthy namespace has no findings", func(t *testing.T) {
		ns := namespace(t, "an-healthy")
		d, rs := deploymentWithRevisions(t, ns, "web", 1, func(p *corev1.PodSpec) {
			p.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}}
		})
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
		setStatus(t, d)
		ownedPod(t, rs, ns, "web-h1-0", corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "registry.example/web:1", Ready: true, RestartCount: 1,
				State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
				LastTerminationState: corev1.ContainerState{Terminated: terminated("Completed", 0)}}}})
		create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}})
		create(t, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "web-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.9"}}},
		})
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "roomy"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}}}
		create(t, q)
		q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}}
		setStatus(t, q)
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "1 pods, 1 deployments", "1 services", "1 quotas", "!findings in namespace an-healthy:")
		mustContain(t, out, "no findings in namespace an-healthy (checked 1 pods, 1 deployments, 0 statefulsets, 0 daemonsets, 0 jobs, 1 services")
		mustNotContain(t, out, "[critical]", "[warning]", "fix:")
	})

	t.Run("kind and name focus on one object and the pods it owns", func(t *testing.T) {
		s.Eventually("analyze", map[string]any{"namespace": "an-crash"}, "web-h2-0", "api-h1-0")
		out := s.OK("analyze", map[string]any{"namespace": "an-crash", "kind": "deploy", "name": "web"})
		mustContain(t, out, "1 finding in deployment/an-crash/web: 1 critical, 0 warning", "pod/an-crash/web-h2-0")
		mustNotContain(t, out, "api-h1-0")
		out = s.OK("analyze", map[string]any{"namespace": "an-crash", "kind": "pods", "name": "api-h1-0"})
		mustContain(t, out, "1 finding in pod/an-crash/api-h1-0", "workload_restart")
		mustNotContain(t, out, "web-h2")
		out = s.OK("analyze", map[string]any{"namespace": "an-crash", "kind": "replicaset", "name": "web-h2"})
		mustContain(t, out, "pod/an-crash/web-h2-0", "2 more pods")
		out = s.OK("analyze", map[string]any{"namespace": "an-svc", "kind": "svc"})
		mustContain(t, out, "2 findings in services in namespace an-svc", "service/an-svc/ghost", "service/an-svc/web")
		mustNotContain(t, out, "pod/")
		out = s.OK("analyze", map[string]any{"namespace": "an-svc", "kind": "service", "name": "ok"})
		mustContain(t, out, "no findings in service/an-svc/ok")
	})

	t.Run("a small result cap keeps critical findings first and counts the rest", func(t *testing.T) {
		small := connect(t, cluster.Config{MaxBytes: 1200})
		out := small.Eventually("analyze", map[string]any{"namespace": "an-rollout"}, "RolloutStuck")
		mustContain(t, out, "[critical] RolloutStuck deployment/an-rollout/checkout",
			"… truncated: 1 more finding (0 critical, 1 warning); narrow with namespace, kind and name")
		mustNotContain(t, out, "[warning] ReplicasUnavailable")
		if len(out) > 1200 {
			t.Errorf("result is %d bytes, over the cap of 1200:\n%s", len(out), out)
		}
	})

	t.Run("bad arguments say what to fix", func(t *testing.T) {
		s.Fails("analyze", map[string]any{"kind": "gizmos"}, `unknown kind "gizmos"`, "api_resources")
		s.Fails("analyze", map[string]any{"kind": "configmaps"}, "analyze has no analyzers for configmaps", "focus on one of pod, deployment")
		s.Fails("analyze", map[string]any{"name": "web"}, `argument "name" needs "kind"`)
		s.Fails("analyze", map[string]any{"kind": "deployment", "name": "web"}, `deployments is namespaced: argument "namespace" is required`)
		s.Fails("analyze", map[string]any{"namespace": "an-crash", "kind": "deployment", "name": "nope"}, "deployment/an-crash/nope not found")
		s.Fails("analyze", map[string]any{"namespace": "an-crash", "kind": "node"}, "nodes are cluster-scoped: call analyze for them without a namespace")
		s.Fails("analyze", map[string]any{"namespace": "an-crash", "bogus": 1}, "bogus")

		confined := connect(t, cluster.Config{AllowNamespaces: []string{"an-crash", "an-oom"}})
		confined.Fails("analyze", map[string]any{"namespace": "an-image"}, `namespace "an-image" is outside this server's --allow-namespaces (an-crash, an-oom)`)
		confined.Fails("analyze", map[string]any{"kind": "node"}, "nodes is cluster-scoped, and this server is confined")
		out := confined.Eventually("analyze", map[string]any{}, "web-h2-0", "worker-h1-0")
		mustContain(t, out, "3 findings in namespaces an-crash, an-oom: 3 critical, 0 warning")
		mustNotContain(t, out, "an-image", "NodeNotReady")
	})
}
