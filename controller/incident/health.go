package incident

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/trigger/owners"
)

// health is what the workload behind an Incident's target says about itself.
type health struct {
	// object is the workload checked, as "deployment shop/checkout".
	object string
	// known is false when nothing could be checked: no target, a kind without a health rule
	// (a Service, a custom resource), or an object that is gone.
	known bool
	// ok is true when the workload is healthy (or nothing is known).
	ok bool
	// detail says why it is not healthy ("0 of 2 replicas are ready"), or how it is.
	detail string
}

func (h health) String() string {
	if h.object == "" {
		return h.detail
	}
	return h.object + ": " + h.detail
}

// checkRule is how one kind's health is read from the object.
type checkRule struct {
	obj   func() client.Object
	check func(client.Object) (ok bool, detail string)
}

// healthRules map each kind whose health the orchestrator checks to its rule; a kind not here is
// not checked. Add a kind by adding its rule.
var healthRules = map[string]checkRule{
	"Deployment":  {func() client.Object { return &appsv1.Deployment{} }, func(o client.Object) (bool, string) { return deploymentHealth(o.(*appsv1.Deployment)) }},
	"StatefulSet": {func() client.Object { return &appsv1.StatefulSet{} }, func(o client.Object) (bool, string) { return statefulSetHealth(o.(*appsv1.StatefulSet)) }},
	"DaemonSet":   {func() client.Object { return &appsv1.DaemonSet{} }, func(o client.Object) (bool, string) { return daemonSetHealth(o.(*appsv1.DaemonSet)) }},
	"ReplicaSet":  {func() client.Object { return &appsv1.ReplicaSet{} }, func(o client.Object) (bool, string) { return replicaSetHealth(o.(*appsv1.ReplicaSet)) }},
	"Job":         {func() client.Object { return &batchv1.Job{} }, func(o client.Object) (bool, string) { return jobHealth(o.(*batchv1.Job)) }},
	"CronJob":     {func() client.Object { return &batchv1.CronJob{} }, func(o client.Object) (bool, string) { return cronJobHealth(o.(*batchv1.CronJob)) }},
	"Pod":         {func() client.Object { return &corev1.Pod{} }, func(o client.Object) (bool, string) { return podHealth(o.(*corev1.Pod)) }},
	"Node":        {func() client.Object { return &corev1.Node{} }, func(o client.Object) (bool, string) { return nodeHealth(o.(*corev1.Node)) }},
}

// workloadHealth checks the workload inc is about: its target, or the top controller that owns
// it (a Pod's Deployment, a Job's CronJob), read uncached.
func (r *Reconciler) workloadHealth(ctx context.Context, inc *opsv1.Incident) health {
	t := inc.Spec.Target
	if t == nil {
		return health{ok: true, detail: "no target to check"}
	}
	ref := *t
	if ref.Namespace != "" {
		ref = owners.Top(ctx, r.reader, ref)
	}
	obj := describeRef(ref)
	rule, ok := healthRules[ref.Kind]
	if !ok || (ref.APIVersion != "" && !builtinGroup(ref)) {
		return health{object: obj, ok: true, detail: "its health is not checked (no rule for kind " + ref.Kind + ")"}
	}
	o := rule.obj()
	if err := r.reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, o); err != nil {
		if apierrors.IsNotFound(err) {
			return health{object: obj, ok: true, detail: "not found (deleted?); its health is not checked"}
		}
		return health{object: obj, known: true, detail: fmt.Sprintf("cannot be read: %v", err)}
	}
	ok, detail := rule.check(o)
	return health{object: obj, known: true, ok: ok, detail: detail}
}

// builtinGroup says whether ref's apiVersion is the group of the built-in kind it names (a
// custom "Job" of another group is not a batch Job).
func builtinGroup(ref opsv1.TargetReference) bool {
	group, _, found := strings.Cut(ref.APIVersion, "/")
	if !found {
		group = ""
	}
	switch ref.Kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet":
		return group == "apps"
	case "Job", "CronJob":
		return group == "batch"
	default:
		return group == ""
	}
}

func describeRef(t opsv1.TargetReference) string {
	kind := strings.ToLower(t.Kind)
	if t.Namespace == "" {
		return kind + " " + t.Name
	}
	return kind + " " + t.Namespace + "/" + t.Name
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// deploymentHealth: the rollout is complete (observed, not past its deadline) and every desired
// replica is updated, ready and available, with no old ones left.
func deploymentHealth(d *appsv1.Deployment) (bool, string) {
	want := replicas(d.Spec.Replicas)
	st := d.Status
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return false, fmt.Sprintf("the rollout exceeded its progress deadline: %s (%d of %d replicas are ready)", c.Message, st.ReadyReplicas, want)
		}
	}
	switch {
	case st.ObservedGeneration < d.Generation:
		return false, fmt.Sprintf("the rollout of generation %d is not yet observed (%d of %d replicas are ready)", d.Generation, st.ReadyReplicas, want)
	case st.ReadyReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas are ready", st.ReadyReplicas, want)
	case st.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas are updated to the current template", st.UpdatedReplicas, want)
	case st.AvailableReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas are available", st.AvailableReplicas, want)
	case st.Replicas > want:
		return false, fmt.Sprintf("the rollout is not complete: %d replicas run, %d desired", st.Replicas, want)
	}
	return true, fmt.Sprintf("%d of %d replicas are ready, updated and available", st.ReadyReplicas, want)
}

func statefulSetHealth(s *appsv1.StatefulSet) (bool, string) {
	want := replicas(s.Spec.Replicas)
	if s.Status.ReadyReplicas < want {
		return false, fmt.Sprintf("%d of %d replicas are ready", s.Status.ReadyReplicas, want)
	}
	return true, fmt.Sprintf("%d of %d replicas are ready", s.Status.ReadyReplicas, want)
}

func daemonSetHealth(d *appsv1.DaemonSet) (bool, string) {
	st := d.Status
	if st.NumberReady < st.DesiredNumberScheduled {
		return false, fmt.Sprintf("%d of %d scheduled pods are ready", st.NumberReady, st.DesiredNumberScheduled)
	}
	return true, fmt.Sprintf("%d of %d scheduled pods are ready", st.NumberReady, st.DesiredNumberScheduled)
}

func replicaSetHealth(rs *appsv1.ReplicaSet) (bool, string) {
	want := replicas(rs.Spec.Replicas)
	if rs.Status.ReadyReplicas < want {
		return false, fmt.Sprintf("%d of %d replicas are ready", rs.Status.ReadyReplicas, want)
	}
	return true, fmt.Sprintf("%d of %d replicas are ready", rs.Status.ReadyReplicas, want)
}

// jobHealth: not failed, and progressing (pods running) or done.
func jobHealth(j *batchv1.Job) (bool, string) {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return false, fmt.Sprintf("failed (%s: %s)", c.Reason, c.Message)
		}
	}
	switch {
	case j.Status.Succeeded > 0:
		return true, fmt.Sprintf("%d pods succeeded", j.Status.Succeeded)
	case j.Status.Active > 0:
		return true, fmt.Sprintf("%d pods active", j.Status.Active)
	}
	return false, fmt.Sprintf("no pod is active and none succeeded (%d failed)", j.Status.Failed)
}

// cronJobHealth: its last scheduled run is running or succeeded.
func cronJobHealth(c *batchv1.CronJob) (bool, string) {
	st := c.Status
	switch {
	case len(st.Active) > 0:
		return true, fmt.Sprintf("%d jobs active", len(st.Active))
	case st.LastScheduleTime == nil:
		return true, "no run scheduled yet"
	case st.LastSuccessfulTime == nil || st.LastSuccessfulTime.Before(st.LastScheduleTime):
		return false, fmt.Sprintf("its run scheduled at %s has not succeeded", st.LastScheduleTime.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return true, "its last scheduled run succeeded"
}

// podHealth: a bare pod is unhealthy when it failed or a container backs off; a pending pod is
// left to the diagnosis (the scheduler's word on it is a cause, not a health).
func podHealth(p *corev1.Pod) (bool, string) {
	if p.Status.Phase == corev1.PodFailed {
		return false, fmt.Sprintf("failed: %s %s", p.Status.Reason, p.Status.Message)
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && backOff[w.Reason] {
			return false, fmt.Sprintf("container %s is waiting: %s", cs.Name, w.Reason)
		}
	}
	return true, "phase " + string(p.Status.Phase)
}

var backOff = map[string]bool{"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "InvalidImageName": true, "RunContainerError": true}

func nodeHealth(n *corev1.Node) (bool, string) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return true, "Ready"
			}
			return false, fmt.Sprintf("not Ready (%s: %s)", c.Reason, c.Message)
		}
	}
	return false, "reports no Ready condition"
}
