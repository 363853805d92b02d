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
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// refusedPod asks the real API server to create a pod of template (as a controller would) and
// returns the controller's FailedCreate message for its refusal; the test fails when admission
// lets the pod in.
func refusedPod(t *testing.T, ns, name string, template corev1.PodTemplateSpec, want string) string {
	t.Helper()
	err := apiServer(t).Client.Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: template.Labels},
		Spec: *template.Spec.DeepCopy()})
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("the API server's admission did not refuse pod %s with %q: %v", name, want, err)
	}
	return "Error creating: " + err.Error()
}

// statefulSet creates a StatefulSet of one container "app" (spec changed by mutate).
func statefulSet(t *testing.T, ns, name string, mutate func(*corev1.PodSpec)) *appsv1.StatefulSet {
	t.Helper()
	labels := map[string]string{"app": name}
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + name + ":1"}}}
	if mutate != nil {
		mutate(&spec)
	}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}}}
	create(t, sts)
	return sts
}

// TestAnalyzeNamesWhatAdmissionRefuses covers causes behind pods the API server refuses or
// objects that cannot work: a RuntimeClass, ServiceAccount or PriorityClass that does not exist,
// a LimitRange's bound, a scoped ResourceQuota; and references beyond the pod: an HPA's target,
// the ServiceAccount a pod takes its pull Secrets from, a StorageClass's provisioner, an Ingress
// no class serves.
func TestAnalyzeNamesWhatAdmissionRefuses(t *testing.T) {
	s := connect(t, cluster.Config{})

	type want struct {
		category, object string
		cause            contract.Cause // Summary: substrings, one a line
		fix              []string       // substrings of the cause's fix
	}
	cases := []struct {
		name  string
		ns    string
		setup func(t *testing.T, ns string)
		args  map[string]any // more analyze arguments
		wait  []string
		want  []want
	}{
		{
			name: "a Deployment whose RuntimeClass does not exist",
			ns:   "an-rtclass",
			setup: func(t *testing.T, ns string) {
				rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "an-nvidia"}, Handler: "nvidia"}
				create(t, rc)
				deleteAtEnd(t, rc)
				d, rs := deploymentWithRevisions(t, ns, "vllm", 1, func(p *corev1.PodSpec) { p.RuntimeClassName = ptr.To("an-nvidia-cdi") })
				msg := refusedPod(t, ns, "vllm-h1-x7", rs.Spec.Template, `RuntimeClass "an-nvidia-cdi" not found`)
				warningEvent(t, rs, "ReplicaSet", "FailedCreate", msg, "")
				unavailable(t, d)
			},
			wait: []string{"ReplicasUnavailable", "an-nvidia-cdi"},
			want: []want{{category: "ReplicasUnavailable", object: "deployment/an-rtclass/vllm",
				cause: contract.Cause{Category: contract.ReferenceMissing, Object: "deployment/an-rtclass/vllm", Field: "spec.template.spec.runtimeClassName",
					Summary: "names RuntimeClass an-nvidia-cdi, which does not exist in the cluster\nan-nvidia\nthe nearest is an-nvidia"},
				fix: []string{"create RuntimeClass an-nvidia-cdi", "an-nvidia (the nearest that exists)"}}},
		},
		{
			name: "a StatefulSet whose ServiceAccount and a Job whose PriorityClass do not exist",
			ns:   "an-refgone",
			setup: func(t *testing.T, ns string) {
				create(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ledger-writer"}})
				sts := statefulSet(t, ns, "ledger", func(p *corev1.PodSpec) { p.ServiceAccountName = "ledger-writter" })
				// envtest runs without the ServiceAccount admission plugin: its message, verbatim.
				warningEvent(t, sts, "StatefulSet", "FailedCreate", `create Pod ledger-0 in StatefulSet ledger failed error: pods "ledger-0" is forbidden: error looking up service account an-refgone/ledger-writter: serviceaccount "ledger-writter" not found`, "")
				job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly-train"},
					Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, PriorityClassName: "an-training-hi",
						Containers: []corev1.Container{{Name: "train", Image: "registry.example/train:1"}}}}}}
				create(t, job)
				msg := refusedPod(t, ns, "nightly-train-x1", job.Spec.Template, "no PriorityClass with name an-training-hi was found")
				warningEvent(t, job, "Job", "FailedCreate", msg, "")
			},
			wait: []string{"statefulset/an-refgone/ledger", "job/an-refgone/nightly-train"},
			want: []want{
				{category: "ReplicasUnavailable", object: "statefulset/an-refgone/ledger",
					cause: contract.Cause{Category: contract.ReferenceMissing, Object: "serviceaccount/an-refgone/ledger-writter",
						Summary: "names ServiceAccount ledger-writter, which does not exist in namespace an-refgone\nServiceAccounts that exist: ledger-writer"},
					fix: []string{"set spec.template.spec.serviceAccountName of statefulset/an-refgone/ledger to ledger-writer"}},
				{category: "ReplicasUnavailable", object: "job/an-refgone/nightly-train",
					cause: contract.Cause{Category: contract.ReferenceMissing, Object: "job/an-refgone/nightly-train", Field: "spec.template.spec.priorityClassName",
						Summary: "names PriorityClass an-training-hi, which does not exist in the cluster\nPriorityClasses that exist: "}},
			},
		},
		{
			name: "a StatefulSet whose container limit is above a LimitRange's max",
			ns:   "an-lrmax",
			setup: func(t *testing.T, ns string) {
				create(t, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cpu-floor"},
					Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Min: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}})
				create(t, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenant-bounds"},
					Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
						{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16")}},
						{Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}},
					}}})
				sts := statefulSet(t, ns, "etl", func(p *corev1.PodSpec) {
					p.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}
				})
				msg := refusedPod(t, ns, "etl-0", sts.Spec.Template, "maximum cpu usage per Container is 2, but limit is 4")
				warningEvent(t, sts, "StatefulSet", "FailedCreate", msg, "")
			},
			wait: []string{"statefulset/an-lrmax/etl", "tenant-bounds"},
			want: []want{{category: "ReplicasUnavailable", object: "statefulset/an-lrmax/etl",
				cause: contract.Cause{Category: contract.QuotaExceeded, Object: "limitrange/an-lrmax/tenant-bounds", Field: "spec.limits[1].max.cpu",
					Summary: "LimitRange tenant-bounds\nmaximum cpu usage per Container is 2, but limit is 4"},
				fix: []string{"lower the cpu limit of container app of statefulset/an-lrmax/etl to at most 2", "change spec.limits[1].max.cpu of LimitRange tenant-bounds"}}},
		},
		{
			name: "a Deployment whose memory request is below a LimitRange's min",
			ns:   "an-lrmin",
			setup: func(t *testing.T, ns string) {
				create(t, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "floor"},
					Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Min: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}}})
				d, rs := deploymentWithRevisions(t, ns, "tiny", 1, func(p *corev1.PodSpec) {
					p.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")},
						Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}}
				})
				msg := refusedPod(t, ns, "tiny-h1-a", rs.Spec.Template, "minimum memory usage per Container is 64Mi, but request is 32Mi")
				warningEvent(t, rs, "ReplicaSet", "FailedCreate", msg, "")
				unavailable(t, d)
			},
			wait: []string{"ReplicasUnavailable", "floor"},
			want: []want{{category: "ReplicasUnavailable", object: "deployment/an-lrmin/tiny",
				cause: contract.Cause{Category: contract.QuotaExceeded, Object: "limitrange/an-lrmin/floor", Field: "spec.limits[0].min.memory",
					Summary: "minimum memory usage per Container is 64Mi, but request is 32Mi"},
				fix: []string{"raise the memory request of container app of deployment/an-lrmin/tiny to at least 64Mi"}}},
		},
		{
			name: "a Deployment whose limit is too far above its request for a LimitRange's ratio",
			ns:   "an-lrratio",
			setup: func(t *testing.T, ns string) {
				create(t, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "burst-cap"},
					Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}}})
				d, rs := deploymentWithRevisions(t, ns, "burst", 1, func(p *corev1.PodSpec) {
					p.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
						Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
				})
				msg := refusedPod(t, ns, "burst-h1-a", rs.Spec.Template, "cpu max limit to request ratio per Container is 2")
				warningEvent(t, rs, "ReplicaSet", "FailedCreate", msg, "")
				unavailable(t, d)
			},
			wait: []string{"ReplicasUnavailable", "burst-cap"},
			want: []want{{category: "ReplicasUnavailable", object: "deployment/an-lrratio/burst",
				cause: contract.Cause{Category: contract.QuotaExceeded, Object: "limitrange/an-lrratio/burst-cap", Field: "spec.limits[0].maxLimitRequestRatio.cpu",
					Summary: "LimitRange burst-cap\ncpu max limit to request ratio per Container is 2, but provided ratio is 4"},
				fix: []string{"bring the cpu limit of container app of deployment/an-lrratio/burst within 2 times its request"}}},
		},
		{
			name: "a ResourceQuota scoped to one PriorityClass refuses a Deployment of that class",
			ns:   "an-quotascope",
			setup: func(t *testing.T, ns string) {
				pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "an-batch-urgent"}, Value: 1000}
				create(t, pc)
				deleteAtEnd(t, pc)
				q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "urgent-pods"},
					Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")},
						ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
							{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"an-batch-urgent"}}}}}}
				create(t, q)
				q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}}
				setStatus(t, q)
				d, rs := deploymentWithRevisions(t, ns, "report-gen", 1, func(p *corev1.PodSpec) { p.PriorityClassName = "an-batch-urgent" })
				msg := refusedPod(t, ns, "report-gen-h1-b", rs.Spec.Template, "exceeded quota: urgent-pods")
				warningEvent(t, rs, "ReplicaSet", "FailedCreate", msg, "")
				unavailable(t, d)
			},
			wait: []string{"ReplicasUnavailable", "QuotaExceeded"},
			want: []want{
				{category: "ReplicasUnavailable", object: "deployment/an-quotascope/report-gen",
					cause: contract.Cause{Category: contract.QuotaExceeded, Object: "resourcequota/an-quotascope/urgent-pods", Field: "spec.hard",
						Summary: "ResourceQuota urgent-pods (it counts only pods of PriorityClass an-batch-urgent, and the pods of deployment/an-quotascope/report-gen have priorityClassName an-batch-urgent) has no room left for pods=1"},
					fix: []string{"priorityClassName this quota does not count"}},
				{category: "QuotaExceeded", object: "replicaset/an-quotascope/report-gen-h1",
					cause: contract.Cause{Category: contract.QuotaExceeded, Object: "resourcequota/an-quotascope/urgent-pods", Field: "spec.hard",
						Summary: "it counts only pods of PriorityClass an-batch-urgent"}},
			},
		},
		{
			name: "an HPA whose target does not exist, seen from the Deployment it was meant for",
			ns:   "an-hpagone",
			setup: func(t *testing.T, ns string) {
				deploymentWithRevisions(t, ns, "checkout-api", 1, nil)
				create(t, &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checkout"},
					Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 10,
						ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "chekout-api"},
						Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
							Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}}}}})
			},
			args: map[string]any{"kind": "deployment", "name": "checkout-api"},
			wait: []string{"HPAUnableToScale", "horizontalpodautoscaler/an-hpagone/checkout"},
			want: []want{{category: "HPAUnableToScale", object: "horizontalpodautoscaler/an-hpagone/checkout",
				cause: contract.Cause{Category: contract.ReferenceMissing, Object: "horizontalpodautoscaler/an-hpagone/checkout", Field: "spec.scaleTargetRef.name",
					Summary: "HorizontalPodAutoscaler checkout targets Deployment chekout-api, which does not exist in namespace an-hpagone\nDeployments that exist: checkout-api; the nearest is checkout-api"},
				fix: []string{"set spec.scaleTargetRef.name of HorizontalPodAutoscaler checkout to checkout-api"}}},
		},
		{
			name: "pods that take their pull Secrets from a ServiceAccount that names a missing one, or none",
			ns:   "an-sapull",
			setup: func(t *testing.T, ns string) {
				create(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "builder"},
					ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}})
				create(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "puller"}})
				_, rs := deploymentWithRevisions(t, ns, "img-worker", 1, func(p *corev1.PodSpec) { p.ServiceAccountName = "builder" })
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "img-worker-h1-a", Labels: rs.Spec.Template.Labels,
					OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "ReplicaSet", rs)}}, Spec: *rs.Spec.Template.Spec.DeepCopy()}
				// what the ServiceAccount admission plugin copies into the pod (envtest runs without it)
				p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
				create(t, p)
				p.Status = waiting("ImagePullBackOff", `Back-off pulling image "registry.example/img-worker:1"`, nil)
				setStatus(t, p)
				_, rs = deploymentWithRevisions(t, ns, "private-app", 1, func(p *corev1.PodSpec) { p.ServiceAccountName = "puller" })
				ownedPod(t, rs, ns, "private-app-h1-b", waiting("ErrImagePull",
					`failed to pull and unpack image "registry.example/private-app:1": failed to resolve reference: pull access denied, repository does not exist or may require authorization: authorization failed: no basic auth credentials`, nil))
				// a bare pod in back-off: the registry's answer is only in its Failed event
				bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "notebook"},
					Spec: corev1.PodSpec{ServiceAccountName: "puller", Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}
				create(t, bare)
				bare.Status = waiting("ImagePullBackOff", `Back-off pulling image "registry.example/app:1"`, nil)
				setStatus(t, bare)
				warningEvent(t, bare, "Pod", "Failed", `Failed to pull image "registry.example/app:1": failed to authorize: failed to fetch anonymous token: 401 Unauthorized`, "")
			},
			wait: []string{"img-worker-h1-a", "private-app-h1-b", "pod/an-sapull/notebook"},
			want: []want{
				{category: "ImagePullBackOff", object: "pod/an-sapull/img-worker-h1-a",
					cause: contract.Cause{Category: contract.ReferenceMissing, Object: "serviceaccount/an-sapull/builder", Field: "imagePullSecrets",
						Summary: "takes them from ServiceAccount builder\nname Secret regcred that does not exist in namespace an-sapull"},
					fix: []string{"create the image pull Secret regcred in namespace an-sapull", "restart deployment/an-sapull/img-worker"}},
				{category: "ImagePullBackOff", object: "pod/an-sapull/private-app-h1-b",
					cause: contract.Cause{Category: contract.RegistryAuth, Object: "serviceaccount/an-sapull/puller", Field: "imagePullSecrets",
						Summary: "the registry asks for credentials\ntakes them from ServiceAccount puller, which lists none"},
					fix: []string{"add the registry's image pull Secret to imagePullSecrets of ServiceAccount puller"}},
				{category: "ImagePullBackOff", object: "pod/an-sapull/notebook",
					cause: contract.Cause{Category: contract.RegistryAuth, Object: "serviceaccount/an-sapull/puller", Field: "imagePullSecrets",
						Summary: "the registry asks for credentials to pull registry.example/app:1\ntakes them from ServiceAccount puller, which lists none"},
					fix: []string{"or to spec.imagePullSecrets of pod/an-sapull/notebook"}},
			},
		},
		{
			name: "claims whose StorageClass's provisioner does not run, or fails",
			ns:   "an-pvcprov",
			setup: func(t *testing.T, ns string) {
				gp3 := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "an-gp3"}, Provisioner: "ebs.csi.aws.com"}
				local := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "an-fast"}, Provisioner: "an.csi.example"}
				driver := &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: "an.csi.example"}}
				cmk := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "an-cmk"}, Provisioner: "an.csi.example",
					Parameters: map[string]string{"type": "gp3", "encrypted": "true", "kmsKeyId": "arn:aws:kms:eu-west-1:111122223333:key/1a2b3c4d-retired"}}
				create(t, gp3, local, driver, cmk)
				deleteAtEnd(t, gp3, local, driver, cmk)
				claim := func(name, class string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
					if len(modes) == 0 {
						modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
					}
					c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
						Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(class), AccessModes: modes,
							Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}}}
					create(t, c)
					c.Status.Phase = corev1.ClaimPending
					setStatus(t, c)
					return c
				}
				warningEvent(t, claim("pg-data", "an-gp3"), "PersistentVolumeClaim", "ExternalProvisioning",
					"Waiting for a volume to be created either by the external provisioner 'ebs.csi.aws.com' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.", "")
				warningEvent(t, claim("cache", "an-fast"), "PersistentVolumeClaim", "ProvisioningFailed",
					`failed to provision volume with StorageClass "an-fast": rpc error: code = ResourceExhausted desc = pool tank has 2Gi free`, "")
				warningEvent(t, claim("ledger", "an-cmk"), "PersistentVolumeClaim", "ProvisioningFailed",
					`failed to provision volume with StorageClass "an-cmk": rpc error: code = Internal desc = could not create volume in EC2: api error InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state`, "")
				shards := claim("shards", "an-fast", corev1.ReadWriteMany)
				warningEvent(t, shards, "PersistentVolumeClaim", "ProvisioningFailed",
					`failed to provision volume with StorageClass "an-fast": Only support ReadWriteOnce access mode`, "")
			},
			wait: []string{"persistentvolumeclaim/an-pvcprov/pg-data", "persistentvolumeclaim/an-pvcprov/cache", "persistentvolumeclaim/an-pvcprov/shards", "persistentvolumeclaim/an-pvcprov/ledger"},
			want: []want{
				{category: "PVCPending", object: "persistentvolumeclaim/an-pvcprov/pg-data",
					cause: contract.Cause{Category: contract.ReferenceMissing, Object: "storageclass/an-gp3", Field: "provisioner",
						Summary: "claim pg-data waits for StorageClass an-gp3's provisioner ebs.csi.aws.com to create its volume\nno CSIDriver ebs.csi.aws.com is registered in the cluster"},
					fix: []string{"install the CSI driver ebs.csi.aws.com"}},
				{category: "PVCPending", object: "persistentvolumeclaim/an-pvcprov/cache",
					cause: contract.Cause{Category: contract.DependencyUnreachable, Object: "storageclass/an-fast", Field: "provisioner",
						Summary: "provisioner an.csi.example of StorageClass an-fast fails to create the volume of claim cache\npool tank has 2Gi free"}},
				{category: "PVCPending", object: "persistentvolumeclaim/an-pvcprov/ledger",
					cause: contract.Cause{Category: contract.ApplicationConfig, Object: "storageclass/an-cmk", Field: "parameters[kmsKeyId]",
						Summary: "StorageClass an-cmk parameters.kmsKeyId: arn:aws:kms:eu-west-1:111122223333:key/1a2b3c4d-retired\nThe KMS key provided is in an incorrect state"}},
				{category: "PVCPending", object: "persistentvolumeclaim/an-pvcprov/shards",
					cause: contract.Cause{Category: contract.AccessModeUnsupported, Object: "persistentvolumeclaim/an-pvcprov/shards", Field: "spec.accessModes",
						Summary: "the claim asks for access mode ReadWriteMany\nOnly support ReadWriteOnce access mode"}},
			},
		},
		{
			name: "a namespace whose only problem is an Ingress no class serves, focused on ingresses",
			ns:   "an-ingonly",
			setup: func(t *testing.T, ns string) {
				create(t, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "docs"},
					Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("an-haproxy"),
						Rules: []networkingv1.IngressRule{{Host: "docs.an.example"}}}})
			},
			args: map[string]any{"kind": "ingress"},
			wait: []string{"ingress/an-ingonly/docs"},
			want: []want{{category: "Unknown", object: "ingress/an-ingonly/docs",
				cause: contract.Cause{Category: contract.ReferenceMissing, Object: "ingress/an-ingonly/docs", Field: "spec.ingressClassName",
					Summary: "Ingress docs asks for class an-haproxy; no IngressClass an-haproxy exists"}}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := s.With(t)
			ns := namespace(t, tc.ns)
			tc.setup(t, ns)
			args := map[string]any{"namespace": ns}
			for k, v := range tc.args {
				args[k] = v
			}
			s.Eventually("analyze", args, tc.wait...)
			var a contract.Analysis
			text := s.Data("analyze", args, &a)
			if testing.Verbose() {
				t.Log(text)
			}
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
				mustContain(t, c.Fix.Text, w.fix...)
				line := fmt.Sprintf("cause: %s %s", c.Category, c.Object)
				if c.Field != "" {
					line += " (" + c.Field + ")"
				}
				mustContain(t, text, line)
			}
		})
	}
}

// TestAnalyzeRefusalWithoutClusterLists: a server whose identity reads one namespace only says
// that it may not list RuntimeClasses (cluster-scoped) and still names the missing one.
func TestAnalyzeRefusalWithoutClusterLists(t *testing.T) {
	env := apiServer(t)
	ns := namespace(t, "an-rtconfined")
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "rt-reader"}}}
	create(t, role, binding)
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "embed"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, RuntimeClassName: ptr.To("an-gvisor"),
			Containers: []corev1.Container{{Name: "embed", Image: "registry.example/embed:1"}}}}}}
	create(t, job)
	warningEvent(t, job, "Job", "FailedCreate", refusedPod(t, ns, "embed-x1", job.Spec.Template, `RuntimeClass "an-gvisor" not found`), "")
	cfg, err := env.UserConfig("rt-reader")
	if err != nil {
		t.Fatal(err)
	}
	s := connectAs(t, cfg, cluster.Config{AllowNamespaces: []string{ns}})
	args := map[string]any{"namespace": ns}
	s.Eventually("analyze", args, "job/an-rtconfined/embed")
	var a contract.Analysis
	text := s.Data("analyze", args, &a)
	f := causeFinding(a, "ReplicasUnavailable", "job/an-rtconfined/embed", "spec.template.spec.runtimeClassName")
	if f == nil || f.Cause.Category != contract.ReferenceMissing {
		t.Fatalf("want a ReferenceMissing cause on the Job's runtimeClassName:\n%s", text)
	}
	mustContain(t, f.Cause.Summary, "names RuntimeClass an-gvisor, which does not exist", "this server may not list RuntimeClasses")
}
