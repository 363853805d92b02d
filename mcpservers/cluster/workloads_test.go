package cluster_test

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

func replicatedDeployment(ns, name string, replicas int32) *appsv1.Deployment {
	l := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: pod("", "", nil).Spec}},
	}
}

func controlledBy(o metav1.Object, kind, apiVersion string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: o.GetName(), UID: o.GetUID(), Controller: ptr.To(true)}}
}

// crashLooping is a container status of a container that keeps exiting.
func crashLooping(restarts int32, reason string, exit int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name: "app", Image: "registry.example/app:1", RestartCount: restarts,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container=app"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			Reason: reason, ExitCode: exit, StartedAt: metav1.NewTime(time.Now().Add(-11 * time.Minute)), FinishedAt: metav1.NewTime(time.Now().Add(-10 * time.Minute))}},
	}
}

func readyPod(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "registry.example/app:1", Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
}

func unreadyPod(p *corev1.Pod, s corev1.ContainerStatus) {
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady"}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{s}
}

// seedWorkloads creates, in ns, what a controller-run cluster would show:
//   - Deployment web (3 replicas) whose ReplicaSet has 1 ready pod, 1 crash-looping with exit 1 and
//     1 OOMKilled, past its progress deadline; a pod its selector matches but another controller
//     owns, which is not its own;
//   - Deployment api, 2/2 ready;
//   - StatefulSet db with a pod the scheduler cannot place for want of GPUs;
//   - Job train, failed past its backoffLimit;
//   - CronJob nightly, suspended, whose newest Job completed.
func seedWorkloads(t *testing.T, ns string) {
	web := replicatedDeployment(ns, "web", 3)
	createWithStatus(t, web, func() {
		web.Status = appsv1.DeploymentStatus{ObservedGeneration: web.Generation, Replicas: 3, ReadyReplicas: 1, UpdatedReplicas: 3, AvailableReplicas: 1, UnavailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable", Message: "Deployment does not have minimum availability."},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-7d9" has timed out progressing.`},
			}}
	})
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-7d9", OwnerReferences: controlledBy(web, "Deployment", "apps/v1")},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), Selector: web.Spec.Selector, Template: web.Spec.Template},
	}
	createWithStatus(t, rs, nil)
	for name, status := range map[string]func(*corev1.Pod){
		"web-7d9-ok":    readyPod,
		"web-7d9-crash": func(p *corev1.Pod) { unreadyPod(p, crashLooping(4, "Error", 1)) },
		"web-7d9-oom":   func(p *corev1.Pod) { unreadyPod(p, crashLooping(9, "OOMKilled", 137)) },
	} {
		p := pod(ns, name, map[string]string{"app": "web"})
		p.OwnerReferences = controlledBy(rs, "ReplicaSet", "apps/v1")
		createWithStatus(t, p, func() { status(p) })
	}
	foreign := pod(ns, "web-foreign", map[string]string{"app": "web"})
	foreign.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "elsewhere", UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true)}}
	createWithStatus(t, foreign, func() { unreadyPod(foreign, crashLooping(1, "Error", 2)) })
	event(t, ns, "web.scaled", refTo("Deployment", ns, "web", string(web.UID)), corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set web-7d9 to 3", 1, 10*time.Minute)
	event(t, ns, "web-7d9-crash.backoff", refTo("Pod", ns, "web-7d9-crash"), corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container app in pod web-7d9-crash_"+ns+"(0b7c6a8e-1d2f-4c1e-9f0a-5f8f3c1d2e01)", 12, 20*time.Second)
	event(t, ns, "web-7d9-oom.backoff", refTo("Pod", ns, "web-7d9-oom"), corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container app in pod web-7d9-oom_"+ns+"(5d1e2f3a-7b8c-4d9e-8f01-23456789abcd)", 8, 5*time.Second)
	event(t, ns, "web-foreign.backoff", refTo("Pod", ns, "web-foreign"), corev1.EventTypeWarning, "Failed", "not web's", 1, time.Second)

	api := replicatedDeployment(ns, "api", 2)
	createWithStatus(t, api, func() {
		api.Status = appsv1.DeploymentStatus{ObservedGeneration: api.Generation, Replicas: 2, ReadyReplicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}
	})

	db := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), ServiceName: "db",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}}, Spec: pod("", "", nil).Spec}},
	}
	createWithStatus(t, db, func() {
		db.Status = appsv1.StatefulSetStatus{Replicas: 1, CurrentRevision: "db-1", UpdateRevision: "db-1"}
	})
	db0 := pod(ns, "db-0", map[string]string{"app": "db"})
	db0.OwnerReferences = controlledBy(db, "StatefulSet", "apps/v1")
	createWithStatus(t, db0, func() {
		db0.Status.Phase = corev1.PodPending
		db0.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}}
	})

	jobSpec := func() batchv1.JobSpec {
		return batchv1.JobSpec{BackoffLimit: ptr.To[int32](2), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: pod("", "", nil).Spec.Containers}}}
	}
	train := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "train"}, Spec: jobSpec()}
	createWithStatus(t, train, func() {
		now := metav1.Now()
		train.Status = batchv1.JobStatus{StartTime: &now, Failed: 3, Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
		}}
	})

	nightly := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly"},
		Spec:       batchv1.CronJobSpec{Schedule: "0 2 * * *", Suspend: ptr.To(true), JobTemplate: batchv1.JobTemplateSpec{Spec: jobSpec()}},
	}
	createWithStatus(t, nightly, func() {
		ago := metav1.NewTime(time.Now().Add(-3 * time.Hour).Truncate(time.Second))
		nightly.Status = batchv1.CronJobStatus{LastScheduleTime: &ago, LastSuccessfulTime: &ago}
	})
	run := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly-29000000", OwnerReferences: controlledBy(nightly, "CronJob", "batch/v1")},
		Spec:       jobSpec(),
	}
	createWithStatus(t, run, func() {
		start, end := metav1.NewTime(time.Now().Add(-3*time.Hour)), metav1.NewTime(time.Now().Add(-2*time.Hour))
		run.Status = batchv1.JobStatus{StartTime: &start, CompletionTime: &end, Succeeded: 1, Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: end},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: end},
		}}
	})
}

func TestWorkloadHealth(t *testing.T) {
	ns := namespace(t, "rd-workloads")
	seedWorkloads(t, ns)
	s := connect(t, cluster.Config{})

	out := s.Eventually("workload_health", map[string]any{"namespace": ns}, "deployment/rd-workloads/web", "cronjob/rd-workloads/nightly",
		"CrashLoopBackOff (OOMKilled, exit 137)", "Insufficient")
	t.Run("unhealthy first, each with why", func(t *testing.T) {
		inOrder(t, out, "UNHEALTHY (3)", "deployment/rd-workloads/web", "statefulset/rd-workloads/db", "job/rd-workloads/train",
			"HEALTHY (2)", "deployment/rd-workloads/api", "cronjob/rd-workloads/nightly")
		mustContain(t, out,
			"deployment/rd-workloads/web: 1/3 ready, 3/3 updated, 1/3 available",
			"2 unavailable: 1 pod CrashLoopBackOff (OOMKilled, exit 137), 1 pod CrashLoopBackOff (exit 1)",
			`Progressing=False ProgressDeadlineExceeded: ReplicaSet "web-7d9" has timed out progressing.`,
			"statefulset/rd-workloads/db: 0/1 ready",
			"1 unavailable: 1 pod Pending: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
			"job/rd-workloads/train: Failed: 0/1 succeeded, 0 active, 3 failed (backoffLimit 2)",
			"Failed=True BackoffLimitExceeded: Job has reached the specified backoff limit",
		)
		notContain(t, out, "exit 2")                    // the pod another controller owns is not web's
		notContain(t, out, "FailureTarget")             // says no more than Failed
		notContain(t, out, "job/rd-workloads/nightly-") // a CronJob's Jobs are reported under it
		var got contract.WorkloadHealthReport
		s.Data("workload_health", map[string]any{"namespace": ns}, &got)
		var objects []string
		for _, w := range got.Workloads {
			objects = append(objects, w.Object)
		}
		if want := []string{"deployment/rd-workloads/web", "statefulset/rd-workloads/db", "job/rd-workloads/train", "deployment/rd-workloads/api", "cronjob/rd-workloads/nightly"}; !slices.Equal(objects, want) || got.Truncated != 0 {
			t.Fatalf("workload_health: structured workloads %v, want %v", objects, want)
		}
		web := got.Workloads[0]
		if web.Healthy || web.Summary != "1/3 ready, 3/3 updated, 1/3 available" ||
			!slices.Contains(web.Problems, "2 unavailable: 1 pod CrashLoopBackOff (OOMKilled, exit 137), 1 pod CrashLoopBackOff (exit 1)") || !got.Workloads[3].Healthy {
			t.Errorf("workload_health web: structured %+v", web)
		}
	})
	t.Run("healthy ones in one line", func(t *testing.T) {
		mustContain(t, out,
			"deployment/rd-workloads/api: 2/2 ready, 2/2 updated, 2/2 available\n",
			`cronjob/rd-workloads/nightly: schedule "0 2 * * *", last scheduled 3h ago, last succeeded 3h ago, 0 active jobs; suspended`+"\n")
	})
	t.Run("filters", func(t *testing.T) {
		only := s.OK("workload_health", map[string]any{"namespace": ns, "kind": "job"})
		// Asked for Jobs, a CronJob's Jobs are listed too.
		mustContain(t, only, "UNHEALTHY (1)", "job/rd-workloads/train", "HEALTHY (1)", "job/rd-workloads/nightly-29000000: Complete: 1/1 succeeded")
		notContain(t, only, "deployment/", "cronjob/")
		named := s.OK("workload_health", map[string]any{"namespace": ns, "name": "api"})
		mustContain(t, named, "HEALTHY (1)", "deployment/rd-workloads/api")
		notContain(t, named, "UNHEALTHY", "web")
		none := s.OK("workload_health", map[string]any{"namespace": ns, "kind": "daemonset"})
		mustContain(t, none, "no daemonsets in namespace rd-workloads")
	})
	t.Run("bad arguments", func(t *testing.T) {
		s.Fails("workload_health", map[string]any{"kind": "pod"}, "kind")
		confined := connect(t, cluster.Config{AllowNamespaces: []string{"rd-elsewhere"}})
		confined.Fails("workload_health", map[string]any{"namespace": ns}, `namespace "rd-workloads" is outside this server's --allow-namespaces (rd-elsewhere)`)
	})
}
