package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// TestAnalyzeNamesCausesBeyondTheSubject covers causes that lie outside the failing object: the
// LimitRange whose default memory limit a container got at admission, the ResourceQuota that
// refuses pods which do not specify what it constrains, the claim a ReadWriteOnce volume is
// held for on another node; and the failed pod a CronJob's finding names for its logs.
func TestAnalyzeNamesCausesBeyondTheSubject(t *testing.T) {
	s := connect(t, cluster.Config{})
	ctx := context.Background()

	// want is one finding a case expects, and its cause (Summary as a substring).
	type want struct {
		category, object string
		cause            *contract.Cause
		evidence         []string
		// podLine is the start of an evidence line naming the pod and container whose logs the
		// engine reads ("pod NAME: container C").
		podLine string
	}
	cases := []struct {
		name  string
		ns    string
		setup func(t *testing.T, ns string)
		wait  []string
		want  []want
	}{
		{
			name: "an OOMKilled container whose memory limit a LimitRange's default set at admission",
			ns:   "an-limitrange",
			setup: func(t *testing.T, ns string) {
				create(t, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "scratch-sizes"},
					Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
						{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Gi")}},
						{Type: corev1.LimitTypeContainer,
							Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("192Mi")},
							DefaultRequest: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("96Mi")}},
					}}})
				// The real API server's LimitRanger admission plugin gives the container the
				// default and records it in the pod's kubernetes.io/limit-ranger annotation.
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "feature-explore"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kernel", Image: "registry.example/lab:2"}}}}
				create(t, p)
				if got := p.Spec.Containers[0].Resources.Limits.Memory().String(); got != "192Mi" || !strings.Contains(p.Annotations["kubernetes.io/limit-ranger"], "memory limit for container kernel") {
					t.Fatalf("the API server's LimitRanger did not default the limit: limit %s, annotations %v", got, p.Annotations)
				}
				st := waiting("CrashLoopBackOff", "back-off", terminated("OOMKilled", 137))
				st.ContainerStatuses[0].Name = "kernel"
				p.Status = st
				setStatus(t, p)
				// A limit the manifest sets itself is its own: no LimitRange cause.
				own := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "own-limit"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1",
						Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceCPU: resource.MustParse("100m")}}}}}}
				create(t, own)
				own.Status = waiting("CrashLoopBackOff", "back-off", terminated("OOMKilled", 137))
				setStatus(t, own)
			},
			wait: []string{"feature-explore", "own-limit"},
			want: []want{
				{category: "OOMKilled", object: "pod/an-limitrange/feature-explore",
					cause: &contract.Cause{Category: contract.MemoryLimit, Object: "limitrange/an-limitrange/scratch-sizes", Field: "spec.limits[1].default.memory",
						Summary: "LimitRange scratch-sizes gives containers that set no memory limit a default of 192Mi; container kernel set none, got it at admission and ran out of it"},
					evidence: []string{"spec.containers[kernel].resources.limits.memory: 192Mi", "LimitRanger plugin set:"}},
				{category: "OOMKilled", object: "pod/an-limitrange/own-limit"},
			},
		},
		{
			name: "a Deployment whose pods a ResourceQuota refuses for not specifying limits",
			ns:   "an-quotaspec",
			setup: func(t *testing.T, ns string) {
				q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "analytics-compute"},
					Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceLimitsCPU: resource.MustParse("8"), corev1.ResourceLimitsMemory: resource.MustParse("16Gi")}}}
				create(t, q)
				q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{corev1.ResourceLimitsCPU: resource.MustParse("0"), corev1.ResourceLimitsMemory: resource.MustParse("0")}}
				setStatus(t, q)
				d, rs := deploymentWithRevisions(t, ns, "invoice-api", 1, func(p *corev1.PodSpec) {
					p.Containers = append(p.Containers, corev1.Container{Name: "exporter", Image: "registry.example/exporter:1",
						Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}})
				})
				// The real API server's ResourceQuota admission refuses the pod; the ReplicaSet
				// controller records that refusal as FailedCreate (envtest runs no controller).
				err := apiServer(t).Client.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "invoice-api-h1-q7x2z", Labels: rs.Spec.Template.Labels},
					Spec: *rs.Spec.Template.Spec.DeepCopy()})
				if err == nil || !strings.Contains(err.Error(), "must specify") {
					t.Fatalf("the API server's ResourceQuota admission did not refuse the pod: %v", err)
				}
				warningEvent(t, rs, "ReplicaSet", "FailedCreate", "Error creating: "+err.Error(), "")
				read(t, d)
				d.Status = appsv1.DeploymentStatus{Replicas: 0, UpdatedReplicas: 0, UnavailableReplicas: 2, ObservedGeneration: d.Generation}
				setStatus(t, d)
			},
			wait: []string{"QuotaExceeded", "ReplicasUnavailable"},
			want: []want{
				{category: "QuotaExceeded", object: "replicaset/an-quotaspec/invoice-api-h1",
					cause: &contract.Cause{Category: contract.QuotaExceeded, Object: "resourcequota/an-quotaspec/analytics-compute", Field: "spec.hard",
						Summary: "the pods of deployment/an-quotaspec/invoice-api must specify limits.cpu for container app; limits.memory for containers app, exporter"},
					evidence: []string{"failed quota: analytics-compute: must specify limits.cpu for: app; limits.memory for: app,exporter"}},
				{category: "ReplicasUnavailable", object: "deployment/an-quotaspec/invoice-api",
					cause: &contract.Cause{Category: contract.QuotaExceeded, Object: "resourcequota/an-quotaspec/analytics-compute", Field: "spec.hard",
						Summary: "ResourceQuota analytics-compute constrains limits.cpu=8 and limits.memory=16Gi, so it refuses every pod that does not specify them"}},
			},
		},
		{
			name: "a rolling update whose surge pod a full quota refuses says the strategy asks for room the quota lacks",
			ns:   "an-quotasurge",
			setup: func(t *testing.T, ns string) {
				fullQuota(t, ns, "gpu-team", "requests.nvidia.com/gpu", "2")
				d, rs := deploymentWithRevisions(t, ns, "ranker", 2, func(p *corev1.PodSpec) {
					p.Containers[0].Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}}
				})
				read(t, d)
				d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0))}}
				if err := apiServer(t).Client.Update(ctx, d); err != nil {
					t.Fatal(err)
				}
				// mid-rollout: the old revision's 2 pods run, none of the new one's
				d.Status = appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 0, ReadyReplicas: 2, AvailableReplicas: 2, ObservedGeneration: d.Generation}
				setStatus(t, d)
				refusedByQuota(t, rs, "ReplicaSet", "Error creating: ", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ranker-h2-s1", Labels: rs.Spec.Template.Labels},
					Spec: *rs.Spec.Template.Spec.DeepCopy()})
			},
			wait: []string{"QuotaExceeded"},
			want: []want{
				{category: "QuotaExceeded", object: "replicaset/an-quotasurge/ranker-h2",
					cause: &contract.Cause{Category: contract.QuotaExceeded, Object: "resourcequota/an-quotasurge/gpu-team", Field: "spec.hard",
						Summary: "adds up to maxSurge 1 new pods before it removes an old one, and with maxUnavailable 0 no old pod goes first"},
					evidence: []string{"exceeded quota: gpu-team"}},
			},
		},
		{
			name: "a CronJob whose Jobs a full count/jobs.batch quota refuses names the finished Jobs that fill it",
			ns:   "an-quotajobs",
			setup: func(t *testing.T, ns string) {
				cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reaper"},
					Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
						Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "reap", Image: "registry.example/reap:1"}}}}}}}}
				create(t, cj)
				done := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "migrate-0412"},
					Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
						Containers: []corev1.Container{{Name: "m", Image: "registry.example/migrate:1"}}}}}}
				create(t, done)
				now := metav1.Now()
				done.Status = batchv1.JobStatus{StartTime: &now, CompletionTime: &now, Succeeded: 1, Conditions: []batchv1.JobCondition{
					{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
					{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now}}}
				setStatus(t, done)
				fullQuota(t, ns, "job-caps", "count/jobs.batch", "1")
				refusedByQuota(t, cj, "CronJob", "Error creating job: ",
					&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reaper-29412345"}, Spec: cj.Spec.JobTemplate.Spec})
			},
			wait: []string{"QuotaExceeded"},
			want: []want{
				{category: "QuotaExceeded", object: "cronjob/an-quotajobs/reaper",
					cause: &contract.Cause{Category: contract.QuotaExceeded, Object: "resourcequota/an-quotajobs/job-caps", Field: "spec.hard",
						Summary: "1 of the 1 Jobs it counts are finished (migrate-0412) and have no ttlSecondsAfterFinished, so they hold the quota"},
					evidence: []string{"exceeded quota: job-caps"}},
			},
		},
		{
			name: "a CronJob names the newest failed pod of a failed run, past a run just started and a run whose pods are gone",
			ns:   "an-cronpod",
			setup: func(t *testing.T, ns string) {
				cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "feed-sync"},
					Spec: batchv1.CronJobSpec{Schedule: "*/10 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
						Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "sync", Image: "registry.example/sync:4"}}}}}}}}
				create(t, cj)
				owner := controllerRef("batch/v1", "CronJob", cj)
				failedJob(t, ns, "feed-sync-29100", owner, "sync", "")
				failedJob(t, ns, "feed-sync-29110", owner, "sync", "")
				// the latest failed run's pod is gone (deleted with a node, or by hand)
				if err := apiServer(t).Client.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "feed-sync-29110-x"}}); err != nil {
					t.Fatal(err)
				}
				// and the next run was just created: the job controller has written no status yet
				create(t, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "feed-sync-29120", OwnerReferences: []metav1.OwnerReference{owner}},
					Spec: batchv1.JobSpec{Template: cj.Spec.JobTemplate.Spec.Template}})
			},
			wait: []string{"cronjob/an-cronpod/feed-sync", "(job feed-sync-29100)", "of its 3 Jobs"},
			want: []want{
				{category: "JobFailed", object: "cronjob/an-cronpod/feed-sync",
					evidence: []string{"job feed-sync-29110 status.conditions[Failed]: reason=BackoffLimitExceeded", "2 of its 3 Jobs kept failed"},
					podLine:  "pod feed-sync-29100-x: container sync terminated: reason=Error exitCode=3"},
			},
		},
		{
			name: "a rollout whose new pod cannot attach a ReadWriteOnce volume held on another node names the claim",
			ns:   "an-multiattach",
			setup: func(t *testing.T, ns string) {
				create(t, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "an-archive-disk-7"},
					Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("50Gi")},
						AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: "",
						PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com", VolumeHandle: "vol-0123abcd"}}}})
				create(t, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "archive-data"},
					Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: ptr.To(""),
						VolumeName: "an-archive-disk-7", Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("50Gi")}}}})
				withClaim := func(p *corev1.PodSpec) {
					p.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "archive-data"}}}}
					p.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/var/archive"}}
				}
				d, _ := deploymentWithRevisions(t, ns, "archive-ui", 1, withClaim)
				rs2 := nextRevision(t, d, 2, func(p *corev1.PodSpec) { p.Containers[0].Image = "registry.example/archive-ui:2" })
				rs1 := &appsv1.ReplicaSet{}
				if err := apiServer(t).Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "archive-ui-h1"}, rs1); err != nil {
					t.Fatal(err)
				}
				onNode := func(rs *appsv1.ReplicaSet, name, node string, status corev1.PodStatus) {
					p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: rs.Spec.Template.Labels,
						OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "ReplicaSet", rs)}}, Spec: *rs.Spec.Template.Spec.DeepCopy()}
					p.Spec.NodeName = node
					create(t, p)
					p.Status = status
					setStatus(t, p)
					if status.Phase == corev1.PodPending {
						warningEvent(t, p, "Pod", "FailedAttachVolume", `Multi-Attach error for volume "an-archive-disk-7" Volume is already exclusively attached to one node and can't be attached to another`, "")
					}
				}
				onNode(rs1, "archive-ui-h1-0", "an-zone-a-1", corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}})
				onNode(rs2, "archive-ui-h2-0", "an-zone-b-4", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "registry.example/archive-ui:2",
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}})
				read(t, d)
				d.Status = appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, UnavailableReplicas: 1, ObservedGeneration: d.Generation}
				setStatus(t, d)
			},
			wait: []string{"ReplicasUnavailable", "archive-ui-h2-0"},
			want: []want{
				{category: "ReplicasUnavailable", object: "deployment/an-multiattach/archive-ui",
					cause: &contract.Cause{Category: contract.AccessModeUnsupported, Object: "persistentvolumeclaim/an-multiattach/archive-data", Field: "spec.accessModes",
						Summary: "claim archive-data (volume an-archive-disk-7, access modes ReadWriteOnce) is attached to one node at a time and is held by pod archive-ui-h1-0 on node an-zone-a-1, so pod archive-ui-h2-0 on node an-zone-b-4 cannot attach it"}},
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
				f := findingOf(a, w.category, w.object)
				if f == nil {
					t.Fatalf("no %s finding on %s:\n%s", w.category, w.object, text)
				}
				mustContain(t, strings.Join(f.Evidence, "\n"), w.evidence...)
				if w.podLine != "" && !hasLinePrefix(f.Evidence, w.podLine) {
					t.Errorf("no evidence line of %s %s starts %q:\n%s", w.category, w.object, w.podLine, strings.Join(f.Evidence, "\n"))
				}
				c := f.Cause
				if w.cause == nil {
					if c != nil && c.Category == contract.MemoryLimit && strings.HasPrefix(c.Object, "limitrange/") {
						t.Errorf("%s %s: a LimitRange cause for a limit the manifest set itself: %+v", w.category, w.object, c)
					}
					continue
				}
				if c == nil || c.Category != w.cause.Category || c.Object != w.cause.Object || c.Field != w.cause.Field || c.Fix == nil || len(c.Evidence) == 0 {
					t.Fatalf("%s %s: cause %+v, want %+v\n%s", w.category, w.object, c, w.cause, text)
				}
				mustContain(t, c.Summary, w.cause.Summary)
				mustContain(t, text, fmt.Sprintf("cause: %s %s (%s)", c.Category, c.Object, c.Field), c.Summary)
			}
		})
	}
}

// hasLinePrefix reports whether a line of lines starts with prefix.
func hasLinePrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// fullQuota creates ResourceQuota name whose resource res is used up to its hard limit n.
func fullQuota(t *testing.T, ns, name string, res corev1.ResourceName, n string) {
	t.Helper()
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{res: resource.MustParse(n)}}}
	create(t, q)
	q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{res: resource.MustParse(n)}}
	setStatus(t, q)
}

// refusedByQuota has the real API server's quota admission refuse obj, and records the refusal
// as the controller of kind would: a FailedCreate event on owner, prefix before the message.
func refusedByQuota(t *testing.T, owner client.Object, kind, prefix string, obj client.Object) {
	t.Helper()
	err := apiServer(t).Client.Create(t.Context(), obj)
	if err == nil || !strings.Contains(err.Error(), "exceeded quota") {
		t.Fatalf("the API server's ResourceQuota admission did not refuse %s: %v", obj.GetName(), err)
	}
	warningEvent(t, owner, kind, "FailedCreate", prefix+err.Error(), "")
}
