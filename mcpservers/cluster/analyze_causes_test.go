package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// nextRevision adds a ReplicaSet of d as revision rev, its pod spec changed by mutate from d's
// template, and returns it.
func nextRevision(t *testing.T, d *appsv1.Deployment, rev int, mutate func(*corev1.PodSpec)) *appsv1.ReplicaSet {
	t.Helper()
	spec := *d.Spec.Template.Spec.DeepCopy()
	mutate(&spec)
	labels := map[string]string{"app": d.Name, "pod-template-hash": "h" + string(rune('0'+rev))}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name + "-h" + string(rune('0'+rev)), Labels: labels,
			Annotations:     map[string]string{"deployment.kubernetes.io/revision": string(rune('0' + rev))},
			OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "Deployment", d)}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}},
	}
	create(t, rs)
	return rs
}

// TestAnalyzeCauses covers causes the analyzers name precisely: the credentials of an image pull,
// a probe event without a container, an HPA whose target has no requests, a Service whose pods
// crash, and missing ConfigMaps of a new revision or of a volume.
func TestAnalyzeCauses(t *testing.T) {
	s := connect(t, cluster.Config{})

	t.Run("ImagePullBackOff names a missing pull Secret, and a refused pull without one", func(t *testing.T) {
		ns := namespace(t, "an-pullsecret")
		_, rs := deploymentWithRevisions(t, ns, "model", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Image = "registry.private.example/model:1"
			p.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry-creds"}}
		})
		ownedPod(t, rs, ns, "model-h1-0", waiting("ImagePullBackOff",
			`Back-off pulling image "registry.private.example/model:1": failed to authorize: failed to fetch oauth token: 401 Unauthorized`, nil))
		_, bare := deploymentWithRevisions(t, ns, "tool", 1, func(p *corev1.PodSpec) { p.Containers[0].Image = "registry.private.example/tool:1" })
		ownedPod(t, bare, ns, "tool-h1-0", waiting("ErrImagePull", `pull access denied for registry.private.example/tool, repository does not exist or may require 'docker login'`, nil))
		_, tag := deploymentWithRevisions(t, ns, "shop", 1, func(p *corev1.PodSpec) { p.Containers[0].Image = "registry.example/shop:nope" })
		ownedPod(t, tag, ns, "shop-h1-0", waiting("ErrImagePull", `failed to pull image "registry.example/shop:nope": not found`, nil))
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "model-h1-0", "tool-h1-0", "shop-h1-0")
		mustContain(t, out,
			"missing: Secret an-pullsecret/registry-creds does not exist (spec.imagePullSecrets)",
			"fix: no automatic fix: create the image pull Secret registry-creds in namespace an-pullsecret",
			"the registry refused the pull, and the pod has no imagePullSecrets",
			"fix: no automatic fix: give the pod the registry's credentials",
			`fix: workload_set_image {"kind":"deployment","namespace":"an-pullsecret","name":"shop"`)
		mustNotContain(t, out, `"name":"model","container"`, `"name":"tool","container"`)
	})

	t.Run("a probe event without a container names the probed container", func(t *testing.T) {
		ns := namespace(t, "an-probeevent")
		_, rs := deploymentWithRevisions(t, ns, "api", 1, func(p *corev1.PodSpec) {
			p.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(9090)}}}
			p.Containers = append(p.Containers, corev1.Container{Name: "proxy", Image: "registry.example/proxy:1"})
		})
		p := ownedPod(t, rs, ns, "api-h1-0", corev1.PodStatus{Phase: corev1.PodRunning})
		warningEvent(t, p, "Pod", "Unhealthy", `Liveness probe failed: Get "http://10.0.0.5:9090/healthz": dial tcp 10.0.0.5:9090: connect: connection refused`, "")
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "api-h1-0")
		mustContain(t, out,
			"[warning] ProbeFailing pod/an-probeevent/api-h1-0 (owner deployment/an-probeevent/api)",
			"spec.containers[app].livenessProbe: httpGet /healthz:9090")
	})

	t.Run("HPAUnableToScale names the containers without the request it scales on", func(t *testing.T) {
		ns := namespace(t, "an-hpareq")
		deploymentWithRevisions(t, ns, "web", 1, nil)
		hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5,
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}}}}}
		create(t, hpa)
		now := metav1.Now()
		// Without a metrics API the controller reports that first, not the missing request.
		hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
			{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric", LastTransitionTime: now,
				Message: "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API"}}}
		setStatus(t, hpa)
		out := s.Eventually("analyze", map[string]any{"namespace": ns, "kind": "hpa", "name": "web"}, "HPAUnableToScale")
		mustContain(t, out,
			"deployment/web spec.template: containers app have no cpu request, and the HPA targets cpu utilization",
			"no automatic fix: give the containers of deployment/web requests for cpu (workload_set_resources)")
		mustNotContain(t, out, "metrics-server")
	})

	t.Run("a focus on a Service includes the findings of the pods behind it", func(t *testing.T) {
		ns := namespace(t, "an-svcpods")
		_, rs := deploymentWithRevisions(t, ns, "api", 2, nil)
		ownedPod(t, rs, ns, "api-h2-0", waiting("CrashLoopBackOff", "back-off 40s restarting failed container=app", terminated("Error", 1)))
		_, other := deploymentWithRevisions(t, ns, "other", 2, nil)
		ownedPod(t, other, ns, "other-h2-0", waiting("CrashLoopBackOff", "back-off", terminated("Error", 1)))
		create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "api"}, Ports: []corev1.ServicePort{{Port: 80}}}})
		out := s.Eventually("analyze", map[string]any{"namespace": ns, "kind": "service", "name": "api"}, "api-h2-0", "ServiceNoEndpoints")
		mustContain(t, out,
			"2 findings in service/an-svcpods/api: 2 critical",
			"by category: CrashLoopBackOff 1, ServiceNoEndpoints 1",
			`fix: workload_rollback {"kind":"deployment","namespace":"an-svcpods","name":"api","dryRun":true}`,
			"spec.selector app=api matches 1 pods, 0 of them Ready")
		mustNotContain(t, out, "other")
	})

	t.Run("CreateContainerConfigError rolls back when the previous revision does not reference what is missing", func(t *testing.T) {
		ns := namespace(t, "an-configrev")
		create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"LOG_LEVEL": "info"}})
		envKey := func(key string) func(*corev1.PodSpec) {
			return func(p *corev1.PodSpec) {
				p.Containers[0].Env = append(p.Containers[0].Env, corev1.EnvVar{Name: key, ValueFrom: &corev1.EnvVarSource{
					ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: key}}})
			}
		}
		d, _ := deploymentWithRevisions(t, ns, "api", 1, envKey("LOG_LEVEL"))
		rs := nextRevision(t, d, 2, envKey("MODEL_PATH"))
		ownedPod(t, rs, ns, "api-h2-0", waiting("CreateContainerConfigError", "couldn't find key MODEL_PATH in ConfigMap an-configrev/settings", nil))
		// A Deployment whose previous revision references the same missing key: no rollback.
		d2, _ := deploymentWithRevisions(t, ns, "batch", 1, envKey("MODEL_PATH"))
		rs2 := nextRevision(t, d2, 2, func(p *corev1.PodSpec) { p.Containers[0].Image = "registry.example/batch:2" })
		ownedPod(t, rs2, ns, "batch-h2-0", waiting("CreateContainerConfigError", "couldn't find key MODEL_PATH in ConfigMap an-configrev/settings", nil))
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "api-h2-0", "batch-h2-0")
		mustContain(t, out,
			`missing: ConfigMap an-configrev/settings has no key "MODEL_PATH" (env MODEL_PATH)`,
			"the previous revision of deployment/an-configrev/api does not reference what is missing",
			`fix: workload_rollback {"kind":"deployment","namespace":"an-configrev","name":"api","dryRun":true}`,
			"or correct the references in deployment/an-configrev/batch")
		mustNotContain(t, out, `"name":"batch","dryRun"`, `"LOG_LEVEL"`)
	})

	t.Run("a pod stuck in ContainerCreating on a missing ConfigMap volume", func(t *testing.T) {
		ns := namespace(t, "an-mount")
		_, rs := deploymentWithRevisions(t, ns, "server", 1, func(p *corev1.PodSpec) {
			p.Volumes = []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "server-config"}}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			}
		})
		p := ownedPod(t, rs, ns, "server-h1-0", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "registry.example/server:1",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}})
		warningEvent(t, p, "Pod", "FailedMount", `MountVolume.SetUp failed for volume "config" : configmap "server-config" not found`, "")
		// Creating, but no mount failure: nothing to report.
		_, ok := deploymentWithRevisions(t, ns, "fine", 1, nil)
		ownedPod(t, ok, ns, "fine-h1-0", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "registry.example/fine:1",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}})
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "server-h1-0", "FailedMount")
		mustContain(t, out,
			"[critical] CreateContainerConfigError pod/an-mount/server-h1-0 (owner deployment/an-mount/server)",
			"status.containerStatuses[app].state.waiting.reason: ContainerCreating",
			`event FailedMount (x3`,
			"missing: ConfigMap an-mount/server-config does not exist (volume config)",
			"create what is missing")
		mustNotContain(t, out, "fine-h1-0")
	})

	t.Run("OOMKilled after a revision lowered the memory limit rolls back", func(t *testing.T) {
		ns := namespace(t, "an-oomrev")
		limit := func(q string) func(*corev1.PodSpec) {
			return func(p *corev1.PodSpec) {
				p.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(q)}
			}
		}
		d, _ := deploymentWithRevisions(t, ns, "worker", 1, limit("512Mi"))
		rs := nextRevision(t, d, 2, limit("64Mi"))
		ownedPod(t, rs, ns, "worker-h2-0", waiting("CrashLoopBackOff", "back-off", terminated("OOMKilled", 137)))
		// Raised in the latest revision, and still killed: more memory, not a rollback.
		d2, _ := deploymentWithRevisions(t, ns, "loader", 1, limit("64Mi"))
		rs2 := nextRevision(t, d2, 2, limit("128Mi"))
		ownedPod(t, rs2, ns, "loader-h2-0", waiting("CrashLoopBackOff", "back-off", terminated("OOMKilled", 137)))
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "worker-h2-0", "loader-h2-0")
		mustContain(t, out,
			"the previous revision of deployment/an-oomrev/worker gave container app a memory limit of 512Mi",
			`fix: workload_rollback {"kind":"deployment","namespace":"an-oomrev","name":"worker","dryRun":true} — back to the previous revision, whose memory limit (512Mi) was higher than 64Mi`,
			`fix: workload_set_resources {"kind":"deployment","namespace":"an-oomrev","name":"loader","container":"app","limits":{"memory":"256Mi"},"dryRun":true}`)
	})

	t.Run("OOMKilled under a heap setting above the memory limit names the setting", func(t *testing.T) {
		ns := namespace(t, "an-oomheap")
		_, rs := deploymentWithRevisions(t, ns, "ssr", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
			p.Containers[0].Env = []corev1.EnvVar{{Name: "NODE_OPTIONS", Value: "--enable-source-maps --max-old-space-size=3072"}}
		})
		ownedPod(t, rs, ns, "ssr-h1-0", waiting("CrashLoopBackOff", "back-off", terminated("OOMKilled", 137)))
		// -Xmx well under the limit: no heap cause, the usual fix
		_, rs2 := deploymentWithRevisions(t, ns, "billing", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}
			p.Containers[0].Args = []string{"-Xmx512m", "-jar", "/app.jar"}
		})
		ownedPod(t, rs2, ns, "billing-h1-0", waiting("CrashLoopBackOff", "back-off", terminated("OOMKilled", 137)))
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "ssr-h1-0", "billing-h1-0")
		mustContain(t, out,
			"cause: MemoryLimit deployment/an-oomheap/ssr (spec.template.spec.containers[app].env[NODE_OPTIONS]): --max-old-space-size=3072 lets the V8 heap (Node.js) grow to 3Gi, more than the container's memory limit of 1Gi",
			`fix: workload_set_resources {"kind":"deployment","namespace":"an-oomheap","name":"billing"`)
		mustNotContain(t, out, `"name":"ssr","container":"app","limits"`)
	})

	t.Run("a probe that changed with the latest revision rolls back", func(t *testing.T) {
		ns := namespace(t, "an-proberev")
		port := func(n int32) func(*corev1.PodSpec) {
			return func(p *corev1.PodSpec) {
				p.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(n)}}}
			}
		}
		d, _ := deploymentWithRevisions(t, ns, "asr", 1, port(8080))
		rs := nextRevision(t, d, 2, port(8081))
		p := ownedPod(t, rs, ns, "asr-h2-0", corev1.PodStatus{Phase: corev1.PodRunning})
		warningEvent(t, p, "Pod", "Unhealthy", `Liveness probe failed: Get "http://10.0.0.5:8081/healthz": dial tcp 10.0.0.5:8081: connect: connection refused`, "spec.containers{app}")
		// The same probe in both revisions: the app, not the probe, changed; a person decides.
		d2, _ := deploymentWithRevisions(t, ns, "tts", 1, port(8080))
		rs2 := nextRevision(t, d2, 2, func(p *corev1.PodSpec) { p.Containers[0].Image = "registry.example/tts:2" })
		p2 := ownedPod(t, rs2, ns, "tts-h2-0", corev1.PodStatus{Phase: corev1.PodRunning})
		warningEvent(t, p2, "Pod", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500", "spec.containers{app}")
		// waits for what rests on both revisions being in the watch cache, not only the pods
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "asr-h2-0", "tts-h2-0",
			"the previous revision of deployment/an-proberev/asr", "initialDelaySeconds or failureThreshold on deployment/an-proberev/tts")
		mustContain(t, out,
			"spec.containers[app].livenessProbe: httpGet /healthz:8081",
			"the previous revision of deployment/an-proberev/asr had spec.containers[app].livenessProbe: httpGet /healthz:8080",
			`fix: workload_rollback {"kind":"deployment","namespace":"an-proberev","name":"asr","dryRun":true}`,
			"check the endpoint it calls and the app's logs; if the app only needs longer, raise the probe's initialDelaySeconds or failureThreshold on deployment/an-proberev/tts")
		mustNotContain(t, out, `"name":"tts","dryRun"`)
	})

	t.Run("a Service whose named targetPort no Ready pod declares has no usable endpoints", func(t *testing.T) {
		ns := namespace(t, "an-svcport")
		_, rs := deploymentWithRevisions(t, ns, "embeddings", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Ports = []corev1.ContainerPort{{Name: "web", ContainerPort: 8080}}
		})
		ready := corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		ownedPod(t, rs, ns, "embeddings-h1-0", ready)
		ownedPod(t, rs, ns, "embeddings-h1-1", ready)
		for _, target := range []string{"http", "web"} {
			name := "embeddings-" + target
			create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "embeddings"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString(target)}}}})
			// As the EndpointSlice controller writes it: the pods, and the port only where it resolves.
			sl := &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
					{Addresses: []string{"10.0.0.8"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
			}
			if target == "web" {
				sl.Ports = []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}}
			}
			create(t, sl)
		}
		// Both EndpointSlices may reach the cache after their Services.
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "service/an-svcport/embeddings-http", "2 ready endpoints", "!service/an-svcport/embeddings-web")
		mustContain(t, out,
			"[critical] ServiceNoEndpoints service/an-svcport/embeddings-http",
			`spec.ports[0] (port 80) targets the port named "http", which no container of the 2 Ready pods declares: they name their ports web (8080)`,
			"give the pods' container port the name the Service targets")
		mustNotContain(t, out, "service/an-svcport/embeddings-web")
		// Off the cluster-wide analyses of later tests, which the output cap keeps short.
		if err := apiServer(t).Client.Delete(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "embeddings-http"}}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a crash after a new revision says what the revision changed", func(t *testing.T) {
		ns := namespace(t, "an-revchange")
		d, _ := deploymentWithRevisions(t, ns, "collector", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Env = []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "SINK", Value: "http://gw:8080"}}
		})
		rs := nextRevision(t, d, 2, func(p *corev1.PodSpec) {
			p.Containers[0].Image = "registry.example/collector:0.14.0"
			p.Containers[0].Env = []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}, {Name: "BATCH", Value: "64"}}
			p.HostNetwork = true
		})
		ownedPod(t, rs, ns, "collector-h2-0", waiting("CrashLoopBackOff", "back-off", terminated("Error", 101)))
		// a StatefulSet's revisions are ControllerRevisions
		ss := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "zk"},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "zk"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "zk"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "zk", Image: "registry.example/zk:3.9-jre21",
						Env: []corev1.EnvVar{{Name: "JVMFLAGS", Value: "-XX:+UseConcMarkSweepGC"}}}}}}}}
		create(t, ss)
		for rev, tmpl := range []string{
			`{"spec":{"template":{"metadata":{"labels":{"app":"zk"}},"spec":{"containers":[{"name":"zk","image":"registry.example/zk:3.8-jre11","env":[{"name":"JVMFLAGS","value":"-XX:+UseConcMarkSweepGC"}]}]}}}}`,
			`{"spec":{"template":{"metadata":{"labels":{"app":"zk"}},"spec":{"containers":[{"name":"zk","image":"registry.example/zk:3.9-jre21","env":[{"name":"JVMFLAGS","value":"-XX:+UseConcMarkSweepGC"}]}]}}}}`,
		} {
			create(t, &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("zk-r%d", rev+1),
				Labels:          map[string]string{"app": "zk", appsv1.ControllerRevisionHashLabelKey: fmt.Sprintf("r%d", rev+1)},
				OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "StatefulSet", ss)}},
				Data: runtime.RawExtension{Raw: []byte(tmpl)}, Revision: int64(rev + 1)})
		}
		zk := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "zk-0",
			Labels:          map[string]string{"app": "zk", appsv1.ControllerRevisionHashLabelKey: "zk-r2"},
			OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "StatefulSet", ss)}},
			Spec: *ss.Spec.Template.Spec.DeepCopy()}
		create(t, zk)
		st := waiting("CrashLoopBackOff", "back-off", terminated("Error", 1))
		st.ContainerStatuses[0].Name = "zk"
		zk.Status = st
		setStatus(t, zk)
		out := s.Eventually("analyze", map[string]any{"namespace": ns}, "collector-h2-0", "zk-0", "the latest revision (2) changed container zk")
		mustContain(t, out,
			`the latest revision (2) changed container app: image registry.example/collector:1 → registry.example/collector:0.14.0; env LOG_LEVEL: "info" → "debug"; env BATCH added ("64"); env SINK removed; hostNetwork false → true`,
			"the latest revision (2) changed container zk: image registry.example/zk:3.8-jre11 → registry.example/zk:3.9-jre21")
	})

	t.Run("a Deployment whose pods wait on an init container names it", func(t *testing.T) {
		ns := namespace(t, "an-initwait")
		_, rs := deploymentWithRevisions(t, ns, "search", 1, func(p *corev1.PodSpec) {
			p.InitContainers = []corev1.Container{{Name: "wait-for-store", Image: "registry.example/curl:8", Command: []string{"sh", "-c", "until curl -fsS http://store:9200; do sleep 2; done"}}}
		})
		ownedPod(t, rs, ns, "search-h1-0", corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "wait-for-store", Image: "registry.example/curl:8",
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "registry.example/search:1",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}})
		d := &appsv1.Deployment{}
		if err := apiServer(t).Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "search"}, d); err != nil {
			t.Fatal(err)
		}
		d.Status = appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, UnavailableReplicas: 2, ObservedGeneration: d.Generation}
		setStatus(t, d)
		out := s.Eventually("analyze", map[string]any{"namespace": ns, "kind": "deployment", "name": "search"}, "ReplicasUnavailable", "wait-for-store")
		mustContain(t, out, "pod search-h1-0: container wait-for-store (an init container) has run since")
	})

	t.Run("a Service selector that matches nothing names the pods that nearly match", func(t *testing.T) {
		ns := namespace(t, "an-svcnear")
		_, rs := deploymentWithRevisions(t, ns, "embeddings", 1, nil)
		ownedPod(t, rs, ns, "embeddings-h1-0", corev1.PodStatus{Phase: corev1.PodRunning})
		ownedPod(t, rs, ns, "embeddings-h1-1", corev1.PodStatus{Phase: corev1.PodRunning})
		create(t, pod(ns, "unlabelled", map[string]string{"tier": "web"}))
		create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "embeddings"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "embedding"}, Ports: []corev1.ServicePort{{Port: 80}}}})
		out := s.Eventually("analyze", map[string]any{"namespace": ns, "kind": "service", "name": "embeddings"}, "ServiceNoEndpoints", "2 pods labelled")
		mustContain(t, out,
			"spec.selector app=embedding matches no pod in namespace an-svcnear",
			"pods with the selector's keys but other values: 2 pods labelled app=embeddings (deployment/an-svcnear/embeddings)")
		mustNotContain(t, out, "unlabelled", "tier=web")
	})
}

// findingOf is the finding of a about object in category, or nil.
func findingOf(a contract.Analysis, category, object string) *contract.Finding {
	for i := range a.Findings {
		if f := &a.Findings[i]; f.Category == category && f.Object == object {
			return f
		}
	}
	return nil
}

// TestAnalyzeFollowsCauses covers the findings whose analyzer follows the symptom to the object
// at fault and sets Finding.Cause: Ingress backends, DaemonSets kept off nodes by taints,
// cordoned nodes a budget holds, failing probes; and the failed pods' own words in the findings
// of Jobs, CronJobs and crashing containers.
func TestAnalyzeFollowsCauses(t *testing.T) {
	s := connect(t, cluster.Config{})
	long := "panic: config: field \"retries\" must be a positive integer, got -1 | goroutine 1 [running]: main.loadConfig(0xc000010000) /src/app/config.go:88 +0x1f4 main.main() /src/app/main.go:21 +0x25 " +
		"exit status 2 (the whole message, past the 300 bytes that analyze once kept of a status message, must reach the evidence unabridged for a person to read)"

	cases := []struct {
		name     string
		setup    func(t *testing.T, ns string)
		args     func(ns string) map[string]any
		wait     []string
		category string
		object   string
		cause    *contract.Cause // Category, Object, Field; Summary as a substring
		evidence []string
	}{
		{
			name: "an Ingress whose backend Service does not exist",
			setup: func(t *testing.T, ns string) {
				service(t, ns, "chat-api", corev1.ServicePort{Name: "http", Port: 80})
				ingress(t, ns, "chat", "chat.example.com", "chat-frontend", 80, "")
			},
			args: func(ns string) map[string]any { return map[string]any{"namespace": ns, "kind": "ingress"} },
			wait: []string{"ingress/an-ingress/chat"}, category: "ServiceNoEndpoints", object: "ingress/an-ingress/chat",
			cause: &contract.Cause{Category: contract.ReferenceMissing, Object: "service/an-ingress/chat-frontend",
				Summary: "Ingress chat routes chat.example.com/ to Service chat-frontend, which does not exist (Services in the namespace: chat-api)"},
			evidence: []string{"ingress/an-ingress/chat spec.rules[0].http.paths[0].backend.service: name=chat-frontend port=80"},
		},
		{
			name: "an init container OOMKilled by what it writes into a memory-backed emptyDir",
			setup: func(t *testing.T, ns string) {
				_, rs := deploymentWithRevisions(t, ns, "reranker", 1, func(p *corev1.PodSpec) {
					p.Volumes = []corev1.Volume{{Name: "model-cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}}
					p.InitContainers = []corev1.Container{{Name: "fetch-weights", Image: "registry.example/fetch:1",
						Resources:    corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}},
						VolumeMounts: []corev1.VolumeMount{{Name: "model-cache", MountPath: "/models"}}}}
				})
				ownedPod(t, rs, ns, "reranker-h1-0", corev1.PodStatus{Phase: corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{{Name: "fetch-weights", Image: "registry.example/fetch:1", RestartCount: 4,
						State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
						LastTerminationState: corev1.ContainerState{Terminated: terminated("OOMKilled", 137)}}}})
			},
			args: func(ns string) map[string]any { return map[string]any{"namespace": ns} },
			wait: []string{"reranker-h1-0"}, category: "OOMKilled", object: "pod/an-memvolume/reranker-h1-0",
			cause: &contract.Cause{Category: contract.MemoryLimit, Object: "deployment/an-memvolume/reranker", Field: "spec.template.spec.volumes[model-cache].emptyDir",
				Summary: "init container fetch-weights writes into volume model-cache (mounted at /models), an emptyDir with medium: Memory (a tmpfs, no sizeLimit): what it writes there counts toward its memory limit of 2Gi"},
			evidence: []string{"status.initContainerStatuses[fetch-weights].lastState.terminated: reason=OOMKilled exitCode=137"},
		},
		{
			name: "a CronJob whose latest Job failed quotes its pods' termination message",
			setup: func(t *testing.T, ns string) {
				cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rollup"},
					Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
						Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "rollup", Image: "registry.example/rollup:1"}}}}}}}}
				create(t, cj)
				failedJob(t, ns, "rollup-2901", controllerRef("batch/v1", "CronJob", cj), "rollup", `ERROR: relation "events_daily" does not exist`)
			},
			args: func(ns string) map[string]any {
				return map[string]any{"namespace": ns, "kind": "cronjob", "name": "rollup"}
			},
			wait: []string{"cronjob/an-cronjob/rollup"}, category: "JobFailed", object: "cronjob/an-cronjob/rollup",
			evidence: []string{
				`pod rollup-2901-x: container rollup terminated: reason=Error exitCode=3 message=ERROR: relation "events_daily" does not exist`,
				"job rollup-2901 status.conditions[Failed]: reason=BackoffLimitExceeded",
				`schedule "*/5 * * * *": 1 of its 1 Job kept failed: rollup-2901`,
			},
		},
		{
			name: "a failed Job quotes its pods' termination message",
			setup: func(t *testing.T, ns string) {
				failedJob(t, ns, "export", metav1.OwnerReference{}, "export", "open /checkpoints/step-900.pt: no such file or directory")
			},
			args: func(ns string) map[string]any {
				return map[string]any{"namespace": ns, "kind": "job", "name": "export"}
			},
			wait: []string{"job/an-jobpods/export"}, category: "JobFailed", object: "job/an-jobpods/export",
			evidence: []string{"pod export-x: container export terminated: reason=Error exitCode=3 message=open /checkpoints/step-900.pt: no such file or directory"},
		},
		{
			name: "a Job stopped at its deadline names its activeDeadlineSeconds",
			setup: func(t *testing.T, ns string) {
				job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "snapshot"},
					Spec: batchv1.JobSpec{ActiveDeadlineSeconds: ptr.To[int64](30), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
						Containers: []corev1.Container{{Name: "dump", Image: "registry.example/dump:1"}}}}}}
				create(t, job)
				now := metav1.Now()
				job.Status = batchv1.JobStatus{StartTime: &now, Failed: 1, Conditions: []batchv1.JobCondition{
					{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonDeadlineExceeded, Message: "Job was active longer than specified deadline", LastTransitionTime: now, LastProbeTime: now},
					{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonDeadlineExceeded, Message: "Job was active longer than specified deadline", LastTransitionTime: now, LastProbeTime: now},
				}}
				setStatus(t, job)
			},
			args: func(ns string) map[string]any {
				return map[string]any{"namespace": ns, "kind": "job", "name": "snapshot"}
			},
			wait: []string{"job/an-jobdeadline/snapshot"}, category: "JobFailed", object: "job/an-jobdeadline/snapshot",
			cause: &contract.Cause{Category: contract.ApplicationConfig, Object: "job/an-jobdeadline/snapshot", Field: "spec.activeDeadlineSeconds",
				Summary: "Job snapshot ran longer than its activeDeadlineSeconds (30 s) allows"},
			evidence: []string{"status.conditions[Failed]: reason=DeadlineExceeded message=Job was active longer than specified deadline"},
		},
		{
			name: "a pod bound by its own nodeName that the kubelet rejects names nodeName",
			setup: func(t *testing.T, ns string) {
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "eval-harness"}, Spec: corev1.PodSpec{NodeName: "gpu-7",
					Containers: []corev1.Container{{Name: "app", Image: "registry.example/harness:1"}}}}
				create(t, p)
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "OutOfnvidia.com/gpu",
					Message: "Pod was rejected: Node didn't have enough resource: nvidia.com/gpu, requested: 2, used: 8, capacity: 8"}
				setStatus(t, p)
			},
			args: func(ns string) map[string]any { return map[string]any{"namespace": ns} },
			wait: []string{"eval-harness"}, category: "InsufficientGPU", object: "pod/an-rejected/eval-harness",
			cause: &contract.Cause{Category: contract.ApplicationConfig, Object: "pod/an-rejected/eval-harness", Field: "spec.nodeName",
				Summary: "names its node itself (nodeName: gpu-7), so the scheduler never placed it, and the kubelet there rejected it (OutOfnvidia.com/gpu"},
			evidence: []string{"status: phase=Failed reason=OutOfnvidia.com/gpu message=Pod was rejected: Node didn't have enough resource: nvidia.com/gpu, requested: 2, used: 8, capacity: 8 (node gpu-7)"},
		},
		{
			name: "a DaemonSet kept off nodes by a taint it does not tolerate",
			setup: func(t *testing.T, ns string) {
				testNode(t, "an-cpu-1", false)
				taint := corev1.Taint{Key: "inference-only", Value: "true", Effect: corev1.TaintEffectNoSchedule}
				testNode(t, "an-gpu-new-1", false, taint)
				testNode(t, "an-gpu-new-2", false, taint)
				daemonSet(t, ns, "log-agent", nil, "an-cpu-1")
			},
			args: func(ns string) map[string]any {
				return map[string]any{"namespace": ns, "kind": "daemonset", "name": "log-agent"}
			},
			wait: []string{"an-gpu-new-2"}, category: "SchedulingConstraint", object: "daemonset/an-dstaint/log-agent",
			cause: &contract.Cause{Category: contract.TaintNotTolerated, Object: "node/an-gpu-new-1", Field: "spec.taints[inference-only]",
				Summary: "nodes an-gpu-new-1, an-gpu-new-2 have taint inference-only=true:NoSchedule, which DaemonSet log-agent does not tolerate, so it runs no pod there"},
			evidence: []string{"no pod on 2 nodes with taint inference-only=true:NoSchedule, which it does not tolerate: an-gpu-new-1, an-gpu-new-2", "spec.template.spec.tolerations: <none>"},
		},
		{
			name: "a cordoned node whose pod a PodDisruptionBudget holds",
			setup: func(t *testing.T, ns string) {
				testNode(t, "an-cordoned", true)
				_, rs := deploymentWithRevisions(t, ns, "ledger", 1, nil)
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ledger-h1-0", Labels: rs.Spec.Template.Labels,
					OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "ReplicaSet", rs)}},
					Spec: corev1.PodSpec{NodeName: "an-cordoned", Containers: rs.Spec.Template.Spec.Containers}}
				create(t, p)
				pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ledger"},
					Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "ledger"}}}}
				create(t, pdb)
				pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 1, DisruptionsAllowed: 0}
				setStatus(t, pdb)
			},
			args: func(string) map[string]any { return map[string]any{"kind": "node", "name": "an-cordoned"} },
			wait: []string{"NodeCordoned"}, category: "NodeCordoned", object: "node/an-cordoned",
			cause: &contract.Cause{Category: contract.DisruptionBudgetBlocks, Object: "poddisruptionbudget/an-cordon/ledger", Field: "spec.minAvailable",
				Summary: "PodDisruptionBudget an-cordon/ledger (minAvailable 1) has 1 of 1 pods healthy and needs 1, so it allows 0 disruptions: pod ledger-h1-0 cannot be evicted from cordoned node an-cordoned",
				// the drain begun is proposed again, never forced: it stops at the budget and says so
				Fix: &contract.Fix{Tool: "node_drain", Arguments: map[string]any{"name": "an-cordoned", "timeoutSeconds": 60}}},
			evidence: []string{"pod an-cordon/ledger-h1-0 cannot be evicted: PodDisruptionBudget an-cordon/ledger (minAvailable 1) allows 0 disruptions"},
		},
		{
			name: "the workload whose only pod a PodDisruptionBudget holds on a cordoned node",
			setup: func(t *testing.T, ns string) {
				testNode(t, "an-cordoned-2", true)
				_, rs := deploymentWithRevisions(t, ns, "index", 1, nil)
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "index-h1-0", Labels: rs.Spec.Template.Labels,
					OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "ReplicaSet", rs)}},
					Spec: corev1.PodSpec{NodeName: "an-cordoned-2", Containers: rs.Spec.Template.Spec.Containers}}
				create(t, p)
				pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "index-protect"},
					Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(0)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "index"}}}}
				create(t, pdb)
				pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 1, DisruptionsAllowed: 0}
				setStatus(t, pdb)
			},
			args: func(ns string) map[string]any {
				return map[string]any{"namespace": ns, "kind": "deployment", "name": "index"}
			},
			wait: []string{"NodeCordoned"}, category: "NodeCordoned", object: "node/an-cordoned-2",
			cause: &contract.Cause{Category: contract.DisruptionBudgetBlocks, Object: "poddisruptionbudget/an-cordonwl/index-protect", Field: "spec.maxUnavailable",
				Summary: "PodDisruptionBudget an-cordonwl/index-protect (maxUnavailable 0) has 1 of 1 pods healthy and needs 1, so it allows 0 disruptions: pod index-h1-0 cannot be evicted from cordoned node an-cordoned-2"},
			evidence: []string{"pod an-cordonwl/index-h1-0 cannot be evicted"},
		},
		{
			name: "a liveness probe on a path the app does not serve",
			setup: func(t *testing.T, ns string) {
				_, rs := deploymentWithRevisions(t, ns, "api", 1, func(p *corev1.PodSpec) {
					p.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health/live", Port: intstr.FromInt32(8080)}}}
				})
				p := ownedPod(t, rs, ns, "api-h1-0", corev1.PodStatus{Phase: corev1.PodRunning})
				warningEvent(t, p, "Pod", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404", "spec.containers{app}")
			},
			args: func(ns string) map[string]any { return map[string]any{"namespace": ns} },
			wait: []string{"ProbeFailing"}, category: "ProbeFailing", object: "pod/an-probe404/api-h1-0",
			cause: &contract.Cause{Category: contract.ProbeMisconfigured, Object: "deployment/an-probe404/api", Field: "spec.containers[app].livenessProbe.httpGet.path",
				Summary: "the liveness probe of container app gets HTTP 404 from /health/live on port 8080 (timeoutSeconds 1): the path it checks is not served"},
			evidence: []string{"Liveness probe failed: HTTP probe failed with statuscode: 404"},
		},
		{
			name: "a liveness probe that speaks plain HTTP to a TLS port",
			setup: func(t *testing.T, ns string) {
				_, rs := deploymentWithRevisions(t, ns, "status", 1, func(p *corev1.PodSpec) {
					p.Containers[0].Ports = []corev1.ContainerPort{{Name: "https", ContainerPort: 9000}}
					p.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(9000)}}}
				})
				p := ownedPod(t, rs, ns, "status-h1-0", corev1.PodStatus{Phase: corev1.PodRunning})
				warningEvent(t, p, "Pod", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 400", "spec.containers{app}")
			},
			args: func(ns string) map[string]any { return map[string]any{"namespace": ns} },
			wait: []string{"ProbeFailing"}, category: "ProbeFailing", object: "pod/an-probetls/status-h1-0",
			cause: &contract.Cause{Category: contract.ProbeMisconfigured, Object: "deployment/an-probetls/status", Field: "spec.containers[app].livenessProbe.httpGet.scheme",
				Summary: "the liveness probe of container app sends plain HTTP (scheme HTTP, the default) to port 9000, which serves HTTPS: the TLS server answers a plain request with HTTP 400"},
			evidence: []string{"Liveness probe failed: HTTP probe failed with statuscode: 400"},
		},
		{
			name: "a crash loop whose restarts are liveness kills after a probe timeout",
			setup: func(t *testing.T, ns string) {
				_, rs := deploymentWithRevisions(t, ns, "vllm", 1, func(p *corev1.PodSpec) {
					p.Containers[0].LivenessProbe = &corev1.Probe{TimeoutSeconds: 1, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/v1/models", Port: intstr.FromInt32(8000)}}}
				})
				p := ownedPod(t, rs, ns, "vllm-h1-0", waiting("CrashLoopBackOff", "back-off 1m20s restarting failed container=app", terminated("Error", 137)))
				warningEvent(t, p, "Pod", "Unhealthy", `Liveness probe failed: Get "http://10.0.0.9:8000/v1/models": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, "spec.containers{app}")
				warningEvent(t, p, "Pod", "Killing", "Container app failed liveness probe, will be restarted", "spec.containers{app}")
			},
			args: func(ns string) map[string]any { return map[string]any{"namespace": ns} },
			wait: []string{"CrashLoopBackOff", "Killing"}, category: "CrashLoopBackOff", object: "pod/an-probekill/vllm-h1-0",
			cause: &contract.Cause{Category: contract.ProbeMisconfigured, Object: "deployment/an-probekill/vllm", Field: "spec.containers[app].livenessProbe.timeoutSeconds",
				Summary: "the liveness probe of container app times out after 1s on /v1/models (port 8000)"},
			evidence: []string{"event Killing (x3", "Container app failed liveness probe, will be restarted"},
		},
		{
			name: "a crash loop quotes the container's termination message whole",
			setup: func(t *testing.T, ns string) {
				_, rs := deploymentWithRevisions(t, ns, "tuner", 1, nil)
				last := terminated("Error", 2)
				last.Message = long
				ownedPod(t, rs, ns, "tuner-h1-0", waiting("CrashLoopBackOff", "back-off", last))
			},
			args: func(ns string) map[string]any { return map[string]any{"namespace": ns} },
			wait: []string{"CrashLoopBackOff"}, category: "CrashLoopBackOff", object: "pod/an-termmsg/tuner-h1-0",
			evidence: []string{"status.containerStatuses[app].lastState.terminated: reason=Error exitCode=2 message=" + long},
		},
	}
	namespaces := []string{"an-ingress", "an-memvolume", "an-cronjob", "an-jobpods", "an-jobdeadline", "an-rejected", "an-dstaint", "an-cordon", "an-cordonwl", "an-probe404", "an-probetls", "an-probekill", "an-termmsg"}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := s.With(t)
			ns := namespace(t, namespaces[i])
			tc.setup(t, ns)
			args := tc.args(ns)
			s.Eventually("analyze", args, tc.wait...)
			var a contract.Analysis
			text := s.Data("analyze", args, &a)
			f := findingOf(a, tc.category, tc.object)
			if f == nil {
				t.Fatalf("no %s finding on %s:\n%s", tc.category, tc.object, text)
			}
			mustContain(t, strings.Join(f.Evidence, "\n"), tc.evidence...)
			if tc.cause == nil {
				return
			}
			c := f.Cause
			if c == nil || c.Category != tc.cause.Category || c.Object != tc.cause.Object || c.Field != tc.cause.Field || c.Fix == nil {
				t.Fatalf("cause %+v, want %+v\n%s", c, tc.cause, text)
			}
			mustContain(t, c.Summary, tc.cause.Summary)
			mustContain(t, text, fmt.Sprintf("cause: %s %s", c.Category, c.Object), c.Summary)
			if tc.cause.Fix != nil && (c.Fix.Tool != tc.cause.Fix.Tool || fmt.Sprint(c.Fix.Arguments) != fmt.Sprint(tc.cause.Fix.Arguments)) {
				t.Errorf("cause's fix %s %v, want %s %v", c.Fix.Tool, c.Fix.Arguments, tc.cause.Fix.Tool, tc.cause.Fix.Arguments)
			}
		})
	}
}

// failedJob creates a Job that failed at its backoff limit (owned by owner, when it names one)
// and its failed pod "<name>-x", whose container ended with exit 3 and message.
func failedJob(t *testing.T, ns, name string, owner metav1.OwnerReference, container, message string) {
	t.Helper()
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: container, Image: "registry.example/" + container + ":1"}}}}}}
	if owner.Name != "" {
		job.OwnerReferences = []metav1.OwnerReference{owner}
	}
	create(t, job)
	now := metav1.Now()
	job.Status = batchv1.JobStatus{StartTime: &now, Failed: 1, Conditions: []batchv1.JobCondition{
		{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
		{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
	}}
	setStatus(t, job)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-x", OwnerReferences: []metav1.OwnerReference{controllerRef("batch/v1", "Job", job)}},
		Spec: job.Spec.Template.Spec}
	create(t, p)
	end := terminated("Error", 3)
	end.Message = message
	p.Status = corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: container, Image: "registry.example/" + container + ":1",
		State: corev1.ContainerState{Terminated: end}}}}
	setStatus(t, p)
}
